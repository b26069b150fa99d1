// Key slots of encrypted buckets: choosing a new key, and `katamari key
// list|add|change|remove` (docs/encryption.md).
#include "daemon/cli_keys.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "daemon/cli_commands.h"
#include "daemon/cli_names.h"
#include "daemon/cli_terminal.h"

namespace katamari::cli {
namespace {

using Json = nlohmann::json;

// A key file that does not exist yet is made: 32 random bytes, mode 0600.
// One that exists is used as it is (the store checks its size and mode).
bool PrepareKeyFile(const std::string& path, NewKey* nk) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 || errno != ENOENT) return true;
  Status made = Bucket::CreateKeyFile(path);
  if (!made.ok()) {
    ReportStatus("cannot create key file " + path, made);
    return false;
  }
  nk->created_file = path;
  return true;
}

std::unique_ptr<NewKey> NoKeyGiven(const NewKeySource& src, int* exit_code) {
  PrintError(src.command + " needs a key",
             "pass " + src.options + ", or run it on a terminal to type a passphrase");
  *exit_code = kExitUsage;
  return nullptr;
}

// The bucket's slots, or an error (exit 1) if it is not encrypted.
bool RequireEncrypted(const Bucket& bucket, const std::string& command) {
  if (bucket.encrypted()) return true;
  PrintError(command + ": bucket " + bucket.dir() + " is not encrypted, so it has no key slots",
             "encryption is chosen when a bucket is made: 'katamari init --encrypt'");
  return false;
}

std::string KindName(KeySlotInfo::Kind kind) {
  return kind == KeySlotInfo::Kind::kKeyFile ? "keyfile" : "passphrase";
}

std::string ScryptText(const KeySlotInfo& s) {
  if (s.kind != KeySlotInfo::Kind::kPassphrase || !s.problem.empty()) return "-";
  return "N=" + std::to_string(s.scrypt_n) + ",r=" + std::to_string(s.scrypt_r) +
         ",p=" + std::to_string(s.scrypt_p);
}

Json SlotJson(const KeySlotInfo& s) {
  Json j;
  j["slot"] = s.id;
  j["kind"] = s.problem.empty() ? Json(KindName(s.kind)) : Json(nullptr);
  PutName(j, "label", s.label);
  PutTime(j, "created", s.created_ns);
  if (s.kind == KeySlotInfo::Kind::kPassphrase && s.problem.empty()) {
    j["scrypt"] = {{"n", s.scrypt_n}, {"r", s.scrypt_r}, {"p", s.scrypt_p}};
  } else {
    j["scrypt"] = nullptr;
  }
  j["in_use"] = s.in_use;
  j["problem"] = s.problem.empty() ? Json(nullptr) : Json(s.problem);
  return j;
}

void PrintSlots(const std::vector<KeySlotInfo>& slots) {
  Table table({"SLOT", "KIND", "CREATED", "SCRYPT", "OPENED", "LABEL"},
              {true, false, false, false, false, false});
  for (const KeySlotInfo& s : slots) {
    table.Add({std::to_string(s.id), s.problem.empty() ? KindName(s.kind) : "damaged",
               FormatTime(s.created_ns), ScryptText(s), s.in_use ? "yes" : "-",
               s.label.empty() ? "-" : NameForStdout(s.label)});
  }
  table.Print(std::cout);
  for (const KeySlotInfo& s : slots) {
    if (!s.problem.empty()) std::cout << "slot " << s.id << ": " << s.problem << "\n";
  }
}

// The new key of `key add` / `key change`.
std::unique_ptr<NewKey> ChooseSlotKey(const GlobalOptions& g, const KeyArgs& a,
                                      const std::string& command, int* exit_code) {
  NewKeySource src;
  src.keyfile = a.new_keyfile;
  src.passphrase_file = a.new_passphrase_file;
  src.command = command;
  src.options = "--new-keyfile FILE or --new-passphrase-file FILE";
  src.bucket_dir = g.bucket_dir;
  return ChooseNewKey(src, g.scrypt_n, exit_code);
}

}  // namespace

NewKey::~NewKey() {
  if (!keep_ && !created_file.empty()) ::unlink(created_file.c_str());
}

std::string NewKey::Describe() const {
  if (key.source == BucketKey::Source::kPassphrase) return "a passphrase typed on the terminal";
  return key.Describe();
}

std::string NewKey::CreatedNote() const {
  if (created_file.empty()) return "";
  return "created key file " + created_file +
         " (32 random bytes, mode 0600): keep a copy away from the bucket; without a key "
         "the bucket cannot be opened\n";
}

std::unique_ptr<NewKey> ChooseNewKey(const NewKeySource& src, uint64_t scrypt_n, int* exit_code) {
  auto nk = std::make_unique<NewKey>();
  *exit_code = kExitFailure;
  if (!src.keyfile.empty()) {
    if (!PrepareKeyFile(src.keyfile, nk.get())) return nullptr;
    nk->key = BucketKey::KeyFile(src.keyfile);
  } else if (!src.passphrase_file.empty()) {
    nk->key = BucketKey::PassphraseFile(src.passphrase_file);
  } else {
    if (!StdinIsTerminal()) return NoKeyGiven(src, exit_code);
    auto typed = AskNewPassphrase("New passphrase for " + src.bucket_dir + ": ");
    if (!typed.ok()) {
      PrintError(src.command + ": " + typed.status().message(), "nothing was changed");
      return nullptr;
    }
    nk->key = BucketKey::Passphrase(std::move(typed).value());
  }
  nk->key.scrypt_n = scrypt_n;
  *exit_code = kExitOk;
  return nk;
}

int RunKeyList(const GlobalOptions& g, const KeyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  if (!RequireEncrypted(*bucket, "key list")) return kExitFailure;
  auto slots = bucket->ListKeySlots();
  if (!slots.ok()) return ReportStatus("key list " + g.bucket_dir, slots.status());
  if (a.json) {
    Json arr = Json::array();
    for (const KeySlotInfo& s : *slots) arr.push_back(SlotJson(s));
    PrintJson(arr);
  } else {
    PrintSlots(*slots);
  }
  return kExitOk;
}

int RunKeyAdd(const GlobalOptions& g, const KeyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  if (!RequireEncrypted(*bucket, "key add")) return kExitFailure;
  auto nk = ChooseSlotKey(g, a, "key add", &code);
  if (!nk) return code;
  auto id = bucket->AddKeySlot(nk->key, a.label);
  if (!id.ok()) return ReportStatus("key add " + g.bucket_dir, id.status());
  nk->Keep();
  std::cout << nk->CreatedNote() << "added key slot " << *id << ": " << nk->Describe()
            << " now opens bucket " << g.bucket_dir;
  if (!a.label.empty()) std::cout << " (label '" << a.label << "')";
  std::cout << "\n";
  return kExitOk;
}

int RunKeyChange(const GlobalOptions& g, const KeyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  if (!RequireEncrypted(*bucket, "key change")) return kExitFailure;
  auto nk = ChooseSlotKey(g, a, "key change", &code);
  if (!nk) return code;
  const uint32_t slot = bucket->unlocked_slot();
  Status st = bucket->ChangeKeySlot(slot, nk->key);
  if (!st.ok()) return ReportStatus("key change " + g.bucket_dir, st);
  nk->Keep();
  std::cout << nk->CreatedNote() << "changed key slot " << slot << ": it now opens with "
            << nk->Describe() << "; the key it opened with before no longer does\n";
  return kExitOk;
}

int RunKeyRemove(const GlobalOptions& g, const KeyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  if (!RequireEncrypted(*bucket, "key remove")) return kExitFailure;
  Status st = bucket->RemoveKeySlot(a.slot);
  if (!st.ok()) {
    ReportStatus("key remove " + std::to_string(a.slot), st);
    // The last slot is refused as InvalidArgument; the command line itself
    // was fine, so this is a refusal (1), not a usage error (2).
    return kExitFailure;
  }
  std::cout << "removed key slot " << a.slot << " of bucket " << g.bucket_dir;
  if (a.slot == bucket->unlocked_slot()) {
    std::cout << " (the key used just now no longer opens it)";
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace katamari::cli

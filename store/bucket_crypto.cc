// Encrypted buckets at the Bucket level: reading key files and passphrases,
// unlocking at Open, creating, and managing key slots (docs/encryption.md).
//
// Secrets live only as long as one call: read, used to derive or unwrap,
// wiped. The unlocked master key stays in Bucket::Shared, because adding a
// slot wraps it again.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "store/bucket_internal.h"
#include "store/crypto.h"

namespace katamari {

namespace {

constexpr size_t kMaxPassphrase = 64 * 1024;

// A secret read for one call, wiped when it goes.
struct Secret {
  crypto::SlotKind kind = crypto::SlotKind::kKeyFile;
  std::string bytes;
  Secret() = default;
  Secret(Secret&& o) noexcept : kind(o.kind), bytes(std::move(o.bytes)) {}
  Secret(const Secret&) = delete;
  ~Secret() { crypto::Wipe(bytes.data(), bytes.size()); }
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string OctalMode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Reads a key or passphrase file (`what` names it). A regular file must not
// be readable by group or others: a secret anyone can read protects nothing.
Result<std::string> ReadSecretFile(const std::string& path, const std::string& what, size_t max) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return Status::NotFound(what + " " + path + " does not exist; check the path");
    }
    return Status::FromErrno(errno, "open " + what + " " + path);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat " + what + " " + path);
  if (S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(what + " " + path + " is a directory; pass a file");
  }
  if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    return Status::Permission(what + " " + path + " is readable by group or others (mode " +
                              OctalMode(st.st_mode) + "); run `chmod 600 " + path + "`");
  }
  std::string out(max + 1, '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::read(fd.get(), out.data() + got, out.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      crypto::Wipe(out.data(), out.size());
      return Status::FromErrno(errno, "read " + what + " " + path);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (got > max) {
    crypto::Wipe(out.data(), out.size());
    return Status::InvalidArgument(what + " " + path + " is larger than " + std::to_string(max) +
                                   " bytes; is it the right file?");
  }
  out.resize(got);
  return out;
}

Result<Secret> ReadSecret(const BucketKey& key) {
  Secret s;
  switch (key.source) {
    case BucketKey::Source::kKeyFile: {
      ASSIGN_OR_RETURN(s.bytes, ReadSecretFile(key.path, "key file", 4096));
      if (s.bytes.size() != crypto::kKeySize) {
        return Status::InvalidArgument(
            "key file " + key.path + " holds " + std::to_string(s.bytes.size()) +
            " bytes; a key file holds exactly 32 random bytes (make one with `head -c 32 "
            "/dev/urandom > FILE && chmod 600 FILE`)");
      }
      return s;
    }
    case BucketKey::Source::kPassphraseFile: {
      s.kind = crypto::SlotKind::kPassphrase;
      ASSIGN_OR_RETURN(s.bytes, ReadSecretFile(key.path, "passphrase file", kMaxPassphrase));
      // `echo pw > FILE` is how people write these; the newline is not part of it.
      if (!s.bytes.empty() && s.bytes.back() == '\n') s.bytes.pop_back();
      if (!s.bytes.empty() && s.bytes.back() == '\r') s.bytes.pop_back();
      if (s.bytes.empty()) {
        return Status::InvalidArgument("passphrase file " + key.path + " is empty");
      }
      return s;
    }
    case BucketKey::Source::kPassphrase:
      s.kind = crypto::SlotKind::kPassphrase;
      s.bytes = key.passphrase;
      if (s.bytes.empty()) return Status::InvalidArgument("the passphrase is empty");
      return s;
    case BucketKey::Source::kNone:
      break;
  }
  return Status::InvalidArgument("no key given: pass --keyfile FILE or --passphrase-file FILE");
}

crypto::ScryptParams ScryptOf(const BucketKey& key) {
  crypto::ScryptParams p;
  if (key.scrypt_n != 0) p.n = key.scrypt_n;
  if (key.scrypt_r != 0) p.r = key.scrypt_r;
  if (key.scrypt_p != 0) p.p = key.scrypt_p;
  return p;
}

Result<std::string> WrapFor(const BucketKey& key, const crypto::Key& master) {
  ASSIGN_OR_RETURN(Secret secret, ReadSecret(key));
  return crypto::WrapMasterKey(secret.kind, secret.bytes, ScryptOf(key), master);
}

std::string SlotWhat(uint32_t id, const std::string& dir) {
  return "key slot " + std::to_string(id) + " of bucket " + dir;
}

// Why no slot opened: WrongKey, naming what was tried and, if this kind of
// key fits no slot at all, which kind would.
Status NothingOpened(const std::string& dir, const BucketKey& key, crypto::SlotKind kind,
                     size_t tried, size_t other_kind, const std::string& slot_errors) {
  if (tried == 0 && other_kind > 0) {
    const bool gave_passphrase = kind == crypto::SlotKind::kPassphrase;
    return Status::WrongKey(
        "wrong kind of key for bucket " + dir + ": it has no " + crypto::SlotKindName(kind) +
        " key slot, so " + key.Describe() + " cannot open it; pass " +
        (gave_passphrase ? "--keyfile FILE" : "--passphrase-file FILE") + " instead" + slot_errors);
  }
  return Status::WrongKey("wrong key or passphrase for bucket " + dir + " (" + key.Describe() +
                          " opens none of its " + std::to_string(tried) + " " +
                          crypto::SlotKindName(kind) + " key slot" + (tried == 1 ? "" : "s") + ")" +
                          slot_errors);
}

Status CheckSlotsWritable(const Bucket::Shared& s, const std::string& dir) {
  if (!s.catalog->settings().encrypted) {
    return Status::InvalidArgument("bucket " + dir +
                                   " is not encrypted, so it has no key slots; encryption is "
                                   "chosen at `katamari init --encrypt`");
  }
  if (s.read_only) return Status::ReadOnly("bucket " + dir + " is open read-only");
  return Status::OK();
}

}  // namespace

// ---- BucketKey

BucketKey BucketKey::KeyFile(std::string path) {
  BucketKey k;
  k.source = Source::kKeyFile;
  k.path = std::move(path);
  return k;
}
BucketKey BucketKey::PassphraseFile(std::string path) {
  BucketKey k;
  k.source = Source::kPassphraseFile;
  k.path = std::move(path);
  return k;
}
BucketKey BucketKey::Passphrase(std::string bytes) {
  BucketKey k;
  k.source = Source::kPassphrase;
  k.passphrase = std::move(bytes);
  return k;
}
BucketKey::~BucketKey() { crypto::Wipe(passphrase.data(), passphrase.size()); }

std::string BucketKey::Describe() const {
  switch (source) {
    case Source::kKeyFile:
      return "key file " + path;
    case Source::kPassphraseFile:
      return "passphrase file " + path;
    case Source::kPassphrase:
      return "the passphrase";
    case Source::kNone:
      break;
  }
  return "no key";
}

// ---- create and unlock

Status Bucket::Create(const std::string& dir, const BucketSettings& settings,
                      const BucketKey& first_key, Env* env) {
  if (first_key.empty()) {
    return Status::InvalidArgument(
        "an encrypted bucket needs a key: pass --keyfile FILE or "
        "--passphrase-file FILE");
  }
  const crypto::Key master = crypto::Key::Random();
  ASSIGN_OR_RETURN(std::string slot, WrapFor(first_key, master));
  BucketSettings set = settings;
  set.encrypted = true;
  return CreateBucketDir(dir, set, env, slot);
}

Status Bucket::CreateKeyFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) {
      return Status::Exists("key file " + path +
                            " already exists; use it as it is, or choose another name");
    }
    return Status::FromErrno(errno, "create key file " + path);
  }
  crypto::Key key = crypto::Key::Random();
  size_t done = 0;
  while (done < crypto::kKeySize) {
    ssize_t w = ::write(fd.get(), key.data() + done, crypto::kKeySize - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      ::unlink(path.c_str());
      return Status::FromErrno(err, "write key file " + path);
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return Status::FromErrno(err, "sync key file " + path);
  }
  const size_t slash = path.rfind('/');
  return Env::Default()->SyncDir(slash == std::string::npos ? "." : path.substr(0, slash + 1));
}

Status UnlockBucket(Bucket::Shared& s, const std::string& dir, const BucketKey& key) {
  if (key.empty()) {
    return Status::WrongKey("bucket " + dir +
                            " is encrypted: pass --keyfile FILE or --passphrase-file FILE (or "
                            "set KATAMARI_KEYFILE / KATAMARI_PASSPHRASE_FILE)");
  }
  ASSIGN_OR_RETURN(Secret secret, ReadSecret(key));
  ASSIGN_OR_RETURN(std::vector<Catalog::KeySlot> slots, s.catalog->KeySlots());
  if (slots.empty()) {
    return Status::Corruption("bucket " + dir +
                              " is encrypted but has no key slot left; restore catalog.db "
                              "from a backup");
  }
  size_t tried = 0, other_kind = 0;
  std::string slot_errors;
  for (const Catalog::KeySlot& slot : slots) {
    const std::string what = SlotWhat(slot.id, dir);
    auto header = crypto::ParseSlot(slot.blob, what);
    if (!header.ok()) {
      slot_errors += "; " + header.status().message();
      continue;
    }
    if (header->kind != secret.kind) {
      ++other_kind;
      continue;
    }
    ++tried;
    auto master = crypto::UnwrapMasterKey(slot.blob, secret.bytes, what);
    if (master.ok()) {
      s.master = *master;
      s.keys = std::make_shared<const crypto::BucketKeys>(crypto::BucketKeys::Derive(*master));
      s.unlocked_slot = slot.id;
      s.catalog->Unlock(s.keys->field);
      return Status::OK();
    }
    if (master.status().code() != Status::Code::kWrongKey) {
      slot_errors += "; " + master.status().message();
    }
  }
  return NothingOpened(dir, key, secret.kind, tried, other_kind, slot_errors);
}

// ---- key slots

uint32_t Bucket::unlocked_slot() const { return s_->unlocked_slot; }

Result<std::vector<KeySlotInfo>> Bucket::ListKeySlots() {
  std::vector<KeySlotInfo> out;
  if (!encrypted()) return out;
  ASSIGN_OR_RETURN(std::vector<Catalog::KeySlot> slots, s_->catalog->KeySlots());
  for (const Catalog::KeySlot& slot : slots) {
    KeySlotInfo info;
    info.id = slot.id;
    info.label = slot.label;
    info.created_ns = slot.created_ns;
    info.in_use = slot.id == s_->unlocked_slot;
    auto h = crypto::ParseSlot(slot.blob, SlotWhat(slot.id, dir_));
    if (h.ok()) {
      info.kind = h->kind == crypto::SlotKind::kKeyFile ? KeySlotInfo::Kind::kKeyFile
                                                        : KeySlotInfo::Kind::kPassphrase;
      info.scrypt_n = h->scrypt.n;
      info.scrypt_r = h->scrypt.r;
      info.scrypt_p = h->scrypt.p;
    } else {
      info.problem = h.status().message();
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<uint32_t> Bucket::AddKeySlot(const BucketKey& key, std::string_view label) {
  RETURN_IF_ERROR(CheckSlotsWritable(*s_, dir_));
  ASSIGN_OR_RETURN(std::string slot, WrapFor(key, *s_->master));
  return s_->catalog->AddKeySlot(slot, label);
}

Status Bucket::RemoveKeySlot(uint32_t id) {
  RETURN_IF_ERROR(CheckSlotsWritable(*s_, dir_));
  return s_->catalog->RemoveKeySlot(id);
}

Status Bucket::ChangeKeySlot(uint32_t id, const BucketKey& new_key) {
  RETURN_IF_ERROR(CheckSlotsWritable(*s_, dir_));
  ASSIGN_OR_RETURN(std::string slot, WrapFor(new_key, *s_->master));
  return s_->catalog->ReplaceKeySlot(id, slot);
}

}  // namespace katamari

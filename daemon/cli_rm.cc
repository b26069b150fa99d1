// rm: a delete marker, one version, or a key's whole history -- and a line
// saying which, and what becomes of the space (docs/semantics.md, The command
// line). Only gc frees chunk files, so rm says what it can: how many versions
// and bytes are gone or kept.
#include <iostream>
#include <string>
#include <vector>

#include "daemon/cli_commands.h"
#include "daemon/cli_key_arg.h"
#include "daemon/cli_names.h"
#include "daemon/cli_terminal.h"

namespace katamari::cli {
namespace {

constexpr char kGcNote[] = "'katamari gc' frees the chunks no other version shares";

std::string Plural(uint64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

uint64_t TotalSize(const std::vector<VersionInfo>& vs) {
  uint64_t sum = 0;
  for (const VersionInfo& v : vs) sum += v.size;
  return sum;
}

// The versions kept of the entry `key` names (empty if none or no entry).
std::vector<VersionInfo> KeptVersions(Bucket& bucket, const std::string& key) {
  bool live = true;
  auto attr = LookupKeyAny(bucket, key, &live);
  if (!attr.ok()) return {};
  auto vs = bucket.ListVersions(attr->ino);
  return vs.ok() ? std::move(vs).value() : std::vector<VersionInfo>{};
}

// --purge of a file with history deletes what nothing can bring back: asked
// on a terminal, refused without one unless --yes. Returns kExitOk to go on.
int ConfirmPurge(const std::string& key, const std::vector<VersionInfo>& vs, bool yes) {
  if (yes || vs.empty()) return kExitOk;
  const std::string what = key + " and its " + Plural(vs.size(), "version") + " (" +
                           FormatBytes(TotalSize(vs)) + ")";
  if (!StdinIsTerminal()) {
    PrintError("rm --purge " + key + " would delete " + what + " for good",
               "pass --yes to confirm (there is no terminal to ask on)");
    return kExitUsage;
  }
  auto answer = AskLine("Delete " + what + " for good? [y/N]: ");
  if (answer.ok() && IsYes(*answer)) return kExitOk;
  PrintError("rm --purge " + key + ": not confirmed, nothing deleted",
             "answer y to delete, or pass --yes");
  return kExitFailure;
}

}  // namespace

int RunRm(const GlobalOptions& g, const RmArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  SelectorArgs flags;
  flags.version = a.version;
  VersionSelector flag_sel;
  if (a.version) flag_sel.version = VersionNo(*a.version);
  auto t = ParseKeyArg(*bucket, "rm", a.key, flags, flag_sel, KeyArgUse::kDelete, &code);
  if (!t) return code;
  const std::string& key = t->key;
  const std::string shown = NameForStdout(key);
  if (t->sel.version && a.purge) {
    PrintError("rm " + a.key + " --purge: '" + a.key + "' names one version, --purge all of them",
               "drop --purge to delete that version, or name the key without '@'");
    return kExitUsage;
  }
  std::vector<VersionInfo> before = KeptVersions(*bucket, key);
  if (t->sel.version) {
    const VersionNo vno = *t->sel.version;
    const std::string what = "rm " + key + "@" + std::to_string(vno.value);
    Status st = bucket->DeleteVersion(key, vno);
    if (!st.ok()) return ReportStatus(what, st);
    uint64_t size = 0;
    for (const VersionInfo& v : before) {
      if (v.version == vno) size = v.size;
    }
    std::cout << "deleted version " << vno.value << " of " << shown << " (" << FormatBytes(size)
              << ") for good; " << Plural(before.empty() ? 0 : before.size() - 1, "version")
              << " kept; " << kGcNote << "\n";
    return kExitOk;
  }
  if (a.purge) {
    if (int c = ConfirmPurge(key, before, a.yes); c != kExitOk) return c;
    Status st = bucket->Purge(key);
    if (!st.ok()) return ReportStatus("rm " + key + " --purge", st);
    std::cout << "purged " << shown << ": " << Plural(before.size(), "version") << " ("
              << FormatBytes(TotalSize(before)) << ") deleted for good; " << kGcNote << "\n";
    return kExitOk;
  }
  Status st = bucket->Delete(key);
  if (!st.ok()) return ReportStatus("rm " + key, st);
  std::vector<VersionInfo> kept = KeptVersions(*bucket, key);
  if (kept.empty()) {
    std::cout << "deleted " << shown << " (no history kept";
    if (!bucket->settings().versioning) std::cout << ": versioning is off";
    std::cout << ")\n";
    return kExitOk;
  }
  std::cout << "deleted " << shown << "; its " << Plural(kept.size(), "version") << " ("
            << FormatBytes(TotalSize(kept)) << (kept.size() == 1 ? ") is" : ") are")
            << " kept: 'katamari restore " << ShellQuote(key)
            << " --version " << kept.back().version.value << "' brings it back, 'katamari rm "
            << ShellQuote(key) << " --purge' deletes them\n";
  return kExitOk;
}

}  // namespace katamari::cli

#include "daemon/cli_key_arg.h"

#include <vector>

#include "fs/version_syntax.h"

namespace katamari::cli {
namespace {

std::string FlagText(const SelectorArgs& flags) {
  if (flags.version) return "--version " + std::to_string(*flags.version);
  return "--at " + flags.at.value_or("");
}

// The spelling after '@' as typed ("@3", "@-1", "@2026-11-25").
std::string SuffixText(const std::string& typed) { return typed.substr(typed.rfind('@')); }

// Whether the command takes this suffix (and no --version/--at beside it);
// prints the usage error if not.
bool SuffixFits(const std::string& verb, const std::string& typed, const std::string& base,
                fs::VersionSuffix::Kind kind, KeyArgUse use, const SelectorArgs& flags) {
  using Kind = fs::VersionSuffix::Kind;
  const std::string suffix = SuffixText(typed);
  if (kind == Kind::kHistory) {
    if (use == KeyArgUse::kVersions) return true;
    PrintError(verb + " " + typed + ": '" + base + "@' names the whole history",
               "name one version: " + base + "@N, " + base + "@-1 (the one before), " + base +
                   "@TIME, or --version N / --at TIME; 'katamari versions " + base +
                   "' lists them");
    return false;
  }
  if (use == KeyArgUse::kVersions) {
    PrintError("versions " + typed + ": 'versions' shows every version of a key",
               "drop '" + suffix + "': katamari versions " + base);
    return false;
  }
  if (kind == Kind::kTime && use == KeyArgUse::kDelete) {
    PrintError(verb + " " + typed + ": a version to delete is named by its number",
               "find it with 'katamari versions " + base + "', then rm " + base + "@N");
    return false;
  }
  if (flags.version || flags.at) {
    PrintError(verb + " " + typed + ": both '" + suffix + "' and " + FlagText(flags) +
                   " name a version",
               "give one of them (a key whose own name contains '@' takes --version or --at as "
               "it is, once it exists)");
    return false;
  }
  return true;
}

// The version `back` before the current one of `base` (KEY@-K), counted
// over the versions kept, as the mount counts; prints the error if none.
std::optional<VersionNo> BackVersion(Bucket& bucket, const std::string& verb,
                                     const std::string& typed, const std::string& base,
                                     uint64_t back, int* exit_code) {
  bool live = true;
  auto attr = LookupKeyAny(bucket, base, &live);
  if (!attr.ok()) {
    *exit_code = ReportStatus(verb + " " + typed,
                              attr.status().IsNotFound()
                                  ? Status::NotFound("no such key '" + base + "'")
                                  : attr.status());
    return std::nullopt;
  }
  auto all = bucket.ListVersions(attr->ino);
  if (!all.ok()) {
    *exit_code = ReportStatus(verb + " " + typed, all.status());
    return std::nullopt;
  }
  if (all->size() <= back) {
    PrintError(verb + " " + typed + ": '" + base + "' has only " + std::to_string(all->size()) +
                   " version" + (all->size() == 1 ? "" : "s"),
               "see them with 'katamari versions " + base + "'");
    *exit_code = kExitFailure;
    return std::nullopt;
  }
  return (*all)[all->size() - 1 - back].version;
}

}  // namespace

Result<Attr> LookupKeyAny(Bucket& bucket, std::string_view key, bool* live) {
  *live = true;
  Attr cur;
  cur.ino = kRootInode;
  cur.kind = FileKind::kDirectory;
  size_t start = 0;
  bool any = false;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    std::string_view part = key.substr(start, slash == std::string_view::npos ? slash
                                                                              : slash - start);
    start = slash == std::string_view::npos ? key.size() + 1 : slash + 1;
    if (part.empty()) continue;  // "a//b", "dir/": as the store's keys
    bool l = true;
    ASSIGN_OR_RETURN(cur, bucket.LookupAny(cur.ino, part, &l));
    *live = *live && l;
    any = true;
  }
  if (!any) return Status::NotFound("empty key");
  return cur;
}

std::optional<KeyTarget> ParseKeyArg(Bucket& bucket, const std::string& verb,
                                     const std::string& typed, const SelectorArgs& flags,
                                     const VersionSelector& flag_sel, KeyArgUse use,
                                     int* exit_code) {
  *exit_code = kExitUsage;
  KeyTarget t;
  t.typed = typed;
  t.key = typed;
  t.sel = flag_sel;
  auto parsed = fs::ParseVersionName(typed);
  if (!parsed || parsed->base.empty()) return t;
  // A real entry wins, as in the mount: "a@1" may be a file's own name.
  bool live = true;
  auto literal = LookupKeyAny(bucket, typed, &live);
  if (literal.ok()) return t;
  if (!literal.status().IsNotFound()) {
    *exit_code = ReportStatus(verb + " " + typed, literal.status());
    return std::nullopt;
  }
  const std::string base(parsed->base);
  const fs::VersionSuffix& s = parsed->suffix;
  using Kind = fs::VersionSuffix::Kind;
  if (!SuffixFits(verb, typed, base, s.kind, use, flags)) return std::nullopt;
  if (s.kind == Kind::kHistory) {
    t.key = base;
    t.history = true;
    return t;
  }
  t.key = base;
  if (s.kind == Kind::kNumber) {
    t.sel.version = VersionNo(s.value);
  } else if (s.kind == Kind::kTime) {
    t.sel.at_time_ns = s.time_ns;
  } else {
    auto vno = BackVersion(bucket, verb, typed, base, s.value, exit_code);
    if (!vno) return std::nullopt;
    t.sel.version = *vno;
  }
  return t;
}

}  // namespace katamari::cli

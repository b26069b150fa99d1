// Retention rules and name patterns (docs/semantics.md, Retention and excludes): the
// pure part of `katamari policy`, `katamari prune` and `katamari exclude`, with no
// catalog and no clock of its own, so that every choice is unit-testable.
//
// Rules follow restic's `forget --keep-*` (up to 0.16): versions are taken newest
// first; keep-last=N keeps the N newest; keep-hourly/daily/weekly/monthly/yearly=N
// keep the newest version of each of the N newest hours/days/ISO weeks/months/years
// (UTC) that have a version; keep-within=D keeps every version made within D of the
// file's newest version. A version kept by any rule is kept. The current version of
// a live file is always kept. A rule set with no keep-* rule keeps every version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace katamari {

// Parses a duration: one or more NUMBER UNIT terms ("30m", "12h", "7d", "2w",
// "6mo", "1y", "1d12h"), units s, m (minutes), h, d (24 h), w (7 d), mo
// (30 d), y (365 d). Returns nanoseconds; InvalidArgument naming `text` and
// the grammar otherwise (also for 0 and for overflow).
Result<int64_t> ParseDuration(std::string_view text);
// The shortest spelling of a duration made by ParseDuration ("7d", "1d12h").
std::string FormatDuration(int64_t ns);

struct RetentionRules {
  std::optional<uint64_t> keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
      keep_yearly;
  std::optional<int64_t> keep_within_ns;
  // A deleted file whose name went away more than this long ago loses its
  // whole history.
  std::optional<int64_t> deleted_for_ns;

  bool empty() const;
  // Any keep-* rule (otherwise every version is kept).
  bool has_keep_rule() const;
  // Canonical text, rules in a fixed order: "keep-last=3 keep-daily=7 deleted-for=30d".
  std::string ToString() const;
  // Parses words "RULE=VALUE" (as ToString writes them, or typed on the command
  // line, in any order). InvalidArgument naming the word and the fix for an
  // unknown rule, a rule given twice, a value that is not a positive number
  // (up to 10^9) or a bad duration; for no word at all.
  static Result<RetentionRules> Parse(const std::vector<std::string>& words);
};

// A version as the selection sees it.
struct RetentionCandidate {
  uint64_t version = 0;
  int64_t time_ns = 0;  // commit time
};

// The versions `rules` keep out of `versions` (any order), sorted by number.
// `current`: the live file's current version, always kept (0: none, a deleted
// file). Ignores deleted_for_ns (the caller decides about whole histories).
std::vector<uint64_t> SelectKept(const std::vector<RetentionCandidate>& versions,
                                 const RetentionRules& rules, uint64_t current);

// One pattern's rule set (Bucket::Policy). pattern "" is the default set,
// used for files no other pattern matches.
struct PolicyEntry {
  std::string pattern;
  RetentionRules rules;
};

// One recorded change of the policy or the exclude list (Bucket::PolicyLog).
struct PolicyChange {
  int64_t time_ns = 0;
  std::string action;   // "policy set", "policy clear", "exclude add", "exclude remove",
                        // "exclude reset"
  std::string pattern;  // "" for the default rules (and for exclude reset)
  std::string rules;    // policy set: the rules; exclude reset: the patterns it set
};

struct PruneOptions {
  bool dry_run = false;
  // Only files at or under this path ("docs", "docs/a.txt"); "" = every file.
  std::string path;
  std::optional<int64_t> now_ns;  // tests; default: the wall clock
};

struct PruneFile {
  std::string key;           // the file's path (its last one if deleted)
  bool deleted = false;      // no live name
  std::string why;           // the pattern that chose the rules, "" = default, "exclude"
  std::vector<uint64_t> removed;  // version numbers removed (or to remove: dry run)
  uint64_t kept = 0;              // versions left
  bool history_deleted = false;   // deleted-for: the whole history goes
};

struct PruneReport {
  bool dry_run = false;
  std::vector<PruneFile> files;  // only files that lose something
  uint64_t files_checked = 0;
  uint64_t versions_removed = 0;
  // Versions that would go but are the base of a file open for writing
  // (a mount's write session; docs/semantics.md, Retention and excludes):
  // kept this time, a later prune removes them.
  uint64_t versions_in_use = 0;
  // Stored bytes of chunks whose last reference the removed versions held:
  // what pruning frees (at once where no writer holds the gc lock, else at
  // the next `katamari gc`).
  uint64_t bytes_freed = 0;
};

// Name patterns (fnmatch(3) globs: * ? [...]; a leading dot is matched like any
// byte, so *.swp matches .x.swp). A pattern without '/' matches a
// file whose name (last path component) it matches; one with '/' matches the
// path from the bucket root (a leading '/' is ignored, '*' does not cross '/')
// or any directory on that path, so "logs/" and "/var/log" cover everything
// under them. `path` is "a/b/c.txt".
bool PatternMatches(std::string_view pattern, std::string_view path);
// InvalidArgument for an empty pattern, one of only '/', or one with a NUL.
Status ValidatePattern(std::string_view pattern);

// Names whose history is not kept unless the user changes the list
// (`katamari exclude reset` restores these).
const std::vector<std::string>& DefaultExcludes();

}  // namespace katamari

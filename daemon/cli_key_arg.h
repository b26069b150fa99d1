// The KEY argument of get, restore, rm and versions, with the mount's version
// spellings (docs/semantics.md, Version paths and The command line): KEY@N,
// KEY@-K, KEY@TIME, and KEY@ for the whole history. As in the mount, a real
// key wins: a file literally named "a@1" is that file, and its versions are
// reached with --version / --at.
#pragma once

#include <optional>
#include <string>

#include "daemon/cli_commands.h"
#include "store/bucket.h"

namespace katamari::cli {

// What a typed KEY (with --version / --at) names.
struct KeyTarget {
  std::string key;       // the key without its version suffix
  VersionSelector sel;   // empty: the current version
  std::string typed;     // KEY as typed, for messages
  bool history = false;  // "KEY@": all versions (only `versions` takes it)
};

// What a command accepts after '@'.
enum class KeyArgUse {
  kRead,      // get, restore: @N, @-K, @TIME
  kVersions,  // versions: only KEY@ (the history)
  kDelete,    // rm: @N, @-K (a version named by its number, never by a time)
};

// Splits `typed` and merges it with `flags`. Prints a usage error and returns
// nullopt (exit 2) when the suffix and a flag both name a version, or the
// command does not take that suffix; a failure of the bucket (not a missing
// key: that is left to the command) sets *exit_code to 1 as well.
// `flag_sel` is what MakeSelector made of `flags` (both empty for rm).
std::optional<KeyTarget> ParseKeyArg(Bucket& bucket, const std::string& verb,
                                     const std::string& typed, const SelectorArgs& flags,
                                     const VersionSelector& flag_sel, KeyArgUse use,
                                     int* exit_code);

// The entry `key` names, live or deleted with history kept (*live tells);
// NotFound if none.
Result<Attr> LookupKeyAny(Bucket& bucket, std::string_view key, bool* live);

}  // namespace katamari::cli

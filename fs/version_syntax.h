// The spelling of version paths (docs/semantics.md, Version paths): what follows the last '@' of a
// name, and the UTC moments it accepts. Pure functions, no store access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/status.h"
#include "store/time_format.h"
#include "store/types.h"

namespace katamari::fs {

struct VersionSuffix {
  enum class Kind {
    kHistory,  // "NAME@": the directory of all versions
    kNumber,   // "NAME@3": version 3 (value > 0)
    kBack,     // "NAME@-2": two versions before the current one (value > 0)
    kTime,     // "NAME@2026-11-25T10:00:00Z": as it was at time_ns
  };
  Kind kind = Kind::kHistory;
  uint64_t value = 0;
  int64_t time_ns = 0;
};

struct VersionName {
  std::string_view base;  // the name before the last '@' (may be empty: "@TIME")
  VersionSuffix suffix;
};

// Splits `name` at its LAST '@' and parses what follows. nullopt if the name
// has no '@' or the suffix is none of the forms above. Numbers are plain
// decimal without sign or leading zeros ("@007" is not version 7).
std::optional<VersionName> ParseVersionName(std::string_view name);

// A positive decimal without leading zeros (the entries of a NAME@ directory).
std::optional<uint64_t> ParseVersionNumber(std::string_view text);

// UTC moments: store/time_format.h (shared with the CLI's --at).
using ::katamari::FormatUtcTime;
using ::katamari::ParseUtcTime;

inline constexpr std::string_view kUserPrefix = "user.";
inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The read-only, unlisted facts of a version (docs/semantics.md, Version paths): the xattrs
// user.katamari.sha256 / .version / .stored_size / .mtime (ISO-8601 UTC).
// `name` is the whole xattr name; NotFound for any other name.
inline constexpr std::string_view kFactPrefix = "user.katamari.";
inline constexpr std::string_view kSha256Fact = "user.katamari.sha256";
Result<std::string> VersionFact(const VersionInfo& v, std::string_view name);

}  // namespace katamari::fs

// The spelling of version paths (SPEC §5): what follows the last '@' of a
// name, and the UTC moments it accepts. Pure functions, no store access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// A UTC moment: 2026-11-25T10:00:00Z (optional .fraction of up to 9 digits),
// 2026-11-25T10:00Z, or a bare date 2026-11-25 meaning the end of that day
// (its last nanosecond). Impossible dates (2026-02-30) are refused.
std::optional<int64_t> ParseUtcTime(std::string_view text);

// "2026-11-25T10:00:00Z", with ".123456789" before the Z when the time has
// a fraction of a second.
std::string FormatUtcTime(int64_t time_ns);

}  // namespace katamari::fs

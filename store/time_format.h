// UTC moments as users write them (docs/semantics.md). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace katamari {

// A moment: 2026-11-25T10:00:00Z (optional .fraction of up to 9 digits),
// 2026-11-25T10:00Z, the same with an offset from UTC instead of Z
// (2026-11-25T11:00+01:00, -0500, +01), or a bare date 2026-11-25 meaning the
// end of that day in UTC (its last nanosecond). Impossible dates (2026-02-30)
// and times without a zone are refused. Moments past 2262 (beyond int64
// nanoseconds) saturate to "the latest".
std::optional<int64_t> ParseUtcTime(std::string_view text);

// Seconds since the Unix epoch with an optional .fraction ("1700000000.5").
std::optional<int64_t> ParseUnixTime(std::string_view text);

// The prefix of a Unix time in version paths and --at: "unix:1700000000".
inline constexpr std::string_view kUnixPrefix = "unix:";

// ParseUtcTime, or a Unix time "unix:1700000000[.fraction]" or
// "@1700000000[.fraction]" (the CLI's --at).
std::optional<int64_t> ParseTimeSpec(std::string_view text);

// "2026-11-25T10:00:00Z", with ".123456789" before the Z when the time has
// a fraction of a second.
std::string FormatUtcTime(int64_t time_ns);

}  // namespace katamari

// UTC moments as users write them (docs/semantics.md). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace katamari {

// A UTC moment: 2026-11-25T10:00:00Z (optional .fraction of up to 9 digits),
// 2026-11-25T10:00Z, or a bare date 2026-11-25 meaning the end of that day
// (its last nanosecond). Impossible dates (2026-02-30) are refused. Moments
// past 2262 (beyond int64 nanoseconds) saturate to "the latest".
std::optional<int64_t> ParseUtcTime(std::string_view text);

// ParseUtcTime, or a Unix time "@1700000000[.fraction]" (the CLI's --at).
std::optional<int64_t> ParseTimeSpec(std::string_view text);

// "2026-11-25T10:00:00Z", with ".123456789" before the Z when the time has
// a fraction of a second.
std::string FormatUtcTime(int64_t time_ns);

}  // namespace katamari

// UTC time spellings shared by the CLI (--at) and the mount (NAME@TIME).
#include "store/time_format.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace katamari {

namespace {

constexpr int64_t kNsPerSec = 1000000000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `len` digits at *pos.
bool ReadDigits(std::string_view s, size_t* pos, size_t len, int* out) {
  if (*pos + len > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < len; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += len;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// ".ddddddddd" (1-9 digits) as nanoseconds, if present.
bool ReadFraction(std::string_view s, size_t* pos, int64_t* ns) {
  *ns = 0;
  if (*pos >= s.size() || s[*pos] != '.') return true;
  ++*pos;
  size_t digits = 0;
  int64_t scale = kNsPerSec;
  while (*pos < s.size() && IsDigit(s[*pos])) {
    if (++digits > 9) return false;
    scale /= 10;
    *ns += (s[*pos] - '0') * scale;
    ++*pos;
  }
  return digits > 0;
}

// The zone after a time of day: "Z" (or "z"), or an offset from UTC as
// "+HH:MM", "-HH:MM", "+HHMM" or "+HH" (RFC 3339 and ISO 8601 spellings).
// A time without a zone is refused: it would mean the daemon's local time,
// which the user of a path cannot see.
bool ReadZone(std::string_view s, size_t* pos, int64_t* offset_secs) {
  *offset_secs = 0;
  if (*pos >= s.size()) return false;
  char c = s[*pos];
  if (c == 'Z' || c == 'z') {
    ++*pos;
    return true;
  }
  if (c != '+' && c != '-') return false;
  ++*pos;
  int hh = 0, mm = 0;
  if (!ReadDigits(s, pos, 2, &hh)) return false;
  if (*pos < s.size() && s[*pos] == ':') {
    ++*pos;
    if (!ReadDigits(s, pos, 2, &mm)) return false;
  } else if (*pos < s.size() && !ReadDigits(s, pos, 2, &mm)) {
    return false;
  }
  if (hh > 23 || mm > 59) return false;
  *offset_secs = (c == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
  return true;
}

// Calendar fields -> Unix seconds; nullopt for fields that name no real
// moment (timegm would quietly turn 2026-02-30 into March 2).
std::optional<int64_t> UtcSeconds(int year, int mon, int day, int hour, int min, int sec) {
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59) {
    return std::nullopt;
  }
  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  struct tm check {};
  if (!gmtime_r(&t, &check) || check.tm_mday != day || check.tm_mon != mon - 1) {
    return std::nullopt;
  }
  return static_cast<int64_t>(t);
}

// Seconds + fraction as nanoseconds; moments past 2262 (beyond int64
// nanoseconds) are all "the latest", moments before 1678 "the earliest".
int64_t ToNs(int64_t secs, int64_t frac) {
  constexpr int64_t kMaxSecs = INT64_MAX / kNsPerSec - 1;
  if (secs > kMaxSecs) return INT64_MAX;
  if (secs < -kMaxSecs) return INT64_MIN;
  return secs * kNsPerSec + frac;
}

}  // namespace

std::optional<int64_t> ParseUtcTime(std::string_view s) {
  size_t pos = 0;
  int year, mon, day;
  if (!ReadDigits(s, &pos, 4, &year) || !Expect(s, &pos, '-') || !ReadDigits(s, &pos, 2, &mon) ||
      !Expect(s, &pos, '-') || !ReadDigits(s, &pos, 2, &day)) {
    return std::nullopt;
  }
  if (pos == s.size()) {
    // A bare date is the end of that day: what was current at midnight.
    auto start = UtcSeconds(year, mon, day, 0, 0, 0);
    if (!start) return std::nullopt;
    int64_t end = ToNs(*start + 86400, 0);
    return end == INT64_MAX ? end : end - 1;
  }
  int hour, min, sec = 0;
  int64_t frac = 0;
  if (!Expect(s, &pos, 'T') || !ReadDigits(s, &pos, 2, &hour) || !Expect(s, &pos, ':') ||
      !ReadDigits(s, &pos, 2, &min)) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!ReadDigits(s, &pos, 2, &sec) || !ReadFraction(s, &pos, &frac)) return std::nullopt;
  }
  int64_t offset_secs = 0;
  if (!ReadZone(s, &pos, &offset_secs) || pos != s.size()) return std::nullopt;
  auto secs = UtcSeconds(year, mon, day, hour, min, sec);
  if (!secs) return std::nullopt;
  return ToNs(*secs - offset_secs, frac);
}

std::optional<int64_t> ParseUnixTime(std::string_view s) {
  size_t pos = 0;
  int64_t secs = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (ec != std::errc() || end == s.data() || s[0] == '-' || s[0] == '+') return std::nullopt;
  pos = static_cast<size_t>(end - s.data());
  int64_t frac = 0;
  if (!ReadFraction(s, &pos, &frac) || pos != s.size()) return std::nullopt;
  return ToNs(secs, frac);
}

std::optional<int64_t> ParseTimeSpec(std::string_view s) {
  if (!s.empty() && s[0] == '@') return ParseUnixTime(s.substr(1));
  if (s.substr(0, kUnixPrefix.size()) == kUnixPrefix) {
    return ParseUnixTime(s.substr(kUnixPrefix.size()));
  }
  return ParseUtcTime(s);
}

std::string FormatUtcTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / kNsPerSec);
  int64_t frac = ns % kNsPerSec;
  if (frac < 0) {
    frac += kNsPerSec;
    --secs;
  }
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, len);
  if (frac != 0) {
    char f[16];
    snprintf(f, sizeof(f), ".%09lld", static_cast<long long>(frac));
    out += f;
  }
  return out + "Z";
}

}  // namespace katamari

// Retention rules, durations and name patterns (store/retention.h).
#include "store/retention.h"

#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <set>

namespace katamari {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

struct Unit {
  const char* name;
  int64_t ns;
};
// Longest first, so FormatDuration picks the largest unit and "mo" is tried
// before "m".
constexpr Unit kUnits[] = {{"y", 365 * kDay}, {"mo", 30 * kDay}, {"w", 7 * kDay},
                           {"d", kDay},       {"h", kHour},      {"m", kMinute},
                           {"s", kSecond}};

constexpr char kDurationHelp[] =
    "write a duration as NUMBER UNIT terms, e.g. 30m, 12h, 7d, 2w, 6mo, 1y or 1d12h "
    "(s, m = minutes, h, d, w = 7d, mo = 30d, y = 365d)";

Status BadDuration(std::string_view text, std::string_view why) {
  return Status::InvalidArgument("duration '" + std::string(text) + "' " + std::string(why) +
                                 "; " + kDurationHelp);
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Civil year and month (1..12) of a day count since 1970-01-01 (Howard
// Hinnant's days_from_civil inverse).
void CivilFromDays(int64_t z, int64_t* year, int64_t* month) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = yoe + era * 400 + (*month <= 2 ? 1 : 0);
}

int64_t HourOf(int64_t t) { return FloorDiv(t, kHour); }
int64_t DayOf(int64_t t) { return FloorDiv(t, kDay); }
// ISO weeks start on Monday; 1970-01-01 was a Thursday.
int64_t WeekOf(int64_t t) { return FloorDiv(DayOf(t) + 3, 7); }
int64_t MonthOf(int64_t t) {
  int64_t y, m;
  CivilFromDays(DayOf(t), &y, &m);
  return y * 12 + (m - 1);
}
int64_t YearOf(int64_t t) {
  int64_t y, m;
  CivilFromDays(DayOf(t), &y, &m);
  return y;
}

constexpr uint64_t kMaxCount = 1000000000;

Result<uint64_t> ParseCount(std::string_view rule, std::string_view value) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || n == 0 ||
      n > kMaxCount) {
    return Status::InvalidArgument(std::string(rule) + "=" + std::string(value) +
                                   ": not a count; write a whole number from 1 to 1000000000, "
                                   "e.g. " + std::string(rule) + "=7");
  }
  return n;
}

struct RuleSpec {
  const char* name;
  std::optional<uint64_t> RetentionRules::*count;
  std::optional<int64_t> RetentionRules::*duration;
};
// The canonical order of ToString.
const RuleSpec kRules[] = {
    {"keep-last", &RetentionRules::keep_last, nullptr},
    {"keep-within", nullptr, &RetentionRules::keep_within_ns},
    {"keep-hourly", &RetentionRules::keep_hourly, nullptr},
    {"keep-daily", &RetentionRules::keep_daily, nullptr},
    {"keep-weekly", &RetentionRules::keep_weekly, nullptr},
    {"keep-monthly", &RetentionRules::keep_monthly, nullptr},
    {"keep-yearly", &RetentionRules::keep_yearly, nullptr},
    {"deleted-for", nullptr, &RetentionRules::deleted_for_ns},
};

std::string RuleNames() {
  std::string out;
  for (const RuleSpec& r : kRules) {
    if (!out.empty()) out += ", ";
    out += r.name;
  }
  return out;
}

// Keeps the newest version of each of the n newest periods with a version.
// `newest_first` is sorted by time, newest first.
void KeepPeriods(const std::vector<RetentionCandidate>& newest_first, uint64_t n,
                 const std::function<int64_t(int64_t)>& period, std::set<uint64_t>* kept) {
  std::optional<int64_t> last;
  for (const RetentionCandidate& c : newest_first) {
    if (n == 0) return;
    const int64_t p = period(c.time_ns);
    if (last && *last == p) continue;
    last = p;
    kept->insert(c.version);
    --n;
  }
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return BadDuration(text, "is empty");
  int64_t total = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
    if (end == rest.data()) return BadDuration(text, "needs a number before each unit");
    if (ec != std::errc()) return BadDuration(text, "is too long");
    rest.remove_prefix(static_cast<size_t>(end - rest.data()));
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      std::string_view name = u.name;
      if (rest.starts_with(name)) {
        // "m" must not take the "m" of "mo"; kUnits lists "mo" first.
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      return BadDuration(text, rest.empty() ? "needs a unit after the last number"
                                            : "has an unknown unit '" + std::string(rest) + "'");
    }
    rest.remove_prefix(std::string_view(unit->name).size());
    if (n > static_cast<uint64_t>(INT64_MAX / unit->ns) ||
        total > INT64_MAX - static_cast<int64_t>(n) * unit->ns) {
      return BadDuration(text, "is too long");
    }
    total += static_cast<int64_t>(n) * unit->ns;
  }
  if (total == 0) return BadDuration(text, "is zero");
  return total;
}

std::string FormatDuration(int64_t ns) {
  if (ns <= 0) return "0s";
  std::string out;
  for (const Unit& u : kUnits) {
    if (ns >= u.ns) {
      out += std::to_string(ns / u.ns) + u.name;
      ns %= u.ns;
    }
  }
  // Below a second (never made by ParseDuration): whole seconds only.
  return out.empty() ? "0s" : out;
}

bool RetentionRules::empty() const { return !has_keep_rule() && !deleted_for_ns; }

bool RetentionRules::has_keep_rule() const {
  return keep_last || keep_hourly || keep_daily || keep_weekly || keep_monthly || keep_yearly ||
         keep_within_ns;
}

std::string RetentionRules::ToString() const {
  std::string out;
  for (const RuleSpec& r : kRules) {
    std::string value;
    if (r.count && this->*r.count) value = std::to_string(*(this->*r.count));
    if (r.duration && this->*r.duration) value = FormatDuration(*(this->*r.duration));
    if (value.empty()) continue;
    if (!out.empty()) out += ' ';
    out += std::string(r.name) + "=" + value;
  }
  return out;
}

Result<RetentionRules> RetentionRules::Parse(const std::vector<std::string>& words) {
  if (words.empty()) {
    return Status::InvalidArgument("no rule given; name at least one of " + RuleNames() +
                                   ", e.g. keep-last=10 keep-daily=7");
  }
  RetentionRules out;
  std::set<std::string> seen;
  for (const std::string& w : words) {
    const size_t eq = w.find('=');
    const std::string name = w.substr(0, eq);
    const RuleSpec* spec = nullptr;
    for (const RuleSpec& r : kRules) {
      if (name == r.name) spec = &r;
    }
    if (spec == nullptr) {
      return Status::InvalidArgument("unknown rule '" + w + "'; the rules are " + RuleNames() +
                                     ", each written RULE=VALUE, e.g. keep-daily=7");
    }
    if (eq == std::string::npos || eq + 1 == w.size()) {
      return Status::InvalidArgument("rule '" + w + "' has no value; write it as " + name +
                                     (spec->count ? "=N, e.g. " + name + "=7"
                                                  : "=DURATION, e.g. " + name + "=30d"));
    }
    if (!seen.insert(name).second) {
      return Status::InvalidArgument("rule " + name + " is given twice; give each rule once");
    }
    const std::string_view value = std::string_view(w).substr(eq + 1);
    if (spec->count) {
      ASSIGN_OR_RETURN(out.*(spec->count), ParseCount(name, value));
    } else {
      auto d = ParseDuration(value);
      if (!d.ok()) return Status::InvalidArgument(name + ": " + d.status().message());
      out.*(spec->duration) = *d;
    }
  }
  return out;
}

std::vector<uint64_t> SelectKept(const std::vector<RetentionCandidate>& versions,
                                 const RetentionRules& rules, uint64_t current) {
  std::set<uint64_t> kept;
  if (!rules.has_keep_rule()) {
    for (const RetentionCandidate& c : versions) kept.insert(c.version);
    return {kept.begin(), kept.end()};
  }
  std::vector<RetentionCandidate> v = versions;
  std::sort(v.begin(), v.end(), [](const RetentionCandidate& a, const RetentionCandidate& b) {
    if (a.time_ns != b.time_ns) return a.time_ns > b.time_ns;
    return a.version > b.version;
  });
  if (rules.keep_last) {
    for (size_t i = 0; i < v.size() && i < *rules.keep_last; ++i) kept.insert(v[i].version);
  }
  if (rules.keep_within_ns && !v.empty()) {
    const int64_t newest = v.front().time_ns;
    for (const RetentionCandidate& c : v) {
      if (newest - c.time_ns <= *rules.keep_within_ns) kept.insert(c.version);
    }
  }
  if (rules.keep_hourly) KeepPeriods(v, *rules.keep_hourly, HourOf, &kept);
  if (rules.keep_daily) KeepPeriods(v, *rules.keep_daily, DayOf, &kept);
  if (rules.keep_weekly) KeepPeriods(v, *rules.keep_weekly, WeekOf, &kept);
  if (rules.keep_monthly) KeepPeriods(v, *rules.keep_monthly, MonthOf, &kept);
  if (rules.keep_yearly) KeepPeriods(v, *rules.keep_yearly, YearOf, &kept);
  if (current != 0) {
    for (const RetentionCandidate& c : v) {
      if (c.version == current) kept.insert(current);
    }
  }
  return {kept.begin(), kept.end()};
}

bool PatternMatches(std::string_view pattern, std::string_view path) {
  const std::string pat(pattern);
  if (pat.find('/') == std::string::npos) {
    const size_t slash = path.rfind('/');
    const std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
    return fnmatch(pat.c_str(), name.c_str(), 0) == 0;
  }
  std::string p = pat;
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty()) return false;
  // The path itself and every directory above it.
  std::string_view rest = path;
  for (;;) {
    if (fnmatch(p.c_str(), std::string(rest).c_str(), FNM_PATHNAME) == 0) {
      return true;
    }
    const size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos) return false;
    rest = rest.substr(0, slash);
  }
}

Status ValidatePattern(std::string_view pattern) {
  if (pattern.empty()) {
    return Status::InvalidArgument("the pattern is empty; give a glob such as '*.log' or "
                                   "'logs/'");
  }
  if (pattern.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("the pattern holds a NUL byte; names never do");
  }
  if (pattern.find_first_not_of('/') == std::string_view::npos) {
    return Status::InvalidArgument("pattern '" + std::string(pattern) +
                                   "' names no file; leave the pattern out for the whole "
                                   "bucket (the default rules)");
  }
  return Status::OK();
}

const std::vector<std::string>& DefaultExcludes() {
  static const std::vector<std::string> d = {
      ".*.swp", "*.swp", "*.swo", "*~",     "#*#",   "*.tmp", "*.lock",
      ".~lock.*#", "*-journal", "*-wal", "*-shm", "~$*"};
  return d;
}

}  // namespace katamari

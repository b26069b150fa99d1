#include "daemon/cli_support.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "daemon/cli_terminal.h"
#include "store/time_format.h"

namespace katamari::cli {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
constexpr int kPassphraseTries = 3;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What a user can do about each kind of failure. Store messages say what
// failed and on what; the CLI knows the commands that help.
const char* HintFor(Status::Code code) {
  switch (code) {
    case Status::Code::kNotFound:
      return "see what exists with 'katamari ls --deleted' and 'katamari versions KEY'";
    case Status::Code::kNoSpace:
      return "free space on the bucket's file system (or run 'katamari gc'), then retry";
    case Status::Code::kPermission:
    case Status::Code::kReadOnly:
      return "check that you may write the bucket directory (owner and mode), or run as its "
             "owner";
    case Status::Code::kCorruption:
      return "run 'katamari fsck' to list the damaged versions";
    case Status::Code::kNewerFormat:
      return "use a newer katamari to open this bucket";
    case Status::Code::kBusy:
      return "retry when the other process is done";
    case Status::Code::kIOError:
      return "check the storage device (dmesg) and retry";
    case Status::Code::kWrongKey:
      return "check that it is this bucket's key (any key that opens the bucket lists its key "
             "slots: 'katamari key list')";
    default:
      return nullptr;
  }
}

// Asks for the passphrase of the encrypted bucket `dir` on the terminal and
// opens it with what was typed; up to kPassphraseTries tries while the
// answer is simply wrong. Any other failure ends the asking.
Result<std::unique_ptr<Bucket>> OpenWithTypedPassphrase(const std::string& dir,
                                                        Bucket::OpenOptions opts) {
  Status last;
  for (int attempt = 0; attempt < kPassphraseTries; ++attempt) {
    if (attempt > 0) TellTerminal("wrong passphrase, try again");
    auto typed = AskPassphrase("Passphrase for " + dir + ": ");
    // Reported like a missing key (WrongKey, no storage hint): nothing was
    // wrong with the bucket.
    if (!typed.ok()) return Status::WrongKey(typed.status().message());
    opts.key = BucketKey::Passphrase(std::move(typed).value());
    auto bucket = Bucket::Open(dir, opts);
    if (bucket.ok()) return bucket;
    last = bucket.status();
    // Retyping helps only a mistyped passphrase, not e.g. "wrong kind of key"
    // (a bucket with key-file slots only).
    if (last.message().rfind("wrong key or passphrase", 0) != 0) break;
  }
  return last;
}

}  // namespace

void PrintError(std::string_view what, std::string_view fix) {
  std::cerr << "katamari: " << what;
  if (!fix.empty()) std::cerr << ": " << fix;
  std::cerr << "\n";
}

int ReportStatus(std::string_view context, const Status& status) {
  const std::string& msg = status.message();
  std::string what(context);
  // "get a@1" + "a@1: chunk ...": name the subject once.
  size_t space = context.find(' ');
  std::string_view subject = space == std::string_view::npos ? "" : context.substr(space + 1);
  if (!subject.empty() && msg.rfind(std::string(subject) + ":", 0) == 0) {
    what = std::string(context.substr(0, space)) + " " + msg;
  } else if (!msg.empty()) {
    what += ": " + msg;
  }
  // Store messages end in "; <what to do>" when the store knows the fix;
  // otherwise the CLI adds the usual one for that kind of failure.
  const char* hint = msg.find("; ") == std::string::npos ? HintFor(status.code()) : nullptr;
  PrintError(what, hint ? hint : "");
  return status.code() == Status::Code::kInvalidArgument ? kExitUsage : kExitFailure;
}

std::optional<int64_t> ParseTime(std::string_view s) { return ParseTimeSpec(s); }

std::optional<uint32_t> ParseSize(std::string_view s) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  std::string suffix(end, s.data() + s.size());
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  uint64_t mult = 1;
  if (suffix.empty() || suffix == "b") {
    mult = 1;
  } else if (suffix == "k" || suffix == "kb" || suffix == "kib") {
    mult = 1024;
  } else if (suffix == "m" || suffix == "mb" || suffix == "mib") {
    mult = 1024 * 1024;
  } else if (suffix == "g" || suffix == "gb" || suffix == "gib") {
    mult = 1024ull * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  if (n > UINT32_MAX / mult) return std::nullopt;
  return static_cast<uint32_t>(n * mult);
}

std::optional<uint32_t> ParseMode(std::string_view s) {
  uint32_t mode = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), mode, 8);
  if (ec != std::errc() || end != s.data() + s.size() || mode > 07777) return std::nullopt;
  return mode;
}

std::string FormatTime(int64_t time_ns, bool fraction) {
  if (!fraction) {
    int64_t frac = time_ns % kNsPerSec;
    time_ns -= frac < 0 ? frac + kNsPerSec : frac;  // whole seconds, rounded down
  }
  std::string out = FormatUtcTime(time_ns);
  size_t dot = out.find('.');
  if (dot != std::string::npos) {  // ".500000000Z" -> ".5Z"
    size_t last = out.find_last_not_of('0', out.size() - 2);
    out.erase(last + 1, out.size() - 2 - last);
  }
  return out;
}

std::string FormatBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    snprintf(buf, sizeof buf, "%" PRIu64 " B", bytes);
  } else {
    snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

nlohmann::json MetadataJson(const Xattrs& xattrs) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& [name, value] : xattrs) {
    // Metadata is the user.* names; ACLs (system.posix_acl_*, binary) are
    // the mount's and not shown here (docs/semantics.md, The command line).
    std::string_view key = name;
    if (key.substr(0, 5) != "user.") continue;
    key.remove_prefix(5);
    obj[std::string(key)] = value;
  }
  return obj;
}

std::string MetadataText(const Xattrs& xattrs) {
  std::string out;
  auto append_escaped = [&out](std::string_view s) {
    for (unsigned char c : s) {
      if (c < 0x20 || c == 0x7f || c == '\\' || c == ',') {
        char buf[8];
        snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  };
  for (const auto& [name, value] : xattrs) {
    std::string_view key = name;
    if (key.substr(0, 5) != "user.") continue;  // as MetadataJson
    key.remove_prefix(5);
    if (!out.empty()) out += ',';
    append_escaped(key);
    out += '=';
    append_escaped(value);
  }
  return out.empty() ? "-" : out;
}

void PutTime(nlohmann::json& obj, const std::string& name, int64_t time_ns) {
  obj[name] = FormatTime(time_ns, /*fraction=*/true);
  obj[name + "_ns"] = time_ns;
}

void PrintJson(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Table::Table(std::vector<std::string> header, std::vector<bool> numeric)
    : numeric_(std::move(numeric)) {
  rows_.push_back(std::move(header));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(numeric_.size(), 0);
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      bool last = i + 1 == row.size();
      std::string pad(width[i] - row[i].size(), ' ');
      if (numeric_[i]) {
        line += pad + row[i];
      } else {
        line += row[i] + (last ? "" : pad);
      }
      if (!last) line += "  ";
    }
    out << line << "\n";
  }
}

Progress::Progress(std::string label, uint64_t known_total, const char* unit)
    : active_(isatty(STDERR_FILENO) == 1),
      label_(std::move(label)),
      known_total_(known_total),
      unit_(unit) {
  start_ns_ = NowNs();
}

Progress::~Progress() { Finish(); }

std::string FormatTimeLeft(double secs) {
  if (secs < 0) secs = 0;
  auto s = static_cast<uint64_t>(secs + 0.5);
  char buf[48];
  if (s < 60) {
    snprintf(buf, sizeof buf, "%" PRIu64 " s", s);
  } else if (s < 3600) {
    snprintf(buf, sizeof buf, "%" PRIu64 " min %02" PRIu64 " s", s / 60, s % 60);
  } else {
    snprintf(buf, sizeof buf, "%" PRIu64 " h %02" PRIu64 " min", s / 3600, (s % 3600) / 60);
  }
  return buf;
}

std::string Progress::Line(const std::string& label, const char* unit, uint64_t done,
                           uint64_t total, double secs) {
  auto amount = [unit](uint64_t n) {
    return unit ? std::to_string(n) : FormatBytes(n);
  };
  std::string line = label + ": " + amount(done);
  if (total > 0) {
    char pct[16];
    snprintf(pct, sizeof pct, " (%d%%)", static_cast<int>(100.0 * std::min(done, total) / total));
    line += " of " + amount(total) + (unit ? std::string(" ") + unit : "") + pct;
  } else if (unit) {
    line += std::string(" ") + unit;
  }
  // The rate and what is left only once there is something to measure.
  if (secs >= 0.5 && done > 0) {
    double rate = static_cast<double>(done) / secs;
    line += ", " + (unit ? std::to_string(static_cast<uint64_t>(rate)) : FormatBytes(
                                                                          static_cast<uint64_t>(
                                                                              rate))) +
            "/s";
    if (total > done) line += ", " + FormatTimeLeft(static_cast<double>(total - done) / rate) +
                              " left";
  }
  return line;
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowNs();
  if (drawn_ && now - last_draw_ns_ < kNsPerSec / 10) return;
  last_draw_ns_ = now;
  drawn_ = true;
  if (total == 0) total = known_total_;
  double secs = static_cast<double>(now - start_ns_) / kNsPerSec;
  std::cerr << "\r" << Line(label_, unit_, done, total, secs) << "\033[K" << std::flush;
}

ProgressFn Progress::Fn() {
  if (!active_) return {};
  return [this](uint64_t done, uint64_t total) { Update(done, total); };
}

void Progress::Finish() {
  if (!active_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (drawn_) std::cerr << "\r\033[K" << std::flush;
  drawn_ = false;
}

std::string ShellQuote(std::string_view s) {
  bool plain = !s.empty();
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '/' || c == '.' || c == '_' || c == '-' || c == '+' ||
          c == ':' || c == ',' || c == '@' || c == '%')) {
      plain = false;
    }
  }
  if (plain) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::unique_ptr<Bucket> OpenBucket(const GlobalOptions& g, bool read_only, int* exit_code) {
  Bucket::OpenOptions opts;
  opts.read_only = read_only;
  // ls, versions, get: a SHA-256 they complete is stored if the user may
  // write the bucket (also beside a mount), computed only otherwise.
  opts.store_sha256 = read_only;
  opts.key = g.key;
  auto bucket = Bucket::Open(g.bucket_dir, opts);
  if (!bucket.ok() && bucket.status().code() == Status::Code::kWrongKey && g.key.empty() &&
      StdinIsTerminal()) {
    bucket = OpenWithTypedPassphrase(g.bucket_dir, opts);
  }
  if (bucket.ok()) return std::move(bucket).value();
  const Status& st = bucket.status();
  // The store says "no bucket at DIR" for a missing bucket; other NotFounds
  // (a missing key file) are reported as they are.
  if (st.IsNotFound() && st.message().rfind("no bucket at ", 0) == 0) {
    std::string dir = ShellQuote(g.bucket_dir);
    PrintError("no bucket at " + g.bucket_dir,
               "create one with 'katamari -b " + dir + " init' or pass -b");
    *exit_code = kExitFailure;
    return nullptr;
  }
  std::string context = "cannot open bucket " + g.bucket_dir;
  if (g.key.empty() && st.code() == Status::Code::kWrongKey) {
    // No key at all: the store's message already says how to pass one.
    PrintError(context + ": " + st.message(), "");
    *exit_code = kExitFailure;
    return nullptr;
  }
  // A key from the environment is easy to forget: say where it came from.
  if (!g.key.empty() && !g.key_from_command_line()) context += " (key from " + g.key_origin + ")";
  *exit_code = ReportStatus(context, st);
  if (*exit_code == kExitUsage) *exit_code = kExitFailure;
  return nullptr;
}

}  // namespace katamari::cli

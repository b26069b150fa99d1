// Helpers shared by the `katamari` admin CLI's commands: exit codes, error
// messages, parsing of times and sizes, formatting, a terminal progress line,
// and opening the bucket. The CLI talks to the store only through
// store/bucket.h (docs/semantics.md, The command line).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/bucket.h"

namespace katamari::cli {

// docs/semantics.md, The command line: 0 ok, 1 not found / check failed / runtime failure, 2 usage
// error.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Options every command gets.
struct GlobalOptions {
  std::string bucket_dir;  // resolved: -b, else $KATAMARI_BUCKET, else ./storage/my_bucket
  // The key of an encrypted bucket: --keyfile / --passphrase-file, else
  // $KATAMARI_KEYFILE / $KATAMARI_PASSPHRASE_FILE; empty if none. Plain
  // buckets ignore it.
  BucketKey key;
  // Where `key` came from, for messages: "--keyfile", "$KATAMARI_KEYFILE",
  // ... ("" when there is no key).
  std::string key_origin;
  // Hidden --scrypt-n: scrypt N of new passphrase slots (0 = the store's
  // default). Lets tests make passphrase slots that open in milliseconds.
  uint64_t scrypt_n = 0;

  bool key_from_command_line() const { return key_origin.rfind("--", 0) == 0; }
};

// Prints "katamari: <what>: <fix>" on stderr.
void PrintError(std::string_view what, std::string_view fix);
// Prints a store failure as "katamari: <context>: <status message>[: <hint>]"
// (the hint only when the store's message carries no "; <fix>" of its own)
// and returns the exit code for it (2 for InvalidArgument, else 1).
int ReportStatus(std::string_view context, const Status& status);

// Parses a moment for --at: 2026-11-25T10:00:00Z (optional .fraction),
// 2026-11-25T10:00Z, an offset instead of Z (2026-11-25T11:00+01:00), a bare
// date 2026-11-25 (= the end of that day, UTC), or a Unix time
// unix:1700000000 / @1700000000 (optional .fraction). nullopt if malformed.
std::optional<int64_t> ParseTime(std::string_view text);
// Parses a byte count: digits with an optional K/M/G suffix (powers of 1024,
// "KiB" and "kB" spellings accepted). nullopt if malformed or > UINT32_MAX.
std::optional<uint32_t> ParseSize(std::string_view text);
// Parses octal permission bits (e.g. 644, 0600); nullopt if not <= 07777.
std::optional<uint32_t> ParseMode(std::string_view text);

// ISO-8601 UTC: "2026-11-25T10:00:00Z"; with fraction=true, nanoseconds are
// appended when not zero ("...:00.123456789Z") so the text can be fed back
// to --at and name exactly that moment.
std::string FormatTime(int64_t time_ns, bool fraction = false);
// "1.5 GiB" style, for humans.
std::string FormatBytes(uint64_t bytes);
// Metadata (user.* xattrs) as the old API's dict: "user." stripped.
nlohmann::json MetadataJson(const Xattrs& xattrs);
// Metadata as "k=v,k2=v2" for tables; "-" when empty. Non-printable bytes escaped.
std::string MetadataText(const Xattrs& xattrs);
// Adds "<name>" (ISO string) and "<name>_ns" (integer) to `obj`.
void PutTime(nlohmann::json& obj, const std::string& name, int64_t time_ns);
// Prints JSON on stdout (pretty, invalid UTF-8 replaced) with a newline.
void PrintJson(const nlohmann::json& value);

// A table with a header row; columns flagged numeric are right-aligned. The
// last column is not padded so long metadata does not add trailing blanks.
class Table {
 public:
  Table(std::vector<std::string> header, std::vector<bool> numeric);
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<bool> numeric_;
  std::vector<std::vector<std::string>> rows_;
};

// A progress line on stderr, shown only when stderr is a terminal (quiet in
// pipes, files and under systemd): what is done, of what total, the rate and
// the time left ("put a.txt: 1.2 GiB of 4.0 GiB (30%), 85.1 MiB/s, 34 s
// left"); without a total, what is done and the rate. Redrawn at most ~10
// times a second with '\r' and cleared by Finish() or the destructor.
// Thread-safe: the store may call Update from worker threads.
class Progress {
 public:
  // `label` starts the line ("put a.txt"); known_total overrides a 0 total.
  // With a `unit` ("chunk files") the counts are things, not bytes.
  Progress(std::string label, uint64_t known_total = 0, const char* unit = nullptr);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool active() const { return active_; }
  void Update(uint64_t done, uint64_t total);
  ProgressFn Fn();  // a callback that forwards to Update (empty when inactive)
  void Finish();

  // The line for `done` of `total` (0: unknown) after `secs` seconds.
  static std::string Line(const std::string& label, const char* unit, uint64_t done,
                          uint64_t total, double secs);

 private:
  const bool active_;
  const std::string label_;
  const uint64_t known_total_;
  const char* const unit_;
  std::mutex mu_;
  int64_t start_ns_ = 0;
  int64_t last_draw_ns_ = 0;
  bool drawn_ = false;
};

// "45 s", "3 min 05 s", "2 h 07 min": a duration for people.
std::string FormatTimeLeft(double secs);

// Opens the bucket at g.bucket_dir with g.key; on failure prints the error
// (a missing bucket names the `katamari init` fix) and sets *exit_code. An
// encrypted bucket opened without a key while stdin is a terminal asks for
// its passphrase there (up to three tries). A read-only open still stores
// the SHA-256s it completes where the user may write the bucket
// (Bucket::OpenOptions::store_sha256).
std::unique_ptr<Bucket> OpenBucket(const GlobalOptions& g, bool read_only, int* exit_code);

// Shell-quotes a path for a message if it needs it.
std::string ShellQuote(std::string_view s);

}  // namespace katamari::cli

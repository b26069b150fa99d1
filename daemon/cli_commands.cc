// init, put, get, rm, restore: the commands that change or read content.
#include "daemon/cli_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "daemon/cli_key_arg.h"
#include "daemon/cli_keys.h"
#include "daemon/cli_names.h"
#include "daemon/cli_output.h"
#include "store/data_backend.h"

namespace katamari::cli {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

// Closes a file descriptor on scope exit.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

int64_t TimespecNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

std::string Errno(int err) { return std::strerror(err); }

// Converts --version/--at into a selector; prints a usage error on a bad time.
bool MakeSelector(const SelectorArgs& a, VersionSelector* sel) {
  if (a.version) sel->version = VersionNo(*a.version);
  if (a.at) {
    auto t = ParseTime(*a.at);
    if (!t) {
      PrintError("--at: cannot read time '" + *a.at + "'",
                 "use 2026-11-25T10:00:00Z, 2026-11-25T10:00Z, 2026-11-25T11:00+01:00, "
                 "2026-11-25 (end of that day, UTC) or unix:SECONDS");
      return false;
    }
    sel->at_time_ns = *t;
  }
  return true;
}

// "k=v" -> ("user.k", "v"). A name that already says "user." is kept. The
// limits are those of an xattr, as the mount shows metadata (user.NAME).
bool ParseMeta(const std::vector<std::string>& items, Xattrs* out) {
  constexpr size_t kMaxName = 255;           // XATTR_NAME_MAX, "user." included
  constexpr size_t kMaxValue = 64 * 1024;    // XATTR_SIZE_MAX
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    const std::string shown = "--meta '" + item + "'";
    if (eq == std::string::npos) {
      PrintError(shown + ": no '=': expected NAME=VALUE",
                 "write it as --meta " + (item.empty() ? "author" : item) +
                     "=VALUE (an empty value is NAME=)");
      return false;
    }
    std::string name = item.substr(0, eq);
    if (name.rfind("user.", 0) != 0) name = "user." + name;
    if (name == "user.") {
      PrintError(shown + ": the name before '=' is empty",
                 "name the metadata, e.g. --meta author=ann (kept as xattr user.author)");
      return false;
    }
    if (name.size() > kMaxName) {
      PrintError(shown.substr(0, 60) + "...: the name is " + std::to_string(name.size()) +
                     " bytes with its 'user.' prefix",
                 "use a name of at most " + std::to_string(kMaxName - 5) +
                     " bytes (an xattr name holds 255)");
      return false;
    }
    if (item.size() - eq - 1 > kMaxValue) {
      PrintError("--meta " + name.substr(5) + "=...: the value is " +
                     std::to_string(item.size() - eq - 1) + " bytes",
                 "keep a value within 64 KiB (an xattr value holds 65536 bytes); store larger "
                 "data as a file");
      return false;
    }
    (*out)[name] = item.substr(eq + 1);
  }
  return true;
}

std::string Describe(const std::string& key, const VersionSelector& sel) {
  if (sel.version) return key + "@" + std::to_string(sel.version->value);
  if (sel.at_time_ns) return key + "@" + FormatTime(*sel.at_time_ns);
  return key;
}

// Writes version `info` of `key` to `path` as cp(1) would (cli_output.h):
// PATH changes only once every byte has arrived.
int GetToFile(Bucket& bucket, const std::string& key, const VersionInfo& info,
              const std::string& path) {
  const std::string context = "get " + key + "@" + std::to_string(info.version.value);
  auto out = OutputFile::Open(path);
  if (!out.ok()) return ReportStatus(context + " -o " + path, out.status());
  Progress progress("get " + key, info.size);
  FdSink sink((*out)->fd(), (*out)->what());
  VersionSelector exact;
  exact.version = info.version;
  Status st = bucket.Get(key, exact, sink, progress.Fn());
  progress.Finish();
  if (!st.ok()) return ReportStatus(context, st);
  st = (*out)->Commit(info.mtime_ns);
  if (!st.ok()) return ReportStatus(context + " -o " + path, st);
  return kExitOk;
}

// Turns init's options into settings; prints a usage error and returns false
// on a bad value.
bool SettingsFromArgs(const InitArgs& a, BucketSettings* s) {
  auto codec = ParseCodec(a.compression);
  if (!codec) {
    PrintError("--compression '" + a.compression + "': unknown codec", "use zstd, zlib or none");
    return false;
  }
  s->compression = *codec;
  s->level = a.level.value_or(*codec == Codec::kZlib ? 6 : *codec == Codec::kZstd ? 1 : 0);
  s->versioning = !a.no_versioning;
  s->delta_chunks = !a.no_delta;
  struct SizeOpt {
    const char* name;
    const std::optional<std::string>& text;
    uint32_t* field;
  } sizes[] = {{"--chunk-min", a.chunk_min, &s->chunk_min},
               {"--chunk-avg", a.chunk_avg, &s->chunk_avg},
               {"--chunk-max", a.chunk_max, &s->chunk_max}};
  for (const SizeOpt& o : sizes) {
    if (!o.text) continue;
    auto v = ParseSize(*o.text);
    if (!v || *v == 0) {
      PrintError(std::string(o.name) + " '" + *o.text + "': not a size",
                 "give bytes with an optional K, M or G suffix, e.g. 64K");
      return false;
    }
    *o.field = *v;
  }
  if (a.data_credentials && !a.data) {
    PrintError("--data-credentials given without --data",
               "add --data s3://HOST:PORT/BUCKET/PREFIX, or drop --data-credentials");
    return false;
  }
  if (a.data) {
    Status st = ValidateDataUrl(*a.data);
    if (!st.ok()) {
      const size_t semi = st.message().find("; ");
      PrintError(st.message().substr(0, semi),
                 semi == std::string::npos ? "" : st.message().substr(semi + 2));
      return false;
    }
    s->data_url = *a.data;
    s->data_credentials = a.data_credentials.value_or("");
  }
  if (s->chunk_min > s->chunk_avg || s->chunk_avg > s->chunk_max) {
    PrintError("chunk sizes must satisfy min <= avg <= max",
               "got " + std::to_string(s->chunk_min) + " / " + std::to_string(s->chunk_avg) +
                   " / " + std::to_string(s->chunk_max));
    return false;
  }
  return true;
}

// Checks the input of a put (fd < 0: open failed with errno) and fills *st.
bool CheckInput(const std::string& name, int fd, struct stat* st) {
  if (fd < 0) {
    int err = errno;
    PrintError("cannot open " + name + ": " + Errno(err), "check the path and its permissions");
    return false;
  }
  if (fstat(fd, st) != 0) {
    int err = errno;
    PrintError("cannot stat " + name + ": " + Errno(err), "check the path");
    return false;
  }
  if (S_ISDIR(st->st_mode)) {
    PrintError("cannot put " + name + ": it is a directory", "put the files in it one by one");
    return false;
  }
  return true;
}

// The first key of `init --encrypt`: the global key (--keyfile,
// --passphrase-file or the environment), else a passphrase typed twice.
std::unique_ptr<NewKey> ChooseInitKey(const GlobalOptions& g, int* exit_code) {
  NewKeySource src;
  if (g.key.source == BucketKey::Source::kKeyFile) src.keyfile = g.key.path;
  if (g.key.source == BucketKey::Source::kPassphraseFile) src.passphrase_file = g.key.path;
  src.command = "init --encrypt";
  src.options =
      "--keyfile FILE (made if missing) or --passphrase-file FILE (or set $KATAMARI_KEYFILE / "
      "$KATAMARI_PASSPHRASE_FILE)";
  src.bucket_dir = g.bucket_dir;
  return ChooseNewKey(src, g.scrypt_n, exit_code);
}

}  // namespace

int RunInit(const GlobalOptions& g, const InitArgs& a) {
  BucketSettings s;
  if (!SettingsFromArgs(a, &s)) return kExitUsage;
  // A key given on the command line but no --encrypt would silently make a
  // plain bucket the user meant to be private. (A key in the environment is
  // ignored, as plain buckets ignore keys.)
  if (!a.encrypt && g.key_from_command_line()) {
    PrintError(g.key_origin + " given without --encrypt",
               "add --encrypt to make an encrypted bucket, or drop " + g.key_origin);
    return kExitUsage;
  }
  std::unique_ptr<NewKey> key;
  Status st;
  if (a.encrypt) {
    int code = kExitOk;
    key = ChooseInitKey(g, &code);
    if (!key) return code;
    st = Bucket::Create(g.bucket_dir, s, key->key);
  } else {
    st = Bucket::Create(g.bucket_dir, s);
  }
  if (st.code() == Status::Code::kExists && st.message().find("already holds") == std::string::npos) {
    PrintError("a bucket already exists at " + g.bucket_dir,
               "use it as it is, or pass -b with another directory");
    return kExitFailure;
  }
  if (!st.ok()) return ReportStatus("init " + g.bucket_dir, st);
  if (key) {
    key->Keep();
    std::cout << key->CreatedNote();
  }
  std::cout << "created bucket " << g.bucket_dir << " (" << CodecName(s.compression);
  if (s.compression != Codec::kNone) std::cout << " level " << s.level;
  std::cout << ", versioning " << (s.versioning ? "on" : "off");
  if (!s.delta_chunks) std::cout << ", no delta chunks";
  if (key) std::cout << ", encrypted; key slot 1: " << key->Describe();
  if (!s.data_url.empty()) std::cout << ", data on " << s.data_url;
  std::cout << ")\n";
  return kExitOk;
}

int RunPut(const GlobalOptions& g, const PutArgs& a) {
  PutOptions opts;
  if (!ParseMeta(a.meta, &opts.metadata)) return kExitUsage;
  opts.uid = geteuid();
  opts.gid = getegid();
  if (a.mode) {
    auto m = ParseMode(*a.mode);
    if (!m) {
      PrintError("--mode '" + *a.mode + "': not an octal mode", "use e.g. --mode 0640");
      return kExitUsage;
    }
    opts.mode = *m;
  }
  const bool from_stdin = a.file == "-";
  UniqueFd owned(from_stdin ? -1 : ::open(a.file.c_str(), O_RDONLY | O_CLOEXEC));
  int fd = from_stdin ? STDIN_FILENO : owned.get();
  struct stat st {};
  if (!CheckInput(a.file, fd, &st)) return kExitFailure;
  if (!from_stdin) {
    opts.mtime_ns = TimespecNs(st.st_mtim);
    if (!a.mode) opts.mode = st.st_mode & 07777;
  }

  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  Progress progress("put " + a.key, S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0);
  opts.progress = progress.Fn();
  FdSource src(fd, from_stdin ? std::string("stdin") : a.file);
  auto info = bucket->Put(a.key, src, opts);
  progress.Finish();
  if (!info.ok()) return ReportStatus("put " + a.key, info.status());
  std::cout << info->sha256.Hex() << "\n";
  return kExitOk;
}

int RunGet(const GlobalOptions& g, const GetArgs& a) {
  VersionSelector flag_sel;
  if (!MakeSelector(a.sel, &flag_sel)) return kExitUsage;
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto t = ParseKeyArg(*bucket, "get", a.key, a.sel, flag_sel, KeyArgUse::kRead, &code);
  if (!t) return code;
  const std::string& key = t->key;
  const VersionSelector& sel = t->sel;
  // Resolve once, then read that exact version: a put racing with us cannot
  // make the bytes and the version we name disagree.
  auto info = bucket->Resolve(key, sel);
  if (!info.ok()) return ReportStatus("get " + Describe(key, sel), info.status());
  if (a.output && *a.output != "-") return GetToFile(*bucket, key, *info, *a.output);

  Progress progress("get " + key, info->size);
  FdSink sink(STDOUT_FILENO, "stdout");
  VersionSelector exact;
  exact.version = info->version;
  Status st = bucket->Get(key, exact, sink, progress.Fn());
  progress.Finish();
  if (!st.ok()) return ReportStatus("get " + key + "@" + std::to_string(info->version.value), st);
  return kExitOk;
}

int RunRestore(const GlobalOptions& g, const RestoreArgs& a) {
  VersionSelector flag_sel;
  if (!MakeSelector(a.sel, &flag_sel)) return kExitUsage;
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  auto t = ParseKeyArg(*bucket, "restore", a.key, a.sel, flag_sel, KeyArgUse::kRead, &code);
  if (!t) return code;
  if (!t->sel.version && !t->sel.at_time_ns) {
    PrintError("restore " + a.key + ": which version?",
               "pass --version N or --at TIME, or name it as " + a.key + "@N");
    return kExitUsage;
  }
  auto info = bucket->Restore(t->key, t->sel);
  if (info.ok()) info = bucket->CompleteSha256(*info);  // pending if it has holes
  if (!info.ok()) return ReportStatus("restore " + Describe(t->key, t->sel), info.status());
  if (a.json) {
    nlohmann::json j;
    PutName(j, "key", t->key);
    j["restored_from"] = info->restored_from ? nlohmann::json(info->restored_from->value)
                                             : nlohmann::json(nullptr);
    j["version"] = info->version.value;
    j["size"] = info->size;
    j["sha256"] = info->sha256.Hex();
    PutTime(j, "committed", info->commit_time_ns);
    PrintJson(j);
    return kExitOk;
  }
  std::cout << "restored " << t->key;
  if (info->restored_from) std::cout << " version " << info->restored_from->value;
  std::cout << " as version " << info->version.value << " (sha256 " << info->sha256.Hex()
            << ")\n";
  return kExitOk;
}

}  // namespace katamari::cli

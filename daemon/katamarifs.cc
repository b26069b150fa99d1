// katamarifs: mounts a bucket as a directory (docs/semantics.md, The command line).
//
//   katamarifs [-f] [-d] [-o OPTS] BUCKET_DIR MOUNTPOINT
//
// Without -f it forks; the child mounts and reports back through a pipe, and
// the parent exits 0 only once the mount serves (or prints the child's error
// and exits 1). Usage errors exit 2. Logs go to stderr, one line per event,
// with -f; once daemonized, to syslog(3) (the journal picks it up), never to
// the terminal or file that started it (docs/semantics.md, The command line).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/cli_terminal.h"
#include "fs/filesystem.h"
#include "fs/fuse_server.h"
#include "fs/mount_options.h"
#include "fs/unique_fd.h"
#include "store/bucket.h"

namespace katamari {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] =
    "usage: katamarifs [-f] [-d] [-o OPTION[,OPTION...]] BUCKET_DIR MOUNTPOINT\n"
    "\n"
    "Mounts the bucket BUCKET_DIR (made by `katamari init`) at MOUNTPOINT.\n"
    "  -f         stay in the foreground (default: return once the mount serves)\n"
    "  -d         FUSE debug output on stderr (implies -f)\n"
    "  -o OPTS    comma-separated options:\n"
    "               compression=zstd|zlib|none, level=N   codec for new writes\n"
    "               keyfile=FILE, passphrase_file=FILE    key of an encrypted bucket\n"
    "               ro, rw, allow_other, auto_unmount, fsname=NAME, subtype=NAME,\n"
    "               nosuid, suid, nodev, dev, noexec, exec, noatime, atime, relatime, ...\n"
    "  --check-options  only check the -o options (as a mount would) and exit: 0 ok, 2 not\n"
    "  -h, --help this text\n"
    "  -V, --version  print the version and exit\n"
    "Unmount with `fusermount3 -u MOUNTPOINT` (or SIGTERM): open files are committed first;\n"
    "a commit still running after 3 s is abandoned (that file keeps its previous version).\n"
    "An encrypted bucket mounted without keyfile= or passphrase_file= asks for its passphrase\n"
    "on the terminal (never under systemd). Once daemonized (no -f), the log goes to syslog.\n";

constexpr int kPassphraseTries = 3;

// Set once daemonized: Log() writes to syslog(3) from then on.
bool g_log_to_syslog = false;
// Said by the parent when the mount serves: the daemon's log would be lost.
std::string g_startup_warning;

void Log(const std::string& line) {
  if (g_log_to_syslog) {
    syslog(LOG_NOTICE, "%s", line.c_str());
    return;
  }
  std::string out = "katamarifs[" + std::to_string(getpid()) + "]: " + line + "\n";
  // One write per line so lines from several threads never interleave.
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

struct Args {
  bool foreground = false;
  bool check_options = false;  // --check-options: parse -o, then exit
  BucketKey typed_key;         // a passphrase typed on the terminal
  fs::MountOptions options;
  std::string bucket_dir;
  std::string mountpoint;
};

// Returns nullopt after printing a usage error.
std::optional<Args> ParseArgs(int argc, char** argv) {
  Args args;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(kExitOk);
    } else if (a == "-V" || a == "--version") {
      std::printf("katamarifs %s\n", KATAMARI_VERSION);
      std::exit(kExitOk);
    } else if (a == "--check-options") {
      args.check_options = true;
    } else if (a == "-f") {
      args.foreground = true;
    } else if (a == "-d") {
      args.foreground = true;
      args.options.debug = true;
    } else if (a == "-o" || (a.rfind("-o", 0) == 0 && a.size() > 2)) {
      std::string list = a.size() > 2 ? a.substr(2) : (i + 1 < argc ? argv[++i] : "");
      if (list.empty()) {
        std::fprintf(stderr, "katamarifs: -o needs a list of options\n%s", kUsage);
        return std::nullopt;
      }
      Status st = fs::ParseMountOptions(list, &args.options);
      if (!st.ok()) {
        std::fprintf(stderr, "katamarifs: %s\n", st.message().c_str());
        return std::nullopt;
      }
    } else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "katamarifs: unknown flag '%s'\n%s", a.c_str(), kUsage);
      return std::nullopt;
    } else {
      positional.push_back(a);
    }
  }
  if (args.check_options) {
    if (!positional.empty()) {
      std::fprintf(stderr, "katamarifs: --check-options takes only -o OPTIONS, not '%s'\n",
                   positional[0].c_str());
      return std::nullopt;
    }
    return args;
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "katamarifs: expected BUCKET_DIR and MOUNTPOINT\n%s", kUsage);
    return std::nullopt;
  }
  args.bucket_dir = positional[0];
  args.mountpoint = positional[1];
  if (args.options.debug) args.foreground = true;
  return args;
}

// Tells systemd (Type=notify) about state changes; a no-op elsewhere.
void SdNotify(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  fs::UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return;
  ::sendto(sock.get(), state, std::strlen(state), MSG_NOSIGNAL,
           reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

// The exclusive lock that keeps a second daemon off the bucket. Holds the
// owner's pid so the refusal can name it.
Result<fs::UniqueFd> LockBucket(const std::string& dir) {
  std::string path = dir + "/daemon.lock";
  fs::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "open lock file " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return Status::FromErrno(errno, "lock " + path);
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
    long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return Status::Busy("bucket " + dir + " is already mounted by pid " +
                        (pid > 0 ? std::to_string(pid) : std::string("?")) +
                        " (unmount it first: fusermount3 -u MOUNTPOINT)");
  }
  std::string pid = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return Status::FromErrno(errno, "write pid to " + path);
  }
  return fd;
}

std::string Absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

// Reports the outcome of start-up to the waiting parent (daemon mode) once.
class StartupPipe {
 public:
  explicit StartupPipe(int fd) : fd_(fd) {}
  void Report(const std::string& message) {  // "" = mounted
    if (!fd_.valid()) return;
    std::string msg = message;
    if (msg.empty()) msg = g_startup_warning.empty() ? "OK" : "OK\n" + g_startup_warning;
    ssize_t ignored = ::write(fd_.get(), msg.data(), msg.size());
    (void)ignored;
    fd_.Reset();
  }
  bool active() const { return fd_.valid(); }

 private:
  fs::UniqueFd fd_;
};

constexpr int kSyncIntervalMs = 3000;

// Opens the bucket with the mount's options and key.
Result<std::unique_ptr<Bucket>> OpenBucket(const Args& args) {
  Bucket::OpenOptions open;
  open.read_only = args.options.read_only;
  open.compression = args.options.compression;
  open.level = args.options.level;
  // Batched durability: a sync point at least this often (docs/semantics.md,
  // Durability); fsync(2) makes one at once.
  open.sync_interval_ms = kSyncIntervalMs;
  const bool keyed = !args.options.keyfile.empty() || !args.options.passphrase_file.empty() ||
                     !args.typed_key.empty();
  if (!args.options.keyfile.empty()) open.key = BucketKey::KeyFile(args.options.keyfile);
  if (!args.options.passphrase_file.empty()) {
    open.key = BucketKey::PassphraseFile(args.options.passphrase_file);
  }
  if (!args.typed_key.empty()) open.key = args.typed_key;
  auto bucket = Bucket::Open(args.bucket_dir, open);
  if (!bucket.ok() && bucket.status().code() == Status::Code::kWrongKey && !keyed) {
    // The store's words name the CLI's flags; the mount takes options.
    return Status::WrongKey("bucket " + args.bucket_dir +
                            " is encrypted: mount it with -o keyfile=FILE or "
                            "-o passphrase_file=FILE (a passphrase is asked on the terminal "
                            "only when katamarifs runs on one, never under systemd)");
  }
  return bucket;
}

// Bounds the stop (docs/semantics.md, When a version is made): from the
// moment the mount begins to stop, requests still busy and the commit of
// open files get kStopDeadline; past it, the bucket's work is cancelled, so
// each commit still running is abandoned (the previous version stays
// current; its chunks are garbage for gc) and logged by name.
class StopDeadline {
 public:
  static constexpr std::chrono::seconds kStopDeadline{3};
  explicit StopDeadline(Bucket& bucket) : bucket_(bucket) {}
  ~StopDeadline() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Starts the clock (once; later calls do nothing).
  void Arm() {
    std::lock_guard<std::mutex> l(mu_);
    if (thread_.joinable() || done_) return;
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      if (cv_.wait_for(l, kStopDeadline, [this] { return done_; })) return;
      Log("stop deadline of " + std::to_string(kStopDeadline.count()) +
          " s reached: abandoning the commits still running");
      bucket_.CancelWork();
    });
  }

 private:
  Bucket& bucket_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  std::thread thread_;
};

Status Serve(const Args& args, Bucket& bucket, StartupPipe& startup) {
  fs::FuseServer* server_ptr = nullptr;
  fs::FilesystemOptions fs_options;
  fs_options.log = Log;
  fs_options.invalidate = [&server_ptr](uint64_t node) {
    if (server_ptr) server_ptr->Invalidate(node);
  };
  fs::Filesystem filesystem(bucket, fs_options);
  if (!args.options.read_only) RETURN_IF_ERROR(filesystem.Init());

  fs::FuseServer::Config config;
  config.mountpoint = args.mountpoint;
  config.fuse_options = fs::FuseOptionString(args.options);
  config.debug = args.options.debug;
  config.on_ready = [&] {
    Log("mounted " + args.bucket_dir + " at " + args.mountpoint);
    startup.Report("");
    SdNotify("READY=1");
  };
  StopDeadline deadline(bucket);
  config.on_stop = [&deadline] { deadline.Arm(); };
  fs::FuseServer server(filesystem, config);
  server_ptr = &server;
  RETURN_IF_ERROR(server.Mount());
  // Pending SHA-256s (an edit of a big file, holes) are completed in the
  // background at idle priority (docs/semantics.md, Files, versions and
  // history); a read-only mount leaves them to the first request.
  if (!args.options.read_only) {
    ShaCompletionOptions sha;
    sha.log = Log;
    Status started = bucket.StartShaCompletion(std::move(sha));
    if (!started.ok()) Log("background SHA-256 completion not started: " + started.ToString());
  }
  Status loop = server.Run();
  SdNotify("STOPPING=1");
  deadline.Arm();  // also when the loop ended without the watcher seeing it
  // Before the commits of open files: the version being hashed stays pending.
  bucket.StopShaCompletion();
  Log("stopping: committing open files and unmounting " + args.mountpoint);
  server.Unmount();
  Status committed = filesystem.CommitAll();
  if (!committed.ok()) Log("commit at stop failed: " + committed.ToString());
  if (!args.options.read_only) {
    Status synced = bucket.Sync();
    if (!synced.ok()) Log("final sync failed: " + synced.ToString());
  }
  server_ptr = nullptr;
  if (!loop.ok()) return loop;
  if (!committed.ok()) return committed;
  Log("stopped");
  return Status::OK();
}

// The mountpoint must be a directory we can mount on. Said before the bucket
// is opened, in words that name the fix: FUSE itself would mount on a
// regular file (then every access is EIO), and a mount whose daemon died
// (kill -9) answers ENOTCONN, which libfuse reports as a failed mount.
Status CheckMountpoint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOTCONN) {
      return Status::IOError("mountpoint " + path +
                             " is a stale mount: the daemon that served it is gone (killed or "
                             "crashed). Clear it with `fusermount3 -u " + path +
                             "` (or `umount -l " + path + "` as root), then mount again");
    }
    if (err == ENOENT) {
      return Status::NotFound("mountpoint " + path + " does not exist; create it with `mkdir -p " +
                              path + "`");
    }
    return Status::IOError("cannot use mountpoint " + path + ": " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument("mountpoint " + path +
                                   " is not a directory; a bucket mounts on an (empty) directory");
  }
  return Status::OK();
}

Status OpenAndServe(const Args& args, StartupPipe& startup) {
  RETURN_IF_ERROR(CheckMountpoint(args.mountpoint));
  // A missing bucket is best explained by Bucket::Open; lock only real ones
  // (before opening, so a second daemon never touches a mounted bucket).
  struct stat st {};
  fs::UniqueFd lock;
  if (::stat(args.bucket_dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    ASSIGN_OR_RETURN(lock, LockBucket(args.bucket_dir));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(args));
  if (!lock.valid()) {
    ASSIGN_OR_RETURN(lock, LockBucket(args.bucket_dir));
  }
  if (!args.options.read_only) {
    // After a power cut: versions whose data did not reach the disk are
    // rolled back before anyone reads them (docs/semantics.md, Durability).
    ASSIGN_OR_RETURN(std::vector<std::string> rolled_back, bucket->RecoverUnsynced());
    for (const std::string& line : rolled_back) Log("recovery: " + line);
  }
  return Serve(args, *bucket, startup);
}

// Under systemd (a unit, or a mount unit's helper) nothing may wait for a
// terminal: systemd sets these for the processes it starts.
bool UnderSystemd() {
  for (const char* var : {"INVOCATION_ID", "NOTIFY_SOCKET", "JOURNAL_STREAM"}) {
    const char* v = std::getenv(var);
    if (v && *v) return true;
  }
  return false;
}

// An encrypted bucket mounted without a key option, from a terminal: asks for
// the passphrase there (no echo, cli_terminal.h), up to three tries, before
// the daemon forks away from the terminal. Checked with a read-only open, so
// a typo is said at once. Anything else is left to the real open.
Status AskPassphraseIfNeeded(Args* args) {
  if (!args->options.keyfile.empty() || !args->options.passphrase_file.empty()) {
    return Status::OK();
  }
  if (UnderSystemd() || !cli::StdinIsTerminal()) return Status::OK();
  Bucket::OpenOptions probe;
  probe.read_only = true;
  auto plain = Bucket::Open(args->bucket_dir, probe);
  if (plain.ok() || plain.status().code() != Status::Code::kWrongKey) return Status::OK();
  for (int attempt = 0; attempt < kPassphraseTries; ++attempt) {
    if (attempt > 0) cli::TellTerminal("wrong passphrase, try again");
    auto typed = cli::AskPassphrase("Passphrase for " + args->bucket_dir + ": ");
    if (!typed.ok()) return Status::WrongKey(typed.status().message());
    probe.key = BucketKey::Passphrase(std::move(typed).value());
    auto opened = Bucket::Open(args->bucket_dir, probe);
    if (opened.ok()) {
      args->typed_key = probe.key;
      return Status::OK();
    }
    if (opened.status().message().rfind("wrong key or passphrase", 0) != 0) {
      return opened.status();
    }
  }
  return Status::WrongKey("wrong passphrase for " + args->bucket_dir + " (" +
                          std::to_string(kPassphraseTries) + " tries)");
}

// True if a syslog daemon (or journald) listens on /dev/log.
bool SyslogListens() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, _PATH_LOG, sizeof(addr.sun_path) - 1);
  for (int type : {SOCK_DGRAM, SOCK_STREAM}) {
    fs::UniqueFd sock(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (sock.valid() &&
        ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      return true;
    }
  }
  return false;
}

// Forks; the parent waits for the child's report. Returns only in the child
// (with the write end of the pipe).
int Daemonize() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("katamarifs: pipe");
    std::exit(kExitFailure);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("katamarifs: fork");
    std::exit(kExitFailure);
  }
  if (pid > 0) {
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) msg.append(buf, static_cast<size_t>(n));
    }
    if (msg.rfind("OK", 0) == 0) {
      if (msg.size() > 3) std::fprintf(stderr, "katamarifs: warning: %s\n", msg.c_str() + 3);
      std::exit(kExitOk);
    }
    std::fprintf(stderr, "katamarifs: %s\n",
                 msg.empty() ? "the mount process died during start-up" : msg.c_str());
    std::exit(kExitFailure);
  }
  ::close(fds[0]);
  ::setsid();
  if (::chdir("/") != 0) {
    // Harmless: paths were made absolute before forking.
  }
  // From here on the log goes to syslog: the terminal, file or pipe that
  // started us must not get lines long after its prompt returned (nor wait
  // for a pipe's end). Errors before the mount serves still reach it,
  // through the start-up pipe. Without a syslog socket the lines would be
  // dropped unseen, so the parent says so (and -f keeps them on stderr).
  openlog("katamarifs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  g_log_to_syslog = true;
  if (!SyslogListens()) {
    g_startup_warning = std::string("nothing listens on ") + _PATH_LOG +
                        " (no syslog or journal): the daemon's log lines, errors included, are "
                        "lost; mount with -f to keep them on stderr";
  }
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::close(null_fd);
  }
  return fds[1];
}

int Main(int argc, char** argv) {
  std::optional<Args> args = ParseArgs(argc, argv);
  if (!args) return kExitUsage;
  if (args->check_options) {
    std::printf("katamarifs: options ok\n");
    return kExitOk;
  }
  args->bucket_dir = Absolute(args->bucket_dir);
  args->mountpoint = Absolute(args->mountpoint);
  // The daemon changes to /: key files named relative to here must still work.
  if (!args->options.keyfile.empty()) args->options.keyfile = Absolute(args->options.keyfile);
  if (!args->options.passphrase_file.empty()) {
    args->options.passphrase_file = Absolute(args->options.passphrase_file);
  }
  if (args->options.fsname.empty()) args->options.fsname = args->bucket_dir;
  if (Status asked = AskPassphraseIfNeeded(&*args); !asked.ok()) {
    std::fprintf(stderr, "katamarifs: %s\n", asked.message().c_str());
    return kExitFailure;
  }

  StartupPipe startup(args->foreground ? -1 : Daemonize());
  Status st = OpenAndServe(*args, startup);
  if (!st.ok()) {
    if (startup.active()) {
      startup.Report(st.message());
    } else {
      Log(st.message());
    }
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace
}  // namespace katamari

int main(int argc, char** argv) { return katamari::Main(argc, argv); }

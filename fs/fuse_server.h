// FuseServer: serves a Filesystem through the FUSE low-level API.
//
// The handlers (fuse_ops.cc) are thin: they call the Filesystem, then reply
// or map the Status to an errno (fs/errno_map.h). They never hold a lock
// while replying. The session runs multi-threaded.
//
// Life cycle: Mount() -> Run() (returns on unmount or SIGINT/SIGTERM/SIGHUP)
// -> Unmount(). `on_ready` is called once the kernel's INIT was answered,
// i.e. when the mount serves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fs/filesystem.h"

struct fuse_session;

namespace katamari::fs {

class FuseServer {
 public:
  static constexpr std::chrono::milliseconds kStopPoll{100};
  // Largest WRITE (and read-ahead) request asked of the kernel.
  static constexpr unsigned kMaxWrite = 1u << 20;
  struct Config {
    std::string mountpoint;
    std::string fuse_options;  // -o list for libfuse (see FuseOptionString)
    bool debug = false;        // libfuse request tracing on stderr
    double entry_timeout = 1.0;
    double attr_timeout = 1.0;
    unsigned max_threads = 16;
    std::function<void()> on_ready;
    // Called once, from a helper thread, as soon as the session begins to
    // stop (SIGTERM/SIGINT/SIGHUP, or an unmount such as fusermount3 -u),
    // while requests may still be busy: the daemon's cue to bound them.
    std::function<void()> on_stop;
  };

  FuseServer(Filesystem& fs, Config config);
  ~FuseServer();  // unmounts if still mounted
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // Creates the session, installs signal handlers and mounts.
  Status Mount();
  // Serves until unmounted or signalled. Returns the loop's error, if any.
  Status Run();
  // Detaches the mount (lazily if busy). Safe to call twice.
  void Unmount();

  // Asks the kernel to drop its cached data of `node`. Asynchronous: the
  // notification is sent from a helper thread, never from a handler (a
  // handler's caller may hold kernel locks the invalidation needs).
  void Invalidate(uint64_t node);

  Filesystem& fs() { return fs_; }
  const Config& config() const { return config_; }
  void Ready();  // init handler

 private:
  void NotifierLoop();

  Filesystem& fs_;
  Config config_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  bool signals_set_ = false;

  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::deque<uint64_t> pending_;  // guarded by notify_mu_
  bool stopping_ = false;         // guarded by notify_mu_
  std::thread notifier_;
};

}  // namespace katamari::fs

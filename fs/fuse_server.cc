#include "fs/fuse_server.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "fs/fuse_glue.h"

namespace katamari::fs {

FuseServer::FuseServer(Filesystem& fs, Config config)
    : fs_(fs), config_(std::move(config)) {
  notifier_ = std::thread([this] { NotifierLoop(); });
}

FuseServer::~FuseServer() {
  Unmount();
  {
    std::lock_guard lock(notify_mu_);
    stopping_ = true;
  }
  notify_cv_.notify_all();
  notifier_.join();
  if (session_) {
    if (signals_set_) fuse_remove_signal_handlers(session_);
    fuse_session_destroy(session_);
  }
}

Status FuseServer::Mount() {
  std::vector<std::string> args = {"katamarifs", "-o", config_.fuse_options};
  if (config_.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&fargs, &LowLevelOps(), sizeof(fuse_lowlevel_ops), this);
  fuse_opt_free_args(&fargs);
  if (!session_) {
    return Status::InvalidArgument("cannot start a FUSE session with options '" +
                                   config_.fuse_options + "' (libfuse said why above)");
  }
  if (fuse_set_signal_handlers(session_) != 0) {
    return Status::IOError("cannot install signal handlers");
  }
  signals_set_ = true;
  if (fuse_session_mount(session_, config_.mountpoint.c_str()) != 0) {
    return Status::IOError("cannot mount at " + config_.mountpoint +
                           " (is it an existing directory? is /dev/fuse usable?)");
  }
  mounted_ = true;
  return Status::OK();
}

Status FuseServer::Run() {
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, config_.max_threads);
  // libfuse's loop, once told to exit, waits for every busy request before
  // it returns; the watcher reports the exit at once (within kStopPoll), so
  // the daemon can bound those requests (docs/semantics.md, When a version
  // is made).
  std::mutex mu;
  std::condition_variable cv;
  bool loop_done = false;
  std::thread watcher([&] {
    std::unique_lock lock(mu);
    while (!loop_done) {
      if (fuse_session_exited(session_)) {
        lock.unlock();
        if (config_.on_stop) config_.on_stop();
        return;
      }
      cv.wait_for(lock, kStopPoll);
    }
  });
  int rc = fuse_session_loop_mt(session_, cfg);
  {
    std::lock_guard lock(mu);
    loop_done = true;
  }
  cv.notify_all();
  watcher.join();
  fuse_loop_cfg_destroy(cfg);
  // A signal ends the loop with rc = the signal number; that is a clean stop.
  if (rc < 0) return Status::IOError(std::string("FUSE session loop: ") + strerror(-rc));
  return Status::OK();
}

void FuseServer::Unmount() {
  if (session_ && mounted_) {
    fuse_session_unmount(session_);
    mounted_ = false;
  }
}

void FuseServer::Ready() {
  if (config_.on_ready) config_.on_ready();
}

void FuseServer::Invalidate(uint64_t node) {
  {
    std::lock_guard lock(notify_mu_);
    pending_.push_back(node);
  }
  notify_cv_.notify_one();
}

void FuseServer::NotifierLoop() {
  std::unique_lock lock(notify_mu_);
  while (true) {
    notify_cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (stopping_) return;
    uint64_t node = pending_.front();
    pending_.pop_front();
    lock.unlock();
    // ENOENT: the kernel no longer caches that inode; nothing to drop.
    if (session_) fuse_lowlevel_notify_inval_inode(session_, node, 0, 0);
    lock.lock();
  }
}

}  // namespace katamari::fs

#include "fs/stream_commit.h"

#include <algorithm>
#include <cstring>

namespace katamari::fs {

class StreamCommit::QueueSource : public ByteSource {
 public:
  explicit QueueSource(StreamCommit* s) : s_(s) {}
  Result<size_t> Read(char* buf, size_t n) override { return s_->Pull(buf, n); }

 private:
  StreamCommit* s_;
};

StreamCommit::StreamCommit(Bucket& bucket, InodeId target, std::optional<VersionNo> replaces,
                           std::optional<VersionNo> caller_pin)
    : bucket_(bucket), target_(target), replaces_(replaces), caller_pin_(caller_pin) {
  thread_ = std::thread([this] { Run(); });
}

StreamCommit::~StreamCommit() {
  if (thread_.joinable()) Abort();
}

void StreamCommit::Run() {
  QueueSource src(this);
  // mtime nullopt: the store takes "now" once the stream has ended, i.e. the
  // time of the close that finished the file.
  // ctime 0: the inode keeps its ctime; the session sets the one of its
  // last change when the stream is finished (WriteSession::Commit).
  Bucket::CommitOptions options;
  options.replaces = replaces_;
  options.ctime_ns = int64_t{0};
  options.caller_pin = caller_pin_;
  auto r = bucket_.CommitContent(target_, src, options);
  std::lock_guard lock(mu_);
  result_ = std::move(r);
  done_ = true;
  cv_.notify_all();
}

Result<size_t> StreamCommit::Pull(char* buf, size_t n) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return queued_ > 0 || eof_ || aborted_; });
  if (aborted_) return Status::IOError("streamed commit abandoned (the file was rewritten)");
  size_t done = 0;
  while (done < n && !queue_.empty()) {
    const std::string& front = queue_.front();
    size_t piece = std::min(n - done, front.size() - front_pos_);
    std::memcpy(buf + done, front.data() + front_pos_, piece);
    done += piece;
    front_pos_ += piece;
    if (front_pos_ == front.size()) {
      queue_.pop_front();
      front_pos_ = 0;
    }
  }
  queued_ -= done;
  cv_.notify_all();
  return done;  // 0 only at end of stream
}

bool StreamCommit::Append(std::string_view data) {
  if (data.empty()) return true;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_ || queued_ == 0 || queued_ + data.size() <= kQueueBytes; });
  if (done_) return false;  // the commit failed early
  queue_.emplace_back(data);
  queued_ += data.size();
  bytes_ += data.size();
  cv_.notify_all();
  return true;
}

Result<VersionInfo> StreamCommit::Finish() {
  {
    std::lock_guard lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }
  thread_.join();
  std::lock_guard lock(mu_);
  return std::move(*result_);
}

void StreamCommit::Abort() {
  {
    std::lock_guard lock(mu_);
    aborted_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace katamari::fs

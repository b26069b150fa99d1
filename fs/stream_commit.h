// StreamCommit: commits a file while it is still being written.
//
// A file written from offset 0 strictly sequentially (cp, tar, rsync, dd)
// does not have to be staged and read back at close: its bytes are fed, as
// they arrive, to Bucket::CommitContent running on a helper thread, which
// chunks, hashes, compresses and stores them in parallel with the writer.
// Finish() ends the stream and returns the committed version; nothing is
// visible in the catalog before that (the version is added at end of stream).
// Abort() makes the stream fail, so no version is committed; chunks already
// stored are left for gc (harmless orphans).
//
// Memory: at most kQueueBytes of data wait in the queue; Append blocks while
// it is full (backpressure on the writer).
//
// Thread-safety: Append/Finish/Abort are called by one thread at a time (the
// owning WriteSession serializes them); the helper thread only reads.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "store/bucket.h"

namespace katamari::fs {

class StreamCommit {
 public:
  static constexpr size_t kQueueBytes = 8 << 20;

  // `replaces`: the version the commit amends if it is still the newest;
  // `caller_pin`: the version of `target` the writing session holds pinned
  // (both as for Bucket::CommitContent).
  StreamCommit(Bucket& bucket, InodeId target, std::optional<VersionNo> replaces = std::nullopt,
               std::optional<VersionNo> caller_pin = std::nullopt);
  ~StreamCommit();  // aborts if neither finished nor aborted
  StreamCommit(const StreamCommit&) = delete;
  StreamCommit& operator=(const StreamCommit&) = delete;

  InodeId target() const { return target_; }
  uint64_t bytes() const { return bytes_; }  // appended so far

  // Queues data for the commit. False if the commit already failed (the
  // caller falls back to committing from its staging file).
  bool Append(std::string_view data);
  // Ends the stream and waits for the commit.
  Result<VersionInfo> Finish();
  // Fails the stream and waits for the helper thread.
  void Abort();

 private:
  class QueueSource;
  void Run();
  Result<size_t> Pull(char* buf, size_t n);  // called by the helper thread

  Bucket& bucket_;
  const InodeId target_;
  const std::optional<VersionNo> replaces_;
  const std::optional<VersionNo> caller_pin_;
  uint64_t bytes_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;  // guarded by mu_
  size_t queued_ = 0;              // bytes in queue_; guarded by mu_
  size_t front_pos_ = 0;           // consumed bytes of queue_.front(); guarded by mu_
  bool eof_ = false;               // guarded by mu_
  bool aborted_ = false;           // guarded by mu_
  bool done_ = false;              // helper finished; guarded by mu_
  std::optional<Result<VersionInfo>> result_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace katamari::fs

// ReadAhead: reads one committed version, fetching ahead of a sequential
// reader in parallel.
//
// A VersionReader fetches one chunk at a time (open, read, verify, decode),
// and the kernel asks for 128 KiB at a time, so a cold sequential read waits
// for every chunk in turn. Once reads are seen to be sequential, ReadAhead
// has the next kWindow blocks of kBlockSize fetched by a shared pool of
// workers, each with its own VersionReader, and serves reads from them.
// Random reads are served directly. Errors are never cached: a block whose
// fetch failed is read again in the foreground, which reports the error.
//
// Memory: kWindow blocks per sequential reader, and at most the pool's
// budget over all readers (beyond it, reads are served without read-ahead).
//
// Thread-safety: Read may be called from several threads at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/bucket.h"

namespace katamari::fs {

// Worker threads and the memory budget shared by every ReadAhead of one
// filesystem. Must outlive them.
class ReadAheadPool {
 public:
  explicit ReadAheadPool(unsigned threads = 4, size_t budget_bytes = size_t{64} << 20);
  ~ReadAheadPool();  // drops queued tasks, joins the workers
  ReadAheadPool(const ReadAheadPool&) = delete;
  ReadAheadPool& operator=(const ReadAheadPool&) = delete;

  // The size of every block buffer.
  static constexpr size_t kBufferSize = size_t{1} << 20;
  // Idle buffers kept for reuse (at most this many; the rest are freed).
  static constexpr size_t kKeptBuffers = 8;

  void Submit(std::function<void()> task);
  bool Reserve(size_t bytes);  // false if over budget
  void Release(size_t bytes);

  // A buffer of kBufferSize bytes, uninitialized: a kept one if there is
  // one. A fresh 1 MiB allocation is an mmap whose pages the kernel zeroes
  // on first touch, and a std::string would zero it again; a cold read
  // paid both for every block (about 6% of the daemon's CPU).
  std::unique_ptr<char[]> TakeBuffer();
  void GiveBuffer(std::unique_ptr<char[]> buf);
  size_t kept_buffers();  // for tests

 private:
  void Work();

  const size_t budget_;
  std::atomic<size_t> used_{0};
  std::mutex buf_mu_;
  std::vector<std::unique_ptr<char[]>> kept_;  // guarded by buf_mu_
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

class ReadAhead : public std::enable_shared_from_this<ReadAhead> {
 public:
  static constexpr uint64_t kBlockSize = ReadAheadPool::kBufferSize;
  static constexpr uint64_t kWindow = 4;
  using Opener = std::function<Result<std::unique_ptr<VersionReader>>()>;

  // `first` reads the version now (kept, so the version stays readable even
  // if more readers cannot be opened later); `open` makes more. `pool` may be
  // null (no read-ahead).
  static std::shared_ptr<ReadAhead> Create(std::unique_ptr<VersionReader> first, Opener open,
                                           ReadAheadPool* pool);
  ~ReadAhead();

  uint64_t size() const { return size_; }
  // Up to n bytes at off; short only at the end.
  Result<size_t> Read(uint64_t off, size_t n, char* buf);
  // The data or hole run at `off` (VersionReader::ExtentAt).
  Result<Extent> ExtentAt(uint64_t off);

 private:
  struct Block {
    explicit Block(ReadAheadPool* p) : pool(p) {}
    ~Block() {
      if (data) pool->GiveBuffer(std::move(data));
    }
    ReadAheadPool* const pool;
    bool ready = false;
    Status status;
    std::unique_ptr<char[]> data;  // from pool; the block's bytes (size per index)
  };
  ReadAhead(std::unique_ptr<VersionReader> first, Opener open, ReadAheadPool* pool);
  void ScheduleLocked(uint64_t from, uint64_t to);
  void EvictLocked(uint64_t keep_from, uint64_t keep_to);
  void Fetch(uint64_t index, const std::shared_ptr<Block>& block);
  Result<std::unique_ptr<VersionReader>> TakeReader();
  void GiveReader(std::unique_ptr<VersionReader> reader);
  Status ReadDirect(uint64_t off, size_t n, char* buf);

  const uint64_t size_;
  Opener open_;
  ReadAheadPool* pool_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<VersionReader>> idle_;    // guarded by mu_
  size_t readers_ = 0;                                  // opened; guarded by mu_
  std::map<uint64_t, std::shared_ptr<Block>> blocks_;   // by index; guarded by mu_
  uint64_t next_off_ = 0;                               // guarded by mu_
};

}  // namespace katamari::fs

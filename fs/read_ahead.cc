#include "fs/read_ahead.h"

#include <algorithm>
#include <cstring>

namespace katamari::fs {

// ---------------------------------------------------------------- the pool

ReadAheadPool::ReadAheadPool(unsigned threads, size_t budget_bytes) : budget_(budget_bytes) {
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ReadAheadPool::~ReadAheadPool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(tasks_);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  // `dropped` dies here, after the workers: its tasks may own ReadAheads.
}

void ReadAheadPool::Submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void ReadAheadPool::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
    if (stopping_) return;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    task = nullptr;  // drop what it owns outside the lock
    lock.lock();
  }
}

bool ReadAheadPool::Reserve(size_t bytes) {
  size_t used = used_.load();
  do {
    if (used + bytes > budget_) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes));
  return true;
}

void ReadAheadPool::Release(size_t bytes) { used_ -= bytes; }

std::unique_ptr<char[]> ReadAheadPool::TakeBuffer() {
  {
    std::lock_guard lock(buf_mu_);
    if (!kept_.empty()) {
      auto buf = std::move(kept_.back());
      kept_.pop_back();
      return buf;
    }
  }
  return std::unique_ptr<char[]>(new char[kBufferSize]);  // not zeroed
}

void ReadAheadPool::GiveBuffer(std::unique_ptr<char[]> buf) {
  std::lock_guard lock(buf_mu_);
  if (kept_.size() < kKeptBuffers) kept_.push_back(std::move(buf));
}

size_t ReadAheadPool::kept_buffers() {
  std::lock_guard lock(buf_mu_);
  return kept_.size();
}

// ------------------------------------------------------------- ReadAhead

namespace {
constexpr uint64_t kBlock = ReadAhead::kBlockSize;
constexpr size_t kMaxReaders = ReadAhead::kWindow + 1;
}  // namespace

std::shared_ptr<ReadAhead> ReadAhead::Create(std::unique_ptr<VersionReader> first, Opener open,
                                             ReadAheadPool* pool) {
  return std::shared_ptr<ReadAhead>(new ReadAhead(std::move(first), std::move(open), pool));
}

ReadAhead::ReadAhead(std::unique_ptr<VersionReader> first, Opener open, ReadAheadPool* pool)
    : size_(first->info().size), open_(std::move(open)), pool_(pool) {
  idle_.push_back(std::move(first));
  readers_ = 1;
}

ReadAhead::~ReadAhead() {
  if (pool_) pool_->Release(blocks_.size() * kBlock);
}

Result<std::unique_ptr<VersionReader>> ReadAhead::TakeReader() {
  std::unique_lock lock(mu_);
  while (true) {
    if (!idle_.empty()) {
      auto reader = std::move(idle_.back());
      idle_.pop_back();
      return reader;
    }
    if (readers_ < kMaxReaders && open_) {
      ++readers_;
      Opener open = open_;
      lock.unlock();
      auto reader = open();
      lock.lock();
      if (reader.ok()) return reader;
      --readers_;
      open_ = nullptr;  // cannot open more (deleted meanwhile): share the ones we have
      continue;
    }
    cv_.wait(lock);
  }
}

void ReadAhead::GiveReader(std::unique_ptr<VersionReader> reader) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(reader));
  cv_.notify_all();
}

Result<Extent> ReadAhead::ExtentAt(uint64_t off) {
  ASSIGN_OR_RETURN(auto reader, TakeReader());
  Extent e = reader->ExtentAt(off);
  GiveReader(std::move(reader));
  return e;
}

Status ReadAhead::ReadDirect(uint64_t off, size_t n, char* buf) {
  ASSIGN_OR_RETURN(auto reader, TakeReader());
  Status st;
  size_t done = 0;
  while (done < n && st.ok()) {
    size_t got = 0;
    st = reader->ReadAt(off + done, n - done, buf + done, &got);
    if (got == 0) break;
    done += got;
  }
  GiveReader(std::move(reader));
  return st;
}

void ReadAhead::Fetch(uint64_t index, const std::shared_ptr<Block>& block) {
  uint64_t off = index * kBlock;
  std::unique_ptr<char[]> data = pool_->TakeBuffer();
  Status st = ReadDirect(off, static_cast<size_t>(std::min(kBlock, size_ - off)), data.get());
  std::lock_guard lock(mu_);
  block->status = st;
  block->data = std::move(data);
  block->ready = true;
  cv_.notify_all();
}

void ReadAhead::ScheduleLocked(uint64_t from, uint64_t to) {
  uint64_t last_block = (size_ - 1) / kBlock;
  to = std::min(to, last_block);
  for (uint64_t i = from; i <= to; ++i) {
    if (blocks_.count(i)) continue;
    if (!pool_->Reserve(kBlock)) return;
    auto block = std::make_shared<Block>(pool_);
    blocks_.emplace(i, block);
    pool_->Submit([self = shared_from_this(), i, block] { self->Fetch(i, block); });
  }
}

void ReadAhead::EvictLocked(uint64_t keep_from, uint64_t keep_to) {
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    if (it->first >= keep_from && it->first <= keep_to) {
      ++it;
      continue;
    }
    it = blocks_.erase(it);
    pool_->Release(kBlock);
  }
}

Result<size_t> ReadAhead::Read(uint64_t off, size_t n, char* buf) {
  if (off >= size_ || n == 0) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - off));
  const uint64_t first = off / kBlock, last = (off + n - 1) / kBlock;
  std::vector<std::shared_ptr<Block>> blocks;
  {
    std::lock_guard lock(mu_);
    // The kernel may have several reads of one stream in flight, arriving
    // slightly out of order: "near where the last read ended" is sequential.
    bool sequential = off + n >= next_off_ && off <= next_off_ + kBlock;
    next_off_ = sequential ? std::max(next_off_, off + n) : off + n;
    if (pool_ && size_ > kBlock) {
      EvictLocked(first, last + kWindow);
      if (sequential) ScheduleLocked(first, last + kWindow);
    }
    for (uint64_t i = first; i <= last; ++i) {
      auto it = blocks_.find(i);
      blocks.push_back(it == blocks_.end() ? nullptr : it->second);
    }
  }
  for (uint64_t i = first; i <= last; ++i) {
    uint64_t from = std::max(off, i * kBlock), to = std::min(off + n, (i + 1) * kBlock);
    char* dst = buf + (from - off);
    const auto& block = blocks[i - first];
    if (block) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return block->ready; });
      if (block->status.ok()) {
        std::memcpy(dst, block->data.get() + (from - i * kBlock), to - from);
        continue;
      }
    }
    // Not fetched ahead, or the fetch failed: read here (and report here).
    RETURN_IF_ERROR(ReadDirect(from, static_cast<size_t>(to - from), dst));
  }
  return n;
}

}  // namespace katamari::fs

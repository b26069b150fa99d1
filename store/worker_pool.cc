#include "store/worker_pool.h"

#include <algorithm>

namespace katamari {

WorkerPool::WorkerPool(size_t threads, size_t max_queued)
    : max_queued_(std::max<size_t>(max_queued, 1)) {
  threads = std::max<size_t>(threads, 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Shutdown(); }

size_t WorkerPool::DefaultThreads() {
  return std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
}

void WorkerPool::Shutdown() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard<std::mutex> l(mu_);
  threads_.clear();
}

void WorkerPool::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    work_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything queued has run
    Item item = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    item.fn();
    item.fn = nullptr;  // what it captured goes before the group is told
    l.lock();
    Finish(item.group);
  }
}

void WorkerPool::Finish(Group* g) {
  --g->unfinished_;
  g->done_.notify_all();
}

void WorkerPool::Group::Schedule(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(pool_.mu_);
    if (!pool_.stopping_ && pool_.queue_.size() < pool_.max_queued_) {
      ++unfinished_;
      pool_.queue_.push_back(Item{std::move(fn), this});
      pool_.work_.notify_one();
      return;
    }
  }
  fn();  // full or shut down: the caller does the work
}

void WorkerPool::Group::Wait() { WaitBelow(1); }

void WorkerPool::Group::WaitBelow(size_t n) {
  n = std::max<size_t>(n, 1);
  std::unique_lock<std::mutex> l(pool_.mu_);
  while (unfinished_ >= n) {
    auto it = std::find_if(pool_.queue_.begin(), pool_.queue_.end(),
                           [&](const Item& i) { return i.group == this; });
    if (it == pool_.queue_.end()) {
      // All started: they finish without waiting for anything of the pool.
      done_.wait(l);
      continue;
    }
    std::function<void()> fn = std::move(it->fn);
    pool_.queue_.erase(it);
    l.unlock();
    fn();
    fn = nullptr;
    l.lock();
    pool_.Finish(this);
  }
}

}  // namespace katamari

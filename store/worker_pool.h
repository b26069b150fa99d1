// WorkerPool: a fixed set of threads with a bounded queue, owned by a Bucket
// and shared by everything in it that works in parallel (IngestStream's
// chunk stores, StreamChunks' decoders), so that the number of threads does
// not grow with the number of calls.
//
// Tasks are grouped: a caller schedules its tasks in a Group and waits for
// that group only. No task may wait for another task of the pool. A caller
// that waits (Group::Wait, or for the results of its tasks) must be able to
// finish the work itself, so that a saturated pool (every thread busy with
// other callers' tasks, or the caller itself a pool task) never deadlocks:
// Group::Wait runs the group's tasks that no thread has started yet on the
// calling thread, and Schedule runs a task inline when the queue is full or
// the pool is shut down.
//
// Thread-safety: every method may be called from any thread, also from
// inside a task.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace katamari {

class WorkerPool {
 public:
  // `threads` >= 1 workers, at most `max_queued` tasks waiting for one.
  explicit WorkerPool(size_t threads, size_t max_queued = 64);
  ~WorkerPool();  // Shutdown()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // hardware_concurrency clamped to 1..4.
  static size_t DefaultThreads();

  // Tasks whose completion one caller waits for. Must not outlive its pool.
  class Group {
   public:
    explicit Group(WorkerPool& pool) : pool_(pool) {}
    ~Group() { Wait(); }
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;
    // Queues `fn`; runs it on this thread at once if the queue is full or
    // the pool is shut down.
    void Schedule(std::function<void()> fn);
    // Returns once every task scheduled in this group has run: those still
    // queued run on this thread, those running are waited for.
    void Wait();
    // Returns once fewer than `n` (>= 1) tasks of this group are unfinished,
    // running queued ones on this thread as Wait does: bounds what a caller
    // has in flight.
    void WaitBelow(size_t n);

   private:
    friend class WorkerPool;
    WorkerPool& pool_;
    size_t unfinished_ = 0;  // guarded by pool_.mu_
    std::condition_variable done_;
  };

  // Stops taking tasks (Schedule then runs them inline), runs every queued
  // one and joins the threads. Idempotent.
  void Shutdown();

  size_t threads() const { return threads_.size(); }

 private:
  struct Item {
    std::function<void()> fn;
    Group* group;
  };
  void Loop();
  void Finish(Group* g);  // with mu_ held

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace katamari

// WorkerPool: tasks complete, groups wait for their own, a full queue or a
// shut-down pool runs tasks on the caller, shutdown drains, and callers that
// wait inside a saturated pool (nested groups) never deadlock.
#include "store/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace katamari {
namespace {

// A gate tasks block on until it is opened.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts down; Wait returns at zero.
class Latch {
 public:
  explicit Latch(int n) : n_(n) {}
  void CountDown() {
    std::lock_guard<std::mutex> l(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return n_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_;
};

TEST(WorkerPoolTest, EveryTaskRunsOnceBeforeWaitReturns) {
  WorkerPool pool(3);
  EXPECT_EQ(pool.threads(), 3u);
  std::vector<std::atomic<int>> runs(1000);
  WorkerPool::Group g(pool);
  for (size_t i = 0; i < runs.size(); ++i) g.Schedule([&runs, i] { ++runs[i]; });
  g.Wait();
  for (size_t i = 0; i < runs.size(); ++i) EXPECT_EQ(runs[i].load(), 1) << i;
}

TEST(WorkerPoolTest, DefaultThreadsIsOneToFour) {
  size_t n = WorkerPool::DefaultThreads();
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 4u);
}

TEST(WorkerPoolTest, AFullQueueRunsTheTaskOnTheCaller) {
  WorkerPool pool(1, /*max_queued=*/1);
  Gate gate;
  Latch started(1);
  WorkerPool::Group g(pool);
  g.Schedule([&] {
    started.CountDown();
    gate.Pass();
  });
  started.Wait();          // the only thread is busy
  g.Schedule([] {});       // fills the queue
  std::thread::id ran_on;  // the queue is full: runs here, at once
  g.Schedule([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  gate.Open();
  g.Wait();
}

TEST(WorkerPoolTest, WaitRunsQueuedTasksOfItsGroupOnTheCaller) {
  WorkerPool pool(1);
  Gate gate;
  Latch started(1);
  WorkerPool::Group blocker(pool);
  blocker.Schedule([&] {
    started.CountDown();
    gate.Pass();
  });
  started.Wait();
  // The pool's thread stays blocked: without running these itself, Wait
  // would never return.
  WorkerPool::Group g(pool);
  std::atomic<int> ran{0};
  std::thread::id ran_on;
  for (int i = 0; i < 5; ++i) {
    g.Schedule([&] {
      ++ran;
      ran_on = std::this_thread::get_id();
    });
  }
  g.Wait();
  EXPECT_EQ(ran.load(), 5);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  gate.Open();
  blocker.Wait();
}

TEST(WorkerPoolTest, WaitBelowBoundsWhatIsInFlight) {
  WorkerPool pool(2);
  WorkerPool::Group g(pool);
  std::atomic<int> unfinished{0};
  for (int i = 0; i < 200; ++i) {
    g.WaitBelow(3);
    EXPECT_LT(unfinished.load(), 3);
    ++unfinished;
    g.Schedule([&] {
      std::this_thread::yield();
      --unfinished;
    });
  }
  g.Wait();
  EXPECT_EQ(unfinished.load(), 0);
}

TEST(WorkerPoolTest, ShutdownRunsEverythingQueuedThenRunsTasksInline) {
  std::atomic<int> ran{0};
  WorkerPool pool(2);
  WorkerPool::Group g(pool);
  Gate gate;
  for (int i = 0; i < 2; ++i) g.Schedule([&] { gate.Pass(); });
  for (int i = 0; i < 50; ++i) g.Schedule([&] { ++ran; });
  std::thread stopper([&] { pool.Shutdown(); });
  gate.Open();
  stopper.join();
  EXPECT_EQ(ran.load(), 50);  // drained, not dropped
  std::thread::id ran_on;
  g.Schedule([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  g.Wait();
  pool.Shutdown();  // again: nothing to do
}

// Callers that are themselves pool tasks, each waiting for a group of its
// own, more of them than the pool has threads: they still complete.
TEST(WorkerPoolTest, NestedGroupsOnASaturatedPoolComplete) {
  WorkerPool pool(2, /*max_queued=*/8);
  std::atomic<int> inner_done{0};
  WorkerPool::Group outer(pool);
  for (int i = 0; i < 8; ++i) {
    outer.Schedule([&] {
      WorkerPool::Group inner(pool);
      for (int k = 0; k < 16; ++k) {
        inner.WaitBelow(4);
        inner.Schedule([&] { ++inner_done; });
      }
      inner.Wait();
    });
  }
  outer.Wait();
  EXPECT_EQ(inner_done.load(), 8 * 16);
}

}  // namespace
}  // namespace katamari

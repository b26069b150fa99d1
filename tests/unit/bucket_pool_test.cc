// The bucket's worker pool under load: more concurrent large puts and gets
// (IngestStream and StreamChunks, each with several blocks for the pool)
// than the pool has threads all complete with the right bytes, plain and
// encrypted.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

class BucketPoolTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-pool-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    Bucket::OpenOptions o;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(root_ + "/key").ok());
      o.key = BucketKey::KeyFile(root_ + "/key");
      ASSERT_TRUE(Bucket::Create(root_ + "/b", {}, o.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(root_ + "/b", {}).ok());
    }
    auto r = Bucket::Open(root_ + "/b", o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  std::string root_;
  std::unique_ptr<Bucket> b_;
};

TEST_P(BucketPoolTest, EightConcurrentLargePutsAndGetsComplete) {
  constexpr int kWriters = 8;
  std::vector<std::string> data(kWriters);
  for (int i = 0; i < kWriters; ++i) data[i] = RandomBytes((13 << 20) + i * 4099, 100 + i);
  std::vector<Status> put(kWriters), got(kWriters);
  std::vector<std::string> back(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      StringSource src(data[i]);
      auto v = b_->Put("f" + std::to_string(i), src, {});
      put[i] = v.status();
      if (!v.ok()) return;
      StringSink sink;
      got[i] = b_->Get("f" + std::to_string(i), {}, sink);
      back[i] = std::move(sink.out);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWriters; ++i) {
    ASSERT_TRUE(put[i].ok()) << i << ": " << put[i].ToString();
    ASSERT_TRUE(got[i].ok()) << i << ": " << got[i].ToString();
    EXPECT_TRUE(back[i] == data[i]) << "file " << i << " read back different bytes";
  }
}

size_t ThreadsOfThisProcess() {
  size_t n = 0;
  for (auto& e : fs::directory_iterator("/proc/self/task")) {
    (void)e;
    ++n;
  }
  return n;
}

// The pool's threads exist from Open on; a put or a get of many blocks
// starts none of its own (it used to start up to 4 per call).
TEST_P(BucketPoolTest, ALargePutAndGetStartNoThreads) {
  const size_t base = ThreadsOfThisProcess();
  std::string data = RandomBytes(21 << 20, 5);
  size_t most = 0;
  PutOptions o;
  o.progress = [&](uint64_t, uint64_t) { most = std::max(most, ThreadsOfThisProcess()); };
  StringSource src(data);
  ASSERT_TRUE(b_->Put("f", src, o).ok());
  EXPECT_GT(most, 0u);  // progress was reported while blocks were in flight
  EXPECT_EQ(most, base);
  StringSink sink;
  ASSERT_TRUE(b_->Get("f", {}, sink, [&](uint64_t, uint64_t) {
                  most = std::max(most, ThreadsOfThisProcess());
                }).ok());
  EXPECT_EQ(most, base);
  EXPECT_TRUE(sink.out == data);
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketPoolTest, ::testing::Bool());

}  // namespace
}  // namespace katamari

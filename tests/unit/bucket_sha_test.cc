// Pending SHA-256s completed off the close path (docs/semantics.md, Files,
// versions and history): the background worker (Bucket::StartShaCompletion)
// stores the digest of the content, stops at once on StopShaCompletion and
// CancelWork, leaves versions past its size bound to the first request; a
// read-only Bucket opened with store_sha256 (the CLI) stores what it
// computes, and Get completes it on the way. Plain and encrypted buckets.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "store/bucket.h"
#include "store/sha256.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

// Data and holes in turn: {hole, data, hole, data, ...}; a hole of 0 is none.
class HoleSource : public ByteSource {
 public:
  struct Piece {
    uint64_t hole = 0;
    std::string data;
  };
  explicit HoleSource(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}
  Result<Extent> Next() override {
    Skip();
    if (i_ >= pieces_.size()) return Extent{false, 0};
    const Piece& p = pieces_[i_];
    if (!in_data_) return Extent{true, p.hole};
    return Extent{false, p.data.size() - pos_};
  }
  Status SkipHole(uint64_t n) override {
    Skip();
    if (i_ >= pieces_.size() || in_data_ || n != pieces_[i_].hole) {
      return Status::InvalidArgument("skip past the hole");
    }
    in_data_ = true;
    return Status::OK();
  }
  Result<size_t> Read(char* buf, size_t n) override {
    Skip();
    if (i_ >= pieces_.size()) return size_t{0};
    if (!in_data_) return Status::InvalidArgument("read inside a hole");
    const std::string& d = pieces_[i_].data;
    size_t k = std::min(n, d.size() - pos_);
    std::copy_n(d.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  std::string Flat() const {  // the whole content (modest holes only)
    std::string out;
    for (const Piece& p : pieces_) out += std::string(p.hole, '\0') + p.data;
    return out;
  }

 private:
  // Steps over empty holes and finished data pieces.
  void Skip() {
    for (;;) {
      if (i_ >= pieces_.size()) return;
      if (!in_data_ && pieces_[i_].hole == 0) in_data_ = true;
      if (in_data_ && pos_ == pieces_[i_].data.size()) {
        ++i_;
        in_data_ = false;
        pos_ = 0;
        continue;
      }
      return;
    }
  }
  std::vector<Piece> pieces_;
  size_t i_ = 0;
  bool in_data_ = false;
  uint64_t pos_ = 0;
};

// Waits (bounded) until `done` holds; false if it never did.
template <class F>
bool WaitFor(F done) {
  // Up to 3 minutes: the worker runs at nice 19 and waits its turn on a
  // loaded machine.
  for (int i = 0; i < 18000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

class BucketShaTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-sha-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/b";
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(root_ + "/key").ok());
      ASSERT_TRUE(Bucket::Create(dir_, {}, BucketKey::KeyFile(root_ + "/key")).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    }
    b_ = OpenBucket(false, false);
    ASSERT_NE(b_, nullptr);
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  std::unique_ptr<Bucket> OpenBucket(bool read_only, bool store_sha256) {
    Bucket::OpenOptions o;
    o.read_only = read_only;
    o.store_sha256 = store_sha256;
    if (GetParam()) o.key = BucketKey::KeyFile(root_ + "/key");
    auto r = Bucket::Open(dir_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  // Commits a new file `name` from `src` through the mount's path (holes
  // leave the SHA-256 pending).
  VersionInfo Commit(const std::string& name, HoleSource& src) {
    auto f = b_->MakeNode(kRootInode, name, FileKind::kRegular, 0644, 0, 0);
    EXPECT_TRUE(f.ok());
    auto v = b_->CommitContent(f->ino, src);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(v->sha256_pending);
    return *v;
  }
  bool Pending(const VersionInfo& v) {
    auto now = b_->GetVersion(v.ino, v.version);
    EXPECT_TRUE(now.ok());
    return !now.ok() || now->sha256_pending;
  }

  std::string root_, dir_;
  std::unique_ptr<Bucket> b_;
};

TEST_P(BucketShaTest, BackgroundWorkerStoresTheShaOfTheContent) {
  HoleSource one({{3 << 20, RandomBytes(70000, 1)}, {5000, ""}});
  VersionInfo v1 = Commit("one", one);
  ShaCompletionOptions o;
  o.poll_interval = std::chrono::milliseconds(10);
  ASSERT_TRUE(b_->StartShaCompletion(o).ok());
  EXPECT_EQ(b_->StartShaCompletion(o).code(), Status::Code::kBusy);
  ASSERT_TRUE(WaitFor([&] { return !Pending(v1); })) << "one@1 never completed";
  // Committed while the worker idles: it sees the new commit.
  HoleSource two({{0, RandomBytes(1000, 2)}, {1 << 20, RandomBytes(300, 3)}});
  VersionInfo v2 = Commit("two", two);
  ASSERT_TRUE(WaitFor([&] { return !Pending(v2); })) << "two@1 never completed";
  b_->StopShaCompletion();
  EXPECT_EQ(b_->GetVersion(v1.ino, v1.version)->sha256, Sha256Of(one.Flat()));
  EXPECT_EQ(b_->GetVersion(v2.ino, v2.version)->sha256, Sha256Of(two.Flat()));
  // Stored in the row: a fresh open reads the digest, and fsck compares it.
  b_.reset();
  b_ = OpenBucket(false, false);
  ASSERT_NE(b_, nullptr);
  auto again = b_->GetVersion(v1.ino, v1.version);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->sha256_pending);
  EXPECT_EQ(again->sha256, Sha256Of(one.Flat()));
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
}

// A big version (64 MiB and up) is hashed only once it has been its file's
// newest for about 2 s: an edit storm does not start a read per edit.
TEST_P(BucketShaTest, ABigVersionIsHashedOnceItHasSettled) {
  HoleSource big({{96 << 20, "end"}});
  VersionInfo v = Commit("big", big);
  ASSERT_TRUE(Pending(v));
  std::mutex mu;
  std::optional<std::chrono::steady_clock::time_point> started;
  ShaCompletionOptions o;
  o.poll_interval = std::chrono::milliseconds(10);
  o.on_start = [&](const VersionInfo&) {
    std::lock_guard<std::mutex> l(mu);
    if (!started) started = std::chrono::steady_clock::now();
  };
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(b_->StartShaCompletion(o).ok());
  ASSERT_TRUE(WaitFor([&] { return !Pending(v); })) << "big@1 never completed";
  b_->StopShaCompletion();
  std::lock_guard<std::mutex> l(mu);
  ASSERT_TRUE(started.has_value());
  EXPECT_GE(*started - t0, std::chrono::milliseconds(1900));
  EXPECT_EQ(b_->GetVersion(v.ino, v.version)->sha256, Sha256Of(big.Flat()));
}

// A version being hashed for a long time (1 TiB of zeros: many minutes) is
// abandoned at once: by CancelWork (shutdown), or by StopShaCompletion,
// which leaves the bucket working.
TEST_P(BucketShaTest, StopsPromptlyWhileHashingAHugeVersion) {
  for (bool cancel : {false, true}) {
    SCOPED_TRACE(cancel ? "CancelWork" : "StopShaCompletion");
    HoleSource huge({{uint64_t{1} << 40, "end"}});
    VersionInfo v = Commit(cancel ? "huge2" : "huge1", huge);
    std::mutex mu;
    std::condition_variable cv;
    bool started = false;
    ShaCompletionOptions o;
    o.max_version_size = UINT64_MAX;
    // Smallest first: the second round's worker starts with huge1 again.
    o.on_start = [&](const VersionInfo&) {
      std::lock_guard<std::mutex> l(mu);
      started = true;
      cv.notify_all();
    };
    ASSERT_TRUE(b_->StartShaCompletion(o).ok());
    {
      std::unique_lock<std::mutex> l(mu);
      ASSERT_TRUE(cv.wait_for(l, std::chrono::minutes(3), [&] { return started; }));
    }
    if (cancel) {
      b_->CancelWork();
    }
    b_->StopShaCompletion();  // returns once the thread has exited
    EXPECT_TRUE(Pending(v));
    if (!cancel) {
      // Not cancelled: the bucket still hashes and commits.
      HoleSource small({{4096, "x"}});
      VersionInfo s = Commit("small", small);
      auto done = b_->CompleteSha256(s);
      ASSERT_TRUE(done.ok()) << done.status().ToString();
      EXPECT_EQ(done->sha256, Sha256Of(small.Flat()));
    }
  }
  EXPECT_TRUE(b_->StartShaCompletion().ok());  // after CancelWork: starts, then ends at once
}

// A version a newer version of its file superseded before the worker got to
// it is not read in the background (an edit storm on a big file would read
// it whole for each); its first request computes it, right.
TEST_P(BucketShaTest, BackgroundWorkerSkipsSupersededVersions) {
  HoleSource first({{1 << 20, RandomBytes(3000, 5)}});
  VersionInfo v1 = Commit("f", first);
  // Larger, so that smallest-first would have started with v1.
  HoleSource second({{2 << 20, RandomBytes(4000, 6)}});
  auto v2 = b_->CommitContent(v1.ino, second);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  ASSERT_TRUE(v2->sha256_pending);
  std::mutex mu;
  std::vector<uint64_t> started;
  ShaCompletionOptions o;
  o.poll_interval = std::chrono::milliseconds(10);
  o.on_start = [&](const VersionInfo& v) {
    std::lock_guard<std::mutex> l(mu);
    started.push_back(v.version.value);
  };
  ASSERT_TRUE(b_->StartShaCompletion(o).ok());
  ASSERT_TRUE(WaitFor([&] { return !Pending(*v2); })) << "f@2 never completed";
  b_->StopShaCompletion();
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(started, std::vector<uint64_t>{v2->version.value});
  }
  EXPECT_EQ(b_->GetVersion(v2->ino, v2->version)->sha256, Sha256Of(second.Flat()));
  EXPECT_TRUE(Pending(v1));
  // Requested: computed from its own chunks, and stored.
  auto listed = b_->Versions("f");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->front().sha256, Sha256Of(first.Flat()));
  auto done = b_->CompleteSha256(v1);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->sha256, Sha256Of(first.Flat()));
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
}

TEST_P(BucketShaTest, CompletePendingSmallestFirstUpToTheBound) {
  HoleSource big({{2 << 20, "big"}});
  HoleSource small({{100000, "small"}});
  VersionInfo vb = Commit("big", big);
  VersionInfo vs = Commit("small", small);
  auto n = b_->CompletePendingSha256(10, 1 << 20);  // big is past the bound
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(Pending(vs));
  EXPECT_TRUE(Pending(vb));
  n = b_->CompletePendingSha256(10);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(b_->GetVersion(vb.ino, vb.version)->sha256, Sha256Of(big.Flat()));
  n = b_->CompletePendingSha256(10);  // nothing left
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

// What the CLI does beside a mount: `katamari ls` and `versions` open the
// bucket read-only; with store_sha256 the SHA-256 they complete is stored.
TEST_P(BucketShaTest, ReadOnlyBucketStoresTheShaOnlyIfAsked) {
  HoleSource src({{1 << 20, RandomBytes(5000, 4)}});
  VersionInfo v = Commit("f", src);
  const Sha256 want = Sha256Of(src.Flat());
  {
    auto ro = OpenBucket(true, false);
    ASSERT_NE(ro, nullptr);
    auto listed = ro->Versions("f");
    ASSERT_TRUE(listed.ok()) << listed.status().ToString();
    EXPECT_EQ(listed->back().sha256, want);
    EXPECT_EQ(ro->StartShaCompletion().code(), Status::Code::kReadOnly);
    EXPECT_EQ(ro->CompletePendingSha256(1).status().code(), Status::Code::kReadOnly);
  }
  EXPECT_TRUE(Pending(v));  // computed, not stored
  {
    auto ro = OpenBucket(true, true);
    ASSERT_NE(ro, nullptr);
    auto files = ro->List("", false);
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    ASSERT_EQ(files->size(), 1u);
    EXPECT_EQ(files->front().latest->sha256, want);
  }
  EXPECT_FALSE(Pending(v));
  EXPECT_EQ(b_->GetVersion(v.ino, v.version)->sha256, want);
}

// A version that cannot be hashed (a damaged chunk) is logged once, left
// pending for the first request, and does not hold up the others; a later
// scan (after a new commit) does not try it again.
TEST_P(BucketShaTest, DamagedVersionIsLoggedOnceAndSkipped) {
  HoleSource bad({{4096, RandomBytes(20000, 6)}});
  VersionInfo vbad = Commit("bad", bad);
  // Its chunks: all stored so far (one, or two where an encrypted bucket's
  // random chunking key cuts the 20,000 bytes). One byte of each flipped.
  const auto stored = testing_util::StoredChunks(dir_);
  ASSERT_GE(stored.size(), 1u);
  ASSERT_LE(stored.size(), 2u);
  for (const auto& c : stored) testing_util::FlipByteOf(c);
  HoleSource b({{1 << 20, RandomBytes(30000, 7)}});
  VersionInfo vb = Commit("b", b);
  std::mutex mu;
  std::vector<std::string> lines;
  ShaCompletionOptions o;
  o.poll_interval = std::chrono::milliseconds(10);
  o.log = [&](const std::string& line) {
    std::lock_guard<std::mutex> l(mu);
    lines.push_back(line);
  };
  ASSERT_TRUE(b_->StartShaCompletion(o).ok());
  ASSERT_TRUE(WaitFor([&] { return !Pending(vb); })) << "b@1 never completed";
  HoleSource c({{2 << 20, "c"}});  // a new commit: the worker scans again
  VersionInfo vc = Commit("c", c);
  ASSERT_TRUE(WaitFor([&] { return !Pending(vc); })) << "c@1 never completed";
  b_->StopShaCompletion();
  EXPECT_TRUE(Pending(vbad));
  EXPECT_EQ(b_->GetVersion(vb.ino, vb.version)->sha256, Sha256Of(b.Flat()));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("inode " + std::to_string(vbad.ino.value) + " version 1"),
            std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("bad@1"), std::string::npos) << lines[0];
}

// `katamari get` streams every byte anyway: a pending SHA-256 is completed
// on the way and stored (read-only with store_sha256, as the CLI opens).
TEST_P(BucketShaTest, GetStoresThePendingShaOnTheWay) {
  HoleSource src({{2 << 20, RandomBytes(90000, 5)}, {70000, "end"}});
  VersionInfo v = Commit("g", src);
  {
    auto ro = OpenBucket(true, true);
    ASSERT_NE(ro, nullptr);
    StringSink sink;
    ASSERT_TRUE(ro->Get("g", {}, sink).ok());
    EXPECT_EQ(sink.out, src.Flat());
  }
  EXPECT_FALSE(Pending(v));
  EXPECT_EQ(b_->GetVersion(v.ino, v.version)->sha256, Sha256Of(src.Flat()));
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketShaTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

}  // namespace
}  // namespace katamari

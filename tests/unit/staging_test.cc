// Staging files (Bucket::OpenStaging): plain on a plain bucket, sealed block
// by block on an encrypted one. The raw bytes of the unlinked file are read
// back through /proc/self/fd, as an attacker with the disk would see them.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "store/bucket.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::RandomBytes;
using testing_util::TempDir;

constexpr uint64_t kBlock = StagingFile::kBlock;

class StagingTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string dir = tmp_.path() + "/bucket";
    Bucket::OpenOptions o;
    if (encrypted()) {
      std::string key = tmp_.path() + "/bucket.key";
      ASSERT_TRUE(Bucket::CreateKeyFile(key).ok());
      o.key = BucketKey::KeyFile(key);
      ASSERT_TRUE(Bucket::Create(dir, BucketSettings{}, o.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir, BucketSettings{}).ok());
    }
    auto b = Bucket::Open(dir, o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bucket_ = std::move(b).value();
  }
  bool encrypted() const { return GetParam(); }

  std::unique_ptr<StagingFile> Open() {
    auto f = bucket_->OpenStaging("test file");
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->sealed(), encrypted());
    return std::move(f).value();
  }

  // The path under /proc/self/fd of the (only) open staging file.
  std::string RawPath() {
    std::string want = bucket_->StagingDir() + "/session-";
    DIR* d = ::opendir("/proc/self/fd");
    std::string found;
    while (dirent* e = ::readdir(d)) {
      std::string p = std::string("/proc/self/fd/") + e->d_name;
      char target[4096];
      ssize_t n = ::readlink(p.c_str(), target, sizeof(target) - 1);
      if (n > 0 && std::string(target, n).rfind(want, 0) == 0) found = p;
    }
    ::closedir(d);
    EXPECT_FALSE(found.empty()) << "no open staging file under " << want;
    return found;
  }
  std::string RawBytes() {
    int fd = ::open(RawPath().c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
    ::close(fd);
    return out;
  }
  void RawWrite(uint64_t off, std::string_view data) {
    int fd = ::open(RawPath().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, data.data(), data.size(), off), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }
  uint64_t RawAllocated() {
    struct stat st;
    EXPECT_EQ(::stat(RawPath().c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  std::string ReadBack(StagingFile& f, uint64_t off, size_t n) {
    std::string out(n, '\x55');
    Status st = f.Read(off, n, out.data());
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<Bucket> bucket_;
};

TEST_P(StagingTest, RandomWritesPunchesAndTruncationsMatchAModel) {
  auto f = Open();
  std::string model;
  std::mt19937_64 rng(3);
  for (int step = 0; step < 300; ++step) {
    int op = static_cast<int>(rng() % 10);
    uint64_t off = rng() % 200000;
    if (op < 6) {
      std::string data = RandomBytes(1 + rng() % 20000, rng());
      ASSERT_TRUE(f->Write(off, data).ok());
      if (model.size() < off + data.size()) model.resize(off + data.size(), '\0');
      model.replace(off, data.size(), data);
    } else if (op < 8) {
      uint64_t len = rng() % 30000;
      ASSERT_TRUE(f->Punch(off, len).ok());
      if (off < model.size()) {
        std::fill(model.begin() + off, model.begin() + std::min(off + len, model.size()), '\0');
      }
    } else {
      uint64_t size = rng() % 210000;
      ASSERT_TRUE(f->Truncate(size).ok());
      model.resize(size, '\0');
    }
    if (step % 10 == 0) {
      uint64_t from = rng() % (model.size() + 1);
      ASSERT_EQ(ReadBack(*f, from, model.size() - from), model.substr(from)) << step;
    }
  }
  ASSERT_EQ(ReadBack(*f, 0, model.size()), model);
  // Past everything written: zeros, never garbage.
  EXPECT_EQ(ReadBack(*f, model.size(), 3 * kBlock + 7), std::string(3 * kBlock + 7, '\0'));
}

TEST_P(StagingTest, HolesStayHolesAndReadAsZeros) {
  auto f = Open();
  const uint64_t far = uint64_t{1} << 30;
  ASSERT_TRUE(f->Write(far, "tail").ok());
  EXPECT_EQ(ReadBack(*f, far - 3, 7), std::string("\0\0\0tail", 7));
  EXPECT_LT(RawAllocated(), 64u << 10) << "a write at 1 GiB must leave the space before a hole";
  std::string big = RandomBytes(4 << 20, 9);
  ASSERT_TRUE(f->Write(0, big).ok());
  uint64_t before = RawAllocated();
  ASSERT_TRUE(f->Punch(kBlock, (4 << 20) - 2 * kBlock).ok());
  EXPECT_LT(RawAllocated(), before - (3 << 20)) << "punch hole gave no space back";
  EXPECT_EQ(ReadBack(*f, 0, kBlock), big.substr(0, kBlock));
  EXPECT_EQ(ReadBack(*f, kBlock, 5 * kBlock), std::string(5 * kBlock, '\0'));
  EXPECT_EQ(ReadBack(*f, (4 << 20) - kBlock, kBlock), big.substr((4 << 20) - kBlock));
}

TEST_P(StagingTest, RawFileHoldsThePlaintextOnlyOnAPlainBucket) {
  auto f = Open();
  std::string marker = "katamari-staging-marker-" + RandomBytes(8, 5) + "-end";
  std::string text;
  while (text.size() < 100000) text += marker;
  ASSERT_TRUE(f->Write(12345, text).ok());
  ASSERT_TRUE(f->Write(777, marker).ok());  // a partial block too
  bool found = RawBytes().find(marker) != std::string::npos;
  EXPECT_EQ(found, !encrypted());
}

TEST_P(StagingTest, TamperedBlockIsAnErrorNotWrongBytes) {
  if (!encrypted()) GTEST_SKIP() << "a plain staging file has nothing to check";
  auto f = Open();
  std::string data = RandomBytes(4 * kBlock, 2);
  ASSERT_TRUE(f->Write(0, data).ok());
  const uint64_t slot = RawBytes().size() / 4;
  ASSERT_GE(slot, kBlock + 28);
  // One flipped bit in block 1; zeros over block 2 (as a hole would read);
  // block 3's slot copied over block 0 (a block moved).
  std::string raw = RawBytes();
  RawWrite(slot + 100, std::string(1, static_cast<char>(raw[slot + 100] ^ 1)));
  RawWrite(2 * slot, std::string(slot, '\0'));
  RawWrite(0, raw.substr(3 * slot, slot));
  std::string buf(kBlock, '\0');
  for (uint64_t block = 0; block < 3; ++block) {
    Status st = f->Read(block * kBlock, kBlock, buf.data());
    EXPECT_TRUE(st.IsCorruption()) << "block " << block << ": " << st.ToString();
    EXPECT_NE(st.ToString().find("test file"), std::string::npos) << st.ToString();
  }
  EXPECT_EQ(ReadBack(*f, 3 * kBlock, kBlock), data.substr(3 * kBlock));
  // A partial write over a damaged block fails too instead of sealing junk.
  EXPECT_FALSE(f->Write(kBlock + 10, "x").ok());
}

TEST_P(StagingTest, EachStagingFileIsItsOwnAndUnlinked) {
  auto a = Open();
  ASSERT_TRUE(a->Write(0, "first").ok());
  EXPECT_TRUE(std::filesystem::is_empty(bucket_->StagingDir()));
  auto b = Open();
  ASSERT_TRUE(b->Write(0, "second").ok());
  EXPECT_EQ(ReadBack(*a, 0, 5), "first");
  EXPECT_EQ(ReadBack(*b, 0, 6), "second");
}

// Ended sessions' files are emptied and reused (StagingPool, so that short
// sessions neither create nor free an inode): what the next session sees of
// one is zeros and holes, never the bytes an earlier one staged.
TEST_P(StagingTest, AReusedStagingFileIsEmpty) {
  std::string secret = "earlier-session-" + RandomBytes(16, 9);
  std::string fill;
  while (fill.size() < 5 * kBlock) fill += secret;
  std::set<std::string> inodes;
  auto inode_of_raw = [&] {
    struct stat st;
    EXPECT_EQ(::stat(RawPath().c_str(), &st), 0);
    return std::to_string(st.st_ino);
  };
  for (int round = 0; round < 3; ++round) {
    auto f = Open();
    EXPECT_EQ(RawAllocated(), 0u) << "round " << round;
    EXPECT_EQ(RawBytes().size(), 0u) << "round " << round;
    EXPECT_EQ(ReadBack(*f, 0, 5 * kBlock), std::string(5 * kBlock, '\0')) << "round " << round;
    auto e = f->ExtentAt(0, 5 * kBlock);
    ASSERT_TRUE(e.ok());
    EXPECT_TRUE(e->hole) << "round " << round;
    EXPECT_EQ(e->len, 5 * kBlock);
    inodes.insert(inode_of_raw());
    ASSERT_TRUE(f->Write(100, fill).ok());
    EXPECT_EQ(ReadBack(*f, 100, fill.size()), fill);
  }
  EXPECT_EQ(inodes.size(), 1u) << "each session made a new staging file";
  EXPECT_TRUE(std::filesystem::is_empty(bucket_->StagingDir()));
  // Two at once are still two files.
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a->Write(0, "first").ok());
  ASSERT_TRUE(b->Write(0, "second").ok());
  EXPECT_EQ(ReadBack(*a, 0, 5), "first");
  EXPECT_EQ(ReadBack(*b, 0, 6), "second");
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, StagingTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

}  // namespace
}  // namespace katamari

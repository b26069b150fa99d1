// Reading versions whose chunk lists have many segments (store/
// catalog_segments.h): reads and data/hole runs against the content, before
// and after edits that share segments; the process-wide segment cache
// (store/segment_cache.h); a list that does not add up to its version's size.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "store/bucket.h"
#include "store/catalog.h"
#include "store/segment_cache.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::RandomBytes;
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;

// The new content with hole ranges (which hold zeros).
class HoledSource : public RandomSource {
 public:
  HoledSource(const std::string& data, Ranges holes) : data_(data), holes_(std::move(holes)) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t off, size_t n, char* buf) override {
    if (off + n > data_.size()) return Status::InvalidArgument("read past the end");
    std::copy_n(data_.data() + off, n, buf);
    return Status::OK();
  }
  Result<Extent> ExtentAt(uint64_t off) override {
    uint64_t next_hole = data_.size();
    for (auto [a, b] : holes_) {
      if (off >= a && off < b) return Extent{true, b - off};
      if (a > off) next_hole = std::min(next_hole, a);
    }
    return Extent{false, next_hole - off};
  }

 private:
  const std::string& data_;
  Ranges holes_;
};

class BucketSegmentsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    root_ = std::make_unique<testing_util::TempDir>("segs");
    dir_ = root_->path() + "/b";
    BucketSettings settings;  // small chunks: many segments in a few MiB
    settings.chunk_min = 1024;
    settings.chunk_avg = 2048;
    settings.chunk_max = 8192;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(dir_ + ".key").ok());
      opts_.key = BucketKey::KeyFile(dir_ + ".key");
      ASSERT_TRUE(Bucket::Create(dir_, settings, opts_.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, settings).ok());
    }
    Reopen();
    auto f = b_->MakeNode(kRootInode, "f", FileKind::kRegular, 0644, 0, 0);
    ASSERT_TRUE(f.ok());
    ino_ = f->ino;
  }
  void TearDown() override { b_.reset(); }
  void Reopen() {
    b_.reset();
    auto r = Bucket::Open(dir_, opts_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  size_t SegmentCount(const VersionInfo& v) {
    auto cat = Catalog::Open(dir_ + "/catalog.db", /*read_only=*/true);
    EXPECT_TRUE(cat.ok());
    if (!cat.ok()) return 0;
    auto segs = (*cat)->VersionSegments(v.ino, v.version);
    EXPECT_TRUE(segs.ok());
    return segs.ok() ? segs->size() : 0;
  }
  // Random reads and the data/hole runs of version `v` against `content`,
  // whose holes are `holes`.
  void Check(const VersionInfo& v, const std::string& content, const Ranges& holes,
             const std::string& where) {
    auto r = b_->OpenVersion(ino_, v.version);
    ASSERT_TRUE(r.ok()) << where << ": " << r.status().ToString();
    VersionReader& rd = **r;
    ASSERT_EQ(rd.info().size, content.size()) << where;
    std::mt19937_64 rng(v.version.value);
    std::string buf;
    for (int i = 0; i < 300; ++i) {
      const uint64_t off = rng() % (content.size() + 100);
      const size_t n = 1 + rng() % (i % 10 == 0 ? 200000 : 9000);
      buf.assign(n, '?');
      size_t got = 0;
      ASSERT_TRUE(rd.ReadAt(off, n, buf.data(), &got).ok()) << where;
      const size_t want = off >= content.size() ? 0 : std::min<uint64_t>(n, content.size() - off);
      ASSERT_EQ(got, want) << where << " at " << off;
      ASSERT_EQ(buf.substr(0, got), content.substr(std::min<uint64_t>(off, content.size()), got))
          << where << " at " << off;
    }
    // The runs cover the file exactly, holes where the content has them.
    Ranges runs_of_holes;
    uint64_t data_bytes = 0;
    for (uint64_t off = 0; off < content.size();) {
      const Extent e = rd.ExtentAt(off);
      ASSERT_GT(e.len, 0u) << where << " at " << off;
      ASSERT_LE(off + e.len, content.size()) << where;
      if (e.hole) {
        runs_of_holes.emplace_back(off, off + e.len);
      } else {
        data_bytes += e.len;
      }
      // A run in the middle is cut there too.
      const uint64_t mid = off + e.len / 2;
      const Extent m = rd.ExtentAt(mid);
      EXPECT_EQ(m.hole, e.hole) << where;
      EXPECT_EQ(mid + m.len, off + e.len) << where;
      off += e.len;
    }
    EXPECT_EQ(runs_of_holes, holes) << where;
    EXPECT_EQ(rd.held_bytes(), data_bytes) << where;
    auto held = b_->HeldBytes(ino_, v.version);
    ASSERT_TRUE(held.ok());
    EXPECT_EQ(*held, data_bytes) << where;
  }
  VersionInfo Edit(const VersionInfo& base, const std::string& content, const Ranges& holes,
                   Ranges dirty, uint64_t base_valid) {
    HoledSource src(content, holes);
    EditedRanges edit{ino_, base.version, base_valid, std::move(dirty)};
    auto v = b_->CommitEdit(ino_, src, edit);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : base;
  }

  std::unique_ptr<testing_util::TempDir> root_;
  std::string dir_;
  Bucket::OpenOptions opts_;
  std::unique_ptr<Bucket> b_;
  InodeId ino_;
};

TEST_P(BucketSegmentsTest, ReadsAndRunsOfAManySegmentListMatchTheContent) {
  std::string content = RandomBytes(8 << 20, 3);
  StringSource src(content);
  auto v1 = b_->CommitContent(ino_, src);
  ASSERT_TRUE(v1.ok()) << v1.status().ToString();
  ASSERT_GE(SegmentCount(*v1), 10u);
  Check(*v1, content, {}, "v1");
  // A byte changed and a hole punched: the other segments are shared.
  content[(1 << 20) + 5] ^= 0x5a;
  const uint64_t ha = 5 << 20, hb = (5 << 20) + (300 << 10);
  std::fill(content.begin() + ha, content.begin() + hb, '\0');
  const Ranges holes{{ha, hb}};
  VersionInfo v2 = Edit(*v1, content, holes, {{(1 << 20) + 5, (1 << 20) + 6}, {ha, hb}},
                        content.size());
  ASSERT_EQ(v2.version.value, 2u);
  const std::string db = dir_ + "/catalog.db";
  EXPECT_GE(catalog_aging::RawInt(db, "SELECT count(*) FROM segments WHERE refs >= 2"), 5);
  Check(v2, content, holes, "v2");
  // Appended to and edited near the end; v1 still reads as it did.
  std::string v1_content = RandomBytes(8 << 20, 3);
  content += RandomBytes(1 << 20, 4);
  content[content.size() - 10] ^= 1;
  VersionInfo v3 = Edit(v2, content, holes, {}, 8 << 20);
  Check(v3, content, holes, "v3");
  Check(*v1, v1_content, {}, "v1 again");
  // The same after a reopen (a fresh connection: nothing of it cached).
  Reopen();
  Check(v3, content, holes, "v3 reopened");
}

TEST_P(BucketSegmentsTest, ACachedSegmentIsNotDecodedAgain) {
  std::string content = RandomBytes(8 << 20, 5);
  StringSource src(content);
  auto v1 = b_->CommitContent(ino_, src);
  ASSERT_TRUE(v1.ok());
  const size_t segments = SegmentCount(*v1);
  ASSERT_GE(segments, 10u);
  auto open = [&](VersionNo v) {
    const uint64_t before = segment_cache::DecodesForTesting();
    auto r = b_->OpenVersion(ino_, v);
    EXPECT_TRUE(r.ok());
    return segment_cache::DecodesForTesting() - before;
  };
  segment_cache::ClearForTesting();
  EXPECT_EQ(open(v1->version), segments);  // every segment, once
  EXPECT_EQ(open(v1->version), 0u);        // then from the cache
  content[3 << 20] ^= 1;
  VersionInfo v2 = Edit(*v1, content, {}, {{3 << 20, (3 << 20) + 1}}, content.size());
  ASSERT_EQ(v2.version.value, 2u);
  // The edited version: only the segments the edit made are read.
  const uint64_t first = open(v2.version);
  EXPECT_GE(first, 1u);
  EXPECT_LE(first, 3u);
  EXPECT_EQ(open(v2.version), 0u);
  // Held bytes come from the cache too.
  const uint64_t before = segment_cache::DecodesForTesting();
  ASSERT_TRUE(b_->HeldBytes(ino_, v2.version).ok());
  EXPECT_EQ(segment_cache::DecodesForTesting(), before);
  // Another connection does not share the entries (its uid differs).
  Reopen();
  EXPECT_EQ(open(v2.version), SegmentCount(v2));
}

TEST_P(BucketSegmentsTest, AListThatDoesNotAddUpToTheSizeIsCorruption) {
  std::string content = RandomBytes(1 << 20, 6);
  StringSource src(content);
  auto v1 = b_->CommitContent(ino_, src);
  ASSERT_TRUE(v1.ok());
  b_.reset();
  catalog_aging::RawExec(dir_ + "/catalog.db",
                         "UPDATE versions SET size = size + 4096 WHERE ino = " +
                             std::to_string(ino_.value) + " AND vno = 1");
  Reopen();
  auto r = b_->OpenVersion(ino_, v1->version);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketSegmentsTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

}  // namespace
}  // namespace katamari

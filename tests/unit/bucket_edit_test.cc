// Incremental commits (Bucket::CommitEdit): random edits against a model,
// what an edit reads and stores, canonical chunking (the same chunks a full
// ingest makes), holes, and the fallbacks. Plain and encrypted buckets.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <vector>

#include "store/bucket.h"
#include "store/catalog.h"
#include "store/sha256.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

// The new content as a string, with optional hole ranges (which must hold
// zeros); counts the bytes it is asked to read.
class ModelSource : public RandomSource {
 public:
  explicit ModelSource(const std::string& data,
                       std::vector<std::pair<uint64_t, uint64_t>> holes = {})
      : data_(data), holes_(std::move(holes)) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t off, size_t n, char* buf) override {
    if (off + n > data_.size()) return Status::InvalidArgument("read past the end");
    for (auto [a, b] : holes_) {
      if (off < b && off + n > a) return Status::InvalidArgument("read inside a hole");
    }
    std::copy_n(data_.data() + off, n, buf);
    read_ += n;
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
  uint64_t bytes_read() const { return read_; }

 private:
  const std::string& data_;
  std::vector<std::pair<uint64_t, uint64_t>> holes_;
  uint64_t read_ = 0;
};

class BucketEditTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    root_ = std::make_unique<testing_util::TempDir>("edit");
    MakeBucket("b");
  }
  // A fresh bucket in root_/NAME (encrypted: with a new random key) with
  // one empty file, ino_.
  void MakeBucket(const std::string& name) {
    b_.reset();
    twin_ = InodeId{0};
    dir_ = root_->path() + "/" + name;
    Bucket::OpenOptions o;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(dir_ + ".key").ok());
      o.key = BucketKey::KeyFile(dir_ + ".key");
      ASSERT_TRUE(Bucket::Create(dir_, {}, o.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    }
    auto r = Bucket::Open(dir_, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
    ino_ = NewFile("f");
  }
  // A full commit of `content` to ino_ whose list has at least `min`
  // segments. Plain ids are content hashes, so a plain list's cut is fixed;
  // an encrypted bucket keys its ids with its own random key, so its cut
  // varies: a key that cuts fewer is replaced by a fresh bucket's (each try
  // falls short with a chance of about 1 in 3 for the sizes used here).
  VersionInfo FullWithSegments(const std::string& content, size_t min) {
    for (int attempt = 0;; ++attempt) {
      VersionInfo v = Full(ino_, content);
      auto segs = Segments(v);
      EXPECT_TRUE(segs.ok());
      if (!segs.ok() || segs->size() >= min || !GetParam() || attempt == 30) return v;
      MakeBucket("b" + std::to_string(attempt));
    }
  }
  void TearDown() override { b_.reset(); }

  InodeId NewFile(const std::string& name) {
    auto f = b_->MakeNode(kRootInode, name, FileKind::kRegular, 0644, 0, 0);
    EXPECT_TRUE(f.ok());
    return f->ino;
  }
  std::string ReadAll(InodeId ino, VersionNo v) {
    auto r = b_->OpenVersion(ino, v);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    std::string out((*r)->info().size, 'x');
    size_t got = 0;
    EXPECT_TRUE((*r)->ReadAt(0, out.size(), out.data(), &got).ok());
    EXPECT_EQ(got, out.size());
    return out;
  }
  VersionInfo Full(InodeId ino, const std::string& content) {
    StringSource src(content);
    auto v = b_->CommitContent(ino, src);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : VersionInfo{};
  }
  uint64_t StoredBytes() {
    auto st = b_->Stats();
    EXPECT_TRUE(st.ok());
    return st.ok() ? st->raw_chunk_bytes : 0;
  }

  // The segments of a version, read through a catalog handle of its own.
  Result<std::vector<SegmentMeta>> Segments(const VersionInfo& v) {
    ASSIGN_OR_RETURN(auto cat, Catalog::Open(dir_ + "/catalog.db", /*read_only=*/true));
    return cat->VersionSegments(v.ino, v.version);
  }
  // Whether two versions have the same versions.chunks (segment ids) and
  // the same chunk_count and stored_size: an incremental commit lists the
  // segments a full commit of the same content would.
  void ExpectSameList(const VersionInfo& a, const VersionInfo& b, const std::string& where) {
    const std::string db = dir_ + "/catalog.db";
    auto col = [](const VersionInfo& v, const char* c) {
      return "(SELECT " + std::string(c) + " FROM versions WHERE ino = " +
             std::to_string(v.ino.value) + " AND vno = " + std::to_string(v.version.value) + ")";
    };
    EXPECT_EQ(catalog_aging::RawInt(db, "SELECT " + col(a, "chunks") + " = " + col(b, "chunks")),
              1)
        << where;
    EXPECT_EQ(a.chunk_count, b.chunk_count) << where;
    EXPECT_EQ(a.stored_size, b.stored_size) << where;
    auto fa = b_->GetVersion(a.ino, a.version), fb = b_->GetVersion(b.ino, b.version);
    ASSERT_TRUE(fa.ok() && fb.ok());
    EXPECT_EQ(fa->stored_size, fb->stored_size) << where;
    EXPECT_EQ(fa->chunk_count, fb->chunk_count) << where;
  }
  // An incremental commit of `content` (edit of `base`), checked against
  // the content, a full commit of it to a twin file and its SHA-256.
  VersionInfo EditAndCheck(const VersionInfo& base, const std::string& content,
                           EditedRanges edit, const std::string& where) {
    ModelSource src(content);
    auto v = b_->CommitEdit(ino_, src, edit);
    EXPECT_TRUE(v.ok()) << where << ": " << v.status().ToString();
    if (!v.ok()) return base;
    EXPECT_TRUE(v->sha256_pending) << where << ": not the incremental path";
    EXPECT_LT(src.bytes_read(), content.size() / 2) << where;
    EXPECT_EQ(ReadAll(ino_, v->version), content) << where;
    if (!twin_.value) twin_ = NewFile("twin");
    const uint64_t before = StoredBytes();
    VersionInfo t = Full(twin_, content);
    EXPECT_EQ(StoredBytes(), before) << where << ": not the chunks a full commit makes";
    ExpectSameList(*v, t, where);
    auto done = b_->CompleteSha256(*v);
    EXPECT_TRUE(done.ok()) << where;
    if (done.ok()) EXPECT_EQ(done->sha256, Sha256Of(content)) << where;
    return *v;
  }

  std::unique_ptr<testing_util::TempDir> root_;
  InodeId twin_{0};
  std::string dir_;
  std::unique_ptr<Bucket> b_;
  InodeId ino_;
};

TEST_P(BucketEditTest, OneByteEditOfABigFileReadsAndStoresAboutOneChunk) {
  std::string content = RandomBytes(32 << 20, 1);
  VersionInfo v1 = FullWithSegments(content, 3);
  const uint64_t stored_before = StoredBytes();
  const std::string db = dir_ + "/catalog.db";
  const int64_t segments_before = catalog_aging::RawInt(db, "SELECT count(*) FROM segments");
  const int64_t chunks_before = catalog_aging::RawInt(db, "SELECT count(*) FROM chunks");
  content[20 << 20] ^= 0x5a;
  ModelSource src(content);
  EditedRanges edit{ino_, v1.version, content.size(), {{20 << 20, (20 << 20) + 4096}}};
  auto v2 = b_->CommitEdit(ino_, src, edit);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->version.value, 2u);
  EXPECT_TRUE(v2->sha256_pending);  // completed off the close path
  // The chunk holding the byte and at most a few neighbours (max 256 KiB each).
  EXPECT_LE(src.bytes_read(), 3u * 256 * 1024 + (1 << 20));
  EXPECT_GT(src.bytes_read(), 0u);
  const uint64_t added = StoredBytes() - stored_before;
  EXPECT_GT(added, 0u);
  EXPECT_LE(added, 2u * 256 * 1024);
  // The catalog too grows by what changed (docs/catalog.md, segments): the
  // new version reuses every segment of v1 but the one or two the edit is in.
  EXPECT_LE(catalog_aging::RawInt(db, "SELECT count(*) FROM segments") - segments_before, 2);
  EXPECT_LE(catalog_aging::RawInt(db, "SELECT count(*) FROM chunks") - chunks_before, 3);
  // Every segment of v1 but the (at most two) the edit lands in is shared:
  // at least one of the 3+ of an encrypted list (FullWithSegments); the
  // plain list's cut is fixed, two segments with the edit in the second.
  const int64_t shared =
      catalog_aging::RawInt(db, "SELECT count(*) FROM segments WHERE refs >= 2");
  if (GetParam()) {
    ASSERT_GE(segments_before, 3);
    EXPECT_GE(shared, segments_before - 2);
  } else {
    EXPECT_EQ(segments_before, 2);
    EXPECT_EQ(shared, 1);
  }
  EXPECT_EQ(ReadAll(ino_, v2->version), content);
  auto done = b_->CompleteSha256(*v2);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->sha256, Sha256Of(content));
}

TEST_P(BucketEditTest, RandomEditsMatchTheModelAndAFullIngestsChunks) {
  std::mt19937_64 rng(GetParam() ? 11 : 7);
  std::string content = RandomBytes(6 << 20, 2);
  VersionInfo base = Full(ino_, content);
  const InodeId twin = NewFile("twin");
  for (int round = 0; round < 40; ++round) {
    EditedRanges edit{ino_, base.version, content.size(), {}};
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 6) {  // overwrite in place, maybe past the end
        uint64_t off = rng() % (content.size() + 1000);
        uint64_t len = 1 + rng() % 100000;
        if (off + len > content.size()) content.resize(off + len, '\0');
        std::string data = RandomBytes(len, rng());
        content.replace(off, len, data);
        edit.dirty.emplace_back(off, off + len);
      } else if (kind < 8) {  // append
        uint64_t len = 1 + rng() % 50000;
        edit.dirty.emplace_back(content.size(), content.size() + len);
        content += RandomBytes(len, rng());
      } else {  // truncate shorter (keep it above the incremental minimum)
        uint64_t cut = std::max<uint64_t>(2 << 20, content.size() - rng() % 300000);
        if (cut < content.size()) {
          content.resize(cut);
          edit.base_valid = std::min(edit.base_valid, cut);
        }
      }
    }
    // The session reports block-aligned, possibly overlapping, ranges.
    for (auto& [a, b] : edit.dirty) {
      a -= a % 4096;
      b += (4096 - b % 4096) % 4096;
    }
    ModelSource src(content);
    auto v = b_->CommitEdit(ino_, src, edit);
    ASSERT_TRUE(v.ok()) << "round " << round << ": " << v.status().ToString();
    ASSERT_EQ(v->size, content.size());
    ASSERT_EQ(ReadAll(ino_, v->version), content) << "round " << round;
    // Canonical chunking: the same content ingested in full adds nothing.
    const uint64_t before = StoredBytes();
    VersionInfo t = Full(twin, content);
    EXPECT_EQ(StoredBytes(), before) << "round " << round;
    EXPECT_EQ(t.sha256, Sha256Of(content));
    // And the same segments, chunk count and stored bytes.
    ExpectSameList(*v, t, "round " + std::to_string(round));
    base = *v;
  }
}

TEST_P(BucketEditTest, HolesOfTheNewContentAreNotReadAndStayHoles) {
  std::string content = RandomBytes(8 << 20, 3);
  VersionInfo v1 = Full(ino_, content);
  // Punch 1 MiB and extend by a 4 MiB hole plus a tail.
  std::fill_n(content.begin() + (2 << 20), 1 << 20, '\0');
  const uint64_t old_size = content.size();
  content.resize(old_size + (4 << 20), '\0');
  std::string tail = RandomBytes(5000, 4);
  content += tail;
  ModelSource src(content, {{2 << 20, 3 << 20}, {old_size, old_size + (4 << 20)}});
  EditedRanges edit{ino_, v1.version, old_size, {{2 << 20, 3 << 20}}};
  auto v2 = b_->CommitEdit(ino_, src, edit);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(ReadAll(ino_, v2->version), content);
  auto r = b_->OpenVersion(ino_, v2->version);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->held_bytes(), content.size() - (1 << 20) - (4 << 20));
  Extent e = (*r)->ExtentAt(old_size + 10);
  EXPECT_TRUE(e.hole);
  EXPECT_EQ(e.len, (4u << 20) - 10);
}

TEST_P(BucketEditTest, AGoneBaseOrABigChangeTakesTheFullPath) {
  std::string a = RandomBytes(4 << 20, 5);
  VersionInfo v1 = Full(ino_, a);
  std::string b = a;
  b[100] ^= 1;
  VersionInfo v2 = Full(ino_, b);
  // Edit of v1, which is then deleted: everything is read, nothing is lost.
  ASSERT_TRUE(b_->DeleteVersion(ino_, v1.version).ok());
  std::string c = a;
  c[3 << 20] ^= 1;
  ModelSource src(c);
  auto v3 = b_->CommitEdit(ino_, src, {ino_, v1.version, c.size(), {{3 << 20, (3 << 20) + 1}}});
  ASSERT_TRUE(v3.ok()) << v3.status().ToString();
  EXPECT_EQ(src.bytes_read(), c.size());
  EXPECT_FALSE(v3->sha256_pending);
  EXPECT_EQ(v3->sha256, Sha256Of(c));
  EXPECT_EQ(ReadAll(ino_, v3->version), c);
  // More than half changed: the full path, SHA-256 inline.
  std::string d = RandomBytes(4 << 20, 6);
  ModelSource src2(d);
  auto v4 = b_->CommitEdit(ino_, src2, {ino_, v3->version, d.size(), {{0, d.size()}}});
  ASSERT_TRUE(v4.ok());
  EXPECT_FALSE(v4->sha256_pending);
  EXPECT_EQ(ReadAll(ino_, v4->version), d);
  (void)v2;
}

// The edits at the edges of segments and of the file, each checked against a
// full commit of the same content (same segments, count and stored bytes).
TEST_P(BucketEditTest, EditsAtSegmentBoundariesAndTheEnds) {
  std::string content = RandomBytes(40 << 20, 8);
  VersionInfo base = FullWithSegments(content, 3);
  auto segs = Segments(base);
  ASSERT_TRUE(segs.ok());
  ASSERT_GE(segs->size(), 3u);
  uint64_t boundary = 0;  // the start of the second segment
  boundary = (*segs)[0].size;
  // Bytes on both sides of a segment boundary.
  content[boundary - 1] ^= 1;
  content[boundary] ^= 1;
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{boundary - 1, boundary + 1}}}, "across a boundary");
  // The very last byte.
  content.back() ^= 1;
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{content.size() - 1, content.size()}}}, "last byte");
  // The very first byte.
  content[0] ^= 1;
  base = EditAndCheck(base, content, {ino_, base.version, content.size(), {{0, 1}}},
                      "first byte");
  // Extended by a tail (the base's last segment is no longer last).
  const uint64_t old_size = content.size();
  content += RandomBytes(3 << 20, 9);
  base = EditAndCheck(base, content, {ino_, base.version, old_size,
                                      {{old_size, content.size()}}}, "extended");
  // Truncated inside a segment (its middle), then inside the last chunk.
  segs = Segments(base);
  ASSERT_TRUE(segs.ok());
  uint64_t at = 0;
  for (size_t k = 0; k + 2 < segs->size(); ++k) at += (*segs)[k].size;
  const uint64_t cut = at + (*segs)[segs->size() - 2].size / 2;
  content.resize(cut);
  base = EditAndCheck(base, content, {ino_, base.version, cut, {}}, "truncated in a segment");
  content.resize(content.size() - 100);
  base = EditAndCheck(base, content, {ino_, base.version, content.size(), {}},
                      "truncated by 100 bytes");
  // Edits in two far segments at once.
  content[1 << 20] ^= 1;
  content[30 << 20] ^= 1;
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{1 << 20, (1 << 20) + 1}, {30 << 20, (30 << 20) + 1}}},
                      "two segments");
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
}

// Content repeated within the file: a chunk the edit replaces in one copy
// is still held by the other, so the stored bytes must not drop by it
// (the case the rows alone cannot tell: the reused segments are read).
TEST_P(BucketEditTest, StoredBytesOfRepeatedContentStayExact) {
  const std::string half = RandomBytes(12 << 20, 10);
  std::string content = half + half;
  VersionInfo base = Full(ino_, content);
  content[3 << 20] ^= 1;  // in the first copy only
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{3 << 20, (3 << 20) + 1}}}, "first copy");
  content[3 << 20] ^= 1;  // back: the first copy as the second again
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{3 << 20, (3 << 20) + 1}}}, "restored");
  content[(12 << 20) + (5 << 20)] ^= 1;  // the second copy
  base = EditAndCheck(base, content, {ino_, base.version, content.size(),
                                      {{(12 << 20) + (5 << 20), (12 << 20) + (5 << 20) + 1}}},
                      "second copy");
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketEditTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

}  // namespace
}  // namespace katamari

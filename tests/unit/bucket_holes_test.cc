// Holes (docs/catalog.md, "versions.chunks encoding"): hole refs recorded
// without reading or storing the zeros, pending SHA-256s completed on
// request, EFBIG past kMaxFileSize, and CancelWork abandoning a commit.
// Plain and encrypted buckets.
#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "store/bucket.h"
#include "store/sha256.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

// A stream of data pieces and holes that counts the bytes it is asked to
// read: holes must never be read.
class SparseSource : public ByteSource {
 public:
  struct Piece {
    std::string data;  // empty: a hole of hole_len
    uint64_t hole_len = 0;
  };
  explicit SparseSource(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    if (i_ >= pieces_.size()) return size_t{0};
    const Piece& p = pieces_[i_];
    if (p.data.empty()) return Status::InvalidArgument("read inside a hole");
    size_t k = std::min(n, p.data.size() - pos_);
    std::copy_n(p.data.data() + pos_, k, buf);
    pos_ += k;
    read_ += k;
    if (pos_ == p.data.size()) Advance();
    if (on_read) on_read(read_);
    return k;
  }
  Result<Extent> Next() override {
    if (i_ >= pieces_.size()) return Extent{false, 0};
    const Piece& p = pieces_[i_];
    if (p.data.empty()) return Extent{true, p.hole_len - pos_};
    return Extent{false, p.data.size() - pos_};
  }
  Status SkipHole(uint64_t n) override {
    if (i_ >= pieces_.size() || !pieces_[i_].data.empty() || n != pieces_[i_].hole_len - pos_) {
      return Status::InvalidArgument("skip past the hole");
    }
    Advance();
    return Status::OK();
  }
  uint64_t bytes_read() const { return read_; }
  std::function<void(uint64_t)> on_read;

  // The whole content as bytes (only for modest holes).
  std::string Flat() const {
    std::string out;
    for (const Piece& p : pieces_) out += p.data.empty() ? std::string(p.hole_len, '\0') : p.data;
    return out;
  }

 private:
  void Advance() {
    ++i_;
    pos_ = 0;
  }
  std::vector<Piece> pieces_;
  size_t i_ = 0;
  uint64_t pos_ = 0, read_ = 0;
};

SparseSource::Piece Data(std::string d) { return {std::move(d), 0}; }
SparseSource::Piece Hole(uint64_t n) { return {std::string(), n}; }

class BucketHolesTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-holes-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/b";
    Bucket::OpenOptions o;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(root_ + "/key").ok());
      o.key = BucketKey::KeyFile(root_ + "/key");
      ASSERT_TRUE(Bucket::Create(dir_, {}, o.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    }
    auto r = Bucket::Open(dir_, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
    auto f = b_->MakeNode(kRootInode, "f", FileKind::kRegular, 0644, 0, 0);
    ASSERT_TRUE(f.ok());
    ino_ = f->ino;
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  std::string ReadAll(const VersionInfo& v) {
    auto r = b_->OpenVersion(v.ino, v.version);
    EXPECT_TRUE(r.ok());
    std::string out(v.size, 'x');
    size_t got = 0;
    EXPECT_TRUE((*r)->ReadAt(0, out.size(), out.data(), &got).ok());
    EXPECT_EQ(got, v.size);
    return out;
  }

  std::string root_, dir_;
  std::unique_ptr<Bucket> b_;
  InodeId ino_;
};

TEST_P(BucketHolesTest, CommitRecordsHolesUnreadAndLeavesTheShaPending) {
  const uint64_t tb = uint64_t{1} << 40;
  std::string head = RandomBytes(100000, 1), tail = RandomBytes(5000, 2);
  SparseSource src({Data(head), Hole(tb), Hole(tb), Data(tail)});
  auto v = b_->CommitContent(ino_, src);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(src.bytes_read(), head.size() + tail.size());
  EXPECT_EQ(v->size, 2 * tb + head.size() + tail.size());
  EXPECT_TRUE(v->sha256_pending);
  auto stats = b_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->raw_chunk_bytes, head.size() + tail.size());  // the holes store nothing

  auto r = b_->OpenVersion(ino_, v->version);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->held_bytes(), head.size() + tail.size());
  Extent e = (*r)->ExtentAt(0);
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.len, head.size());
  e = (*r)->ExtentAt(head.size() + 7);
  EXPECT_TRUE(e.hole);
  EXPECT_EQ(e.len, 2 * tb - 7);  // one run, however many refs it takes
  std::string buf(8192, 'x');
  size_t got = 0;
  ASSERT_TRUE((*r)->ReadAt(tb, buf.size(), buf.data(), &got).ok());
  EXPECT_EQ(buf, std::string(8192, '\0'));
  ASSERT_TRUE((*r)->ReadAt(2 * tb + head.size(), tail.size(), buf.data(), &got).ok());
  EXPECT_EQ(buf.substr(0, got), tail);
  auto held = b_->HeldBytes(ino_, v->version);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(*held, head.size() + tail.size());
}

TEST_P(BucketHolesTest, PendingShaIsCompletedStoredAndChecked) {
  SparseSource src({Hole(3 << 20), Data(RandomBytes(70000, 3)), Hole(5000)});
  const std::string flat = src.Flat();
  auto v = b_->CommitContent(ino_, src);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->sha256_pending);
  EXPECT_EQ(ReadAll(*v), flat);
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);

  auto done = b_->CompleteSha256(*v);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_FALSE(done->sha256_pending);
  EXPECT_EQ(done->sha256, Sha256Of(flat));
  auto again = b_->GetVersion(ino_, v->version);  // stored in the row
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->sha256_pending);
  EXPECT_EQ(again->sha256, Sha256Of(flat));
  auto listed = b_->Versions("f");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->back().sha256, Sha256Of(flat));
  StringSink sink;
  ASSERT_TRUE(b_->Get("f", {}, sink).ok());
  EXPECT_EQ(sink.out, flat);
  fsck = b_->Fsck();  // now compares the stored digest
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);

  // Restore copies hole refs (no refs to raise); deleting versions and gc
  // leave nothing behind and fsck stays clean.
  ASSERT_TRUE(b_->Restore("f", VersionSelector{v->version, {}}).ok());
  ASSERT_TRUE(b_->DeleteVersion(ino_, v->version).ok());
  ASSERT_TRUE(b_->Gc().ok());
  fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  StringSink sink2;
  ASSERT_TRUE(b_->Get("f", {}, sink2).ok());
  EXPECT_EQ(sink2.out, flat);
}

TEST_P(BucketHolesTest, PutHashesHolesInline) {
  SparseSource src({Data("abc"), Hole(1 << 20), Data("xyz")});
  const std::string flat = src.Flat();
  auto v = b_->Put("p", src, {});
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->sha256_pending);
  EXPECT_EQ(v->sha256, Sha256Of(flat));
  EXPECT_EQ(src.bytes_read(), 6u);
  StringSink sink;
  ASSERT_TRUE(b_->Get("p", {}, sink).ok());
  EXPECT_EQ(sink.out, flat);
}

TEST_P(BucketHolesTest, PastTheLargestSizeIsTooBig) {
  SparseSource src({Hole(kMaxFileSize), Data("x")});
  auto v = b_->CommitContent(ino_, src);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), Status::Code::kTooBig);
  auto a = b_->GetAttr(ino_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->current_version.value, 0u);
  SparseSource fits({Hole(kMaxFileSize - 1), Data("x")});
  EXPECT_TRUE(b_->CommitContent(ino_, fits).ok());
}

TEST_P(BucketHolesTest, CancelWorkAbandonsACommitInFlight) {
  std::string first = RandomBytes(200000, 4);
  StringSource one(first);
  auto v1 = b_->CommitContent(ino_, one);
  ASSERT_TRUE(v1.ok());
  // The shutdown comes while the second commit reads its data.
  SparseSource src({Data(RandomBytes(24 << 20, 5))});
  src.on_read = [&](uint64_t n) {
    if (n > (8 << 20)) b_->CancelWork();
  };
  auto v2 = b_->CommitContent(ino_, src);
  ASSERT_FALSE(v2.ok());
  EXPECT_TRUE(v2.status().IsCancelled()) << v2.status().ToString();
  EXPECT_LT(src.bytes_read(), uint64_t{24} << 20);  // stopped early
  auto a = b_->GetAttr(ino_);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->current_version, v1->version);  // rolled back: no row of its own
  EXPECT_TRUE(b_->cancelled());
  StringSource later("later");
  EXPECT_TRUE(b_->CommitContent(ino_, later).status().IsCancelled());
  EXPECT_TRUE(b_->Sync().ok());  // metadata and sync keep working
  b_.reset();
  Bucket::OpenOptions o;
  if (GetParam()) o.key = BucketKey::KeyFile(root_ + "/key");
  auto r = Bucket::Open(dir_, o);
  ASSERT_TRUE(r.ok());
  auto fsck = (*r)->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  auto v = (*r)->GetVersion(ino_, v1->version);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->sha256, Sha256Of(first));
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketHolesTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

}  // namespace
}  // namespace katamari

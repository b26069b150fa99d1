// Incremental commits (Bucket::CommitEdit) on a bucket that stores delta
// chunks (docs/chunk-format.md, "Delta chunks"): random edits, most of them
// small changes that make the changed chunks patches on the chunks they
// replace, checked against a model version by version; then fsck, deletes
// of old versions (whose chunks are bases), gc, fsck, and every version
// that is left read again in a new process. Plain and encrypted buckets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "store/bucket.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::RandomBytes;

class StringRandomSource : public RandomSource {
 public:
  explicit StringRandomSource(const std::string& data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  Status ReadAt(uint64_t off, size_t n, char* buf) override {
    if (off > data_.size()) return Status::InvalidArgument("read past the end");
    std::copy_n(data_.data() + off, std::min<uint64_t>(n, data_.size() - off), buf);
    return Status::OK();
  }
  Result<Extent> ExtentAt(uint64_t off) override { return Extent{false, data_.size() - off}; }

 private:
  const std::string& data_;
};

class BucketDeltaEditTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    BucketSettings st;
    st.delta_chunks = true;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(dir_ + ".key").ok());
      opts_.key = BucketKey::KeyFile(dir_ + ".key");
      ASSERT_TRUE(Bucket::Create(dir_, st, opts_.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, st).ok());
    }
    Reopen();
    ASSERT_TRUE(b_->settings().delta_chunks);
    auto f = b_->MakeNode(kRootInode, "f", FileKind::kRegular, 0644, 0, 0);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ino_ = f->ino;
  }
  void TearDown() override { b_.reset(); }
  void Reopen() {
    b_.reset();
    auto r = Bucket::Open(dir_, opts_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  std::string ReadAll(VersionNo v) {
    auto r = b_->OpenVersion(ino_, v);
    EXPECT_TRUE(r.ok()) << "version " << v.value << ": " << r.status().ToString();
    if (!r.ok()) return "";
    std::string out((*r)->info().size, 'x');
    size_t got = 0;
    Status st = (*r)->ReadAt(0, out.size(), out.data(), &got);
    EXPECT_TRUE(st.ok()) << "version " << v.value << ": " << st.ToString();
    EXPECT_EQ(got, out.size());
    return out;
  }
  // Every version in `model` reads back exactly, and no other exists.
  void ExpectModel(const std::map<uint64_t, std::string>& model, const std::string& when) {
    auto vs = b_->ListVersions(ino_);
    ASSERT_TRUE(vs.ok()) << vs.status().ToString();
    std::vector<uint64_t> have, want;
    for (const VersionInfo& v : *vs) have.push_back(v.version.value);
    for (const auto& [v, content] : model) want.push_back(v);
    EXPECT_EQ(have, want) << when;
    for (const auto& [v, content] : model) {
      EXPECT_TRUE(ReadAll(VersionNo(v)) == content) << when << ": version " << v;
    }
  }
  void ExpectFsckClean(const std::string& when) {
    auto f = b_->Fsck();
    ASSERT_TRUE(f.ok()) << when << ": " << f.status().ToString();
    EXPECT_TRUE(f->ok()) << when << ": " << (f->problems.empty() ? "" : f->problems[0]);
  }
  int64_t DeltaRows() {
    return catalog_aging::RawInt(dir_ + "/catalog.db",
                                 "SELECT count(*) FROM chunks WHERE delta_base IS NOT NULL");
  }

  testing_util::TempDir tmp_{"deltaedit"};
  std::string dir_;
  Bucket::OpenOptions opts_;
  std::unique_ptr<Bucket> b_;
  InodeId ino_;
};

TEST_P(BucketDeltaEditTest, RandomEditsReadBackBeforeAndAfterGc) {
  std::mt19937_64 rng(GetParam() ? 23 : 17);
  std::string content = RandomBytes(4 << 20, GetParam() ? 5 : 6);
  std::map<uint64_t, std::string> model;
  VersionNo base;
  {
    StringSource src(content);
    auto v = b_->CommitContent(ino_, src);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    model[v->version.value] = content;
    base = v->version;
  }
  int incremental = 0;
  for (int round = 0; round < 30; ++round) {
    EditedRanges edit{ino_, base, content.size(), {}};
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 6) {  // a few bytes changed in place: the chunk becomes a delta
        const uint64_t off = rng() % content.size();
        const uint64_t len = std::min<uint64_t>(1 + rng() % 64, content.size() - off);
        for (uint64_t i = off; i < off + len; ++i) content[i] ^= static_cast<char>(1 + rng() % 255);
        edit.dirty.emplace_back(off, off + len);
      } else if (kind < 7) {  // new bytes over a run, maybe past the end
        const uint64_t off = rng() % (content.size() + 1000);
        const uint64_t len = 1 + rng() % 80000;
        if (off + len > content.size()) content.resize(off + len, '\0');
        content.replace(off, len, RandomBytes(len, rng()));
        edit.dirty.emplace_back(off, off + len);
      } else if (kind < 9) {  // a short append, as to a log
        const uint64_t len = 1 + rng() % 2000;
        edit.dirty.emplace_back(content.size(), content.size() + len);
        content += RandomBytes(len, rng());
      } else {  // truncate shorter (above the incremental minimum)
        const uint64_t cut = std::max<uint64_t>(3 << 20, content.size() - rng() % 200000);
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
    StringRandomSource src(content);
    auto v = b_->CommitEdit(ino_, src, edit);
    ASSERT_TRUE(v.ok()) << "round " << round << ": " << v.status().ToString();
    ASSERT_EQ(v->size, content.size()) << "round " << round;
    incremental += v->sha256_pending ? 1 : 0;
    model[v->version.value] = content;
    base = v->version;
    ASSERT_TRUE(ReadAll(v->version) == content) << "round " << round;
  }
  EXPECT_EQ(model.size(), 31u);
  std::printf("%lld delta chunks, %d incremental commits\n", static_cast<long long>(DeltaRows()),
              incremental);
  EXPECT_GT(DeltaRows(), 15) << "the in-place changes are stored as deltas";
  EXPECT_GE(incremental, 25) << "the edits take the incremental path";
  ExpectModel(model, "after the edits");
  ExpectFsckClean("after the edits");

  // Every third old version goes, bases among them; gc keeps what deltas need.
  for (auto it = model.begin(); it != model.end();) {
    if (it->first % 3 == 1 && it->first != base.value) {
      ASSERT_TRUE(b_->DeleteVersion(ino_, VersionNo(it->first)).ok()) << it->first;
      it = model.erase(it);
    } else {
      ++it;
    }
  }
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  ExpectFsckClean("after gc");
  ExpectModel(model, "after gc");
  Reopen();  // and in a new process (locations and bases from the catalog)
  ExpectModel(model, "reopened");
  ExpectFsckClean("reopened");
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, BucketDeltaEditTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

}  // namespace
}  // namespace katamari

// Prune's bytes freed with delta chunks (docs/chunk-format.md, "Delta
// chunks"): a delta chunk's row holds its base, so a base goes only with
// the last delta that needs it, in the same gc. Each shape checks that what
// prune reports (dry run and real) is exactly the stored bytes gc then
// reclaims, and that what `katamari du` / `stats PATH` call history
// (Bucket::Space's history_bytes, of each file and of the whole bucket) is
// exactly what deleting those old versions and gc free. Plain and
// encrypted buckets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using catalog_aging::RawInt;
using testing_util::RandomBytes;

// 12 KB: under the chunker's minimum, so each version is one chunk.
constexpr size_t kSize = 12000;

// `s` with a few bytes at `at` changed: a delta on `s` pays.
std::string Edit(std::string s, size_t at) {
  for (size_t i = 0; i < 8; ++i) s[(at + i) % s.size()] ^= 0x5a;
  return s;
}

class PruneDeltaTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    Bucket::OpenOptions& o = open_;
    BucketSettings st;
    st.delta_chunks = true;
    if (GetParam()) {
      ASSERT_TRUE(Bucket::CreateKeyFile(dir_ + ".key").ok());
      o.key = BucketKey::KeyFile(dir_ + ".key");
      ASSERT_TRUE(Bucket::Create(dir_, st, o.key).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, st).ok());
    }
    auto r = Bucket::Open(dir_, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  void TearDown() override { b_.reset(); }

  void Put(const std::string& key, const std::string& data) {
    StringSource src(data);
    auto r = b_->Put(key, src, {});
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }
  // The versions of `key` made from `data` in turn.
  void PutAll(const std::string& key, const std::vector<std::string>& data) {
    for (const std::string& d : data) Put(key, d);
  }
  std::string Get(const std::string& key, uint64_t v) {
    StringSink sink;
    VersionSelector sel;
    sel.version = VersionNo(v);
    Status st = b_->Get(key, sel, sink);
    EXPECT_TRUE(st.ok()) << key << "@" << v << ": " << st.ToString();
    return sink.out;
  }
  void Policy(const std::string& pattern, uint64_t keep_last) {
    auto rules = RetentionRules::Parse({"keep-last=" + std::to_string(keep_last)});
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    ASSERT_TRUE(b_->SetPolicy(pattern, *rules).ok());
  }
  int64_t DeltaRows() {
    return RawInt(dir_ + "/catalog.db",
                  "SELECT count(*) FROM chunks WHERE delta_base IS NOT NULL");
  }
  uint64_t Stored() {
    auto st = b_->Stats();
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->stored_bytes : 0;
  }
  void ExpectFsckClean() {
    auto f = b_->Fsck();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
  }
  // Prunes (a dry run first, which must say the same), gc's, and checks
  // that the bytes reported are the stored bytes that went, less those of
  // garbage that was there before (`garbage`). Returns them.
  uint64_t PruneAndMeasure(uint64_t garbage = 0) {
    ExpectFsckClean();
    const uint64_t before = Stored();
    PruneOptions dry;
    dry.dry_run = true;
    auto d = b_->Prune(dry);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(Stored(), before) << "a dry run frees nothing";
    auto r = b_->Prune({});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto gc = b_->Gc();
    EXPECT_TRUE(gc.ok()) << gc.status().ToString();
    const uint64_t after = Stored();
    if (!d.ok() || !r.ok()) return 0;
    EXPECT_EQ(d->bytes_freed, r->bytes_freed);
    EXPECT_EQ(r->bytes_freed + garbage, before - after)
        << "reported " << r->bytes_freed << ", gc reclaimed " << before - after << " with "
        << garbage << " garbage already";
    ExpectFsckClean();
    return r->bytes_freed;
  }

  // On a copy of the bucket (this one is closed meanwhile): the stored
  // bytes that deleting every version of `keys` but the current one, and
  // gc, free (garbage there before is gc'd first, so not counted).
  uint64_t FreedByDeletingHistory(const std::vector<std::string>& keys) {
    b_.reset();
    const std::string copy = dir_ + ".copy" + std::to_string(++copies_);
    std::filesystem::copy(dir_, copy, std::filesystem::copy_options::recursive);
    uint64_t freed = 0;
    {
      auto r = Bucket::Open(copy, open_);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) {
        std::unique_ptr<Bucket> c = std::move(*r);
        EXPECT_TRUE(c->Gc().ok());
        const uint64_t before = c->Stats()->stored_bytes;
        for (const std::string& k : keys) {
          auto vs = c->Versions(k);
          EXPECT_TRUE(vs.ok()) << k << ": " << vs.status().ToString();
          if (!vs.ok()) continue;
          for (size_t i = 0; i + 1 < vs->size(); ++i) {
            Status st = c->DeleteVersion(k, (*vs)[i].version);
            EXPECT_TRUE(st.ok()) << k << "@" << (*vs)[i].version.value << ": " << st.ToString();
          }
        }
        EXPECT_TRUE(c->Gc().ok());
        freed = before - c->Stats()->stored_bytes;
      }
    }
    std::filesystem::remove_all(copy);
    auto r = Bucket::Open(dir_, open_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) b_ = std::move(*r);
    return freed;
  }
  // du's history bytes of each of `keys` and of the whole bucket are what
  // deleting their old versions (each file's alone, then all) and gc free.
  void ExpectHistoryBytesAreWhatGcFrees(const std::vector<std::string>& keys) {
    auto space = b_->Space("");
    ASSERT_TRUE(space.ok()) << space.status().ToString();
    for (const std::string& k : keys) {
      const SpaceEntry* f = nullptr;
      for (const SpaceEntry& e : space->files) {
        if (e.path == k) f = &e;
      }
      ASSERT_NE(f, nullptr) << k;
      EXPECT_EQ(f->history_bytes, FreedByDeletingHistory({k})) << "history bytes of " << k;
      EXPECT_LE(f->history_bytes, f->stored_bytes) << k;
    }
    EXPECT_EQ(space->total.history_bytes, FreedByDeletingHistory(keys)) << "history bytes in all";
    EXPECT_LE(space->total.history_bytes, space->total.stored_bytes);
  }

  testing_util::TempDir tmp_{"prunedelta"};
  Bucket::OpenOptions open_;
  int copies_ = 0;
  std::string dir_;
  std::unique_ptr<Bucket> b_;
};

// v1 A, v2 A' (a delta on A), v3 other bytes: both A and A' go.
TEST_P(PruneDeltaTest, ADeltaAndItsBaseGoTogether) {
  const std::string a = RandomBytes(kSize, 1), c = RandomBytes(kSize, 2);
  PutAll("f", {a, Edit(a, 100), c});
  ASSERT_EQ(DeltaRows(), 1);
  const uint64_t all = Stored();
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  Policy("", 1);
  const uint64_t freed = PruneAndMeasure();
  EXPECT_EQ(DeltaRows(), 0);
  EXPECT_GT(freed, kSize) << "the base's bytes are freed too";
  EXPECT_EQ(Stored(), all - freed);
  EXPECT_EQ(Get("f", 3), c);
}

// A chain of three deltas on A, and then other bytes: the whole chain goes.
TEST_P(PruneDeltaTest, AChainOfThreeGoesWhole) {
  const std::string a = RandomBytes(kSize, 3), c = RandomBytes(kSize, 4);
  const std::string a1 = Edit(a, 100), a2 = Edit(a1, 3000), a3 = Edit(a2, 6000);
  PutAll("f", {a, a1, a2, a3, c});
  ASSERT_EQ(DeltaRows(), 3);
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  Policy("", 1);
  EXPECT_GT(PruneAndMeasure(), kSize);
  EXPECT_EQ(DeltaRows(), 0);
  EXPECT_EQ(Get("f", 5), c);
}

// The chain's last delta is the current version: every link stays.
TEST_P(PruneDeltaTest, AKeptDeltaKeepsItsWholeChain) {
  const std::string a = RandomBytes(kSize, 5);
  const std::string a1 = Edit(a, 100), a2 = Edit(a1, 3000);
  PutAll("f", {a, a1, a2});
  ASSERT_EQ(DeltaRows(), 2);
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  Policy("", 1);
  EXPECT_EQ(PruneAndMeasure(), 0u);
  EXPECT_EQ(DeltaRows(), 2);
  EXPECT_EQ(Get("f", 3), a2);
}

// f: A, A' (delta on A), other; g: A, A'' (delta on A). Pruned to one
// version each: A' goes, A stays for A''.
TEST_P(PruneDeltaTest, ABaseSharedByTwoDeltasStaysForTheOneThatSurvives) {
  const std::string a = RandomBytes(kSize, 6), c = RandomBytes(kSize, 7);
  const std::string a1 = Edit(a, 100), a2 = Edit(a, 5000);
  PutAll("f", {a, a1, c});
  PutAll("g", {a, a2});
  ASSERT_EQ(DeltaRows(), 2);
  ExpectHistoryBytesAreWhatGcFrees({"f", "g"});
  Policy("", 1);
  const uint64_t freed = PruneAndMeasure();
  EXPECT_GT(freed, 0u);
  EXPECT_LT(freed, kSize / 2) << "only the delta A' goes";
  EXPECT_EQ(DeltaRows(), 1);
  EXPECT_EQ(Get("f", 3), c);
  EXPECT_EQ(Get("g", 2), a2);
}

// f: A, A1, A2 (a chain on A), other; g: A (kept: no rule for g). The two
// deltas go; A, which g's version holds, stays.
TEST_P(PruneDeltaTest, AChainGoesDownToABaseAKeptVersionHolds) {
  const std::string a = RandomBytes(kSize, 8), c = RandomBytes(kSize, 9);
  const std::string a1 = Edit(a, 100), a2 = Edit(a1, 3000);
  PutAll("f", {a, a1, a2, c});
  Put("g", a);
  ASSERT_EQ(DeltaRows(), 2);
  ExpectHistoryBytesAreWhatGcFrees({"f", "g"});
  Policy("f", 1);
  const uint64_t freed = PruneAndMeasure();
  EXPECT_GT(freed, 0u);
  EXPECT_LT(freed, kSize / 2) << "A stays";
  EXPECT_EQ(DeltaRows(), 0);
  EXPECT_EQ(Get("g", 1), a);
  EXPECT_EQ(Get("f", 4), c);
}

// Ten edits: A, then a full chain of kMaxDeltaChain deltas, then one more
// that starts a new chain on A. Kept to the last: the old chain goes, its
// root A stays for the new one.
TEST_P(PruneDeltaTest, AFullChainGoesAndItsRootStaysForTheNextChain) {
  std::vector<std::string> vs{RandomBytes(kSize, 10)};
  for (int i = 1; i <= kMaxDeltaChain + 1; ++i) vs.push_back(Edit(vs.back(), i * 1000));
  PutAll("f", vs);
  ASSERT_EQ(DeltaRows(), kMaxDeltaChain + 1);
  ASSERT_EQ(RawInt(dir_ + "/catalog.db",
                   "SELECT max(n) FROM (SELECT count(*) AS n FROM chunks "
                   "WHERE delta_base IS NOT NULL GROUP BY delta_base)"),
            2)
      << "A is the base of the first and of the last delta";
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  Policy("", 1);
  const uint64_t freed = PruneAndMeasure();
  EXPECT_GT(freed, 0u);
  EXPECT_LT(freed, kSize / 2) << "A stays";
  EXPECT_EQ(DeltaRows(), 1);
  EXPECT_EQ(Get("f", vs.size()), vs.back());
}

// f: A, A' (a delta on A); v1 deleted, so only A' holds A; then other
// bytes. A' is history now, and A goes with it.
TEST_P(PruneDeltaTest, ABaseOnlyAnOldDeltaHoldsIsHistoryToo) {
  const std::string a = RandomBytes(kSize, 13), c = RandomBytes(kSize, 14);
  PutAll("f", {a, Edit(a, 100)});
  ASSERT_EQ(DeltaRows(), 1);
  ASSERT_TRUE(b_->DeleteVersion("f", VersionNo(1)).ok());
  ASSERT_TRUE(b_->Gc().ok());
  Put("f", c);
  ASSERT_EQ(DeltaRows(), 1) << "A' still holds A";
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  auto space = b_->Space("f");
  ASSERT_TRUE(space.ok()) << space.status().ToString();
  EXPECT_GT(space->total.history_bytes, kSize) << "A is counted";
  Policy("", 1);
  EXPECT_GT(PruneAndMeasure(), kSize);
  EXPECT_EQ(DeltaRows(), 0);
  EXPECT_EQ(Get("f", 3), c);
}

// f: A, A' (a delta on A), other. A' deleted while a writer (another
// process) holds the gc lock: A' is garbage, still holding A. Pruning v1
// frees A (with A', which was garbage already and is not counted).
TEST_P(PruneDeltaTest, GarbageThereBeforeIsNotCountedButTheBaseItHeldIs) {
  const std::string a = RandomBytes(kSize, 11), c = RandomBytes(kSize, 12);
  PutAll("f", {a, Edit(a, 100), c});
  ASSERT_EQ(DeltaRows(), 1);
  {
    const int fd = ::open((dir_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_SH), 0);
    ASSERT_TRUE(b_->DeleteVersion("f", VersionNo(2)).ok());
    ::close(fd);
  }
  const std::string db = dir_ + "/catalog.db";
  ASSERT_EQ(RawInt(db, "SELECT count(*) FROM chunks WHERE refs = 0 AND delta_base IS NOT NULL"),
            1);
  const uint64_t garbage =
      static_cast<uint64_t>(RawInt(db, "SELECT sum(stored_len) FROM chunks WHERE refs = 0"));
  ExpectHistoryBytesAreWhatGcFrees({"f"});
  Policy("", 1);
  EXPECT_GT(PruneAndMeasure(garbage), kSize) << "A is counted";
  EXPECT_EQ(DeltaRows(), 0);
  EXPECT_EQ(Get("f", 3), c);
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, PruneDeltaTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "encrypted" : "plain"; });

}  // namespace
}  // namespace katamari

// Delta chunks in a bucket (docs/chunk-format.md, "Delta chunks"): 1,000
// appends to a log cost a few hundred bytes each, every old version reads
// back exactly, gc and deletes of versions keep the bases deltas need and
// free them with the last delta, fsck finds a damaged base, and catalog
// format 7 migrates to 8.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/bucket.h"
#include "store/catalog.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using catalog_aging::RawExec;
using catalog_aging::RawInt;

// One log line of about 50 bytes, random-ish as a real one.
std::string Line(std::mt19937_64& rng) {
  char b[96];
  std::snprintf(b, sizeof(b), "12-02 03:%02u:%02u w%02u GET /api/%06x %03u %ums\n",
                static_cast<unsigned>(rng() % 60), static_cast<unsigned>(rng() % 60),
                static_cast<unsigned>(rng() % 32), static_cast<unsigned>(rng() & 0xffffff),
                static_cast<unsigned>(200 + rng() % 300), static_cast<unsigned>(rng() % 999));
  return b;
}

std::string Log(size_t bytes, std::mt19937_64& rng) {
  std::string s;
  while (s.size() < bytes) s += Line(rng);
  return s;
}

uint64_t CatalogBytes(const std::string& dir) {
  uint64_t n = 0;
  for (const char* f : {"/catalog.db", "/catalog.db-wal"}) {
    if (fs::exists(dir + f)) n += fs::file_size(dir + f);
  }
  return n;
}

int64_t DeltaRows(const std::string& dir) {
  return RawInt(dir + "/catalog.db", "SELECT count(*) FROM chunks WHERE delta_base IS NOT NULL");
}

class BucketDeltaTest : public ::testing::Test {
 public:
  void SetUp() override { dir_ = tmp_.path() + "/b"; }
  void Make(bool delta) {
    BucketSettings st;
    st.delta_chunks = delta;
    ASSERT_TRUE(Bucket::Create(dir_, st).ok());
    Reopen();
  }
  void Reopen() {
    b_.reset();
    auto r = Bucket::Open(dir_, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  void Put(const std::string& key, const std::string& data) {
    StringSource src(data);
    auto r = b_->Put(key, src, {});
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }
  Status Get(const std::string& key, std::optional<VersionNo> v, std::string* out) {
    StringSink sink;
    VersionSelector sel;
    sel.version = v;
    Status st = b_->Get(key, sel, sink);
    *out = sink.out;
    return st;
  }
  std::string GetOk(const std::string& key, std::optional<VersionNo> v = {}) {
    std::string out;
    Status st = Get(key, v, &out);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    return out;
  }
  void ExpectFsckClean() {
    auto f = b_->Fsck();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
  }

  testing_util::TempDir tmp_{"bdelta"};
  std::string dir_;
  std::unique_ptr<Bucket> b_;
};

// Puts `n` appends of one line to a 69 KB log; returns the pack and the
// catalog bytes they added, per version (the catalog measured closed, so
// that its write-ahead log is checkpointed). Every version is kept in *all.
std::pair<double, double> Appends(BucketDeltaTest* t, int n, std::vector<std::string>* all) {
  std::mt19937_64 rng(42);
  std::string log = Log(69 * 1024, rng);
  t->Put("app.log", log);
  all->push_back(log);
  t->b_.reset();
  const uint64_t packs0 = testing_util::StoredBytes(t->dir_), cat0 = CatalogBytes(t->dir_);
  t->Reopen();
  for (int i = 0; i < n; ++i) {
    log += Line(rng);
    t->Put("app.log", log);
    all->push_back(log);
  }
  t->b_.reset();
  const uint64_t packs1 = testing_util::StoredBytes(t->dir_), cat1 = CatalogBytes(t->dir_);
  t->Reopen();
  return {double(packs1 - packs0) / n, (double(cat1) - double(cat0)) / n};
}

TEST_F(BucketDeltaTest, AThousandAppendsCostLittleAndEveryVersionReadsBack) {
  Make(true);
  std::vector<std::string> all;
  auto [packs, catalog] = Appends(this, 1000, &all);
  std::printf("delta chunks: %.0f B of pack data + %.0f B of catalog per version\n", packs,
              catalog);
  EXPECT_LT(packs, 700) << "pack bytes per version (3.3 KB without delta chunks)";
  EXPECT_LT(packs + catalog, 2048) << "the aim: at most 2 KiB per version";
  EXPECT_GT(DeltaRows(dir_), 800);
  for (size_t v = 0; v < all.size(); v += 37) {
    EXPECT_TRUE(GetOk("app.log", VersionNo(v + 1)) == all[v]) << "version " << v + 1;
  }
  EXPECT_TRUE(GetOk("app.log") == all.back());
  // A new process reads them too (locations from the catalog).
  Reopen();
  for (size_t v = 1; v < all.size(); v += 101) {
    EXPECT_TRUE(GetOk("app.log", VersionNo(v + 1)) == all[v]) << "version " << v + 1;
  }
  ExpectFsckClean();
}

TEST_F(BucketDeltaTest, WithoutDeltaChunksEveryTailIsStoredWhole) {
  Make(false);
  std::vector<std::string> all;
  auto [packs, catalog] = Appends(this, 100, &all);
  std::printf("no delta chunks: %.0f B of pack data + %.0f B of catalog per version\n", packs,
              catalog);
  EXPECT_EQ(DeltaRows(dir_), 0);
  EXPECT_GT(packs, 800) << "the tail chunk is re-stored each time";
  EXPECT_TRUE(GetOk("app.log", VersionNo(50)) == all[49]);
}

// Deleting the versions whose chunks are bases keeps the bases while a
// delta needs them; gc (also repacking) moves them and keeps them readable;
// the last delta gone, gc frees them all.
TEST_F(BucketDeltaTest, DeletesAndGcKeepBasesAliveUntilTheLastDeltaGoes) {
  Make(true);
  b_->SetPackTargetSizeForTesting(64 << 10);
  std::vector<std::string> all;
  Appends(this, 20, &all);
  ASSERT_GT(DeltaRows(dir_), 10);
  Put("other", Log(30000, *std::make_unique<std::mt19937_64>(7)));
  const std::string other = GetOk("other");
  // Every version but the last: each base is now held only by deltas.
  for (int v = 1; v <= 20; ++v) ASSERT_TRUE(b_->DeleteVersion("app.log", VersionNo(v)).ok());
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_TRUE(GetOk("app.log") == all.back());
  ExpectFsckClean();
  Reopen();
  EXPECT_TRUE(GetOk("app.log") == all.back());
  // The last version gone: the whole chain is garbage.
  ASSERT_TRUE(b_->Purge("app.log").ok());
  ASSERT_TRUE(b_->Gc().ok());
  EXPECT_EQ(RawInt(dir_ + "/catalog.db", "SELECT count(*) FROM chunks"),
            RawInt(dir_ + "/catalog.db", "SELECT count(*) FROM chunks WHERE refs > 0"));
  EXPECT_EQ(DeltaRows(dir_), 0);
  EXPECT_TRUE(GetOk("other") == other);
  EXPECT_LT(testing_util::StoredBytes(dir_), 40000u) << "only `other` is left";
  ExpectFsckClean();
}

TEST_F(BucketDeltaTest, PruneByPolicyKeepsTheBasesOfKeptVersions) {
  Make(true);
  std::vector<std::string> all;
  Appends(this, 12, &all);
  auto rules = RetentionRules::Parse({"keep-last=2"});
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  ASSERT_TRUE(b_->SetPolicy("", *rules).ok());
  PruneOptions opts;
  auto rep = b_->Prune(opts);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  ASSERT_TRUE(b_->Gc().ok());
  EXPECT_TRUE(GetOk("app.log") == all.back());
  EXPECT_TRUE(GetOk("app.log", VersionNo(12)) == all[11]);
  std::string gone;
  EXPECT_FALSE(Get("app.log", VersionNo(3), &gone).ok());
  ExpectFsckClean();
}

// A damaged base: the deltas on it are Corruption (EIO on the mount), never
// other bytes, and fsck names the versions that use them.
TEST_F(BucketDeltaTest, FsckFindsADamagedBase) {
  Make(true);
  std::vector<std::string> all;
  Appends(this, 3, &all);
  ASSERT_TRUE(b_->DeleteVersion("app.log", VersionNo(1)).ok());
  // The base of the chain: the one delta_base no delta row names as itself.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/catalog.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT hex(delta_base) FROM chunks WHERE delta_base IS NOT NULL "
                               "AND delta_base NOT IN (SELECT id FROM chunks WHERE delta_base IS "
                               "NOT NULL)",
                               -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  std::string base_hex = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  for (char& c : base_hex) c = static_cast<char>(std::tolower(c));
  b_.reset();
  bool damaged = false;
  for (const auto& c : testing_util::StoredChunks(dir_)) {
    if (c.id_hex != base_hex) continue;
    std::fstream f(c.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(c.offset + c.length / 2));
    f.put('\x5a');
    damaged = true;
  }
  ASSERT_TRUE(damaged) << "base " << base_hex << " not found";
  Reopen();
  std::string out;
  Status s = Get("app.log", {}, &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(base_hex), std::string::npos) << s.message();
  auto f = b_->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(f->ok());
  bool named = false;
  for (const std::string& d : f->damaged) named = named || d.find("app.log@4") != std::string::npos;
  EXPECT_TRUE(named) << (f->damaged.empty() ? "nothing damaged" : f->damaged[0]);
}

// Format 7 (no delta_base column, no setting) migrates to 8: the column is
// added, delta chunks are on, old versions read, new appends are deltas.
TEST_F(BucketDeltaTest, Format7MigratesTo8) {
  Make(false);
  std::vector<std::string> all;
  Appends(this, 3, &all);
  b_.reset();
  const std::string cat = dir_ + "/catalog.db";
  RawExec(cat, catalog_aging::kDeltaToFormat7);
  ASSERT_EQ(RawInt(cat, "SELECT value FROM meta WHERE key = 'format_version'"), 7);
  Reopen();
  EXPECT_EQ(RawInt(cat, "SELECT value FROM meta WHERE key = 'format_version'"), 8);
  EXPECT_EQ(RawInt(cat, "SELECT value FROM meta WHERE key = 'delta_chunks'"), 1);
  EXPECT_TRUE(b_->settings().delta_chunks);
  for (size_t v = 0; v < all.size(); ++v) {
    EXPECT_TRUE(GetOk("app.log", VersionNo(v + 1)) == all[v]);
  }
  std::mt19937_64 rng(5);
  Put("app.log", all.back() + Line(rng));
  EXPECT_EQ(DeltaRows(dir_), 1);
  ExpectFsckClean();
  // A fresh format-8 catalog has the same schema as a migrated one.
  testing_util::TempDir other("bdelta8");
  ASSERT_TRUE(Bucket::Create(other.path() + "/b", {}).ok());
  ASSERT_TRUE(Bucket::Open(other.path() + "/b", {}).ok());  // makes version_pins
  EXPECT_EQ(catalog_aging::Schema(cat), catalog_aging::Schema(other.path() + "/b/catalog.db"));
}

}  // namespace
}  // namespace katamari

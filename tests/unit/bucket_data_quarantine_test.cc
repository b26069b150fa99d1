// When a reader of a bucket whose packs live on an object store judges a
// chunk damaged (the quarantine: ChunkStore::MoveAsideIfDamaged clears the
// chunk's catalog location so that the next write of its content stores it
// again): only bad bytes from the store itself count. A pack the store says
// it lacks is an error that forgets nothing, and a cached copy whose body
// fails the chunk's own check is replaced by the store's before anything is
// judged (docs/object-store.md, "Reading").
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/bucket_data_fixture.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using namespace bucket_data_testing;  // the fixture and its helpers
using testing_util::RandomBytes;

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

// A store that answers NotFound for a while: reads fail with IOError (EIO
// on the mount), not Corruption; nothing is set aside and every catalog
// location stays; fsck names the version and the missing pack. Once the
// store answers again the file reads back exactly, here and in a new
// process without the cache.
TEST_F(BucketDataTest, APackTheStoreSaysIsMissingIsAnErrorNotDamage) {
  const std::string data = RandomBytes(300000, 11);
  {
    auto b = Open();
    Put(*b, "f", data);
  }
  fs::remove_all(dir_ + "/cache");
  auto store = Flaky();
  Bucket::OpenOptions o;
  o.data_store = store;
  auto b = Open(o);
  store->not_found = true;
  std::string out;
  Status st = Get(*b, "f", &out);
  EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
  EXPECT_NE(st.message().find("is missing from"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("keeps its location"), std::string::npos) << st.message();
  EXPECT_LT(out.size(), data.size());
  auto f = b->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_FALSE(f->ok());
  EXPECT_EQ(std::set<std::string>(f->damaged.begin(), f->damaged.end()),
            std::set<std::string>{"f@1"});
  const std::string problems = Joined(f->problems);
  EXPECT_NE(problems.find("f@1: "), std::string::npos) << problems;
  EXPECT_NE(problems.find("is missing from"), std::string::npos) << problems;
  EXPECT_TRUE(Evidence().empty()) << "nothing was quarantined";
  EXPECT_EQ(ChunksWithoutLocation(), 0u) << "every catalog location is kept";
  store->not_found = false;
  EXPECT_TRUE(Get(*b, "f") == data);
  b.reset();
  fs::remove_all(dir_ + "/cache");
  b = Open();
  EXPECT_TRUE(Get(*b, "f") == data);
  f = b->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->ok()) << Joined(f->problems);
}

// gc's repack reads the live records of a mostly dead pack: one whose
// records the store says it lacks (while its HEAD still answers) stays
// where it is, its rows too, and the gc goes on.
TEST_F(BucketDataTest, GcLeavesAPackTheStoreSaysIsMissingAlone) {
  {
    auto b = Open();
    b->SetPackTargetSizeForTesting(600 << 10);
    for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  }
  fs::remove_all(dir_ + "/cache");
  const size_t objects = ObjectPacks();
  auto store = Flaky();
  Bucket::OpenOptions o;
  o.data_store = store;
  auto b = Open(o);
  store->get_not_found = true;
  const int gets = store->gets.load();
  for (int i = 1; i < 6; i += 2) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
  auto gc = b->Gc();
  EXPECT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(store->gets.load(), gets) << "the repack read the pack";
  EXPECT_EQ(ObjectPacks(), objects) << "no pack was rewritten or deleted";
  EXPECT_TRUE(Evidence().empty());
  EXPECT_EQ(ChunksWithoutLocation(), 0u);
  store->get_not_found = false;
  ExpectKeptFilesRead(*b);
}

// A cached record (or whole pack) whose CRCs pass but whose body fails the
// chunk's own check, while the store holds good bytes: the read returns the
// right bytes, the cached copy is replaced by the store's, and nothing is
// quarantined (CheckDamagedCacheIsReplaced checks all of that).
TEST_F(BucketDataTest, ACachedRecordBadOnlyToTheChunkCheckIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(false, [](const std::string& p) { FlipBodyByteKeepingCrcs(p, 0); });
}

TEST_F(BucketDataTest, ACachedPackBadOnlyToTheChunkCheckIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(true, [](const std::string& p) { FlipBodyByteKeepingCrcs(p, 32); });
}

// Damage to one record's body both in the cached pack and in the store's
// object (different bytes, CRCs made to match): Corruption, never wrong
// bytes; the chunk is quarantined with the store's bad body as evidence (the
// bytes judged, not the cache's), no copy of it stays cached, and writing
// the content again heals the file.
TEST_F(BucketDataTest, AChunkBadInTheCacheAndTheStoreIsQuarantined) {
  const std::string data = RandomBytes(300000, 5);
  const std::string cached = PutWithOneCachedPack(data);
  ASSERT_FALSE(cached.empty());
  const std::string hex = fs::path(cached).filename().string();
  FlipBodyByteKeepingCrcs(cached, 32, 100);
  FlipBodyByteKeepingCrcs(ObjectPackPath(hex), 32, 200);
  auto b = Open();
  std::string out;
  Status st = Get(*b, "f", &out);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(data.compare(0, out.size(), out) == 0) << "what was returned is a prefix of it";
  EXPECT_LT(out.size(), data.size());
  const std::vector<std::string> evidence = Evidence();
  ASSERT_EQ(evidence.size(), 1u);
  EXPECT_FALSE(evidence[0].empty());
  EXPECT_TRUE(evidence[0] == ObjectRecord(hex, 32, /*with_header=*/false))
      << "the evidence is the store's body, " << evidence[0].size() << " bytes";
  EXPECT_FALSE(fs::exists(dir_ + "/cache/" + hex.substr(0, 2) + "/" + hex + ".32"))
      << "the bad record is not cached";
  EXPECT_EQ(ChunksWithoutLocation(), 1u);
  Put(*b, "again", data);
  EXPECT_TRUE(Get(*b, "f") == data) << "stored again, the chunk heals the file";
}

// gc's repack copies live records into a new pack and deletes the old
// object: the copy must be the chunk, not just pass the record's CRC. With
// f0's first record bad in the cached pack only (CRCs made to match), the
// repack takes the store's good body, and after it, with the cache gone,
// every kept file reads back exactly from the new pack alone.
TEST_F(BucketDataTest, GcRepackCopiesTheStoresBodyNotABadCachedOne) {
  std::string cached;
  {
    auto b = Open();
    b->SetPackTargetSizeForTesting(4 << 20);
    for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  }
  const std::vector<std::string> whole = CacheFiles(dir_ + "/cache", true);
  ASSERT_EQ(whole.size(), 1u);
  const std::string old_hex = fs::path(whole[0]).filename().string();
  FlipBodyByteKeepingCrcs(whole[0], 32, 100);
  {
    auto b = Open();
    for (int i = 1; i < 6; i += 2) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
    auto gc = b->Gc();
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    EXPECT_EQ(gc->packs_rewritten, 1u);
  }
  EXPECT_FALSE(fs::exists(ObjectPackPath(old_hex))) << "the old pack was replaced";
  EXPECT_EQ(ObjectPacks(), 1u);
  EXPECT_TRUE(Evidence().empty());
  fs::remove_all(dir_ + "/cache");
  auto b = Open();
  ExpectKeptFilesRead(*b);
}

// The same record bad in the cache and in the store: the repack leaves that
// pack, and its rows, where they are (fsck reports the chunk), and gc
// succeeds; the other kept files still read back.
TEST_F(BucketDataTest, GcRepackLeavesAPackWithARecordBadEverywhere) {
  {
    auto b = Open();
    b->SetPackTargetSizeForTesting(4 << 20);
    for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  }
  const std::vector<std::string> whole = CacheFiles(dir_ + "/cache", true);
  ASSERT_EQ(whole.size(), 1u);
  const std::string hex = fs::path(whole[0]).filename().string();
  FlipBodyByteKeepingCrcs(whole[0], 32, 100);
  FlipBodyByteKeepingCrcs(ObjectPackPath(hex), 32, 200);
  auto b = Open();
  for (int i = 1; i < 6; i += 2) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
  auto gc = b->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_rewritten, 0u);
  EXPECT_TRUE(fs::exists(ObjectPackPath(hex))) << "the pack stays";
  EXPECT_EQ(ObjectPacks(), 1u) << "and no new one was kept";
  EXPECT_EQ(ChunksWithoutLocation(), 0u);
  std::string out;
  EXPECT_TRUE(Get(*b, "f0", &out).IsCorruption());
  EXPECT_TRUE(Get(*b, "f2") == RandomBytes(200000, 2));
  EXPECT_TRUE(Get(*b, "f4") == RandomBytes(200000, 4));
}

}  // namespace
}  // namespace katamari

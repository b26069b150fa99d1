// The chunk cache of the commit path (store/chunk_cache.h): its bound and
// eviction order, and that only what a session base read and verified is
// served from it while readers of versions and fsck see the storage.
#include "store/chunk_cache.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "store/bucket.h"
#include "store/chunk_store.h"
#include "tests/unit/fault_env.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

ChunkId IdN(uint8_t n) {
  ChunkId id;
  id.bytes[0] = n;
  id.bytes[31] = static_cast<uint8_t>(n ^ 0x5a);
  return id;
}

DeltaChain Chain(int depth, uint8_t root) {
  return DeltaChain{depth, ChunkRef{IdN(root), 100, 0}};
}

TEST(ChunkCacheTest, KeepsWhatWasPutAndTellsItsChain) {
  ChunkCache cache(1000);
  cache.Put(IdN(1), std::string(100, 'a'), Chain(2, 9));
  std::string out;
  DeltaChain chain;
  ASSERT_TRUE(cache.Get(IdN(1), 100, &out, &chain));
  EXPECT_EQ(out, std::string(100, 'a'));
  EXPECT_EQ(chain.depth, 2);
  EXPECT_EQ(chain.root.id, IdN(9));
  EXPECT_EQ(chain.root.raw_len, 100u);
  EXPECT_TRUE(cache.Get(IdN(1), 100, &out, nullptr));  // the chain is optional
  EXPECT_FALSE(cache.Get(IdN(2), 100, &out, &chain));
  EXPECT_EQ(cache.bytes(), 100u);
}

TEST(ChunkCacheTest, EvictsTheLeastRecentlyUsedWithinItsBound) {
  ChunkCache cache(1000);  // entries of up to 250 bytes
  for (uint8_t i = 1; i <= 4; ++i) cache.Put(IdN(i), std::string(250, char('0' + i)), {});
  EXPECT_EQ(cache.bytes(), 1000u);
  std::string out;
  ASSERT_TRUE(cache.Get(IdN(1), 250, &out, nullptr));  // 1 is now the most recent
  cache.Put(IdN(5), std::string(250, '5'), {});         // evicts 2, the least recent
  EXPECT_EQ(cache.bytes(), 1000u);
  EXPECT_FALSE(cache.Get(IdN(2), 250, &out, nullptr));
  for (uint8_t i : {1, 3, 4, 5}) {
    ASSERT_TRUE(cache.Get(IdN(i), 250, &out, nullptr)) << int(i);
    EXPECT_EQ(out, std::string(250, char('0' + i)));
  }
  // Order now (most recent first): 5 4 3 1. Two more evict 1 and 3.
  cache.Put(IdN(6), std::string(200, '6'), {});
  cache.Put(IdN(7), std::string(200, '7'), {});
  EXPECT_FALSE(cache.Get(IdN(1), 250, &out, nullptr));
  EXPECT_FALSE(cache.Get(IdN(3), 250, &out, nullptr));
  EXPECT_TRUE(cache.Get(IdN(4), 250, &out, nullptr));
  EXPECT_LE(cache.bytes(), 1000u);
  EXPECT_EQ(cache.bytes(), 250u + 250u + 200u + 200u);
}

TEST(ChunkCacheTest, ALengthMismatchIsAMiss) {
  ChunkCache cache(1000);
  cache.Put(IdN(1), std::string(100, 'a'), Chain(1, 3));
  std::string out = "untouched";
  DeltaChain chain;
  EXPECT_FALSE(cache.Get(IdN(1), 99, &out, &chain));
  EXPECT_FALSE(cache.Get(IdN(1), 101, &out, &chain));
  EXPECT_EQ(out, "untouched");
  EXPECT_EQ(chain.depth, 0);
}

TEST(ChunkCacheTest, ChunksLargerThanAQuarterAreNotKept) {
  ChunkCache cache(1000);
  cache.Put(IdN(1), std::string(100, 'a'), {});
  cache.Put(IdN(2), std::string(251, 'b'), {});
  std::string out;
  EXPECT_FALSE(cache.Get(IdN(2), 251, &out, nullptr));
  EXPECT_TRUE(cache.Get(IdN(1), 100, &out, nullptr));  // and nothing was evicted for it
  EXPECT_EQ(cache.bytes(), 100u);
  cache.Put(IdN(3), std::string(250, 'c'), {});  // exactly a quarter is kept
  EXPECT_TRUE(cache.Get(IdN(3), 250, &out, nullptr));
}

TEST(ChunkCacheTest, PutReplacesEraseAndClearDrop) {
  ChunkCache cache(1000);
  cache.Put(IdN(1), std::string(100, 'a'), Chain(3, 7));
  cache.Put(IdN(1), std::string(100, 'a'), Chain(0, 1));  // stored again whole
  EXPECT_EQ(cache.bytes(), 100u);
  std::string out;
  DeltaChain chain;
  ASSERT_TRUE(cache.Get(IdN(1), 100, &out, &chain));
  EXPECT_EQ(chain.depth, 0);
  cache.Put(IdN(2), std::string(50, 'b'), {});
  cache.Erase(IdN(1));
  EXPECT_FALSE(cache.Get(IdN(1), 100, &out, nullptr));
  EXPECT_EQ(cache.bytes(), 50u);
  cache.Clear();
  EXPECT_FALSE(cache.Get(IdN(2), 50, &out, nullptr));
  EXPECT_EQ(cache.bytes(), 0u);
}

// ---- ChunkStore::ReadMode ----

std::string Lines(size_t n, int salt) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += "line " + std::to_string(i * 7 + salt) + " of the log\n";
  return s;
}

// A chunk file of the store: one bit of its middle byte flipped.
void FlipMiddleByte(const std::string& path) {
  testing_util::StoredChunk whole;
  whole.path = path;
  whole.length = std::filesystem::file_size(path);
  testing_util::FlipByteOf(whole);
}

class CachedReadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Init().ok()); }
  ChunkRef Put(const std::string& data, const ChunkRef* base = nullptr,
               const std::string* base_plain = nullptr) {
    Result<ChunkRef> r = base ? store_.Write(store_.IdOf(data), data,
                                             DeltaCandidate{*base, *base_plain, 0})
                              : store_.Write(store_.IdOf(data), data);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ChunkRef{};
  }
  Status Read(const ChunkRef& ref, ChunkStore::ReadMode mode, std::string* out,
              int* depth = nullptr) {
    DeltaChain chain;
    chain.depth = -1;
    Status st = store_.Read(ref, out, &chain, mode);
    if (depth) *depth = chain.depth;
    return st;
  }

  testing_util::TempDir tmp_{"chunk-cache"};
  FaultEnv env_;
  ChunkStore store_{&env_, tmp_.path(), Codec::kZstd, 3};
};

TEST_F(CachedReadTest, KeepsWhatItVerifiedAlsoDownTheChainStorageReadsSeeTheDamage) {
  const std::string v1 = Lines(300, 1);
  const ChunkRef r1 = Put(v1);
  const std::string v2 = v1 + Lines(1, 5);
  const ChunkRef r2 = Put(v2, &r1, &v1);
  ASSERT_TRUE(r2.delta_base) << "the test needs a delta chunk";
  std::string out;
  int depth = -1;
  ASSERT_TRUE(Read(r2, ChunkStore::ReadMode::kCached, &out, &depth).ok());
  EXPECT_TRUE(out == v2);
  EXPECT_EQ(depth, 1);
  FlipMiddleByte(store_.PathOf(r1.id));
  FlipMiddleByte(store_.PathOf(r2.id));
  // Storage reads see the damage, of both chunks.
  EXPECT_TRUE(Read(r2, ChunkStore::ReadMode::kFromStorage, &out).IsCorruption());
  EXPECT_TRUE(Read(r1, ChunkStore::ReadMode::kFromStorage, &out).IsCorruption());
  // What the cached read verified, the delta and its base, is served as
  // verified then, chain included.
  depth = -1;
  ASSERT_TRUE(Read(r2, ChunkStore::ReadMode::kCached, &out, &depth).ok());
  EXPECT_TRUE(out == v2);
  EXPECT_EQ(depth, 1);
  ASSERT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out, &depth).ok());
  EXPECT_TRUE(out == v1);
  EXPECT_EQ(depth, 0);
  // A ref of another length is not served from the cache.
  ChunkRef wrong = r1;
  wrong.raw_len += 1;
  EXPECT_FALSE(Read(wrong, ChunkStore::ReadMode::kCached, &out).ok());
  store_.DropCache();
  EXPECT_TRUE(Read(r2, ChunkStore::ReadMode::kCached, &out).IsCorruption());
  EXPECT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).IsCorruption());
}

TEST_F(CachedReadTest, AWriteIsNotCachedNorAFailedRead) {
  const std::string v1 = Lines(300, 2);
  const ChunkRef r1 = Put(v1);
  FlipMiddleByte(store_.PathOf(r1.id));
  std::string out;
  EXPECT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).IsCorruption());
  EXPECT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).IsCorruption());
}

TEST_F(CachedReadTest, AFailedSyncBatchEmptiesTheCache) {
  const std::string v1 = Lines(300, 3);
  const ChunkRef r1 = Put(v1);
  std::string out;
  ASSERT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).ok());
  FlipMiddleByte(store_.PathOf(r1.id));
  ASSERT_TRUE(store_.SyncBatch().ok());  // a sync that works keeps it
  ASSERT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).ok());
  env_.FailNthMutation(1, EIO);
  EXPECT_FALSE(store_.SyncBatch().ok());
  env_.ClearFaults();
  EXPECT_TRUE(Read(r1, ChunkStore::ReadMode::kCached, &out).IsCorruption());
}

// ---- Bucket::OpenSessionBase: the write session's base reads through it

class SessionBaseTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    if (GetParam()) {
      keyfile_ = tmp_.path() + "/bucket.key";
      ASSERT_TRUE(Bucket::CreateKeyFile(keyfile_).ok());
      ASSERT_TRUE(Bucket::Create(dir_, {}, BucketKey::KeyFile(keyfile_)).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    }
    Reopen();
  }
  void Reopen() {
    b_.reset();
    Bucket::OpenOptions o;
    if (GetParam()) o.key = BucketKey::KeyFile(keyfile_);
    auto r = Bucket::Open(dir_, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  VersionInfo Put(const std::string& data) {
    StringSource src(data);
    auto r = b_->Put("f", src, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  // All of a reader's bytes into *out.
  static Status ReadAll(VersionReader& r, std::string* out) {
    out->assign(r.info().size, '\0');
    size_t got = 0;
    Status st = r.ReadAt(0, out->size(), out->data(), &got);
    if (st.ok() && got != out->size()) return Status::IOError("short read");
    return st;
  }
  Status ReadSessionBase(const VersionInfo& v, std::string* out) {
    auto r = b_->OpenSessionBase(v.ino, v.version);
    if (!r.ok()) return r.status();
    return ReadAll(**r, out);
  }
  // Flips a byte in every chunk file and pack record; returns how many.
  size_t DamageEveryChunk() {
    const auto stored = testing_util::StoredChunks(dir_);
    for (const auto& c : stored) testing_util::FlipByteOf(c);
    return stored.size();
  }

  testing_util::TempDir tmp_{"session-base"};
  std::string dir_, keyfile_;
  std::unique_ptr<Bucket> b_;
};

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, SessionBaseTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

TEST_P(SessionBaseTest, SessionBaseKeepsWhatItVerifiedReadersAndFsckSeeTheDamage) {
  const std::string data = testing_util::RandomBytes(1 << 20, 11);  // fits the cache
  const VersionInfo v = Put(data);
  std::string got;
  ASSERT_TRUE(ReadSessionBase(v, &got).ok());
  ASSERT_TRUE(got == data);
  ASSERT_GT(DamageEveryChunk(), 2u);
  // A new session base (no reader's own one-chunk buffer) still reads the
  // bytes verified before the damage.
  Status st = ReadSessionBase(v, &got);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(got == data);
  // A reader of the version reads storage: the damage shows.
  auto reader = b_->OpenVersion(v.ino, v.version);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(ReadAll(**reader, &got).IsCorruption());
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  EXPECT_FALSE(fsck->ok());
  EXPECT_FALSE(fsck->problems.empty());
}

TEST_P(SessionBaseTest, AReadThatFindsDamageEmptiesTheCache) {
  const std::string data = testing_util::RandomBytes(1 << 20, 14);
  const VersionInfo v = Put(data);
  std::string got;
  ASSERT_TRUE(ReadSessionBase(v, &got).ok());
  ASSERT_GT(DamageEveryChunk(), 2u);
  auto reader = b_->OpenVersion(v.ino, v.version);
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE(ReadAll(**reader, &got).IsCorruption());
  // No new patch may build on what was found damaged: the commit path reads
  // storage again.
  EXPECT_TRUE(ReadSessionBase(v, &got).IsCorruption());
}

TEST_P(SessionBaseTest, WritesAreNotCachedTheFirstReadChecksTheStorage) {
  const std::string data = testing_util::RandomBytes(1 << 20, 12);
  const VersionInfo v = Put(data);
  ASSERT_GT(DamageEveryChunk(), 2u);
  std::string got;
  EXPECT_TRUE(ReadSessionBase(v, &got).IsCorruption());
}

TEST_P(SessionBaseTest, AFreshOpenStartsEmptyAndSeesTheDamage) {
  const std::string data = testing_util::RandomBytes(1 << 20, 13);
  const VersionInfo v = Put(data);
  std::string got;
  ASSERT_TRUE(ReadSessionBase(v, &got).ok());
  ASSERT_GT(DamageEveryChunk(), 2u);
  Reopen();  // another process, or this one again: nothing cached
  EXPECT_TRUE(ReadSessionBase(v, &got).IsCorruption());
}

}  // namespace
}  // namespace katamari

// The chunk cache of the commit path (store/chunk_cache.h): its bound and
// eviction order, and that only what a session base read and verified is
// served from it while readers of versions and fsck see the storage.
#include "store/chunk_cache.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace katamari

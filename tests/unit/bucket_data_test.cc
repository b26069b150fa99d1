// A bucket whose pack data lives on an object store (docs/object-store.md),
// here the local-directory store (file://): sealed packs are uploaded, reads
// of packs not on the local disk are ranged GETs through a bounded cache,
// gc deletes objects, and a store that goes away gives errors, never loses
// a committed byte, and is caught up with once it is back.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "store/bucket.h"
#include "store/bucket_internal.h"
#include "store/data_backend.h"
#include "tests/unit/bucket_data_fixture.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using namespace bucket_data_testing;  // the fixture and its helpers
using testing_util::RandomBytes;

// Everything written reaches the store at close; with the local cache and
// packs/ gone, every file and old version reads back byte for byte from it.
TEST_F(BucketDataTest, PacksAreUploadedAndReadBackWithoutLocalCopies) {
  std::map<std::string, std::string> files;
  {
    auto b = Open();
    b->SetPackTargetSizeForTesting(300 << 10);  // several packs, sealed on the way
    for (int i = 0; i < 6; ++i) {
      files["f" + std::to_string(i)] = RandomBytes(150000 + 777 * i, i);
      Put(*b, "f" + std::to_string(i), files["f" + std::to_string(i)]);
    }
    Put(*b, "f0", RandomBytes(90000, 100));  // f0@2; f0@1 stays
    EXPECT_GT(ObjectPacks(), 0u) << "rolled-over packs are uploaded at the next sync";
  }
  EXPECT_EQ(LocalPacks(), 0u) << "after the close every pack is on the store";
  EXPECT_GT(ObjectPacks(), 1u);
  fs::remove_all(dir_ + "/cache");
  auto shared = Flaky();
  Bucket::OpenOptions o;
  o.data_store = shared;
  auto b = Open(o);
  for (const auto& [key, data] : files) EXPECT_TRUE(Get(*b, key, 1) == data) << key;
  EXPECT_TRUE(Get(*b, "f0") == RandomBytes(90000, 100));
  const int gets = shared->gets.load();
  EXPECT_GT(gets, 0);
  // Read again: from the cache, no request.
  for (const auto& [key, data] : files) EXPECT_TRUE(Get(*b, key, 1) == data) << key;
  EXPECT_EQ(shared->gets.load(), gets);
  auto f = b->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
}

// A chunk already stored in an uploaded pack is reused from its catalog row:
// no request to the store on the write path, even while it is down.
TEST_F(BucketDataTest, ReusingAnUploadedChunkAsksTheStoreNothing) {
  const std::string data = RandomBytes(400000, 7);
  {
    auto b = Open();
    Put(*b, "a", data);
  }
  ASSERT_EQ(LocalPacks(), 0u);
  auto shared = Flaky();
  Bucket::OpenOptions o;
  o.data_store = shared;
  auto b = Open(o);
  shared->down = true;
  Put(*b, "copy", data);
  EXPECT_EQ(shared->heads.load(), 0);
  shared->down = false;
  EXPECT_TRUE(Get(*b, "copy") == data);
}

// What an outage left in packs/ goes up at the next open without the gc
// lock held: commits of a mount go on meanwhile.
TEST_F(BucketDataTest, TheOpenTimeUploadDoesNotHoldTheGcLock) {
  {
    auto down = Flaky();
    down->down = true;
    Bucket::OpenOptions o;
    o.data_store = down;
    auto b = Open(o);
    Put(*b, "a", RandomBytes(200000, 3));
  }
  ASSERT_GT(LocalPacks(), 0u);
  auto store = Flaky();
  int puts = 0, free_during = 0;
  store->on_put = [&] {
    ++puts;
    auto l = GcLock::Acquire(dir_, GcLock::Mode::kTryExclusive);
    if (l.ok() && l->held()) ++free_during;
  };
  Bucket::OpenOptions o;
  o.data_store = store;
  auto b = Open(o);
  EXPECT_GT(puts, 0);
  EXPECT_EQ(free_during, puts);
  EXPECT_EQ(LocalPacks(), 0u);
  EXPECT_TRUE(Get(*b, "a") == RandomBytes(200000, 3));
}

// A cache file cut short (a crash, a bad disk) or with a byte flipped fails
// its checks: it is dropped and the record fetched again from the store.
TEST_F(BucketDataTest, ACutCachedRecordIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(false, [](const std::string& p) {
    fs::resize_file(p, fs::file_size(p) / 2);
  });
}

TEST_F(BucketDataTest, AFlippedByteInACachedRecordIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(false, [](const std::string& p) {
    FlipByteAt(p, fs::file_size(p) - 100);  // in the body: only its CRC tells
  });
}

TEST_F(BucketDataTest, ACutCachedPackIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(true, [](const std::string& p) {
    fs::resize_file(p, fs::file_size(p) / 2);
  });
}

TEST_F(BucketDataTest, AFlippedByteInACachedPackIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(true, [](const std::string& p) { FlipByteAt(p, 32 + 48 + 100); });
}

TEST_F(BucketDataTest, ACachedPackWithADamagedHeaderIsFetchedAgain) {
  CheckDamagedCacheIsReplaced(true, [](const std::string& p) { FlipByteAt(p, 10); });
}

// Both the cache and the store's copy damaged: Corruption, not wrong bytes,
// the bad record is not cached, and the quarantine keeps the store's bad
// record (header and body: its framing failed) as evidence.
TEST_F(BucketDataTest, ARecordBadInTheCacheAndTheStoreIsCorruption) {
  const std::string data = RandomBytes(300000, 5);
  const std::string cached = PutWithOneCachedPack(data);
  ASSERT_FALSE(cached.empty());
  const std::string hex = fs::path(cached).filename().string();
  FlipByteAt(cached, 32 + 48 + 100);
  FlipByteAt(ObjectPackPath(hex), 32 + 48 + 100);
  auto b = Open();
  std::string out;
  Status st = Get(*b, "f", &out);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(data.compare(0, out.size(), out) == 0) << "what was returned is a prefix of it";
  EXPECT_LT(out.size(), data.size());
  for (const std::string& r : CacheFiles(dir_ + "/cache", false)) {
    EXPECT_TRUE(ReadAll(r) == ObjectBytesOf(r)) << r;
    EXPECT_NE(fs::path(r).filename().string(), hex + ".32") << "the bad record is not cached";
  }
  const std::vector<std::string> evidence = Evidence();
  ASSERT_EQ(evidence.size(), 1u);
  EXPECT_TRUE(evidence[0] == ObjectRecord(hex, 32, /*with_header=*/true))
      << "the evidence is the store's record, " << evidence[0].size() << " bytes";
  b.reset();
  EXPECT_EQ(ChunksWithoutLocation(), 1u) << "the damaged chunk's location is cleared";
}

TEST_F(BucketDataTest, TheCacheStaysWithinItsBound) {
  {
    auto b = Open();
    for (int i = 0; i < 8; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  }
  fs::remove_all(dir_ + "/cache");
  Bucket::OpenOptions o;
  o.data_cache_bytes = 300 << 10;
  auto b = Open(o);
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(Get(*b, "f" + std::to_string(i)) == RandomBytes(200000, i));
    EXPECT_LE(BytesUnder(dir_ + "/cache"), uint64_t{300} << 10);
  }
  EXPECT_GT(BytesUnder(dir_ + "/cache"), 0u);
}

// The store away: reads of data not on the local disk fail with IOError
// (EIO on the mount), not as damage; writes go on into the local pack; a
// sync point that needs an upload fails; once it is back all is caught up.
TEST_F(BucketDataTest, AStoreThatGoesAwayGivesErrorsLosesNothingAndRecovers) {
  {
    auto b = Open();
    Put(*b, "old", RandomBytes(200000, 1));
  }
  fs::remove_all(dir_ + "/cache");
  auto store = Flaky();
  Bucket::OpenOptions o;
  o.data_store = store;
  o.sync_interval_ms = 60000;  // the daemon's deferred durability; sync points by hand
  {
    auto b = Open(o);
    b->SetPackTargetSizeForTesting(100 << 10);
    store->down = true;
    std::string out;
    Status st = Get(*b, "old", &out);
    EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
    Put(*b, "new", RandomBytes(300000, 2));  // local: works
    EXPECT_TRUE(Get(*b, "new") == RandomBytes(300000, 2));
    st = b->Sync();  // rolled-over packs want uploading
    EXPECT_EQ(st.code(), Status::Code::kIOError) << st.ToString();
    EXPECT_GT(LocalPacks(), 0u);
    store->down = false;
    EXPECT_TRUE(Get(*b, "old") == RandomBytes(200000, 1));
    st = b->Sync();
    EXPECT_TRUE(st.ok()) << st.ToString();
    store->down = true;  // closed while away: the open pack stays local
  }
  EXPECT_GT(LocalPacks(), 0u);
  store->down = false;
  {
    auto b = Open(o);  // uploads what the last process left
    EXPECT_EQ(LocalPacks(), 0u);
  }
  fs::remove_all(dir_ + "/cache");
  auto b = Open();
  EXPECT_TRUE(Get(*b, "new") == RandomBytes(300000, 2));
  EXPECT_TRUE(Get(*b, "old") == RandomBytes(200000, 1));
}

TEST_F(BucketDataTest, GcDeletesObjectsNothingPointsInto) {
  auto b = Open();
  b->SetPackTargetSizeForTesting(200 << 10);
  for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(150000, i));
  ASSERT_TRUE(b->Sync().ok());
  auto gc = b->Gc();  // seals and uploads the open pack, merges small ones
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  const size_t before = ObjectPacks();
  ASSERT_GT(before, 0u);
  EXPECT_EQ(LocalPacks(), 0u);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
  gc = b->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(ObjectPacks(), 0u);
  EXPECT_EQ(CountFiles(dir_ + "/cache"), 0u);
  Put(*b, "later", RandomBytes(1000, 9));
  EXPECT_TRUE(Get(*b, "later") == RandomBytes(1000, 9));
}

TEST_F(BucketDataTest, ARepackWritesItsNewPackToTheStore) {
  auto b = Open();
  b->SetPackTargetSizeForTesting(600 << 10);
  for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  for (int i = 1; i < 6; i += 2) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
  auto gc = b->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(LocalPacks(), 0u);
  b.reset();
  fs::remove_all(dir_ + "/cache");
  b = Open();
  ExpectKeptFilesRead(*b);
}

// The new pack of a repack that cannot be uploaded is deleted (it holds
// only copies): the rows stay on the old packs, packs/ holds nothing for the
// next open or gc to upload, and a later gc does the repack.
TEST_F(BucketDataTest, ARepackWhoseUploadFailsLeavesNoLocalPack) {
  {
    auto b = Open();
    b->SetPackTargetSizeForTesting(600 << 10);
    for (int i = 0; i < 6; ++i) Put(*b, "f" + std::to_string(i), RandomBytes(200000, i));
  }
  ASSERT_EQ(LocalPacks(), 0u);
  const size_t objects = ObjectPacks();
  auto store = Flaky();
  Bucket::OpenOptions o;
  o.data_store = store;
  {
    auto b = Open(o);
    // Puts fail from here on; Deletes, Gets and Lists still work.
    store->put_down = true;
    for (int i = 1; i < 6; i += 2) ASSERT_TRUE(b->Purge("f" + std::to_string(i)).ok());
    auto gc = b->Gc();
    ASSERT_FALSE(gc.ok()) << "the failed upload of the repack is reported";
    EXPECT_EQ(gc.status().code(), Status::Code::kIOError) << gc.status().ToString();
    EXPECT_GT(store->refused_puts.load(), 0) << "a repack was tried";
    EXPECT_EQ(LocalPacks(), 0u) << "the new pack of the failed repack is gone";
    EXPECT_EQ(ObjectPacks(), objects);
    ExpectKeptFilesRead(*b);
    store->put_down = false;
  }
  EXPECT_EQ(LocalPacks(), 0u) << "nothing was left for the close or the next open to upload";
  fs::remove_all(dir_ + "/cache");
  auto b = Open(o);
  ExpectKeptFilesRead(*b);
  auto gc = b->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(gc->packs_rewritten + gc->packs_merged, 0u);
  EXPECT_EQ(LocalPacks(), 0u);
  b.reset();
  fs::remove_all(dir_ + "/cache");
  b = Open();
  ExpectKeptFilesRead(*b);
  auto f = b->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
}

// gc deletes the packs it found unused after it let go of its exclusive
// lock: a writer in another process commits while gc's DELETE is under way
// (here the DELETE waits for that commit, then fails), and the object the
// failed DELETE left is removed by the next gc.
TEST_F(BucketDataTest, GcDeletesObjectsWithoutKeepingWritersWaiting) {
  auto store = Flaky();
  Bucket::OpenOptions o;
  o.data_store = store;
  auto b = Open(o);
  Put(*b, "old", RandomBytes(200000, 1));
  ASSERT_TRUE(b->Purge("old").ok());  // its pack, still open here, waits for gc
  auto writer = Open();  // another process, as far as the gc lock goes
  const std::string data = RandomBytes(100000, 2);
  std::mutex mu;
  std::condition_variable cv;
  bool go = false, committed = false;
  Status put_status = Status::IOError("not run");
  std::thread t([&] {
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return go; });
    }
    StringSource src(data);
    Status st = writer->Put("new", src, {}).status();
    std::lock_guard<std::mutex> l(mu);
    put_status = st;
    committed = true;
    cv.notify_all();
  });
  std::vector<std::string> deleted;
  bool lock_free = false, committed_during_delete = false;
  store->on_delete = [&](std::string_view key) -> Status {
    deleted.emplace_back(key);
    if (deleted.size() == 1) {
      // Not held by anyone, or the writer would block on it: then this
      // fails at once instead of waiting.
      lock_free = GcLock::Acquire(dir_, GcLock::Mode::kTryExclusive).value().held();
      std::unique_lock<std::mutex> l(mu);
      go = lock_free;
      cv.notify_all();
      // The bound only keeps a broken build from hanging; passing never waits for it.
      committed_during_delete =
          lock_free && cv.wait_for(l, std::chrono::seconds(60), [&] { return committed; });
    }
    return Status::IOError("store refuses deletes");
  };
  auto gc = b->Gc();
  {
    std::lock_guard<std::mutex> l(mu);
    go = true;  // the writer goes now at the latest
    cv.notify_all();
  }
  t.join();
  EXPECT_TRUE(lock_free) << "gc deleted with its exclusive lock held";
  EXPECT_TRUE(committed_during_delete) << "a writer could not commit during gc's DELETE";
  EXPECT_TRUE(put_status.ok()) << put_status.ToString();
  ASSERT_FALSE(gc.ok()) << "the failed delete is reported";
  EXPECT_EQ(gc.status().code(), Status::Code::kIOError) << gc.status().ToString();
  EXPECT_NE(gc.status().message().find("the next gc deletes it"), std::string::npos)
      << gc.status().message();
  ASSERT_EQ(deleted.size(), 1u);
  const std::string leftover = deleted[0];
  EXPECT_TRUE(fs::exists(objects_ + "/" + leftover)) << "a failed delete leaves the object";
  store->on_delete = nullptr;
  gc = b->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GE(gc->packs_removed, 1u);
  EXPECT_FALSE(fs::exists(objects_ + "/" + leftover)) << "the next gc removes the leftover";
  EXPECT_FALSE(fs::exists(dir_ + "/cache/" + leftover.substr(6))) << "and its cached copy";
  EXPECT_TRUE(Get(*b, "new") == data);
  EXPECT_TRUE(Get(*writer, "new") == data);
  std::string out;
  EXPECT_TRUE(Get(*b, "old", &out).IsNotFound());
  writer.reset();
  b.reset();
  fs::remove_all(dir_ + "/cache");
  b = Open();
  EXPECT_TRUE(Get(*b, "new") == data);
  auto f = b->Fsck();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
}

TEST_F(BucketDataTest, APrefixHoldsOneBucketsData) {
  BucketSettings s;
  s.data_url = "file://" + objects_;
  Status st = Bucket::Create(tmp_.path() + "/other", s);
  EXPECT_EQ(st.code(), Status::Code::kExists) << st.ToString();
  EXPECT_NE(st.message().find("another prefix"), std::string::npos) << st.message();
  // Opening a bucket against some other bucket's store is refused.
  s.data_url = "file://" + tmp_.path() + "/objects2";
  ASSERT_TRUE(Bucket::Create(tmp_.path() + "/second", s).ok());
  auto other = NewLocalObjectStore(tmp_.path() + "/objects2");
  ASSERT_TRUE(other.ok());
  Bucket::OpenOptions o;
  o.data_store = std::move(*other);
  auto r = Bucket::Open(dir_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
}

TEST(DataUrlTest, BadUrlsSayWhatToWrite) {
  for (const char* bad : {"s3://host/bucket", "s3://host:7480", "s3://host:7480/b/.x",
                          "ftp://x", "file://relative"}) {
    Status st = ValidateDataUrl(bad);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ValidateDataUrl("s3://127.0.0.1:7480/katamari/photos").ok());
  EXPECT_TRUE(ValidateDataUrl("s3://127.0.0.1:7480/katamari").ok());
  EXPECT_TRUE(ValidateDataUrl("file:///srv/data").ok());
}

}  // namespace
}  // namespace katamari

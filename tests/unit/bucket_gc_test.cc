// gc of pack files (docs/pack-format.md, "gc: repacking"): packs no row
// points into are deleted, packs mostly dead are rewritten, and neither ever
// loses a byte of a live chunk, also while other writers append meanwhile.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

size_t CountPacks(const std::string& dir) {
  size_t n = 0;
  if (!fs::exists(dir + "/packs")) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir + "/packs")) {
    n += e.is_regular_file() && e.path().filename().string().size() == 32;
  }
  return n;
}

class BucketGcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    b_ = Open();
  }
  std::unique_ptr<Bucket> Open() {
    auto r = Bucket::Open(dir_, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  static void Put(Bucket& b, const std::string& key, const std::string& data) {
    StringSource src(data);
    auto r = b.Put(key, src, {});
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }
  static std::string Get(Bucket& b, const std::string& key) {
    StringSink sink;
    Status st = b.Get(key, {}, sink);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    return sink.out;
  }
  void ExpectFsckClean(Bucket& b) {
    auto f = b.Fsck();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
  }

  testing_util::TempDir tmp_{"gc"};
  std::string dir_;
  std::unique_ptr<Bucket> b_;
};

// Files put one after another share packs; once every other one is purged,
// each pack is about half dead: gc rewrites the mostly dead ones, deletes the
// wholly dead, and what is kept reads back byte for byte from fewer bytes.
TEST_F(BucketGcTest, MostlyDeadPacksAreRewrittenAndWhollyDeadOnesDeleted) {
  b_->SetPackTargetSizeForTesting(600 << 10);
  std::map<std::string, std::string> kept;
  for (int i = 0; i < 12; ++i) {
    const std::string data = RandomBytes(200000 + 1000 * i, 10 + i);
    const std::string key = "f" + std::to_string(i);
    Put(*b_, key, data);
    if (i % 3 == 0) kept[key] = data;  // the other two of three are purged: packs mostly dead
  }
  const uint64_t before = testing_util::StoredBytes(dir_);
  {
    // Another process's writer holds the gc lock: the purges cannot reclaim
    // anything themselves (they would rewrite packs), it is left to gc.
    int fd = ::open((dir_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_SH), 0);
    for (int i = 0; i < 12; ++i) {
      if (i % 3 != 0) ASSERT_TRUE(b_->Purge("f" + std::to_string(i)).ok());
    }
    EXPECT_EQ(testing_util::StoredBytes(dir_), before);
    ::close(fd);
  }
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(gc->packs_rewritten, 0u);
  EXPECT_GT(gc->bytes_freed, 0u);
  EXPECT_LT(testing_util::StoredBytes(dir_), before);
  for (const auto& [key, data] : kept) EXPECT_TRUE(Get(*b_, key) == data) << key;
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  EXPECT_EQ(fsck->dead_pack_bytes, 0u) << "gc left dead records";
  // Everything purged: no pack is left at all.
  for (const auto& [key, data] : kept) ASSERT_TRUE(b_->Purge(key).ok());
  ASSERT_TRUE(b_->Gc().ok());
  EXPECT_EQ(CountPacks(dir_), 0u);
  EXPECT_EQ(testing_util::StoredChunks(dir_).size(), 0u);
  // A new process's reads find the moved chunks too.
  Put(*b_, "late", RandomBytes(100000, 99));
  b_.reset();
  b_ = Open();
  EXPECT_TRUE(Get(*b_, "late") == RandomBytes(100000, 99));
}

// An explicit delete (rm NAME@N, purge) reclaims at once what it can: the
// packs it leaves mostly dead are rewritten, this process's open one too.
TEST_F(BucketGcTest, APurgeRewritesThePacksItLeftMostlyDead) {
  const std::string keep = RandomBytes(100000, 1), gone = RandomBytes(900000, 2);
  Put(*b_, "keep", keep);
  Put(*b_, "gone", gone);  // same (open) pack
  const uint64_t before = testing_util::StoredBytes(dir_);
  ASSERT_TRUE(b_->Purge("gone").ok());
  EXPECT_LT(testing_util::StoredBytes(dir_), before - 800000);
  EXPECT_TRUE(Get(*b_, "keep") == keep);
  Put(*b_, "more", gone);  // writes go on, into a new pack
  EXPECT_TRUE(Get(*b_, "more") == gone);
  ExpectFsckClean(*b_);
}

// Whether some descriptor (this process's PackSet included: flock locks
// belong to open files) holds an exclusive lock on a pack of `dir`.
bool AnyPackLocked(const std::string& dir) {
  if (!fs::exists(dir + "/packs")) return false;
  for (auto& e : fs::recursive_directory_iterator(dir + "/packs")) {
    if (!e.is_regular_file()) continue;
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const bool locked = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
    ::close(fd);
    if (locked) return true;
  }
  return false;
}

// Waits (up to 10 s) until `cond` holds.
template <typename Cond>
bool WaitFor(Cond cond) {
  for (int i = 0; i < 1000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// A mounted daemon's open pack, once idle for two sync intervals and holding
// records another process made dead (a prune or rm beside the mount), is
// sealed and unlocked by its syncer, so that gc in that other process can
// reclaim them: before, it stayed locked until 32 MiB or unmount and a prune
// beside the mount freed nothing. A pack all live stays open (no small pack
// per idle spell). The next write starts a new pack.
TEST_F(BucketGcTest, TheSyncerSealsAnIdleOpenPackOnlyOnceSomeOfItIsDead) {
  b_.reset();
  Bucket::OpenOptions o;
  o.sync_interval_ms = 20;
  auto r = Bucket::Open(dir_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::unique_ptr<Bucket> daemon = std::move(*r);
  const std::string keep = RandomBytes(100000, 7), gone = RandomBytes(300000, 8);
  Put(*daemon, "keep", keep);
  Put(*daemon, "gone", gone);
  ASSERT_TRUE(daemon->Sync().ok());
  ASSERT_EQ(CountPacks(dir_), 1u);
  // All live: idle for 25 intervals and still open.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(AnyPackLocked(dir_)) << "an idle pack with nothing dead was sealed";
  // Another process (a handle of its own) purges `gone`: it can rewrite the
  // daemon's pack only once the syncer sealed it (then the purge or the gc
  // after it does).
  b_ = Open();
  const uint64_t before = testing_util::StoredBytes(dir_);
  ASSERT_TRUE(b_->Purge("gone").ok());
  ASSERT_TRUE(WaitFor([&] { return !AnyPackLocked(dir_); })) << "the idle pack stayed locked";
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_LT(testing_util::StoredBytes(dir_), before - 250000);
  EXPECT_TRUE(Get(*daemon, "keep") == keep);
  Put(*daemon, "more", RandomBytes(1000, 9));
  EXPECT_TRUE(AnyPackLocked(dir_)) << "the next write did not start a new pack";
  daemon.reset();
  EXPECT_TRUE(Get(*b_, "keep") == keep);
  ExpectFsckClean(*b_);
}

// Descriptors of this process open on `path` (deleted or not).
int HeldOpen(const std::string& path) {
  int n = 0;
  for (auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(e.path(), ec).string();
    n += !ec && (target == path || target == path + " (deleted)");
  }
  return n;
}

// A reader cached for a pack that another process's gc deleted (repacked)
// is closed by the syncer: its descriptor would keep the file's space.
TEST_F(BucketGcTest, TheSyncerClosesReadersOfPacksDeletedElsewhere) {
  Put(*b_, "a", RandomBytes(100000, 9));  // a command's sealed pack
  b_.reset();
  std::string pack;
  for (auto& e : fs::recursive_directory_iterator(dir_ + "/packs")) {
    if (e.is_regular_file()) pack = fs::canonical(e.path()).string();
  }
  ASSERT_FALSE(pack.empty());
  Bucket::OpenOptions o;
  o.sync_interval_ms = 20;
  auto r = Bucket::Open(dir_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::unique_ptr<Bucket> daemon = std::move(*r);
  EXPECT_EQ(Get(*daemon, "a").size(), 100000u);
  ASSERT_EQ(HeldOpen(pack), 1) << "the read did not cache a reader";
  const std::string saved = pack + ".saved";
  fs::copy_file(pack, saved);
  fs::remove(pack);  // as another process's gc would after moving the records
  EXPECT_TRUE(WaitFor([&] { return HeldOpen(pack) == 0; }))
      << "a reader of a deleted pack stayed open";
  fs::rename(saved, pack);
}

// `katamari gc` rewrites a pack a third dead (it copies at most four bytes
// per byte freed), which the purge itself left alone (it rewrites only packs
// half dead, so that a delete copies no more than it frees).
TEST_F(BucketGcTest, GcRewritesAPackAThirdDeadThatThePurgeLeft) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 3; ++i) {
    files["f" + std::to_string(i)] = RandomBytes(300000, 20 + i);
    Put(*b_, "f" + std::to_string(i), files["f" + std::to_string(i)]);
  }
  ASSERT_EQ(CountPacks(dir_), 1u);
  const uint64_t before = testing_util::StoredBytes(dir_);
  ASSERT_TRUE(b_->Purge("f1").ok());
  files.erase("f1");
  EXPECT_GT(testing_util::StoredBytes(dir_), before - 100000) << "the purge rewrote the pack";
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_rewritten, 1u);
  EXPECT_LT(testing_util::StoredBytes(dir_), before - 250000);
  for (const auto& [key, data] : files) EXPECT_TRUE(Get(*b_, key) == data) << key;
  ExpectFsckClean(*b_);
}

// Each command's put leaves a small pack of its own; gc merges small packs
// into packs of up to the target size, and every byte reads back.
TEST_F(BucketGcTest, GcMergesSmallPacks) {
  b_->SetPackTargetSizeForTesting(1 << 20);  // small: under 256 KiB
  std::map<std::string, std::string> files;
  for (int i = 0; i < 6; ++i) {
    b_.reset();
    b_ = Open();  // a command each: a pack each
    b_->SetPackTargetSizeForTesting(1 << 20);
    files["f" + std::to_string(i)] = RandomBytes(150000, 40 + i);
    Put(*b_, "f" + std::to_string(i), files["f" + std::to_string(i)]);
  }
  b_.reset();
  b_ = Open();
  b_->SetPackTargetSizeForTesting(1 << 20);
  ASSERT_EQ(CountPacks(dir_), 6u);
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_merged, 6u);
  EXPECT_EQ(CountPacks(dir_), 1u);
  for (const auto& [key, data] : files) EXPECT_TRUE(Get(*b_, key) == data) << key;
  ExpectFsckClean(*b_);
  // A second gc finds nothing to merge: one pack is not a group.
  gc = b_->Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->packs_merged, 0u);
  EXPECT_EQ(CountPacks(dir_), 1u);
}

// Writers (threads of one bucket handle, like the daemon) put, overwrite and
// purge files while another handle (like a `katamari gc` process) collects
// and repacks in a loop. Every file left reads back byte for byte, fsck finds
// nothing wrong, and a writer's open pack is never taken from under it.
TEST_F(BucketGcTest, GcRepacksWhileOtherWritersAppend) {
  b_->SetPackTargetSizeForTesting(300 << 10);
  auto gc_handle = Open();
  ASSERT_TRUE(gc_handle);
  std::atomic<bool> stop{false};
  std::atomic<int> gcs{0}, rewritten{0}, removed{0};
  std::mutex mu;
  std::map<std::string, std::string> expect;  // key -> content, as the writers left it
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        // Half the writes happen after gc ran twice, however the threads
        // are scheduled: gc and writers overlap for certain.
        if (i == 20) {
          while (gcs.load() < 2) std::this_thread::yield();
        }
        const std::string key = "t" + std::to_string(t) + "/f" + std::to_string(i % 7);
        const std::string data = RandomBytes(20000 + 3000 * (i % 5), 1000 * t + i);
        StringSource src(data);
        auto r = b_->Put(key, src, {});
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        std::lock_guard<std::mutex> l(mu);
        expect[key] = data;
        if (i % 4 == 3) {  // some history goes: dead records in sealed packs
          ASSERT_TRUE(b_->Purge(key).ok());
          expect.erase(key);
        }
      }
    });
  }
  std::thread collector([&] {
    while (!stop.load()) {
      auto r = gc_handle->Gc();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ++gcs;
      rewritten += static_cast<int>(r->packs_rewritten);
      removed += static_cast<int>(r->packs_removed);
    }
  });
  for (auto& w : writers) w.join();
  stop = true;
  collector.join();
  ASSERT_TRUE(gc_handle->Gc().ok());
  EXPECT_GT(gcs.load(), 1);
  EXPECT_GT(rewritten.load() + removed.load(), 0) << "gc never reclaimed a pack";
  for (const auto& [key, data] : expect) {
    EXPECT_TRUE(Get(*b_, key) == data) << key << " (through the writers' handle)";
    EXPECT_TRUE(Get(*gc_handle, key) == data) << key << " (through gc's handle)";
  }
  ExpectFsckClean(*gc_handle);
  gc_handle.reset();
  b_.reset();
  b_ = Open();
  for (const auto& [key, data] : expect) EXPECT_TRUE(Get(*b_, key) == data) << key;
  ExpectFsckClean(*b_);
}

// fsck and reads on damaged packs: a pack that is gone, one cut short, and
// one with a garbled record header are each reported as damage naming the
// file that uses it, reads are Corruption (EIO through the mount), never
// wrong bytes; a torn tail past the last record (a crash mid-append) is
// only dead space.
TEST_F(BucketGcTest, MissingTruncatedAndGarbledPacksAreDamageATornTailIsNot) {
  const std::vector<std::string> keys = {"gone", "cut", "garbled", "torn", "fine"};
  std::map<std::string, std::string> data;
  std::map<std::string, testing_util::StoredChunk> first;  // a chunk of each, in its own pack
  for (size_t i = 0; i < keys.size(); ++i) {
    b_.reset();
    b_ = Open();  // a new process: a new pack
    data[keys[i]] = RandomBytes(150000, 50 + i);
    const auto before = testing_util::StoredChunks(dir_);
    Put(*b_, keys[i], data[keys[i]]);
    for (const auto& c : testing_util::StoredChunks(dir_)) {
      bool old = false;
      for (const auto& o : before) old = old || (o.path == c.path && o.offset == c.offset);
      if (!old && !first.count(keys[i])) first[keys[i]] = c;
    }
    ASSERT_TRUE(first.count(keys[i]));
  }
  b_.reset();
  fs::remove(first["gone"].path);
  // Cut in the middle of a record (cutting only the footer index of a sealed
  // pack loses nothing: the records are walked instead).
  fs::resize_file(first["cut"].path, first["cut"].offset + first["cut"].length / 2);
  {
    std::fstream f(first["garbled"].path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(first["garbled"].offset - 48 + 5));  // its length field
    f.put('\x7f');
  }
  {
    std::ofstream f(first["torn"].path, std::ios::app | std::ios::binary);
    f << "KTPR\x10";  // half a record header: an append a crash cut short
  }
  b_ = Open();
  for (const std::string& k : {"gone", "cut", "garbled"}) {
    StringSink sink;
    Status st = b_->Get(k, {}, sink);
    EXPECT_TRUE(st.IsCorruption()) << k << ": " << st.ToString();
    EXPECT_TRUE(data[k].compare(0, sink.out.size(), sink.out) == 0) << k << ": wrong bytes";
  }
  for (const std::string& k : {"torn", "fine"}) EXPECT_TRUE(Get(*b_, k) == data[k]) << k;
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  std::set<std::string> damaged(fsck->damaged.begin(), fsck->damaged.end());
  EXPECT_EQ(damaged, (std::set<std::string>{"gone@1", "cut@1", "garbled@1"}));
  EXPECT_GT(fsck->dead_pack_bytes, 0u);  // the torn tail
  std::string problems;
  for (const auto& p : fsck->problems) problems += p + "\n";
  EXPECT_NE(problems.find("is missing"), std::string::npos) << problems;
  // The same bytes written again repair all three.
  for (const std::string& k : {"gone", "cut", "garbled"}) Put(*b_, k + ".again", data[k]);
  for (const std::string& k : {"gone", "cut", "garbled"}) EXPECT_TRUE(Get(*b_, k) == data[k]) << k;
  ExpectFsckClean(*b_);
}

}  // namespace
}  // namespace katamari

// Integrity checks that check (issue 9, item 5), on plain and encrypted
// buckets: a damaged or missing chunk is stored again by the next write of
// the same content; fsck checks the catalog itself (SQLite's integrity and
// foreign-key checks, reference counts); a put is one catalog transaction.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <atomic>
#include <fstream>
#include <thread>

#include "store/bucket.h"
#include "store/catalog_db.h"
#include "store/catalog_testing.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// Stored chunks: chunk files and pack records (not chunks/damaged/).
std::vector<testing_util::StoredChunk> ChunkFiles(const std::string& dir) {
  return testing_util::StoredChunks(dir);
}

size_t CountFiles(const std::string& dir) {
  if (!fs::exists(dir)) return 0;
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

// Runs SQL on a closed bucket's catalog with SQLite directly.
void RawSql(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in: " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

class RepairTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    BucketSettings set;
    if (encrypted()) {
      keyfile_ = tmp_.path() + "/bucket.key";
      ASSERT_TRUE(Bucket::CreateKeyFile(keyfile_).ok());
      ASSERT_TRUE(Bucket::Create(dir_, set, BucketKey::KeyFile(keyfile_)).ok());
    } else {
      ASSERT_TRUE(Bucket::Create(dir_, set).ok());
    }
    Reopen();
  }
  bool encrypted() const { return GetParam(); }
  Result<std::unique_ptr<Bucket>> Open(bool read_only = false) {
    Bucket::OpenOptions o;
    o.read_only = read_only;
    if (encrypted()) o.key = BucketKey::KeyFile(keyfile_);
    return Bucket::Open(dir_, o);
  }
  void Reopen() {
    b_.reset();
    auto r = Open();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  VersionInfo Put(const std::string& key, const std::string& data) {
    StringSource src(data);
    auto r = b_->Put(key, src, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  Status Get(const std::string& key, std::string* out, VersionSelector sel = {}) {
    StringSink sink;
    Status st = b_->Get(key, sel, sink);
    *out = sink.out;
    return st;
  }
  void ExpectReads(const std::string& key, const std::string& want) {
    std::string got;
    Status st = Get(key, &got);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    EXPECT_TRUE(got == want) << key << " reads " << got.size() << " bytes, not the "
                             << want.size() << " put";
  }
  void FlipByteIn(const testing_util::StoredChunk& c) { testing_util::FlipByteOf(c); }
  std::string DamagedDir() const { return dir_ + "/chunks/damaged"; }

  testing_util::TempDir tmp_{"repair"};
  std::string dir_, keyfile_;
  std::unique_ptr<Bucket> b_;
};

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, RepairTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

// ---- a damaged or missing chunk is stored again by the next write

TEST_P(RepairTest, CorruptChunkIsStoredAgainByTheNextPutOfTheSameBytes) {
  const std::string data = RandomBytes(1 << 20, 1);
  Put("old", data);
  const auto files = ChunkFiles(dir_);
  ASSERT_GT(files.size(), 2u);
  FlipByteIn(files[1]);
  std::string got;
  EXPECT_TRUE(Get("old", &got).IsCorruption());
  // The read moved the damaged file aside (kept as evidence).
  EXPECT_EQ(CountFiles(DamagedDir()), 1u);
  Put("new", data);
  ExpectReads("new", data);
  ExpectReads("old", data);  // the old version reads again too
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << Joined(fsck->problems);
  EXPECT_EQ(fsck->orphan_chunks, 0u);  // chunks/damaged/ is not an orphan
  ASSERT_TRUE(b_->Gc().ok());
  EXPECT_EQ(CountFiles(DamagedDir()), 1u);  // gc leaves the evidence alone
  ExpectReads("old", data);
}

TEST_P(RepairTest, SeveralDamagedChunksOfOneVersionAreAllStoredAgain) {
  // fsck decodes a version's chunks on parallel threads: each damaged file
  // is moved aside, none is skipped because another thread held the lock.
  const std::string data = RandomBytes(3 << 20, 9);
  Put("old", data);
  const auto files = ChunkFiles(dir_);
  ASSERT_GT(files.size(), 8u);
  for (size_t i = 0; i < files.size(); i += 2) FlipByteIn(files[i]);
  {
    auto fsck = b_->Fsck();
    ASSERT_TRUE(fsck.ok());
    EXPECT_FALSE(fsck->ok());
  }
  EXPECT_EQ(CountFiles(DamagedDir()), (files.size() + 1) / 2);
  b_.reset();
  Reopen();  // a new process: only the files moved aside tell it
  Put("new", data);
  ExpectReads("old", data);
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << Joined(fsck->problems);
}

TEST_P(RepairTest, MissingChunkIsStoredAgainByTheNextPutOfTheSameBytes) {
  const std::string data = RandomBytes(1 << 20, 2);
  Put("old", data);
  const auto files = ChunkFiles(dir_);
  ASSERT_GT(files.size(), 2u);
  fs::remove(files[2].path);  // a chunk file, or the pack holding all of them
  std::string got;
  EXPECT_TRUE(Get("old", &got).IsCorruption());
  Put("old", data);  // a new version of the same key
  ExpectReads("old", data);
  std::string v1;
  EXPECT_TRUE(Get("old", &v1, VersionSelector{VersionNo(1), std::nullopt}).ok());
  EXPECT_TRUE(v1 == data);
  EXPECT_TRUE(b_->Fsck()->ok());
}

TEST_P(RepairTest, DamageFoundByAReadOnlyFsckIsRepairedByTheNextPut) {
  const std::string data = RandomBytes(600000, 3);
  Put("a", data);
  ASSERT_FALSE(ChunkFiles(dir_).empty());
  FlipByteIn(ChunkFiles(dir_).front());
  b_.reset();
  {
    auto ro = Open(/*read_only=*/true);  // as `katamari fsck` opens it
    ASSERT_TRUE(ro.ok());
    auto fsck = (*ro)->Fsck();
    ASSERT_TRUE(fsck.ok());
    EXPECT_FALSE(fsck->ok());
  }
  Reopen();  // another process, as `katamari put` would be
  Put("b", data);
  ExpectReads("a", data);
  EXPECT_TRUE(b_->Fsck()->ok());
}

TEST_P(RepairTest, DamageFoundWhileAWriterHoldsTheGcLockIsRepairedByThisProcess) {
  const std::string data = RandomBytes(600000, 4);
  Put("a", data);
  ASSERT_FALSE(ChunkFiles(dir_).empty());
  FlipByteIn(ChunkFiles(dir_).front());
  // Another process's writer is in flight: nothing may be moved now.
  int fd = ::open((dir_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_SH), 0);
  std::string got;
  EXPECT_TRUE(Get("a", &got).IsCorruption());
  EXPECT_EQ(CountFiles(DamagedDir()), 0u);
  ::close(fd);
  Put("b", data);  // this process remembers the damage: stores the chunk again
  ExpectReads("a", data);
  EXPECT_TRUE(b_->Fsck()->ok());
}

// True once some process waits for an exclusive flock on the file at `path`
// (a "->" line of /proc/locks naming its inode).
bool SomeoneWaitsForExclusiveLock(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  std::ifstream locks("/proc/locks");
  const std::string inode = ":" + std::to_string(st.st_ino) + " ";
  for (std::string line; std::getline(locks, line);) {
    if (line.find("->") != std::string::npos && line.find("FLOCK") != std::string::npos &&
        line.find("WRITE") != std::string::npos && line.find(inode) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// A mount's long commit holds the gc lock shared: fsck waits for it to move
// the damaged file aside, so that the writer of any process stores it again.
TEST_P(RepairTest, FsckWaitsForWritersToMoveADamagedChunkAside) {
  const std::string data = RandomBytes(600000, 8);
  Put("a", data);
  ASSERT_FALSE(ChunkFiles(dir_).empty());
  FlipByteIn(ChunkFiles(dir_).front());
  int fd = ::open((dir_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_SH), 0);  // "another process's writer in flight"
  std::atomic<bool> done{false};
  std::thread release([&] {
    while (!done && !SomeoneWaitsForExclusiveLock(dir_ + "/gc.lock")) std::this_thread::yield();
    ::close(fd);
  });
  auto rep = b_->Fsck();
  done = true;
  release.join();
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->ok());
  EXPECT_EQ(CountFiles(DamagedDir()), 1u);
}

TEST_P(RepairTest, AnIntactChunkIsNeverMovedAside) {
  const std::string data = RandomBytes(300000, 5);
  Put("a", data);
  ExpectReads("a", data);
  ASSERT_TRUE(b_->Fsck()->ok());
  EXPECT_EQ(CountFiles(DamagedDir()), 0u);
}

// ---- fsck checks the catalog itself

TEST_P(RepairTest, FsckReportsWrongReferenceCountsByChunkId) {
  Put("a", RandomBytes(400000, 6));
  Put("b", RandomBytes(400000, 6) + RandomBytes(100000, 7));  // shares a's chunks
  ASSERT_TRUE(b_->Fsck()->ok());
  b_.reset();
  const std::string db = dir_ + "/catalog.db";
  RawSql(db, "UPDATE chunks SET refs = refs + 1 WHERE id = (SELECT min(id) FROM chunks)");
  RawSql(db, "UPDATE chunks SET refs = refs - 1 WHERE id = (SELECT max(id) FROM chunks)");
  Reopen();
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_FALSE(fsck->ok());
  EXPECT_TRUE(fsck->catalog_damaged);
  const std::string problems = Joined(fsck->problems);
  std::string lo, hi;
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "SELECT hex(min(id)), hex(max(id)) FROM chunks", -1, &st, nullptr);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    lo = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    hi = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    sqlite3_close(raw);
  }
  for (std::string* h : {&lo, &hi}) {
    for (char& c : *h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_NE(problems.find("chunk " + *h + " has refs"), std::string::npos) << problems;
  }
}

TEST_P(RepairTest, FsckNeverPassesACatalogWithAJunkPage) {
  // Enough rows that every table and index spans pages of its own.
  for (int i = 0; i < 60; ++i) {
    PutOptions o;
    o.metadata["user.n"] = std::to_string(i);
    StringSource src(RandomBytes(3000 + i, 100 + i));
    ASSERT_TRUE(b_->Put("d" + std::to_string(i % 7) + "/file-" + std::to_string(i), src, o).ok());
  }
  ASSERT_TRUE(b_->Delete("d1/file-1").ok());
  ASSERT_TRUE(b_->Fsck()->ok());
  b_.reset();  // the last connection checkpoints: catalog.db is the whole catalog
  const std::string db = dir_ + "/catalog.db";
  ASSERT_FALSE(fs::exists(db + "-wal") && fs::file_size(db + "-wal") > 0);
  const std::string pristine = Slurp(db);
  constexpr size_t kPage = 4096;
  ASSERT_EQ(pristine.size() % kPage, 0u);
  const size_t pages = pristine.size() / kPage;
  ASSERT_GE(pages, 8u);
  std::vector<size_t> passed;
  for (size_t p = 2; p <= pages; ++p) {  // page 1 (the header) fails to open at all
    std::string junk = pristine;
    const std::string noise = RandomBytes(kPage, 1000 + p);
    junk.replace((p - 1) * kPage, kPage, noise);
    fs::remove(db + "-shm");
    Spit(db, junk);
    auto ro = Open(/*read_only=*/true);
    if (!ro.ok()) continue;  // refused: not a pass
    auto fsck = (*ro)->Fsck();
    if (fsck.ok() && fsck->ok()) passed.push_back(p);
    if (fsck.ok() && !fsck->ok()) {
      EXPECT_TRUE(fsck->catalog_damaged) << "page " << p << ": " << Joined(fsck->problems);
    }
  }
  EXPECT_TRUE(passed.empty()) << "fsck passed with junk in page " << passed.front() << " of "
                              << pages;
}

// ---- a put is one transaction

// Makes every statement that inserts a version fail (an I/O error or a
// full disk at that very point), on every connection opened meanwhile.
class FailVersionInserts {
 public:
  FailVersionInserts()
      : hook_([](sql::Db& db) {
          sqlite3_exec(db.raw(),
                       "CREATE TEMP TRIGGER fail_versions BEFORE INSERT ON main.versions "
                       "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                       nullptr, nullptr, nullptr);
        }) {}

 private:
  catalog_testing::ScopedConnectionHook hook_;
};

TEST_P(RepairTest, AFailedPutOfANewKeyLeavesNoKeyAndNoDirectory) {
  Put("keep", "kept");
  {
    FailVersionInserts fail;
    Reopen();
    StringSource src(RandomBytes(200000, 8));
    auto r = b_->Put("new/sub/key", src, {});
    EXPECT_FALSE(r.ok());
  }
  Reopen();
  auto list = b_->List("", /*include_deleted=*/true);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].key, "keep");
  auto root = b_->ReadDir(kRootInode);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->size(), 1u) << "the failed put left directory " << root->back().name;
}

// A source that fails after some bytes (a read error of the file being put).
class FailingSource : public ByteSource {
 public:
  Result<size_t> Read(char* buf, size_t n) override {
    if (left_ == 0) return Status::IOError("read source: injected EIO");
    size_t k = std::min(n, left_);
    std::fill_n(buf, k, 'x');
    left_ -= k;
    return k;
  }

 private:
  size_t left_ = 6 << 20;  // more than one ingest block
};

TEST_P(RepairTest, APutWhoseSourceFailsLeavesNoKey) {
  FailingSource src;
  auto r = b_->Put("dir/key", src, {});
  EXPECT_FALSE(r.ok());
  auto list = b_->List("", true);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  EXPECT_TRUE(b_->ReadDir(kRootInode)->empty());
}

// Dies (like kill -9) just before the n-th commit of any connection.
int commits_left = 0;
int DieAtCommit(void*) {
  if (--commits_left == 0) ::_exit(0);
  return 0;
}

TEST_P(RepairTest, ACrashAtAnyCommitNeverLeavesAKeyWithoutAVersion) {
  b_.reset();
  constexpr int kMaxCommits = 6;
  for (int n = 1; n <= kMaxCommits; ++n) {
    const std::string key = "r" + std::to_string(n) + "/s/k";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      commits_left = n;
      catalog_testing::ScopedConnectionHook hook(
          [](sql::Db& db) { sqlite3_commit_hook(db.raw(), DieAtCommit, nullptr); });
      auto b = Open();
      if (!b.ok()) ::_exit(2);
      StringSource src(RandomBytes(100000, n));
      ::_exit((*b)->Put(key, src, {}).ok() ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "round " << n;
    Reopen();
    auto list = b_->List("", true);
    ASSERT_TRUE(list.ok());
    bool found = false;
    for (const FileListing& f : *list) {
      EXPECT_GT(f.version_count, 0u) << f.key << " has no version after a crash at commit " << n;
      found = found || f.key == key;
    }
    if (!found) {
      auto root = b_->ReadDir(kRootInode);
      ASSERT_TRUE(root.ok());
      for (const DirEntry& e : *root) {
        EXPECT_NE(e.name, "r" + std::to_string(n)) << "crash at commit " << n
                                                    << " left an empty directory";
      }
    }
    auto fsck = b_->Fsck();
    ASSERT_TRUE(fsck.ok());
    EXPECT_TRUE(fsck->ok()) << Joined(fsck->problems);
    b_.reset();
  }
}

}  // namespace
}  // namespace katamari

// Two processes on one bucket, as the CLI beside a mounted daemon: this test
// process keeps a bucket open (the daemon) while child processes (the CLI)
// open the same bucket, commit and close. Each child is a fresh exec of this
// binary (a forked copy of an open SQLite connection would share this
// process's lock bookkeeping and prove nothing), told what to do through the
// environment; see ChildMain.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "store/catalog_db.h"
#include "store/catalog_testing.h"
#include "tests/unit/test_util.h"

extern char** environ;

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::TempDir;

constexpr char kChildBucket[] = "KATAMARI_TEST_CHILD_BUCKET";
constexpr char kChildKey[] = "KATAMARI_TEST_CHILD_KEY";

std::string ContentOf(const std::string& key) { return "content of " + key + "\n"; }

// The child's whole life: put one key into the bucket, close it, exit.
// Runs before main() when the environment names a bucket, so the child
// never starts the test runner.
struct ChildMain {
  ChildMain() {
    const char* dir = std::getenv(kChildBucket);
    const char* key = std::getenv(kChildKey);
    if (dir == nullptr || key == nullptr) return;
    int rc = 0;
    {
      auto b = Bucket::Open(dir, {});
      if (!b.ok()) {
        fprintf(stderr, "child: open %s: %s\n", dir, b.status().ToString().c_str());
        _exit(2);
      }
      std::string content = ContentOf(key);
      StringSource src(content);  // keeps a view
      auto v = (*b)->Put(key, src, {});
      if (!v.ok()) {
        fprintf(stderr, "child: put %s: %s\n", key, v.status().ToString().c_str());
        rc = 3;
      }
    }  // closed here: SQLite checkpoints and deletes the WAL if it thinks it is alone
    _exit(rc);
  }
} child_main;

// Runs a child that puts `key` into the bucket at `dir`; its exit status.
int RunChild(const std::string& dir, const std::string& key) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(kChildBucket) + "=" + dir);
  env_strings.push_back(std::string(kChildKey) + "=" + key);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  char self[] = "/proc/self/exe";
  char* argv[] = {self, nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execve(self, argv, envp.data());
    _exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string IntegrityCheck(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out = std::string("open failed: ") + sqlite3_errmsg(db);
  } else {
    sqlite3_exec(
        db, "PRAGMA integrity_check",
        [](void* o, int, char** vals, char**) {
          *static_cast<std::string*>(o) += vals[0] ? vals[0] : "NULL";
          return 0;
        },
        &out, nullptr);
  }
  sqlite3_close(db);
  return out;
}

class MultiProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    auto b = Bucket::Open(dir_, {});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    b_ = std::move(*b);
  }
  void Put(const std::string& key) {
    std::string content = ContentOf(key);
    StringSource src(content);  // keeps a view
    auto r = b_->Put(key, src, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string wal() const { return dir_ + "/catalog.db-wal"; }

  TempDir tmp_{"multi-process"};
  std::string dir_;
  std::unique_ptr<Bucket> b_;
};

// Catalog::Sync once opened and closed its own descriptor of catalog.db,
// which dropped this process's SQLite locks: a child closing the bucket then
// believed it was the last user, checkpointed and deleted the WAL this
// process still wrote, and a second child started a new WAL beside it, so
// the two processes' commits overwrote each other's pages.
TEST_F(MultiProcessTest, SyncKeepsTheLocksSoAnotherProcessNeverTakesTheWal) {
  Put("parent-1");
  ASSERT_TRUE(b_->Sync().ok());
  ASSERT_EQ(RunChild(dir_, "child-1"), 0);
  EXPECT_TRUE(fs::exists(wal())) << "the child deleted the WAL of a catalog still open here";
  Put("parent-2");
  ASSERT_TRUE(b_->Sync().ok());
  ASSERT_EQ(RunChild(dir_, "child-2"), 0);
  Put("parent-3");
  ASSERT_TRUE(b_->Sync().ok());
  b_.reset();  // the last connection: checkpoints

  auto b = Bucket::Open(dir_, {});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const char* key : {"parent-1", "child-1", "parent-2", "child-2", "parent-3"}) {
    StringSink sink;
    Status st = (*b)->Get(key, {}, sink);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    EXPECT_EQ(sink.out, ContentOf(key)) << key;
  }
  b->reset();
  EXPECT_EQ(IntegrityCheck(dir_ + "/catalog.db"), "ok");
}

// The WAL of an idle connection (nothing written since it opened) has
// nothing to sync: Sync succeeds and still keeps the locks.
TEST_F(MultiProcessTest, SyncOfAFreshConnectionThenAnotherProcess) {
  ASSERT_TRUE(b_->Sync().ok());
  ASSERT_EQ(RunChild(dir_, "child-1"), 0);
  ASSERT_TRUE(b_->Sync().ok());
  Put("parent-1");
  ASSERT_TRUE(b_->Sync().ok());
  ASSERT_EQ(RunChild(dir_, "child-2"), 0);
  EXPECT_TRUE(fs::exists(wal()));
  b_.reset();
  auto b = Bucket::Open(dir_, {});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  for (const char* key : {"child-1", "parent-1", "child-2"}) {
    StringSink sink;
    EXPECT_TRUE((*b)->Get(key, {}, sink).ok()) << key;
    EXPECT_EQ(sink.out, ContentOf(key)) << key;
  }
  b->reset();
  EXPECT_EQ(IntegrityCheck(dir_ + "/catalog.db"), "ok");
}

// fsck beside a writer (the mount) that deletes versions while the check
// runs: a version deleted after fsck listed it is skipped, not reported
// damaged, and its chunks are not reclaimed under the check.
TEST_F(MultiProcessTest, FsckBesideAWriterThatDeletesVersions) {
  // Versions in fsck's order: a@1 a@2 b@1 b@2 c@1 c@2, each its own chunks.
  uint64_t seed = 0;
  for (const char* key : {"a", "b", "c"}) {
    for (int i = 0; i < 2; ++i) {
      std::string data = testing_util::RandomBytes(100000, ++seed);
      StringSource src(data);
      ASSERT_TRUE(b_->Put(key, src, {}).ok());
    }
  }
  auto writer = Bucket::Open(dir_, {});  // the mount's connection
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  bool deleted = false;
  auto fsck = b_->Fsck([&](uint64_t, uint64_t) {
    if (deleted) return;
    deleted = true;  // a@1 is checked; b@1 and c@1 go (and their chunks would)
    EXPECT_TRUE((*writer)->DeleteVersion("b", VersionNo(1)).ok());
    EXPECT_TRUE((*writer)->DeleteVersion("c", VersionNo(1)).ok());
  });
  ASSERT_TRUE(fsck.ok()) << fsck.status().ToString();
  EXPECT_TRUE(deleted);
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  EXPECT_EQ(fsck->versions_checked, 4u);
  auto again = b_->Fsck();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->ok()) << (again->problems.empty() ? "" : again->problems[0]);
}

// Runs `action` once, when the connection it is installed on starts its
// first statement whose SQL begins with `sql_prefix` (before that statement
// takes its read snapshot, so it sees what `action` committed).
struct StatementTrigger {
  std::string sql_prefix;
  std::function<void()> action;
  bool fired = false;

  static int OnTrace(unsigned, void* self, void* stmt, void*) {
    auto* t = static_cast<StatementTrigger*>(self);
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
    if (!t->fired && sql != nullptr && std::string(sql).rfind(t->sql_prefix, 0) == 0) {
      t->fired = true;
      t->action();
    }
    return 0;
  }
  void InstallOn(sql::Db& db) {
    sqlite3_trace_v2(db.raw(), SQLITE_TRACE_STMT, &StatementTrigger::OnTrace, this);
  }
};

// `katamari ls` beside a mount that removes a file (its inode row goes, as
// after an editor-pattern rename) between reading a directory and reading
// the entries' attributes: the file is left out, the listing does not fail.
TEST_F(MultiProcessTest, ListBesideAWriterThatRemovesAFile) {
  for (const char* key : {"a", "b", "c"}) Put(key);
  StatementTrigger trigger;
  trigger.sql_prefix = "SELECT kind, mode, uid";  // the first attribute read of a listed entry
  trigger.action = [&] { EXPECT_TRUE(b_->Purge("b").ok()); };  // the mount's connection
  std::unique_ptr<Bucket> lister;
  {
    catalog_testing::ScopedConnectionHook hook([&](sql::Db& db) { trigger.InstallOn(db); });
    Bucket::OpenOptions ro;
    ro.read_only = true;
    auto b = Bucket::Open(dir_, ro);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    lister = std::move(*b);
  }
  auto files = lister->List("", false);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_TRUE(trigger.fired);
  std::vector<std::string> keys;
  for (const FileListing& f : *files) keys.push_back(f.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "c"}));
}

}  // namespace
}  // namespace katamari

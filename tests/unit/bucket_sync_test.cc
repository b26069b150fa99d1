// Batched durability (docs/semantics.md, Durability): commits of a bucket
// opened with sync_interval_ms leave their chunk data unsynced until a sync
// point; after a power cut, RecoverUnsynced rolls back exactly the versions
// whose data did not reach the disk. The power cut is FaultEnv's: every
// pack byte appended since its last fdatasync vanishes, while the
// catalog keeps every row (the worst case: SQLite's WAL reached the disk).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <vector>

#include "store/bucket.h"
#include "store/sha256.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/fault_env.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::RandomBytes;

class BucketSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::make_unique<testing_util::TempDir>("sync");
    dir_ = root_->path() + "/b";
    ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
  }
  // The daemon's way: deferred durability, no timer during the test.
  std::unique_ptr<Bucket> OpenDeferred(FaultEnv* env) {
    Bucket::OpenOptions o;
    o.env = env;
    o.sync_interval_ms = 3600 * 1000;
    auto r = Bucket::Open(dir_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::unique_ptr<Bucket> OpenPlain() {
    auto r = Bucket::Open(dir_, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  static InodeId File(Bucket& b, const std::string& name) {
    auto a = b.Lookup(kRootInode, name);
    if (a.ok()) return a->ino;
    auto f = b.MakeNode(kRootInode, name, FileKind::kRegular, 0644, 0, 0);
    EXPECT_TRUE(f.ok());
    return f->ino;
  }
  static VersionNo Commit(Bucket& b, InodeId ino, const std::string& content) {
    StringSource src(content);
    auto v = b.CommitContent(ino, src);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v->version : VersionNo(0);
  }
  static std::string Current(Bucket& b, InodeId ino) {
    auto a = b.GetAttr(ino);
    EXPECT_TRUE(a.ok());
    if (!a.ok() || a->current_version.value == 0) return "<none>";
    auto r = b.OpenVersion(ino, a->current_version);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "<unreadable>";
    std::string out((*r)->info().size, 'x');
    size_t got = 0;
    Status st = (*r)->ReadAt(0, out.size(), out.data(), &got);
    return st.ok() ? out : "<" + st.ToString() + ">";
  }

  std::unique_ptr<testing_util::TempDir> root_;
  std::string dir_;
};

TEST_F(BucketSyncTest, CommitsWaitForNoSyncAndASyncPointMakesThemDurable) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f");
  Commit(*b, f, RandomBytes(300000, 1));
  EXPECT_GT(env.unsynced_count(), 0u);  // no syncfs on the commit path
  ASSERT_TRUE(b->Sync().ok());
  EXPECT_EQ(env.unsynced_count(), 0u);
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_TRUE(rolled->empty());
  EXPECT_EQ(Current(*p, f), RandomBytes(300000, 1));
}

// Chunks go to this process's open pack: a sync point fdatasyncs it (a
// syncfs would wait for every process's dirty data on the host), however
// many chunks and files were written, and nothing is lost to a power cut
// after it.
TEST_F(BucketSyncTest, ASyncPointSyncsThePackNotTheFileSystem) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f");
  Commit(*b, f, RandomBytes(150000, 1));  // a few chunks
  uint64_t before = env.syncfs_count();
  ASSERT_TRUE(b->Sync().ok());
  EXPECT_EQ(env.syncfs_count(), before);
  EXPECT_EQ(env.unsynced_count(), 0u);
  std::vector<InodeId> many;
  for (int i = 0; i < 100; ++i) {
    many.push_back(File(*b, "m" + std::to_string(i)));
    Commit(*b, many.back(), RandomBytes(3000, 100 + i));
  }
  EXPECT_GT(env.unsynced_count(), 0u);
  before = env.syncfs_count();
  ASSERT_TRUE(b->Sync().ok());
  EXPECT_EQ(env.syncfs_count(), before);
  EXPECT_EQ(env.unsynced_count(), 0u);
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_TRUE(rolled->empty()) << (*rolled)[0];
  EXPECT_EQ(Current(*p, f), RandomBytes(150000, 1));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Current(*p, many[i]), RandomBytes(3000, 100 + i));
}

// Linux reports a writeback error to one fsync only: once a pack's sync
// failed, a retry on it proves nothing. Every later sync point fails too, the
// mark stays, and after a power cut recovery rolls the unsynced version back.
TEST_F(BucketSyncTest, AFailedPackSyncStaysFailedAndTheMarkStays) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f");
  Commit(*b, f, RandomBytes(150000, 1));
  ASSERT_TRUE(b->Sync().ok());
  Commit(*b, f, RandomBytes(150000, 2));
  env.FailNthMutation(1, EIO);
  EXPECT_FALSE(b->Sync().ok());
  EXPECT_FALSE(b->Sync().ok()) << "a second sync point after a failed pack sync succeeded";
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_EQ(rolled->size(), 1u);
  EXPECT_EQ(Current(*p, f), RandomBytes(150000, 1));
}

// Packs roll over at their target size; the rolled-over pack is sealed at
// the next sync point. A power cut after a commit into the new pack loses
// only that commit.
TEST_F(BucketSyncTest, APowerCutAfterARolloverLosesOnlyWhatWasNotSynced) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  b->SetPackTargetSizeForTesting(200000);
  const InodeId f = File(*b, "f"), g = File(*b, "g");
  const std::string a = RandomBytes(300000, 1), c = RandomBytes(300000, 2);
  Commit(*b, f, a);  // fills the first pack past its target
  ASSERT_TRUE(b->Sync().ok());
  Commit(*b, g, c);  // a new pack, unsynced
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  ASSERT_EQ(rolled->size(), 1u);
  EXPECT_NE((*rolled)[0].find("g@1"), std::string::npos) << (*rolled)[0];
  EXPECT_EQ(Current(*p, f), a);
  EXPECT_EQ(Current(*p, g), "<none>");
  auto gc = p->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  auto fsck = p->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  EXPECT_GE(fsck->packs, 2u);
  Commit(*p, g, c);  // the lost content is stored again
  EXPECT_EQ(Current(*p, g), c);
  p.reset();
  b.reset();
}

// The CLI (not deferred) syncs its own chunks before its rows, and when it
// closes the bucket it raises the mark with one syncfs, which also covers
// the daemon's unsynced data: after a power cut nothing is to be rolled back.
TEST_F(BucketSyncTest, ACommandThatCommittedRaisesTheMarkWhenItCloses) {
  FaultEnv env;
  auto daemon = OpenDeferred(&env);
  const InodeId f = File(*daemon, "f");
  Commit(*daemon, f, RandomBytes(200000, 1));  // unsynced
  {
    Bucket::OpenOptions o;
    o.env = &env;
    auto cli = Bucket::Open(dir_, o);
    ASSERT_TRUE(cli.ok());
    Commit(**cli, File(**cli, "g"), RandomBytes(100000, 2));
  }  // closed: the mark is raised
  EXPECT_EQ(env.unsynced_count(), 0u);
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_TRUE(rolled->empty());
  EXPECT_EQ(Current(*p, f), RandomBytes(200000, 1));
}

// A bucket that never had a mark was written only by builds that synced each
// version's data before its row: its first recovery reads nothing (a damaged
// chunk stays fsck's business) and records the mark.
TEST_F(BucketSyncTest, ABucketWithoutAMarkIsTrustedAndMarked) {
  {
    auto p = OpenPlain();
    Commit(*p, File(*p, "f"), RandomBytes(100000, 3));
  }
  const std::string cat = dir_ + "/catalog.db";
  catalog_aging::RawExec(cat, "DELETE FROM meta WHERE key LIKE 'durable%'");
  catalog_aging::RawExec(cat, "INSERT INTO commits(time_ns) VALUES(1)");  // a later commit
  EXPECT_EQ(catalog_aging::RawInt(cat, "SELECT count(*) FROM meta WHERE key = 'durable_seq'"), 0);
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  EXPECT_TRUE(rolled->empty());
  p.reset();
  EXPECT_EQ(catalog_aging::RawInt(cat, "SELECT value FROM meta WHERE key = 'durable_seq'"),
            catalog_aging::RawInt(cat, "SELECT max(seq) FROM commits"));
}

TEST_F(BucketSyncTest, APowerCutRollsBackExactlyTheVersionsWhoseDataIsGone) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f"), g = File(*b, "g"), h = File(*b, "h");
  const std::string a = RandomBytes(200000, 1), bb = RandomBytes(200000, 2),
                    c = RandomBytes(100000, 3);
  Commit(*b, f, a);
  ASSERT_TRUE(b->Sync().ok());
  Commit(*b, f, bb);  // new data: lost at the cut
  Commit(*b, g, c);   // a new file's only version: lost
  Commit(*b, h, a);   // only durable chunks (dedup): kept
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  ASSERT_EQ(rolled->size(), 2u);
  EXPECT_NE((*rolled)[0].find("f@2"), std::string::npos) << (*rolled)[0];
  EXPECT_NE((*rolled)[1].find("g@1"), std::string::npos) << (*rolled)[1];
  EXPECT_EQ(Current(*p, f), a);
  EXPECT_EQ(Current(*p, g), "<none>");
  EXPECT_EQ(Current(*p, h), a);
  // Recovery made its own sync point: a second run has nothing to check.
  auto again = p->RecoverUnsynced();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  // The lost content can be committed again (its chunk is not reused).
  Commit(*p, f, bb);
  EXPECT_EQ(Current(*p, f), bb);
}

// A version to roll back is rolled back even when a pin holds it whose
// owner cannot be judged (open(2) of its file under pins/ fails otherwise
// than ENOENT: EACCES for a user who may not read it, here ELOOP, which root
// meets too): the power cut ended every holder, and its data reads as EIO.
// The durable mark never moves past a torn version left current.
TEST_F(BucketSyncTest, RecoveryRollsBackAVersionPinnedByAnOwnerItCannotJudge) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f");
  const std::string a = RandomBytes(200000, 1), lost = RandomBytes(200000, 2);
  Commit(*b, f, a);
  ASSERT_TRUE(b->Sync().ok());
  const VersionNo v2 = Commit(*b, f, lost);  // new data: lost at the cut
  auto pinned = b->OpenVersionPinned(f, v2);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  const std::string pins = dir_ + "/pins";
  std::vector<std::string> owners;
  for (const auto& e : std::filesystem::directory_iterator(pins)) {
    owners.push_back(e.path().filename());
  }
  ASSERT_EQ(owners.size(), 1u);
  const std::string owner_file = pins + "/" + owners[0];
  ASSERT_EQ(::unlink(owner_file.c_str()), 0);
  ASSERT_EQ(::symlink(owner_file.c_str(), owner_file.c_str()), 0);  // ELOOP on open
  auto p = OpenPlain();
  auto rolled = p->RecoverUnsynced();
  ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
  ASSERT_EQ(rolled->size(), 1u);
  EXPECT_NE((*rolled)[0].find("f@2: rolled back"), std::string::npos) << (*rolled)[0];
  EXPECT_FALSE(p->GetVersion(f, v2).ok());  // gone, pin and all
  EXPECT_EQ(Current(*p, f), a);
  // Judged: the next start has nothing left to roll back.
  auto again = p->RecoverUnsynced();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->empty());
  ASSERT_EQ(::unlink(owner_file.c_str()), 0);
}

// After a power cut tore the records of a lost version, a write of the same
// content by another process stores them again: recovery makes every broken
// record's row forget its location, even while another process's writer
// holds the gc lock (so that neither moving the record aside nor deleting
// the unreferenced rows can run).
TEST_F(BucketSyncTest, ContentLostAtAPowerCutIsStoredAgainByTheNextWriterAnywhere) {
  FaultEnv env;
  auto b = OpenDeferred(&env);
  const InodeId f = File(*b, "f");
  const std::string a = RandomBytes(100000, 1), lost = RandomBytes(500000, 2);
  Commit(*b, f, a);
  ASSERT_TRUE(b->Sync().ok());
  Commit(*b, f, lost);  // several chunks, all lost at the cut
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  int gc_fd = ::open((dir_ + "/gc.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(gc_fd, 0);
  ASSERT_EQ(::flock(gc_fd, LOCK_SH), 0);  // another process's writer
  {
    auto p = OpenPlain();
    auto rolled = p->RecoverUnsynced();
    ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
    ASSERT_EQ(rolled->size(), 1u);
    EXPECT_EQ(Current(*p, f), a);
  }
  // Another process (a fresh handle: nothing of the first one's memory).
  auto q = OpenPlain();
  const InodeId g = File(*q, "g");
  Commit(*q, g, lost);
  EXPECT_EQ(Current(*q, g), lost) << "the write deduplicated onto torn records";
  ::close(gc_fd);
  ASSERT_TRUE(q->Gc().ok());
  auto fsck = q->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  q.reset();
  b.reset();
}

// A power cut after every step of a sequence of commits and sync points:
// each file is then at the newest version whose data survived, and every
// version left reads back exactly.
TEST_F(BucketSyncTest, APowerCutAtEveryStepLeavesOnlyReadableVersions) {
  struct Step {
    const char* file;
    int seed;  // 0: a sync point
  };
  const std::vector<Step> steps = {{"a", 1}, {"b", 2}, {"x", 0}, {"a", 3}, {"c", 4},
                                   {"b", 1}, {"x", 0}, {"a", 5}, {"c", 6}, {"b", 7}};
  for (size_t cut = 0; cut <= steps.size(); ++cut) {
    SCOPED_TRACE("power cut after step " + std::to_string(cut));
    root_ = std::make_unique<testing_util::TempDir>("sync");
    dir_ = root_->path() + "/b";
    ASSERT_TRUE(Bucket::Create(dir_, {}).ok());
    FaultEnv env;
    auto b = OpenDeferred(&env);
    std::map<std::string, std::vector<std::string>> durable, all;  // contents per file
    std::map<std::string, std::vector<std::string>> since_sync;
    for (size_t i = 0; i < cut; ++i) {
      if (steps[i].seed == 0) {
        ASSERT_TRUE(b->Sync().ok());
        for (auto& [name, list] : since_sync) {
          for (auto& c : list) durable[name].push_back(c);
        }
        since_sync.clear();
        continue;
      }
      const std::string content = RandomBytes(70000 + 1000 * steps[i].seed, steps[i].seed);
      Commit(*b, File(*b, steps[i].file), content);
      since_sync[steps[i].file].push_back(content);
      all[steps[i].file].push_back(content);
    }
    ASSERT_TRUE(env.SimulatePowerCut().ok());
    auto p = OpenPlain();
    auto rolled = p->RecoverUnsynced();
    ASSERT_TRUE(rolled.ok()) << rolled.status().ToString();
    for (const auto& [name, contents] : all) {
      auto a = p->Lookup(kRootInode, name);
      ASSERT_TRUE(a.ok()) << name;
      auto versions = p->ListVersions(a->ino);
      ASSERT_TRUE(versions.ok());
      for (const VersionInfo& v : *versions) {  // every version left reads back
        auto r = p->OpenVersion(a->ino, v.version);
        ASSERT_TRUE(r.ok());
        std::string out(v.size, 'x');
        size_t got = 0;
        ASSERT_TRUE((*r)->ReadAt(0, out.size(), out.data(), &got).ok()) << name;
        EXPECT_EQ(Sha256Of(out), v.sha256) << name << "@" << v.version.value;
      }
      // At least every durable version is still there.
      EXPECT_GE(versions->size(), durable[name].size()) << name;
      const std::string cur = Current(*p, a->ino);
      if (!durable[name].empty() || versions->size() > 0) {
        bool known = cur == "<none>";
        for (const auto& c : contents) known = known || c == cur;
        EXPECT_TRUE(known) << name << " shows content it never had";
      }
      if (!durable[name].empty() && since_sync[name].empty()) {
        EXPECT_EQ(cur, durable[name].back()) << name;
      }
    }
    p.reset();
    b.reset();
  }
}

}  // namespace
}  // namespace katamari

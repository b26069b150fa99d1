// Version pins (store/bucket_pins.cc, store/catalog_pins.cc): the base
// version of a write session (a reader opened with OpenVersionPinned) is
// kept by prune, rm NAME@N and rm --purge of any Bucket, of this process or
// another; the pins of a process that is gone (kill -9) are stale and
// dropped by the next deletion that meets them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "store/bucket.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

class PinTest : public ::testing::Test {
 protected:
  virtual BucketSettings Settings() const { return {}; }
  void SetUp() override {
    ASSERT_TRUE(Bucket::Create(Dir(), Settings()).ok());
    mount_ = OpenOne();  // stands for the daemon
    cli_ = OpenOne();    // stands for the CLI: another pin owner
    ASSERT_TRUE(mount_ && cli_);
  }
  std::string Dir() const { return dir_.path() + "/b"; }
  std::unique_ptr<Bucket> OpenOne() {
    auto b = Bucket::Open(Dir(), {});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b).value() : nullptr;
  }
  VersionInfo Put(Bucket& b, const std::string& key, const std::string& body) {
    StringSource src(body);
    auto r = b.Put(key, src, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  std::vector<uint64_t> Versions(Bucket& b, const std::string& key) {
    std::vector<uint64_t> out;
    auto r = b.Versions(key);
    if (r.ok()) {
      for (const VersionInfo& v : *r) out.push_back(v.version.value);
    }
    return out;
  }
  std::string ReadAll(VersionReader& r) {
    std::string out(r.info().size, '\0');
    size_t got = 0;
    EXPECT_TRUE(r.ReadAt(0, out.size(), out.data(), &got).ok());
    out.resize(got);
    return out;
  }

  testing_util::TempDir dir_{"pins"};
  std::unique_ptr<Bucket> mount_, cli_;
};

TEST_F(PinTest, APinnedBaseSurvivesRmPruneAndGcOfAnotherOwner) {
  const std::string body1 = testing_util::RandomBytes(300000, 1);
  VersionInfo v1 = Put(*mount_, "f", body1);
  Put(*mount_, "f", "second");  // v1 is no longer current: prune and rm may cut it
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok()) << base.status().ToString();

  Status st = cli_->DeleteVersion("f", v1.version);
  EXPECT_EQ(st.code(), Status::Code::kBusy) << st.ToString();
  EXPECT_NE(st.message().find("open for writing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("pid " + std::to_string(getpid())), std::string::npos)
      << st.message();
  EXPECT_EQ(cli_->Purge("f").code(), Status::Code::kBusy);
  ASSERT_TRUE(cli_->SetPolicy("", *RetentionRules::Parse({"keep-last=1"})).ok());
  auto pruned = cli_->Prune({});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->versions_removed, 0u);
  EXPECT_EQ(pruned->versions_in_use, 1u);
  ASSERT_TRUE(cli_->Gc().ok());
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{1, 2}));
  // Every byte of the base still reads (its chunks were not collected).
  EXPECT_EQ(ReadAll(**base), body1);
  // The mount's own rm NAME@N is refused too.
  EXPECT_EQ(mount_->DeleteVersion("f", v1.version).code(), Status::Code::kBusy);

  base->reset();  // the session is done: the pin goes
  auto again = cli_->Prune({});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->versions_removed, 1u);
  EXPECT_EQ(again->versions_in_use, 0u);
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{2}));
}

// prune's bytes freed counts only what it removes, not the versions it
// keeps because they are pinned.
TEST_F(PinTest, PrunesBytesFreedLeavesOutPinnedVersions) {
  VersionInfo v1 = Put(*mount_, "f", testing_util::RandomBytes(400000, 11));
  VersionInfo v2 = Put(*mount_, "f", testing_util::RandomBytes(100000, 12));
  Put(*mount_, "f", "third");
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(cli_->SetPolicy("", *RetentionRules::Parse({"keep-last=1"})).ok());
  auto pruned = cli_->Prune({});
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(pruned->versions_removed, 1u);  // v2
  EXPECT_EQ(pruned->versions_in_use, 1u);   // v1
  EXPECT_GT(pruned->bytes_freed, 0u);
  EXPECT_LE(pruned->bytes_freed, v2.stored_size);
  base->reset();
  auto again = cli_->Prune({});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->versions_removed, 1u);  // v1
  EXPECT_GT(again->bytes_freed, 300000u);
  EXPECT_LE(again->bytes_freed, v1.stored_size);
}

// katamari prune --dry-run opens the bucket read-only: it must still see
// what a mount holds, say what the real prune would say, and write nothing.
TEST_F(PinTest, ADryRunSeesPinsAsThePruneDoesAndWritesNothing) {
  VersionInfo v1 = Put(*mount_, "f", testing_util::RandomBytes(400000, 19));
  Put(*mount_, "f", testing_util::RandomBytes(100000, 20));
  Put(*mount_, "f", "third");
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(cli_->SetPolicy("", *RetentionRules::Parse({"keep-last=1"})).ok());
  // A killed owner's pin too: a dry run must neither count it nor drop it.
  cli_.reset();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto b = Bucket::Open(Dir(), {});
    if (!b.ok()) _exit(2);
    auto r = (*b)->OpenVersionPinned(v1.ino, VersionNo(2));
    _exit(r.ok() ? 0 : 3);  // as kill -9
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string db = Dir() + "/catalog.db";
  auto snapshot = [&] {
    std::string out;
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      out += std::to_string(std::filesystem::file_size(db + suffix, ec)) + "/";
    }
    for (const auto& e : std::filesystem::directory_iterator(Dir() + "/pins")) {
      out += e.path().filename().string() + ",";
    }
    return out;
  };
  const std::string before = snapshot();
  Bucket::OpenOptions ro;
  ro.read_only = true;
  auto view = Bucket::Open(Dir(), ro);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  PruneOptions dry;
  dry.dry_run = true;
  auto would = (*view)->Prune(dry);
  ASSERT_TRUE(would.ok()) << would.status().ToString();
  EXPECT_EQ(would->versions_removed, 1u);  // v2 (its pin is stale)
  EXPECT_EQ(would->versions_in_use, 1u);   // v1
  ASSERT_EQ(would->files.size(), 1u);
  EXPECT_EQ(would->files[0].removed, (std::vector<uint64_t>{2}));
  view->reset();
  EXPECT_EQ(snapshot(), before);
  cli_ = OpenOne();
  auto real = cli_->Prune({});
  ASSERT_TRUE(real.ok()) << real.status().ToString();
  EXPECT_EQ(real->versions_removed, would->versions_removed);
  EXPECT_EQ(real->versions_in_use, would->versions_in_use);
  EXPECT_EQ(real->bytes_freed, would->bytes_freed);
}

TEST_F(PinTest, TwoReadersOfOneVersionPinItUntilTheLastGoes) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  auto a = mount_->OpenVersionPinned(v1.ino, v1.version);
  auto b = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(a.ok() && b.ok());
  a->reset();
  EXPECT_EQ(cli_->DeleteVersion("f", v1.version).code(), Status::Code::kBusy);
  b->reset();
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
}

TEST_F(PinTest, AnUnpinThatFailedIsRetriedAtTheNextUnpin) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  VersionInfo g1 = Put(*mount_, "g", "other");
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(reader.ok());
  mount_->FailUnpinsForTesting(1);
  reader->reset();  // its row stays: the catalog was busy
  EXPECT_EQ(cli_->DeleteVersion("f", v1.version).code(), Status::Code::kBusy);
  auto again = mount_->OpenVersionPinned(g1.ino, g1.version);
  ASSERT_TRUE(again.ok());
  again->reset();  // the next unpin takes the row left behind too
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
}

TEST_F(PinTest, ARowLeftByAFailedUnpinServesThePinThatComesBack) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  VersionInfo g1 = Put(*mount_, "g", "other");
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(reader.ok());
  mount_->FailUnpinsForTesting(1);
  reader->reset();
  auto back = mount_->OpenVersionPinned(v1.ino, v1.version);  // pinned again
  ASSERT_TRUE(back.ok());
  auto other = mount_->OpenVersionPinned(g1.ino, g1.version);
  ASSERT_TRUE(other.ok());
  other->reset();  // an unpin must not take the row the new pin stands on
  EXPECT_EQ(cli_->DeleteVersion("f", v1.version).code(), Status::Code::kBusy);
  back->reset();
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
}

TEST_F(PinTest, PinningAVersionThatIsGoneIsNotFound) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  ASSERT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
  auto r = mount_->OpenVersionPinned(v1.ino, v1.version);
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  // A failed pin leaves nothing behind: the next version can go.
  VersionInfo v3 = Put(*mount_, "f", "three");
  EXPECT_TRUE(cli_->DeleteVersion("f", VersionNo(v3.version.value - 1)).ok());
}

TEST_F(PinTest, ClosingTheBucketDropsItsPins) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  {
    auto r = mount_->OpenVersionPinned(v1.ino, v1.version);
    ASSERT_TRUE(r.ok());
    r->release();  // leaked on purpose: the bucket's close still drops the row
  }
  mount_.reset();
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
  EXPECT_FALSE(std::filesystem::exists(Dir() + "/pins") &&
               !std::filesystem::is_empty(Dir() + "/pins"));
}

TEST_F(PinTest, PinsOfAKilledProcessAreStale) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  mount_.reset();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // As a daemon killed with -9 while a file was open: no destructor runs.
    auto b = Bucket::Open(Dir(), {});
    if (!b.ok()) _exit(2);
    auto r = (*b)->OpenVersionPinned(v1.ino, v1.version);
    _exit(r.ok() ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // Its owner file is still there, unlocked; the pin row too. The deletion
  // finds the owner gone, drops the pin and goes ahead.
  EXPECT_FALSE(std::filesystem::is_empty(Dir() + "/pins"));
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
  EXPECT_TRUE(std::filesystem::is_empty(Dir() + "/pins"));
}

TEST_F(PinTest, AReadOnlyBucketPinsNothing) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  Put(*mount_, "f", "two");
  Bucket::OpenOptions ro;
  ro.read_only = true;
  auto b = Bucket::Open(Dir(), ro);
  ASSERT_TRUE(b.ok());
  auto r = (*b)->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(cli_->DeleteVersion("f", v1.version).ok());
}

// An amend (the empty version a first close commits, replaced in place by
// the next commit) never changes a version another reader holds: the
// content becomes the next version instead.
class AmendPinTest : public PinTest {
 protected:
  // A file whose current version is the empty one a first close commits.
  VersionInfo Provisional(const std::string& name) {
    auto a = mount_->MakeNode(kRootInode, name, FileKind::kRegular, 0644, 0, 0);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    StringSource empty("");
    auto v = mount_->CommitContent(a->ino, empty);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : VersionInfo{};
  }
  // As the write session commits: it holds one pin on its base, `session_pin`.
  Result<VersionInfo> Amend(const VersionInfo& p, const std::string& body,
                            std::optional<VersionNo> session_pin) {
    StringSource src(body);
    return mount_->CommitContent(p.ino, src, {.replaces = p.version, .caller_pin = session_pin});
  }
};

TEST_F(AmendPinTest, WithoutOtherReadersTheSessionsOwnPinAllowsTheAmend) {
  VersionInfo p = Provisional("f");
  auto session = mount_->OpenVersionPinned(p.ino, p.version);  // the write session's base
  ASSERT_TRUE(session.ok());
  auto r = Amend(p, "data", p.version);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, p.version);
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{p.version.value}));
}

TEST_F(AmendPinTest, AVersionAnotherProcessReadsIsNotAmended) {
  VersionInfo p = Provisional("f");
  auto reader = cli_->OpenVersionPinned(p.ino, p.version);
  ASSERT_TRUE(reader.ok());
  auto r = Amend(p, "data", p.version);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version.value, p.version.value + 1);
  auto kept = cli_->GetVersion(p.ino, p.version);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->size, 0u);
  EXPECT_EQ(kept->seq, p.seq);  // the very version the reader holds
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{1, 2}));
}

TEST_F(AmendPinTest, AVersionAnotherReaderOfThisProcessHoldsIsNotAmended) {
  VersionInfo p = Provisional("f");
  auto session = mount_->OpenVersionPinned(p.ino, p.version);
  auto reader = mount_->OpenVersionPinned(p.ino, p.version);  // `cat f@1` meanwhile
  ASSERT_TRUE(session.ok() && reader.ok());
  auto r = Amend(p, "data", p.version);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version.value, p.version.value + 1);
  EXPECT_EQ(cli_->GetVersion(p.ino, p.version)->seq, p.seq);
}

TEST_F(AmendPinTest, ASessionWithoutAPinOfItsOwnCountsEveryReader) {
  // The session's rebase onto its provisional version failed: the one pin
  // of this process on it is a reader's, and the amend must not happen.
  VersionInfo p = Provisional("f");
  auto reader = mount_->OpenVersionPinned(p.ino, p.version);
  ASSERT_TRUE(reader.ok());
  auto r = Amend(p, "data", std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version.value, p.version.value + 1);
  EXPECT_EQ(ReadAll(**reader), "");
}

// A commit drops superseded versions of an excluded name (and of every file
// with versioning off), but never one a reader of the committing process
// itself holds (`cat f@1` in the mount while the file is rewritten).
TEST_F(PinTest, AnExcludedFilesOwnCommitKeepsTheVersionAReaderHere) {
  const std::string body = testing_util::RandomBytes(300000, 11);
  VersionInfo v1 = Put(*mount_, "scratch.tmp", body);
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);
  auto session = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(reader.ok() && session.ok());
  StringSource src(testing_util::RandomBytes(300000, 12));
  auto v2 = mount_->CommitContent(v1.ino, src, {.caller_pin = v1.version});
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  session->reset();
  ASSERT_TRUE(mount_->Gc().ok());
  EXPECT_TRUE(ReadAll(**reader) == body);
  EXPECT_EQ(Versions(*cli_, "scratch.tmp"), (std::vector<uint64_t>{1, 2}));
  reader->reset();
  Put(*mount_, "scratch.tmp", "third");  // the next commit takes what is no longer held
  EXPECT_EQ(Versions(*cli_, "scratch.tmp"), (std::vector<uint64_t>{3}));
  auto f = cli_->Fsck();
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->ok());
}

// Without versioning a file that loses its last name is purged at once; a
// version a live owner pins (the base of a write session, a reader) stays,
// nameless, until the pin goes.
class UnversionedPinTest : public PinTest {
 protected:
  BucketSettings Settings() const override {
    BucketSettings s;
    s.versioning = false;
    return s;
  }
  uint64_t Chunks() {
    auto st = cli_->Stats();
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->chunks : 0;
  }
  void ExpectFsckClean() {
    auto f = cli_->Fsck();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_TRUE(f->ok()) << (f->problems.empty() ? "" : f->problems[0]);
  }
};

TEST_F(UnversionedPinTest, RmOfAFileWhoseVersionIsPinnedKeepsThatVersionUntilUnpinned) {
  const std::string body = testing_util::RandomBytes(600000, 7);
  VersionInfo v1 = Put(*mount_, "f", body);
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  const uint64_t before = Chunks();
  ASSERT_GT(before, 0u);

  ASSERT_TRUE(cli_->Delete("f").ok());  // katamari rm f beside the mount
  EXPECT_TRUE(cli_->Lookup(kRootInode, "f").status().IsNotFound());  // gone for everyone
  ASSERT_TRUE(cli_->Gc().ok());
  ASSERT_TRUE(cli_->Prune({}).ok());
  ASSERT_TRUE(cli_->Gc().ok());
  // The open descriptor still reads every byte: nothing was collected.
  EXPECT_TRUE(cli_->GetVersion(v1.ino, v1.version).ok());
  EXPECT_EQ(ReadAll(**base), body);
  EXPECT_EQ(Chunks(), before);
  ExpectFsckClean();

  base->reset();  // the pin goes, and the file with it
  ASSERT_TRUE(cli_->Gc().ok());
  EXPECT_EQ(Chunks(), 0u);
  EXPECT_FALSE(cli_->GetVersion(v1.ino, v1.version).ok());
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, TheOwnersOwnUnpinReleasesTheNamelessFile) {
  const std::string body = testing_util::RandomBytes(300000, 8);
  VersionInfo v1 = Put(*mount_, "f", body);
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(mount_->Delete("f").ok());  // unlink on the mount itself
  EXPECT_EQ(ReadAll(**base), body);
  EXPECT_GT(Chunks(), 0u);
  base->reset();  // Unpin: purged, and reclaimed at once (as an unpinned rm)
  EXPECT_FALSE(mount_->GetVersion(v1.ino, v1.version).ok());
  EXPECT_EQ(Chunks(), 0u);
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, AReaderHereKeepsTheVersionTheOwnersCommitSupersedes) {
  const std::string body = testing_util::RandomBytes(300000, 13);
  VersionInfo v1 = Put(*mount_, "f", body);
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);   // cat f@1
  auto session = mount_->OpenVersionPinned(v1.ino, v1.version);  // the writer's base
  ASSERT_TRUE(reader.ok() && session.ok());
  StringSource src(testing_util::RandomBytes(300000, 14));
  auto v2 = mount_->CommitContent(v1.ino, src, {.caller_pin = v1.version});
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  session->reset();
  ASSERT_TRUE(cli_->Gc().ok());
  EXPECT_TRUE(ReadAll(**reader) == body);  // every chunk still there
  ExpectFsckClean();
  reader->reset();  // the last pin goes, and the version with it
  EXPECT_FALSE(cli_->GetVersion(v1.ino, v1.version).ok());
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{2}));
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, TheCommittingSessionsOwnBaseGoesWithTheCommit) {
  VersionInfo v1 = Put(*mount_, "f", testing_util::RandomBytes(300000, 15));
  auto session = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(session.ok());
  StringSource src("new");
  ASSERT_TRUE(mount_->CommitContent(v1.ino, src, {.caller_pin = v1.version}).ok());
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{2}));  // no extra write at unpin
}

TEST_F(UnversionedPinTest, ANamelessFileWhoseCurrentVersionGoesFallsBackToTheNewestKept) {
  const std::string body1 = testing_util::RandomBytes(300000, 16);
  VersionInfo v1 = Put(*mount_, "f", body1);
  auto old_reader = mount_->OpenVersionPinned(v1.ino, v1.version);  // cat f@1
  ASSERT_TRUE(old_reader.ok());
  VersionInfo v2 = Put(*mount_, "f", "second");  // v1 is held: kept
  auto cur_reader = cli_->OpenVersionPinned(v2.ino, v2.version);
  ASSERT_TRUE(cur_reader.ok());
  ASSERT_TRUE(cli_->Delete("f").ok());  // nameless; both versions held
  cur_reader->reset();  // v2, the current one, goes; v1 is still read
  EXPECT_FALSE(mount_->GetVersion(v2.ino, v2.version).ok());
  EXPECT_TRUE(mount_->GetVersion(v1.ino, v1.version).ok());
  ExpectFsckClean();
  ASSERT_TRUE(cli_->Gc().ok());
  EXPECT_TRUE(ReadAll(**old_reader) == body1);
  old_reader->reset();
  EXPECT_FALSE(mount_->GetVersion(v1.ino, v1.version).ok());
  EXPECT_EQ(Chunks(), 0u);
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, RenameOverAPinnedFileKeepsItsVersion) {
  const std::string body = testing_util::RandomBytes(300000, 9);
  VersionInfo v1 = Put(*mount_, "f", body);
  Put(*mount_, "g", "other");
  auto base = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE(cli_->Rename(kRootInode, "g", kRootInode, "f", 0).ok());
  ASSERT_TRUE(cli_->Gc().ok());
  EXPECT_EQ(ReadAll(**base), body);
  base->reset();
  EXPECT_FALSE(cli_->GetVersion(v1.ino, v1.version).ok());
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, PinsOfAKilledOwnerReleaseTheNamelessFileAtTheNextOpenOrGc) {
  VersionInfo v1 = Put(*mount_, "f", testing_util::RandomBytes(300000, 10));
  mount_.reset();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto b = Bucket::Open(Dir(), {});
    if (!b.ok()) _exit(2);
    auto r = (*b)->OpenVersionPinned(v1.ino, v1.version);
    if (!r.ok()) _exit(3);
    // rm f while this process (a daemon, about to be killed) pins it
    auto other = Bucket::Open(Dir(), {});
    if (!other.ok() || !(*other)->Delete("f").ok()) _exit(4);
    _exit(0);  // as kill -9: no destructor runs
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(cli_->GetVersion(v1.ino, v1.version).ok());  // kept for the pin
  ASSERT_TRUE(cli_->Gc().ok());  // the pin is stale: the file goes
  EXPECT_FALSE(cli_->GetVersion(v1.ino, v1.version).ok());
  EXPECT_EQ(Chunks(), 0u);
  ExpectFsckClean();
}

TEST_F(UnversionedPinTest, AStalePinMetOnOneFileLeavesTheOthersForTheNextOpensSweep) {
  VersionInfo f1 = Put(*mount_, "f", testing_util::RandomBytes(200000, 17));
  VersionInfo g1 = Put(*mount_, "g", testing_util::RandomBytes(200000, 18));
  mount_.reset();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto b = Bucket::Open(Dir(), {});
    if (!b.ok()) _exit(2);
    auto rf = (*b)->OpenVersionPinned(f1.ino, f1.version);
    auto rg = (*b)->OpenVersionPinned(g1.ino, g1.version);
    if (!rf.ok() || !rg.ok()) _exit(3);
    // Both files rewritten by another process while this one reads them.
    auto other = Bucket::Open(Dir(), {});
    if (!other.ok()) _exit(4);
    StringSource f2("f2"), g2("g2");
    if (!(*other)->Put("f", f2, {}).ok() || !(*other)->Put("g", g2, {}).ok()) _exit(5);
    _exit(0);  // as kill -9: no destructor runs
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Versions(*cli_, "g"), (std::vector<uint64_t>{1, 2}));
  Put(*cli_, "f", "f3");  // meets f's stale pin: f's old versions go
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{3}));
  auto next = OpenOne();  // the next open sweeps g's stale pin, and g's kept version
  ASSERT_TRUE(next);
  EXPECT_EQ(Versions(*next, "g"), (std::vector<uint64_t>{2}));
  ExpectFsckClean();
}

// A commit deletes the committing session's pin row in its own transaction
// (the session never reads that base again), so its close costs no unpin
// transaction; every other reader keeps its version pinned.
class PinReleaseTest : public PinTest {
 protected:
  // Commits `body` as the next version of `v`'s file as a write session
  // based on `v` would (caller_pin).
  VersionInfo CommitOn(const VersionInfo& v, const std::string& body) {
    StringSource src(body);
    auto r = mount_->CommitContent(v.ino, src, {.caller_pin = v.version});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  bool DeletableByCli(const VersionInfo& v) {
    Status st = cli_->DeleteVersion("f", v.version);
    EXPECT_TRUE(st.ok() || st.code() == Status::Code::kBusy) << st.ToString();
    return st.ok();
  }
};

TEST_F(PinReleaseTest, TheCommitReleasesTheSessionBasesPin) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  auto base = mount_->OpenSessionBase(v1.ino, v1.version);
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  CommitOn(v1, "two");
  EXPECT_TRUE(DeletableByCli(v1));  // no row left: the session is done with it
  base->reset();                    // its unpin deletes nothing (and fails nothing)
  EXPECT_EQ(Versions(*cli_, "f"), (std::vector<uint64_t>{2}));
}

TEST_F(PinReleaseTest, ASecondReaderOfTheBaseKeepsItsRow) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  auto base = mount_->OpenSessionBase(v1.ino, v1.version);
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);
  ASSERT_TRUE(base.ok() && reader.ok());
  CommitOn(v1, "two");
  EXPECT_FALSE(DeletableByCli(v1));
  base->reset();
  EXPECT_FALSE(DeletableByCli(v1));  // the reader still holds it
  EXPECT_EQ(ReadAll(**reader), "one");
  reader->reset();
  EXPECT_TRUE(DeletableByCli(v1));
}

TEST_F(PinReleaseTest, AReaderOpenedAfterTheReleaseWritesTheRowAgain) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  auto base = mount_->OpenSessionBase(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  CommitOn(v1, "two");
  auto reader = mount_->OpenVersionPinned(v1.ino, v1.version);  // `cat f@1`
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_FALSE(DeletableByCli(v1));
  base->reset();
  EXPECT_FALSE(DeletableByCli(v1));
  EXPECT_EQ(ReadAll(**reader), "one");
  reader->reset();
  EXPECT_TRUE(DeletableByCli(v1));
}

TEST_F(PinReleaseTest, ASessionWhoseRebaseFailedPinsItsBaseAgain) {
  VersionInfo v1 = Put(*mount_, "f", "one");
  auto base = mount_->OpenSessionBase(v1.ino, v1.version);
  ASSERT_TRUE(base.ok());
  CommitOn(v1, "two");
  ASSERT_TRUE(mount_->RepinSessionBase(v1.ino, v1.version).ok());
  EXPECT_FALSE(DeletableByCli(v1));
  EXPECT_EQ(ReadAll(**base), "one");
  base->reset();
  EXPECT_TRUE(DeletableByCli(v1));
}

}  // namespace
}  // namespace katamari

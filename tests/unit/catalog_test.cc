// Catalog: format checks and migrations, names, MVCC time views, version
// numbering, chunk reference counts and garbage, rename semantics, xattrs.
#include "store/catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "store/catalog_testing.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using catalog_aging::RawExec;
using catalog_aging::RawInt;

namespace fs = std::filesystem;
using Code = Status::Code;
using testing_util::TempDir;

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const auto& _r = (expr);                             \
    ASSERT_TRUE(_r.ok()) << StatusOf(_r).ToString();     \
  } while (0)
#define EXPECT_CODE(expr, want)                                      \
  do {                                                               \
    const auto& _r = (expr);                                         \
    EXPECT_EQ(StatusOf(_r).code(), want) << StatusOf(_r).ToString(); \
  } while (0)

const Status& StatusOf(const Status& s) { return s; }
template <class T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}



Digest D(int n) {
  Digest d;
  d.bytes[0] = static_cast<uint8_t>(n);
  d.bytes[1] = static_cast<uint8_t>(n >> 8);
  d.bytes[31] = 0xAB;
  return d;
}
// A chunk the writer stored (a pack location): a new row needs one. A chunk
// the writer reused is ChunkRef{D(n), raw, 0}, without.
ChunkRef C(int n, uint32_t raw = 1000, uint32_t stored = 0) {
  return testing_util::InPack(
      ChunkRef{D(n), raw, stored != 0 ? stored : 500 + static_cast<uint32_t>(n)});
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(BucketSettings{}); }
  void Make(const BucketSettings& s) {
    cat_.reset();
    path_ = dir_.path() + "/catalog.db";
    fs::remove(path_);
    fs::remove(path_ + "-wal");
    fs::remove(path_ + "-shm");
    auto c = Catalog::Create(path_, s, 1000, 1001);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  void Reopen(bool read_only = false) {
    cat_.reset();
    auto c = Catalog::Open(path_, read_only);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  InodeId Mk(InodeId parent, std::string_view name, FileKind kind = FileKind::kRegular,
             uint32_t mode = 0644) {
    Catalog::NewNode n;
    n.kind = kind;
    n.mode = mode;
    if (kind == FileKind::kSymlink) n.symlink_target = "target/of/link";
    auto a = cat_->CreateNode(parent, name, n);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->ino : InodeId(0);
  }
  InodeId Dir(InodeId parent, std::string_view name) {
    return Mk(parent, name, FileKind::kDirectory, 0755);
  }
  Result<VersionInfo> Add(InodeId ino, std::vector<ChunkRef> chunks, int64_t mtime = 7,
                          std::optional<Xattrs> x = {}) {
    Catalog::NewVersion v;
    v.ino = ino;
    for (const ChunkRef& c : chunks) v.size += c.raw_len;
    v.mtime_ns = mtime;
    v.sha256 = D(1000 + static_cast<int>(chunks.size()));
    v.chunks = std::move(chunks);
    v.xattrs = std::move(x);
    return cat_->AddVersion(v);
  }
  std::vector<std::string> Names(InodeId dir, std::optional<Seq> at = {}) {
    auto r = cat_->ReadDir(dir, at);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> out;
    if (r.ok()) {
      for (const DirEntry& e : *r) out.push_back(e.name);
    }
    return out;
  }
  std::vector<uint64_t> Vnos(InodeId ino) {
    auto r = cat_->ListVersions(ino);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<uint64_t> out;
    if (r.ok()) {
      for (const VersionInfo& v : *r) out.push_back(v.version.value);
    }
    return out;
  }
  std::set<Digest> Garbage() {
    auto g = cat_->TakeGarbageChunks();
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    std::set<Digest> out;
    if (g.ok()) {
      for (const ChunkRef& c : *g) out.insert(c.id);
    }
    return out;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Catalog> cat_;
};

// ---- create / open / format

TEST_F(CatalogTest, CreateOpenReopenKeepsSettingsAndData) {
  BucketSettings s;
  s.compression = Codec::kZlib;
  s.level = 7;
  s.chunk_min = 1024;
  s.chunk_avg = 4096;
  s.chunk_max = 16384;
  s.versioning = false;
  Make(s);
  auto root = cat_->GetAttr(kRootInode);
  ASSERT_OK(root);
  EXPECT_EQ(root->kind, FileKind::kDirectory);
  EXPECT_EQ(root->mode, 0755u);
  EXPECT_EQ(root->uid, 1000u);
  EXPECT_EQ(root->gid, 1001u);
  EXPECT_EQ(root->nlink, 2u);
  InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1)}));
  ASSERT_OK(cat_->Sync());
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(cat_->settings().compression, Codec::kZlib);
  EXPECT_EQ(cat_->settings().level, 7);
  EXPECT_EQ(cat_->settings().chunk_min, 1024u);
  EXPECT_EQ(cat_->settings().chunk_avg, 4096u);
  EXPECT_EQ(cat_->settings().chunk_max, 16384u);
  EXPECT_FALSE(cat_->settings().versioning);
  auto got = cat_->Lookup(kRootInode, "f");
  ASSERT_OK(got);
  EXPECT_EQ(*got, f);
  EXPECT_EQ(Vnos(f), std::vector<uint64_t>{1});

  ASSERT_OK(cat_->SetCompression(Codec::kNone, 0));
  Reopen();
  EXPECT_EQ(cat_->settings().compression, Codec::kNone);
  EXPECT_EQ(cat_->settings().level, 0);
  EXPECT_EQ(RawInt(path_, "PRAGMA application_id"), 0x4B544D52);
  EXPECT_EQ(RawInt(path_, "SELECT count(*) FROM meta WHERE key = 'format_version'"), 1);
}

TEST_F(CatalogTest, CreateRefusesExistingAndOpenMissing) {
  EXPECT_CODE(Catalog::Create(path_, BucketSettings{}, 0, 0), Code::kExists);
  auto missing = Catalog::Open(dir_.path() + "/nope.db", false);
  EXPECT_CODE(missing, Code::kNotFound);
  EXPECT_NE(missing.status().message().find("katamari init"), std::string::npos);
  BucketSettings bad;
  bad.chunk_min = 100;
  bad.chunk_avg = 50;
  EXPECT_CODE(Catalog::Create(dir_.path() + "/bad.db", bad, 0, 0), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_.path() + "/bad.db"));
}

TEST_F(CatalogTest, ReadOnlyOpenReadsButRefusesWrites) {
  InodeId f = Mk(kRootInode, "f");
  Reopen(/*read_only=*/true);
  auto got = cat_->Lookup(kRootInode, "f");
  ASSERT_OK(got);
  EXPECT_EQ(*got, f);
  EXPECT_CODE(cat_->CreateNode(kRootInode, "g", Catalog::NewNode{}), Code::kReadOnly);
  EXPECT_CODE(cat_->Unlink(kRootInode, "f"), Code::kReadOnly);
}

// A reader that cannot write the bucket directory (no -shm can be created)
// still reads a catalog that has no WAL content.
TEST_F(CatalogTest, ReadOnlyOpenWorksInAnUnwritableDirectory) {
  InodeId f = Mk(kRootInode, "f");
  cat_.reset();  // the last connection checkpoints and removes the WAL
  ASSERT_FALSE(fs::exists(path_ + "-wal"));
  ASSERT_FALSE(fs::exists(path_ + "-shm"));
  auto check = [&]() -> int {
    auto c = Catalog::Open(path_, /*read_only=*/true);
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
      return 3;
    }
    auto l = (*c)->Lookup(kRootInode, "f");
    return l.ok() && *l == f ? 0 : 4;
  };
  if (::geteuid() != 0) {
    ::chmod(dir_.path().c_str(), 0555);
    int rc = check();
    ::chmod(dir_.path().c_str(), 0755);
    EXPECT_EQ(rc, 0);
    return;
  }
  // Root writes anywhere: check as nobody in a child process.
  ::chmod(dir_.path().c_str(), 0755);
  ::chmod(path_.c_str(), 0644);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    if (::access(dir_.path().c_str(), W_OK) == 0) ::_exit(5);  // the premise
    ::_exit(check());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(fs::exists(path_ + "-shm"));
}

TEST_F(CatalogTest, NewerFormatIsRefusedWithUpgradeHint) {
  cat_.reset();
  const std::string newer = std::to_string(Catalog::kFormatVersion + 1);
  RawExec(path_, "UPDATE meta SET value = " + newer + " WHERE key = 'format_version'");
  auto c = Catalog::Open(path_, false);
  EXPECT_CODE(c, Code::kNewerFormat);
  EXPECT_NE(c.status().message().find("bucket format " + newer + " is newer than this katamari (supports " +
                                         std::to_string(Catalog::kFormatVersion) + ")"),
            std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("upgrade katamari"), std::string::npos);
  EXPECT_CODE(Catalog::Open(path_, true), Code::kNewerFormat);
}

TEST_F(CatalogTest, NonCatalogFilesAreRefused) {
  std::string junk = dir_.path() + "/junk.db";
  std::string text(10000, 'x');
  { std::ofstream(junk) << text; }
  auto c = Catalog::Open(junk, false);
  EXPECT_CODE(c, Code::kCorruption);
  EXPECT_NE(c.status().message().find("not a katamari catalog"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(fs::file_size(junk), text.size());  // left untouched

  std::string other = dir_.path() + "/other.db";
  RawExec(other, "CREATE TABLE t(x)");
  c = Catalog::Open(other, false);
  EXPECT_CODE(c, Code::kCorruption);
  EXPECT_NE(c.status().message().find("not a katamari catalog"), std::string::npos);
}

// The versions table as formats 1 and 2 had it (without mode, uid, gid).
constexpr char kVersionsFormat2[] = R"sql(
CREATE TABLE versions (
  ino            INTEGER NOT NULL REFERENCES inodes(id),
  vno            INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  commit_time_ns INTEGER NOT NULL,
  size           INTEGER NOT NULL,
  mtime_ns       INTEGER NOT NULL,
  sha256         BLOB NOT NULL,
  stored_size    INTEGER NOT NULL,
  new_bytes      INTEGER NOT NULL,
  chunk_count    INTEGER NOT NULL,
  restored_from  INTEGER,
  xattrs         BLOB NOT NULL,
  chunks         BLOB NOT NULL,
  PRIMARY KEY (ino, vno)
);
)sql";

// Ages the catalog to format 3 (format 4 added special files and symlink
// sizes to inodes), to format 2 (format 3 added the owner and mode of every
// version), to format 1 (format 2 added key_slots and meta.cipher), and then
// to a pretend "format 0" that also lacks the commits_by_time index; the test
// step 0 -> 1 adds it back, the built-in steps do the rest.
class MigrationTest : public CatalogTest {
 protected:
  void AgeToFormat3() {
    cat_.reset();
    catalog_aging::SegmentsToFormat6(path_);
    RawExec(path_, catalog_aging::kChunksToFormat5);
    RawExec(path_, catalog_aging::kPolicyToFormat4);
    RawExec(path_, catalog_aging::kInodesToFormat3);
  }
  void AgeToFormat2() {
    AgeToFormat3();
    RawExec(path_, std::string("ALTER TABLE versions RENAME TO versions_v3;") + kVersionsFormat2 +
                       "INSERT INTO versions SELECT ino, vno, seq, commit_time_ns, size, "
                       "mtime_ns, sha256, stored_size, new_bytes, chunk_count, restored_from, "
                       "xattrs, chunks FROM versions_v3; DROP TABLE versions_v3; "
                       "UPDATE meta SET value = 2 WHERE key = 'format_version';");
  }
  void AgeToFormat1() {
    AgeToFormat2();
    RawExec(path_,
            "UPDATE meta SET value = 1 WHERE key = 'format_version'; "
            "DELETE FROM meta WHERE key = 'cipher'; DROP TABLE key_slots;");
  }
  void AgeToFormat0() {
    AgeToFormat1();
    RawExec(path_,
            "UPDATE meta SET value = 0 WHERE key = 'format_version'; "
            "DROP INDEX commits_by_time;");
  }
  int64_t IndexCount() {
    return RawInt(path_,
                  "SELECT count(*) FROM sqlite_master WHERE name = 'commits_by_time'");
  }
  std::string Schema() { return catalog_aging::Schema(path_); }
  static catalog_format::MigrationStep Step(int* runs, bool fail) {
    return {0, "add commits_by_time", [runs, fail](sql::Db& db) -> Status {
              ++*runs;
              RETURN_IF_ERROR(db.Exec("CREATE INDEX commits_by_time ON commits(time_ns)",
                                      "adding an index"));
              if (fail) return Status::IOError("injected failure");
              return Status::OK();
            }};
  }
  // The test step followed by the built-in chain.
  static std::vector<catalog_format::MigrationStep> Chain(int* runs, bool fail) {
    std::vector<catalog_format::MigrationStep> steps = {Step(runs, fail)};
    for (const auto& s : catalog_format::MigrationSteps()) steps.push_back(s);
    return steps;
  }
};

TEST_F(MigrationTest, StepRunsOnceAndBumpsFormat) {
  InodeId f = Mk(kRootInode, "f");
  AgeToFormat0();
  ASSERT_EQ(IndexCount(), 0);
  int runs = 0;
  {
    catalog_testing::ScopedMigrationSteps steps(Chain(&runs, false));
    Reopen();
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
    Reopen();  // already migrated: the step does not run again
    EXPECT_EQ(runs, 1);
  }
  EXPECT_EQ(IndexCount(), 1);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "f"), f);
}

TEST_F(MigrationTest, FailedStepLeavesTheOldFormat) {
  AgeToFormat0();
  int runs = 0;
  catalog_testing::ScopedMigrationSteps steps(Chain(&runs, true));
  auto c = Catalog::Open(path_, false);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"), 0);
  EXPECT_EQ(IndexCount(), 0);  // the step's index was rolled back with it
}

TEST_F(MigrationTest, MissingStepAndReadOnlyAreReported) {
  AgeToFormat0();
  EXPECT_CODE(Catalog::Open(path_, false), Code::kCorruption);  // no built-in 0 -> 1
  EXPECT_CODE(Catalog::Open(path_, true), Code::kReadOnly);
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"), 0);
}

// The real steps 1 -> 2 -> 3 -> 4 on a format-1 catalog: the result has exactly
// the schema of a freshly created catalog, is a plain bucket, and keeps its
// data.
TEST_F(MigrationTest, Format1MigratesToTheCurrentFormat) {
  InodeId f = Mk(kRootInode, "f");
  Xattrs x{{"user.k", "v"}};
  ASSERT_OK(Add(f, {C(1), C(2)}, 7, x));
  ASSERT_OK(cat_->SetXattr(f, "user.live", "value", 0));
  auto before = cat_->GetVersion(f, VersionNo(1));
  ASSERT_OK(before);
  cat_.reset();
  const std::string fresh_schema = Schema();
  AgeToFormat1();
  ASSERT_NE(Schema(), fresh_schema);
  ASSERT_EQ(RawInt(path_, "SELECT count(*) FROM sqlite_master WHERE name = 'key_slots'"), 0);

  EXPECT_CODE(Catalog::Open(path_, true), Code::kReadOnly);  // needs one read-write open
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_FALSE(cat_->settings().encrypted);
  EXPECT_EQ(RawInt(path_, "SELECT count(*) FROM meta WHERE key = 'cipher' AND value = 'none'"),
            1);
  EXPECT_EQ(Schema(), fresh_schema);
  auto after = cat_->GetVersion(f, VersionNo(1));
  ASSERT_OK(after);
  EXPECT_EQ(after->sha256, before->sha256);
  EXPECT_EQ(after->xattrs, x);
  EXPECT_EQ(*cat_->GetXattrs(f), (Xattrs{{"user.live", "value"}}));
  auto slots = cat_->KeySlots();
  ASSERT_OK(slots);
  EXPECT_TRUE(slots->empty());
  EXPECT_CODE(cat_->AddKeySlot(std::string(100, 'x'), ""), Code::kInvalidArgument);
}

// The real step 2 -> 3 (and 3 -> 4) on a format-2 catalog: every version gets its
// inode's owner and mode as they are at migration (format 2 knew no better),
// the schema is exactly a new catalog's, and nothing else changes.
TEST_F(MigrationTest, Format2MigratesToFormat3WithTheInodesOwnerAndMode) {
  InodeId f = Mk(kRootInode, "f", FileKind::kRegular, 0640);
  ASSERT_OK(Add(f, {C(1), C(2)}, 7, Xattrs{{"user.k", "v"}}));
  ASSERT_OK(Add(f, {C(3)}));
  InodeId g = Mk(kRootInode, "g", FileKind::kRegular, 0600);
  ASSERT_OK(Add(g, {C(4)}));
  ASSERT_OK(cat_->Unlink(kRootInode, "g"));  // a deleted file keeps its last owner
  Catalog::AttrChange chown;
  chown.uid = 1234;
  chown.gid = 5678;
  chown.mode = 0604;
  ASSERT_OK(cat_->SetAttr(f, chown));
  auto before = cat_->ListVersions(f);
  ASSERT_OK(before);
  cat_.reset();
  const std::string fresh_schema = Schema();
  AgeToFormat2();
  ASSERT_NE(Schema(), fresh_schema);
  ASSERT_EQ(RawInt(path_, "SELECT count(*) FROM pragma_table_info('versions') "
                          "WHERE name IN ('mode', 'uid', 'gid')"),
            0);

  EXPECT_CODE(Catalog::Open(path_, true), Code::kReadOnly);  // needs one read-write open
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"),
            Catalog::kFormatVersion);
  EXPECT_EQ(Schema(), fresh_schema);
  auto after = cat_->ListVersions(f);
  ASSERT_OK(after);
  ASSERT_EQ(after->size(), 2u);
  for (size_t i = 0; i < after->size(); ++i) {
    const VersionInfo& v = (*after)[i];
    EXPECT_EQ(v.mode, 0604u);
    EXPECT_EQ(v.uid, 1234u);
    EXPECT_EQ(v.gid, 5678u);
    EXPECT_EQ(v.sha256, (*before)[i].sha256);
    EXPECT_EQ(v.size, (*before)[i].size);
    EXPECT_EQ(v.seq, (*before)[i].seq);
    EXPECT_EQ(v.xattrs, (*before)[i].xattrs);
  }
  EXPECT_EQ(cat_->VersionChunks(f, VersionNo(1))->size(), 2u);
  auto gv = cat_->GetVersion(g, VersionNo(1));
  ASSERT_OK(gv);
  EXPECT_EQ(gv->mode, 0600u);
  // New versions record the owner and mode of their time again.
  auto v3 = Add(f, {C(5)});
  ASSERT_OK(v3);
  EXPECT_EQ(v3->mode, 0604u);
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(3))->uid, 1234u);
}

// Each version records the owner and mode its file had when it was
// committed; chmod/chown restamp only the current version (the content the
// file shows), never older ones.
TEST_F(CatalogTest, VersionsRecordTheirOwnerAndMode) {
  Catalog::NewNode n;
  n.mode = 0600;
  auto f = cat_->CreateNode(kRootInode, "f", n);
  ASSERT_OK(f);
  ASSERT_OK(Add(f->ino, {C(1)}));
  auto v2 = Add(f->ino, {C(2)});
  ASSERT_OK(v2);
  EXPECT_EQ(v2->mode, 0600u);
  Catalog::AttrChange ch;
  ch.mode = 04755;
  ch.uid = 65534;
  ch.gid = 65533;
  ASSERT_OK(cat_->SetAttr(f->ino, ch));
  ASSERT_OK(Add(f->ino, {C(3)}));
  auto mode_of = [&](uint64_t vno) { return cat_->GetVersion(f->ino, VersionNo(vno))->mode; };
  auto uid_of = [&](uint64_t vno) { return cat_->GetVersion(f->ino, VersionNo(vno))->uid; };
  EXPECT_EQ(mode_of(1), 0600u);
  EXPECT_EQ(uid_of(1), 0u);
  EXPECT_EQ(mode_of(2), 04755u);  // current at the chmod
  EXPECT_EQ(uid_of(2), 65534u);
  EXPECT_EQ(cat_->GetVersion(f->ino, VersionNo(2))->gid, 65533u);
  EXPECT_EQ(mode_of(3), 04755u);
  Reopen();
  EXPECT_EQ(mode_of(1), 0600u);
  EXPECT_EQ(cat_->VersionAt(f->ino, v2->seq)->uid, 65534u);
}

// Reviving a deleted name hands the file to a new owner: the versions
// before allow nobody more than they and the file's last attributes allowed
// together (a file tightened before rm stays tight), and are never widened.
// Someone who revived a deleted name and deletes their own version must not
// get the previous owner's content under their own attributes.
TEST_F(CatalogTest, AnOlderVersionThatBecomesCurrentBringsItsOwnerBack) {
  Catalog::NewNode n;
  n.mode = 0600;
  auto f = cat_->CreateNode(kRootInode, "secret", n);
  ASSERT_OK(f);
  ASSERT_OK(Add(f->ino, {C(1)}));  // recorded 0:0 0600
  ASSERT_OK(cat_->Unlink(kRootInode, "secret"));
  n.mode = 0644;
  n.uid = n.gid = 65534;
  auto revived = cat_->CreateNode(kRootInode, "secret", n);
  ASSERT_OK(revived);
  ASSERT_EQ(revived->ino, f->ino);
  ASSERT_OK(Add(f->ino, {C(2)}));  // recorded 65534:65534 0644
  ASSERT_OK(cat_->DeleteVersion(f->ino, VersionNo(2)));
  auto a = cat_->GetAttr(f->ino);
  ASSERT_OK(a);
  EXPECT_EQ(a->current_version, VersionNo(1));
  EXPECT_EQ(a->uid, 0u);
  EXPECT_EQ(a->gid, 0u);
  EXPECT_EQ(a->mode & 07777, cat_->GetVersion(f->ino, VersionNo(1))->mode & 07777);
  EXPECT_EQ(a->mode & 077, 0u);
}

TEST_F(CatalogTest, RevivalNarrowsTheHistoryToTheLastOwnersMode) {
  Catalog::NewNode n;
  n.mode = 0644;
  auto f = cat_->CreateNode(kRootInode, "f", n);
  ASSERT_OK(f);
  ASSERT_OK(Add(f->ino, {C(1)}));  // recorded 0:0 0644
  ASSERT_OK(Add(f->ino, {C(2)}));
  Catalog::AttrChange ch;
  ch.mode = 0600;
  ASSERT_OK(cat_->SetAttr(f->ino, ch));  // restamps version 2 only
  auto mode_of = [&](uint64_t vno) { return cat_->GetVersion(f->ino, VersionNo(vno))->mode; };
  ASSERT_EQ(mode_of(1), 0644u);
  ASSERT_OK(cat_->Unlink(kRootInode, "f"));
  n.mode = 0666;
  n.uid = n.gid = 65534;
  auto revived = cat_->CreateNode(kRootInode, "f", n);
  ASSERT_OK(revived);
  ASSERT_EQ(revived->ino, f->ino);
  EXPECT_EQ(mode_of(1), 0600u);
  EXPECT_EQ(cat_->GetVersion(f->ino, VersionNo(1))->uid, 0u);
  EXPECT_EQ(mode_of(2), 0600u);

  // Versions of another owner than the file's keep what any caller could
  // have had under both: here read for everyone, write for nobody.
  ASSERT_OK(Add(f->ino, {C(3)}));  // recorded 65534:65534 0666
  ASSERT_OK(Add(f->ino, {C(4)}));
  ch.mode = 0644;
  ch.uid = 1000;
  ch.gid = 1000;
  ASSERT_OK(cat_->SetAttr(f->ino, ch));  // version 4: 1000:1000 0644
  ASSERT_OK(cat_->Unlink(kRootInode, "f"));
  n.mode = 0777;
  n.uid = n.gid = 2000;
  ASSERT_OK(cat_->CreateNode(kRootInode, "f", n));
  EXPECT_EQ(mode_of(1), 0400u);  // 0600 & 0444
  EXPECT_EQ(mode_of(3), 0444u);  // 0666 & 0444
  EXPECT_EQ(mode_of(4), 0644u);  // the last owner's own: unchanged
}

// ---- names and the live namespace

TEST_F(CatalogTest, NamesAreValidatedAndCompareAsBytes) {
  Catalog::NewNode n;
  EXPECT_CODE(cat_->CreateNode(kRootInode, "", n), Code::kInvalidArgument);
  EXPECT_CODE(cat_->CreateNode(kRootInode, "a/b", n), Code::kInvalidArgument);
  EXPECT_CODE(cat_->CreateNode(kRootInode, std::string("a\0b", 3), n), Code::kInvalidArgument);
  EXPECT_CODE(cat_->CreateNode(kRootInode, ".", n), Code::kInvalidArgument);
  EXPECT_CODE(cat_->CreateNode(kRootInode, "..", n), Code::kInvalidArgument);
  EXPECT_CODE(cat_->CreateNode(kRootInode, std::string(256, 'n'), n), Code::kNameTooLong);
  EXPECT_CODE(cat_->Lookup(kRootInode, std::string(256, 'n')), Code::kNameTooLong);
  InodeId longest = Mk(kRootInode, std::string(255, 'n'));
  InodeId binary = Mk(kRootInode, "\xff\xfe\x01");
  InodeId lower = Mk(kRootInode, "a");
  InodeId upper = Mk(kRootInode, "A");
  EXPECT_NE(lower, upper);
  EXPECT_EQ(*cat_->Lookup(kRootInode, std::string(255, 'n')), longest);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "\xff\xfe\x01"), binary);
  // Bytewise order: 'A' < 'a' < 'n' < 0xff.
  EXPECT_EQ(Names(kRootInode),
            (std::vector<std::string>{"A", "a", std::string(255, 'n'), "\xff\xfe\x01"}));
}

TEST_F(CatalogTest, CreateLookupReadDirAndKinds) {
  InodeId d = Dir(kRootInode, "docs");
  InodeId f = Mk(d, "a.txt", FileKind::kRegular, 0600);
  InodeId l = Mk(d, "link", FileKind::kSymlink, 0777);
  InodeId sub = Dir(d, "sub");
  EXPECT_EQ(*cat_->Lookup(kRootInode, "docs"), d);
  EXPECT_EQ(*cat_->Lookup(d, "a.txt"), f);
  EXPECT_CODE(cat_->Lookup(d, "zzz"), Code::kNotFound);
  auto entries = cat_->ReadDir(d);
  ASSERT_OK(entries);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "a.txt");
  EXPECT_EQ((*entries)[0].kind, FileKind::kRegular);
  EXPECT_EQ((*entries)[1].name, "link");
  EXPECT_EQ((*entries)[1].ino, l);
  EXPECT_EQ((*entries)[1].kind, FileKind::kSymlink);
  EXPECT_EQ((*entries)[2].kind, FileKind::kDirectory);
  EXPECT_EQ((*entries)[2].ino, sub);
  EXPECT_EQ(*cat_->ReadLink(l), "target/of/link");
  EXPECT_CODE(cat_->ReadLink(f), Code::kInvalidArgument);
  auto fa = cat_->GetAttr(f);
  ASSERT_OK(fa);
  EXPECT_EQ(fa->mode, 0600u);
  EXPECT_EQ(fa->nlink, 1u);
  EXPECT_EQ(fa->size, 0u);
  EXPECT_EQ(fa->current_version.value, 0u);
  EXPECT_EQ(cat_->GetAttr(d)->nlink, 3u);  // 2 + "sub"
  EXPECT_EQ(cat_->GetAttr(kRootInode)->nlink, 3u);

  EXPECT_CODE(cat_->CreateNode(d, "a.txt", Catalog::NewNode{}), Code::kExists);
  EXPECT_CODE(cat_->CreateNode(f, "x", Catalog::NewNode{}), Code::kNotDir);
  EXPECT_CODE(cat_->CreateNode(InodeId(999), "x", Catalog::NewNode{}), Code::kNotFound);
  EXPECT_CODE(cat_->ReadDir(f), Code::kNotDir);
  ASSERT_OK(cat_->RemoveDir(d, "sub"));
  EXPECT_CODE(cat_->CreateNode(sub, "x", Catalog::NewNode{}), Code::kNotFound);  // removed dir
  EXPECT_EQ(cat_->GetAttr(sub)->nlink, 0u);
  EXPECT_EQ(cat_->GetAttr(d)->nlink, 2u);
  Catalog::NewNode bad_link;
  bad_link.kind = FileKind::kSymlink;
  EXPECT_CODE(cat_->CreateNode(d, "empty-link", bad_link), Code::kInvalidArgument);
}

TEST_F(CatalogTest, RemoveDirRules) {
  InodeId d = Dir(kRootInode, "d");
  Mk(d, "f");
  EXPECT_CODE(cat_->RemoveDir(kRootInode, "d"), Code::kNotEmpty);
  EXPECT_CODE(cat_->RemoveDir(d, "f"), Code::kNotDir);
  EXPECT_CODE(cat_->Unlink(kRootInode, "d"), Code::kIsDir);
  EXPECT_CODE(cat_->RemoveDir(kRootInode, "nope"), Code::kNotFound);
  ASSERT_OK(cat_->Unlink(d, "f"));
  ASSERT_OK(cat_->RemoveDir(kRootInode, "d"));
  EXPECT_CODE(cat_->Lookup(kRootInode, "d"), Code::kNotFound);
  EXPECT_EQ(cat_->GetAttr(kRootInode)->nlink, 2u);
}

TEST_F(CatalogTest, SetAttrChangesOnlyWhatIsGiven) {
  InodeId f = Mk(kRootInode, "f");
  Catalog::AttrChange c;
  c.mode = 0100640;  // type bits are dropped
  c.mtime_ns = 12345;
  auto a = cat_->SetAttr(f, c);
  ASSERT_OK(a);
  EXPECT_EQ(a->mode, 0640u);
  EXPECT_EQ(a->mtime_ns, 12345);
  EXPECT_EQ(a->uid, 0u);
  EXPECT_GT(a->ctime_ns, 12345);  // ctime = commit time
  Catalog::AttrChange o;
  o.uid = 5;
  o.atime_ns = 99;
  a = cat_->SetAttr(f, o);
  ASSERT_OK(a);
  EXPECT_EQ(a->mode, 0640u);
  EXPECT_EQ(a->mtime_ns, 12345);
  EXPECT_EQ(a->atime_ns, 99);
  EXPECT_EQ(a->uid, 5u);
  EXPECT_CODE(cat_->SetAttr(InodeId(4242), o), Code::kNotFound);
}

// ---- MVCC

TEST_F(CatalogTest, TimeViewsSeeEachPastSeq) {
  using V = std::vector<std::string>;
  Seq s0 = cat_->CurrentSeq();
  InodeId a = Mk(kRootInode, "a");
  Seq s1 = cat_->CurrentSeq();
  InodeId d = Dir(kRootInode, "d");
  Seq s2 = cat_->CurrentSeq();
  InodeId x = Mk(d, "x");
  Seq s3 = cat_->CurrentSeq();
  ASSERT_OK(cat_->Rename(kRootInode, "a", d, "b", 0));
  Seq s4 = cat_->CurrentSeq();
  ASSERT_OK(cat_->Unlink(d, "x"));
  Seq s5 = cat_->CurrentSeq();
  InodeId a2 = Mk(kRootInode, "a");  // a new file at the old name
  Seq s6 = cat_->CurrentSeq();
  ASSERT_OK(cat_->Unlink(d, "b"));
  ASSERT_OK(cat_->RemoveDir(kRootInode, "d"));
  Seq s7 = cat_->CurrentSeq();
  EXPECT_LT(s0, s1);
  EXPECT_LT(s6, s7);

  EXPECT_EQ(Names(kRootInode, s0), V{});
  EXPECT_EQ(Names(kRootInode, s1), V{"a"});
  EXPECT_EQ(Names(kRootInode, s2), (V{"a", "d"}));
  EXPECT_EQ(Names(d, s2), V{});
  EXPECT_EQ(Names(d, s3), V{"x"});
  EXPECT_EQ(Names(kRootInode, s4), V{"d"});
  EXPECT_EQ(Names(d, s4), (V{"b", "x"}));
  EXPECT_EQ(Names(d, s5), V{"b"});
  EXPECT_EQ(Names(kRootInode, s6), (V{"a", "d"}));
  EXPECT_EQ(Names(kRootInode, s7), V{"a"});
  EXPECT_EQ(Names(d, s7), V{});
  EXPECT_EQ(Names(kRootInode), Names(kRootInode, s7));

  EXPECT_EQ(*cat_->Lookup(kRootInode, "a", s1), a);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "a", s6), a2);
  EXPECT_CODE(cat_->Lookup(kRootInode, "a", s4), Code::kNotFound);
  EXPECT_EQ(*cat_->Lookup(d, "b", s4), a);
  EXPECT_EQ(*cat_->Lookup(d, "x", s4), x);
  EXPECT_CODE(cat_->Lookup(d, "x", s5), Code::kNotFound);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "d", s6), d);  // removed dir still walkable
  EXPECT_CODE(cat_->Lookup(kRootInode, "d", s7), Code::kNotFound);
  EXPECT_CODE(cat_->Lookup(kRootInode, "d"), Code::kNotFound);
}

TEST_F(CatalogTest, SeqAtTimeFollowsCommitTimes) {
  int64_t now = 1000;
  catalog_testing::ScopedClock clock([&] { return now; });
  Make(BucketSettings{});  // commit 1 at t=1000
  now = 2000;
  Mk(kRootInode, "a");  // 2
  now = 3000;
  Mk(kRootInode, "b");  // 3
  now = 2500;           // the wall clock steps back
  Mk(kRootInode, "c");  // 4, stamped 3001
  EXPECT_EQ(cat_->SeqAtTime(999).value, 0u);
  EXPECT_EQ(cat_->SeqAtTime(1000).value, 1u);
  EXPECT_EQ(cat_->SeqAtTime(1999).value, 1u);
  EXPECT_EQ(cat_->SeqAtTime(2000).value, 2u);
  EXPECT_EQ(cat_->SeqAtTime(2999).value, 2u);
  EXPECT_EQ(cat_->SeqAtTime(3000).value, 3u);
  EXPECT_EQ(cat_->SeqAtTime(3001).value, 4u);
  EXPECT_EQ(cat_->SeqAtTime(int64_t{1} << 62).value, 4u);
  EXPECT_EQ(*cat_->TimeOfSeq(Seq(4)), 3001);
  EXPECT_EQ(*cat_->TimeOfSeq(Seq(2)), 2000);
  EXPECT_CODE(cat_->TimeOfSeq(Seq(99)), Code::kNotFound);
  EXPECT_EQ(cat_->CurrentSeq().value, 4u);
  EXPECT_EQ(Names(kRootInode, cat_->SeqAtTime(2500)), std::vector<std::string>{"a"});
}

// ---- versions

TEST_F(CatalogTest, VersionNumbersContinueAndAreNeverReused) {
  InodeId f = Mk(kRootInode, "f");
  for (int i = 1; i <= 3; ++i) {
    auto v = Add(f, {C(i)}, i * 10);
    ASSERT_OK(v);
    EXPECT_EQ(v->version.value, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(cat_->GetAttr(f)->current_version.value, 3u);
  ASSERT_OK(cat_->Unlink(kRootInode, "f"));
  bool live = true;
  auto any = cat_->LookupAny(kRootInode, "f", &live);
  ASSERT_OK(any);
  EXPECT_EQ(*any, f);
  EXPECT_FALSE(live);
  auto deleted = cat_->ReadDirDeleted(kRootInode);
  ASSERT_OK(deleted);
  ASSERT_EQ(deleted->size(), 1u);
  EXPECT_EQ((*deleted)[0].name, "f");

  // Re-creating the name revives the inode as an empty file.
  InodeId again = Mk(kRootInode, "f");
  EXPECT_EQ(again, f);
  auto a = cat_->GetAttr(f);
  EXPECT_EQ(a->size, 0u);
  EXPECT_EQ(a->current_version.value, 0u);
  EXPECT_EQ(Vnos(f), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_TRUE(cat_->ReadDirDeleted(kRootInode)->empty());
  ASSERT_EQ(Add(f, {C(4)})->version.value, 4u);

  // Deleting the newest does not free its number.
  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(4)));
  EXPECT_CODE(cat_->GetVersion(f, VersionNo(4)), Code::kNotFound);
  EXPECT_EQ(Add(f, {C(5)})->version.value, 5u);
  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(5)));
  Reopen();
  EXPECT_EQ(Add(f, {C(6)})->version.value, 6u);
  EXPECT_EQ(Vnos(f), (std::vector<uint64_t>{1, 2, 3, 6}));
}

TEST_F(CatalogTest, MovedAwayNameIsNotRevived) {
  InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1)}));
  ASSERT_OK(cat_->Rename(kRootInode, "f", kRootInode, "g", 0));
  EXPECT_TRUE(cat_->ReadDirDeleted(kRootInode)->empty());  // it lives on as g
  InodeId f2 = Mk(kRootInode, "f");
  EXPECT_NE(f2, f);
  EXPECT_EQ(Vnos(f), std::vector<uint64_t>{1});
  EXPECT_TRUE(Vnos(f2).empty());
}

TEST_F(CatalogTest, DeletingTheNewestMakesThePreviousCurrent) {
  InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1, 100)}, 111));
  ASSERT_OK(Add(f, {C(2, 200), C(3, 50)}, 222));
  auto a = cat_->GetAttr(f);
  EXPECT_EQ(a->size, 250u);
  EXPECT_EQ(a->mtime_ns, 222);
  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(2)));
  a = cat_->GetAttr(f);
  EXPECT_EQ(a->current_version.value, 1u);
  EXPECT_EQ(a->size, 100u);
  EXPECT_EQ(a->mtime_ns, 111);
  EXPECT_CODE(cat_->DeleteVersion(f, VersionNo(2)), Code::kNotFound);
  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(1)));
  a = cat_->GetAttr(f);  // a live file keeps its inode, now without content
  ASSERT_OK(a);
  EXPECT_EQ(a->current_version.value, 0u);
  EXPECT_EQ(a->size, 0u);
}

TEST_F(CatalogTest, VersionFactsAndVersionAt) {
  InodeId f = Mk(kRootInode, "f");
  Seq before = cat_->CurrentSeq();
  auto v1 = Add(f, {C(1, 100, 40), C(2, 60, 30)}, 5);
  ASSERT_OK(v1);
  EXPECT_EQ(v1->size, 160u);
  EXPECT_EQ(v1->chunk_count, 2u);
  EXPECT_EQ(v1->stored_size, 70u);
  EXPECT_EQ(v1->new_bytes, 70u);
  EXPECT_EQ(v1->seq, cat_->CurrentSeq());
  EXPECT_EQ(v1->commit_time_ns, *cat_->TimeOfSeq(v1->seq));
  Seq after1 = cat_->CurrentSeq();
  // The writer skipped chunk 1 (it knew it existed): its stored length
  // comes from the row.
  auto v2 = Add(f, {ChunkRef{D(1), 100, 0}, C(3, 10, 9)}, 6);
  ASSERT_OK(v2);
  EXPECT_EQ(v2->new_bytes, 9u);
  EXPECT_EQ(v2->stored_size, 49u);
  auto chunks = cat_->VersionChunks(f, VersionNo(2));
  ASSERT_OK(chunks);
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].id, D(1));
  EXPECT_EQ((*chunks)[0].stored_len, 40u);
  EXPECT_EQ((*chunks)[1].raw_len, 10u);

  EXPECT_CODE(cat_->VersionAt(f, before), Code::kNotFound);
  EXPECT_EQ(cat_->VersionAt(f, after1)->version.value, 1u);
  EXPECT_EQ(cat_->VersionAt(f, cat_->CurrentSeq())->version.value, 2u);
  auto got = cat_->GetVersion(f, VersionNo(1));
  ASSERT_OK(got);
  EXPECT_EQ(got->sha256, v1->sha256);
  EXPECT_EQ(got->mtime_ns, 5);
  EXPECT_FALSE(got->restored_from.has_value());

  Catalog::NewVersion r;
  r.ino = f;
  r.size = 160;
  r.chunks = *cat_->VersionChunks(f, VersionNo(1));
  r.restored_from = VersionNo(1);
  auto v3 = cat_->AddVersion(r);
  ASSERT_OK(v3);
  EXPECT_EQ(v3->new_bytes, 0u);
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(3))->restored_from, VersionNo(1));

  Catalog::NewVersion wrong;
  wrong.ino = f;
  wrong.size = 5;
  wrong.chunks = {C(9, 4)};
  EXPECT_CODE(cat_->AddVersion(wrong), Code::kInvalidArgument);
  wrong.ino = kRootInode;
  wrong.size = 4;
  EXPECT_CODE(cat_->AddVersion(wrong), Code::kInvalidArgument);
  EXPECT_TRUE(cat_->HaveChunks({D(9)}) == std::vector<bool>{false});  // rolled back
}

TEST_F(CatalogTest, ChunkRefcountsAndGarbage) {
  InodeId f = Mk(kRootInode, "f");
  InodeId g = Mk(kRootInode, "g");
  auto fv = Add(f, {C(1), C(2), C(1)});  // chunk 1 used twice
  ASSERT_OK(fv);
  EXPECT_EQ(fv->new_bytes, C(1).stored_len + C(2).stored_len);
  EXPECT_EQ(fv->stored_size, C(1).stored_len + C(2).stored_len);
  auto gv = Add(g, {C(2), C(3)});
  ASSERT_OK(gv);
  EXPECT_EQ(gv->new_bytes, C(3).stored_len);
  EXPECT_EQ(cat_->AllChunks()->size(), 3u);
  EXPECT_EQ(cat_->HaveChunks({D(1), D(4), D(3)}), (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(Garbage().empty());
  Seq before = cat_->CurrentSeq();
  EXPECT_TRUE(Garbage().empty());
  EXPECT_EQ(cat_->CurrentSeq(), before);  // an empty gc records no commit

  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(1)));
  EXPECT_EQ(Garbage(), std::set<Digest>{D(1)});  // 2 is still g's
  EXPECT_TRUE(Garbage().empty());
  EXPECT_EQ(cat_->HaveChunks({D(1), D(2)}), (std::vector<bool>{false, true}));
  ASSERT_OK(cat_->PurgeHistory(g));
  EXPECT_EQ(Garbage(), (std::set<Digest>{D(2), D(3)}));
  EXPECT_TRUE(cat_->AllChunks()->empty());
  auto stats = cat_->GetStats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->versions, 0u);
  EXPECT_EQ(stats->chunks, 0u);
}

// A new version listing a chunk that has no row and that the writer did
// not store (no pack location) is refused as Corruption and changes
// nothing; the same chunk stored (a location) is taken. Whole lists and
// incremental ones (pieces) alike.
TEST_F(CatalogTest, ANewChunkWithoutALocationIsRefused) {
  const InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1), C(2)}));
  const std::string refs1 = "SELECT refs FROM chunks WHERE id = x'" + D(1).Hex() + "'";
  const int64_t segments = RawInt(path_, "SELECT count(*) FROM segments");
  const Seq before = cat_->CurrentSeq();
  const ChunkRef reused{D(1), 1000, 0}, lost{D(9), 1000, 600};
  auto r = Add(f, {reused, lost});
  EXPECT_CODE(r, Code::kCorruption);
  EXPECT_NE(r.status().message().find(D(9).Hex()), std::string::npos) << r.status().message();
  Catalog::NewVersion edit;
  edit.ino = f;
  edit.size = 2000;
  edit.pieces_base_ino = f;
  edit.pieces_base = VersionNo(1);
  edit.pieces = {ListPiece{0, false, {reused, lost}}};
  EXPECT_CODE(cat_->AddVersion(edit), Code::kCorruption);
  // Rolled back: no version, no row, no segment, the counts as they were.
  EXPECT_EQ(Vnos(f), std::vector<uint64_t>{1});
  EXPECT_EQ(cat_->CurrentSeq(), before);
  EXPECT_TRUE(cat_->HaveChunks({D(9)}) == std::vector<bool>{false});
  EXPECT_EQ(RawInt(path_, refs1), 1);
  EXPECT_EQ(RawInt(path_, "SELECT count(*) FROM segments"), segments);
  // Stored: the same lists are taken.
  ASSERT_OK(Add(f, {reused, testing_util::InPack(lost)}));
  edit.pieces = {ListPiece{0, false, {reused, testing_util::InPack(C(10))}}};
  ASSERT_OK(cat_->AddVersion(edit));
  EXPECT_EQ(Vnos(f), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(RawInt(path_, refs1), 3);
}

// Random operations over a few files sharing a small pool of chunks; after
// each one, every chunk a version references must survive gc and every
// chunk none references must be collected.
TEST_F(CatalogTest, GarbageNeverContainsAReferencedChunk) {
  std::mt19937 rng(42);
  std::vector<InodeId> files;
  for (int i = 0; i < 4; ++i) files.push_back(Mk(kRootInode, "f" + std::to_string(i)));
  std::set<Digest> collected;
  for (int step = 0; step < 150; ++step) {
    InodeId f = files[rng() % files.size()];
    int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      std::vector<ChunkRef> chunks;
      for (int k = 0, n = 1 + static_cast<int>(rng() % 5); k < n; ++k) {
        chunks.push_back(C(static_cast<int>(rng() % 12)));
      }
      ASSERT_OK(Add(f, chunks));
    } else if (op < 9) {
      auto vs = cat_->ListVersions(f);
      ASSERT_OK(vs);
      if (!vs->empty()) {
        ASSERT_OK(cat_->DeleteVersion(f, (*vs)[rng() % vs->size()].version));
      }
    } else {
      ASSERT_OK(cat_->PurgeHistory(f));
    }
    std::set<Digest> referenced;
    auto keys = cat_->AllVersions();
    ASSERT_OK(keys);
    for (const auto& k : *keys) {
      auto chunks = cat_->VersionChunks(k.ino, k.vno);
      ASSERT_OK(chunks);
      for (const ChunkRef& c : *chunks) referenced.insert(c.id);
    }
    for (const Digest& d : Garbage()) {
      ASSERT_EQ(referenced.count(d), 0u) << "step " << step << " collected a live chunk";
      collected.insert(d);
    }
    std::set<Digest> rows;
    auto all = cat_->AllChunks();
    ASSERT_OK(all);
    for (const ChunkRef& c : *all) rows.insert(c.id);
    ASSERT_EQ(rows, referenced) << "step " << step;
  }
  EXPECT_FALSE(collected.empty());
}

TEST_F(CatalogTest, VersioningOffKeepsOnlyTheNewest) {
  BucketSettings s;
  s.versioning = false;
  Make(s);
  InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1), C(2)}));
  ASSERT_OK(Add(f, {C(2), C(3)}));
  EXPECT_EQ(Vnos(f), std::vector<uint64_t>{2});
  EXPECT_EQ(Garbage(), std::set<Digest>{D(1)});
  ASSERT_OK(cat_->Unlink(kRootInode, "f"));
  EXPECT_CODE(cat_->GetAttr(f), Code::kNotFound);  // purged with its last name
  EXPECT_EQ(Garbage(), (std::set<Digest>{D(2), D(3)}));
  InodeId f2 = Mk(kRootInode, "f");
  EXPECT_NE(f2, f);
  EXPECT_EQ(Add(f2, {C(4)})->version.value, 1u);

  // Rename over a file replaces it outright (no editor-pattern merge).
  InodeId tmp = Mk(kRootInode, "f.tmp");
  ASSERT_OK(Add(tmp, {C(5)}));
  auto r = cat_->Rename(kRootInode, "f.tmp", kRootInode, "f", 0);
  ASSERT_OK(r);
  EXPECT_FALSE(r->merged_into.has_value());
  EXPECT_EQ(*cat_->Lookup(kRootInode, "f"), tmp);
  EXPECT_CODE(cat_->GetAttr(f2), Code::kNotFound);
  EXPECT_EQ(Garbage(), std::set<Digest>{D(4)});
}

// ---- rename

TEST_F(CatalogTest, RenameMovesAndKeepsHistory) {
  InodeId d = Dir(kRootInode, "d");
  InodeId f = Mk(kRootInode, "a");
  ASSERT_OK(Add(f, {C(1)}));
  auto r = cat_->Rename(kRootInode, "a", d, "b", 0);
  ASSERT_OK(r);
  EXPECT_FALSE(r->merged_into.has_value());
  EXPECT_CODE(cat_->Lookup(kRootInode, "a"), Code::kNotFound);
  EXPECT_EQ(*cat_->Lookup(d, "b"), f);
  EXPECT_EQ(Vnos(f), std::vector<uint64_t>{1});
  EXPECT_CODE(cat_->Rename(kRootInode, "zz", d, "c", 0), Code::kNotFound);
  EXPECT_CODE(cat_->Rename(d, "b", f, "c", 0), Code::kNotDir);
  EXPECT_CODE(cat_->Rename(d, "b", d, "c", 3), Code::kInvalidArgument);
  EXPECT_CODE(cat_->Rename(d, "b", d, "c", 8), Code::kInvalidArgument);
}

TEST_F(CatalogTest, RenameNoReplaceAndExchange) {
  InodeId a = Mk(kRootInode, "a");
  InodeId b = Mk(kRootInode, "b");
  InodeId d = Dir(kRootInode, "d");
  EXPECT_CODE(cat_->Rename(kRootInode, "a", kRootInode, "b", kRenameNoReplace), Code::kExists);
  ASSERT_OK(cat_->Rename(kRootInode, "a", kRootInode, "c", kRenameNoReplace));
  EXPECT_EQ(*cat_->Lookup(kRootInode, "c"), a);
  EXPECT_CODE(cat_->Rename(kRootInode, "c", kRootInode, "x", kRenameExchange), Code::kNotFound);
  ASSERT_OK(cat_->Rename(kRootInode, "c", kRootInode, "b", kRenameExchange));
  EXPECT_EQ(*cat_->Lookup(kRootInode, "c"), b);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "b"), a);
  // A file and a directory may be exchanged.
  ASSERT_OK(cat_->Rename(kRootInode, "b", kRootInode, "d", kRenameExchange));
  EXPECT_EQ(*cat_->Lookup(kRootInode, "d"), a);
  auto e = cat_->ReadDir(kRootInode);
  ASSERT_OK(e);
  for (const DirEntry& x : *e) {
    if (x.name == "b") {
      EXPECT_EQ(x.ino, d);
      EXPECT_EQ(x.kind, FileKind::kDirectory);
    }
  }
  // Exchanging a directory with something inside it would make a cycle.
  InodeId inner = Mk(d, "inner");
  (void)inner;
  EXPECT_CODE(cat_->Rename(kRootInode, "b", d, "inner", kRenameExchange),
              Code::kInvalidArgument);
}

TEST_F(CatalogTest, RenameDirectories) {
  InodeId d = Dir(kRootInode, "d");
  InodeId sub = Dir(d, "sub");
  InodeId deep = Dir(sub, "deep");
  EXPECT_CODE(cat_->Rename(kRootInode, "d", deep, "x", 0), Code::kInvalidArgument);
  EXPECT_CODE(cat_->Rename(kRootInode, "d", d, "x", 0), Code::kInvalidArgument);
  InodeId empty = Dir(kRootInode, "empty");
  InodeId full = Dir(kRootInode, "full");
  Mk(full, "f");
  InodeId file = Mk(kRootInode, "file");
  EXPECT_CODE(cat_->Rename(d, "sub", kRootInode, "full", 0), Code::kNotEmpty);
  EXPECT_CODE(cat_->Rename(d, "sub", kRootInode, "file", 0), Code::kNotDir);
  EXPECT_CODE(cat_->Rename(kRootInode, "file", kRootInode, "empty", 0), Code::kIsDir);
  EXPECT_EQ(cat_->GetAttr(d)->nlink, 3u);
  ASSERT_OK(cat_->Rename(d, "sub", kRootInode, "empty", 0));
  EXPECT_EQ(*cat_->Lookup(kRootInode, "empty"), sub);
  EXPECT_EQ(cat_->GetAttr(d)->nlink, 2u);
  EXPECT_EQ(cat_->GetAttr(kRootInode)->nlink, 2u + 3u);  // d, empty(=sub), full
  EXPECT_EQ(*cat_->Lookup(sub, "deep"), deep);
  EXPECT_EQ(*cat_->PathOf(deep), "empty/deep");
  (void)empty;
  (void)file;
}

TEST_F(CatalogTest, RenameOntoItselfIsANoOp) {
  InodeId a = Mk(kRootInode, "a");
  ASSERT_OK(cat_->Link(a, kRootInode, "b"));
  Seq before = cat_->CurrentSeq();
  auto r = cat_->Rename(kRootInode, "a", kRootInode, "b", 0);
  ASSERT_OK(r);
  EXPECT_FALSE(r->merged_into.has_value());
  ASSERT_OK(cat_->Rename(kRootInode, "a", kRootInode, "a", 0));
  EXPECT_EQ(cat_->CurrentSeq(), before);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "a"), a);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "b"), a);
  EXPECT_EQ(cat_->GetAttr(a)->nlink, 2u);
}

TEST_F(CatalogTest, EditorPatternMergesIntoTheTarget) {
  InodeId t = Mk(kRootInode, "doc", FileKind::kRegular, 0600);
  ASSERT_OK(Add(t, {C(1)}, 10));
  ASSERT_OK(cat_->SetXattr(t, "user.old", "1", 0));
  InodeId tmp = Mk(kRootInode, "doc.tmp", FileKind::kRegular, 0640);
  ASSERT_OK(cat_->SetXattr(tmp, "user.k", "v", 0));
  auto tv = Add(tmp, {C(2), C(3)}, 20);
  ASSERT_OK(tv);
  auto r = cat_->Rename(kRootInode, "doc.tmp", kRootInode, "doc", 0);
  ASSERT_OK(r);
  ASSERT_TRUE(r->merged_into.has_value());
  EXPECT_EQ(*r->merged_into, t);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "doc"), t);
  EXPECT_CODE(cat_->Lookup(kRootInode, "doc.tmp"), Code::kNotFound);
  EXPECT_EQ(Vnos(t), (std::vector<uint64_t>{1, 2}));
  auto v2 = cat_->GetVersion(t, VersionNo(2));
  ASSERT_OK(v2);
  EXPECT_EQ(v2->sha256, tv->sha256);
  EXPECT_EQ(v2->size, tv->size);
  EXPECT_EQ(v2->mtime_ns, 20);
  EXPECT_EQ(v2->new_bytes, 0u);
  EXPECT_EQ(v2->stored_size, tv->stored_size);
  EXPECT_EQ(v2->xattrs, (Xattrs{{"user.k", "v"}}));
  auto merged = cat_->VersionChunks(t, VersionNo(2));
  auto source = cat_->VersionChunks(tmp, VersionNo(1));
  ASSERT_EQ(merged->size(), source->size());
  for (size_t i = 0; i < merged->size(); ++i) {
    EXPECT_EQ((*merged)[i].id, (*source)[i].id);
    EXPECT_EQ((*merged)[i].raw_len, (*source)[i].raw_len);
    EXPECT_EQ((*merged)[i].stored_len, (*source)[i].stored_len);
  }
  auto a = cat_->GetAttr(t);
  EXPECT_EQ(a->current_version.value, 2u);
  EXPECT_EQ(a->size, tv->size);
  EXPECT_EQ(a->mode, 0640u);  // what stat(doc.tmp) showed before the rename
  EXPECT_EQ(*cat_->GetXattrs(t), (Xattrs{{"user.k", "v"}}));
  // The source's chunks now have two references each.
  ASSERT_OK(cat_->PurgeHistory(tmp));
  EXPECT_TRUE(Garbage().empty());
  ASSERT_OK(cat_->DeleteVersion(t, VersionNo(2)));
  EXPECT_EQ(Garbage(), (std::set<Digest>{D(2), D(3)}));
}

TEST_F(CatalogTest, EditorPatternWithAnUnwrittenSource) {
  InodeId t = Mk(kRootInode, "doc");
  ASSERT_OK(Add(t, {C(1)}));
  Mk(kRootInode, "new");
  auto r = cat_->Rename(kRootInode, "new", kRootInode, "doc", 0);
  ASSERT_OK(r);
  ASSERT_EQ(r->merged_into, t);
  auto v = cat_->GetVersion(t, VersionNo(2));
  ASSERT_OK(v);
  EXPECT_EQ(v->size, 0u);
  EXPECT_EQ(v->chunk_count, 0u);
  EXPECT_EQ(v->sha256.Hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(cat_->GetAttr(t)->size, 0u);
}

TEST_F(CatalogTest, NoMergeWhenTheTargetHasOtherLinks) {
  InodeId t = Mk(kRootInode, "doc");
  ASSERT_OK(Add(t, {C(1)}));
  ASSERT_OK(cat_->Link(t, kRootInode, "doc-link"));
  InodeId tmp = Mk(kRootInode, "doc.tmp");
  ASSERT_OK(Add(tmp, {C(2)}));
  auto r = cat_->Rename(kRootInode, "doc.tmp", kRootInode, "doc", 0);
  ASSERT_OK(r);
  EXPECT_FALSE(r->merged_into.has_value());
  EXPECT_EQ(*cat_->Lookup(kRootInode, "doc"), tmp);
  EXPECT_EQ(*cat_->Lookup(kRootInode, "doc-link"), t);
  EXPECT_EQ(cat_->GetAttr(t)->nlink, 1u);
  EXPECT_EQ(Vnos(t), std::vector<uint64_t>{1});
}

// ---- xattrs, links, paths

TEST_F(CatalogTest, XattrsFlagsAndSnapshots) {
  InodeId f = Mk(kRootInode, "f");
  std::string bin("a\0b\xff", 4);
  ASSERT_OK(cat_->SetXattr(f, "user.a", bin, 1));
  EXPECT_CODE(cat_->SetXattr(f, "user.a", "x", 1), Code::kExists);
  EXPECT_CODE(cat_->SetXattr(f, "user.b", "x", 2), Code::kNotFound);
  ASSERT_OK(cat_->SetXattr(f, "user.b", "", 0));
  EXPECT_EQ(*cat_->GetXattrs(f), (Xattrs{{"user.a", bin}, {"user.b", ""}}));
  ASSERT_OK(cat_->SetXattr(f, "user.b", "2", 2));
  auto v1 = Add(f, {C(1)});  // snapshots the live set
  ASSERT_OK(v1);
  EXPECT_EQ(v1->xattrs, (Xattrs{{"user.a", bin}, {"user.b", "2"}}));
  ASSERT_OK(cat_->RemoveXattr(f, "user.a"));
  EXPECT_CODE(cat_->RemoveXattr(f, "user.a"), Code::kNotFound);
  EXPECT_EQ(*cat_->GetXattrs(f), (Xattrs{{"user.b", "2"}}));
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(1))->xattrs,
            (Xattrs{{"user.a", bin}, {"user.b", "2"}}));
  auto v2 = Add(f, {C(2)}, 1, Xattrs{{"user.explicit", "yes"}});
  ASSERT_OK(v2);
  Reopen();
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(2))->xattrs, (Xattrs{{"user.explicit", "yes"}}));
  EXPECT_CODE(cat_->SetXattr(f, "", "x", 0), Code::kInvalidArgument);
  EXPECT_CODE(cat_->SetXattr(f, "user.x", std::string(65537, 'v'), 0), Code::kInvalidArgument);
  EXPECT_CODE(cat_->SetXattr(f, "user.x", "v", 3), Code::kInvalidArgument);
  EXPECT_CODE(cat_->SetXattr(InodeId(777), "user.x", "v", 0), Code::kNotFound);
  EXPECT_CODE(cat_->GetXattrs(InodeId(777)), Code::kNotFound);
}

TEST_F(CatalogTest, HardLinksCountNames) {
  InodeId d = Dir(kRootInode, "d");
  InodeId f = Mk(kRootInode, "f");
  auto a = cat_->Link(f, d, "g");
  ASSERT_OK(a);
  EXPECT_EQ(a->nlink, 2u);
  EXPECT_CODE(cat_->Link(f, d, "g"), Code::kExists);
  EXPECT_CODE(cat_->Link(d, kRootInode, "d2"), Code::kPermission);
  ASSERT_OK(cat_->Unlink(kRootInode, "f"));
  EXPECT_EQ(cat_->GetAttr(f)->nlink, 1u);
  EXPECT_EQ(*cat_->Lookup(d, "g"), f);
  EXPECT_EQ(*cat_->PathOf(f), "d/g");
  ASSERT_OK(cat_->Unlink(d, "g"));
  EXPECT_EQ(cat_->GetAttr(f)->nlink, 0u);  // kept: versioning on
}

TEST_F(CatalogTest, PathOfLiveAndDeleted) {
  InodeId a = Dir(kRootInode, "a");
  InodeId b = Dir(a, "b");
  InodeId c = Mk(b, "c.txt");
  EXPECT_EQ(*cat_->PathOf(c), "a/b/c.txt");
  EXPECT_EQ(*cat_->PathOf(b), "a/b");
  EXPECT_EQ(*cat_->PathOf(kRootInode), "");
  ASSERT_OK(cat_->Rename(a, "b", kRootInode, "bb", 0));
  EXPECT_EQ(*cat_->PathOf(c), "bb/c.txt");
  ASSERT_OK(cat_->Unlink(b, "c.txt"));
  EXPECT_EQ(*cat_->PathOf(c), "bb/c.txt");  // last name of a deleted file
  EXPECT_CODE(cat_->PathOf(InodeId(12345)), Code::kNotFound);
}

TEST_F(CatalogTest, StatsCountRows) {
  InodeId f = Mk(kRootInode, "f");
  Dir(kRootInode, "d");
  ASSERT_OK(Add(f, {C(1, 100, 10), C(2, 200, 20)}));
  ASSERT_OK(Add(f, {C(1, 100, 10)}));
  auto s = cat_->GetStats();
  ASSERT_OK(s);
  EXPECT_EQ(s->inodes, 3u);
  EXPECT_EQ(s->files, 1u);
  EXPECT_EQ(s->versions, 2u);
  EXPECT_EQ(s->chunks, 2u);
  EXPECT_EQ(s->chunk_stored_bytes, 30u);
  EXPECT_EQ(s->chunk_raw_bytes, 300u);
  EXPECT_EQ(s->logical_bytes, 400u);
}

// ---- failures

std::vector<ChunkRef> ManyChunks(int n, uint8_t salt) {
  std::vector<ChunkRef> out;
  for (int i = 0; i < n; ++i) {
    Digest d;
    for (int k = 0; k < 4; ++k) d.bytes[k] = static_cast<uint8_t>(i >> (8 * k));
    d.bytes[4] = salt;
    out.push_back(testing_util::InPack(ChunkRef{d, 65536, 30000}));
  }
  return out;
}

TEST_F(CatalogTest, FullDiskFailsCleanlyAndTheCatalogRecovers) {
  InodeId f = Mk(kRootInode, "f");
  ASSERT_OK(Add(f, {C(1)}));
  std::vector<ChunkRef> many = ManyChunks(5000, 0x77);
  {
    // SQLite reports SQLITE_FULL once the file would grow past max_page_count.
    catalog_testing::ScopedConnectionHook hook([](sql::Db& db) {
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db.raw(), "PRAGMA page_count", -1, &st, nullptr);
      sqlite3_step(st);
      std::string sql = "PRAGMA max_page_count = " +
                        std::to_string(sqlite3_column_int64(st, 0) + 2);
      sqlite3_finalize(st);
      sqlite3_exec(db.raw(), sql.c_str(), nullptr, nullptr, nullptr);
    });
    Reopen();
    auto r = Add(f, many);
    EXPECT_CODE(r, Code::kNoSpace);
    EXPECT_NE(r.status().message().find("disk full"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(Vnos(f), std::vector<uint64_t>{1});  // nothing half-done
    EXPECT_EQ(cat_->HaveChunks({many[0].id, many[4999].id}),
              (std::vector<bool>{false, false}));
    EXPECT_EQ(cat_->GetAttr(f)->current_version.value, 1u);
  }
  Reopen();  // space is back
  auto r = Add(f, many);
  ASSERT_OK(r);
  EXPECT_EQ(r->version.value, 2u);
}

TEST_F(CatalogTest, AWriterHoldingTheLockMakesWritesBusyNotReads) {
  catalog_testing::ScopedConnectionHook hook(
      [](sql::Db& db) { sqlite3_busy_timeout(db.raw(), 50); });
  InodeId f = Mk(kRootInode, "f");
  Reopen();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = cat_->CreateNode(kRootInode, "g", Catalog::NewNode{});
  EXPECT_CODE(r, Code::kBusy);
  EXPECT_NE(r.status().message().find("locked by another process"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(*cat_->Lookup(kRootInode, "f"), f);  // WAL: readers go on
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_OK(cat_->CreateNode(kRootInode, "g", Catalog::NewNode{}));
}

// ---- one FUSE-sized commit of a ~1.3 GB file. The times are printed, not
// asserted: speed is measured by scripts/bench.sh, and a timed unit test
// fails on a busy machine.

TEST_F(CatalogTest, AddVersionWithTwentyThousandChunks) {
  InodeId f = Mk(kRootInode, "big");
  std::vector<ChunkRef> chunks = ManyChunks(20000, 0x5A);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_OK(Add(f, chunks));
  auto t1 = std::chrono::steady_clock::now();
  chunks[0].id.bytes[5] = 1;  // a one-chunk edit
  ASSERT_OK(Add(f, chunks));
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_OK(cat_->DeleteVersion(f, VersionNo(1)));
  auto t3 = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
  };
  std::printf("AddVersion new: %lld ms, shared: %lld ms, DeleteVersion: %lld ms\n",
              static_cast<long long>(ms(t0, t1)), static_cast<long long>(ms(t1, t2)),
              static_cast<long long>(ms(t2, t3)));
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(2))->new_bytes, 30000u);
  EXPECT_EQ(Garbage().size(), 1u);
}

}  // namespace
}  // namespace katamari

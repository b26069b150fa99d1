// Catalog format 4: special files (fifo, socket, devices) as entries without
// content, symlink sizes, and the migration 3 -> 4 that rebuilds `inodes`.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store/catalog.h"
#include "store/catalog_testing.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using catalog_aging::RawExec;
using catalog_aging::RawInt;

using Code = Status::Code;

using catalog_aging::Schema;

class Format4Test : public ::testing::Test {
 protected:
  void SetUp() override { Make(BucketSettings{}); }
  void Make(const BucketSettings& s) {
    cat_.reset();
    path_ = dir_.path() + "/catalog.db";
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path_ + suffix);
    auto c = Catalog::Create(path_, s, 1000, 1001);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  void Reopen() {
    cat_.reset();
    auto c = Catalog::Open(path_, false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  Attr Mk(InodeId parent, std::string_view name, FileKind kind, uint32_t mode = 0640,
          uint64_t rdev = 0, std::string target = "") {
    Catalog::NewNode n;
    n.kind = kind;
    n.mode = mode;
    n.uid = 7;
    n.gid = 8;
    n.rdev = rdev;
    n.symlink_target = std::move(target);
    auto a = cat_->CreateNode(parent, name, n);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }
  Attr Get(InodeId ino) {
    auto a = cat_->GetAttr(ino);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }
  Result<VersionInfo> AddVersion(InodeId ino, uint32_t raw_len) {
    Catalog::NewVersion v;
    v.ino = ino;
    v.size = raw_len;
    v.mtime_ns = 5;
    ChunkRef c;
    c.id.bytes[0] = static_cast<uint8_t>(raw_len);
    c.raw_len = raw_len;
    c.stored_len = raw_len / 2 + 1;
    v.chunks = {testing_util::InPack(c)};
    return cat_->AddVersion(v);
  }
  std::map<std::string, FileKind> Kinds(InodeId dir, std::optional<Seq> at = {}) {
    auto r = cat_->ReadDir(dir, at);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::map<std::string, FileKind> out;
    if (r.ok()) {
      for (const DirEntry& e : *r) out[e.name] = e.kind;
    }
    return out;
  }

  testing_util::TempDir dir_;
  std::string path_;
  std::unique_ptr<Catalog> cat_;
};

// ---- special files and symlinks

TEST_F(Format4Test, SpecialFilesAreEntriesWithTypeModeOwnerAndRdev) {
  const uint64_t null_dev = makedev(1, 3), sda1 = makedev(8, 1);
  Attr p = Mk(kRootInode, "p", FileKind::kFifo, 0640);
  Attr s = Mk(kRootInode, "s", FileKind::kSocket, 0755);
  Attr c = Mk(kRootInode, "c", FileKind::kCharDevice, 0666, null_dev);
  Attr b = Mk(kRootInode, "b", FileKind::kBlockDevice, 0660, sda1);
  EXPECT_EQ(p.kind, FileKind::kFifo);
  EXPECT_EQ(p.mode, 0640u);
  EXPECT_EQ(p.uid, 7u);
  EXPECT_EQ(p.gid, 8u);
  EXPECT_EQ(p.rdev, 0u);
  EXPECT_EQ(p.size, 0u);
  EXPECT_EQ(p.nlink, 1u);
  EXPECT_EQ(p.current_version.value, 0u);
  EXPECT_EQ(s.kind, FileKind::kSocket);
  EXPECT_EQ(c.rdev, null_dev);
  EXPECT_EQ(b.rdev, sda1);
  EXPECT_EQ(b.kind, FileKind::kBlockDevice);
  EXPECT_EQ(Kinds(kRootInode),
            (std::map<std::string, FileKind>{{"b", FileKind::kBlockDevice},
                                             {"c", FileKind::kCharDevice},
                                             {"p", FileKind::kFifo},
                                             {"s", FileKind::kSocket}}));
  // What they cannot be: a device number on a non-device, content.
  Catalog::NewNode bad;
  bad.kind = FileKind::kFifo;
  bad.rdev = 5;
  EXPECT_EQ(cat_->CreateNode(kRootInode, "bad", bad).status().code(), Code::kInvalidArgument);
  bad.kind = static_cast<FileKind>(8);
  bad.rdev = 0;
  EXPECT_EQ(cat_->CreateNode(kRootInode, "bad", bad).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(AddVersion(p.ino, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(cat_->ReadLink(c.ino).status().code(), Code::kInvalidArgument);
  // The key API's put does not turn one into a file.
  Catalog::PutFile put;
  put.name = "p";
  put.version.size = 0;
  auto put_over = cat_->Put(put);
  EXPECT_EQ(put_over.status().code(), Code::kIsDir);
  EXPECT_NE(put_over.status().message().find("is a fifo, not a regular file"), std::string::npos)
      << put_over.status().message();
  // They survive a reopen, and fsck's catalog checks accept them.
  Reopen();
  EXPECT_EQ(Get(c.ino).rdev, null_dev);
  EXPECT_EQ(Get(b.ino).kind, FileKind::kBlockDevice);
  EXPECT_EQ(Get(s.ino).mode, 0755u);
  EXPECT_TRUE(cat_->CheckIntegrity().empty());
}

TEST_F(Format4Test, SpecialFilesLinkRenameChangeAndUnlinkLikeAnyEntry) {
  InodeId d = Mk(kRootInode, "d", FileKind::kDirectory, 0755).ino;
  Attr c = Mk(d, "null", FileKind::kCharDevice, 0666, makedev(1, 3));
  Seq before = cat_->CurrentSeq();
  auto linked = cat_->Link(c.ino, kRootInode, "null2");
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  EXPECT_EQ(linked->nlink, 2u);
  ASSERT_TRUE(cat_->Rename(d, "null", d, "zero", 0).ok());
  Catalog::AttrChange ch;
  ch.mode = 0600;
  ch.uid = 11;
  ch.gid = 12;
  ch.mtime_ns = 123;
  auto changed = cat_->SetAttr(c.ino, ch);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->mode, 0600u);
  EXPECT_EQ(changed->uid, 11u);
  EXPECT_EQ(changed->mtime_ns, 123);
  EXPECT_EQ(changed->rdev, makedev(1, 3));
  EXPECT_EQ(changed->kind, FileKind::kCharDevice);
  ASSERT_TRUE(cat_->Unlink(kRootInode, "null2").ok());
  EXPECT_EQ(Get(c.ino).nlink, 1u);
  // Time views list it under the name it had, with its kind.
  EXPECT_EQ(Kinds(d, before), (std::map<std::string, FileKind>{{"null", FileKind::kCharDevice}}));
  EXPECT_EQ(Kinds(d), (std::map<std::string, FileKind>{{"zero", FileKind::kCharDevice}}));
  ASSERT_TRUE(cat_->Unlink(d, "zero").ok());
  EXPECT_TRUE(Kinds(d).empty());
  // Versioning on: the nameless entry stays for time views, and a regular
  // file of that name is a new inode (special files have no history to revive).
  EXPECT_EQ(Get(c.ino).nlink, 0u);
  Attr f = Mk(d, "zero", FileKind::kRegular, 0644);
  EXPECT_NE(f.ino, c.ino);
  EXPECT_TRUE(cat_->CheckIntegrity().empty());
}

TEST_F(Format4Test, WithoutVersioningAnUnlinkedSpecialFileIsGone) {
  BucketSettings s;
  s.versioning = false;
  Make(s);
  Attr p = Mk(kRootInode, "p", FileKind::kFifo);
  ASSERT_TRUE(cat_->Unlink(kRootInode, "p").ok());
  EXPECT_EQ(cat_->GetAttr(p.ino).status().code(), Code::kNotFound);
}

TEST_F(Format4Test, SymlinkSizeIsTheLengthOfItsTarget) {
  Attr l = Mk(kRootInode, "l", FileKind::kSymlink, 0777, 0, "target/of/link");
  EXPECT_EQ(l.size, 14u);
  Attr u = Mk(kRootInode, "u", FileKind::kSymlink, 0777, 0, "caf\xc3\xa9");  // bytes, not chars
  EXPECT_EQ(u.size, 5u);
  Reopen();
  EXPECT_EQ(Get(l.ino).size, 14u);
}

TEST_F(Format4Test, FsckReportsASpecialFileWithContent) {
  Attr p = Mk(kRootInode, "p", FileKind::kFifo);
  Attr f = Mk(kRootInode, "f", FileKind::kRegular);
  cat_.reset();
  RawExec(path_, "UPDATE inodes SET size = 5 WHERE id = " + std::to_string(p.ino.value) +
                     "; UPDATE inodes SET rdev = 9 WHERE id = " + std::to_string(f.ino.value));
  Reopen();
  std::vector<std::string> problems = cat_->CheckIntegrity();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("(a fifo) records content"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("(a regular file)"), std::string::npos) << problems[1];
}

// ---- migration 3 -> 4

class Migration4Test : public Format4Test {
 protected:
  // A catalog with everything format 3 could hold: directories, files with
  // versions and xattrs, hard links, a symlink, a deleted file with history,
  // and a purged inode with the highest id (AUTOINCREMENT must remember it).
  void AgeToFormat3() {
    cat_.reset();
    catalog_aging::SegmentsToFormat6(path_);
    RawExec(path_, catalog_aging::kChunksToFormat5);
    RawExec(path_, catalog_aging::kPolicyToFormat4);
    RawExec(path_, catalog_aging::kInodesToFormat3);
  }
  void Populate() {
    d_ = Mk(kRootInode, "d", FileKind::kDirectory, 0755).ino;
    f_ = Mk(d_, "f", FileKind::kRegular, 0640).ino;
    ASSERT_TRUE(AddVersion(f_, 100).ok());
    ASSERT_TRUE(AddVersion(f_, 200).ok());
    ASSERT_TRUE(cat_->SetXattr(f_, "user.k", "v", 0).ok());
    ASSERT_TRUE(cat_->Link(f_, kRootInode, "f2").ok());
    l_ = Mk(d_, "l", FileKind::kSymlink, 0777, 0, "../some/target").ino;
    InodeId gone = Mk(kRootInode, "gone", FileKind::kRegular).ino;
    ASSERT_TRUE(AddVersion(gone, 300).ok());
    ASSERT_TRUE(cat_->Unlink(kRootInode, "gone").ok());
    purged_ = Mk(kRootInode, "purged", FileKind::kRegular).ino;
    ASSERT_TRUE(cat_->Unlink(kRootInode, "purged").ok());
    ASSERT_TRUE(cat_->PurgeHistory(purged_).ok());
    ASSERT_EQ(cat_->GetAttr(purged_).status().code(), Code::kNotFound);
    for (InodeId i : {kRootInode, d_, f_, l_, gone}) attrs_[i.value] = Get(i);
  }
  void ExpectSameAttrs(InodeId i, const Attr& want) {
    Attr a = Get(i);
    EXPECT_EQ(a.kind, want.kind) << i.value;
    EXPECT_EQ(a.mode, want.mode) << i.value;
    EXPECT_EQ(a.uid, want.uid) << i.value;
    EXPECT_EQ(a.gid, want.gid) << i.value;
    EXPECT_EQ(a.nlink, want.nlink) << i.value;
    EXPECT_EQ(a.size, want.size) << i.value;
    EXPECT_EQ(a.rdev, 0u) << i.value;
    EXPECT_EQ(a.atime_ns, want.atime_ns) << i.value;
    EXPECT_EQ(a.mtime_ns, want.mtime_ns) << i.value;
    EXPECT_EQ(a.ctime_ns, want.ctime_ns) << i.value;
    EXPECT_EQ(a.current_version, want.current_version) << i.value;
  }
  int64_t InodesColumns(const char* name) {
    return RawInt(path_, std::string("SELECT count(*) FROM pragma_table_info('inodes') WHERE "
                                     "name = '") + name + "'");
  }
  // Foreign keys of the other tables that name `inodes` (2 + 1 + 1).
  int64_t ReferencesToInodes() {
    int64_t n = 0;
    for (const char* t : {"dentries", "versions", "xattrs"}) {
      n += RawInt(path_, std::string("SELECT count(*) FROM pragma_foreign_key_list('") + t +
                             "') WHERE \"table\" = 'inodes'");
    }
    return n;
  }

  InodeId d_, f_, l_, purged_;
  std::map<uint64_t, Attr> attrs_;
};

TEST_F(Migration4Test, Format3MigratesToFormat4) {
  Populate();
  cat_.reset();
  const std::string fresh_schema = Schema(path_);
  ASSERT_EQ(ReferencesToInodes(), 4);
  AgeToFormat3();
  ASSERT_NE(Schema(path_), fresh_schema);
  ASSERT_EQ(InodesColumns("rdev"), 0);
  ASSERT_EQ(ReferencesToInodes(), 4);
  ASSERT_EQ(RawInt(path_, "SELECT size FROM inodes WHERE id = " + std::to_string(l_.value)), 0);

  EXPECT_EQ(Catalog::Open(path_, true).status().code(), Code::kReadOnly);
  // After the migration the connection enforces foreign keys again.
  int64_t foreign_keys = -1;
  {
    catalog_testing::ScopedConnectionHook hook([&](sql::Db& db) {
      auto q = db.Prepare("PRAGMA foreign_keys");
      if (q.ok() && q->Step().ok()) foreign_keys = q->Int(0);
    });
    Reopen();
  }
  EXPECT_EQ(foreign_keys, 1);
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"),
            Catalog::kFormatVersion);
  // Exactly a new catalog's schema, references to `inodes` intact, no leftovers.
  EXPECT_EQ(Schema(path_), fresh_schema);
  EXPECT_EQ(ReferencesToInodes(), 4);
  EXPECT_EQ(RawInt(path_, "SELECT count(*) FROM sqlite_master WHERE name = 'inodes_v3'"), 0);
  // Every inode as it was; the symlink now has its size.
  for (const auto& [id, want] : attrs_) {
    Attr w = want;
    if (InodeId(id) == l_) {
      EXPECT_EQ(w.size, 14u);  // made by format 4, aged to 0, migrated back
    }
    ExpectSameAttrs(InodeId(id), w);
  }
  EXPECT_EQ(*cat_->ReadLink(l_), "../some/target");
  auto versions = cat_->ListVersions(f_);
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
  EXPECT_EQ(*cat_->GetXattrs(f_), (Xattrs{{"user.k", "v"}}));
  EXPECT_EQ(*cat_->Lookup(kRootInode, "f2"), f_);
  EXPECT_TRUE(cat_->CheckIntegrity().empty());
  // Inode numbers are never reused, also the purged highest one.
  Attr fresh = Mk(kRootInode, "new", FileKind::kFifo);
  EXPECT_GT(fresh.ino.value, purged_.value);
  EXPECT_EQ(Get(fresh.ino).kind, FileKind::kFifo);
}

TEST_F(Migration4Test, AFailedMigrationLeavesFormat3Untouched) {
  Populate();
  AgeToFormat3();
  const std::string aged_schema = Schema(path_);
  std::vector<catalog_format::MigrationStep> steps(catalog_format::MigrationSteps().begin(),
                                                   catalog_format::MigrationSteps().end());
  ASSERT_GE(steps.size(), 3u);
  auto real = steps[2].apply;
  steps[2].apply = [real](sql::Db& db) -> Status {
    RETURN_IF_ERROR(real(db));  // the whole rebuild, then a failure before the commit
    return Status::IOError("injected failure");
  };
  {
    catalog_testing::ScopedMigrationSteps scoped(steps);
    auto c = Catalog::Open(path_, false);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("left at format 3"), std::string::npos)
        << c.status().message();
  }
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"), 3);
  EXPECT_EQ(Schema(path_), aged_schema);
  EXPECT_EQ(ReferencesToInodes(), 4);
  EXPECT_EQ(InodesColumns("rdev"), 0);
  // The next open migrates for real.
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(Get(l_).size, 14u);
}

}  // namespace
}  // namespace katamari

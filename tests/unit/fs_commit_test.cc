// What a close commits and holds, beside the content (fs/file_ops.cc,
// fs/write_session.h): owner, mode and times set on a new file before its
// first close go into that commit (tar x, cp -p), and a committed session
// rebases lazily, so the close of the last writer adds no pin.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "fs/write_session.h"
#include "tests/unit/fs_test_fixture.h"

namespace katamari::fs {
namespace {

class CommitTest : public FilesystemTest {
 protected:
  // A second Bucket on the same directory: another pin owner, as the CLI.
  std::unique_ptr<Bucket> Other() {
    auto b = Bucket::Open(tmp_.path() + "/b" + std::to_string(buckets_), {});
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b).value() : nullptr;
  }
  VersionInfo Newest(uint64_t ino) {
    auto v = bucket_->ListVersions(InodeId(ino));
    EXPECT_TRUE(v.ok() && !v->empty());
    return v.ok() && !v->empty() ? v->back() : VersionInfo{};
  }
  AttrUpdate Mode(uint32_t mode) {
    AttrUpdate u;
    u.mode = mode;
    return u;
  }
};

// tar's order: create, write, utimensat, fchown, fchmod, close.
TEST_F(CommitTest, AttrsSetBeforeTheFirstCloseGoIntoItsCommit) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "hello");
  const int64_t mtime = int64_t{1600000000} * 1000000000 + 5;
  const int64_t atime = int64_t{1500000000} * 1000000000;
  AttrUpdate times;
  times.atime_ns = atime;
  times.mtime_ns = mtime;
  ASSERT_TRUE(fs_->SetAttr(e.node, times, std::nullopt).ok());
  AttrUpdate owner;
  owner.uid = 1234;
  owner.gid = 5678;
  ASSERT_TRUE(fs_->SetAttr(e.node, owner, std::nullopt).ok());
  auto shown = fs_->SetAttr(e.node, Mode(0751), std::nullopt);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  // The mount shows them at once...
  EXPECT_EQ(shown->mode, 0751u);
  EXPECT_EQ(shown->uid, 1234u);
  EXPECT_EQ(shown->gid, 5678u);
  EXPECT_EQ(shown->mtime_ns, mtime);
  EXPECT_EQ(shown->atime_ns, atime);
  auto got = fs_->GetAttr(e.node);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->mode, 0751u);
  EXPECT_EQ(got->uid, 1234u);
  // ...the catalog has them with the commit.
  auto before = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->mode, 0644u);
  Close(fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
  VersionInfo v = Newest(e.node);
  EXPECT_EQ(v.mode, 0751u);
  EXPECT_EQ(v.uid, 1234u);
  EXPECT_EQ(v.gid, 5678u);
  EXPECT_EQ(v.mtime_ns, mtime);
  auto after = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->mode, 0751u);
  EXPECT_EQ(after->uid, 1234u);
  EXPECT_EQ(after->gid, 5678u);
  EXPECT_EQ(after->mtime_ns, mtime);
  EXPECT_EQ(after->atime_ns, atime);
  EXPECT_EQ(Committed(e.node), "hello");
}

TEST_F(CommitTest, AChmodAfterTheCloseOrOfAnOldFileGoesToTheCatalogAtOnce) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "one");
  Close(fh);
  ASSERT_TRUE(fs_->SetAttr(e.node, Mode(0600), std::nullopt).ok());
  auto a = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0600u);
  EXPECT_EQ(Newest(e.node).mode, 0600u);  // restamped, as before
  // Open again and written: not new, so a chmod is not held either.
  auto o = fs_->Open(e.node, O_WRONLY);
  ASSERT_TRUE(o.ok());
  MustWrite(o->fh, 3, "two");
  ASSERT_TRUE(fs_->SetAttr(e.node, Mode(0640), std::nullopt).ok());
  a = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0640u);
  Close(o->fh);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Newest(e.node).mode, 0640u);
  EXPECT_EQ(Committed(e.node), "onetwo");
}

TEST_F(CommitTest, HeldAttrsReachTheCatalogBeforeAnAclEditAndARenameOver) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  ASSERT_TRUE(fs_->SetAttr(e.node, Mode(0700), std::nullopt).ok());
  ASSERT_TRUE(fs_->SetXattr(e.node, "user.k", "v", 0).ok());  // not an ACL: still held
  auto a = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0644u);
  // An access ACL implies a mode: the held chmod is recorded first.
  const std::string acl_u_rwx_g_r_o_none(
      "\x02\x00\x00\x00"                  // version 2
      "\x01\x00\x07\x00\xff\xff\xff\xff"  // USER_OBJ rwx
      "\x04\x00\x04\x00\xff\xff\xff\xff"  // GROUP_OBJ r
      "\x20\x00\x00\x00\xff\xff\xff\xff",  // OTHER none
      28);
  ASSERT_TRUE(fs_->SetXattr(e.node, "system.posix_acl_access", acl_u_rwx_g_r_o_none, 0).ok());
  a = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0740u);
  Close(fh);
  EXPECT_EQ(Newest(e.node).mode, 0740u);

  // The editor pattern: a new file chmod-ed while open, renamed over `doc`.
  uint64_t dfh;
  Entry doc = MustCreate("doc", &dfh);
  MustWrite(dfh, 0, "v1");
  Close(dfh);
  uint64_t tfh;
  Entry tmp = MustCreate("doc.new", &tfh);
  MustWrite(tfh, 0, "v2");
  ASSERT_TRUE(fs_->SetAttr(tmp.node, Mode(0604), std::nullopt).ok());
  ASSERT_TRUE(fs_->Rename(1, "doc.new", 1, "doc", 0).ok());
  Close(tfh);
  auto now = bucket_->Lookup(InodeId(1), "doc");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->mode, 0604u);
  EXPECT_EQ(Committed(now->ino.value), "v2");
  EXPECT_EQ(Newest(now->ino.value).mode, 0604u);
  (void)doc;
}

TEST_F(CommitTest, TheCloseOfTheLastWriterAddsNoPinAndAFileKeptOpenRebases) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, std::string(100000, 'a'));
  Close(fh);
  ASSERT_EQ(VersionCount(e.node), 1u);
  auto other = Other();
  ASSERT_TRUE(other);
  // Nothing of this process holds version 1 after its close: another
  // owner may delete it (its content stays readable as version 1 was).
  auto o = fs_->Open(e.node, O_WRONLY | O_APPEND);
  ASSERT_TRUE(o.ok());
  MustWrite(o->fh, 100000, "b");
  // Open for writing: its base (1) is pinned against the other owner.
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(1)).code() == Status::Code::kBusy);
  ASSERT_TRUE(fs_->Flush(o->fh).ok());  // version 2; the session rebases lazily
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(ReadFh(o->fh, 99999, 10), "ab");  // a read rebases on version 2
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(1)).ok());
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(2)).code() == Status::Code::kBusy);
  MustWrite(o->fh, 100001, "c");
  ASSERT_TRUE(fs_->Release(o->fh).ok());  // commits version 3, ends the session
  EXPECT_EQ(Committed(e.node), std::string(100000, 'a') + "bc");
  // Closed: nothing held (version 2 is no longer current, so it may go).
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(2)).ok());
  EXPECT_EQ(VersionCount(e.node), 1u);
}

TEST_F(CommitTest, FsyncLeavesTheSessionOnTheVersionItMade) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "one");
  Close(fh);
  auto o = fs_->Open(e.node, O_WRONLY);
  ASSERT_TRUE(o.ok());
  MustWrite(o->fh, 0, "two");
  ASSERT_TRUE(fs_->Fsync(o->fh).ok());
  auto other = Other();
  ASSERT_TRUE(other);
  // Kept open after fsync: it holds version 2 (the current one), not 1.
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(1)).ok());
  EXPECT_TRUE(other->DeleteVersion(InodeId(e.node), VersionNo(2)).code() == Status::Code::kBusy);
  ASSERT_TRUE(fs_->Release(o->fh).ok());
  EXPECT_EQ(Committed(e.node), "two");
}

}  // namespace
}  // namespace katamari::fs

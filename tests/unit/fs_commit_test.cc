// What a close commits and holds, beside the content (fs/file_ops.cc,
// fs/write_session.h): owner, mode and times set on a new file before its
// first close go into that commit (tar x, cp -p), and a committed session
// rebases lazily, so the close of the last writer adds no pin.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

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
  // The bucket's newest commit sequence number: one per catalog write
  // transaction.
  uint64_t LastSeq() { return bucket_->SeqAtTime(std::numeric_limits<int64_t>::max()).value; }
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
  const uint64_t seq = LastSeq();
  Close(fh);
  // One catalog transaction: the attributes went in with the version.
  EXPECT_EQ(LastSeq(), seq + 1);
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

// A file big enough to be committed while it is written (a stream that
// started before the attributes were set): they still reach the version.
TEST_F(CommitTest, AttrsSetOnAStreamedFileReachItsVersion) {
  uint64_t fh;
  Entry e = MustCreate("big", &fh);
  const std::string big = testing_util::RandomBytes(WriteSession::kStreamThreshold + (1 << 20), 3);
  MustWrite(fh, 0, big);
  AttrUpdate owner;
  owner.uid = 4321;
  owner.gid = 8765;
  ASSERT_TRUE(fs_->SetAttr(e.node, owner, std::nullopt).ok());
  ASSERT_TRUE(fs_->SetAttr(e.node, Mode(0700), std::nullopt).ok());
  Close(fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
  VersionInfo v = Newest(e.node);
  EXPECT_EQ(v.mode, 0700u);
  EXPECT_EQ(v.uid, 4321u);
  EXPECT_EQ(v.gid, 8765u);
  auto a = bucket_->GetAttr(InodeId(e.node));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0700u);
  EXPECT_EQ(a->uid, 4321u);
  EXPECT_EQ(Committed(e.node), big);
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

// The commits (Seqs) the catalog has made so far.
uint64_t Commits(Bucket& b) { return b.SeqAtTime(std::numeric_limits<int64_t>::max()).value; }

// A new file's empty first version is made with its name, in the same
// transaction; the writes before its first close amend it (one version, as
// before, and one catalog transaction less per small file).
TEST_F(CommitTest, ACreatedFileHasItsEmptyVersionAndTheFirstCloseAmendsIt) {
  const uint64_t before = Commits(*bucket_);
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  EXPECT_EQ(Commits(*bucket_), before + 1);
  EXPECT_EQ(e.attr.current_version.value, 1u);
  ASSERT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Newest(e.node).sha256.Hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // The shell's `echo x > f`: a close with nothing written, then a write
  // through the duplicate and its close.
  ASSERT_TRUE(fs_->Flush(fh).ok());
  EXPECT_EQ(Commits(*bucket_), before + 1);  // nothing changed: nothing committed
  MustWrite(fh, 0, "x\n");
  Close(fh);
  EXPECT_EQ(Commits(*bucket_), before + 2);
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Committed(e.node), "x\n");
  EXPECT_EQ(Newest(e.node).version.value, 1u);
}

TEST_F(CommitTest, ACreatedFileClosedUnwrittenKeepsItsEmptyVersionAndHeldAttrs) {
  uint64_t fh;
  Entry e = MustCreate("touched", &fh);
  Close(fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Committed(e.node), "");
  // A chmod before the first close (no write) still reaches that version.
  Entry g = MustCreate("secret", &fh);
  ASSERT_TRUE(fs_->SetAttr(g.node, Mode(0600), std::nullopt).ok());
  EXPECT_EQ(fs_->GetAttr(g.node)->mode, 0600u);
  Close(fh);
  ASSERT_EQ(VersionCount(g.node), 1u);
  EXPECT_EQ(Newest(g.node).mode, 0600u);
  EXPECT_EQ(bucket_->GetAttr(InodeId(g.node))->mode, 0600u);
}

// Another process reading the empty version keeps it: the close adds a
// version instead of amending that one.
TEST_F(CommitTest, AReaderOfTheEmptyFirstVersionKeepsIt) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  auto other = Other();
  ASSERT_TRUE(other);
  auto reader = other->OpenVersionPinned(InodeId(e.node), VersionNo(1));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  MustWrite(fh, 0, "data");
  Close(fh);
  ASSERT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Committed(e.node), "data");
  EXPECT_EQ((*reader)->info().size, 0u);
  auto v1 = bucket_->GetVersion(InodeId(e.node), VersionNo(1));
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->size, 0u);
}

// O_APPEND writes at the end of the file as it is: the kernel's size lags a
// `katamari put` beside the mount, and writing where it says would leave
// zeros (or overwrite) in the middle of the file.
TEST_F(CommitTest, AppendWritesAtTheRealEndWhateverOffsetTheKernelSent) {
  uint64_t fh;
  Entry e = MustCreate("log", &fh);
  MustWrite(fh, 0, "line 1\nline 2\n");
  Close(fh);
  auto other = Other();
  ASSERT_TRUE(other);
  StringSource put("put 1\n");
  ASSERT_TRUE(other->Put("log", put, {}).ok());
  invalidated_.clear();
  auto o = fs_->Open(e.node, O_WRONLY | O_APPEND);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  MustWrite(o->fh, 14, "line 3\n");  // the kernel's stale end
  EXPECT_EQ(invalidated_, std::vector<uint64_t>{e.node});  // its cache is dropped
  invalidated_.clear();
  MustWrite(o->fh, 13, "line 4\n");  // the right end: nothing to drop
  EXPECT_TRUE(invalidated_.empty());
  ASSERT_TRUE(fs_->Release(o->fh).ok());
  EXPECT_EQ(Committed(e.node), "put 1\nline 3\nline 4\n");
}

}  // namespace
}  // namespace katamari::fs

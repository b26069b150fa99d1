// fs/: truncation and creation as versions at close (the provisional empty
// version the same session amends), and rename over an existing file
// (inode number, descriptors of the replaced file, commits racing it).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "fs/filesystem.h"
#include "fs/write_session.h"
#include "store/bucket.h"
#include "tests/unit/fs_test_fixture.h"
#include "tests/unit/test_util.h"

namespace katamari::fs {
namespace {

using testing_util::RandomBytes;

// A created file is a change: its empty version exists when close() (the
// flush) returns, and the release after it changes nothing: a futimens in
// between (rsync -a of an empty file) keeps its mtime.
TEST_F(FilesystemTest, CreatedEmptyFileIsAVersionAtFirstFlush) {
  uint64_t fh;
  Entry e = MustCreate("empty", &fh);
  ASSERT_TRUE(fs_->Flush(fh).ok());
  EXPECT_EQ(VersionCount(e.node), 1u);
  AttrUpdate up;
  up.mtime_ns = 1000000000;  // rsync sets the mtime after close, before release
  ASSERT_TRUE(fs_->SetAttr(e.node, up, std::nullopt).ok());
  ASSERT_TRUE(fs_->Release(fh).ok());
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(fs_->GetAttr(e.node)->mtime_ns, 1000000000);
}

// open(O_TRUNC) / ftruncate(0) and close without a write: the empty version
// is committed at the flush.
TEST_F(FilesystemTest, TruncationToEmptyIsAVersionAtFlush) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "content");
  Close(fh);
  auto o = fs_->Open(e.node, O_WRONLY | O_TRUNC);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fs_->Flush(o->fh).ok());
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(bucket_->GetAttr(InodeId(e.node))->size, 0u);
  ASSERT_TRUE(fs_->Release(o->fh).ok());
  EXPECT_EQ(VersionCount(e.node), 2u);

  MustWrite(fh = fs_->Open(e.node, O_RDWR)->fh, 0, "again");
  Close(fh);
  o = fs_->Open(e.node, O_RDWR);
  AttrUpdate up;
  up.size = 0;
  ASSERT_TRUE(fs_->SetAttr(e.node, up, o->fh).ok());  // ftruncate(fd, 0)
  ASSERT_TRUE(fs_->Flush(o->fh).ok());
  EXPECT_EQ(VersionCount(e.node), 4u);
  EXPECT_EQ(Committed(e.node), "");
  ASSERT_TRUE(fs_->Release(o->fh).ok());
}

// The shell's `echo x > f`: open(O_CREAT|O_TRUNC), dup, close the original
// (a flush with nothing written: the empty version, provisional), write,
// close (amends it). One version, numbered as the empty one was.
TEST_F(FilesystemTest, ShellRedirectionMakesOneVersion) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  ASSERT_TRUE(fs_->Flush(fh).ok());
  EXPECT_EQ(VersionCount(e.node), 1u);
  MustWrite(fh, 0, "first");
  Close(fh);
  auto versions = bucket_->ListVersions(InodeId(e.node));
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ(versions->front().version.value, 1u);
  EXPECT_EQ(Committed(e.node), "first");

  auto o = fs_->Open(e.node, O_WRONLY | O_TRUNC);  // echo second > f
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fs_->Flush(o->fh).ok());
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Committed(e.node), "");
  MustWrite(o->fh, 0, "second");
  Close(o->fh);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Committed(e.node), "second");
  EXPECT_EQ(bucket_->GetAttr(InodeId(e.node))->current_version.value, 2u);
  // Time views keep MVCC: the amended version was not there before its commit.
  auto at = bucket_->VersionAt(InodeId(e.node), Seq(bucket_->ListVersions(InodeId(e.node))
                                                        ->back().seq.value - 1));
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(at->version.value, 1u);
}

// A provisional version is amended only while it is still the newest: a
// commit by someone else in between (the CLI) keeps it, the session's write
// becomes a version of its own.
TEST_F(FilesystemTest, ProvisionalVersionIsKeptOnceAnotherCommitFollowed) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  ASSERT_TRUE(fs_->Flush(fh).ok());
  StringSource cli("from the cli");
  ASSERT_TRUE(bucket_->CommitContent(InodeId(e.node), cli).ok());
  MustWrite(fh, 0, "mine");
  Close(fh);
  auto versions = bucket_->ListVersions(InodeId(e.node));
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ(versions->at(0).size, 0u);
  EXPECT_EQ(Committed(e.node), "mine");
}

// The session's bookkeeping: only a commit without writes of empty content
// is provisional, and only for the inode it went to.
TEST_F(FilesystemTest, WriteSessionProvisionalBookkeeping) {
  auto attr = bucket_->MakeNode(kRootInode, "s", FileKind::kRegular, 0644, 0, 0);
  ASSERT_TRUE(attr.ok());
  WriteSession s(*bucket_, "s", WriteSession::Base{});
  s.MarkDirty();
  auto c = s.Commit(*bucket_, attr->ino);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ(s.provisional_version(), (*c)->version);
  ASSERT_TRUE(s.Write(0, "x").ok());
  c = s.Commit(*bucket_, attr->ino);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->version.value, 1u);  // amended
  EXPECT_FALSE(s.provisional_version().has_value());
  ASSERT_TRUE(s.Truncate(0).ok());
  c = s.Commit(*bucket_, attr->ino);
  EXPECT_EQ((*c)->version.value, 2u);
  EXPECT_TRUE(s.provisional_version().has_value());
  auto other = bucket_->MakeNode(kRootInode, "t", FileKind::kRegular, 0644, 0, 0);
  ASSERT_TRUE(s.Write(0, "y").ok());
  c = s.Commit(*bucket_, other->ino);  // routed elsewhere (a rename): no amend
  EXPECT_EQ((*c)->version.value, 1u);
  EXPECT_EQ(bucket_->ListVersions(attr->ino)->size(), 2u);
}

// `cat big > f`: the write after the provisional flush is streamed; the
// stream amends the empty version too.
TEST_F(FilesystemTest, StreamedWriteAfterProvisionalFlushMakesOneVersion) {
  std::string big = RandomBytes(6 << 20, 4);
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  ASSERT_TRUE(fs_->Flush(fh).ok());
  for (size_t off = 0; off < big.size(); off += 128 << 10) {
    MustWrite(fh, off, big.substr(off, 128 << 10));
  }
  Close(fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Committed(e.node), big);
}

// Descriptors of the replaced file read its old content whole until closed
// (the write-temp-then-rename atomic replace), its writers' changes are
// dropped, and the renamed file's pending writes land in the renamed file.
TEST_F(FilesystemTest, RenameOverOpenFileKeepsOldDescriptorsOnTheOldFile) {
  std::string old_content = RandomBytes(1 << 20, 5), new_content = RandomBytes(1 << 20, 6);
  uint64_t fh;
  Entry b = MustCreate("b", &fh);
  MustWrite(fh, 0, old_content);
  Close(fh);
  auto reader = fs_->Open(b.node, O_RDONLY);
  ASSERT_TRUE(reader.ok());
  std::string got = ReadFh(reader->fh, 0, 64 << 10);
  auto writer = fs_->Open(b.node, O_RDWR);  // a writer of the old b
  ASSERT_TRUE(writer.ok());
  Entry a = MustCreate("a", &fh);
  MustWrite(fh, 0, new_content);
  Close(fh);
  uint64_t a_fh = fs_->Open(a.node, O_RDWR)->fh;  // still open for writing
  MustWrite(a_fh, 0, "Z");
  ASSERT_TRUE(fs_->Rename(1, "a", 1, "b", 0).ok());
  got += ReadFh(reader->fh, 64 << 10, 2 << 20);
  EXPECT_TRUE(got == old_content) << "a reader of the old b got a mix of old and new bytes";
  auto old_attr = fs_->GetAttr(b.node);
  EXPECT_EQ(old_attr->nlink, 0u);
  EXPECT_EQ(old_attr->ino.value, b.node);
  AttrUpdate chmod;
  chmod.mode = 0600;  // fchmod through the old b's descriptor: not the new b
  ASSERT_TRUE(fs_->SetAttr(b.node, chmod, writer->fh).ok());
  EXPECT_EQ(fs_->GetAttr(b.node)->mode & 07777, 0600u);
  EXPECT_EQ(fs_->GetAttr(a.node)->mode & 07777, 0644u);
  MustWrite(writer->fh, 0, "old b's writer");
  Close(writer->fh);  // dropped: its file lost its name
  Close(a_fh);        // goes to b
  Close(reader->fh);
  std::string want = new_content;
  want[0] = 'Z';
  EXPECT_EQ(Committed(b.node), want);  // b's catalog inode holds the renamed file
  auto looked = fs_->Lookup(1, "b");
  EXPECT_EQ(looked->node, a.node);
  auto o = fs_->Open(looked->node, O_RDONLY);
  EXPECT_TRUE(ReadFh(o->fh, 0, 2 << 20) == want);
  Close(o->fh);
  // b's history: old, the renamed content, the renamed file's write.
  EXPECT_EQ(VersionCount(b.node), 3u);
}

// The race, step by step: create a without writing, its release
// still pending, rename a over b, append to b through the same node, close.
TEST_F(FilesystemTest, RenameOfCreatedFileWithPendingReleaseKeepsTheAppend) {
  uint64_t fh;
  Entry b = MustCreate("b", &fh);
  MustWrite(fh, 0, "old b");
  Close(fh);
  Entry a = MustCreate("a", &fh);
  ASSERT_TRUE(fs_->Flush(fh).ok());  // close() of touch; release not yet
  ASSERT_TRUE(fs_->Rename(1, "a", 1, "b", 0).ok());
  auto app = fs_->Open(a.node, O_WRONLY | O_APPEND);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(fs_->Release(fh).ok());  // the late release
  MustWrite(app->fh, 0, "appended");
  Close(app->fh);
  EXPECT_EQ(Committed(b.node), "appended");
  auto o = fs_->Open(a.node, O_RDONLY);
  EXPECT_EQ(ReadFh(o->fh), "appended");
  Close(o->fh);
}

// A close racing the rename of its file over another commits wholly before
// or after the merge, so the data always lands in the renamed file.
TEST_F(FilesystemTest, CloseRacingARenameLandsInTheRenamedFile) {
  for (int i = 0; i < 20; ++i) {
    const std::string a = "a" + std::to_string(i), b = "b" + std::to_string(i);
    const std::string data = "new " + std::to_string(i);
    uint64_t fh;
    Entry eb = MustCreate(b, &fh);
    MustWrite(fh, 0, "old");
    Close(fh);
    MustCreate(a, &fh);
    MustWrite(fh, 0, data);
    std::thread closer([&] { EXPECT_TRUE(fs_->Flush(fh).ok()); });
    ASSERT_TRUE(fs_->Rename(1, a, 1, b, 0).ok());
    closer.join();
    ASSERT_TRUE(fs_->Release(fh).ok());
    EXPECT_EQ(Committed(eb.node), data) << "round " << i;
  }
}

}  // namespace
}  // namespace katamari::fs

// Filesystem: special files (mknod of fifos, sockets and devices) and
// symlink sizes, live and in time views, without a mount.
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <map>

#include "fs/version_syntax.h"
#include "tests/unit/fs_test_fixture.h"

namespace katamari::fs {
namespace {

using Code = Status::Code;

std::map<std::string, FileKind> Listing(Filesystem& fs, uint64_t dir) {
  std::map<std::string, FileKind> out;
  auto fh = fs.OpenDir(dir);
  EXPECT_TRUE(fh.ok()) << fh.status().ToString();
  if (!fh.ok()) return out;
  auto entries = fs.DirEntries(*fh, false);
  EXPECT_TRUE(entries.ok());
  if (entries.ok()) {
    for (const DirEntry& e : **entries) {
      if (e.name != "." && e.name != "..") out[e.name] = e.kind;
    }
  }
  EXPECT_TRUE(fs.ReleaseDir(*fh).ok());
  return out;
}

TEST_F(FilesystemTest, MknodMakesSpecialFilesWithTheirTypeModeOwnerAndRdev) {
  const Caller ann{1000, 100};
  auto p = fs_->MakeSpecial(1, "p", FileKind::kFifo, 0640, 0, ann);
  auto s = fs_->MakeSpecial(1, "s", FileKind::kSocket, 0755, 0, ann);
  auto c = fs_->MakeSpecial(1, "c", FileKind::kCharDevice, 0666, makedev(1, 3), Caller{});
  auto b = fs_->MakeSpecial(1, "b", FileKind::kBlockDevice, 0660, makedev(8, 1), Caller{});
  for (const auto* e : {&p, &s, &c, &b}) ASSERT_TRUE(e->ok()) << e->status().ToString();
  EXPECT_EQ(p->attr.kind, FileKind::kFifo);
  EXPECT_EQ(p->attr.mode, 0640u);
  EXPECT_EQ(p->attr.uid, 1000u);
  EXPECT_EQ(p->attr.gid, 100u);
  EXPECT_EQ(p->attr.size, 0u);
  EXPECT_EQ(s->attr.kind, FileKind::kSocket);
  EXPECT_EQ(c->attr.rdev, makedev(1, 3));
  EXPECT_EQ(b->attr.rdev, makedev(8, 1));
  EXPECT_EQ(fs_->LookupCount(p->node), 1u);
  // A fifo's rdev is meaningless: dropped, as the kernel passes 0 anyway.
  auto p2 = fs_->MakeSpecial(1, "p2", FileKind::kFifo, 0600, 77, Caller{});
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->attr.rdev, 0u);
  EXPECT_EQ(fs_->MakeSpecial(1, "r", FileKind::kRegular, 0600, 0, Caller{}).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(fs_->MakeSpecial(1, "p", FileKind::kFifo, 0600, 0, Caller{}).status().code(),
            Code::kExists);
  EXPECT_EQ(Listing(*fs_, 1), (std::map<std::string, FileKind>{{"b", FileKind::kBlockDevice},
                                                               {"c", FileKind::kCharDevice},
                                                               {"p", FileKind::kFifo},
                                                               {"p2", FileKind::kFifo},
                                                               {"s", FileKind::kSocket}}));
  auto looked = fs_->Lookup(1, "c");
  ASSERT_TRUE(looked.ok());
  EXPECT_EQ(looked->node, c->node);
  EXPECT_EQ(looked->attr.rdev, makedev(1, 3));
  // The kernel opens them itself; nothing here serves content for one.
  EXPECT_EQ(fs_->Open(p->node, O_RDONLY).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(fs_->GetXattr(p->node, "user.katamari.sha256").status().code(), Code::kNotFound);
  EXPECT_EQ(bucket_->ListVersions(InodeId(p->node))->size(), 0u);
}

TEST_F(FilesystemTest, SpecialFilesChmodChownTouchLinkRenameAndUnlink) {
  auto d = fs_->MakeDir(1, "d", 0755, Caller{});
  ASSERT_TRUE(d.ok());
  auto c = fs_->MakeSpecial(d->node, "null", FileKind::kCharDevice, 0666, makedev(1, 3), Caller{});
  ASSERT_TRUE(c.ok());
  AttrUpdate u;
  u.mode = 0600;
  u.uid = 5;
  u.gid = 6;
  u.mtime_ns = 1000000000;
  u.atime_ns = 2000000000;
  auto changed = fs_->SetAttr(c->node, u, std::nullopt);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(changed->mode, 0600u);
  EXPECT_EQ(changed->uid, 5u);
  EXPECT_EQ(changed->gid, 6u);
  EXPECT_EQ(changed->mtime_ns, 1000000000);
  EXPECT_EQ(changed->atime_ns, 2000000000);
  EXPECT_EQ(changed->kind, FileKind::kCharDevice);
  EXPECT_EQ(changed->rdev, makedev(1, 3));
  auto hard = fs_->Link(c->node, 1, "null2");
  ASSERT_TRUE(hard.ok()) << hard.status().ToString();
  EXPECT_EQ(hard->node, c->node);
  EXPECT_EQ(hard->attr.nlink, 2u);
  ASSERT_TRUE(fs_->Rename(d->node, "null", 1, "moved", 0).ok());
  EXPECT_TRUE(Listing(*fs_, d->node).empty());
  ASSERT_TRUE(fs_->Unlink(1, "null2").ok());
  EXPECT_EQ(fs_->GetAttr(c->node)->nlink, 1u);
  // Rename over a regular file replaces it (no merge: not two regular files).
  uint64_t fh;
  Entry f = MustCreate("file", &fh);
  MustWrite(fh, 0, "content");
  Close(fh);
  ASSERT_TRUE(fs_->Rename(1, "moved", 1, "file", 0).ok());
  auto now = fs_->Lookup(1, "file");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->attr.kind, FileKind::kCharDevice);
  EXPECT_EQ(now->node, c->node);
  EXPECT_NE(now->node, f.node);
  ASSERT_TRUE(fs_->Unlink(1, "file").ok());
  EXPECT_EQ(fs_->Lookup(1, "file").status().code(), Code::kNotFound);
}

TEST_F(FilesystemTest, TimeViewsShowSpecialFilesAndSymlinkSizes) {
  auto p = fs_->MakeSpecial(1, "p", FileKind::kFifo, 0620, 0, Caller{});
  auto b = fs_->MakeSpecial(1, "b", FileKind::kBlockDevice, 0640, makedev(8, 1), Caller{});
  auto l = fs_->MakeSymlink(1, "l", "some/target", Caller{});
  ASSERT_TRUE(p.ok() && b.ok() && l.ok());
  EXPECT_EQ(l->attr.size, 11u);  // lstat's st_size: the target's length
  EXPECT_EQ(fs_->GetAttr(l->node)->size, 11u);
  std::string t = FormatUtcTime(bucket_->GetAttr(kRootInode)->mtime_ns);  // after the last create
  ASSERT_TRUE(fs_->Unlink(1, "p").ok());
  ASSERT_TRUE(fs_->Unlink(1, "b").ok());
  ASSERT_TRUE(fs_->Unlink(1, "l").ok());
  auto view = fs_->Lookup(1, "@" + t);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(Listing(*fs_, view->node),
            (std::map<std::string, FileKind>{
                {"b", FileKind::kBlockDevice}, {"l", FileKind::kSymlink}, {"p", FileKind::kFifo}}));
  auto vp = fs_->Lookup(view->node, "p");
  ASSERT_TRUE(vp.ok()) << vp.status().ToString();
  EXPECT_TRUE(IsVirtualNode(vp->node));
  EXPECT_EQ(vp->attr.kind, FileKind::kFifo);
  EXPECT_EQ(vp->attr.mode, 0620u);
  auto vb = fs_->Lookup(view->node, "b");
  ASSERT_TRUE(vb.ok());
  EXPECT_EQ(vb->attr.kind, FileKind::kBlockDevice);
  EXPECT_EQ(vb->attr.rdev, makedev(8, 1));
  EXPECT_EQ(fs_->GetAttr(vb->node)->rdev, makedev(8, 1));
  auto vl = fs_->Lookup(view->node, "l");
  ASSERT_TRUE(vl.ok());
  EXPECT_EQ(vl->attr.size, 11u);
  EXPECT_EQ(*fs_->ReadLink(vl->node), "some/target");
  // Read-only like everything in a view; opening is the kernel's business.
  EXPECT_EQ(fs_->Open(vp->node, O_RDONLY).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(fs_->Unlink(view->node, "p").code(), Code::kReadOnly);
  AttrUpdate u;
  u.mode = 0777;
  EXPECT_EQ(fs_->SetAttr(vp->node, u, std::nullopt).status().code(), Code::kReadOnly);
  // NAME@TIME names the special file too.
  auto named = fs_->Lookup(1, "b@" + t);
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->attr.kind, FileKind::kBlockDevice);
  EXPECT_EQ(named->attr.rdev, makedev(8, 1));
  for (const auto& e : {vp, vb, vl, named}) fs_->Forget(e->node, 1);
  fs_->Forget(view->node, 1);
}

}  // namespace
}  // namespace katamari::fs

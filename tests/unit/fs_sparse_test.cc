// Sparse files through Filesystem (no FUSE): EFBIG past kMaxFileSize, holes
// of a truncation, of the base version and of punched staging reach the
// commit as holes (unread: a TiB would take minutes), st_blocks, lseek.
#include <fcntl.h>
#include <linux/falloc.h>

#include "tests/unit/fs_test_fixture.h"

namespace katamari::fs {
namespace {

constexpr uint64_t kTiB = uint64_t{1} << 40;

uint64_t Held(Bucket& b, uint64_t ino) {
  auto a = b.GetAttr(InodeId(ino));
  EXPECT_TRUE(a.ok());
  auto h = b.HeldBytes(InodeId(ino), a->current_version);
  EXPECT_TRUE(h.ok());
  return h.ok() ? *h : ~0ull;
}

TEST_F(FilesystemTest, PastTheLargestSizeIsTooBig) {
  uint64_t fh;
  Entry e = MustCreate("big", &fh);
  AttrUpdate up;
  up.size = 999999999999999ull;
  EXPECT_EQ(fs_->SetAttr(e.node, up, fh).status().code(), Status::Code::kTooBig);
  EXPECT_EQ(fs_->Write(fh, kMaxFileSize, "x").status().code(), Status::Code::kTooBig);
  auto w = fs_->Write(fh, kMaxFileSize - 2, "xyz");  // what fits is written
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, 2u);
  EXPECT_EQ(fs_->Fallocate(fh, 0, kMaxFileSize, 4096).code(), Status::Code::kTooBig);
  Close(fh);
}

TEST_F(FilesystemTest, HolesReachTheCommitUnread) {
  uint64_t fh;
  Entry e = MustCreate("s", &fh);
  MustWrite(fh, 0, "head");
  AttrUpdate up;
  up.size = 2 * kTiB;  // would take minutes if the zeros were read or hashed
  ASSERT_TRUE(fs_->SetAttr(e.node, up, fh).ok());
  Close(fh);
  EXPECT_EQ(Held(*bucket_, e.node), 4u);
  auto a = fs_->GetAttr(e.node);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, 2 * kTiB);
  EXPECT_EQ(a->held_bytes.value_or(0), 4u);

  // A write at the end of the base's hole; a punched range of new data.
  auto o = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  MustWrite(o->fh, kTiB, std::string(64 << 10, 'd'));
  ASSERT_TRUE(fs_->Fallocate(o->fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kTiB + 8192,
                             16384).ok());
  auto seek = fs_->Lseek(o->fh, 8, /*want_data=*/true);
  ASSERT_TRUE(seek.ok());
  EXPECT_EQ(*seek, kTiB);
  seek = fs_->Lseek(o->fh, kTiB, /*want_data=*/false);
  ASSERT_TRUE(seek.ok());
  EXPECT_EQ(*seek, kTiB + 8192);
  auto open_attr = fs_->GetAttr(e.node);
  ASSERT_TRUE(open_attr.ok());
  EXPECT_EQ(open_attr->held_bytes.value_or(0), 4u + (64 << 10) - 16384);
  Close(o->fh);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Held(*bucket_, e.node), 4u + (64 << 10) - 16384);
  auto r = bucket_->OpenVersion(InodeId(e.node), VersionNo(2));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->info().sha256_pending);
  std::string buf(4, 'x');
  size_t got = 0;
  ASSERT_TRUE((*r)->ReadAt(0, 4, buf.data(), &got).ok());
  EXPECT_EQ(buf, "head");
  ASSERT_TRUE((*r)->ReadAt(kTiB + 8190, 4, buf.data(), &got).ok());
  EXPECT_EQ(buf, std::string("dd\0\0", 4));
}

}  // namespace
}  // namespace katamari::fs

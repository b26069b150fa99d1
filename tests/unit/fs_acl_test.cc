// fs/: POSIX ACLs (fs/posix_acl.h) and ctime, on the Filesystem object
// without a mount (tests/mount/t_acl.sh and t_ctime.sh compare with ext4).
#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>

#include "fs/access.h"
#include "fs/filesystem.h"
#include "fs/posix_acl.h"
#include "store/bucket.h"
#include "tests/unit/fs_test_fixture.h"

namespace katamari::fs {
namespace {

constexpr uint32_t kNobody = 65534;

acl::Acl NamedUser(uint16_t user, uint16_t named, uint16_t group, uint16_t mask, uint16_t other) {
  return {{acl::kUserObj, user, 0},
          {acl::kUser, named, kNobody},
          {acl::kGroupObj, group, 0},
          {acl::kMask, mask, 0},
          {acl::kOther, other, 0}};
}

bool SameAcl(const acl::Acl& a, const acl::Acl& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].tag != b[i].tag || a[i].perm != b[i].perm || a[i].id != b[i].id) return false;
  }
  return true;
}

TEST(PosixAclTest, ParsesWhatItEncodesAndRefusesInvalid) {
  acl::Acl a = NamedUser(6, 4, 4, 4, 0);
  auto back = acl::Parse(acl::Encode(a));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(SameAcl(*back, a));
  EXPECT_EQ(acl::ModeBits(a), 0640u);
  EXPECT_FALSE(acl::IsMinimal(a));

  std::string bad_version = acl::Encode(a);
  bad_version[0] = 3;
  EXPECT_EQ(acl::Parse(bad_version).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(acl::Parse("abc").status().code(), Status::Code::kInvalidArgument);
  acl::Acl no_mask = {{acl::kUserObj, 6, 0}, {acl::kUser, 4, kNobody}, {acl::kGroupObj, 4, 0},
                      {acl::kOther, 0, 0}};
  EXPECT_EQ(acl::Parse(acl::Encode(no_mask)).status().code(), Status::Code::kInvalidArgument);
  acl::Acl unsorted = {{acl::kGroupObj, 4, 0}, {acl::kUserObj, 6, 0}, {acl::kOther, 0, 0}};
  EXPECT_EQ(acl::Parse(acl::Encode(unsorted)).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(acl::Parse(acl::Encode({}))->empty());
}

TEST(PosixAclTest, ChmodSetsMaskAndInheritNarrowsByMode) {
  acl::Acl a = NamedUser(6, 6, 4, 6, 4);
  acl::Chmod(&a, 0604);
  EXPECT_TRUE(SameAcl(a, NamedUser(6, 6, 4, 0, 4)));  // the mask, not group::

  // posix_acl_create: the default ACL narrowed by the mode asked for; the
  // umask plays no part.
  acl::Acl dflt = NamedUser(7, 7, 5, 7, 5);
  acl::Inherited file = acl::Inherit(dflt, 0666, 077, false);
  EXPECT_EQ(file.mode, 0664u);
  ASSERT_TRUE(file.access.has_value());
  EXPECT_TRUE(SameAcl(*file.access, NamedUser(6, 7, 5, 6, 4)));
  EXPECT_FALSE(file.dflt.has_value());
  acl::Inherited dir = acl::Inherit(dflt, 0777, 077, true);
  EXPECT_EQ(dir.mode, 0775u);
  ASSERT_TRUE(dir.dflt.has_value());
  EXPECT_TRUE(SameAcl(*dir.dflt, dflt));
  // no default ACL: the umask
  acl::Inherited plain = acl::Inherit({}, 0666, 022, false);
  EXPECT_EQ(plain.mode, 0644u);
  EXPECT_FALSE(plain.access.has_value());
}

TEST(PosixAclTest, AccessChecksFollowTheKernelsRules) {
  const std::string a = acl::Encode(NamedUser(6, 4, 0, 4, 0));  // 0640-ish, nobody r
  Caller nobody{kNobody, kNobody};
  Caller other{1000, 1000};
  Caller owner{1, 1};
  EXPECT_TRUE(MayAccess(nobody, 1, 1, 0640, a, kMayRead));
  EXPECT_FALSE(MayAccess(nobody, 1, 1, 0640, a, kMayWrite));
  EXPECT_FALSE(MayAccess(other, 1, 1, 0640, a, kMayRead));
  EXPECT_TRUE(MayAccess(owner, 1, 1, 0640, a, kMayRead | kMayWrite));
  EXPECT_FALSE(MayAccess(nobody, 1, 1, 0600, a, kMayRead));  // mask narrowed by the mode
  const std::string masked = acl::Encode(NamedUser(6, 6, 4, 0, 0));
  EXPECT_FALSE(MayAccess(nobody, 1, 1, 0600, masked, kMayRead));
  // the kernel's shortcut: no group bits, no ACL check (others' bits apply)
  EXPECT_TRUE(MayAccess(nobody, 1, 1, 0604, masked, kMayRead));
  EXPECT_FALSE(MayAccess(nobody, 1, 1, 0614, masked, kMayRead));
  EXPECT_TRUE(MayAccess(nobody, 1, 1, 0604, "", kMayRead));  // no ACL: the mode
  EXPECT_FALSE(MayAccess(nobody, 1, 1, 0604, "junk", kMayWrite));
}

TEST_F(FilesystemTest, AccessAclSetsModeFollowsChmodAndIsInTheCurrentVersion) {
  uint64_t fh = 0;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "data");
  Close(fh);
  ASSERT_EQ(VersionCount(e.node), 1u);
  ASSERT_TRUE(fs_->SetXattr(e.node, acl::kAccess, acl::Encode(NamedUser(6, 4, 4, 4, 0)), 0).ok());
  EXPECT_EQ(fs_->GetAttr(e.node)->mode & 0777, 0640u);
  auto stored = fs_->GetXattr(e.node, acl::kAccess);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(SameAcl(*acl::Parse(*stored), NamedUser(6, 4, 4, 4, 0)));
  auto v1 = bucket_->GetVersion(InodeId(e.node), VersionNo(1));
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->xattrs.count(std::string(acl::kAccess)), 1u);  // restamped with the mode
  EXPECT_EQ(v1->mode & 0777, 0640u);

  AttrUpdate chmod;
  chmod.mode = 0604;
  ASSERT_TRUE(fs_->SetAttr(e.node, chmod, std::nullopt).ok());
  EXPECT_TRUE(SameAcl(*acl::Parse(*fs_->GetXattr(e.node, acl::kAccess)),
                      NamedUser(6, 4, 4, 0, 4)));

  // an ACL that says no more than a mode is not kept; the mode is set
  acl::Acl minimal = {{acl::kUserObj, 7, 0}, {acl::kGroupObj, 5, 0}, {acl::kOther, 1, 0}};
  ASSERT_TRUE(fs_->SetXattr(e.node, acl::kAccess, acl::Encode(minimal), 0).ok());
  EXPECT_EQ(fs_->GetAttr(e.node)->mode & 0777, 0751u);
  EXPECT_TRUE(fs_->GetXattr(e.node, acl::kAccess).status().IsNotFound());
  EXPECT_TRUE(bucket_->GetVersion(InodeId(e.node), VersionNo(1))->xattrs.empty());

  EXPECT_EQ(fs_->SetXattr(e.node, acl::kAccess, "junk", 0).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(fs_->SetXattr(e.node, acl::kDefault, acl::Encode(minimal), 0).code(),
            Status::Code::kAccessDenied);  // only directories (EACCES, as ext4)
  EXPECT_TRUE(fs_->RemoveXattr(e.node, acl::kDefault).ok());
}

TEST_F(FilesystemTest, DefaultAclIsInheritedInsteadOfTheUmask) {
  auto d = fs_->MakeDir(1, "d", 0755, Caller{});
  ASSERT_TRUE(d.ok());
  acl::Acl dflt = NamedUser(7, 7, 5, 7, 5);
  ASSERT_TRUE(fs_->SetXattr(d->node, acl::kDefault, acl::Encode(dflt), 0).ok());
  Caller who;
  who.umask = 077;
  auto f = fs_->MakeFile(d->node, "f", 0666, who);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->attr.mode & 0777, 0664u);
  EXPECT_TRUE(SameAcl(*acl::Parse(*fs_->GetXattr(f->node, acl::kAccess)),
                      NamedUser(6, 7, 5, 6, 4)));
  EXPECT_TRUE(fs_->GetXattr(f->node, acl::kDefault).status().IsNotFound());
  auto sub = fs_->MakeDir(d->node, "sub", 0777, who);
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->attr.mode & 0777, 0775u);
  EXPECT_TRUE(SameAcl(*acl::Parse(*fs_->GetXattr(sub->node, acl::kDefault)), dflt));
  auto plain = fs_->MakeFile(1, "plain", 0666, who);  // no default ACL: the umask
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->attr.mode & 0777, 0600u);
}

TEST_F(FilesystemTest, CtimeMovesAtTheChangeAndNotAtClose) {
  uint64_t fh = 0;
  Entry e = MustCreate("f", &fh);
  Close(fh);
  int64_t created = fs_->GetAttr(e.node)->ctime_ns;
  auto o = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  MustWrite(o->fh, 0, "x");
  int64_t written = fs_->GetAttr(e.node)->ctime_ns;
  EXPECT_GT(written, created);
  EXPECT_EQ(fs_->GetAttr(e.node)->mtime_ns, written);
  Close(o->fh);
  EXPECT_EQ(fs_->GetAttr(e.node)->ctime_ns, written);
  EXPECT_EQ(bucket_->GetAttr(InodeId(e.node))->ctime_ns, written);

  // a truncate to the size the file has: times move, no version
  AttrUpdate same;
  same.size = 1;
  auto after = fs_->SetAttr(e.node, same, std::nullopt);
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->ctime_ns, written);
  EXPECT_GT(after->mtime_ns, written);
  EXPECT_EQ(VersionCount(e.node), 2u);
}

}  // namespace
}  // namespace katamari::fs

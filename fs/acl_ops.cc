// Filesystem: POSIX ACLs (fs/posix_acl.h). The kernel enforces them
// (FUSE_CAP_POSIX_ACL); here the access ACL and the mode are kept in step,
// and new entries get their directory's default ACL. Each change is one
// store transaction (Bucket::AttrChange::xattrs), so a crash never leaves a
// mode that says more than the ACL beside it.
#include <sys/stat.h>

#include "fs/filesystem.h"
#include "fs/filesystem_internal.h"
#include "fs/posix_acl.h"
#include "fs/version_paths.h"

namespace katamari::fs {

Result<uint32_t> Filesystem::InheritAcls(InodeId dir, FileKind kind, uint32_t mode,
                                         uint32_t umask, Xattrs* acls) {
  ASSIGN_OR_RETURN(Xattrs parent, bucket_.GetXattrs(dir));
  acl::Acl dflt;
  if (auto it = parent.find(std::string(acl::kDefault)); it != parent.end()) {
    auto parsed = acl::Parse(it->second);
    if (!parsed.ok()) {
      LogLine("directory inode " + std::to_string(dir.value) + " has a damaged default ACL (" +
              parsed.status().ToString() + "): new entries get none");
    } else {
      dflt = std::move(parsed).value();
    }
  }
  acl::Inherited in = acl::Inherit(dflt, mode, umask, kind == FileKind::kDirectory);
  if (in.access) (*acls)[std::string(acl::kAccess)] = acl::Encode(*in.access);
  if (in.dflt) (*acls)[std::string(acl::kDefault)] = acl::Encode(*in.dflt);
  return in.mode;
}

Result<XattrEdits> Filesystem::AclChmodEdits(InodeId ino, uint32_t mode) {
  XattrEdits edits;
  ASSIGN_OR_RETURN(Xattrs all, bucket_.GetXattrs(ino));
  auto it = all.find(std::string(acl::kAccess));
  if (it == all.end()) return edits;
  ASSIGN_OR_RETURN(acl::Acl a, acl::Parse(it->second));
  acl::Chmod(&a, mode);
  edits[std::string(acl::kAccess)] = acl::Encode(a);
  return edits;
}

Status Filesystem::SetAcl(InodeId target, std::string_view name,
                          std::optional<std::string_view> value) {
  ASSIGN_OR_RETURN(Attr attr, bucket_.GetAttr(target));
  if (attr.kind == FileKind::kSymlink) return Status::NotSupported("a symlink has no ACL");
  std::optional<acl::Acl> parsed;
  if (value) {
    ASSIGN_OR_RETURN(parsed, acl::Parse(*value));
    if (parsed->empty()) parsed.reset();
  }
  Bucket::AttrChange change;
  const std::string key(name);
  if (name == acl::kDefault) {
    // As ext4: only a directory has a default ACL; removing one elsewhere
    // is a no-op.
    if (attr.kind != FileKind::kDirectory) {
      if (!parsed) return Status::OK();
      return Status::AccessDenied("only a directory can have a default ACL");
    }
  } else if (parsed) {
    // The access ACL implies the mode; one that says no more than the
    // mode is not kept (ext4's posix_acl_update_mode).
    change.mode = (attr.mode & 07000) | acl::ModeBits(*parsed);
    if (acl::IsMinimal(*parsed)) parsed.reset();
  }
  if (parsed) {
    change.xattrs[key] = acl::Encode(*parsed);
  } else {
    change.xattrs[key] = std::nullopt;
  }
  RETURN_IF_ERROR(bucket_.SetAttr(target, change).status());
  // Versions and views show the current version's ACL and mode.
  versions_->AttrsChanged(target);
  return Status::OK();
}

}  // namespace katamari::fs

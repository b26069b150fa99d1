// Permission checks made by the filesystem itself, for what the kernel's
// default_permissions cannot see: a version is read under its own recorded
// owner and mode (the node's attributes, which the kernel checks) and also
// under its live file's current ones (checked here, at open), and deleting a
// version needs write permission on the file, not only on the directory the
// kernel checks (docs/semantics.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "fs/filesystem.h"
#include "store/status.h"

namespace katamari::fs {

inline constexpr int kMayRead = 4;
inline constexpr int kMayWrite = 2;

// Whether `who` may `want` (kMayRead | kMayWrite) an object of owner `uid`,
// group `gid` and permission bits `mode`, by the kernel's rules: the owner's
// bits if who is the owner, else the group's if who is in the group (its
// primary group or a supplementary one), else the others'; uid 0 may read and
// write anything.
bool MayAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode, int want);
// The same under an access ACL too (the value of system.posix_acl_access;
// empty: none), by the kernel's rules (posix_acl_permission): the owner's
// entry, else a named user's, else the owning and named groups', each but
// the owner's limited by the mask, else others'. An ACL that does not parse
// is not trusted: then the mode alone decides. The ACL never allows more
// than `mode` (its owner, mask and other entries are narrowed by it).
bool MayAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode,
               std::string_view access_acl, int want);

// Permission "<what>: permission denied ..." unless MayAccess.
Status CheckAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode, int want,
                   std::string_view what);

}  // namespace katamari::fs

// POSIX ACLs as the kernel hands them to a FUSE file system: the value of the
// xattrs system.posix_acl_access / system.posix_acl_default in the Linux
// xattr format (<linux/posix_acl_xattr.h>: a little-endian u32 version 2,
// then entries of u16 tag, u16 perm, u32 id). With FUSE_CAP_POSIX_ACL the
// kernel enforces them and caches them; keeping the mode in step with the
// access ACL (setfacl, chmod) and giving new entries the directory's default
// ACL is the file system's job (docs/semantics.md, The live tree). These are
// the rules of the kernel's own file systems (fs/posix_acl.c:
// posix_acl_equiv_mode, __posix_acl_chmod, posix_acl_create_masq).
//
// Pure functions on values; no I/O, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace katamari::fs::acl {

inline constexpr std::string_view kAccess = "system.posix_acl_access";
inline constexpr std::string_view kDefault = "system.posix_acl_default";
inline bool IsAclName(std::string_view name) { return name == kAccess || name == kDefault; }

enum Tag : uint16_t {
  kUserObj = 0x01,
  kUser = 0x02,
  kGroupObj = 0x04,
  kGroup = 0x08,
  kMask = 0x10,
  kOther = 0x20,
};

struct Entry {
  uint16_t tag = 0;
  uint16_t perm = 0;  // rwx in the low 3 bits
  uint32_t id = 0;    // kUser / kGroup only
};
using Acl = std::vector<Entry>;

// InvalidArgument unless `value` is a valid ACL (version 2; entries sorted by
// tag then id; one user::, group:: and other:: entry; a mask:: entry iff
// there are named entries; no duplicate ids; perms within rwx). An empty
// ACL (the header alone) is valid and has no entries.
Result<Acl> Parse(std::string_view value);
std::string Encode(const Acl& acl);

// Whether the ACL says no more than permission bits (user::, group::,
// other:: only); then a file keeps no access ACL (ext4 drops it).
bool IsMinimal(const Acl& acl);
// The rwxrwxrwx bits an access ACL implies: user::, mask:: (else group::),
// other::.
uint32_t ModeBits(const Acl& acl);
// chmod of a file with an access ACL: user::, mask:: (else group::) and
// other:: take the new bits; named entries stay.
void Chmod(Acl* acl, uint32_t mode);

// What a new entry of a directory gets (posix_acl_create): `mode` is the
// mode asked for (without the umask applied); `dir_default` the directory's
// default ACL (empty: none).
struct Inherited {
  uint32_t mode = 0;             // permission bits to create with (07777)
  std::optional<Acl> access;     // the access ACL to store, if not minimal
  std::optional<Acl> dflt;       // a new directory's default ACL
};
Inherited Inherit(const Acl& dir_default, uint32_t mode, uint32_t umask, bool is_dir);

}  // namespace katamari::fs::acl

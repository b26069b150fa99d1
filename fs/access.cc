#include "fs/access.h"

#include "fs/posix_acl.h"

#include <algorithm>
#include <cstdio>
#include <string>

namespace katamari::fs {

namespace {

std::string Octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

}  // namespace

bool MayAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode, int want) {
  if (who.uid == 0) return true;
  uint32_t bits;
  if (who.uid == uid) {
    bits = (mode >> 6) & 7;
  } else if (who.gid == gid ||
             std::find(who.groups.begin(), who.groups.end(), gid) != who.groups.end()) {
    bits = (mode >> 3) & 7;
  } else {
    bits = mode & 7;
  }
  return (bits & static_cast<uint32_t>(want)) == static_cast<uint32_t>(want);
}

namespace {

bool InGroup(const Caller& who, uint32_t gid) {
  return who.gid == gid || std::find(who.groups.begin(), who.groups.end(), gid) != who.groups.end();
}

bool AclAllows(const Caller& who, uint32_t uid, uint32_t gid, const acl::Acl& a, uint32_t want) {
  uint32_t mask = 7;
  for (const acl::Entry& e : a) {
    if (e.tag == acl::kMask) mask = e.perm;
  }
  auto ok = [&](uint32_t perm) { return (perm & want) == want; };
  bool in_some_group = false;
  for (const acl::Entry& e : a) {
    switch (e.tag) {
      case acl::kUserObj:
        if (who.uid == uid) return ok(e.perm);
        break;
      case acl::kUser:
        if (who.uid == e.id) return ok(e.perm & mask);
        break;
      case acl::kGroupObj:
      case acl::kGroup:
        if (InGroup(who, e.tag == acl::kGroupObj ? gid : e.id)) {
          in_some_group = true;
          if (ok(e.perm)) return ok(e.perm & mask);
        }
        break;
      case acl::kOther:
        return !in_some_group && ok(e.perm);
      default:
        break;
    }
  }
  return false;
}

}  // namespace

bool MayAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode,
               std::string_view access_acl, int want) {
  // As the kernel (acl_permission_check): no group bits (an empty mask), no
  // ACL check; the mode decides.
  if (who.uid == 0 || access_acl.empty() || (mode & 070) == 0) {
    return MayAccess(who, uid, gid, mode, want);
  }
  auto a = acl::Parse(access_acl);
  if (!a.ok() || a->empty()) return MayAccess(who, uid, gid, mode, want);
  // Never more than the mode says: a version's recorded mode may have been
  // narrowed since (NarrowHistory) while its ACL was not.
  acl::Acl narrowed = std::move(a).value();
  bool has_mask = false;
  for (const acl::Entry& e : narrowed) has_mask = has_mask || e.tag == acl::kMask;
  for (acl::Entry& e : narrowed) {
    if (e.tag == acl::kUserObj) e.perm &= (mode >> 6) & 7;
    if (e.tag == (has_mask ? acl::kMask : acl::kGroupObj)) e.perm &= (mode >> 3) & 7;
    if (e.tag == acl::kOther) e.perm &= mode & 7;
  }
  return AclAllows(who, uid, gid, narrowed, static_cast<uint32_t>(want));
}

Status CheckAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode, int want,
                   std::string_view what) {
  if (MayAccess(who, uid, gid, mode, want)) return Status::OK();
  return Status::Permission(std::string(what) + ": permission denied for uid " +
                            std::to_string(who.uid) + " (owner " + std::to_string(uid) +
                            ", group " + std::to_string(gid) + ", mode " +
                            Octal(mode) + ")");
}

}  // namespace katamari::fs

#include "fs/access.h"

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

Status CheckAccess(const Caller& who, uint32_t uid, uint32_t gid, uint32_t mode, int want,
                   std::string_view what) {
  if (MayAccess(who, uid, gid, mode, want)) return Status::OK();
  return Status::Permission(std::string(what) + ": permission denied for uid " +
                            std::to_string(who.uid) + " (owner " + std::to_string(uid) +
                            ", group " + std::to_string(gid) + ", mode " +
                            Octal(mode) + ")");
}

}  // namespace katamari::fs

#include "fs/posix_acl.h"

namespace katamari::fs::acl {

namespace {

constexpr uint32_t kVersion = 2;
constexpr size_t kHeader = 4, kEntry = 8;

uint32_t Le32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
uint16_t Le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void Put32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}

Status Invalid(const std::string& why) {
  return Status::InvalidArgument("invalid POSIX ACL: " + why);
}

Status Validate(const Acl& acl) {
  int user_obj = 0, group_obj = 0, other = 0, mask = 0, named = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : acl) {
    if (e.perm & ~7u) return Invalid("permissions beyond rwx");
    if (prev && (e.tag < prev->tag || (e.tag == prev->tag && e.id <= prev->id))) {
      return Invalid("entries out of order or repeated");
    }
    switch (e.tag) {
      case kUserObj: ++user_obj; break;
      case kGroupObj: ++group_obj; break;
      case kOther: ++other; break;
      case kMask: ++mask; break;
      case kUser:
      case kGroup: ++named; break;
      default: return Invalid("unknown entry tag " + std::to_string(e.tag));
    }
    prev = &e;
  }
  if (acl.empty()) return Status::OK();
  if (user_obj != 1 || group_obj != 1 || other != 1) {
    return Invalid("needs exactly one user::, group:: and other:: entry");
  }
  if (named > 0 && mask != 1) return Invalid("named entries need a mask:: entry");
  return Status::OK();
}

Entry* Find(Acl* acl, uint16_t tag) {
  for (Entry& e : *acl) {
    if (e.tag == tag) return &e;
  }
  return nullptr;
}

}  // namespace

Result<Acl> Parse(std::string_view value) {
  if (value.size() < kHeader || (value.size() - kHeader) % kEntry != 0) {
    return Invalid("length " + std::to_string(value.size()) + " is not 4 + 8*n");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(value.data());
  if (Le32(p) != kVersion) return Invalid("version " + std::to_string(Le32(p)) + ", not 2");
  Acl acl;
  for (size_t off = kHeader; off < value.size(); off += kEntry) {
    Entry e{Le16(p + off), Le16(p + off + 2), Le32(p + off + 4)};
    if (e.tag != kUser && e.tag != kGroup) e.id = 0;  // ACL_UNDEFINED_ID
    acl.push_back(e);
  }
  RETURN_IF_ERROR(Validate(acl));
  return acl;
}

std::string Encode(const Acl& acl) {
  std::string out;
  Put32(&out, kVersion);
  for (const Entry& e : acl) {
    Put16(&out, e.tag);
    Put16(&out, e.perm);
    Put32(&out, (e.tag == kUser || e.tag == kGroup) ? e.id : 0xffffffffu);
  }
  return out;
}

bool IsMinimal(const Acl& acl) {
  for (const Entry& e : acl) {
    if (e.tag != kUserObj && e.tag != kGroupObj && e.tag != kOther) return false;
  }
  return true;
}

uint32_t ModeBits(const Acl& acl) {
  uint32_t user = 0, group = 0, other = 0, mask = 0;
  bool has_mask = false;
  for (const Entry& e : acl) {
    switch (e.tag) {
      case kUserObj: user = e.perm; break;
      case kGroupObj: group = e.perm; break;
      case kOther: other = e.perm; break;
      case kMask: mask = e.perm; has_mask = true; break;
      default: break;
    }
  }
  return user << 6 | (has_mask ? mask : group) << 3 | other;
}

void Chmod(Acl* acl, uint32_t mode) {
  Entry* mask = Find(acl, kMask);
  Entry* group = mask ? mask : Find(acl, kGroupObj);
  if (Entry* u = Find(acl, kUserObj)) u->perm = (mode >> 6) & 7;
  if (group) group->perm = (mode >> 3) & 7;
  if (Entry* o = Find(acl, kOther)) o->perm = mode & 7;
}

Inherited Inherit(const Acl& dir_default, uint32_t mode, uint32_t umask, bool is_dir) {
  Inherited out;
  if (dir_default.empty()) {
    out.mode = mode & ~(umask & 0777);
    return out;
  }
  // posix_acl_create_masq: the ACL is narrowed by the mode asked for, and
  // the mode by the ACL; the umask plays no part.
  Acl access = dir_default;
  uint32_t m = mode & 0777;
  Entry* mask = Find(&access, kMask);
  for (Entry& e : access) {
    if (e.tag == kUserObj) {
      e.perm &= (m >> 6) & 7;
      m &= (e.perm << 6) | ~0700u;
    } else if (e.tag == kOther) {
      e.perm &= m & 7;
      m &= e.perm | ~07u;
    }
  }
  Entry* group = mask ? mask : Find(&access, kGroupObj);
  if (group) {
    group->perm &= (m >> 3) & 7;
    m &= (group->perm << 3) | ~070u;
  }
  out.mode = (mode & 07000) | (m & 0777);
  if (!IsMinimal(access)) out.access = std::move(access);
  if (is_dir) out.dflt = dir_default;
  return out;
}

}  // namespace katamari::fs::acl

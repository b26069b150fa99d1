#include "fs/errno_map.h"

#include <cerrno>

namespace katamari::fs {

int StatusToErrno(const Status& status) {
  using Code = Status::Code;
  switch (status.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kExists: return EEXIST;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kNotDir: return ENOTDIR;
    case Code::kIsDir: return EISDIR;
    case Code::kNoSpace: return ENOSPC;
    case Code::kCorruption: return EIO;
    case Code::kIOError: return EIO;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kReadOnly: return EROFS;
    case Code::kBusy: return EBUSY;
    case Code::kPermission: return EPERM;
    case Code::kNotSupported: return EOPNOTSUPP;
    case Code::kWrongKey: return EACCES;
    case Code::kNewerFormat: return EIO;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kAccessDenied: return EACCES;
    case Code::kTooBig: return EFBIG;
    // Only at shutdown (the daemon abandons a busy commit, docs/semantics.md,
    // When a version is made): the caller's close reports the write failed.
    case Code::kCancelled: return EIO;
    case Code::kNoData: return ENXIO;
  }
  return EIO;
}

}  // namespace katamari::fs

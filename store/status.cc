// Status: code names and the one errno -> Status mapping of the store.
#include "store/status.h"

#include <cerrno>
#include <cstring>

namespace katamari {

const char* Status::CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kExists: return "Exists";
    case Code::kNotEmpty: return "NotEmpty";
    case Code::kNotDir: return "NotDir";
    case Code::kIsDir: return "IsDir";
    case Code::kNoSpace: return "NoSpace";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kBusy: return "Busy";
    case Code::kPermission: return "Permission";
    case Code::kNotSupported: return "NotSupported";
    case Code::kWrongKey: return "WrongKey";
    case Code::kNewerFormat: return "NewerFormat";
    case Code::kNameTooLong: return "NameTooLong";
    case Code::kAccessDenied: return "AccessDenied";
    case Code::kTooBig: return "TooBig";
    case Code::kCancelled: return "Cancelled";
    case Code::kNoData: return "NoData";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  if (!msg_.empty()) {
    s += ": ";
    s += msg_;
  }
  return s;
}

namespace {

Status::Code CodeForErrno(int err) {
  using C = Status::Code;
  switch (err) {
    case ENOENT: return C::kNotFound;
    case ENOSPC:
    case EDQUOT: return C::kNoSpace;
    case EACCES:
    case EPERM: return C::kPermission;
    case EROFS: return C::kReadOnly;
    case EEXIST: return C::kExists;
    case ENOTEMPTY: return C::kNotEmpty;
    case ENOTDIR: return C::kNotDir;
    case EISDIR: return C::kIsDir;
    case ENAMETOOLONG: return C::kNameTooLong;
    case EFBIG: return C::kTooBig;
    default: return C::kIOError;
  }
}

}  // namespace

Status Status::FromErrno(int err, const std::string& context) {
  // strerror_r (GNU flavour) is thread-safe, unlike strerror.
  char buf[128];
  const char* text = strerror_r(err, buf, sizeof(buf));
  std::string msg = context;
  msg += ": ";
  msg += text;
  return Status(CodeForErrno(err), std::move(msg));
}

}  // namespace katamari

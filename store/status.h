// Status and Result<T>: how every store call reports success or failure.
//
// No exceptions cross layer boundaries. errno becomes a Status once, at the OS
// edge (Status::FromErrno); a Status becomes an errno once, at the FUSE
// boundary (fs/errno_map). Messages say what failed, on what, and what to do.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace katamari {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kExists,
    kNotEmpty,
    kNotDir,
    kIsDir,
    kNoSpace,
    kCorruption,
    kIOError,
    kInvalidArgument,
    kReadOnly,
    kBusy,
    kPermission,
    kNotSupported,
    kWrongKey,
    kNewerFormat,
    kNameTooLong,
    kAccessDenied,  // EACCES where POSIX wants it rather than EPERM
    kTooBig,     // a size past the largest supported (EFBIG)
    kCancelled,  // work abandoned because the bucket is shutting down
    kNoData,     // no data (or hole) at or after an offset (lseek: ENXIO)
  };

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Exists(std::string m) { return Status(Code::kExists, std::move(m)); }
  static Status NotEmpty(std::string m) { return Status(Code::kNotEmpty, std::move(m)); }
  static Status NotDir(std::string m) { return Status(Code::kNotDir, std::move(m)); }
  static Status IsDir(std::string m) { return Status(Code::kIsDir, std::move(m)); }
  static Status NoSpace(std::string m) { return Status(Code::kNoSpace, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status IOError(std::string m) { return Status(Code::kIOError, std::move(m)); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status ReadOnly(std::string m) { return Status(Code::kReadOnly, std::move(m)); }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }
  static Status Permission(std::string m) { return Status(Code::kPermission, std::move(m)); }
  static Status NotSupported(std::string m) { return Status(Code::kNotSupported, std::move(m)); }
  static Status WrongKey(std::string m) { return Status(Code::kWrongKey, std::move(m)); }
  static Status NewerFormat(std::string m) { return Status(Code::kNewerFormat, std::move(m)); }
  static Status NameTooLong(std::string m) { return Status(Code::kNameTooLong, std::move(m)); }
  static Status AccessDenied(std::string m) {
    return Status(Code::kAccessDenied, std::move(m));
  }
  static Status TooBig(std::string m) { return Status(Code::kTooBig, std::move(m)); }
  static Status Cancelled(std::string m) { return Status(Code::kCancelled, std::move(m)); }
  static Status NoData(std::string m) { return Status(Code::kNoData, std::move(m)); }

  // The single errno -> Status mapping (ENOENT->NotFound, ENOSPC/EDQUOT->NoSpace,
  // EACCES/EPERM->Permission, EROFS->ReadOnly, EEXIST->Exists, ...). `context`
  // names the operation and path, e.g. "write chunks/ab/ab12...tmp".
  static Status FromErrno(int err, const std::string& context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsCancelled() const { return code_ == Code::kCancelled; }

  // "NotFound: no such key 'a/b'" style, for logs and tests.
  std::string ToString() const;
  static const char* CodeName(Code c);

 private:
  Status(Code c, std::string m) : code_(c), msg_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// A value or the Status that explains why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {}     // NOLINT: must not be OK
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace katamari

// Early-return helpers.
#define KATAMARI_CONCAT_INNER(a, b) a##b
#define KATAMARI_CONCAT(a, b) KATAMARI_CONCAT_INNER(a, b)
#define RETURN_IF_ERROR(expr)                   \
  do {                                          \
    ::katamari::Status _st = (expr);            \
    if (!_st.ok()) return _st;                  \
  } while (0)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(KATAMARI_CONCAT(_res_, __LINE__), lhs, expr)

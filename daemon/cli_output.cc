#include "daemon/cli_output.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>
#include <vector>

namespace katamari::cli {
namespace {

constexpr int64_t kNsPerSec = 1000000000;

// "dir/" of "dir/name", "" of "name" (the current directory).
std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

Status Fail(int err, const std::string& what) { return Status::FromErrno(err, what); }

// Follows symlinks at `path` itself (those in its directories the kernel
// follows). The result may not exist: a dangling link's target.
Result<std::string> FollowLinks(std::string path) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlink(path.c_str(), target.data(), target.size());
    if (n < 0) return Fail(errno, "read symlink " + path);
    target.resize(static_cast<size_t>(n));
    path = target.starts_with('/') ? target : DirOf(path) + target;
  }
  return Status::InvalidArgument("-o " + path +
                                 ": too many levels of symbolic links; give the final file");
}

Status CloseFd(int* fd, const std::string& what) {
  int rc = ::close(*fd);
  *fd = -1;
  return rc == 0 ? Status::OK() : Fail(errno, "write " + what);
}

Status SetMtime(int fd, int64_t mtime_ns) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = mtime_ns / kNsPerSec;
  times[0].tv_nsec = times[1].tv_nsec = mtime_ns % kNsPerSec;
  if (times[0].tv_nsec < 0) {  // before 1970: tv_nsec must be in [0, 1e9)
    times[0].tv_nsec = times[1].tv_nsec += kNsPerSec;
    --times[0].tv_sec;
    --times[1].tv_sec;
  }
  return ::futimens(fd, times) == 0 ? Status::OK() : Fail(errno, "set the mtime");
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Open(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Fail(errno, "stat " + path);
    // Nothing there, or a dangling symlink: create the file it names.
    ASSIGN_OR_RETURN(std::string target, FollowLinks(path));
    mode_t mask = ::umask(0);
    ::umask(mask);
    return OpenReplace(target, 0666 & ~mask, nullptr);
  }
  if (S_ISDIR(st.st_mode)) {
    return Status::IsDir(path + " is a directory; give a file name, e.g. -o " + path + "/NAME");
  }
  if (!S_ISREG(st.st_mode)) {
    // A device, fifo or socket: written into. The kernel follows the links
    // (also /dev/stdout's, which name no path).
    std::unique_ptr<OutputFile> out(new OutputFile(Mode::kStream, path));
    out->fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (out->fd_ < 0) return Fail(errno, "open " + path + " for writing");
    return out;
  }
  ASSIGN_OR_RETURN(std::string target, FollowLinks(path));
  if (st.st_nlink > 1) {
    std::unique_ptr<OutputFile> out(new OutputFile(Mode::kInPlace, target));
    if (::access(target.c_str(), W_OK) != 0) return Fail(errno, "open " + target + " for writing");
    RETURN_IF_ERROR(out->CreateTemp(DirOf(target), /*unlinked=*/true));
    return out;
  }
  return OpenReplace(target, st.st_mode & 07777, &st);
}

Result<std::unique_ptr<OutputFile>> OutputFile::OpenReplace(const std::string& target,
                                                            uint32_t mode, const struct stat* old) {
  std::unique_ptr<OutputFile> out(new OutputFile(Mode::kReplace, target));
  out->keep_mode_ = mode;
  if (old) {
    out->keep_owner_ = true;
    out->uid_ = old->st_uid;
    out->gid_ = old->st_gid;
  }
  RETURN_IF_ERROR(out->CreateTemp(DirOf(target), /*unlinked=*/false));
  return out;
}

std::string OutputFile::TempName(const std::string& dir, const std::string& suffix) const {
  return dir + "." + target_.substr(dir.size()) + ".katamari-" + suffix;
}

// Gives the nameless temporary a name beside the target, to rename it over.
Status OutputFile::LinkTemp() {
  std::random_device rd;
  std::string proc = "/proc/self/fd/" + std::to_string(fd_);
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = TempName(DirOf(target_), std::to_string(rd() % 1000000000));
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
      temp_ = name;
      return Status::OK();
    }
    if (errno != EEXIST) return Fail(errno, "link the temporary file for " + target_);
  }
  return Status::Exists("no free temporary name beside " + target_);
}

// A temporary file beside the target (nameless when the file system allows),
// or unlinked scratch (in $TMPDIR if the target's directory takes no files).
Status OutputFile::CreateTemp(const std::string& dir, bool unlinked) {
  std::string shown = dir.empty() ? "." : dir;
  if (unlinked) {
    fd_ = ::open(shown.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      const char* tmp = std::getenv("TMPDIR");
      fd_ = ::open(tmp && *tmp ? tmp : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    }
    if (fd_ < 0) return Fail(errno, "create a scratch file for " + target_);
    return Status::OK();
  }
  // Nameless until Commit links it in, so a get killed while downloading
  // leaves nothing behind; a named temporary where O_TMPFILE is missing.
  fd_ = ::open(shown.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd_ >= 0) return Status::OK();
  temp_ = TempName(dir, "XXXXXX");
  fd_ = ::mkostemp(temp_.data(), O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    temp_.clear();
    return Fail(err, "create a temporary file in " + shown + " for " + target_ +
                         "; check that the directory exists and is writable");
  }
  return Status::OK();
}

OutputFile::~OutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

// Copies the scratch file's bytes into dst from offset 0. copy_file_range
// first; a plain read/write loop where it cannot work (another file system:
// EXDEV; file systems without it: EINVAL, ENOSYS, EOPNOTSUPP).
Status OutputFile::CopyScratchTo(int dst) {
  loff_t in = 0;
  for (;;) {
    ssize_t n = ::copy_file_range(fd_, &in, dst, nullptr, 1 << 30, 0);
    if (n == 0) return Status::OK();
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
      return Fail(errno, "write " + target_);
    }
    break;
  }
  std::vector<char> buf(1 << 20);
  loff_t out = in;  // what copy_file_range wrote before it gave up
  for (;;) {
    ssize_t n = ::pread(fd_, buf.data(), buf.size(), in);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(errno, "read the scratch copy of " + target_);
    if (n == 0) return Status::OK();
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(dst, buf.data() + done, n - done, out);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Fail(errno, "write " + target_);
      done += w;
      out += w;
    }
    in += n;
  }
}

// The scratch copy into the target, in place: every hard link sees it. The
// target is cut to the new size only after every byte is written, so a
// failure before that leaves its old content (possibly overwritten at the
// front, never emptied or cut short).
Status OutputFile::CopyInPlace(int64_t mtime_ns) {
  int dst = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
  if (dst < 0) return Fail(errno, "open " + target_ + " for writing");
  Status st = CopyScratchTo(dst);
  struct stat sst;
  if (st.ok() && ::fstat(fd_, &sst) != 0) st = Fail(errno, "stat the scratch copy");
  if (st.ok() && ::ftruncate(dst, sst.st_size) != 0) st = Fail(errno, "truncate " + target_);
  if (st.ok()) st = SetMtime(dst, mtime_ns);
  if (st.ok() && ::fsync(dst) != 0) st = Fail(errno, "sync " + target_);
  if (::close(dst) != 0 && st.ok()) st = Fail(errno, "write " + target_);
  return st;
}

Status OutputFile::Commit(int64_t mtime_ns) {
  if (mode_ == Mode::kStream) return CloseFd(&fd_, target_);
  if (mode_ == Mode::kInPlace) {
    RETURN_IF_ERROR(CopyInPlace(mtime_ns));
    return CloseFd(&fd_, target_);
  }
  // The temporary becomes the file: its owner and mode first (chown clears
  // set-id bits), then the content is made durable before the rename.
  if (keep_owner_ && ::fchown(fd_, uid_, gid_) != 0 && errno != EPERM) {
    return Fail(errno, "chown the new " + target_);
  }
  if (::fchmod(fd_, keep_mode_) != 0) return Fail(errno, "chmod the new " + target_);
  RETURN_IF_ERROR(SetMtime(fd_, mtime_ns));
  if (::fsync(fd_) != 0) return Fail(errno, "sync " + target_ + "; check free space and retry");
  if (temp_.empty()) RETURN_IF_ERROR(LinkTemp());
  RETURN_IF_ERROR(CloseFd(&fd_, target_));
  if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    return Fail(errno, "rename " + temp_ + " to " + target_);
  }
  temp_.clear();
  std::string dir = DirOf(target_);
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Fail(errno, "open directory of " + target_ + " to sync it");
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  return rc == 0 ? Status::OK() : Fail(err, "sync the directory of " + target_);
}

}  // namespace katamari::cli

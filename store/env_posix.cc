// The POSIX Env: where errno becomes a Status (STYLE 7).
//
// Every call retries EINTR and loops over short reads/writes, so callers see
// either the whole operation done or a Status naming the call and the path.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "store/env.h"

namespace katamari {

namespace {

Status PosixError(const std::string& op, const std::string& path, int err) {
  return Status::FromErrno(err, op + " " + path);
}

// Owns a file descriptor; closes it on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes now and reports close()'s own error (EIO from delayed writeback).
  int Close() {
    if (fd_ < 0) return 0;
    // Linux always releases the fd, even when close() fails with EINTR, so
    // it must never be retried.
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }
  void Reset() { Close(); }

 private:
  int fd_;
};

int OpenRetry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// Writes all of `data`; returns 0 or the errno of the failed write.
int WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Reads up to n bytes at offset, stopping early only at end of file.
int PreadAll(int fd, uint64_t offset, char* buf, size_t n, size_t* got) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      *got = done;
      return errno;
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  *got = done;
  return 0;
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { fd_.Reset(); }

  Status Append(std::string_view data) override {
    if (!fd_.valid()) return Status::IOError("append to closed file " + path_);
    int err = WriteAll(fd_.get(), data.data(), data.size());
    return err ? PosixError("write", path_, err) : Status::OK();
  }
  Status Sync() override {
    if (!fd_.valid()) return Status::IOError("sync of closed file " + path_);
    int rc;
    do {
      rc = ::fdatasync(fd_.get());
    } while (rc != 0 && errno == EINTR);
    return rc ? PosixError("fdatasync", path_, errno) : Status::OK();
  }
  Status Close() override {
    int err = fd_.Close();
    return err ? PosixError("close", path_, err) : Status::OK();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  Status Read(uint64_t offset, size_t n, char* scratch, size_t* got) const override {
    int err = PreadAll(fd_.get(), offset, scratch, n, got);
    return err ? PosixError("read", path_, err) : Status::OK();
  }
  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return PosixError("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  std::string path_;
  Fd fd_;
};

// RAII for DIR*.
struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return PosixError("create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    int fd = OpenRetry(path.c_str(), O_RDONLY);
    if (fd < 0) return PosixError("open", path, errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    Fd fd(OpenRetry(path.c_str(), O_RDONLY));
    if (!fd.valid()) return PosixError("open", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return PosixError("fstat", path, errno);
    std::string data(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    int err = PreadAll(fd.get(), 0, data.data(), data.size(), &got);
    if (err) return PosixError("read", path, err);
    data.resize(got);  // the file may have shrunk since fstat
    return data;
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError("rename", from + " to " + to, errno);
    }
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
    return Status::OK();
  }

  Status CreateDir(const std::string& path, uint32_t mode) override {
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0) return Status::OK();
    int err = errno;
    if (err == EEXIST) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();
      return Status::NotDir("mkdir " + path + ": exists and is not a directory");
    }
    return PosixError("mkdir", path, err);
  }

  Status SyncDir(const std::string& path) override {
    Fd fd(OpenRetry(path.c_str(), O_RDONLY | O_DIRECTORY));
    if (!fd.valid()) return PosixError("open directory", path, errno);
    if (::fsync(fd.get()) != 0) return PosixError("fsync directory", path, errno);
    return Status::OK();
  }

  Status SyncFile(const std::string& path) override {
    Fd fd(OpenRetry(path.c_str(), O_RDONLY));
    if (!fd.valid()) return PosixError("open", path, errno);
    if (::fdatasync(fd.get()) != 0) return PosixError("fdatasync", path, errno);
    return Status::OK();
  }

  Status SyncFilesystem(const std::string& path) override {
    Fd fd(OpenRetry(path.c_str(), O_RDONLY));
    if (!fd.valid()) return PosixError("open", path, errno);
    // syncfs reports writeback errors since Linux 5.8, so a failed flush of
    // any chunk written before this call shows up here.
    if (::syncfs(fd.get()) != 0) return PosixError("syncfs", path, errno);
    return Status::OK();
  }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d) return PosixError("opendir", dir, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d.get());
      if (e == nullptr) {
        if (errno != 0) return PosixError("readdir", dir, errno);
        break;
      }
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    return names;
  }

  bool FileExists(const std::string& path) override {
    return ::access(path.c_str(), F_OK) == 0;
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<int64_t> GetFileModificationTime(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    return static_cast<int64_t>(st.st_mtim.tv_sec);
  }
};

}  // namespace

Env* Env::Default() {
  // Leaked on purpose: usable from static destructors and other threads
  // until the very end of the process.
  static Env* env = new PosixEnv;
  return env;
}

}  // namespace katamari

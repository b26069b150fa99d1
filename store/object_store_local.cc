// The local-directory ObjectStore: one file per object, written to a temp name,
// fsynced, renamed (or linked, for create-only) into place, directory fsynced.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "store/object_store.h"

namespace katamari {
namespace {

constexpr int64_t kStaleTempSeconds = 3600;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status SyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Status::FromErrno(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync directory " + dir);
  return Status::OK();
}

// mkdir -p of root/a/b for key "a/b/c", syncing each parent that got a new entry.
Status MakeParents(const std::string& root, std::string_view key) {
  size_t pos = 0;
  while ((pos = key.find('/', pos)) != std::string_view::npos) {
    std::string dir = root + "/" + std::string(key.substr(0, pos));
    if (::mkdir(dir.c_str(), 0700) == 0) {
      std::string parent = dir.substr(0, dir.rfind('/'));
      RETURN_IF_ERROR(SyncDirectory(parent));
    } else if (errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + dir);
    }
    ++pos;
  }
  return Status::OK();
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

class LocalObjectStore final : public ObjectStore {
 public:
  explicit LocalObjectStore(std::string root) : root_(std::move(root)), tmp_(root_ + "/.tmp") {}

  Status Init() {
    for (const std::string& d : {root_, tmp_}) {
      if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
        return Status::FromErrno(errno, "create object directory " + d);
      }
    }
    SweepStaleTemps();
    return Status::OK();
  }

  Status Put(std::string_view key, std::string_view data, PutMode mode) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    RETURN_IF_ERROR(MakeParents(root_, key));
    std::string tmp = tmp_ + "/put-XXXXXX";
    int raw = ::mkstemp(tmp.data());
    if (raw < 0) return Status::FromErrno(errno, "create temp file in " + tmp_);
    Status st;
    {
      Fd fd(raw);
      st = WriteAll(fd.get(), data, tmp);
      if (st.ok() && ::fdatasync(fd.get()) != 0) st = Status::FromErrno(errno, "fsync " + tmp);
    }
    std::string path = Path(key);
    if (st.ok()) {
      if (mode == PutMode::kCreateOnly) {
        // link(2) fails with EEXIST if the name exists: the create-only test
        // and the write are one atomic step.
        if (::link(tmp.c_str(), path.c_str()) != 0) {
          st = errno == EEXIST ? Status::Exists("object '" + std::string(key) +
                                                "' already exists in " + Describe())
                               : Status::FromErrno(errno, "link " + tmp + " to " + path);
        }
      } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
        st = Status::FromErrno(errno, "rename " + tmp + " to " + path);
      }
    }
    ::unlink(tmp.c_str());  // after rename: ENOENT, harmless
    if (!st.ok()) return st;
    return SyncDirectory(path.substr(0, path.rfind('/')));
  }

  Result<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    std::string path = Path(key);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return NotFoundOr(errno, key, "open " + path);
    struct stat sb;
    if (::fstat(fd.get(), &sb) != 0) return Status::FromErrno(errno, "stat " + path);
    uint64_t size = static_cast<uint64_t>(sb.st_size);
    if (offset >= size) return std::string();
    uint64_t n = std::min(length, size - offset);
    std::string out(n, '\0');
    uint64_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd.get(), out.data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "read " + path);
      }
      if (r == 0) break;  // shrunk under us: cannot happen with rename-only writes
      got += static_cast<uint64_t>(r);
    }
    out.resize(got);
    return out;
  }

  Result<uint64_t> Head(std::string_view key) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    std::string path = Path(key);
    struct stat sb;
    if (::stat(path.c_str(), &sb) != 0) return NotFoundOr(errno, key, "stat " + path);
    if (!S_ISREG(sb.st_mode)) return NotFoundOr(ENOENT, key, path);
    return static_cast<uint64_t>(sb.st_size);
  }

  Status Delete(std::string_view key) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    std::string path = Path(key);
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
      return Status::FromErrno(errno, "delete " + path);
    }
    return SyncDirectory(path.substr(0, path.rfind('/')));
  }

  // The token is the last key of the previous page. Each call walks the whole
  // tree under the prefix's directory: fine for tests and small buckets.
  Result<ObjectListPage> List(std::string_view prefix, std::string_view token,
                              size_t max_keys) override {
    if (max_keys == 0 || max_keys > 1000) {
      return Status::InvalidArgument("list max_keys must be 1..1000, not " +
                                     std::to_string(max_keys));
    }
    std::string dir;  // the deepest whole directory the prefix names
    size_t slash = prefix.rfind('/');
    if (slash != std::string_view::npos) dir = std::string(prefix.substr(0, slash));
    std::vector<ObjectInfo> all;
    RETURN_IF_ERROR(Walk(dir, &all));
    std::sort(all.begin(), all.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    ObjectListPage page;
    for (ObjectInfo& o : all) {
      if (o.key.compare(0, prefix.size(), prefix) != 0) continue;
      if (!token.empty() && o.key <= token) continue;
      if (page.objects.size() == max_keys) {
        page.next_token = page.objects.back().key;
        break;
      }
      page.objects.push_back(std::move(o));
    }
    return page;
  }

  std::string Describe() const override { return "dir " + root_; }

 private:
  std::string Path(std::string_view key) const { return root_ + "/" + std::string(key); }

  Status NotFoundOr(int err, std::string_view key, const std::string& what) const {
    if (err == ENOENT || err == ENOTDIR || err == EISDIR) {
      return Status::NotFound("no object '" + std::string(key) + "' in " + Describe());
    }
    return Status::FromErrno(err, what);
  }

  // Appends every regular file under root/rel (recursively) as a key.
  Status Walk(const std::string& rel, std::vector<ObjectInfo>* out) const {
    std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
      return Status::FromErrno(errno, "list " + dir);
    }
    Status st;
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;  // ., .., .tmp
      std::string key = rel.empty() ? e->d_name : rel + "/" + e->d_name;
      struct stat sb;
      if (::fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // deleted while we list
        st = Status::FromErrno(errno, "stat " + dir + "/" + e->d_name);
        break;
      }
      if (S_ISDIR(sb.st_mode)) {
        st = Walk(key, out);
        if (!st.ok()) break;
      } else if (S_ISREG(sb.st_mode)) {
        out->push_back({key, static_cast<uint64_t>(sb.st_size)});
      }
    }
    ::closedir(d);
    return st;
  }

  void SweepStaleTemps() const {
    DIR* d = ::opendir(tmp_.c_str());
    if (d == nullptr) return;
    int64_t now = static_cast<int64_t>(::time(nullptr));
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      struct stat sb;
      if (::fstatat(dirfd(d), e->d_name, &sb, 0) == 0 && S_ISREG(sb.st_mode) &&
          now - static_cast<int64_t>(sb.st_mtime) > kStaleTempSeconds) {
        ::unlinkat(dirfd(d), e->d_name, 0);
      }
    }
    ::closedir(d);
  }

  const std::string root_;
  const std::string tmp_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> NewLocalObjectStore(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("object directory path is empty");
  auto store = std::make_unique<LocalObjectStore>(root);
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace katamari

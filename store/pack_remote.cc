// PackRemote (pack_remote.h): packs on an object store, and their local cache.
#include "store/pack_remote.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

namespace katamari {

namespace {

std::string HexOf(const std::array<uint8_t, 16>& pack) {
  PackId p;
  p.bytes = pack;
  return p.Hex();
}

// Writes `data` to `path` through a temp file and a rename (no sync: the
// cache may lose anything at a crash). False on any failure.
bool WriteCacheFile(const std::string& path, std::string_view data) {
  const std::string dir = path.substr(0, path.find_last_of('/'));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string tmp = dir + "/.tmp.XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return false;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (done != data.size() || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool ReadWholeFile(const std::string& path, std::string* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

}  // namespace

PackRemote::PackRemote(std::shared_ptr<ObjectStore> store, std::string cache_dir,
                       uint64_t cache_bytes)
    : store_(std::move(store)), cache_dir_(std::move(cache_dir)), cache_bytes_(cache_bytes) {}

std::string PackRemote::KeyOf(const std::array<uint8_t, 16>& pack) {
  const std::string hex = HexOf(pack);
  return "packs/" + hex.substr(0, 2) + "/" + hex;
}

std::string PackRemote::CachedPackPath(const std::array<uint8_t, 16>& pack) const {
  const std::string hex = HexOf(pack);
  return cache_dir_ + "/" + hex.substr(0, 2) + "/" + hex;
}

Status PackRemote::Upload(const std::array<uint8_t, 16>& pack, std::string_view data) {
  const std::string key = KeyOf(pack);
  Status st = store_->Put(key, data, ObjectStore::PutMode::kCreateOnly);
  if (st.code() != Status::Code::kExists) return st;
  // Pack ids are 128 random bits: an object of that name is this pack, put
  // by an earlier attempt whose reply was lost or by a crashed process.
  ASSIGN_OR_RETURN(uint64_t size, store_->Head(key));
  if (size == data.size()) return Status::OK();
  return Status::Corruption(store_->Describe() + " already holds " + key + " of " +
                            std::to_string(size) + " bytes, the local pack has " +
                            std::to_string(data.size()) + "; run `katamari fsck`");
}

// The cache index is built from the directory on first use (another
// process's files count too); entries start in mtime order.
void PackRemote::LoadIndex() {
  if (loaded_) return;
  loaded_ = true;
  std::error_code ec;
  std::vector<std::pair<int64_t, std::pair<std::string, uint64_t>>> found;
  for (auto it = std::filesystem::recursive_directory_iterator(cache_dir_, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string path = it->path().string();
    const std::string name = it->path().filename().string();
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    if (name.rfind(".tmp.", 0) == 0) {
      // A crashed writer's temp, or one being written now: only old ones go.
      if (::time(nullptr) - st.st_mtime > 3600) ::unlink(path.c_str());
      continue;
    }
    found.push_back({static_cast<int64_t>(st.st_mtime), {path, static_cast<uint64_t>(st.st_size)}});
  }
  std::sort(found.begin(), found.end());
  for (auto& [mtime, f] : found) {
    entries_[f.first] = {f.second, ++clock_};
    by_use_.insert({clock_, f.first});
    total_ += f.second;
  }
  EvictLocked();
}

void PackRemote::Note(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  LoadIndex();
  auto it = entries_.find(path);
  if (it != entries_.end()) {
    by_use_.erase({it->second.second, path});
    total_ -= it->second.first;
  }
  entries_[path] = {size, ++clock_};
  by_use_.insert({clock_, path});
  total_ += size;
  EvictLocked();
}

void PackRemote::Touch(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  LoadIndex();
  auto it = entries_.find(path);
  if (it == entries_.end()) return;
  by_use_.erase({it->second.second, path});
  it->second.second = ++clock_;
  by_use_.insert({clock_, path});
}

void PackRemote::EvictLocked() {
  while (total_ > cache_bytes_ && !by_use_.empty()) {
    const std::string path = by_use_.begin()->second;
    by_use_.erase(by_use_.begin());
    total_ -= entries_[path].first;
    entries_.erase(path);
    ::unlink(path.c_str());  // a reader that has it open keeps reading
  }
}

uint64_t PackRemote::cached_bytes() {
  std::lock_guard<std::mutex> l(mu_);
  LoadIndex();
  return total_;
}

void PackRemote::Adopt(const std::array<uint8_t, 16>& pack, const std::string& local) {
  struct stat st;
  if (::stat(local.c_str(), &st) != 0) return;
  const std::string dest = CachedPackPath(pack);
  if (static_cast<uint64_t>(st.st_size) > cache_bytes_) {
    ::unlink(local.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(dest.substr(0, dest.find_last_of('/')), ec);
  if (::rename(local.c_str(), dest.c_str()) != 0) {
    if (errno != ENOENT) ::unlink(local.c_str());  // uploaded: the local copy is only a cache
    return;
  }
  Note(dest, static_cast<uint64_t>(st.st_size));
}

void PackRemote::DropCached(const std::array<uint8_t, 16>& pack) {
  const std::string whole = CachedPackPath(pack);
  const std::string dir = whole.substr(0, whole.find_last_of('/'));
  const std::string hex = HexOf(pack);
  std::vector<std::string> gone;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, hex.size(), hex) == 0) gone.push_back(it->path().string());
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const std::string& path : gone) {
    ::unlink(path.c_str());
    auto e = entries_.find(path);
    if (e == entries_.end()) continue;
    by_use_.erase({e->second.second, path});
    total_ -= e->second.first;
    entries_.erase(e);
  }
}

void PackRemote::DropCacheFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ::unlink(path.c_str());  // a reader that has it open keeps its descriptor
  auto e = entries_.find(path);
  if (e == entries_.end()) return;
  by_use_.erase({e->second.second, path});
  total_ -= e->second.first;
  entries_.erase(e);
}

std::string PackRemote::CachedRecordPath(const ChunkLocation& loc) const {
  return CachedPackPath(loc.pack) + "." + std::to_string(loc.offset);
}

void PackRemote::DropCachedRecord(const ChunkLocation& loc) {
  DropCacheFile(CachedRecordPath(loc));
  DropCacheFile(CachedPackPath(loc.pack));
}

Status PackRemote::ReadRecord(const ChunkLocation& loc, const ChunkId& id, std::string* out,
                              RecordRead* how) {
  *how = RecordRead();
  PackLocation at{loc.offset, loc.length};
  const std::string path = CachedRecordPath(loc);
  const std::string key = KeyOf(loc.pack);
  std::string rec;
  if (ReadWholeFile(path, &rec)) {
    if (CheckRecordBytes(rec, at, id, "cached " + path, out).ok()) {
      Touch(path);
      how->cached = true;
      return Status::OK();
    }
    // Cut short or damaged (a crash, a bad disk): the store has the good
    // copy, fetched again below and checked again before it is cached.
    DropCacheFile(path);
  }
  Result<std::string> got = store_->Get(key, loc.offset, kPackRecordHeaderSize + uint64_t{loc.length});
  if (!got.ok()) {
    if (got.status().IsNotFound()) {
      // Absence is no evidence of damage: a store answers 404 for a while
      // when its URL or prefix is wrong, while it restarts, or before an
      // eventually consistent listing caught up. Judged damaged, the chunk
      // would lose its catalog location for good; as IOError the read fails
      // (EIO) and the next one, once the store answers, finds the data.
      how->missing = true;
      return Status::IOError("chunk " + id.Hex() + ": pack " + HexOf(loc.pack) +
                             " is missing from " + store_->Describe() + " (" + key +
                             " not found); the catalog keeps its location: check that "
                             "the store's URL and prefix are this bucket's, or put the "
                             "object back");
    }
    // Any other store failure (a 403 too) is EIO on the mount, never EPERM;
    // the message still says what to check.
    if (got.status().code() == Status::Code::kIOError) return got.status();
    return Status::IOError(got.status().message());
  }
  Status st = CheckRecordBytes(*got, at, id, store_->Describe() + "/" + key, out);
  if (!st.ok()) {
    if (st.IsCorruption()) how->raw = std::move(*got);
    return st;
  }
  if (WriteCacheFile(path, *got)) Note(path, got->size());
  return Status::OK();
}

Result<std::vector<std::array<uint8_t, 16>>> PackRemote::List() {
  ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, store_->ListAll("packs/"));
  std::vector<std::array<uint8_t, 16>> out;
  for (const ObjectInfo& o : objects) {
    const std::string name = o.key.substr(o.key.find_last_of('/') + 1);
    std::optional<PackId> id = PackId::FromHex(name);
    if (id && KeyOf(id->bytes) == o.key) out.push_back(id->bytes);
  }
  return out;
}

Result<uint64_t> PackRemote::Size(const std::array<uint8_t, 16>& pack) {
  struct stat st;
  if (::stat(CachedPackPath(pack).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  return store_->Head(KeyOf(pack));
}

Status PackRemote::Delete(const std::array<uint8_t, 16>& pack) {
  RETURN_IF_ERROR(store_->Delete(KeyOf(pack)));
  DropCached(pack);
  return Status::OK();
}

}  // namespace katamari

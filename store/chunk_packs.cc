// PackSet (chunk_packs.h): the open pack, its lock, sealing, cached readers.
#include "store/chunk_packs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <set>

namespace katamari {

namespace {

// Open pack files a process keeps for reading (each one fd).
constexpr size_t kMaxCachedReaders = 64;

PackId AsPackId(const std::array<uint8_t, 16>& a) {
  PackId p;
  p.bytes = a;
  return p;
}

// An exclusive flock on `path` through a descriptor of its own: -1 if the
// file cannot be opened or (`wait` false) someone else holds the lock.
int LockFile(const std::string& path, bool wait, bool* busy) {
  if (busy) *busy = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    if (busy) *busy = errno == EWOULDBLOCK;
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

PackSet::PackSet(Env* env, std::string bucket_dir, bool encrypted)
    : env_(env), dir_(std::move(bucket_dir) + "/packs"), encrypted_(encrypted) {}

PackSet::~PackSet() {
  {
    std::lock_guard<std::mutex> l(write_mu_);
    for (Open& o : retired_) (void)Seal(o);
    if (open_.writer) (void)Seal(open_);
  }
  if (!remote_) return;
  // Not uploaded now: still in packs/ on the local disk, and uploaded by the
  // next open of the bucket (UploadStaged).
  Status st = UploadPending();
  if (!st.ok()) {
    std::fprintf(stderr, "katamari: %s\n", st.message().c_str());
  }
}

std::string PackSet::PathOf(const std::array<uint8_t, 16>& pack) const {
  const std::string hex = AsPackId(pack).Hex();
  return dir_ + "/" + hex.substr(0, 2) + "/" + hex;
}

bool PackSet::Exists(const std::array<uint8_t, 16>& pack) const {
  if (env_->FileExists(PathOf(pack))) return true;
  // With a remote, a pack not in packs/ was uploaded before its local copy
  // went (packs never change, and gc deletes only objects that no row points
  // into, judged under the gc lock that writers exclude): the catalog row is
  // trusted, with no request to the store on the write path of every reused
  // chunk.
  return remote_ != nullptr;
}

Result<std::unique_ptr<PackWriter>> PackSet::CreatePack(PackId* id, int* lock_fd) {
  *id = PackId::Random();
  const std::string path = PathOf(id->bytes);
  // A directory made here is durable once its parent is synced: at the
  // next Sync, before the pack's data (whose first Sync syncs packs/ab/).
  for (const std::string& d : {dir_, path.substr(0, path.find_last_of('/'))}) {
    if (env_->FileExists(d)) continue;
    RETURN_IF_ERROR(env_->CreateDir(d, 0700));
    dirs_to_sync_.push_back(d.substr(0, d.find_last_of('/')));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<PackWriter> w,
                   PackWriter::Create(env_, path, *id, encrypted_));
  // Nobody else knows the name yet, so the lock is free. Without it (an Env
  // whose files are not on disk, as in tests) nothing stops another
  // process's gc: such an Env is never shared between processes.
  *lock_fd = LockFile(path, /*wait=*/true, nullptr);
  if (*lock_fd < 0 && errno != ENOENT) {
    // Unlocked, another process's gc could take the pack from under us.
    const int err = errno;
    w.reset();
    (void)env_->RemoveFile(path);
    return Status::FromErrno(err, "lock new pack " + path);
  }
  return w;
}

// Seals (index, sync, close) a pack this process is done with and drops its
// lock. A pack whose append failed cannot be sealed: it is synced instead,
// so that the records before the failure are durable.
Status PackSet::Seal(Open& o, bool queue_upload) {
  Status st;
  if (o.writer) {
    const std::array<uint8_t, 16> id = o.writer->id().bytes;
    st = o.writer->Finish();
    if (!st.ok()) st = o.writer->Sync();
    if (st.ok()) o.writer.reset();
    if (st.ok() && remote_ && queue_upload) pending_upload_.push_back(id);
  }
  if (st.ok() && o.lock_fd >= 0) {
    ::close(o.lock_fd);
    o.lock_fd = -1;
  }
  return st;
}

Result<ChunkLocation> PackSet::Append(const ChunkId& id, std::string_view chunk) {
  std::lock_guard<std::mutex> l(write_mu_);
  if (open_.writer && open_.writer->size() + kPackRecordHeaderSize + chunk.size() >
                          std::max<uint64_t>(target_size_, kPackHeaderSize + 1) &&
      open_.writer->size() > kPackHeaderSize) {
    retired_.push_back(std::move(open_));
    open_ = Open();
  }
  if (!open_.writer) {
    PackId pid;
    ASSIGN_OR_RETURN(open_.writer, CreatePack(&pid, &open_.lock_fd));
  }
  Result<PackLocation> loc = open_.writer->Append(id, chunk);
  if (!loc.ok()) {
    // The next chunk goes to a new pack. This one is synced now (records
    // before the failure may be referenced) and unlocked, so that gc may
    // reclaim what the failed write left (a full disk wants that soon);
    // if even that fails, at the next Sync.
    Open failed = std::move(open_);
    open_ = Open();
    if (!Seal(failed).ok()) retired_.push_back(std::move(failed));
    return loc.status();
  }
  open_.dirty = true;
  open_.last_append = std::chrono::steady_clock::now();
  ChunkLocation out;
  out.pack = open_.writer->id().bytes;
  out.offset = loc->offset;
  out.length = loc->length;
  return out;
}

Status PackSet::Sync() {
  {
    std::lock_guard<std::mutex> l(write_mu_);
    if (!sync_failed_.ok()) return sync_failed_;
    Status st = SyncLocked();
    if (!st.ok()) {
      sync_failed_ = Status::IOError("packs of " + dir_ + " could not be made durable (" +
                                     st.message() +
                                     "); nothing written since is counted durable until the "
                                     "next start checks it");
      return st;
    }
  }
  // Uploads run outside write_mu_: writers go on appending meanwhile.
  return remote_ ? UploadPending() : Status::OK();
}

Status PackSet::UploadOne(const std::array<uint8_t, 16>& pack) {
  const std::string path = PathOf(pack);
  Result<std::string> data = env_->ReadFile(path);
  // Gone: gc deleted it (no row pointed into it), or another process
  // uploaded it and moved it into the cache.
  if (!data.ok() && data.status().IsNotFound()) return Status::OK();
  if (!data.ok()) return data.status();
  RETURN_IF_ERROR(remote_->Upload(pack, *data));
  remote_->Adopt(pack, path);
  return Status::OK();
}

Status PackSet::UploadPending() {
  std::lock_guard<std::mutex> u(upload_mu_);
  std::vector<std::array<uint8_t, 16>> todo;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    todo = pending_upload_;
  }
  for (const auto& pack : todo) {
    Status st = UploadOne(pack);
    if (!st.ok()) {
      const std::string msg = "pack " + AsPackId(pack).Hex() + " could not be uploaded to " +
                              remote_->store()->Describe() + " (" + st.message() +
                              "); it is kept in " + dir_ + " and uploaded at the next sync point or start";
      return Status::IOError(msg);  // EIO, never EPERM; msg says what to check
    }
    std::lock_guard<std::mutex> l(write_mu_);
    pending_upload_.erase(std::find(pending_upload_.begin(), pending_upload_.end(), pack));
  }
  return Status::OK();
}

Result<std::vector<std::array<uint8_t, 16>>> PackSet::ListStaged() {
  std::vector<std::array<uint8_t, 16>> out;
  if (!remote_) return out;
  ASSIGN_OR_RETURN(auto local, ListLocal());
  std::set<std::array<uint8_t, 16>> queued;
  {
    std::lock_guard<std::mutex> l(write_mu_);
    queued.insert(pending_upload_.begin(), pending_upload_.end());
  }
  for (const auto& pack : local) {
    if (!env_->FileExists(PathOf(pack))) continue;  // remote only
    if (queued.count(pack) || IsOwnOpenPack(pack) || IsOpenForWriting(pack)) continue;
    out.push_back(pack);
  }
  return out;
}

Status PackSet::UploadListed(const std::vector<std::array<uint8_t, 16>>& packs) {
  Status first = Status::OK();
  for (const auto& pack : packs) {
    // Under the pack's own lock: no other process uploads or gc's it meanwhile.
    bool busy = false;
    int fd = LockFile(PathOf(pack), /*wait=*/false, &busy);
    if (fd < 0) continue;  // gone (uploaded or deleted meanwhile) or held
    Status st = UploadOne(pack);
    ::close(fd);
    if (!st.ok()) {
      const std::string msg = "pack " + AsPackId(pack).Hex() + " could not be uploaded to " +
                              remote_->store()->Describe() + " (" + st.message() +
                              "); it stays in " + dir_ + " until a later start uploads it";
      // The others are still tried; the first failure is returned.
      if (first.ok()) first = Status::IOError(msg);
      else std::fprintf(stderr, "katamari: %s\n", msg.c_str());
    }
  }
  RETURN_IF_ERROR(first);
  return UploadPending();
}

Status PackSet::UploadStaged() {
  ASSIGN_OR_RETURN(auto packs, ListStaged());
  return UploadListed(packs);
}

bool PackSet::UploadsPending() {
  std::lock_guard<std::mutex> l(write_mu_);
  return !pending_upload_.empty();
}

Result<uint64_t> PackSet::SizeOf(const std::array<uint8_t, 16>& pack) const {
  Result<uint64_t> size = env_->GetFileSize(PathOf(pack));
  if (size.ok() || !remote_) return size;
  return remote_->Size(pack);
}

Status PackSet::SyncLocked() {
  while (!dirs_to_sync_.empty()) {
    RETURN_IF_ERROR(env_->SyncDir(dirs_to_sync_.front()));
    dirs_to_sync_.erase(dirs_to_sync_.begin());
  }
  while (!retired_.empty()) {
    RETURN_IF_ERROR(Seal(retired_.back()));
    retired_.pop_back();
  }
  if (open_.writer && open_.dirty) {
    RETURN_IF_ERROR(open_.writer->Sync());
    open_.dirty = false;
  }
  return Status::OK();
}

Status PackSet::SealAll() {
  {
    std::lock_guard<std::mutex> l(write_mu_);
    if (open_.writer) {
      retired_.push_back(std::move(open_));
      open_ = Open();
    }
  }
  return Sync();
}

std::optional<PackSet::IdlePack> PackSet::IdleOpenPack(
    std::chrono::steady_clock::duration idle) {
  std::lock_guard<std::mutex> l(write_mu_);
  if (!open_.writer || !sync_failed_.ok()) return std::nullopt;
  if (std::chrono::steady_clock::now() - open_.last_append < idle) return std::nullopt;
  return IdlePack{open_.writer->id().bytes, open_.writer->size()};
}

Status PackSet::SealIfIdle(const IdlePack& idle) {
  {
    std::lock_guard<std::mutex> l(write_mu_);
    if (!open_.writer || open_.writer->id().bytes != idle.pack ||
        open_.writer->size() != idle.size) {
      return Status::OK();  // appended to or rolled over meanwhile: still in use
    }
    retired_.push_back(std::move(open_));
    open_ = Open();
  }
  return Sync();
}

Result<std::shared_ptr<const PackReader>> PackSet::Reader(const std::array<uint8_t, 16>& pack,
                                                           bool* missing, bool* cached) const {
  *cached = false;
  {
    std::lock_guard<std::mutex> l(read_mu_);
    auto it = readers_.find(pack);
    if (it != readers_.end()) {
      it->second.last_use = ++reader_clock_;
      *cached = it->second.path != PathOf(pack);
      return it->second.reader;
    }
  }
  std::string path = PathOf(pack);
  Result<std::unique_ptr<PackReader>> r = PackReader::Open(env_, path, AsPackId(pack));
  if (!r.ok() && remote_ && !env_->FileExists(path)) {
    // Uploaded: maybe still here as a whole pack in the cache.
    path = remote_->CachedPackPath(pack);
    *cached = true;
    r = PackReader::Open(Env::Default(), path, AsPackId(pack));
  }
  if (!r.ok()) {
    *missing = !env_->FileExists(path) && !Env::Default()->FileExists(path);
    return r.status();
  }
  if ((*r)->encrypted() != encrypted_) {
    return Status::Corruption("pack " + path + " says " +
                              ((*r)->encrypted() ? "encrypted" : "plain") +
                              ", the bucket is the other kind; run `katamari fsck`");
  }
  std::shared_ptr<const PackReader> reader(std::move(*r));
  std::lock_guard<std::mutex> l(read_mu_);
  if (readers_.size() >= kMaxCachedReaders && !readers_.count(pack)) {
    auto lru = readers_.begin();
    for (auto it = readers_.begin(); it != readers_.end(); ++it) {
      if (it->second.last_use < lru->second.last_use) lru = it;
    }
    readers_.erase(lru);  // readers in use keep their file open until done
  }
  readers_[pack] = CachedReader{reader, path, ++reader_clock_};
  return reader;
}

void PackSet::DropRemovedReaders() {
  std::vector<std::pair<std::array<uint8_t, 16>, std::string>> cached;
  {
    std::lock_guard<std::mutex> l(read_mu_);
    for (const auto& [pack, r] : readers_) cached.emplace_back(pack, r.path);
  }
  for (const auto& [pack, path] : cached) {
    if (env_->FileExists(path) || Env::Default()->FileExists(path)) continue;
    std::lock_guard<std::mutex> l(read_mu_);
    readers_.erase(pack);
  }
}

Status PackSet::Read(const ChunkLocation& loc, const ChunkId& id, std::string* out,
                     RecordRead* how) {
  *how = RecordRead();
  out->clear();
  bool cached = false;
  Result<std::shared_ptr<const PackReader>> r = Reader(loc.pack, &how->missing, &cached);
  if (!r.ok() && how->missing && remote_) {
    // Not on the local disk: a ranged GET of the record (through the cache).
    return remote_->ReadRecord(loc, id, out, how);
  }
  if (cached) {
    Status st = r.ok() ? (*r)->ReadRecord(PackLocation{loc.offset, loc.length}, id, out)
                       : r.status();
    how->cached = st.ok();
    if (st.ok() || !st.IsCorruption()) return st;
    // The whole cached copy fails a check (cut by a crash, a bad disk): the
    // store holds the good one. Dropped, and the record fetched again by
    // one ranged GET and checked again; Corruption only if that fails too,
    // so the chunk layer never quarantines a chunk for a bad cache file.
    return ReadFromStore(loc, id, out, how);
  }
  if (!r.ok()) {
    if (how->missing) {
      // Our own open pack deleted under us (by hand: gc never does): later
      // chunks go to a new pack, not to a file no name reaches.
      std::lock_guard<std::mutex> l(write_mu_);
      if (open_.writer && open_.writer->id().bytes == loc.pack) {
        retired_.push_back(std::move(open_));
        open_ = Open();
      }
    } else if (r.status().IsCorruption()) {
      how->raw = RawRecordAt(loc);  // a damaged pack header
    }
    return r.status();
  }
  Status st = (*r)->ReadRecord(PackLocation{loc.offset, loc.length}, id, out);
  if (st.IsCorruption()) how->raw = RawRecordAt(loc);
  return st;
}

Status PackSet::ReadFromStore(const ChunkLocation& loc, const ChunkId& id, std::string* out,
                              RecordRead* how) {
  out->clear();
  if (!remote_) return Status::InvalidArgument("ReadFromStore on a bucket without a remote");
  DropCachedRecord(loc);
  return remote_->ReadRecord(loc, id, out, how);
}

void PackSet::DropCachedRecord(const ChunkLocation& loc) {
  if (!remote_) return;
  {
    // A cached reader keeps the dropped whole pack readable: it goes too.
    std::lock_guard<std::mutex> l(read_mu_);
    auto it = readers_.find(loc.pack);
    if (it != readers_.end() && it->second.path != PathOf(loc.pack)) readers_.erase(it);
  }
  remote_->DropCachedRecord(loc);
}

std::string PackSet::RawRecordAt(const ChunkLocation& loc) const {
  std::string bytes;
  auto f = env_->NewRandomAccessFile(PathOf(loc.pack));
  if (!f.ok()) return bytes;
  bytes.resize(kPackRecordHeaderSize + loc.length);
  size_t got = 0;
  if (!(*f)->Read(loc.offset, bytes.size(), bytes.data(), &got).ok()) got = 0;
  bytes.resize(got);
  return bytes;
}

Result<std::vector<std::array<uint8_t, 16>>> PackSet::List() const {
  if (!remote_) return ListLocal();
  using Packs = std::vector<std::array<uint8_t, 16>>;
  ASSIGN_OR_RETURN(Packs out, remote_->List());
  ASSIGN_OR_RETURN(Packs local, ListLocal());
  std::set<std::array<uint8_t, 16>> seen(out.begin(), out.end());
  for (const auto& p : local) {
    if (!seen.count(p)) out.push_back(p);
  }
  return out;
}

Result<std::vector<std::array<uint8_t, 16>>> PackSet::ListLocal() const {
  std::vector<std::array<uint8_t, 16>> out;
  auto subs = env_->GetChildren(dir_);
  if (!subs.ok()) {
    if (subs.status().IsNotFound()) return out;
    return subs.status();
  }
  for (const std::string& sub : *subs) {
    if (sub.size() != 2) continue;
    auto names = env_->GetChildren(dir_ + "/" + sub);
    if (!names.ok()) {
      if (names.status().IsNotFound()) continue;
      return names.status();
    }
    for (const std::string& name : *names) {
      std::optional<PackId> id = PackId::FromHex(name);
      if (id && id->Hex() == name && name.compare(0, 2, sub) == 0) out.push_back(id->bytes);
    }
  }
  return out;
}

bool PackSet::IsOwnOpenPack(const std::array<uint8_t, 16>& pack) {
  std::lock_guard<std::mutex> l(write_mu_);
  if (open_.writer && open_.writer->id().bytes == pack) return true;
  for (const Open& o : retired_) {
    if (o.writer && o.writer->id().bytes == pack) return true;
  }
  return false;
}

bool PackSet::IsOpenForWriting(const std::array<uint8_t, 16>& pack) const {
  bool busy = false;
  int fd = LockFile(PathOf(pack), /*wait=*/false, &busy);
  const int err = errno;
  if (fd >= 0) ::close(fd);
  // Not openable for another reason than its absence (EMFILE, EACCES):
  // whether a writer holds it is unknown, so it counts as held.
  return busy || (fd < 0 && err != ENOENT);
}

Result<bool> PackSet::RemoveIfClosed(const std::array<uint8_t, 16>& pack) {
  const std::string path = PathOf(pack);
  bool busy = false;
  int fd = LockFile(path, /*wait=*/false, &busy);
  const int err = errno;
  // Held by a writer, or not openable for another reason than its absence
  // (EMFILE, EACCES: a writer may hold it): left for a later gc.
  if (busy || (fd < 0 && err != ENOENT)) return false;
  if (remote_) {
    // The object first: a local copy left by a failure is deleted by the next gc.
    Status del = remote_->Delete(pack);
    if (!del.ok()) {
      if (fd >= 0) ::close(fd);
      return del;
    }
  }
  Status st = env_->RemoveFile(path);
  if (fd >= 0) ::close(fd);
  if (!st.ok() && !st.IsNotFound()) return st;
  {
    std::lock_guard<std::mutex> l(read_mu_);
    readers_.erase(pack);
  }
  return true;
}

Status PackSet::WriteSealed(const std::vector<ChunkId>& ids,
                            const std::vector<std::string>& chunks,
                            std::array<uint8_t, 16>* pack, std::vector<ChunkLocation>* locs) {
  PackId pid;
  int lock_fd = -1;
  Open o;
  bool made = false;
  // On every failure the new pack is closed and deleted, also once sealed
  // (its upload failed): no row points into it, it holds only copies, and
  // the caller (gc) holds the gc lock exclusively. Left in packs/, the next
  // open or gc would upload it for nothing.
  auto fail = [&](Status st) {
    o.writer.reset();
    if (made) (void)env_->RemoveFile(PathOf(pid.bytes));
    if (o.lock_fd >= 0) ::close(o.lock_fd);
    o.lock_fd = -1;
    return st;
  };
  {
    // CreatePack records directories to sync: the syncer thread reads them.
    std::lock_guard<std::mutex> l(write_mu_);
    Result<std::unique_ptr<PackWriter>> w = CreatePack(&pid, &lock_fd);
    o.lock_fd = lock_fd;
    if (!w.ok()) return fail(w.status());
    o.writer = std::move(*w);
    made = true;
    // The catalog points into this pack right after: its directories'
    // names must be durable first, not at the next sync point.
    while (!dirs_to_sync_.empty()) {
      Status st = env_->SyncDir(dirs_to_sync_.front());
      if (!st.ok()) return fail(st);
      dirs_to_sync_.erase(dirs_to_sync_.begin());
    }
  }
  locs->clear();
  for (size_t i = 0; i < ids.size(); ++i) {
    Result<PackLocation> loc = o.writer->Append(ids[i], chunks[i]);
    if (!loc.ok()) return fail(loc.status());
    locs->push_back(ChunkLocation{pid.bytes, loc->offset, loc->length});
  }
  Status st = o.writer->Sync();  // the name too
  if (st.ok()) st = Seal(o, /*queue_upload=*/false);
  // The catalog points into it right after: on the object store first.
  if (st.ok() && remote_) {
    st = UploadOne(pid.bytes);
    if (!st.ok()) {
      // EIO, never EPERM; an object a lost reply left is the next gc's.
      return fail(Status::IOError("the new pack " + pid.Hex() + " of a repack could not be "
                                  "uploaded to " + remote_->store()->Describe() + " (" +
                                  st.message() + "); its chunks stay in their old packs "
                                  "and a later gc tries again"));
    }
  }
  if (!st.ok()) return fail(st);
  *pack = pid.bytes;
  return Status::OK();
}

}  // namespace katamari

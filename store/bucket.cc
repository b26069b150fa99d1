// Bucket: open/create, locks, and the inode API (mostly thin over Catalog).
#include "store/bucket.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "store/bucket_internal.h"
#include "store/codec.h"
#include "store/crypto.h"
#include "store/data_backend.h"

namespace katamari {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

std::string CatalogPath(const std::string& dir) { return dir + "/catalog.db"; }

Status ValidateSettings(const BucketSettings& s) {
  RETURN_IF_ERROR(ValidateLevel(s.compression, s.level));
  auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  if (s.chunk_min < 64 || s.chunk_min >= s.chunk_avg || s.chunk_avg >= s.chunk_max ||
      s.chunk_max > 16u << 20 || !pow2(s.chunk_avg)) {
    return Status::InvalidArgument(
        "bad chunk sizes (min " + std::to_string(s.chunk_min) + ", avg " +
        std::to_string(s.chunk_avg) + ", max " + std::to_string(s.chunk_max) +
        "): need 64 <= min < avg < max <= 16 MiB with avg a power of two");
  }
  return Status::OK();
}

}  // namespace

Result<GcLock> GcLock::Acquire(const std::string& bucket_dir, Mode mode) {
  std::string path = bucket_dir + "/gc.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  // A reader that may not write the bucket can still lock it (flock needs
  // no write access).
  if (fd < 0 && (errno == EACCES || errno == EROFS)) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return Status::FromErrno(errno, "open lock " + path);
  int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  if (mode == Mode::kTryExclusive) op |= LOCK_NB;
  while (::flock(fd, op) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK) return GcLock(-1);
    return Status::FromErrno(err, "lock " + path);
  }
  return GcLock(fd);
}

GcLock::~GcLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

Status Bucket::Create(const std::string& dir, const BucketSettings& settings, Env* env) {
  if (settings.encrypted) {
    return Status::InvalidArgument("an encrypted bucket needs a key: pass --keyfile FILE or "
                                   "--passphrase-file FILE with --encrypt");
  }
  return CreateBucketDir(dir, settings, env, {});
}

Status CreateBucketDir(const std::string& dir, const BucketSettings& settings, Env* env,
                       std::string_view first_key_slot) {
  if (env == nullptr) env = Env::Default();
  RETURN_IF_ERROR(ValidateSettings(settings));
  if (env->FileExists(CatalogPath(dir))) {
    return Status::Exists("a bucket already exists at " + dir +
                          "; use it as it is, or choose another directory");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FromErrno(ec.value(), "create bucket directory " + dir);
  if (::chmod(dir.c_str(), 0700) != 0) return Status::FromErrno(errno, "chmod 0700 " + dir);
  // Data on an object store: its `format` object first, so that a prefix
  // another bucket uses is refused before anything is made here.
  DataBackend data;
  if (!settings.data_url.empty()) {
    data.url = settings.data_url;
    if (!settings.data_credentials.empty()) {
      data.credentials = std::filesystem::absolute(settings.data_credentials).string();
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> store,
                     OpenDataStore(data.url, data.credentials));
    std::array<uint8_t, 16> raw;
    crypto::RandomBytes(raw.data(), raw.size());
    PackId id;
    id.bytes = raw;
    data.id = id.Hex();
    RETURN_IF_ERROR(InitDataStore(*store, data.id));
  }
  ChunkStore chunks(env, dir, settings.compression, settings.level);
  RETURN_IF_ERROR(chunks.Init());
  RETURN_IF_ERROR(env->CreateDir(dir + "/staging", 0700));
  auto cat = Catalog::Create(CatalogPath(dir), settings, ::getuid(), ::getgid(),
                             first_key_slot);
  if (!cat.ok()) return cat.status();  // Create synced the catalog (and dir)
  if (!data.url.empty()) {
    RETURN_IF_ERROR((*cat)->SetDataBackend(data));
    RETURN_IF_ERROR((*cat)->Sync());
  }
  return env->SyncDir(dir);
}

// A bucket whose data is on an object store: its packs go there
// (chunk_packs.h), and what an earlier process left in packs/ without
// uploading it (a crash, the store away at its close) is uploaded now, if no
// writer is between appending and committing (the gc lock). A store that
// cannot be reached now is no reason to refuse the open: reads of data not
// on the local disk fail (EIO) until it returns, writes go on locally.
static Status UseDataBackend(Bucket::Shared& s, const Bucket::OpenOptions& opts) {
  ASSIGN_OR_RETURN(DataBackend data, s.catalog->GetDataBackend());
  if (data.url.empty()) return Status::OK();
  std::shared_ptr<ObjectStore> store = opts.data_store;
  if (!store) {
    ASSIGN_OR_RETURN(std::unique_ptr<ObjectStore> opened,
                     OpenDataStore(data.url, data.credentials));
    store = std::move(opened);
  }
  Status st = CheckDataStore(*store, data.id);
  if (!st.ok() && st.code() != Status::Code::kIOError) return st;
  if (!st.ok()) {
    std::fprintf(stderr, "katamari: %s: %s; going on with the local data\n", s.dir.c_str(),
                 st.message().c_str());
  }
  s.chunks->packs()->UseRemote(
      std::make_unique<PackRemote>(store, s.dir + "/cache", opts.data_cache_bytes));
  if (s.read_only || !st.ok()) return Status::OK();
  // The gc lock only while listing (no writer is then between creating a
  // pack and locking it); the uploads, maybe GBs, run without it so that
  // commits elsewhere go on.
  std::vector<std::array<uint8_t, 16>> staged;
  {
    auto lock = GcLock::Acquire(s.dir, GcLock::Mode::kTryExclusive);
    if (!lock.ok() || !lock->held()) return Status::OK();
    ASSIGN_OR_RETURN(staged, s.chunks->packs()->ListStaged());
  }
  st = s.chunks->packs()->UploadListed(staged);
  if (!st.ok()) std::fprintf(stderr, "katamari: %s\n", st.message().c_str());
  return Status::OK();
}

Result<std::unique_ptr<Bucket>> Bucket::Open(const std::string& dir, const OpenOptions& opts) {
  Env* env = opts.env ? opts.env : Env::Default();
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      !env->FileExists(CatalogPath(dir))) {
    if (::stat(dir.c_str(), &st) == 0 && errno != ENOENT && !S_ISDIR(st.st_mode)) {
      return Status::NotDir(dir + " is not a directory; give the path of a bucket directory");
    }
    if (::access(dir.c_str(), X_OK) != 0 && errno == EACCES) {
      return Status::Permission("cannot enter bucket directory " + dir +
                                ": permission denied; run as the bucket's owner");
    }
    return Status::NotFound("no bucket at " + dir + ": create one with 'katamari -b " + dir +
                            " init', or check the bucket path");
  }
  auto cat = Catalog::Open(CatalogPath(dir), opts.read_only);
  if (!cat.ok()) return cat.status();
  std::unique_ptr<Bucket> b(new Bucket());
  b->dir_ = dir;
  b->s_ = std::make_unique<Shared>();
  Shared& s = *b->s_;
  s.env = env;
  s.dir = dir;
  s.read_only = opts.read_only;
  s.store_sha256 = opts.read_only && opts.store_sha256;
  s.catalog = std::move(*cat);
  // Unlock before anything is written: a wrong key changes nothing.
  if (s.catalog->settings().encrypted) {
    RETURN_IF_ERROR(UnlockBucket(s, dir, opts.key));
    s.staging_key = MakeStagingKey();
  }
  BucketSettings set = s.catalog->settings();
  if (opts.compression || opts.level) {
    Codec c = opts.compression.value_or(set.compression);
    int level = opts.level.value_or(opts.compression && *opts.compression != set.compression
                                        ? 3
                                        : set.level);
    RETURN_IF_ERROR(ValidateLevel(c, level));
    if (!opts.read_only) RETURN_IF_ERROR(s.catalog->SetCompression(c, level));
    set.compression = c;
    set.level = level;
  }
  s.chunks = std::make_unique<ChunkStore>(env, dir, set.compression, set.level, s.keys);
  // New chunks go to packs; a row's location says where each chunk is
  // (none: a chunk file of an older bucket).
  s.chunks->UsePacks(
      [&s](const ChunkId& id) { return s.catalog->ChunkLocationOf(id); },
      [&s](const ChunkId& id, const ChunkLocation& loc) {
        return ForgetChunkLocation(s, id, loc);
      });
  RETURN_IF_ERROR(UseDataBackend(s, opts));
  s.chunker = std::make_unique<Chunker>(set.chunk_min, set.chunk_avg, set.chunk_max,
                                        s.keys ? &s.keys->chunker_gear : nullptr);
  if (!opts.read_only) RETURN_IF_ERROR(env->CreateDir(dir + "/staging", 0700));
  RETURN_IF_ERROR(SetUpPins(s));
  if (!opts.read_only && opts.sync_interval_ms > 0) {
    // A bucket that never had a durable mark was written only by builds
    // that synced each version's data before its row: mark it as it is,
    // before the first deferred commit (bucket_sync.cc).
    ASSIGN_OR_RETURN(Catalog::DurableMark mark, s.catalog->GetDurableMark());
    if (!mark.recorded) {
      mark.seq = s.catalog->CurrentSeq();
      mark.time_ns = NowNs();
      RETURN_IF_ERROR(s.catalog->SetDurableMark(mark));
      s.marked = mark.seq;
    }
    s.deferred_sync = true;
    StartSyncer(s, opts.sync_interval_ms);
  }
  return b;
}

Bucket::~Bucket() {
  if (!s_) return;
  StopShaCompletion();
  TearDownPins(*s_);
  if (s_->deferred_sync) {
    StopSyncer(*s_);  // with a last sync point
  } else if (!s_->read_only) {
    RaiseMarkAtClose(*s_);
  }
}

const BucketSettings& Bucket::settings() const { return s_->catalog->settings(); }
std::string Bucket::StagingDir() const { return dir_ + "/staging"; }
void Bucket::CancelWork() {
  s_->cancelled = true;
  WakeShaWorker(*s_);
}
bool Bucket::cancelled() const { return s_->cancelled.load(); }

Result<VersionInfo> Bucket::CompleteSha256(VersionInfo v) {
  if (!v.sha256_pending) return v;
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s_->catalog->VersionChunks(v.ino, v.version));
  auto path = s_->catalog->PathOf(v.ino);
  const std::string what = (path.ok() ? *path : "inode " + std::to_string(v.ino.value)) + "@" +
                           std::to_string(v.version.value);
  // Shared gc lock: no chunk of the version is deleted while it is read.
  auto lock = GcLock::Acquire(dir_, GcLock::Mode::kShared);
  ASSIGN_OR_RETURN(Sha256 sha, HashChunks(*s_, chunks, what));
  // Amended meanwhile (same number, new content): not this content's digest.
  ASSIGN_OR_RETURN(VersionInfo again, s_->catalog->GetVersion(v.ino, v.version));
  if (again.seq != v.seq) return CompleteSha256(std::move(again));
  // Not stored (read-only, the catalog busy): the value is still right; the
  // next request computes it again.
  (void)StoreSha256(*s_, v, sha);
  v.sha256 = sha;
  v.sha256_pending = false;
  return v;
}

Result<FsStats> Bucket::StatFs() {
  struct statvfs v;
  if (::statvfs(dir_.c_str(), &v) != 0) return Status::FromErrno(errno, "statvfs " + dir_);
  FsStats f;
  f.block_size = v.f_frsize;
  f.blocks = v.f_blocks;
  f.blocks_free = v.f_bfree;
  f.blocks_avail = v.f_bavail;
  f.files = v.f_files;
  f.files_free = v.f_ffree;
  return f;
}

// ---- inode API: thin over the catalog

Result<Attr> Bucket::GetAttr(InodeId ino) { return s_->catalog->GetAttr(ino); }

Result<Attr> Bucket::Lookup(InodeId parent, std::string_view name, std::optional<Seq> at) {
  ASSIGN_OR_RETURN(InodeId ino, s_->catalog->Lookup(parent, name, at));
  return s_->catalog->GetAttr(ino);
}

Result<Attr> Bucket::LookupAny(InodeId parent, std::string_view name, bool* live) {
  ASSIGN_OR_RETURN(InodeId ino, s_->catalog->LookupAny(parent, name, live));
  return s_->catalog->GetAttr(ino);
}

Result<std::vector<DirEntry>> Bucket::ReadDir(InodeId dir, std::optional<Seq> at) {
  return s_->catalog->ReadDir(dir, at);
}

Result<std::vector<ListedEntry>> Bucket::ReadDirPlus(InodeId dir, std::string_view from,
                                                   size_t limit) {
  ASSIGN_OR_RETURN(std::vector<ListedEntry> entries, s_->catalog->ReadDirPlus(dir, from, limit));
  for (ListedEntry& e : entries) {
    Attr& a = e.attr;
    if (a.kind != FileKind::kRegular) continue;
    a.held_bytes = 0;
    if (a.current_version.value == 0) continue;
    // Remembered per version: a repeated listing reads no chunk list.
    auto held = HeldBytes(a.ino, a.current_version);
    a.held_bytes = held.ok() ? std::optional<uint64_t>(*held) : std::nullopt;
  }
  return entries;
}

Result<Attr> Bucket::MakeNode(InodeId parent, std::string_view name, FileKind kind,
                              uint32_t mode, uint32_t uid, uint32_t gid,
                              std::string_view symlink_target, uint64_t rdev,
                              const Xattrs& xattrs, FirstVersion first) {
  Catalog::NewNode n;
  n.kind = kind;
  n.mode = mode & 07777;
  n.uid = uid;
  n.gid = gid;
  n.symlink_target = std::string(symlink_target);
  n.rdev = rdev;
  n.time_ns = NowNs();
  n.xattrs = xattrs;
  n.empty_first_version = first == FirstVersion::kEmpty;
  return s_->catalog->CreateNode(parent, name, n);
}

Result<Attr> Bucket::Link(InodeId ino, InodeId new_parent, std::string_view new_name) {
  return s_->catalog->Link(ino, new_parent, new_name);
}

Status Bucket::Unlink(InodeId parent, std::string_view name) {
  RETURN_IF_ERROR(s_->catalog->Unlink(parent, name));
  if (!s_->catalog->settings().versioning) TryReclaim(*s_, dir_);
  return Status::OK();
}

Status Bucket::RemoveDir(InodeId parent, std::string_view name) {
  return s_->catalog->RemoveDir(parent, name);
}

Result<std::optional<InodeId>> Bucket::Rename(InodeId parent, std::string_view name,
                                              InodeId new_parent, std::string_view new_name,
                                              unsigned flags) {
  // Editor pattern: the source's content becomes the target's next version
  // (same chunks); the source keeps its own history as a deleted file.
  ASSIGN_OR_RETURN(Catalog::RenameResult r,
                   s_->catalog->Rename(parent, name, new_parent, new_name, flags));
  if (!s_->catalog->settings().versioning) TryReclaim(*s_, dir_);
  return r.merged_into;
}

namespace {

Catalog::AttrChange ToCatalog(const Bucket::AttrChange& change) {
  Catalog::AttrChange c;
  c.mode = change.mode;
  c.uid = change.uid;
  c.gid = change.gid;
  c.atime_ns = change.atime_ns;
  c.mtime_ns = change.mtime_ns;
  c.ctime_ns = change.ctime_ns.value_or(NowNs());
  c.xattrs = change.xattrs;
  return c;
}

}  // namespace

Result<Attr> Bucket::SetAttr(InodeId ino, const AttrChange& change) {
  return s_->catalog->SetAttr(ino, ToCatalog(change));
}

Result<std::string> Bucket::ReadLink(InodeId ino) { return s_->catalog->ReadLink(ino); }
Result<Xattrs> Bucket::GetXattrs(InodeId ino) { return s_->catalog->GetXattrs(ino); }
Status Bucket::SetXattr(InodeId ino, std::string_view name, std::string_view value,
                        int flags) {
  return s_->catalog->SetXattr(ino, name, value, flags);
}
Status Bucket::RemoveXattr(InodeId ino, std::string_view name) {
  return s_->catalog->RemoveXattr(ino, name);
}

Result<std::vector<VersionInfo>> Bucket::ListVersions(InodeId ino) {
  return s_->catalog->ListVersions(ino);
}
Result<VersionInfo> Bucket::GetVersion(InodeId ino, VersionNo vno) {
  return s_->catalog->GetVersion(ino, vno);
}
Result<VersionInfo> Bucket::VersionAt(InodeId ino, Seq at) {
  return s_->catalog->VersionAt(ino, at);
}
Status Bucket::DeleteVersion(InodeId ino, VersionNo vno) {
  RETURN_IF_ERROR(s_->catalog->DeleteVersion(ino, vno));
  TryReclaim(*s_, dir_, /*rewrite_packs=*/true);
  return Status::OK();
}
Status Bucket::PurgeHistory(InodeId ino) {
  RETURN_IF_ERROR(s_->catalog->PurgeHistory(ino));
  TryReclaim(*s_, dir_, /*rewrite_packs=*/true);
  return Status::OK();
}
Seq Bucket::SeqAtTime(int64_t time_ns) { return s_->catalog->SeqAtTime(time_ns); }
Result<std::string> Bucket::PathOf(InodeId ino) { return s_->catalog->PathOf(ino); }

Result<VersionInfo> Bucket::CommitContent(InodeId ino, ByteSource& src,
                                          const CommitOptions& options) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  Result<VersionInfo> r = Status::IOError("not committed");
  {
    ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
    // Holes are not hashed on this path (the mount's close): the SHA-256
    // is left pending (docs/semantics.md, Files, versions and history).
    // Amending (the mount's empty first version): nothing to patch against.
    std::unique_ptr<DeltaBases> bases =
        options.replaces ? nullptr : CurrentDeltaBases(*s_, ino);
    ASSIGN_OR_RETURN(Ingested in,
                     IngestStream(*s_, src, options.progress, /*hash_holes=*/false, bases.get()));
    r = AddIngestedVersion(*s_, ino, std::move(in), options);
  }  // gc lock released: the version row now holds its chunks
  if (r.ok() && !s_->catalog->settings().versioning) TryReclaim(*s_, dir_);
  return r;
}

Result<VersionInfo> AddIngestedVersion(Bucket::Shared& s, InodeId ino, Ingested in,
                                       const Bucket::CommitOptions& options) {
  const std::optional<VersionNo>& caller_pin = options.caller_pin;
  Catalog::NewVersion v;
  v.ino = ino;
  v.size = in.size;
  v.mtime_ns = options.mtime_ns.value_or(NowNs());
  v.sha256 = in.sha256;
  v.sha256_pending = in.sha256_pending;
  // st_blocks of the new version, known here for a whole list (an edit's
  // reused segments would need reading): remembered, so the next getattr or
  // open of the file does not read the list back (Bucket::HeldBytes).
  std::optional<uint64_t> held;
  if (in.pieces.empty()) {
    held = 0;
    for (const ChunkRef& c : in.chunks) *held += c.IsHole() ? 0 : c.raw_len;
  }
  v.chunks = std::move(in.chunks);
  v.pieces = std::move(in.pieces);
  v.pieces_base_ino = in.base_ino;
  v.pieces_base = in.base;
  v.replaces = options.replaces;
  v.ctime_ns = options.ctime_ns;
  if (options.attrs) v.attrs = ToCatalog(*options.attrs);
  // The last look before the row: a shutdown abandons the commit here too.
  RETURN_IF_ERROR(CheckCancelled(s));
  // What readers of this process besides the committing session hold is
  // neither amended nor dropped by this commit (superseded versions go with
  // versioning off and for excluded names): their chunks must stay until
  // they let go. Counted and committed under pin_mu, so no reader pins a
  // version between the count and the row (PinVersion takes it too).
  std::unique_lock<std::mutex> pins(s.pin_mu);
  v.held_here = HeldHereLocked(s, ino, caller_pin);
  // The committing session never reads its base again (it rebases on this
  // version first: fs/write_session.h), so its pin row goes in this
  // transaction if no other reader here holds that version; the reader's
  // unpin then costs no transaction of its own (an append is two, not three).
  std::optional<std::pair<uint64_t, uint64_t>> release;
  if (caller_pin) {
    const std::pair<uint64_t, uint64_t> key{ino.value, caller_pin->value};
    auto it = s.pin_counts.find(key);
    if (it != s.pin_counts.end() && it->second == 1 && !s.pin_rows_released.count(key)) {
      v.release_own_pin = *caller_pin;
      release = key;
    }
  }
  auto r = s.catalog->AddVersion(v);
  if (r.ok() && release) s.pin_rows_released.insert(*release);
  pins.unlock();
  ForgetHeldBytes(s, ino);
  if (r.ok() && held) RememberHeldBytes(s, ino, r->version, *held);
  return r;
}


void Bucket::SetPackTargetSizeForTesting(uint64_t bytes) {
  s_->chunks->packs()->set_target_size(bytes);
}

void TryReclaim(Bucket::Shared& s, const std::string& dir, bool rewrite_packs) {
  if (s.read_only) return;
  UnusedPacks unused;
  {
    auto lock = GcLock::Acquire(dir, GcLock::Mode::kTryExclusive);
    if (!lock.ok() || !lock->held()) return;  // a writer is busy: gc later
    auto garbage = s.catalog->TakeGarbageChunks();
    if (!garbage.ok()) return;
    // Durable deletes before removed files (as Bucket::Gc).
    if (!garbage->empty() && !s.catalog->Sync().ok()) return;
    (void)RemoveGarbage(s, *garbage, nullptr, rewrite_packs, &unused);
  }
  // Without the lock: writers need not wait for the store's DELETEs.
  (void)DeleteUnusedPacks(s, unused, nullptr);
}

Status RemoveGarbage(Bucket::Shared& s, const std::vector<ChunkRef>& garbage, GcReport* rep,
                     bool rewrite_packs, UnusedPacks* unused) {
  std::set<std::array<uint8_t, 16>> packs;
  for (const ChunkRef& c : garbage) {
    if (c.loc) {
      packs.insert(c.loc->pack);
      continue;
    }
    Status st = s.chunks->Remove(c.id);
    if (st.ok() && rep) {
      ++rep->chunks_removed;
      rep->bytes_freed += c.stored_len;
    } else if (!st.ok() && !st.IsNotFound()) {
      return st;
    }
  }
  // A pack no row points into any more is deleted whole, once the caller
  // let go of the gc lock, unless a process still appends to it (its next gc
  // then deletes it).
  for (const auto& p : packs) {
    ASSIGN_OR_RETURN(bool used, s.catalog->PackInUse(p));
    if (used) {
      if (rewrite_packs) RETURN_IF_ERROR(RewriteIfMostlyDead(s, p, unused));
      continue;
    }
    if (s.chunks->packs()->IsOpenForWriting(p)) continue;
    auto size = s.chunks->packs()->SizeOf(p);
    unused->Add(p, size.ok() ? *size : 0, UnusedPacks::Counter::kRemoved);
  }
  if (rep) {
    for (const ChunkRef& c : garbage) {
      if (c.loc) ++rep->chunks_removed;
    }
  }
  return Status::OK();
}

void QuarantineChunk(Bucket::Shared& s, const ChunkId& id) {
  // What the commit path cached may stand on this chunk (a delta's chain):
  // from now on it reads storage again, and no new patch builds on damage.
  s.chunks->DropCache();
  // Exclusive: no writer (of any process) is re-creating this chunk now, and
  // the file is judged again under the lock, so a copy a writer stored after
  // our failed read is never moved away. One reader of this process at a
  // time, so that parallel readers of one version do not lock each other out.
  std::lock_guard<std::mutex> serial(s.quarantine_mu);
  auto lock = GcLock::Acquire(s.dir, GcLock::Mode::kTryExclusive);
  if (lock.ok() && lock->held()) {
    auto moved = s.chunks->MoveAsideIfDamaged(id);
    if (moved.ok()) return;
  }
  std::lock_guard<std::mutex> l(s.suspect_mu);
  s.suspect_chunks.insert(id);
}

bool CanReuseChunk(Bucket::Shared& s, const ChunkId& id) {
  {
    std::lock_guard<std::mutex> l(s.suspect_mu);
    if (s.suspect_chunks.count(id)) return false;
  }
  return s.chunks->Exists(id);
}

// ---- fd/string sources and sinks

Result<size_t> FdSource::Read(char* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd_, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return Status::FromErrno(errno, "read " + what_);
  }
}

Result<Extent> FdSource::Next() {
  struct stat st;
  const off_t cur = ::lseek(fd_, 0, SEEK_CUR);
  // Pipes, terminals, file systems without SEEK_DATA: all data.
  if (cur < 0 || ::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || cur >= st.st_size) {
    return Extent{};
  }
  Extent e;
  const off_t data = ::lseek(fd_, cur, SEEK_DATA);
  if (data < 0 && errno == ENXIO) {
    e = Extent{true, static_cast<uint64_t>(st.st_size - cur)};  // a hole to the end
  } else if (data < 0) {
    e = Extent{};
  } else if (data > cur) {
    e = Extent{true, static_cast<uint64_t>(data - cur)};
  } else {
    const off_t hole = ::lseek(fd_, cur, SEEK_HOLE);
    e = hole > cur ? Extent{false, static_cast<uint64_t>(hole - cur)} : Extent{};
  }
  if (::lseek(fd_, cur, SEEK_SET) != cur) return Status::FromErrno(errno, "seek in " + what_);
  return e;
}

Status FdSource::SkipHole(uint64_t n) {
  if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
    return Status::FromErrno(errno, "seek in " + what_);
  }
  return Status::OK();
}

Status FdSink::Write(std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd_, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what_);
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return Status::OK();
}

Result<size_t> StringSource::Read(char* buf, size_t n) {
  size_t k = std::min(n, s_.size());
  std::copy_n(s_.data(), k, buf);
  s_.remove_prefix(k);
  return k;
}

}  // namespace katamari

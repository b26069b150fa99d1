// Catalog: open/create, settings, the MVCC clock and namespace reads.
// Namespace changes are in catalog_ns.cc, versions/chunks/xattrs in
// catalog_versions.cc, the on-disk format in catalog_format.cc.
#include "store/catalog.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <functional>

#include "store/catalog_impl.h"
#include "store/catalog_testing.h"

namespace katamari {

namespace {

std::function<int64_t()>* g_clock = nullptr;  // catalog_testing::ScopedClock
std::function<void(sql::Db&)>* g_connection_hook = nullptr;  // ScopedConnectionHook

// Deepest directory nesting PathOf / the subtree check will walk; a longer
// chain can only be a cycle in a damaged catalog.
constexpr int kMaxDepth = 4096;

constexpr char kSqlLastCommitTime[] = "SELECT time_ns FROM commits ORDER BY seq DESC LIMIT 1";
constexpr char kSqlInsertCommit[] = "INSERT INTO commits(time_ns) VALUES(?1)";
constexpr char kSqlCurrentSeq[] = "SELECT max(seq) FROM commits";
constexpr char kSqlSeqAtTime[] =
    "SELECT seq FROM commits WHERE time_ns <= ?1 ORDER BY time_ns DESC, seq DESC LIMIT 1";
constexpr char kSqlTimeOfSeq[] = "SELECT time_ns FROM commits WHERE seq = ?1";
constexpr char kSqlLoadInode[] =
    "SELECT kind, size, current_version, next_version FROM inodes WHERE id = ?1";
// One indexed query per GetAttr: nlink is counted from the live dentries
// (dentries_by_ino for names, dentries_live_subdirs for a directory's
// subdirectories). A removed directory has nlink 0, as on a local disk.
constexpr char kSqlLoadAttr[] =
    "SELECT kind, mode, uid, gid, size, atime_ns, mtime_ns, ctime_ns, current_version, "
    "rdev, CASE WHEN kind <> 2 THEN "
    "  (SELECT count(*) FROM dentries d WHERE d.ino = i.id AND d.seq_end IS NULL) "
    "WHEN i.id = 1 OR EXISTS (SELECT 1 FROM dentries d WHERE d.ino = i.id "
    "  AND d.seq_end IS NULL) THEN "
    "  2 + (SELECT count(*) FROM dentries d WHERE d.parent = i.id "
    "  AND d.seq_end IS NULL AND d.kind = 2) "
    "ELSE 0 END "
    "FROM inodes i WHERE i.id = ?1";
constexpr char kSqlLiveNames[] =
    "SELECT count(*) FROM dentries WHERE ino = ?1 AND seq_end IS NULL";
constexpr char kSqlSetMtimeCtime[] =
    "UPDATE inodes SET mtime_ns = coalesce(?2, mtime_ns), ctime_ns = ?3 WHERE id = ?1";
constexpr char kSqlFindLive[] =
    "SELECT id, ino, kind FROM dentries WHERE parent = ?1 AND name = ?2 AND seq_end IS NULL";
constexpr char kSqlLookupAt[] =
    "SELECT ino FROM dentries WHERE parent = ?1 AND name = ?2 AND seq_start <= ?3 "
    "AND (seq_end IS NULL OR seq_end > ?3)";
constexpr char kSqlLookupClosed[] =
    "SELECT ino FROM dentries WHERE parent = ?1 AND name = ?2 AND seq_end IS NOT NULL "
    "ORDER BY seq_end DESC, id DESC LIMIT 1";
constexpr char kSqlCloseDentry[] = "UPDATE dentries SET seq_end = ?2 WHERE id = ?1";
constexpr char kSqlOpenDentry[] =
    "INSERT INTO dentries(parent, name, ino, kind, seq_start) VALUES(?1, ?2, ?3, ?4, ?5)";
// INDEXED BY: without statistics the planner may pick dentries_history and
// walk every name the directory ever had.
constexpr char kSqlReadDirLive[] =
    "SELECT name, ino, kind FROM dentries INDEXED BY dentries_live "
    "WHERE parent = ?1 AND seq_end IS NULL ORDER BY name";
constexpr char kSqlReadDirAt[] =
    "SELECT name, ino, kind FROM dentries WHERE parent = ?1 AND seq_start <= ?2 "
    "AND (seq_end IS NULL OR seq_end > ?2) ORDER BY name";
// Names whose newest dentry is closed, whose inode has no live name anywhere
// (a file moved away is not deleted) and that still have versions.
constexpr char kSqlReadDirDeleted[] =
    "SELECT d.name, d.ino, d.kind FROM dentries d WHERE d.parent = ?1 "
    "AND d.seq_end IS NOT NULL "
    "AND d.id = (SELECT m.id FROM dentries m WHERE m.parent = d.parent AND m.name = d.name "
    "  ORDER BY m.seq_end IS NULL DESC, m.seq_end DESC, m.id DESC LIMIT 1) "
    "AND NOT EXISTS (SELECT 1 FROM dentries o WHERE o.ino = d.ino AND o.seq_end IS NULL) "
    "AND EXISTS (SELECT 1 FROM versions v WHERE v.ino = d.ino) ORDER BY d.name";
// Live name first, else the most recently closed one.
constexpr char kSqlNameOf[] =
    "SELECT parent, name FROM dentries WHERE ino = ?1 "
    "ORDER BY seq_end IS NULL DESC, seq_end DESC, id DESC LIMIT 1";

Status ValidateSettings(const BucketSettings& s) {
  if (s.chunk_min == 0 || s.chunk_min > s.chunk_avg || s.chunk_avg > s.chunk_max) {
    return Status::InvalidArgument(
        "chunk sizes must satisfy 0 < min <= avg <= max (got " + std::to_string(s.chunk_min) +
        ", " + std::to_string(s.chunk_avg) + ", " + std::to_string(s.chunk_max) + ")");
  }
  return Status::OK();
}

Status ConfigureRw(sql::Db& db) {
  // WAL: readers never block the writer; NORMAL: a commit does not fsync,
  // Catalog::Sync() does (the window docs/semantics.md documents).
  RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode = WAL", "switching to WAL mode"));
  RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = NORMAL", "setting synchronous = NORMAL"));
  // After a huge commit the WAL is cut back to 64 MiB at the next checkpoint.
  return db.Exec("PRAGMA journal_size_limit = 67108864", "setting journal_size_limit");
}

// Connection settings (not stored in the file, except journal_mode).
Status Configure(sql::Db& db) {
  RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "enabling foreign keys"));
  // 16 MiB of page cache: a large commit touches tens of thousands of chunk rows.
  RETURN_IF_ERROR(db.Exec("PRAGMA cache_size = -16384", "setting the cache size"));
  if (!db.read_only()) RETURN_IF_ERROR(ConfigureRw(db));
  if (g_connection_hook != nullptr) (*g_connection_hook)(db);
  return Status::OK();
}

// Removes a half-created catalog unless disarmed, so `init` can be retried.
class RemoveOnFailure {
 public:
  explicit RemoveOnFailure(std::string path) : path_(std::move(path)) {}
  ~RemoveOnFailure() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path_ + suffix).c_str());
  }
  void Disarm() { path_.clear(); }

 private:
  std::string path_;
};

// fsyncs a directory (its entries: a new WAL, a renamed file). Opening and
// closing a directory descriptor is harmless: SQLite locks no directory.
Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open directory " + dir + " to sync it");
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::FromErrno(err, "fsync directory " + dir);
  return Status::OK();
}

FileKind KindOf(int64_t v) { return static_cast<FileKind>(v); }

}  // namespace

int64_t CatalogNowNs() {
  if (g_clock != nullptr) return (*g_clock)();
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

Status ValidateName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("a name must not be empty");
  if (name.size() > 255) {
    return Status::NameTooLong("name of " + std::to_string(name.size()) +
                               " bytes is longer than 255 bytes");
  }
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("name " + QuoteName(name) + " contains '/' or NUL");
  }
  if (name == "." || name == "..") {
    return Status::InvalidArgument("'" + std::string(name) + "' cannot be used as a name");
  }
  return Status::OK();
}

std::string QuoteName(std::string_view name) {
  std::string out = "'";
  for (char c : name) {
    if (c == '\0') {
      out += "\\0";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// ---- Impl helpers (mu held)

Result<Catalog::Impl::Write> Catalog::Impl::BeginWrite() {
  if (db->read_only()) {
    return Status::ReadOnly("catalog " + path +
                            " is open read-only; open the bucket read-write to change it");
  }
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*db, /*write=*/true));
  int64_t now = CatalogNowNs();
  {
    // Commit times strictly increase even if the wall clock steps back, so
    // "the newest commit at or before T" is always well defined.
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlLastCommitTime));
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) now = std::max(now, q.Int(0) + 1);
  }
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlInsertCommit));
  q.Bind(1, now);
  RETURN_IF_ERROR(q.Run());
  return Write{std::move(txn), Seq(static_cast<uint64_t>(db->LastInsertRowid())), now};
}

Result<Catalog::Impl::InodeRow> Catalog::Impl::LoadInode(InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlLoadInode));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no inode " + std::to_string(ino.value) + " in the catalog");
  InodeRow r;
  r.id = ino;
  r.kind = KindOf(q.Int(0));
  r.size = q.U64(1);
  r.current_version = VersionNo(q.U64(2));
  r.next_version = VersionNo(q.U64(3));
  return r;
}

Result<Attr> Catalog::Impl::LoadAttr(InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlLoadAttr));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no inode " + std::to_string(ino.value) + " in the catalog");
  return AttrFromRow(q, 0, ino);
}

Attr Catalog::Impl::AttrFromRow(const sql::Query& q, int c, InodeId ino) {
  Attr a;
  a.ino = ino;
  a.kind = KindOf(q.Int(c));
  a.mode = static_cast<uint32_t>(q.Int(c + 1)) & 07777;
  a.uid = static_cast<uint32_t>(q.Int(c + 2));
  a.gid = static_cast<uint32_t>(q.Int(c + 3));
  a.size = q.U64(c + 4);
  a.atime_ns = q.Int(c + 5);
  a.mtime_ns = q.Int(c + 6);
  a.ctime_ns = q.Int(c + 7);
  a.current_version = VersionNo(q.U64(c + 8));
  a.rdev = q.U64(c + 9);
  a.nlink = static_cast<uint32_t>(q.Int(c + 10));
  return a;
}

Result<int64_t> Catalog::Impl::LiveNameCount(InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlLiveNames));
  q.Bind(1, ino);
  RETURN_IF_ERROR(q.Step().status());
  return q.Int(0);
}

Status Catalog::Impl::CheckLiveDir(InodeId dir) {
  ASSIGN_OR_RETURN(InodeRow r, LoadInode(dir));
  if (r.kind != FileKind::kDirectory) {
    return Status::NotDir("inode " + std::to_string(dir.value) + " is not a directory");
  }
  if (dir == kRootInode) return Status::OK();
  ASSIGN_OR_RETURN(int64_t names, LiveNameCount(dir));
  if (names == 0) {
    return Status::NotFound("directory inode " + std::to_string(dir.value) +
                            " has been removed");
  }
  return Status::OK();
}

Status Catalog::Impl::SetTimes(InodeId ino, std::optional<int64_t> mtime_ns, int64_t ctime_ns) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlSetMtimeCtime));
  q.BindAll(ino, mtime_ns, ctime_ns);
  return q.Run();
}

Result<std::optional<Catalog::Impl::Dentry>> Catalog::Impl::FindLive(InodeId parent,
                                                                      std::string_view name) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlFindLive));
  q.BindAll(parent, name);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<Dentry>();
  return std::optional<Dentry>(Dentry{q.Int(0), InodeId(q.U64(1)), KindOf(q.Int(2))});
}

Status Catalog::Impl::CloseDentry(int64_t dentry_id, Seq seq) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlCloseDentry));
  q.BindAll(dentry_id, seq);
  return q.Run();
}

Status Catalog::Impl::OpenDentry(InodeId parent, std::string_view name, InodeId ino,
                                 FileKind kind, Seq seq) {
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlOpenDentry));
  q.BindAll(parent, name, ino, static_cast<int>(kind), seq);
  return q.Run();
}

// ---- lifecycle

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Create(const std::string& path,
                                                 const BucketSettings& settings,
                                                 uint32_t root_uid, uint32_t root_gid,
                                                 std::string_view first_key_slot,
                                                 const crypto::Key* field_key) {
  RETURN_IF_ERROR(ValidateSettings(settings));
  // O_EXCL: two concurrent `init`s cannot both believe they made the bucket.
  // Closing this descriptor is safe only because no connection has the file
  // open yet (closing would drop its POSIX locks).
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Status::Exists("catalog " + path +
                            " already exists; use the existing bucket or choose another "
                            "directory");
    }
    return Status::FromErrno(errno, "create catalog " + path);
  }
  ::close(fd);
  RemoveOnFailure cleanup(path);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  ASSIGN_OR_RETURN(impl->db, sql::Db::Open(path, /*read_only=*/false, /*create=*/false));
  RETURN_IF_ERROR(Configure(*impl->db));
  {
    ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl->db, /*write=*/true));
    RETURN_IF_ERROR(catalog_format::CreateSchema(*impl->db, settings, root_uid, root_gid,
                                                 CatalogNowNs(), first_key_slot));
    RETURN_IF_ERROR(txn.Commit());
  }
  impl->settings = settings;
  if (field_key != nullptr) impl->field_key = *field_key;
  impl->format_version = kFormatVersion;
  std::unique_ptr<Catalog> cat(new Catalog(std::move(impl)));
  RETURN_IF_ERROR(cat->Sync());  // a fresh bucket survives a power cut
  cleanup.Disarm();
  return cat;
}

namespace {

// Opens and checks (and if needed migrates) the catalog at `path`.
Result<std::unique_ptr<Catalog::Impl>> OpenImpl(const std::string& path, bool read_only,
                                                bool immutable) {
  auto impl = std::make_unique<Catalog::Impl>();
  impl->path = path;
  ASSIGN_OR_RETURN(impl->db, sql::Db::Open(path, read_only, /*create=*/false, immutable));
  // Check the format before any pragma that writes (journal_mode), so a
  // foreign file is reported as such and left untouched.
  RETURN_IF_ERROR(impl->db->Exec("PRAGMA foreign_keys = ON", "enabling foreign keys"));
  ASSIGN_OR_RETURN(impl->format_version,
                   catalog_format::CheckAndMigrate(*impl->db, Catalog::kFormatVersion));
  RETURN_IF_ERROR(Configure(*impl->db));
  ASSIGN_OR_RETURN(impl->settings, catalog_format::LoadSettings(*impl->db));
  return impl;
}

// True if `path`-wal holds no committed frames (absent or empty).
bool WalIsEmpty(const std::string& path) {
  struct stat st;
  if (::stat((path + "-wal").c_str(), &st) != 0) return errno == ENOENT;
  return st.st_size == 0;
}

}  // namespace

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path, bool read_only) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return Status::NotFound("no catalog at " + path +
                              "; create the bucket with `katamari init` first");
    }
    return Status::FromErrno(errno, "stat catalog " + path);
  }
  auto impl = OpenImpl(path, read_only, /*immutable=*/false);
  // A reader that may not write the bucket directory cannot create the WAL's
  // -shm file. If no WAL content exists, the main file alone is the whole
  // catalog, and SQLite's immutable mode reads it without -shm or locks.
  if (!impl.ok() && read_only && impl.status().code() == Status::Code::kReadOnly &&
      WalIsEmpty(path)) {
    impl = OpenImpl(path, read_only, /*immutable=*/true);
  }
  if (!impl.ok()) return impl.status();
  return std::unique_ptr<Catalog>(new Catalog(std::move(*impl)));
}

const BucketSettings& Catalog::settings() const { return impl_->settings; }
int Catalog::format_version() const { return impl_->format_version; }

Status Catalog::SetCompression(Codec codec, int level) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::Write w, impl_->BeginWrite());
  RETURN_IF_ERROR(catalog_format::StoreCompression(*impl_->db, codec, level));
  RETURN_IF_ERROR(w.txn.Commit());
  impl_->settings.compression = codec;
  impl_->settings.level = level;
  return Status::OK();
}

Status Catalog::Sync() {
  // synchronous=NORMAL leaves committed frames in the WAL unsynced; syncing
  // the WAL makes them durable (recovery replays it), whichever process
  // wrote them. The main file covers a checkpoint, the directory the WAL
  // file's own creation. Through SQLite's file handles only (see
  // sql::Db::SyncFiles), under the mutex that serializes the connection; a
  // commit racing with it is simply not covered.
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    RETURN_IF_ERROR(impl_->db->SyncFiles());
  }
  std::string dir = impl_->path.substr(0, impl_->path.find_last_of('/') + 1);
  return FsyncDir(dir.empty() ? "." : dir);
}

// ---- MVCC clock

Seq Catalog::CurrentSeq() {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto q = impl_->db->Prepare(kSqlCurrentSeq);
  if (!q.ok() || !q->Step().ok()) return Seq(0);
  return Seq(q->U64(0));
}

Seq Catalog::SeqAtTime(int64_t time_ns) {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto q = impl_->db->Prepare(kSqlSeqAtTime);
  if (!q.ok()) return Seq(0);
  q->Bind(1, time_ns);
  auto row = q->Step();
  if (!row.ok() || !*row) return Seq(0);
  return Seq(q->U64(0));
}

Result<int64_t> Catalog::TimeOfSeq(Seq seq) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlTimeOfSeq));
  q.Bind(1, seq);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no commit " + std::to_string(seq.value) + " in the catalog");
  return q.Int(0);
}

// ---- namespace reads

Result<Attr> Catalog::GetAttr(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->LoadAttr(ino);
}

Result<InodeId> Catalog::Lookup(InodeId parent, std::string_view name, std::optional<Seq> at) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(at ? kSqlLookupAt : kSqlFindLive));
  q.BindAll(parent, name);
  if (at) q.Bind(3, *at);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) {
    return Status::NotFound("no entry " + QuoteName(name) + " in directory inode " +
                            std::to_string(parent.value) +
                            (at ? " at commit " + std::to_string(at->value) : ""));
  }
  return InodeId(q.U64(at ? 0 : 1));
}

Result<InodeId> Catalog::LookupAny(InodeId parent, std::string_view name, bool* live) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(std::optional<Impl::Dentry> d, impl_->FindLive(parent, name));
  if (d) {
    *live = true;
    return d->ino;
  }
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlLookupClosed));
  q.BindAll(parent, name);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) {
    return Status::NotFound("no entry " + QuoteName(name) + " in directory inode " +
                            std::to_string(parent.value) + ", live or deleted");
  }
  *live = false;
  return InodeId(q.U64(0));
}

namespace {

Result<std::vector<DirEntry>> CollectEntries(sql::Query& q) {
  std::vector<DirEntry> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(DirEntry{q.Str(0), InodeId(q.U64(1)), KindOf(q.Int(2))});
  }
}

}  // namespace

Result<std::vector<DirEntry>> Catalog::ReadDir(InodeId dir, std::optional<Seq> at) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl_->LoadInode(dir));
  if (r.kind != FileKind::kDirectory) {
    return Status::NotDir("inode " + std::to_string(dir.value) + " is not a directory");
  }
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(at ? kSqlReadDirAt : kSqlReadDirLive));
  q.Bind(1, dir);
  if (at) q.Bind(2, *at);
  return CollectEntries(q);
}

Result<std::vector<DirEntry>> Catalog::ReadDirDeleted(InodeId dir) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl_->LoadInode(dir));
  if (r.kind != FileKind::kDirectory) {
    return Status::NotDir("inode " + std::to_string(dir.value) + " is not a directory");
  }
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlReadDirDeleted));
  q.Bind(1, dir);
  return CollectEntries(q);
}

Result<std::string> Catalog::PathOf(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string> parts;
  InodeId cur = ino;
  for (int depth = 0; cur != kRootInode; ++depth) {
    if (depth == kMaxDepth) {
      return Status::Corruption("catalog " + impl_->path + ": the names above inode " +
                                std::to_string(ino.value) + " form a cycle; run `katamari fsck`");
    }
    ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlNameOf));
    q.Bind(1, cur);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      if (cur == ino) {
        return Status::NotFound("inode " + std::to_string(ino.value) + " has no name");
      }
      return Status::Corruption("catalog " + impl_->path + ": directory inode " +
                                std::to_string(cur.value) + " above inode " +
                                std::to_string(ino.value) + " has no name; run `katamari fsck`");
    }
    parts.push_back(q.Str(1));
    cur = InodeId(q.U64(0));
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!out.empty()) out += '/';
    out += *it;
  }
  return out;
}

}  // namespace katamari

// ---- test hooks

namespace katamari::catalog_testing {

ScopedClock::ScopedClock(std::function<int64_t()> now_ns) {
  g_clock = new std::function<int64_t()>(std::move(now_ns));
}
ScopedClock::~ScopedClock() {
  delete g_clock;
  g_clock = nullptr;
}

ScopedConnectionHook::ScopedConnectionHook(std::function<void(sql::Db&)> hook) {
  g_connection_hook = new std::function<void(sql::Db&)>(std::move(hook));
}
ScopedConnectionHook::~ScopedConnectionHook() {
  delete g_connection_hook;
  g_connection_hook = nullptr;
}

}  // namespace katamari::catalog_testing

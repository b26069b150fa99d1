// RAII over sqlite3 / sqlite3_stmt, and the one place SQLite result codes
// become Status values.
#include "store/catalog_db.h"

#include <cctype>
#include <cerrno>
#include <cstring>

namespace katamari::sql {

namespace {

// How long a call waits for another process (the CLI next to a mounted
// daemon) to release the write lock before reporting Busy.
constexpr int kBusyTimeoutMs = 10000;

std::string ShortSql(const char* sql) {
  std::string s(sql);
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Percent-encodes a path for an SQLite URI filename ('?', '#', '%' and
// anything unusual would otherwise change its meaning).
std::string UriEscape(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace

Query::~Query() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_->raw());
  sqlite3_clear_bindings(stmt_->raw());
}

Query& Query::Bind(int i, std::string_view blob) {
  // SQLITE_TRANSIENT: SQLite copies, so callers may pass temporaries. A
  // zero-length blob must still be a BLOB, not NULL, hence the non-null ptr.
  static const char kEmpty = 0;
  sqlite3_bind_blob64(stmt_->raw(), i, blob.empty() ? &kEmpty : blob.data(), blob.size(),
                      SQLITE_TRANSIENT);
  return *this;
}

Query& Query::Bind(int i, std::nullopt_t) {
  sqlite3_bind_null(stmt_->raw(), i);
  return *this;
}

Query& Query::BindText(int i, std::string_view text) {
  sqlite3_bind_text64(stmt_->raw(), i, text.data(), text.size(), SQLITE_TRANSIENT,
                      SQLITE_UTF8);
  return *this;
}

Result<bool> Query::Step() {
  int rc = sqlite3_step(stmt_->raw());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return stmt_->db().Error(rc, ShortSql(stmt_->sql()));
}

Status Query::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return Status::OK();
  }
}

std::string_view Query::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_->raw(), col);
  int n = sqlite3_column_bytes(stmt_->raw(), col);
  if (p == nullptr || n <= 0) return {};
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(n));
}

Result<Digest> Query::DigestAt(int col) const {
  std::string_view b = Blob(col);
  if (b.size() != 32) {
    return Status::Corruption("catalog " + stmt_->db().path() + ": a digest column holds " +
                              std::to_string(b.size()) +
                              " bytes instead of 32; run `katamari fsck` and restore "
                              "catalog.db from a backup");
  }
  Digest d;
  std::memcpy(d.bytes.data(), b.data(), 32);
  return d;
}

Result<std::unique_ptr<Db>> Db::Open(const std::string& path, bool read_only, bool create,
                                     bool immutable) {
  int flags = SQLITE_OPEN_NOMUTEX;  // the catalog's own mutex serializes use
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) flags |= SQLITE_OPEN_CREATE;
  std::string name = path;
  if (immutable && read_only) {
    flags |= SQLITE_OPEN_URI;
    name = "file:" + UriEscape(path) + "?immutable=1";
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  std::unique_ptr<Db> db(new Db(raw, path, read_only));  // closes `raw` on every path
  if (rc != SQLITE_OK) return db->Error(rc, "opening the catalog");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  return db;
}

Db::~Db() {
  cache_.clear();  // statements must be finalized before the connection closes
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Result<Query> Db::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return Error(rc, "preparing " + ShortSql(sql));
    }
    it = cache_.emplace(sql, std::make_unique<Stmt>(this, stmt, sql)).first;
  }
  return Query(it->second.get());
}

Status Db::Exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(rc, what);
  return Status::OK();
}

Status Db::SyncFiles() {
  struct Target {
    int op;
    const char* what;
  };
  // The WAL first: it holds every commit not yet checkpointed.
  static constexpr Target kTargets[] = {{SQLITE_FCNTL_JOURNAL_POINTER, "the WAL"},
                                        {SQLITE_FCNTL_FILE_POINTER, "the database file"}};
  for (const Target& t : kTargets) {
    sqlite3_file* file = nullptr;
    int rc = sqlite3_file_control(db_, "main", t.op, &file);
    if (rc != SQLITE_OK) return Error(rc, std::string("finding ") + t.what + " to sync it");
    // Not open (no WAL yet, or a read-only connection without one): nothing
    // of this connection's is in it to sync.
    if (file == nullptr || file->pMethods == nullptr) continue;
    rc = file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
      return Status::IOError("catalog " + path_ + ": fsync of " + t.what + " failed (" +
                             sqlite3_errstr(rc) +
                             "); check the storage device (dmesg) and retry");
    }
  }
  return Status::OK();
}

Status Db::Error(int rc, std::string_view what) const {
  std::string detail = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string head = "catalog " + path_ + ": ";
  std::string ctx = " (while " + std::string(what) + ")";
  int sys = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::NoSpace(head + "disk full" + ctx +
                             "; free space on the file system holding the bucket and retry");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(head + "damaged or not a katamari catalog: " + detail + ctx +
                                "; restore catalog.db from a backup");
    case SQLITE_READONLY:
      return Status::ReadOnly(head + "cannot write: " + detail + ctx +
                              "; run as a user who may write the bucket directory and "
                              "catalog.db (check their owner and mode)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(head + "locked by another process for more than " +
                          std::to_string(kBusyTimeoutMs / 1000) + " s" + ctx +
                          "; retry when the other katamari command has finished");
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return Status::Permission(head + "permission denied: " + detail + ctx +
                                "; check the owner and mode of the bucket directory");
    case SQLITE_CANTOPEN:
      if (sys == EACCES || sys == EPERM) {
        return Status::Permission(head + "cannot open: " + std::strerror(sys) + ctx +
                                  "; check the owner and mode of the bucket directory");
      }
      return Status::IOError(head + "cannot open: " + detail + ctx +
                             "; check that the bucket directory exists and is accessible");
    case SQLITE_IOERR:
      if (sys == ENOSPC || sys == EDQUOT) {
        return Status::NoSpace(head + "disk full" + ctx +
                               "; free space on the file system holding the bucket and retry");
      }
      return Status::IOError(head + "I/O error: " + detail + ctx +
                             "; check the storage device (dmesg) and retry");
    default:
      return Status::IOError(head + "SQLite error " + std::to_string(rc) + ": " + detail + ctx);
  }
}

Result<Txn> Txn::Begin(Db& db, bool write) {
  static const char kBeginWrite[] = "BEGIN IMMEDIATE";
  static const char kBeginRead[] = "BEGIN DEFERRED";
  ASSIGN_OR_RETURN(Query q, db.Prepare(write ? kBeginWrite : kBeginRead));
  RETURN_IF_ERROR(q.Run());
  return Txn(&db);
}

Txn::~Txn() {
  // SQLite may already have rolled back by itself (SQLITE_FULL, IOERR); a
  // ROLLBACK then would only fail, so check first.
  if (db_ == nullptr || sqlite3_get_autocommit(db_->raw())) return;
  static const char kRollback[] = "ROLLBACK";
  auto q = db_->Prepare(kRollback);
  if (q.ok()) (void)q->Run();
}

Status Txn::Commit() {
  static const char kCommit[] = "COMMIT";
  ASSIGN_OR_RETURN(Query q, db_->Prepare(kCommit));
  Status s = q.Run();
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace katamari::sql

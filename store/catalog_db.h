// A thin RAII layer over the SQLite C API, private to the catalog.
//
//  - Db owns one sqlite3 connection and a cache of prepared statements keyed
//    by the address of their (static) SQL text: each statement is named by a
//    constant in the .cc that uses it and prepared once per connection.
//  - Query is one use of a cached statement: it binds, steps, and on scope
//    exit resets the statement and clears its bindings, so a statement is
//    never left half-stepped (which would hold a read snapshot open).
//  - Txn is a transaction that rolls back unless Commit() succeeded.
//
// Thread-safety: none; the catalog serializes all use of a Db with its mutex.
// A statement must not be used by two live Query objects at once (collect the
// rows of one query before reusing its statement).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/status.h"
#include "store/types.h"

namespace katamari::sql {

class Db;

// A prepared statement, owned by the Db's cache.
class Stmt {
 public:
  Stmt(Db* db, sqlite3_stmt* stmt, const char* sql) : db_(db), stmt_(stmt), sql_(sql) {}
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  sqlite3_stmt* raw() const { return stmt_; }
  Db& db() const { return *db_; }
  const char* sql() const { return sql_; }

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
  const char* sql_;
};

// One use of a Stmt. Bind indexes start at 1 (SQLite convention).
class Query {
 public:
  explicit Query(Stmt* stmt) : stmt_(stmt) {}
  ~Query();
  Query(Query&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;

  template <std::integral T>
  Query& Bind(int i, T v) {
    sqlite3_bind_int64(stmt_->raw(), i, static_cast<sqlite3_int64>(v));
    return *this;
  }
  template <class Tag>
  Query& Bind(int i, StrongId<Tag> id) {
    return Bind(i, id.value);
  }
  Query& Bind(int i, std::string_view blob);  // always a BLOB (names compare bytewise)
  Query& Bind(int i, const Digest& d) {
    return Bind(i, std::string_view(reinterpret_cast<const char*>(d.bytes.data()), 32));
  }
  Query& Bind(int i, std::nullopt_t);
  Query& BindText(int i, std::string_view text);
  template <class T>
  Query& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : Bind(i, std::nullopt);
  }
  // Binds args to ?1, ?2, ...
  template <class... Args>
  Query& BindAll(const Args&... args) {
    int i = 0;
    (Bind(++i, args), ...);
    return *this;
  }

  // Next row: true if there is one, false when done.
  Result<bool> Step();
  // Steps to the end (for statements whose rows, if any, are not needed).
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_->raw(), col); }
  uint64_t U64(int col) const { return static_cast<uint64_t>(Int(col)); }
  int Type(int col) const { return sqlite3_column_type(stmt_->raw(), col); }
  bool IsNull(int col) const { return Type(col) == SQLITE_NULL; }
  // Valid until the next Step() or the end of this Query.
  std::string_view Blob(int col) const;
  std::string Str(int col) const { return std::string(Blob(col)); }
  // A 32-byte digest column; Corruption if it has another length.
  Result<Digest> DigestAt(int col) const;

 private:
  Stmt* stmt_;
};

class Db {
 public:
  // Opens a connection (no schema checks). `create`: the file may be new.
  // `immutable` (read-only only): SQLite's immutable=1, which reads the file
  // without WAL or locks; for a bucket whose directory this process cannot
  // write (no -shm can be made) and that has no WAL content.
  static Result<std::unique_ptr<Db>> Open(const std::string& path, bool read_only, bool create,
                                          bool immutable = false);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  // Unique among the connections this process has opened (a cache key:
  // store/segment_cache.h).
  uint64_t uid() const { return uid_; }
  // Whether this connection is inside a write transaction (it has written
  // or holds BEGIN IMMEDIATE).
  bool InWriteTxn() const { return sqlite3_txn_state(db_, nullptr) == SQLITE_TXN_WRITE; }

  // A cached statement for `sql`, which must be a string with static storage
  // (its address is the cache key).
  Result<Query> Prepare(const char* sql);
  // Runs one or more statements without caching (schema, pragmas).
  Status Exec(const char* sql, std::string_view what);
  // The Status for SQLite result `rc` while doing `what`, naming the file
  // and, where there is one, the fix.
  Status Error(int rc, std::string_view what) const;
  // fsyncs the WAL (if this connection has it open) and the main database
  // file through SQLite's own file handles. Never through a descriptor of
  // our own: closing any descriptor of catalog.db drops every POSIX lock
  // this process holds on it, SQLite's included, and another process would
  // then checkpoint and delete the WAL this connection still writes.
  Status SyncFiles();
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int Changes() const { return sqlite3_changes(db_); }
  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  Db(sqlite3* db, std::string path, bool read_only)
      : db_(db), path_(std::move(path)), read_only_(read_only), uid_(NextUid()) {}
  static uint64_t NextUid() {
    static std::atomic<uint64_t> next{1};
    return next.fetch_add(1);
  }
  sqlite3* db_;
  std::string path_;
  bool read_only_;
  uint64_t uid_;
  std::unordered_map<const char*, std::unique_ptr<Stmt>> cache_;
};

// BEGIN IMMEDIATE (write) or BEGIN DEFERRED (read) ... COMMIT; rolls back in
// the destructor unless committed. Not nestable.
class Txn {
 public:
  static Result<Txn> Begin(Db& db, bool write);
  Txn(Txn&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Txn& operator=(Txn&&) = delete;
  ~Txn();
  Status Commit();

 private:
  explicit Txn(Db* db) : db_(db) {}
  Db* db_;  // nullptr once committed or moved from
};

}  // namespace katamari::sql

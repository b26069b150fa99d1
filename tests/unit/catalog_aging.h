// Raw SQL that turns a current catalog back into an older format, for the
// migration tests (catalog_test.cc, catalog_format4_test.cc,
// catalog_format6_test.cc, catalog_format7_test.cc). Run on a closed
// catalog through a plain sqlite3 connection.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace katamari::catalog_aging {

// Raw SQL on a closed catalog, for tests that damage or age it.
inline void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}
// Every schema statement of the catalog at `path`, by name: what a migrated
// catalog is compared with a new one by.
inline std::string Schema(const std::string& path) {
  std::string out;
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT coalesce(sql, name) FROM sqlite_master ORDER BY name", -1, &st,
                     nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    out += "\n";
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}
// The first column of the first row of `sql`, -1 if there is none.
inline int64_t RawInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// Format 8 -> 7: chunk rows without delta bases, no delta_chunks setting.
// Only for catalogs without delta chunks (every delta_base NULL).
inline constexpr char kDeltaToFormat7[] = R"sql(
ALTER TABLE chunks DROP COLUMN delta_base;
DELETE FROM meta WHERE key = 'delta_chunks';
UPDATE meta SET value = 7 WHERE key = 'format_version';
)sql";

// Format 8 -> 6 (through kDeltaToFormat7): every version's chunk list spelled out again (the
// segments' 40-byte records concatenated in list order), chunks.refs counted
// per occurrence in version lists, the segments table gone.
inline void SegmentsToFormat6(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto exec = [&](const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    std::string msg = err ? err : "";
    sqlite3_free(err);
    EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << msg;
  };
  exec(kDeltaToFormat7);
  exec("BEGIN");
  std::map<int64_t, std::string> segments;
  std::vector<std::tuple<int64_t, int64_t, std::string>> versions;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT id, chunks FROM segments", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    segments[sqlite3_column_int64(st, 0)] =
        std::string(static_cast<const char*>(sqlite3_column_blob(st, 1)),
                    static_cast<size_t>(sqlite3_column_bytes(st, 1)));
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT ino, vno, chunks FROM versions", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char* p = static_cast<const char*>(sqlite3_column_blob(st, 2));
    std::string list(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, 2)));
    versions.emplace_back(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), list);
  }
  sqlite3_finalize(st);
  std::map<std::string, int64_t> refs;  // chunk id -> occurrences in versions
  sqlite3_stmt* up = nullptr;
  sqlite3_prepare_v2(db, "UPDATE versions SET chunks = ?3 WHERE ino = ?1 AND vno = ?2", -1, &up,
                     nullptr);
  for (const auto& [ino, vno, list] : versions) {
    std::string chunks;
    for (size_t i = 0; i + 8 <= list.size(); i += 8) {
      uint64_t id = 0;
      for (int b = 7; b >= 0; --b) id = id << 8 | static_cast<unsigned char>(list[i + b]);
      auto it = segments.find(static_cast<int64_t>(id));
      ASSERT_NE(it, segments.end()) << "segment " << id;
      chunks += it->second;
    }
    for (size_t i = 0; i + 40 <= chunks.size(); i += 40) {
      const std::string id = chunks.substr(i, 32);
      if (id != std::string(32, '\0')) ++refs[id];
    }
    sqlite3_bind_int64(up, 1, ino);
    sqlite3_bind_int64(up, 2, vno);
    sqlite3_bind_blob(up, 3, chunks.data(), static_cast<int>(chunks.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(up), SQLITE_DONE);
    sqlite3_reset(up);
  }
  sqlite3_finalize(up);
  exec("UPDATE chunks SET refs = 0");
  sqlite3_prepare_v2(db, "UPDATE chunks SET refs = ?2 WHERE id = ?1", -1, &up, nullptr);
  for (const auto& [id, n] : refs) {
    sqlite3_bind_blob(up, 1, id.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(up, 2, n);
    EXPECT_EQ(sqlite3_step(up), SQLITE_DONE);
    sqlite3_reset(up);
  }
  sqlite3_finalize(up);
  exec("DROP TABLE segments");
  exec("DELETE FROM sqlite_sequence WHERE name = 'segments'");
  exec("UPDATE meta SET value = 6 WHERE key = 'format_version'");
  exec("COMMIT");
  sqlite3_close(db);
}

// Format 6 -> 5: chunk rows without pack locations. Only for catalogs whose
// chunks are all chunk files (a catalog without a bucket, or one whose rows
// all have NULL locations).
inline constexpr char kChunksToFormat5[] = R"sql(
DROP INDEX chunks_by_pack;
ALTER TABLE chunks DROP COLUMN pack_offset;
ALTER TABLE chunks DROP COLUMN pack_id;
UPDATE meta SET value = 5 WHERE key = 'format_version';
)sql";

// Format 5 -> 4: without the retention, excludes and policy_log tables.
inline constexpr char kPolicyToFormat4[] = R"sql(
BEGIN;
DROP TABLE retention;
DROP TABLE excludes;
DROP TABLE policy_log;
DELETE FROM sqlite_sequence WHERE name = 'policy_log';
UPDATE meta SET value = 4 WHERE key = 'format_version';
COMMIT;
)sql";

// Format 4 -> 3 (after kChunksToFormat5 and kPolicyToFormat4): the inodes
// table as formats 1..3 had it (kinds 1..3 only, no rdev, symlinks with size 0). Rebuilt the way the real migration does
// it in reverse: with foreign keys off and legacy_alter_table on, so the
// REFERENCES clauses of dentries, versions and xattrs keep naming `inodes`.
// Format-3 catalogs cannot hold special files: age only catalogs without.
inline constexpr char kInodesToFormat3[] = R"sql(
PRAGMA foreign_keys = OFF;
PRAGMA legacy_alter_table = ON;
BEGIN;
ALTER TABLE inodes RENAME TO inodes_v4;
CREATE TABLE inodes (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            INTEGER NOT NULL CHECK (kind IN (1, 2, 3)),
  mode            INTEGER NOT NULL,
  uid             INTEGER NOT NULL,
  gid             INTEGER NOT NULL,
  atime_ns        INTEGER NOT NULL,
  mtime_ns        INTEGER NOT NULL,
  ctime_ns        INTEGER NOT NULL,
  symlink_target  BLOB,
  size            INTEGER NOT NULL DEFAULT 0,
  current_version INTEGER NOT NULL DEFAULT 0,
  next_version    INTEGER NOT NULL DEFAULT 1
);
INSERT INTO inodes SELECT id, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns,
  symlink_target, CASE WHEN kind = 3 THEN 0 ELSE size END, current_version, next_version
  FROM inodes_v4;
DELETE FROM sqlite_sequence WHERE name = 'inodes';
UPDATE sqlite_sequence SET name = 'inodes' WHERE name = 'inodes_v4';
DROP TABLE inodes_v4;
UPDATE meta SET value = 3 WHERE key = 'format_version';
COMMIT;
)sql";

}  // namespace katamari::catalog_aging

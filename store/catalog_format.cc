// Schema, settings, migrations and BLOB encodings of catalog.db. The layout
// is documented in docs/catalog.md; keep the two in step.
#include "store/catalog_format.h"

#include <cstring>
#include <optional>

#include "store/catalog_segments.h"
#include "store/catalog_testing.h"
#include "store/retention.h"

namespace katamari::catalog_format {

// Set only by catalog_testing::ScopedMigrationSteps.
const std::vector<MigrationStep>* g_step_override = nullptr;

namespace {

// Format 1. Names are BLOBs so they compare bytewise (memcmp) and may hold
// any bytes but '/' and NUL. A dentry row with seq_end NULL is live.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value NOT NULL
) WITHOUT ROWID;
CREATE TABLE commits (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL
);
CREATE INDEX commits_by_time ON commits(time_ns);
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
CREATE TABLE dentries (
  id        INTEGER PRIMARY KEY,
  parent    INTEGER NOT NULL REFERENCES inodes(id),
  name      BLOB NOT NULL,
  ino       INTEGER NOT NULL REFERENCES inodes(id),
  kind      INTEGER NOT NULL,
  seq_start INTEGER NOT NULL,
  seq_end   INTEGER
);
CREATE UNIQUE INDEX dentries_live ON dentries(parent, name) WHERE seq_end IS NULL;
CREATE INDEX dentries_history ON dentries(parent, name, seq_start);
CREATE INDEX dentries_by_ino ON dentries(ino, seq_end);
CREATE INDEX dentries_live_subdirs ON dentries(parent) WHERE seq_end IS NULL AND kind = 2;
CREATE TABLE versions (
  ino            INTEGER NOT NULL REFERENCES inodes(id),
  vno            INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  commit_time_ns INTEGER NOT NULL,
  size           INTEGER NOT NULL,
  mtime_ns       INTEGER NOT NULL,
  sha256         BLOB NOT NULL,
  stored_size    INTEGER NOT NULL,
  new_bytes      INTEGER NOT NULL,
  chunk_count    INTEGER NOT NULL,
  restored_from  INTEGER,
  xattrs         BLOB NOT NULL,
  chunks         BLOB NOT NULL,
  PRIMARY KEY (ino, vno)
);
CREATE TABLE chunks (
  id         BLOB PRIMARY KEY NOT NULL,
  raw_len    INTEGER NOT NULL,
  stored_len INTEGER NOT NULL,
  refs       INTEGER NOT NULL CHECK (refs >= 0)
) WITHOUT ROWID;
CREATE INDEX chunks_garbage ON chunks(refs) WHERE refs = 0;
CREATE TABLE xattrs (
  ino   INTEGER NOT NULL REFERENCES inodes(id),
  name  BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (ino, name)
) WITHOUT ROWID;
)sql";

// Format 2 = format 1 + key slots (encrypted buckets) + meta.cipher. Slot ids
// are never reused, so "slot 2" always means the same slot in messages.
constexpr char kSchemaV2Additions[] = R"sql(
CREATE TABLE key_slots (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ns INTEGER NOT NULL,
  label      TEXT NOT NULL DEFAULT '',
  slot       BLOB NOT NULL
);
)sql";

// Format 3 = format 2 + the owner and mode of each version (columns mode,
// uid, gid after mtime_ns). The table is rebuilt rather than altered so that
// `chunks` stays the last column (reading the others never walks its
// overflow pages). Versions of format 2 get their inode's current owner and
// mode; a version without an inode row (never in a sound catalog) gets mode 0,
// readable by root only.
constexpr char kMigrateVersionsTo3[] = R"sql(
ALTER TABLE versions RENAME TO versions_v2;
CREATE TABLE versions (
  ino            INTEGER NOT NULL REFERENCES inodes(id),
  vno            INTEGER NOT NULL,
  seq            INTEGER NOT NULL,
  commit_time_ns INTEGER NOT NULL,
  size           INTEGER NOT NULL,
  mtime_ns       INTEGER NOT NULL,
  mode           INTEGER NOT NULL,
  uid            INTEGER NOT NULL,
  gid            INTEGER NOT NULL,
  sha256         BLOB NOT NULL,
  stored_size    INTEGER NOT NULL,
  new_bytes      INTEGER NOT NULL,
  chunk_count    INTEGER NOT NULL,
  restored_from  INTEGER,
  xattrs         BLOB NOT NULL,
  chunks         BLOB NOT NULL,
  PRIMARY KEY (ino, vno)
);
INSERT INTO versions(ino, vno, seq, commit_time_ns, size, mtime_ns, mode, uid, gid, sha256,
                     stored_size, new_bytes, chunk_count, restored_from, xattrs, chunks)
  SELECT v.ino, v.vno, v.seq, v.commit_time_ns, v.size, v.mtime_ns, coalesce(i.mode, 0),
         coalesce(i.uid, 0), coalesce(i.gid, 0), v.sha256, v.stored_size, v.new_bytes,
         v.chunk_count, v.restored_from, v.xattrs, v.chunks
  FROM versions_v2 AS v LEFT JOIN inodes AS i ON i.id = v.ino;
DROP TABLE versions_v2;
)sql";

// Format 4 = format 3 + special files and the symlink size, in `inodes`:
// kinds 4..7 (fifo, socket, character device, block device: FileKind) and
// an `rdev` column (a device's number, else 0). A symlink's `size` is the
// length of its target (format 3 stored 0). Format 4 is also the format in
// which a version's chunk list may hold hole refs and a pending content
// SHA-256 (docs/catalog.md, "versions").
//
// The CHECK constraint on `kind` cannot be altered, so the table is rebuilt.
// dentries, versions and xattrs refer to inodes(id): the old table is
// renamed away with foreign keys off and legacy_alter_table on, so that
// their REFERENCES clauses keep naming `inodes` (the new table) instead of
// following the rename (SQLite docs, "ALTER TABLE", compatibility note);
// Migrate() runs every step with foreign keys off. AUTOINCREMENT's
// high-water mark moves over, so no inode number is ever reused.
constexpr char kInodesV4[] = R"sql(
CREATE TABLE inodes (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            INTEGER NOT NULL CHECK (kind IN (1, 2, 3, 4, 5, 6, 7)),
  mode            INTEGER NOT NULL,
  uid             INTEGER NOT NULL,
  gid             INTEGER NOT NULL,
  atime_ns        INTEGER NOT NULL,
  mtime_ns        INTEGER NOT NULL,
  ctime_ns        INTEGER NOT NULL,
  rdev            INTEGER NOT NULL DEFAULT 0,
  symlink_target  BLOB,
  size            INTEGER NOT NULL DEFAULT 0,
  current_version INTEGER NOT NULL DEFAULT 0,
  next_version    INTEGER NOT NULL DEFAULT 1
);
)sql";
constexpr char kCopyInodesTo4[] = R"sql(
INSERT INTO inodes(id, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, rdev,
                   symlink_target, size, current_version, next_version)
  SELECT id, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, 0, symlink_target,
         CASE WHEN kind = 3 THEN coalesce(length(CAST(symlink_target AS BLOB)), 0)
              ELSE size END,
         current_version, next_version
  FROM inodes_v3;
UPDATE sqlite_sequence
  SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'inodes_v3'), 0))
  WHERE name = 'inodes';
INSERT INTO sqlite_sequence(name, seq)
  SELECT 'inodes', seq FROM sqlite_sequence WHERE name = 'inodes_v3'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inodes');
DROP TABLE inodes_v3;
)sql";

// Format 6 = format 5 + pack locations (docs/pack-format.md): a chunk row
// records the pack its bytes were appended to and the offset of the record;
// NULL (every row of an older format) means a chunk file under chunks/. The
// body length is the row's stored_len. Adding NULL columns rewrites no row.
constexpr char kMigrateChunksTo6[] = R"sql(
ALTER TABLE chunks ADD COLUMN pack_id BLOB;
ALTER TABLE chunks ADD COLUMN pack_offset INTEGER;
CREATE INDEX chunks_by_pack ON chunks(pack_id) WHERE pack_id IS NOT NULL;
)sql";

// Format 7 = format 6 + chunk lists as shared segments (store/
// catalog_segments.h): versions.chunks lists segment ids, chunks.refs
// counts occurrences in segment rows.
constexpr char kSegmentsV7[] = R"sql(
CREATE TABLE segments (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  hash        BLOB NOT NULL,
  refs        INTEGER NOT NULL CHECK (refs >= 0),
  chunk_count INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  chunks      BLOB NOT NULL
);
CREATE UNIQUE INDEX segments_by_hash ON segments(hash);
)sql";
// Format 8 = format 7 + delta chunks (docs/chunk-format.md, "Delta
// chunks"): a row whose stored bytes are a patch against another chunk
// names that chunk, its base, and holds one reference on it (counted in the
// base's refs), so gc never deletes a base a delta needs. NULL: a full
// chunk, as every row of an older format. Adding a NULL column rewrites no
// row; the setting `delta_chunks` is on for migrated buckets.
constexpr char kMigrateChunksTo8[] = R"sql(
ALTER TABLE chunks ADD COLUMN delta_base BLOB;
)sql";
constexpr char kSqlAllVersionKeys[] = "SELECT ino, vno FROM versions ORDER BY ino, vno";
constexpr char kSqlVersionList[] = "SELECT chunks FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlSetVersionList[] = "UPDATE versions SET chunks = ?3 WHERE ino = ?1 AND vno = ?2";

constexpr char kSqlPutMeta[] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)";
constexpr char kSqlGetMeta[] = "SELECT value FROM meta WHERE key = ?1";
constexpr char kSqlHasMetaTable[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'";
constexpr char kSqlFirstCommit[] = "INSERT INTO commits(seq, time_ns) VALUES(1, ?1)";
constexpr char kSqlFirstKeySlot[] = "INSERT INTO key_slots(created_ns, slot) VALUES(?1, ?2)";
constexpr char kSqlRootInode[] =
    "INSERT INTO inodes(id, kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns) "
    "VALUES(1, 2, 493, ?1, ?2, ?3, ?3, ?3)";  // 493 = 0755

Status PutInt(sql::Db& db, std::string_view key, int64_t v) {
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlPutMeta));
  q.BindText(1, key).Bind(2, v);
  return q.Run();
}
Status PutText(sql::Db& db, std::string_view key, std::string_view v) {
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlPutMeta));
  q.BindText(1, key).BindText(2, v);
  return q.Run();
}

// 1 -> 2: key slots and meta.cipher. Every format-1 bucket is plain.
Status MigrateTo2(sql::Db& db) {
  RETURN_IF_ERROR(db.Exec(kSchemaV2Additions, "creating the key_slots table"));
  return PutText(db, "cipher", kCipherNone);
}

// 2 -> 3: every version records its file's owner and mode.
Status MigrateTo3(sql::Db& db) {
  return db.Exec(kMigrateVersionsTo3, "rebuilding the versions table with owner and mode");
}

// 5 -> 6: chunk rows may point into pack files.
Status MigrateTo6(sql::Db& db) {
  return db.Exec(kMigrateChunksTo6, "adding pack locations to the chunks table");
}

// 6 -> 7: every version's chunk list becomes a list of segments. Every
// chunk's refs are first set to 0, then each version's segments are
// referenced (a new segment raises its chunks' refs, inserting a row that
// was missing): a chunk's refs end as exactly its occurrences in segments.
// Counting from what a damaged catalog held instead would let a chunk some
// version still lists reach 0 (a missing row, too few refs), and gc delete
// it; this way the migration repairs such counts instead of acting on them.
Status MigrateTo7(sql::Db& db) {
  RETURN_IF_ERROR(db.Exec(kSegmentsV7, "creating the segments table"));
  RETURN_IF_ERROR(db.Exec("UPDATE chunks SET refs = 0", "recounting chunk references"));
  std::vector<std::pair<int64_t, int64_t>> keys;
  {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlAllVersionKeys));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      keys.emplace_back(q.Int(0), q.Int(1));
    }
  }
  for (const auto& [ino, vno] : keys) {
    const std::string what =
        "version " + std::to_string(vno) + " of inode " + std::to_string(ino);
    std::vector<ChunkRef> chunks;
    {
      ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlVersionList));
      q.BindAll(ino, vno);
      RETURN_IF_ERROR(q.Step().status());
      ASSIGN_OR_RETURN(chunks, DecodeChunks(q.Blob(0), what));
    }
    ASSIGN_OR_RETURN(catalog_segments::Referenced r,
                     catalog_segments::Reference(db, &chunks,
                                                 catalog_segments::MissingRows::kRecreate));
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlSetVersionList));
    q.BindAll(ino, vno);
    q.Bind(3, std::string_view(r.list));
    RETURN_IF_ERROR(q.Run());
  }
  return Status::OK();
}

// 7 -> 8: chunk rows may name a delta base.
Status MigrateTo8(sql::Db& db) {
  RETURN_IF_ERROR(db.Exec(kMigrateChunksTo8, "adding delta bases to the chunks table"));
  return PutInt(db, "delta_chunks", 1);
}

// Sets a connection flag (PRAGMA NAME = ON/OFF) for the life of the object,
// then the opposite. Neither flag is stored in the file.
class ScopedFlag {
 public:
  ScopedFlag(sql::Db& db, std::string name, bool on) : db_(db), name_(std::move(name)), on_(on) {}
  ~ScopedFlag() {
    if (armed_) (void)db_.Exec(Sql(!on_).c_str(), "resetting " + name_);
  }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;
  Status Set() {
    RETURN_IF_ERROR(db_.Exec(Sql(on_).c_str(), "setting " + name_));
    armed_ = true;
    return Status::OK();
  }

 private:
  std::string Sql(bool v) const { return "PRAGMA " + name_ + (v ? " = ON" : " = OFF"); }
  sql::Db& db_;
  std::string name_;
  bool on_;
  bool armed_ = false;
};

// 3 -> 4: special files (kinds 4..7, rdev) and symlink sizes. Needs foreign
// keys off (Migrate does that) so the rename leaves references alone.
Status MigrateTo4(sql::Db& db) {
  ScopedFlag legacy(db, "legacy_alter_table", true);
  RETURN_IF_ERROR(legacy.Set());
  RETURN_IF_ERROR(db.Exec("ALTER TABLE inodes RENAME TO inodes_v3", "renaming the inodes table"));
  RETURN_IF_ERROR(db.Exec(kInodesV4, "creating the format-4 inodes table"));
  return db.Exec(kCopyInodesTo4, "copying the inodes into the format-4 table");
}

// 4 -> 5: retention rules, exclude patterns (the defaults) and their change
// log (store/catalog_policy.cc).
Status MigrateTo5(sql::Db& db) { return AddPolicyTables(db, DefaultExcludes()); }

const std::vector<MigrationStep>& BuiltInSteps() {
  // Step N turns format N into N + 1; a new format appends here and bumps
  // Catalog::kFormatVersion (and CreateSchema's last format).
  static const std::vector<MigrationStep> steps = {
      {1, "add key slots and the cipher setting", MigrateTo2},
      {2, "record the owner and mode of every version", MigrateTo3},
      {3, "allow special files and record symlink sizes", MigrateTo4},
      {4, "add retention rules and exclude patterns", MigrateTo5},
      {5, "record where chunks live in pack files", MigrateTo6},
      {6, "store chunk lists as shared segments", MigrateTo7},
      {7, "store changed chunks as patches against the chunks they replace", MigrateTo8},
  };
  return steps;
}

Status NotACatalog(const sql::Db& db, std::string_view why) {
  return Status::Corruption("catalog " + db.path() + " is not a katamari catalog (" +
                            std::string(why) +
                            "); point katamari at a bucket directory made by `katamari init`, "
                            "or restore catalog.db from a backup");
}

// Reads one meta row; NotFound if absent, Corruption if of the wrong type.
Result<int64_t> GetMetaInt(sql::Db& db, std::string_view key) {
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlGetMeta));
  q.BindText(1, key);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound(std::string(key));
  if (q.Type(0) != SQLITE_INTEGER) {
    return NotACatalog(db, "meta '" + std::string(key) + "' is not an integer");
  }
  return q.Int(0);
}
Result<std::string> GetMetaText(sql::Db& db, std::string_view key) {
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlGetMeta));
  q.BindText(1, key);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound(std::string(key));
  return q.Str(0);
}

Status MissingSetting(const sql::Db& db, std::string_view key, const Status& s) {
  if (!s.IsNotFound()) return s;
  return NotACatalog(db, "setting '" + std::string(key) + "' is missing");
}

Status Migrate(sql::Db& db, int from, int to) {
  // Steps rebuild tables others refer to (SQLite docs, "ALTER TABLE": other
  // kinds of table schema changes): foreign keys are off for the whole
  // transaction (the pragma is a no-op inside one) and back on after it.
  // Steps copy every row as it is, so they add no dangling reference.
  ScopedFlag no_fks(db, "foreign_keys", false);
  RETURN_IF_ERROR(no_fks.Set());
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(db, /*write=*/true));
  // Another process may have migrated while we waited for the write lock.
  ASSIGN_OR_RETURN(int64_t cur, GetMetaInt(db, "format_version"));
  std::span<const MigrationStep> steps = MigrationSteps();
  while (cur < to) {
    const MigrationStep* step = nullptr;
    for (const MigrationStep& s : steps) {
      if (s.from == cur) step = &s;
    }
    if (step == nullptr) {
      return Status::Corruption("catalog " + db.path() + " has format " +
                                std::to_string(cur) + ", which this katamari cannot migrate " +
                                "(no step from format " + std::to_string(cur) + " to " +
                                std::to_string(cur + 1) +
                                "); restore catalog.db from a backup");
    }
    Status s = step->apply(db);
    if (!s.ok()) {
      // The transaction rolls back, so the file stays at its old format.
      using C = Status::Code;
      if (s.code() == C::kNoSpace || s.code() == C::kBusy || s.code() == C::kReadOnly) return s;
      return Status::IOError("catalog " + db.path() + ": migration from format " +
                             std::to_string(cur) + " (" + step->what + ") failed: " +
                             s.ToString() + "; the catalog was left at format " +
                             std::to_string(from) + "; report this with the catalog attached");
    }
    ++cur;
    RETURN_IF_ERROR(PutInt(db, "format_version", cur));
  }
  return txn.Commit();
}

}  // namespace

std::span<const MigrationStep> MigrationSteps() {
  return g_step_override != nullptr ? *g_step_override : BuiltInSteps();
}

Status CreateSchema(sql::Db& db, const BucketSettings& st, uint32_t root_uid,
                    uint32_t root_gid, int64_t now_ns, std::string_view first_key_slot) {
  if (st.encrypted == first_key_slot.empty()) {
    return Status::InvalidArgument(st.encrypted
                                       ? "an encrypted bucket needs its first key slot"
                                       : "a key slot was given for a bucket that is not encrypted");
  }
  RETURN_IF_ERROR(db.Exec(kSchemaV1, "creating the catalog tables"));
  RETURN_IF_ERROR(db.Exec(kSchemaV2Additions, "creating the key_slots table"));
  // The versions table of format 3 is made by its migration step (on an
  // empty table, so at no cost): one text for new and migrated catalogs.
  RETURN_IF_ERROR(MigrateTo3(db));
  // Format 4's inodes table replaces format 1's, still empty (foreign keys are
  // on here, so MigrateTo4's rename would drag the references along).
  RETURN_IF_ERROR(db.Exec("DROP TABLE inodes", "replacing the format-1 inodes table"));
  RETURN_IF_ERROR(db.Exec(kInodesV4, "creating the inodes table"));
  RETURN_IF_ERROR(db.Exec("PRAGMA application_id = 1263816018", "setting application_id"));
  RETURN_IF_ERROR(MigrateTo5(db));
  RETURN_IF_ERROR(MigrateTo6(db));
  RETURN_IF_ERROR(MigrateTo7(db));  // no versions yet: only the table
  RETURN_IF_ERROR(MigrateTo8(db));
  RETURN_IF_ERROR(PutInt(db, "format_version", 8));
  RETURN_IF_ERROR(PutInt(db, "delta_chunks", st.delta_chunks ? 1 : 0));
  RETURN_IF_ERROR(PutText(db, "cipher", st.encrypted ? kCipherAes256Gcm : kCipherNone));
  if (st.encrypted) {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlFirstKeySlot));
    q.Bind(1, now_ns).Bind(2, first_key_slot);
    RETURN_IF_ERROR(q.Run());
  }
  RETURN_IF_ERROR(PutInt(db, "created_ns", now_ns));
  RETURN_IF_ERROR(PutText(db, "compression", CodecName(st.compression)));
  RETURN_IF_ERROR(PutInt(db, "compression_level", st.level));
  RETURN_IF_ERROR(PutInt(db, "chunk_min", st.chunk_min));
  RETURN_IF_ERROR(PutInt(db, "chunk_avg", st.chunk_avg));
  RETURN_IF_ERROR(PutInt(db, "chunk_max", st.chunk_max));
  RETURN_IF_ERROR(PutInt(db, "versioning", st.versioning ? 1 : 0));
  {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlFirstCommit));
    q.Bind(1, now_ns);
    RETURN_IF_ERROR(q.Run());
  }
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlRootInode));
  q.BindAll(root_uid, root_gid, now_ns);
  return q.Run();
}

Result<int> CheckAndMigrate(sql::Db& db, int supported) {
  {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlHasMetaTable));
    auto row = q.Step();
    if (!row.ok()) {
      if (row.status().IsCorruption()) return NotACatalog(db, "not an SQLite database");
      return row.status();
    }
    if (q.Int(0) == 0) return NotACatalog(db, "it has no meta table");
  }
  auto version = GetMetaInt(db, "format_version");
  if (!version.ok()) return MissingSetting(db, "format_version", version.status());
  if (*version > supported) {
    return Status::NewerFormat("catalog " + db.path() + ": bucket format " +
                               std::to_string(*version) + " is newer than this katamari " +
                               "(supports " + std::to_string(supported) +
                               "); upgrade katamari");
  }
  if (*version < supported) {
    if (db.read_only()) {
      return Status::ReadOnly("catalog " + db.path() + " has format " +
                              std::to_string(*version) + " and needs a migration to format " +
                              std::to_string(supported) +
                              "; open the bucket read-write once (e.g. `katamari fsck`)");
    }
    RETURN_IF_ERROR(Migrate(db, static_cast<int>(*version), supported));
    ASSIGN_OR_RETURN(version, GetMetaInt(db, "format_version"));
  }
  return static_cast<int>(*version);
}

Result<BucketSettings> LoadSettings(sql::Db& db) {
  BucketSettings st;
  auto codec_name = GetMetaText(db, "compression");
  if (!codec_name.ok()) return MissingSetting(db, "compression", codec_name.status());
  std::optional<Codec> codec = ParseCodec(*codec_name);
  if (!codec) {
    return Status::NewerFormat("catalog " + db.path() + ": unknown compression '" +
                               *codec_name + "'; upgrade katamari");
  }
  st.compression = *codec;
  int64_t v[5];
  const char* keys[5] = {"compression_level", "chunk_min", "chunk_avg", "chunk_max",
                         "versioning"};
  for (int i = 0; i < 5; ++i) {
    auto r = GetMetaInt(db, keys[i]);
    if (!r.ok()) return MissingSetting(db, keys[i], r.status());
    v[i] = *r;
  }
  st.level = static_cast<int>(v[0]);
  st.chunk_min = static_cast<uint32_t>(v[1]);
  st.chunk_avg = static_cast<uint32_t>(v[2]);
  st.chunk_max = static_cast<uint32_t>(v[3]);
  st.versioning = v[4] != 0;
  auto cipher = GetMetaText(db, "cipher");
  if (!cipher.ok()) return MissingSetting(db, "cipher", cipher.status());
  if (*cipher != kCipherNone && *cipher != kCipherAes256Gcm) {
    return Status::NewerFormat("catalog " + db.path() + ": unknown cipher '" + *cipher +
                               "'; upgrade katamari");
  }
  st.encrypted = *cipher == kCipherAes256Gcm;
  // Optional (a catalog migrated within format 8 always has it): on.
  auto delta = GetMetaInt(db, "delta_chunks");
  if (!delta.ok() && !delta.status().IsNotFound()) return delta.status();
  st.delta_chunks = !delta.ok() || *delta != 0;
  return st;
}

Status StoreCompression(sql::Db& db, Codec codec, int level) {
  RETURN_IF_ERROR(PutText(db, "compression", CodecName(codec)));
  return PutInt(db, "compression_level", level);
}

// ---- BLOB encodings

namespace {

void PutU32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
               static_cast<char>(v >> 24)};
  out->append(b, 4);
}
uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} | uint32_t{u[1]} << 8 | uint32_t{u[2]} << 16 | uint32_t{u[3]} << 24;
}

Status BadBlob(const std::string& what, const char* column) {
  return Status::Corruption("catalog: the " + std::string(column) + " column of " + what +
                            " is malformed; run `katamari fsck` and restore catalog.db from a "
                            "backup");
}

}  // namespace

std::string EncodeChunks(const std::vector<ChunkRef>& chunks) {
  std::string out;
  out.reserve(chunks.size() * kPackedChunkSize);
  for (const ChunkRef& c : chunks) {
    out.append(reinterpret_cast<const char*>(c.id.bytes.data()), 32);
    PutU32(&out, c.raw_len);
    PutU32(&out, c.stored_len);
  }
  return out;
}

Result<std::vector<ChunkRef>> DecodeChunks(std::string_view blob, const std::string& what) {
  if (blob.size() % kPackedChunkSize != 0) return BadBlob(what, "chunks");
  std::vector<ChunkRef> out(blob.size() / kPackedChunkSize);
  const char* p = blob.data();
  for (ChunkRef& c : out) {
    std::memcpy(c.id.bytes.data(), p, 32);
    c.raw_len = GetU32(p + 32);
    c.stored_len = GetU32(p + 36);
    p += kPackedChunkSize;
  }
  return out;
}

Result<std::optional<ChunkLocation>> LocationAt(const sql::Query& q, int col,
                                                uint32_t stored_len) {
  if (q.IsNull(col) && q.IsNull(col + 1)) return std::optional<ChunkLocation>();
  std::string_view pack = q.Blob(col);
  if (pack.size() != 16 || q.Type(col + 1) != SQLITE_INTEGER || q.Int(col + 1) < 0) {
    return Status::Corruption("catalog: a chunk row has a malformed pack location; run "
                              "`katamari fsck`");
  }
  ChunkLocation loc;
  std::memcpy(loc.pack.data(), pack.data(), 16);
  loc.offset = q.U64(col + 1);
  loc.length = stored_len;
  return std::optional<ChunkLocation>(loc);
}

std::string VersionAad(std::string_view label, InodeId ino, VersionNo vno) {
  std::string out(label);
  for (uint64_t v : {ino.value, vno.value}) {
    PutU32(&out, static_cast<uint32_t>(v));
    PutU32(&out, static_cast<uint32_t>(v >> 32));
  }
  return out;
}

std::string XattrAad(std::string_view name) {
  std::string out(kAadXattrValue);
  out.append(name);
  return out;
}

std::string EncodeXattrs(const Xattrs& x) {
  std::string out;
  for (const auto& [name, value] : x) {
    PutU32(&out, static_cast<uint32_t>(name.size()));
    out.append(name);
    PutU32(&out, static_cast<uint32_t>(value.size()));
    out.append(value);
  }
  return out;
}

Result<Xattrs> DecodeXattrs(std::string_view blob, const std::string& what) {
  Xattrs out;
  while (!blob.empty()) {
    std::string_view parts[2];
    for (std::string_view& part : parts) {
      if (blob.size() < 4) return BadBlob(what, "xattrs");
      uint32_t n = GetU32(blob.data());
      blob.remove_prefix(4);
      if (blob.size() < n) return BadBlob(what, "xattrs");
      part = blob.substr(0, n);
      blob.remove_prefix(n);
    }
    out.emplace(std::string(parts[0]), std::string(parts[1]));
  }
  return out;
}

}  // namespace katamari::catalog_format

// ---- test hooks

namespace katamari::catalog_testing {

ScopedMigrationSteps::ScopedMigrationSteps(std::vector<catalog_format::MigrationStep> steps) {
  catalog_format::g_step_override = new std::vector<catalog_format::MigrationStep>(
      std::move(steps));
}
ScopedMigrationSteps::~ScopedMigrationSteps() {
  delete catalog_format::g_step_override;
  catalog_format::g_step_override = nullptr;
}

}  // namespace katamari::catalog_testing

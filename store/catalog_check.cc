// Catalog::CheckIntegrity: fsck's checks of catalog.db itself. SQLite's own
// integrity and foreign-key checks find damaged pages and dangling rows; the
// reference count check finds rows that are readable but disagree (both
// levels: segments against version lists, chunks against segments).
//
// Every query error is reported as a problem: a catalog that cannot be read
// completely is never "ok".
#include <map>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"
#include "store/catalog_segments.h"

namespace katamari {

namespace {

constexpr int kMaxIntegrityRows = 100;  // SQLite stops after this many errors
constexpr size_t kMaxRefProblems = 100;

constexpr char kSqlIntegrity[] = "PRAGMA integrity_check(100)";
constexpr char kSqlForeignKeys[] = "PRAGMA foreign_key_check";
constexpr char kSqlChunkRefs[] = "SELECT id, refs FROM chunks";
// Delta chunks hold one reference on their base each (format 8).
constexpr char kSqlDeltaBases[] =
    "SELECT id, delta_base FROM chunks WHERE delta_base IS NOT NULL";
constexpr char kSqlHasChunk[] = "SELECT 1 FROM chunks WHERE id = ?1";
constexpr char kSqlVersionChunkLists[] = "SELECT ino, vno, chunk_count, chunks FROM versions";
constexpr char kSqlSegments[] =
    "SELECT id, hash, refs, chunk_count, size, chunks FROM segments";
constexpr char kSqlDanglingCurrent[] =
    "SELECT i.id, i.current_version FROM inodes i WHERE i.current_version != 0 AND NOT EXISTS "
    "(SELECT 1 FROM versions v WHERE v.ino = i.id AND v.vno = i.current_version)";
// Special files (kinds 4..7) are entries without content; only devices
// have an rdev.
constexpr char kSqlBadSpecial[] =
    "SELECT i.id, i.kind FROM inodes i WHERE (i.kind >= 4 AND (i.size != 0 OR "
    "i.current_version != 0 OR i.symlink_target IS NOT NULL OR "
    "EXISTS (SELECT 1 FROM versions v WHERE v.ino = i.id))) "
    "OR (i.rdev != 0 AND i.kind NOT IN (6, 7))";

using Problems = std::vector<std::string>;

// Runs `fn` and turns a failure into one problem naming the check.
template <class Fn>
void Check(const char* name, Problems* out, Fn fn) {
  Status st = fn();
  if (!st.ok()) out->push_back(std::string(name) + " could not run: " + st.ToString());
}

Status IntegrityCheck(Catalog::Impl& impl, Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlIntegrity));
  int rows = 0;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    std::string line = q.Str(0);
    if (line == "ok") continue;
    if (++rows <= kMaxIntegrityRows) out->push_back("SQLite integrity check: " + line);
  }
  return Status::OK();
}

Status ForeignKeyCheck(Catalog::Impl& impl, Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlForeignKeys));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    out->push_back("row " + std::to_string(q.Int(1)) + " of table " + q.Str(0) +
                   " refers to a missing row of table " + q.Str(2));
  }
}

struct SegmentFacts {
  int64_t refs = 0;
  uint64_t chunk_count = 0;
  uint64_t uses = 0;  // occurrences in version lists
};

void Report(size_t* bad, Problems* out, std::string line) {
  if (++*bad <= kMaxRefProblems) out->push_back(std::move(line));
}

// Every segment row: its key, counts and holes; the chunk occurrences it
// holds, counted per occurrence as chunks.refs is (docs/catalog.md).
Status ReadSegments(Catalog::Impl& impl, std::map<int64_t, SegmentFacts>* segs,
                    std::map<ChunkId, uint64_t>* counts, size_t* bad, Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSegments));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    const int64_t id = q.Int(0);
    const std::string what = "segment " + std::to_string(id);
    SegmentFacts& f = (*segs)[id];
    f.refs = q.Int(2);
    f.chunk_count = q.U64(3);
    auto chunks = catalog_format::DecodeChunks(q.Blob(5), what);
    if (!chunks.ok()) {
      out->push_back(chunks.status().message());
      continue;
    }
    uint64_t size = 0;
    for (const ChunkRef& c : *chunks) {
      size += c.raw_len;
      if (!c.IsHole()) {
        ++(*counts)[c.id];
      } else if (c.stored_len != 0) {  // holes store nothing (docs/catalog.md)
        out->push_back(what + " has a hole ref with stored length " +
                       std::to_string(c.stored_len));
      }
    }
    const Digest key = catalog_segments::SegmentHash(chunks->data(), chunks->size());
    if (q.Blob(1) != std::string_view(reinterpret_cast<const char*>(key.bytes.data()), 32)) {
      Report(bad, out, what + " is not stored under the key of its chunks");
    }
    if (chunks->size() != f.chunk_count || size != q.U64(4)) {
      Report(bad, out, what + " holds " + std::to_string(chunks->size()) + " chunks of " +
                           std::to_string(size) + " bytes but records " +
                           std::to_string(f.chunk_count) + " chunks of " +
                           std::to_string(q.U64(4)) + " bytes");
    }
    f.chunk_count = chunks->size();
  }
}

// Every version list: its segments exist, and its chunk_count adds up.
Status ReadVersionLists(Catalog::Impl& impl, std::map<int64_t, SegmentFacts>* segs, size_t* bad,
                        Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionChunkLists));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    const std::string what = "version " + std::to_string(q.Int(1)) + " of inode " +
                             std::to_string(q.Int(0));
    auto ids = catalog_segments::DecodeList(q.Blob(3), what);
    if (!ids.ok()) {
      out->push_back(ids.status().message());
      continue;
    }
    uint64_t chunks = 0;
    bool complete = true;
    for (int64_t id : *ids) {
      auto it = segs->find(id);
      if (it == segs->end()) {
        Report(bad, out, what + " lists segment " + std::to_string(id) + ", which does not exist");
        complete = false;
        continue;
      }
      ++it->second.uses;
      chunks += it->second.chunk_count;
    }
    if (complete && chunks != q.U64(2)) {
      out->push_back(what + " lists " + std::to_string(chunks) +
                     " chunks but records chunk_count " + std::to_string(q.Int(2)));
    }
  }
}

Status RefsCheck(Catalog::Impl& impl, Problems* out) {
  std::map<int64_t, SegmentFacts> segs;
  std::map<ChunkId, uint64_t> counts;
  size_t bad = 0;
  RETURN_IF_ERROR(ReadSegments(impl, &segs, &counts, &bad, out));
  RETURN_IF_ERROR(ReadVersionLists(impl, &segs, &bad, out));
  for (const auto& [id, f] : segs) {
    if (f.refs >= 0 && static_cast<uint64_t>(f.refs) == f.uses && f.uses > 0) continue;
    Report(&bad, out, "segment " + std::to_string(id) + " has refs " + std::to_string(f.refs) +
                          " but versions list it " + std::to_string(f.uses) + " times");
  }
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeltaBases));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ASSIGN_OR_RETURN(ChunkId id, q.DigestAt(0));
      ASSIGN_OR_RETURN(ChunkId base, q.DigestAt(1));
      ++counts[base];
      ASSIGN_OR_RETURN(sql::Query h, impl.db->Prepare(kSqlHasChunk));
      h.Bind(1, base);
      ASSIGN_OR_RETURN(bool has, h.Step());
      if (!has) {
        Report(&bad, out, "chunk " + id.Hex() + " is a delta on chunk " + base.Hex() +
                              ", which the catalog does not record");
      }
    }
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlChunkRefs));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(ChunkId id, q.DigestAt(0));
    auto it = counts.find(id);
    const uint64_t want = it == counts.end() ? 0 : it->second;
    const int64_t refs = q.Int(1);
    if (refs >= 0 && static_cast<uint64_t>(refs) == want) continue;
    Report(&bad, out, "chunk " + id.Hex() + " has refs " + std::to_string(refs) +
                          " but segments and delta chunks reference it " + std::to_string(want) +
                          " times");
  }
  if (bad > kMaxRefProblems) {
    out->push_back(std::to_string(bad - kMaxRefProblems) +
                   " more segments or chunks with wrong refs");
  }
  return Status::OK();
}

Status CurrentVersionCheck(Catalog::Impl& impl, Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDanglingCurrent));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    out->push_back("inode " + std::to_string(q.Int(0)) + " shows version " +
                   std::to_string(q.Int(1)) + ", which does not exist");
  }
}

Status SpecialFileCheck(Catalog::Impl& impl, Problems* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlBadSpecial));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    out->push_back("inode " + std::to_string(q.Int(0)) + " (a " +
                   FileKindName(static_cast<FileKind>(q.Int(1))) +
                   ") records content, a symlink target or a device number it cannot have");
  }
}

}  // namespace

std::vector<std::string> Catalog::CheckIntegrity() {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  Problems out;
  // One read snapshot: a commit of another process (a mount) between the
  // queries below would otherwise show as wrong reference counts.
  auto snapshot = sql::Txn::Begin(*impl.db, /*write=*/false);
  if (!snapshot.ok()) out.push_back("cannot begin a read: " + snapshot.status().ToString());
  Check("SQLite integrity check", &out, [&] { return IntegrityCheck(impl, &out); });
  Check("SQLite foreign key check", &out, [&] { return ForeignKeyCheck(impl, &out); });
  Check("reference count check", &out, [&] { return RefsCheck(impl, &out); });
  Check("current version check", &out, [&] { return CurrentVersionCheck(impl, &out); });
  Check("special file check", &out, [&] { return SpecialFileCheck(impl, &out); });
  for (std::string& p : out) p = "catalog " + impl.path + ": " + p;
  return out;
}

}  // namespace katamari

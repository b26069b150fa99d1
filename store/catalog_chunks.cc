// Catalog chunk rows: which chunks exist, garbage (refs 0) taken by gc with
// the bases delta chunks held, and whole-bucket listings and facts.
// Reference counting is described in catalog_versions.cc.
#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"
#include "store/gc_model.h"

namespace katamari {

namespace {

constexpr char kSqlHaveChunk[] = "SELECT 1 FROM chunks WHERE id = ?1";
constexpr char kSqlGarbage[] =
    "SELECT id, raw_len, stored_len, pack_id, pack_offset FROM chunks WHERE refs = 0";
constexpr char kSqlDeleteGarbage[] = "DELETE FROM chunks WHERE refs = 0";
// The bases the garbage rows held (delta chunks, format 8): one reference
// each goes with the row; a base that reaches 0 is garbage in the same
// transaction.
constexpr char kSqlGarbageBases[] =
    "SELECT delta_base FROM chunks WHERE refs = 0 AND delta_base IS NOT NULL";
constexpr char kSqlReleaseBase[] = "UPDATE chunks SET refs = refs - 1 WHERE id = ?1 AND refs > 0";
constexpr char kSqlGarbageIds[] = "SELECT id FROM chunks WHERE refs = 0";
constexpr char kSqlChunkRow[] = "SELECT refs, stored_len, delta_base FROM chunks WHERE id = ?1";
constexpr char kSqlAllChunks[] =
    "SELECT id, raw_len, stored_len, pack_id, pack_offset FROM chunks ORDER BY id";
constexpr char kSqlAllVersions[] = "SELECT ino, vno FROM versions ORDER BY ino, vno";
constexpr char kSqlStats[] =
    "SELECT (SELECT count(*) FROM inodes), (SELECT count(*) FROM inodes WHERE kind = 1), "
    "(SELECT count(*) FROM versions), (SELECT coalesce(sum(size), 0) FROM versions), "
    "(SELECT count(*) FROM chunks), (SELECT coalesce(sum(stored_len), 0) FROM chunks), "
    "(SELECT coalesce(sum(raw_len), 0) FROM chunks)";

}  // namespace

std::vector<bool> Catalog::HaveChunks(const std::vector<ChunkId>& ids) {
  std::lock_guard<std::mutex> l(impl_->mu);
  // An error answers "no": the writer then stores the chunk again, which is
  // always safe.
  std::vector<bool> out(ids.size(), false);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto q = impl_->db->Prepare(kSqlHaveChunk);
    if (!q.ok()) break;
    q->Bind(1, ids[i]);
    auto row = q->Step();
    out[i] = row.ok() && *row;
  }
  return out;
}

Result<std::vector<ChunkRef>> CollectChunks(sql::Query& q) {
  std::vector<ChunkRef> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    ChunkRef c;
    ASSIGN_OR_RETURN(c.id, q.DigestAt(0));
    c.raw_len = static_cast<uint32_t>(q.Int(1));
    c.stored_len = static_cast<uint32_t>(q.Int(2));
    ASSIGN_OR_RETURN(c.loc, catalog_format::LocationAt(q, 3, c.stored_len));
    out.push_back(c);
  }
}

Result<std::vector<ChunkRef>> Catalog::TakeGarbageChunks() {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  {
    // Cheap check first so that a gc with nothing to do records no commit.
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlGarbage));
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return std::vector<ChunkRef>();
  }
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  std::vector<ChunkRef> out;
  // Rounds: each frees the bases of the round before (a chain of at most
  // kMaxDeltaChain links; the bound also ends a tampered cyclic one).
  for (int round = 0; round <= kMaxDeltaChain + 1; ++round) {
    std::vector<ChunkRef> some;
    {
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlGarbage));
      ASSIGN_OR_RETURN(some, CollectChunks(q));
    }
    if (some.empty()) break;
    std::vector<ChunkId> bases;
    {
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlGarbageBases));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, q.Step());
        if (!row) break;
        ASSIGN_OR_RETURN(ChunkId b, q.DigestAt(0));
        bases.push_back(b);
      }
    }
    {
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteGarbage));
      RETURN_IF_ERROR(q.Run());
    }
    for (const ChunkId& b : bases) {
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlReleaseBase));
      q.Bind(1, b);
      RETURN_IF_ERROR(q.Run());
    }
    out.insert(out.end(), some.begin(), some.end());
  }
  RETURN_IF_ERROR(w.txn.Commit());
  return out;
}

Result<uint64_t> StoredBytesGcWouldFree(sql::Db& db, const std::map<ChunkId, uint64_t>& dropped) {
  std::vector<ChunkId> garbage;
  {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlGarbageIds));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      ASSIGN_OR_RETURN(ChunkId id, q.DigestAt(0));
      garbage.push_back(id);
    }
  }
  auto row = [&db](const ChunkId& id) -> Result<GcRow> {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlChunkRow));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool found, q.Step());
    GcRow r;
    if (found) {
      r.present = true;
      r.refs = q.U64(0);
      r.stored = q.U64(1);
      if (!q.IsNull(2)) {
        ASSIGN_OR_RETURN(r.base, q.DigestAt(2));
      }
    }
    return r;
  };
  GcModel gc(row, std::move(garbage));
  return gc.StoredBytesFreed(dropped);
}

Result<std::vector<ChunkRef>> Catalog::AllChunks() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlAllChunks));
  return CollectChunks(q);
}

Result<std::vector<Catalog::VersionKey>> Catalog::AllVersions() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlAllVersions));
  std::vector<VersionKey> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(VersionKey{InodeId(q.U64(0)), VersionNo(q.U64(1))});
  }
}

Result<Catalog::Stats> Catalog::GetStats() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlStats));
  RETURN_IF_ERROR(q.Step().status());
  Stats s;
  s.inodes = q.U64(0);
  s.files = q.U64(1);
  s.versions = q.U64(2);
  s.logical_bytes = q.U64(3);
  s.chunks = q.U64(4);
  s.chunk_stored_bytes = q.U64(5);
  s.chunk_raw_bytes = q.U64(6);
  return s;
}

}  // namespace katamari

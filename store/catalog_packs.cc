// Pack locations of chunk rows (docs/pack-format.md, docs/catalog.md "chunks").
#include <cstring>

#include "store/catalog.h"
#include "store/catalog_format.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

constexpr char kSqlLocation[] =
    "SELECT stored_len, pack_id, pack_offset FROM chunks WHERE id = ?1";
constexpr char kSqlForget[] =
    "UPDATE chunks SET pack_id = NULL, pack_offset = NULL "
    "WHERE id = ?1 AND pack_id = ?2 AND pack_offset = ?3";
constexpr char kSqlUsage[] =
    "SELECT pack_id, count(*), sum(stored_len) FROM chunks WHERE pack_id IS NOT NULL "
    "GROUP BY pack_id";
constexpr char kSqlUsageOf[] =
    "SELECT count(*), coalesce(sum(stored_len), 0) FROM chunks WHERE pack_id = ?1";
constexpr char kSqlInUse[] = "SELECT EXISTS (SELECT 1 FROM chunks WHERE pack_id = ?1)";
constexpr char kSqlInPack[] =
    "SELECT id, raw_len, stored_len, pack_id, pack_offset FROM chunks WHERE pack_id = ?1 "
    "ORDER BY pack_offset";
constexpr char kSqlMove[] =
    "UPDATE chunks SET pack_id = ?4, pack_offset = ?5 "
    "WHERE id = ?1 AND pack_id = ?2 AND pack_offset = ?3";

std::string_view PackBlob(const std::array<uint8_t, 16>& p) {
  return std::string_view(reinterpret_cast<const char*>(p.data()), p.size());
}

}  // namespace

Result<std::optional<ChunkLocation>> Catalog::ChunkLocationOf(const ChunkId& id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlLocation));
  q.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no catalog row for chunk " + id.Hex());
  return catalog_format::LocationAt(q, 1, static_cast<uint32_t>(q.Int(0)));
}

Status Catalog::ForgetChunkLocation(const ChunkId& id, const ChunkLocation& loc) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl_->db, /*write=*/true));
  {
    ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlForget));
    q.Bind(1, id).Bind(2, PackBlob(loc.pack)).Bind(3, static_cast<int64_t>(loc.offset));
    RETURN_IF_ERROR(q.Run());
  }
  return txn.Commit();
}

Result<Catalog::PackUse> Catalog::PackUsageOf(const std::array<uint8_t, 16>& pack) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlUsageOf));
  q.Bind(1, PackBlob(pack));
  ASSIGN_OR_RETURN(bool row, q.Step());
  PackUse u;
  u.pack = pack;
  if (!row) return u;
  u.chunks = q.U64(0);
  u.live_bytes = q.U64(1) + u.chunks * 48;  // kPackRecordHeaderSize per record
  return u;
}

Result<std::vector<Catalog::PackUse>> Catalog::PackUsage() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlUsage));
  std::vector<PackUse> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    std::string_view p = q.Blob(0);
    if (p.size() != 16) continue;  // malformed: fsck's CheckIntegrity reports rows
    PackUse u;
    std::memcpy(u.pack.data(), p.data(), 16);
    u.chunks = q.U64(1);
    u.live_bytes = q.U64(2) + u.chunks * 48;  // kPackRecordHeaderSize per record
    out.push_back(u);
  }
}

Result<bool> Catalog::PackInUse(const std::array<uint8_t, 16>& pack) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlInUse));
  q.Bind(1, PackBlob(pack));
  RETURN_IF_ERROR(q.Step().status());
  return q.Int(0) != 0;
}

Result<std::vector<ChunkRef>> Catalog::ChunksInPack(const std::array<uint8_t, 16>& pack) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlInPack));
  q.Bind(1, PackBlob(pack));
  return CollectChunks(q);
}

Result<uint64_t> Catalog::MoveChunks(const std::vector<ChunkRef>& from,
                                     const std::vector<ChunkLocation>& to) {
  if (from.size() != to.size()) return Status::InvalidArgument("MoveChunks: sizes differ");
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl_->db, /*write=*/true));
  uint64_t moved = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    if (!from[i].loc) continue;
    ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlMove));
    q.Bind(1, from[i].id)
        .Bind(2, PackBlob(from[i].loc->pack))
        .Bind(3, static_cast<int64_t>(from[i].loc->offset))
        .Bind(4, PackBlob(to[i].pack))
        .Bind(5, static_cast<int64_t>(to[i].offset));
    RETURN_IF_ERROR(q.Run());
    moved += impl_->db->Changes();
  }
  RETURN_IF_ERROR(txn.Commit());
  return moved;
}

}  // namespace katamari

// Catalog side of batched durability (docs/semantics.md, Durability): the
// durable mark, meta rows `durable_seq` and `durable_time_ns`. Every version
// with seq <= durable_seq had its chunk data on disk when the mark was
// written (Bucket::SyncPoint takes the seq, makes the chunk data durable,
// and only then records the mark). Versions after it are checked when a
// daemon starts (Bucket::RecoverUnsynced). Plain meta rows: no format change.
// A catalog without them was only written by builds that synced chunk data
// before every row: all of it is durable.
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

constexpr char kSqlGetMark[] =
    "SELECT (SELECT value FROM meta WHERE key = 'durable_seq'), "
    "(SELECT value FROM meta WHERE key = 'durable_time_ns')";
// The mark only moves forward (two processes' sync points may finish in
// either order).
constexpr char kSqlSetMark[] =
    "INSERT INTO meta(key, value) VALUES('durable_seq', ?1), ('durable_time_ns', ?2) "
    "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)";
constexpr char kSqlVersionsAfter[] =
    "SELECT ino, vno FROM versions WHERE seq > ?1 ORDER BY ino, vno";

}  // namespace

Result<Catalog::DurableMark> Catalog::GetDurableMark() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlGetMark));
  ASSIGN_OR_RETURN(bool row, q.Step());
  DurableMark m;
  if (row) {
    if (!q.IsNull(0)) {
      m.seq = Seq(q.U64(0));
      m.recorded = true;
    }
    if (!q.IsNull(1)) m.time_ns = q.Int(1);
  }
  return m;
}

Status Catalog::SetDurableMark(const DurableMark& m) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only()) {
    return Status::ReadOnly("catalog " + impl.path + " is open read-only");
  }
  // No commit row: nothing a time view shows changed.
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSetMark));
  q.BindAll(m.seq, m.time_ns);
  RETURN_IF_ERROR(q.Run());
  return txn.Commit();
}

Result<std::vector<Catalog::VersionKey>> Catalog::VersionsAfter(Seq seq) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlVersionsAfter));
  q.Bind(1, seq);
  std::vector<VersionKey> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back({InodeId(q.U64(0)), VersionNo(q.U64(1))});
  }
}

}  // namespace katamari

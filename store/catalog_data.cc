// Catalog side of data backends (data_backend.h): meta rows `data_url`,
// `data_credentials`, `data_id`. Plain meta rows: no format change; a
// catalog without them keeps its data in the bucket directory.
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

constexpr char kSqlGet[] =
    "SELECT (SELECT value FROM meta WHERE key = 'data_url'), "
    "(SELECT value FROM meta WHERE key = 'data_credentials'), "
    "(SELECT value FROM meta WHERE key = 'data_id')";
constexpr char kSqlSet[] =
    "INSERT OR REPLACE INTO meta(key, value) VALUES('data_url', ?1), "
    "('data_credentials', ?2), ('data_id', ?3)";

}  // namespace

Result<DataBackend> Catalog::GetDataBackend() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlGet));
  ASSIGN_OR_RETURN(bool row, q.Step());
  DataBackend d;
  if (row && !q.IsNull(0)) {
    d.url = q.Str(0);
    if (!q.IsNull(1)) d.credentials = q.Str(1);
    if (!q.IsNull(2)) d.id = q.Str(2);
  }
  return d;
}

Status Catalog::SetDataBackend(const DataBackend& d) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only()) {
    return Status::ReadOnly("catalog " + impl.path + " is open read-only");
  }
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSet));
  q.BindText(1, d.url).BindText(2, d.credentials).BindText(3, d.id);
  RETURN_IF_ERROR(q.Run());
  RETURN_IF_ERROR(txn.Commit());
  return Status::OK();
}

}  // namespace katamari

// Catalog::SetVersionSha256: filling in a version's pending SHA-256
// (docs/catalog.md, "versions"). A commit with holes records the empty blob
// instead of the digest, so that the close path never hashes the zeros; the
// first request (Bucket::CompleteSha256) computes it and stores it here.
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

// Only the row made by that commit, and only while still pending: an amended
// row (same number, other content) or one completed meanwhile is left alone.
constexpr char kSqlSetSha256[] =
    "UPDATE versions SET sha256 = ?4 WHERE ino = ?1 AND vno = ?2 AND seq = ?3 "
    "AND length(sha256) = 0";

}  // namespace

Status Catalog::SetVersionSha256(InodeId ino, VersionNo vno, Seq seq, const Sha256& sha) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only()) {
    return Status::ReadOnly("catalog " + impl.path + " is open read-only");
  }
  const std::string_view plain(reinterpret_cast<const char*>(sha.bytes.data()),
                               sha.bytes.size());
  ASSIGN_OR_RETURN(std::string col,
                   impl.Seal(catalog_format::VersionAad(catalog_format::kAadVersionSha256, ino,
                                                        vno),
                             plain));
  // No commit row: the content did not change, time views are unaffected.
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSetSha256));
  q.BindAll(ino, vno, seq, std::string_view(col));
  RETURN_IF_ERROR(q.Run());
  return txn.Commit();
}

}  // namespace katamari

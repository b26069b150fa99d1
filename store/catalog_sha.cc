// Catalog::SetVersionSha256: filling in a version's pending SHA-256
// (docs/catalog.md, "versions"). A commit with holes records the empty blob
// instead of the digest, so that the close path never hashes the zeros; the
// first request (Bucket::CompleteSha256) or the background completion
// (bucket_sha.cc) computes it and stores it here.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

// Only the row made by that commit, and only while still pending: an amended
// row (same number, other content) or one completed meanwhile is left alone.
constexpr char kSqlSetSha256[] =
    "UPDATE versions SET sha256 = ?4 WHERE ino = ?1 AND vno = ?2 AND seq = ?3 "
    "AND length(sha256) = 0";

// length() of a BLOB reads only the record header, not the value; the scan
// still visits every version row (no index: docs/catalog.md, "versions").
// ?3: only versions no newer one of the same file superseded (one seek in
// the primary key per pending version).
constexpr char kSqlPendingSha256[] =
    "SELECT ino, vno, seq, size FROM versions AS v WHERE length(sha256) = 0 AND size <= ?1 "
    "AND (?3 = 0 OR NOT EXISTS (SELECT 1 FROM versions AS w WHERE w.ino = v.ino AND "
    "w.vno > v.vno)) ORDER BY size, ino, vno LIMIT ?2";
constexpr char kSqlNewerVersion[] = "SELECT 1 FROM versions WHERE ino = ?1 AND vno > ?2 LIMIT 1";

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

Result<bool> Catalog::Superseded(InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlNewerVersion));
  q.BindAll(ino, vno);
  return q.Step();
}

Result<std::vector<Catalog::PendingSha>> Catalog::PendingSha256(uint64_t max_size, size_t limit,
                                                                bool newest_only) {
  std::lock_guard<std::mutex> l(impl_->mu);
  // SQLite integers are signed: a bound past INT64_MAX means "any size".
  const int64_t bound = static_cast<int64_t>(std::min<uint64_t>(max_size, INT64_MAX));
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlPendingSha256));
  q.BindAll(bound, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)),
            int64_t{newest_only ? 1 : 0});
  std::vector<PendingSha> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back({InodeId(q.U64(0)), VersionNo(q.U64(1)), Seq(q.U64(2)), q.U64(3)});
  }
  return out;
}

}  // namespace katamari

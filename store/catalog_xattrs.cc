// Xattr edits made together with another change (Catalog::SetAttr,
// CreateNode): a POSIX ACL and the mode it implies are one transaction, and
// the ACL of the current version follows the live one as its mode does.
#include <string>

#include "store/catalog.h"
#include "store/catalog_format.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

// Longest xattr value Linux accepts (XATTR_SIZE_MAX).
constexpr size_t kMaxXattrValue = 65536;
constexpr std::string_view kAclPrefix = "system.posix_acl_";

constexpr char kSqlPutXattr[] =
    "INSERT OR REPLACE INTO xattrs(ino, name, value) VALUES(?1, ?2, ?3)";
constexpr char kSqlRemoveXattr[] = "DELETE FROM xattrs WHERE ino = ?1 AND name = ?2";
constexpr char kSqlCurrentVersion[] = "SELECT current_version FROM inodes WHERE id = ?1";
constexpr char kSqlVersionXattrs[] = "SELECT xattrs FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlSetVersionXattrs[] =
    "UPDATE versions SET xattrs = ?3 WHERE ino = ?1 AND vno = ?2";

Status ValidateEdit(const std::string& name, const std::optional<std::string>& value) {
  if (name.empty() || name.size() > 255) {
    return Status::InvalidArgument("xattr name " + QuoteName(name) +
                                   " must be 1 to 255 bytes long");
  }
  if (value && value->size() > kMaxXattrValue) {
    return Status::InvalidArgument("xattr " + QuoteName(name) + " has a value of " +
                                   std::to_string(value->size()) + " bytes, more than 65536");
  }
  return Status::OK();
}

bool EditsAcl(const XattrEdits& edits) {
  for (const auto& [name, value] : edits) {
    if (name.starts_with(kAclPrefix)) return true;
  }
  return false;
}

// The ACL names of `edits` applied to the current version's xattr snapshot
// (the user.* names stay as they were committed).
Status RestampCurrentAcls(Catalog::Impl& impl, InodeId ino, const XattrEdits& edits) {
  VersionNo cur;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlCurrentVersion));
    q.Bind(1, ino);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("no inode " + std::to_string(ino.value));
    cur = VersionNo(q.U64(0));
  }
  if (cur.value == 0) return Status::OK();
  const std::string aad = catalog_format::VersionAad(catalog_format::kAadVersionXattrs, ino, cur);
  const std::string what = "inode " + std::to_string(ino.value) + " version " +
                           std::to_string(cur.value);
  Xattrs snapshot;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionXattrs));
    q.BindAll(ino, cur);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();  // no row: nothing to restamp
    ASSIGN_OR_RETURN(std::string plain, impl.Unseal(aad, q.Blob(0), "xattrs of " + what));
    ASSIGN_OR_RETURN(snapshot, catalog_format::DecodeXattrs(plain, what));
  }
  for (const auto& [name, value] : edits) {
    if (!name.starts_with(kAclPrefix)) continue;
    if (value) {
      snapshot[name] = *value;
    } else {
      snapshot.erase(name);
    }
  }
  ASSIGN_OR_RETURN(std::string sealed, impl.Seal(aad, catalog_format::EncodeXattrs(snapshot)));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSetVersionXattrs));
  q.BindAll(ino, cur, std::string_view(sealed));
  return q.Run();
}

}  // namespace

Status Catalog::Impl::ApplyXattrEdits(InodeId ino, const XattrEdits& edits) {
  for (const auto& [name, value] : edits) RETURN_IF_ERROR(ValidateEdit(name, value));
  for (const auto& [name, value] : edits) {
    if (value) {
      ASSIGN_OR_RETURN(std::string stored, Seal(catalog_format::XattrAad(name), *value));
      ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlPutXattr));
      q.BindAll(ino, name, std::string_view(stored));
      RETURN_IF_ERROR(q.Run());
    } else {
      ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlRemoveXattr));
      q.BindAll(ino, name);
      RETURN_IF_ERROR(q.Run());
    }
  }
  if (!EditsAcl(edits)) return Status::OK();
  return RestampCurrentAcls(*this, ino, edits);
}

}  // namespace katamari

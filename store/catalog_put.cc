// Catalog::Put: the key API's put as one transaction (directories on the way,
// the file, its live xattrs, its version), so that a crash or a failure at any
// point leaves either the whole put or nothing; never a name without content.
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

// Longest xattr value Linux accepts (XATTR_SIZE_MAX).
constexpr size_t kMaxXattrValue = 65536;

constexpr char kSqlDropXattrs[] = "DELETE FROM xattrs WHERE ino = ?1";
constexpr char kSqlInsertXattr[] = "INSERT INTO xattrs(ino, name, value) VALUES(?1, ?2, ?3)";

Status ValidateXattrs(const Xattrs& xattrs) {
  for (const auto& [name, value] : xattrs) {
    if (name.empty() || name.size() > 255) {
      return Status::InvalidArgument("xattr name " + QuoteName(name) +
                                     " must be 1 to 255 bytes long");
    }
    if (value.size() > kMaxXattrValue) {
      return Status::InvalidArgument("xattr " + QuoteName(name) + " has a value of " +
                                     std::to_string(value.size()) +
                                     " bytes, more than 65536");
    }
  }
  return Status::OK();
}

// The live entry `name` of `dir`, created from `node` if there is none.
// `want` is the kind an existing entry must have.
Result<InodeId> FindOrCreate(Catalog::Impl& impl, const Catalog::Impl::Write& w, InodeId dir,
                             const std::string& name, const Catalog::NewNode& node) {
  ASSIGN_OR_RETURN(std::optional<Catalog::Impl::Dentry> d, impl.FindLive(dir, name));
  if (!d) return impl.CreateNodeIn(w, dir, name, node);
  if (d->kind == node.kind) return d->ino;
  if (node.kind == FileKind::kDirectory) {
    return Status::NotDir(QuoteName(name) + " is a file, not a directory");
  }
  return Status::IsDir(QuoteName(name) + " is a " + FileKindName(d->kind) +
                       ", not a regular file");
}

Status ReplaceXattrs(Catalog::Impl& impl, InodeId ino, const Xattrs& xattrs) {
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDropXattrs));
    q.Bind(1, ino);
    RETURN_IF_ERROR(q.Run());
  }
  for (const auto& [name, value] : xattrs) {
    ASSIGN_OR_RETURN(std::string stored, impl.Seal(catalog_format::XattrAad(name), value));
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInsertXattr));
    q.BindAll(ino, std::string_view(name), std::string_view(stored));
    RETURN_IF_ERROR(q.Run());
  }
  return Status::OK();
}

}  // namespace

Result<VersionInfo> Catalog::Put(const PutFile& p) {
  RETURN_IF_ERROR(ValidateXattrs(p.xattrs));
  NewNode dir_node = p.dir_node, file_node = p.file_node;
  dir_node.kind = FileKind::kDirectory;
  file_node.kind = FileKind::kRegular;
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  InodeId dir = kRootInode;
  for (const std::string& d : p.dirs) {
    ASSIGN_OR_RETURN(dir, FindOrCreate(impl, w, dir, d, dir_node));
  }
  ASSIGN_OR_RETURN(InodeId ino, FindOrCreate(impl, w, dir, p.name, file_node));
  RETURN_IF_ERROR(ReplaceXattrs(impl, ino, p.xattrs));
  NewVersion v = p.version;
  v.ino = ino;
  v.xattrs = p.xattrs;
  ASSIGN_OR_RETURN(VersionInfo out, impl.AddVersionIn(w, v));
  RETURN_IF_ERROR(w.txn.Commit());
  return out;
}

}  // namespace katamari

// Catalog namespace changes: create, link, unlink, rmdir, rename, setattr.
// Each public method is one write transaction (one commit / Seq); names are
// never edited in place, only closed (seq_end) and opened (a new row).
#include <algorithm>
#include <cstdint>
#include <string>

#include "store/catalog.h"
#include "store/catalog_format.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

// Longest symlink target Linux accepts (PATH_MAX minus the NUL).
constexpr size_t kMaxSymlinkTarget = 4095;

// A symlink's size is the length of its target (lstat's st_size).
constexpr char kSqlNewInode[] =
    "INSERT INTO inodes(kind, mode, uid, gid, atime_ns, mtime_ns, ctime_ns, symlink_target, "
    "size, rdev) VALUES(?1, ?2, ?3, ?4, ?5, ?5, ?5, ?6, ?7, ?8)";
// The newest closed dentry of a name, if its inode is a nameless regular
// file that still has versions: CreateNode revives it (docs/semantics.md, Version paths).
constexpr char kSqlRevivable[] =
    "SELECT d.ino FROM dentries d JOIN inodes i ON i.id = d.ino "
    "WHERE d.id = (SELECT m.id FROM dentries m WHERE m.parent = ?1 AND m.name = ?2 "
    "  AND m.seq_end IS NOT NULL ORDER BY m.seq_end DESC, m.id DESC LIMIT 1) "
    "AND i.kind = 1 "
    "AND NOT EXISTS (SELECT 1 FROM dentries o WHERE o.ino = d.ino AND o.seq_end IS NULL) "
    "AND EXISTS (SELECT 1 FROM versions v WHERE v.ino = d.ino)";
// A revived inode is a new, empty file to POSIX; only its numbering and
// history carry over, so current_version goes back to 0 until a write.
constexpr char kSqlRevive[] =
    "UPDATE inodes SET mode = ?2, uid = ?3, gid = ?4, atime_ns = ?5, mtime_ns = ?5, "
    "ctime_ns = ?5, size = 0, current_version = 0 WHERE id = ?1";
constexpr char kSqlDropLiveXattrs[] = "DELETE FROM xattrs WHERE ino = ?1";
constexpr char kSqlHasLiveChildren[] =
    "SELECT EXISTS (SELECT 1 FROM dentries INDEXED BY dentries_live "
    "WHERE parent = ?1 AND seq_end IS NULL)";
constexpr char kSqlLiveParent[] =
    "SELECT parent FROM dentries WHERE ino = ?1 AND seq_end IS NULL LIMIT 1";
constexpr char kSqlSetAttr[] =
    "UPDATE inodes SET mode = coalesce(?2, mode), uid = coalesce(?3, uid), "
    "gid = coalesce(?4, gid), atime_ns = coalesce(?5, atime_ns), "
    "mtime_ns = coalesce(?6, mtime_ns), ctime_ns = max(ctime_ns, ?7) WHERE id = ?1";
constexpr char kSqlReadLink[] = "SELECT kind, symlink_target FROM inodes WHERE id = ?1";
// ReadDirPlus: up to ?3 live entries of ?1 from the name ?2 on, each with
// the attributes GetAttr gives (kSqlLoadAttr in catalog.cc: the same nlink;
// a listed directory has a live name, so 2 + its subdirectories). Not the
// chunk lists: held bytes come from Bucket::HeldBytes's cache (a list of a
// big file is hundreds of KB, and a listing is repeated often).
constexpr char kSqlReadDirPlus[] =
    "SELECT d.name, d.ino, i.kind, i.mode, i.uid, i.gid, i.size, i.atime_ns, i.mtime_ns, "
    "i.ctime_ns, i.current_version, i.rdev, CASE WHEN i.kind <> 2 THEN "
    "  (SELECT count(*) FROM dentries n WHERE n.ino = i.id AND n.seq_end IS NULL) "
    "ELSE 2 + (SELECT count(*) FROM dentries n WHERE n.parent = i.id "
    "  AND n.seq_end IS NULL AND n.kind = 2) END "
    "FROM dentries d INDEXED BY dentries_live JOIN inodes i ON i.id = d.ino "
    "WHERE d.parent = ?1 AND d.seq_end IS NULL AND d.name >= ?2 ORDER BY d.name LIMIT ?3";

std::string Ino(InodeId i) { return "inode " + std::to_string(i.value); }

// The live entry `name` of `parent`, or NotFound naming both.
Result<Catalog::Impl::Dentry> LiveEntry(Catalog::Impl& impl, InodeId parent,
                                        std::string_view name) {
  ASSIGN_OR_RETURN(std::optional<Catalog::Impl::Dentry> d, impl.FindLive(parent, name));
  if (!d) return Status::NotFound("no entry " + QuoteName(name) + " in directory " + Ino(parent));
  return *d;
}

Status ValidateNode(const Catalog::NewNode& n) {
  if (n.kind < FileKind::kRegular || n.kind > FileKind::kBlockDevice) {
    return Status::InvalidArgument("unknown file kind " + std::to_string(static_cast<int>(n.kind)));
  }
  if (n.rdev != 0 && !IsDevice(n.kind)) {
    return Status::InvalidArgument(std::string("a ") + FileKindName(n.kind) +
                                   " has no device number");
  }
  if (n.kind != FileKind::kSymlink) return Status::OK();
  const std::string& t = n.symlink_target;
  if (t.empty()) return Status::InvalidArgument("a symlink target must not be empty");
  if (t.size() > kMaxSymlinkTarget) {
    return Status::NameTooLong("symlink target of " + std::to_string(t.size()) +
                               " bytes is longer than 4095 bytes");
  }
  if (t.find('\0') != std::string::npos) {
    return Status::InvalidArgument("a symlink target must not contain NUL");
  }
  return Status::OK();
}

// Whether moving directory `moved` under `new_parent` would put it inside
// itself (rename(2) says EINVAL).
Status CheckNotOwnSubtree(Catalog::Impl& impl, InodeId moved, InodeId new_parent) {
  InodeId cur = new_parent;
  for (int depth = 0; cur != kRootInode; ++depth) {
    if (cur == moved) {
      return Status::InvalidArgument("cannot move directory " + Ino(moved) +
                                     " into its own subtree");
    }
    if (depth > 4096) {
      return Status::Corruption("catalog " + impl.path + ": directory names above " +
                                Ino(new_parent) + " form a cycle; run `katamari fsck`");
    }
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlLiveParent));
    q.Bind(1, cur);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::NotFound("directory " + Ino(cur) + " has been removed");
    cur = InodeId(q.U64(0));
  }
  return Status::OK();
}

Result<bool> HasLiveChildren(Catalog::Impl& impl, InodeId dir) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHasLiveChildren));
  q.Bind(1, dir);
  RETURN_IF_ERROR(q.Step().status());
  return q.Int(0) != 0;
}

// After `ino` lost a name: with versioning off a nameless inode is purged
// (its data becomes garbage for the next gc). A version a live owner pins
// (a file open in a mount reads it) stays, nameless, until it is unpinned
// (Catalog::ReleaseUnpinned); the others go now.
Status AfterNameLost(Catalog::Impl& impl, InodeId ino, int64_t now) {
  RETURN_IF_ERROR(impl.SetTimes(ino, std::nullopt, now));
  if (impl.settings.versioning) return Status::OK();
  ASSIGN_OR_RETURN(int64_t names, impl.LiveNameCount(ino));
  if (names > 0) return Status::OK();
  ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(ino));
  if (pins.empty()) return impl.Purge(ino);
  return impl.DropUnpinned(ino, pins, std::nullopt, nullptr, now);
}

Result<std::optional<InodeId>> FindRevivable(Catalog::Impl& impl, InodeId parent,
                                             std::string_view name) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlRevivable));
  q.BindAll(parent, name);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<InodeId>();
  return std::optional<InodeId>(InodeId(q.U64(0)));
}

// The inode CreateNode names: a revived one or a new row.
Result<InodeId> MakeInode(Catalog::Impl& impl, InodeId parent, std::string_view name,
                          const Catalog::NewNode& n, int64_t t) {
  if (n.kind == FileKind::kRegular && impl.settings.versioning) {
    ASSIGN_OR_RETURN(std::optional<InodeId> old, FindRevivable(impl, parent, name));
    if (old) {
      // The new owner gets the name, not the old owner's versions.
      RETURN_IF_ERROR(impl.NarrowHistory(*old));
      {
        ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlRevive));
        q.BindAll(*old, n.mode & 07777, n.uid, n.gid, t);
        RETURN_IF_ERROR(q.Run());
      }
      ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDropLiveXattrs));
      q.Bind(1, *old);
      RETURN_IF_ERROR(q.Run());
      return *old;
    }
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlNewInode));
  q.BindAll(static_cast<int>(n.kind), n.mode & 07777, n.uid, n.gid, t);
  if (n.kind == FileKind::kSymlink) {
    q.Bind(6, std::string_view(n.symlink_target));
    q.Bind(7, static_cast<int64_t>(n.symlink_target.size()));
  } else {
    q.Bind(6, std::nullopt);
    q.Bind(7, int64_t{0});
  }
  q.Bind(8, n.rdev);
  RETURN_IF_ERROR(q.Run());
  return InodeId(static_cast<uint64_t>(impl.db->LastInsertRowid()));
}

Status NameExists(std::string_view name, InodeId parent) {
  return Status::Exists(QuoteName(name) + " already exists in directory " + Ino(parent));
}

}  // namespace

Result<InodeId> Catalog::Impl::CreateNodeIn(const Write& w, InodeId parent,
                                            std::string_view name, const NewNode& node) {
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateNode(node));
  RETURN_IF_ERROR(CheckLiveDir(parent));
  ASSIGN_OR_RETURN(std::optional<Dentry> existing, FindLive(parent, name));
  if (existing) return NameExists(name, parent);
  int64_t t = node.time_ns != 0 ? node.time_ns : w.time_ns;
  ASSIGN_OR_RETURN(InodeId ino, MakeInode(*this, parent, name, node, t));
  if (!node.xattrs.empty()) {
    XattrEdits edits;
    for (const auto& [n, v] : node.xattrs) edits.emplace(n, v);
    RETURN_IF_ERROR(ApplyXattrEdits(ino, edits));
  }
  RETURN_IF_ERROR(OpenDentry(parent, name, ino, node.kind, w.seq));
  RETURN_IF_ERROR(SetTimes(parent, w.time_ns, w.time_ns));
  return ino;
}

Result<Attr> Catalog::CreateNode(InodeId parent, std::string_view name, const NewNode& node) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(InodeId ino, impl.CreateNodeIn(w, parent, name, node));
  if (node.empty_first_version && node.kind == FileKind::kRegular) {
    ASSIGN_OR_RETURN(Impl::InodeRow r, impl.LoadInode(ino));
    if (r.next_version.value == 1) {  // a new inode, not a revived history
      NewVersion v;
      v.ino = ino;
      v.mtime_ns = node.time_ns != 0 ? node.time_ns : w.time_ns;
      v.sha256 = Impl::EmptyContentSha256();
      RETURN_IF_ERROR(impl.AddVersionIn(w, v).status());
    }
  }
  ASSIGN_OR_RETURN(Attr a, impl.LoadAttr(ino));
  RETURN_IF_ERROR(w.txn.Commit());
  return a;
}

Result<Attr> Catalog::Link(InodeId ino, InodeId new_parent, std::string_view new_name) {
  RETURN_IF_ERROR(ValidateName(new_name));
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl.LoadInode(ino));
  if (r.kind == FileKind::kDirectory) {
    return Status::Permission("cannot hard-link directory " + Ino(ino));
  }
  RETURN_IF_ERROR(impl.CheckLiveDir(new_parent));
  ASSIGN_OR_RETURN(std::optional<Impl::Dentry> existing, impl.FindLive(new_parent, new_name));
  if (existing) return NameExists(new_name, new_parent);
  RETURN_IF_ERROR(impl.OpenDentry(new_parent, new_name, ino, r.kind, w.seq));
  RETURN_IF_ERROR(impl.SetTimes(ino, std::nullopt, w.time_ns));
  RETURN_IF_ERROR(impl.SetTimes(new_parent, w.time_ns, w.time_ns));
  ASSIGN_OR_RETURN(Attr a, impl.LoadAttr(ino));
  RETURN_IF_ERROR(w.txn.Commit());
  return a;
}

Status Catalog::Unlink(InodeId parent, std::string_view name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(Impl::Dentry d, LiveEntry(impl, parent, name));
  if (d.kind == FileKind::kDirectory) {
    return Status::IsDir(QuoteName(name) + " is a directory; remove it with rmdir");
  }
  RETURN_IF_ERROR(impl.CloseDentry(d.id, w.seq));
  RETURN_IF_ERROR(impl.SetTimes(parent, w.time_ns, w.time_ns));
  RETURN_IF_ERROR(AfterNameLost(impl, d.ino, w.time_ns));
  return w.txn.Commit();
}

Status Catalog::RemoveDir(InodeId parent, std::string_view name) {
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(Impl::Dentry d, LiveEntry(impl, parent, name));
  if (d.kind != FileKind::kDirectory) {
    return Status::NotDir(QuoteName(name) + " is not a directory");
  }
  ASSIGN_OR_RETURN(bool busy, HasLiveChildren(impl, d.ino));
  if (busy) return Status::NotEmpty("directory " + QuoteName(name) + " is not empty");
  // The directory's inode row stays: time views of earlier moments walk it.
  RETURN_IF_ERROR(impl.CloseDentry(d.id, w.seq));
  RETURN_IF_ERROR(impl.SetTimes(parent, w.time_ns, w.time_ns));
  RETURN_IF_ERROR(impl.SetTimes(d.ino, std::nullopt, w.time_ns));
  return w.txn.Commit();
}

namespace {

struct RenameArgs {
  InodeId parent;
  std::string_view name;
  InodeId new_parent;
  std::string_view new_name;
  Catalog::Impl::Dentry src;
  std::optional<Catalog::Impl::Dentry> dst;
};

Status Exchange(Catalog::Impl& impl, const Catalog::Impl::Write& w, const RenameArgs& a) {
  if (a.src.kind == FileKind::kDirectory) {
    RETURN_IF_ERROR(CheckNotOwnSubtree(impl, a.src.ino, a.new_parent));
  }
  if (a.dst->kind == FileKind::kDirectory) {
    RETURN_IF_ERROR(CheckNotOwnSubtree(impl, a.dst->ino, a.parent));
  }
  RETURN_IF_ERROR(impl.CloseDentry(a.src.id, w.seq));
  RETURN_IF_ERROR(impl.CloseDentry(a.dst->id, w.seq));
  RETURN_IF_ERROR(impl.OpenDentry(a.parent, a.name, a.dst->ino, a.dst->kind, w.seq));
  RETURN_IF_ERROR(impl.OpenDentry(a.new_parent, a.new_name, a.src.ino, a.src.kind, w.seq));
  RETURN_IF_ERROR(impl.SetTimes(a.src.ino, std::nullopt, w.time_ns));
  return impl.SetTimes(a.dst->ino, std::nullopt, w.time_ns);
}

// rename(2)'s type rules for replacing an existing target.
Status CheckReplaceable(Catalog::Impl& impl, const RenameArgs& a) {
  bool src_dir = a.src.kind == FileKind::kDirectory;
  bool dst_dir = a.dst->kind == FileKind::kDirectory;
  if (src_dir && !dst_dir) {
    return Status::NotDir("cannot replace non-directory " + QuoteName(a.new_name) +
                          " with a directory");
  }
  if (!src_dir && dst_dir) {
    return Status::IsDir("cannot replace directory " + QuoteName(a.new_name) +
                         " with a non-directory");
  }
  if (dst_dir) {
    ASSIGN_OR_RETURN(bool busy, HasLiveChildren(impl, a.dst->ino));
    if (busy) return Status::NotEmpty("directory " + QuoteName(a.new_name) + " is not empty");
  }
  return Status::OK();
}

// The editor pattern (docs/semantics.md, Version paths): both single-linked regular files,
// versioning on.
Result<bool> ShouldMerge(Catalog::Impl& impl, const RenameArgs& a) {
  if (!impl.settings.versioning || a.src.kind != FileKind::kRegular ||
      a.dst->kind != FileKind::kRegular) {
    return false;
  }
  ASSIGN_OR_RETURN(int64_t src_names, impl.LiveNameCount(a.src.ino));
  ASSIGN_OR_RETURN(int64_t dst_names, impl.LiveNameCount(a.dst->ino));
  return src_names == 1 && dst_names == 1;
}

Result<Catalog::RenameResult> Move(Catalog::Impl& impl, const Catalog::Impl::Write& w,
                                   const RenameArgs& a) {
  Catalog::RenameResult result;
  // Within one directory a move cannot create a cycle; skip the walk.
  if (a.src.kind == FileKind::kDirectory && a.new_parent != a.parent) {
    RETURN_IF_ERROR(CheckNotOwnSubtree(impl, a.src.ino, a.new_parent));
  }
  if (a.dst) {
    RETURN_IF_ERROR(CheckReplaceable(impl, a));
    ASSIGN_OR_RETURN(bool merge, ShouldMerge(impl, a));
    if (merge) {
      RETURN_IF_ERROR(impl.MergeInto(w, a.src.ino, a.dst->ino));
      RETURN_IF_ERROR(impl.CloseDentry(a.src.id, w.seq));
      result.merged_into = a.dst->ino;
      return result;
    }
    RETURN_IF_ERROR(impl.CloseDentry(a.dst->id, w.seq));
  }
  RETURN_IF_ERROR(impl.CloseDentry(a.src.id, w.seq));
  RETURN_IF_ERROR(impl.OpenDentry(a.new_parent, a.new_name, a.src.ino, a.src.kind, w.seq));
  RETURN_IF_ERROR(impl.SetTimes(a.src.ino, std::nullopt, w.time_ns));
  if (a.dst) RETURN_IF_ERROR(AfterNameLost(impl, a.dst->ino, w.time_ns));
  return result;
}

}  // namespace

Result<Catalog::RenameResult> Catalog::Rename(InodeId parent, std::string_view name,
                                              InodeId new_parent, std::string_view new_name,
                                              unsigned flags) {
  if ((flags & ~(kRenameNoReplace | kRenameExchange)) != 0 ||
      flags == (kRenameNoReplace | kRenameExchange)) {
    return Status::InvalidArgument("invalid rename flags " + std::to_string(flags));
  }
  RETURN_IF_ERROR(ValidateName(name));
  RETURN_IF_ERROR(ValidateName(new_name));
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(Impl::Dentry src, LiveEntry(impl, parent, name));
  RETURN_IF_ERROR(impl.CheckLiveDir(new_parent));
  RenameArgs a{parent, name, new_parent, new_name, src, {}};
  ASSIGN_OR_RETURN(a.dst, impl.FindLive(new_parent, new_name));
  if ((flags & kRenameNoReplace) && a.dst) return NameExists(new_name, new_parent);
  if ((flags & kRenameExchange) && !a.dst) {
    return Status::NotFound("no entry " + QuoteName(new_name) + " in directory " +
                            Ino(new_parent) + " to exchange with");
  }
  // Same inode (same name, or two hard links): rename(2) does nothing. The
  // write transaction rolls back, so no commit is recorded.
  if (a.dst && a.dst->ino == a.src.ino) return RenameResult{};
  RenameResult result;
  if (flags & kRenameExchange) {
    RETURN_IF_ERROR(Exchange(impl, w, a));
  } else {
    ASSIGN_OR_RETURN(result, Move(impl, w, a));
  }
  RETURN_IF_ERROR(impl.SetTimes(parent, w.time_ns, w.time_ns));
  if (new_parent != parent) RETURN_IF_ERROR(impl.SetTimes(new_parent, w.time_ns, w.time_ns));
  RETURN_IF_ERROR(w.txn.Commit());
  return result;
}

Result<Attr> Catalog::SetAttr(InodeId ino, const AttrChange& c) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  RETURN_IF_ERROR(impl.LoadInode(ino).status());
  RETURN_IF_ERROR(impl.ApplyAttrChange(ino, c, w.time_ns));
  ASSIGN_OR_RETURN(Attr a, impl.LoadAttr(ino));
  RETURN_IF_ERROR(w.txn.Commit());
  return a;
}

Status Catalog::Impl::ApplyAttrChange(InodeId ino, const AttrChange& c, int64_t time_ns) {
  std::optional<uint32_t> mode;
  if (c.mode) mode = *c.mode & 07777;
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlSetAttr));
  q.BindAll(ino, mode, c.uid, c.gid, c.atime_ns, c.mtime_ns, c.ctime_ns.value_or(time_ns));
  RETURN_IF_ERROR(q.Run());
  if (c.mode || c.uid || c.gid) RETURN_IF_ERROR(RestampCurrentVersion(ino));
  if (!c.xattrs.empty()) RETURN_IF_ERROR(ApplyXattrEdits(ino, c.xattrs));
  return Status::OK();
}

Result<std::vector<ListedEntry>> Catalog::ReadDirPlus(InodeId dir, std::string_view from,
                                                    size_t limit) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(Impl::InodeRow r, impl_->LoadInode(dir));
  if (r.kind != FileKind::kDirectory) {
    return Status::NotDir(Ino(dir) + " is not a directory");
  }
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlReadDirPlus));
  q.BindAll(dir, from, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<ListedEntry> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    ListedEntry e;
    e.name = q.Str(0);
    e.attr = Impl::AttrFromRow(q, 2, InodeId(q.U64(1)));
    out.push_back(std::move(e));
  }
}

Result<std::string> Catalog::ReadLink(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlReadLink));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no " + Ino(ino) + " in the catalog");
  if (static_cast<FileKind>(q.Int(0)) != FileKind::kSymlink) {
    return Status::InvalidArgument(Ino(ino) + " is not a symlink");
  }
  return q.Str(1);
}

}  // namespace katamari

// Bucket::RestoreTree (`katamari restore --at TIME DIR [--to TARGET]`;
// docs/semantics.md, Whole trees): a tree back as it was, through the same
// inode calls the mount makes, so a mount shows each step as it commits.
//
// The plan is the tree at TIME from one Catalog::History snapshot; what it
// is compared with is read live at each step (a mount may change it
// meanwhile). A file's old content becomes a new version that references
// the old chunks (no data copied), under the gc lock held shared throughout
// so no chunk it names is collected before its row commits.
//
// kill -9: in place, every step is its own commit and each one only moves a
// name towards the old tree, so a killed run leaves some files restored and
// the rest as they were; the same command again skips what already matches
// and finishes. Into TARGET, the tree is built under ".NAME.katamari-restore"
// beside it and renamed to NAME in one commit at the end; a killed run
// leaves that hidden directory, which the next run removes (delete markers:
// history kept) and builds again.
#include <set>

#include "store/bucket_internal.h"
#include "store/history_model.h"
#include "store/time_format.h"

namespace katamari {

namespace {

class Restorer {
 public:
  Restorer(Bucket& b, Catalog& cat, const HistoryModel& m, Seq at, bool in_place,
           TreeRestoreReport* r)
      : b_(b), cat_(cat), m_(m), at_(at), in_place_(in_place), r_(r) {}

  // Makes `name` in live directory `parent` what inode `src` was at `at_`.
  Status Entry(InodeId src, FileKind kind, InodeId parent, const std::string& name);
  // Removes a live name and, for a directory, everything under it.
  Status RemoveName(InodeId parent, const std::string& name, const Attr& live, bool count);

 private:
  Result<std::optional<Attr>> LiveAt(InodeId parent, const std::string& name);
  Status Directory(InodeId src, InodeId parent, const std::string& name, std::optional<Attr> live);
  Status File(InodeId src, InodeId parent, const std::string& name, std::optional<Attr> live);
  Status Other(InodeId src, FileKind kind, InodeId parent, const std::string& name,
               std::optional<Attr> live);
  Result<bool> SameContent(const Attr& live, InodeId src, VersionNo vno);
  Status FixAttrs(InodeId ino, uint32_t mode, uint32_t uid, uint32_t gid, const Xattrs* xattrs,
                  bool count);

  Bucket& b_;
  Catalog& cat_;
  const HistoryModel& m_;
  const Seq at_;
  const bool in_place_;
  TreeRestoreReport* r_;
  std::map<uint64_t, InodeId> done_;  // src inode -> the inode restored from it (hard links)
};

Result<std::optional<Attr>> Restorer::LiveAt(InodeId parent, const std::string& name) {
  auto a = b_.Lookup(parent, name);
  if (!a.ok() && a.status().IsNotFound()) return std::optional<Attr>();
  ASSIGN_OR_RETURN(Attr attr, std::move(a));
  return std::optional<Attr>(attr);
}

Status Restorer::RemoveName(InodeId parent, const std::string& name, const Attr& live,
                            bool count) {
  if (live.kind != FileKind::kDirectory) {
    RETURN_IF_ERROR(b_.Unlink(parent, name));
    if (count) ++r_->deleted;
    return Status::OK();
  }
  ASSIGN_OR_RETURN(std::vector<DirEntry> children, b_.ReadDir(live.ino));
  for (const DirEntry& c : children) {
    ASSIGN_OR_RETURN(std::optional<Attr> a, LiveAt(live.ino, c.name));
    if (a) RETURN_IF_ERROR(RemoveName(live.ino, c.name, *a, count));
  }
  RETURN_IF_ERROR(b_.RemoveDir(parent, name));
  if (count) ++r_->dirs_removed;
  return Status::OK();
}

Status Restorer::FixAttrs(InodeId ino, uint32_t mode, uint32_t uid, uint32_t gid,
                          const Xattrs* xattrs, bool count) {
  ASSIGN_OR_RETURN(Attr now, b_.GetAttr(ino));
  Bucket::AttrChange c;
  if ((now.mode & 07777) != (mode & 07777)) c.mode = mode & 07777;
  if (now.uid != uid) c.uid = uid;
  if (now.gid != gid) c.gid = gid;
  if (xattrs) {
    // The live user xattrs become the version's.
    ASSIGN_OR_RETURN(Xattrs live, b_.GetXattrs(ino));
    for (const auto& [n, v] : live) {
      if (n.rfind("user.", 0) == 0 && !xattrs->contains(n)) c.xattrs.emplace(n, std::nullopt);
    }
    for (const auto& [n, v] : *xattrs) {
      auto it = live.find(n);
      if (it == live.end() || it->second != v) c.xattrs.emplace(n, v);
    }
  }
  if (!c.mode && !c.uid && !c.gid && c.xattrs.empty()) return Status::OK();
  RETURN_IF_ERROR(b_.SetAttr(ino, c).status());
  if (count) ++r_->attrs_fixed;
  return Status::OK();
}

Result<bool> Restorer::SameContent(const Attr& live, InodeId src, VersionNo vno) {
  if (live.current_version.value == 0) return false;
  if (live.ino == src && live.current_version == vno) return true;
  ASSIGN_OR_RETURN(std::vector<ChunkRef> a, cat_.VersionChunks(live.ino, live.current_version));
  ASSIGN_OR_RETURN(std::vector<ChunkRef> b, cat_.VersionChunks(src, vno));
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].raw_len != b[i].raw_len) return false;
  }
  return true;
}

Status Restorer::Entry(InodeId src, FileKind kind, InodeId parent, const std::string& name) {
  if (name.empty()) return Directory(kRootInode, kRootInode, name, std::nullopt);  // the root
  ASSIGN_OR_RETURN(std::optional<Attr> live, LiveAt(parent, name));
  if (live && live->kind != kind) {
    RETURN_IF_ERROR(RemoveName(parent, name, *live, /*count=*/true));
    live.reset();
  }
  if (kind == FileKind::kDirectory) return Directory(src, parent, name, live);
  if (kind == FileKind::kRegular) return File(src, parent, name, live);
  return Other(src, kind, parent, name, live);
}

Status Restorer::Directory(InodeId src, InodeId parent, const std::string& name,
                           std::optional<Attr> live) {
  const Catalog::HistoryInode* n = m_.Inode(src);
  if (!n) return Status::NotFound("directory '" + name + "' is gone from the catalog");
  InodeId dest = kRootInode;
  if (src == kRootInode && parent == kRootInode && name.empty()) {
    dest = kRootInode;  // the whole bucket, in place
  } else if (!live) {
    ASSIGN_OR_RETURN(Attr a, b_.MakeNode(parent, name, FileKind::kDirectory, n->mode, n->uid,
                                         n->gid));
    dest = a.ino;
    ++r_->dirs_created;
  } else {
    dest = live->ino;
    // Directory attributes are not history: an old directory's are its inode's now.
    if (dest != src) RETURN_IF_ERROR(FixAttrs(dest, n->mode, n->uid, n->gid, nullptr, true));
  }
  std::set<std::string> wanted;
  for (const Catalog::HistoryDentry* d : m_.Children(src, at_)) {
    wanted.insert(d->name);
    RETURN_IF_ERROR(Entry(d->ino, d->kind, dest, d->name));
  }
  if (!in_place_) return Status::OK();
  ASSIGN_OR_RETURN(std::vector<DirEntry> now, b_.ReadDir(dest));
  for (const DirEntry& e : now) {
    if (wanted.contains(e.name)) continue;
    ASSIGN_OR_RETURN(std::optional<Attr> a, LiveAt(dest, e.name));
    if (a) RETURN_IF_ERROR(RemoveName(dest, e.name, *a, /*count=*/true));
  }
  return Status::OK();
}

Status Restorer::File(InodeId src, InodeId parent, const std::string& name,
                      std::optional<Attr> live) {
  const Catalog::HistoryInode* n = m_.Inode(src);
  if (!n) return Status::NotFound("file '" + name + "' is gone from the catalog");
  const Catalog::HistoryVersion* hv = m_.VersionAt(src, at_);
  const uint32_t mode = hv ? hv->mode : n->mode, uid = hv ? hv->uid : n->uid,
                 gid = hv ? hv->gid : n->gid;
  auto linked = done_.find(src.value);
  if (!live && linked != done_.end()) {
    // A second name of the same file at that time: a hard link again.
    auto a = b_.Link(linked->second, parent, name);
    if (a.ok()) {
      ++r_->files_restored;
      return Status::OK();
    }
  }
  bool created = false;
  if (!live) {
    // Creating a deleted name revives its inode's history (Catalog::CreateNode).
    ASSIGN_OR_RETURN(Attr a, b_.MakeNode(parent, name, FileKind::kRegular, mode, uid, gid));
    live = a;
    created = true;
  }
  done_.emplace(src.value, live->ino);
  if (!hv) {
    // No content at that time (created, not yet written): an empty file.
    if (live->current_version.value != 0 || created) {
      StringSource empty("");
      RETURN_IF_ERROR(b_.CommitContent(live->ino, empty, {.mtime_ns = n->mtime_ns}).status());
      ++r_->files_restored;
    } else {
      ++r_->unchanged;
    }
    return FixAttrs(live->ino, mode, uid, gid, nullptr, false);
  }
  ASSIGN_OR_RETURN(bool same, SameContent(*live, src, hv->vno));
  ASSIGN_OR_RETURN(VersionInfo from, cat_.GetVersion(src, hv->vno));
  if (same) {
    ++r_->unchanged;
    return FixAttrs(live->ino, mode, uid, gid, &from.xattrs, true);
  }
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, cat_.VersionChunks(src, hv->vno));
  Catalog::NewVersion v = VersionFrom(live->ino, from, std::move(chunks));
  if (live->ino == src) v.restored_from = from.version;
  RETURN_IF_ERROR(cat_.AddVersion(v).status());
  ++r_->files_restored;
  return FixAttrs(live->ino, mode, uid, gid, &from.xattrs, false);
}

Status Restorer::Other(InodeId src, FileKind kind, InodeId parent, const std::string& name,
                       std::optional<Attr> live) {
  const Catalog::HistoryInode* n = m_.Inode(src);
  if (!n) return Status::NotFound("'" + name + "' is gone from the catalog");
  if (live) {
    bool same = live->ino == src;
    if (!same && kind == FileKind::kSymlink) {
      ASSIGN_OR_RETURN(std::string target, b_.ReadLink(live->ino));
      same = target == n->symlink_target;
    } else if (!same) {
      same = live->rdev == n->rdev;
    }
    if (same) {
      ++r_->unchanged;
      return FixAttrs(live->ino, n->mode, n->uid, n->gid, nullptr, true);
    }
    RETURN_IF_ERROR(RemoveName(parent, name, *live, /*count=*/false));  // replaced, not deleted
  }
  RETURN_IF_ERROR(
      b_.MakeNode(parent, name, kind, n->mode, n->uid, n->gid, n->symlink_target, n->rdev)
          .status());
  ++(kind == FileKind::kSymlink ? r_->links_created : r_->specials_created);
  return Status::OK();
}

// The live directory `dir` names, its missing directories made as they were
// at `at` (or 0755 root-owned where the old tree had none).
Result<InodeId> MakeParents(Bucket& b, const HistoryModel& m, Seq at, const std::string& dir,
                            TreeRestoreReport* r) {
  InodeId cur = kRootInode;
  std::string sofar;
  size_t i = 0;
  while (i < dir.size()) {
    size_t slash = dir.find('/', i);
    if (slash == std::string::npos) slash = dir.size();
    std::string name = dir.substr(i, slash - i);
    i = slash + 1;
    sofar = sofar.empty() ? name : sofar + "/" + name;
    auto a = b.Lookup(cur, name);
    if (a.ok()) {
      if (a->kind != FileKind::kDirectory) {
        return Status::NotDir("'" + sofar + "' is not a directory; move it away first");
      }
      cur = a->ino;
      continue;
    }
    if (!a.status().IsNotFound()) return a.status();
    uint32_t mode = 0755, uid = 0, gid = 0;
    if (auto old = m.ResolveAt(sofar, at)) {
      if (const Catalog::HistoryInode* n = m.Inode(*old)) {
        mode = n->mode;
        uid = n->uid;
        gid = n->gid;
      }
    }
    ASSIGN_OR_RETURN(Attr made, b.MakeNode(cur, name, FileKind::kDirectory, mode, uid, gid));
    ++r->dirs_created;
    cur = made.ino;
  }
  return cur;
}

std::pair<std::string, std::string> SplitParent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

}  // namespace

Result<TreeRestoreReport> Bucket::RestoreTree(int64_t at_ns, std::string_view dir,
                                              std::string_view to) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  ASSIGN_OR_RETURN(std::string root, NormalizeTreePath(dir));
  Catalog& cat = *s_->catalog;
  const std::string when = FormatUtcTime(at_ns);
  const std::string shown = root.empty() ? "/" : root;
  Seq at = cat.SeqAtTime(at_ns);
  if (at.value == 0) return Status::NotFound("the bucket was empty at " + when);
  ASSIGN_OR_RETURN(Catalog::History h, cat.ReadHistory(/*with_chunks=*/false));
  HistoryModel m(std::move(h));
  at = std::min(at, m.seq());
  std::optional<InodeId> src = m.ResolveAt(root, at);
  if (!src) {
    return Status::NotFound("'" + shown + "' did not exist at " + when +
                            "; 'katamari log " + shown + "' shows when it did");
  }
  const Catalog::HistoryInode* node = m.Inode(*src);
  if (!node) return Status::NotFound("'" + shown + "' is gone from the catalog");
  TreeRestoreReport r;
  ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
  if (to.empty()) {
    if (!cat.settings().versioning) {
      return Status::InvalidArgument(
          "bucket " + dir_ + " keeps no history (versioning is off), so a restore in place "
          "would delete for good; restore into another path with --to TARGET");
    }
    r.target = shown;
    Restorer rs(*this, cat, m, at, /*in_place=*/true, &r);
    if (root.empty()) {
      RETURN_IF_ERROR(rs.Entry(kRootInode, FileKind::kDirectory, kRootInode, ""));
      return r;
    }
    auto [pdir, name] = SplitParent(root);
    ASSIGN_OR_RETURN(InodeId parent, MakeParents(*this, m, at, pdir, &r));
    RETURN_IF_ERROR(rs.Entry(*src, node->kind, parent, name));
    return r;
  }
  ASSIGN_OR_RETURN(std::string target, NormalizeTreePath(to));
  if (target.empty()) {
    return Status::InvalidArgument("--to names the bucket's root, which is not empty; give a "
                                   "new path, e.g. --to restored/" + (root.empty() ? "all" : root));
  }
  r.target = target;
  auto [pdir, name] = SplitParent(target);
  ASSIGN_OR_RETURN(InodeId parent, MakeParents(*this, m, cat.CurrentSeq(), pdir, &r));
  auto existing = Lookup(parent, name);
  if (existing.ok()) {
    if (existing->kind != FileKind::kDirectory) {
      return Status::Exists("restore target '" + target + "' exists and is not a directory; "
                            "choose a path that does not exist yet");
    }
    ASSIGN_OR_RETURN(std::vector<DirEntry> inside, ReadDir(existing->ino));
    if (!inside.empty()) {
      return Status::NotEmpty("restore target '" + target + "' exists and is not empty; "
                              "choose a path that does not exist yet, or an empty directory");
    }
  } else if (!existing.status().IsNotFound()) {
    return existing.status();
  }
  Restorer rs(*this, cat, m, at, /*in_place=*/false, &r);
  const std::string temp = "." + name + ".katamari-restore";
  // Left by a killed run: removed (delete markers), then built anew.
  auto left = Lookup(parent, temp);
  if (left.ok()) RETURN_IF_ERROR(rs.RemoveName(parent, temp, *left, /*count=*/false));
  RETURN_IF_ERROR(rs.Entry(*src, node->kind, parent, temp));
  // Over an empty directory or onto nothing: one commit.
  RETURN_IF_ERROR(Rename(parent, temp, parent, name, 0).status());
  return r;
}

}  // namespace katamari

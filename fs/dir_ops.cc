// Filesystem: directory listings, xattrs and whole-filesystem calls.
#include "fs/filesystem.h"
#include "fs/filesystem_internal.h"
#include "fs/posix_acl.h"
#include "fs/version_paths.h"
#include "fs/version_syntax.h"

namespace katamari::fs {

Result<uint64_t> Filesystem::OpenDir(uint64_t node) {
  if (IsVirtualNode(node)) return versions_->OpenDir(node);
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  ASSIGN_OR_RETURN(std::vector<DirEntry> listed, bucket_.ReadDir(target));
  auto entries = std::make_shared<std::vector<DirEntry>>();
  entries->reserve(listed.size() + 2);
  // ".." carries the directory's own number: the kernel answers ".." lookups
  // itself and nothing relies on this d_ino.
  entries->push_back(DirEntry{".", target, FileKind::kDirectory});
  entries->push_back(DirEntry{"..", target, FileKind::kDirectory});
  for (auto& e : listed) entries->push_back(std::move(e));
  auto h = std::make_shared<DirHandle>();
  h->node = NodeOrTransient(node);
  h->entries = std::move(entries);
  std::lock_guard lock(mu_);
  auto [it, inserted] = nodes_.try_emplace(node, h->node);
  ++it->second->opens;
  h->node = it->second;
  uint64_t fh = next_fh_++;
  dir_handles_.emplace(fh, std::move(h));
  return fh;
}

Result<std::shared_ptr<const std::vector<DirEntry>>> Filesystem::DirEntries(uint64_t fh,
                                                                            bool rewind) {
  if (IsVirtualHandle(fh)) return versions_->DirEntries(fh, rewind);
  std::shared_ptr<DirHandle> h;
  bool refresh = false;
  {
    std::lock_guard lock(mu_);
    auto it = dir_handles_.find(fh);
    if (it == dir_handles_.end()) return Status::InvalidArgument("directory handle is not open");
    h = it->second;
    refresh = rewind && h->consumed;
    h->consumed = true;
  }
  if (refresh) {
    ASSIGN_OR_RETURN(InodeId target, TargetOf(h->node->id));
    ASSIGN_OR_RETURN(std::vector<DirEntry> listed, bucket_.ReadDir(target));
    auto entries = std::make_shared<std::vector<DirEntry>>();
    entries->push_back(DirEntry{".", target, FileKind::kDirectory});
    entries->push_back(DirEntry{"..", target, FileKind::kDirectory});
    for (auto& e : listed) entries->push_back(std::move(e));
    std::lock_guard lock(mu_);
    h->entries = std::move(entries);
  }
  std::lock_guard lock(mu_);
  return h->entries;
}

Status Filesystem::ReleaseDir(uint64_t fh) {
  if (IsVirtualHandle(fh)) return versions_->ReleaseDir(fh);
  uint64_t node = 0;
  {
    std::lock_guard lock(mu_);
    auto it = dir_handles_.find(fh);
    if (it == dir_handles_.end()) return Status::InvalidArgument("directory handle is not open");
    node = it->second->node->id;
    --it->second->node->opens;
    dir_handles_.erase(it);
  }
  DropNodeIfUnused(node);
  return Status::OK();
}

Result<Entry> Filesystem::ListingEntry(InodeId ino) {
  // Listings of version directories carry their synthetic node ids.
  if (IsVirtualNode(ino.value)) return versions_->ListingEntry(ino.value);
  ASSIGN_OR_RETURN(Attr attr, bucket_.GetAttr(ino));
  return ListingEntryOf(std::move(attr));
}

Entry Filesystem::ListingEntryOf(Attr attr) {
  InodeId ino = attr.ino;
  uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = NodeIdLocked(ino, false);
  }
  if (auto n = NodeOfInode(ino)) {
    Overlay(*n, &attr);
  } else if (attr.kind == FileKind::kRegular && !attr.held_bytes) {
    // No node yet: st_blocks of the committed content (du after readdirplus).
    attr.held_bytes = 0;
    if (attr.current_version.value != 0) {
      auto held = bucket_.HeldBytes(ino, attr.current_version);
      attr.held_bytes = held.ok() ? std::optional<uint64_t>(*held) : std::nullopt;
    }
  }
  return Entry{id, attr};
}

std::vector<std::optional<Entry>> Filesystem::ListingEntries(uint64_t fh,
                                                             std::span<const DirEntry> entries) {
  std::vector<std::optional<Entry>> out(entries.size());
  auto one_by_one = [&](size_t i) {
    auto e = ListingEntry(entries[i].ino);
    if (e.ok()) out[i] = std::move(*e);  // else removed since the snapshot
  };
  std::shared_ptr<DirHandle> h;
  if (!IsVirtualHandle(fh)) {
    std::lock_guard lock(mu_);
    if (auto it = dir_handles_.find(fh); it != dir_handles_.end()) h = it->second;
  }
  std::optional<InodeId> dir;
  if (h && !entries.empty()) {
    auto target = TargetOf(h->node->id);
    if (target.ok()) dir = *target;
  }
  std::vector<ListedEntry> listed;
  if (dir) {
    auto got = bucket_.ReadDirPlus(*dir, entries.front().name, entries.size());
    if (got.ok()) listed = std::move(*got);
  }
  // Both are in name order; an entry renamed, replaced or removed since the
  // snapshot is looked up on its own, as before.
  size_t j = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    while (j < listed.size() && listed[j].name < entries[i].name) ++j;
    if (j < listed.size() && listed[j].name == entries[i].name &&
        listed[j].attr.ino == entries[i].ino) {
      out[i] = ListingEntryOf(std::move(listed[j].attr));
      ++j;
    } else {
      one_by_one(i);
    }
  }
  return out;
}

namespace {

// What ext4 answers for a name before looking at the file: a namespace it
// does not know (or system.* other than the ACLs) is EOPNOTSUPP, a known
// prefix with nothing after it ("user.") EINVAL.
Status CheckXattrName(std::string_view name) {
  for (std::string_view ns : {"user.", "trusted.", "security."}) {
    if (StartsWith(name, ns)) {
      if (name.size() == ns.size()) {
        return Status::InvalidArgument("an xattr name needs something after '" + std::string(ns) +
                                       "'");
      }
      return Status::OK();
    }
  }
  if (acl::IsAclName(name)) return Status::OK();
  return Status::NotSupported("no such xattr namespace: '" + std::string(name) +
                              "' (user.*, trusted.*, security.* and the POSIX ACLs exist)");
}

}  // namespace

Result<std::string> Filesystem::GetXattr(uint64_t node, std::string_view name,
                                         const Caller& who) {
  RETURN_IF_ERROR(CheckXattrName(name));
  if (IsVirtualNode(node)) return versions_->GetXattr(node, name, who);
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  if (!StartsWith(name, kUserPrefix) && !acl::IsAclName(name)) {
    return Status::NotFound("no such attribute");
  }
  if (StartsWith(name, kFactPrefix)) {
    // Facts of the current version (docs/semantics.md, Version paths): computed, never stored.
    ASSIGN_OR_RETURN(Attr attr, GetAttr(node));
    if (attr.kind != FileKind::kRegular || attr.current_version.value == 0) {
      return Status::NotFound("no version yet");
    }
    ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(target, attr.current_version));
    // A SHA-256 left pending by a commit with holes is completed on this
    // first request (docs/semantics.md, Files, versions and history).
    if (name == kSha256Fact) {
      ASSIGN_OR_RETURN(v, bucket_.CompleteSha256(std::move(v)));
    }
    return VersionFact(v, name);
  }
  ASSIGN_OR_RETURN(Xattrs all, bucket_.GetXattrs(target));
  auto it = all.find(std::string(name));
  if (it == all.end()) return Status::NotFound("no such attribute");
  return it->second;
}

Result<std::string> Filesystem::ListXattr(uint64_t node, const Caller& who) {
  if (IsVirtualNode(node)) return versions_->ListXattr(node, who);
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  ASSIGN_OR_RETURN(Xattrs all, bucket_.GetXattrs(target));
  std::string out;
  for (const auto& [name, value] : all) {
    if (StartsWith(name, kFactPrefix)) continue;
    out += name;
    out.push_back('\0');
  }
  return out;
}

Status Filesystem::SetXattr(uint64_t node, std::string_view name, std::string_view value,
                            int flags) {
  RETURN_IF_ERROR(CheckXattrName(name));
  if (IsVirtualNode(node)) return VersionPaths::ReadOnly("set xattr");
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  if (acl::IsAclName(name)) {
    // An ACL and the mode it implies change together, in the catalog.
    RETURN_IF_ERROR(FlushHeldAttrs(NodeOrTransient(node)));
    Status st = SetAcl(target, name, value);
    MarkAttrsChanged(target);
    return st;
  }
  if (!StartsWith(name, kUserPrefix)) {
    // trusted.* and security.* (SELinux labels, file capabilities) are not
    // stored: docs/semantics.md, The live tree.
    return Status::NotSupported("only user.* extended attributes and POSIX ACLs are stored");
  }
  if (StartsWith(name, kFactPrefix)) {
    return Status::Permission(std::string(name) + " is a read-only fact of the file's version");
  }
  Status st = bucket_.SetXattr(target, name, value, flags);
  MarkAttrsChanged(target);  // ctime moved in the catalog
  return st;
}

Status Filesystem::RemoveXattr(uint64_t node, std::string_view name) {
  RETURN_IF_ERROR(CheckXattrName(name));
  if (IsVirtualNode(node)) return VersionPaths::ReadOnly("remove xattr");
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  if (acl::IsAclName(name)) {
    RETURN_IF_ERROR(FlushHeldAttrs(NodeOrTransient(node)));
    Status st = SetAcl(target, name, std::nullopt);
    MarkAttrsChanged(target);
    return st;
  }
  if (!StartsWith(name, kUserPrefix)) return Status::NotFound("no such attribute");
  if (StartsWith(name, kFactPrefix)) {
    return Status::Permission(std::string(name) + " is a read-only fact of the file's version");
  }
  Status st = bucket_.RemoveXattr(target, name);
  MarkAttrsChanged(target);
  return st;
}

Result<FsStats> Filesystem::StatFs() { return bucket_.StatFs(); }

Status Filesystem::SyncAll() { return bucket_.Sync(); }

Status Filesystem::CommitAll() {
  std::vector<std::shared_ptr<Node>> nodes;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, n] : nodes_) nodes.push_back(n);
  }
  Status first;
  for (const auto& n : nodes) {
    std::shared_ptr<WriteSession> s;
    {
      std::lock_guard lock(n->mu);
      if (!n->session || n->orphaned || !n->session->dirty()) continue;
      s = n->session;
    }
    Status st = CommitNode(n, s);
    if (!st.ok() && first.ok()) first = st;
  }
  Status synced = bucket_.Sync();
  return first.ok() ? synced : first;
}

}  // namespace katamari::fs

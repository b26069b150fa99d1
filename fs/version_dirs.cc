// VersionPaths: listings of history (NAME@) and view (@TIME, DIR@TIME)
// directories, and the xattrs of synthetic nodes.
#include "fs/version_paths.h"

#include "fs/posix_acl.h"
#include "fs/version_paths_internal.h"
#include "fs/version_syntax.h"

namespace katamari::fs {

// The entries of a synthetic directory, each with the key of its node. Ids
// are given (and pinned) by the caller.
Result<std::vector<std::pair<DirEntry, VersionPaths::Key>>> VersionPaths::Listing(uint64_t node,
                                                                                  const Key& dir) {
  std::vector<std::pair<DirEntry, Key>> out;
  if (dir.kind == Kind::kHistory) {
    auto versions = bucket_.ListVersions(InodeId(dir.ino));
    if (!versions.ok()) {
      // An emptied history (see Node::emptied) lists nothing.
      if (versions.status().IsNotFound()) return out;
      return versions.status();
    }
    for (const VersionInfo& v : *versions) {
      Key k{Kind::kVersion, dir.ino, v.version.value, v.seq.value, 0};
      out.emplace_back(DirEntry{std::to_string(v.version.value), {}, FileKind::kRegular}, k);
    }
    return out;
  }
  if (dir.kind != Kind::kView) return Status::NotDir("not a directory");
  Seq at(dir.a);
  ASSIGN_OR_RETURN(std::vector<DirEntry> listed, bucket_.ReadDir(InodeId(dir.ino), at));
  for (DirEntry& e : listed) {
    Key k;
    switch (e.kind) {
      case FileKind::kDirectory:
        k = Key{Kind::kView, e.ino.value, at.value, 0, node};
        break;
      case FileKind::kSymlink:
        k = Key{Kind::kLink, e.ino.value, 0, 0, 0};
        break;
      case FileKind::kFifo:
      case FileKind::kSocket:
      case FileKind::kCharDevice:
      case FileKind::kBlockDevice:
        k = Key{Kind::kSpecial, e.ino.value, 0, 0, 0};
        break;
      case FileKind::kRegular: {
        auto found = VersionKey(e.ino, std::nullopt, at);
        // No version left from that moment (pruned): not in the view.
        if (!found.ok() && found.status().IsNotFound()) continue;
        ASSIGN_OR_RETURN(k, std::move(found));
        k.view = true;  // shown as it was, write bits included
        break;
      }
    }
    out.emplace_back(std::move(e), k);
  }
  return out;
}

// Builds a listing and pins the node of every entry (their ids are the
// entries' d_ino and readdirplus hands them out), unpinning `old`.
Result<std::shared_ptr<const std::vector<DirEntry>>> VersionPaths::PinListing(
    uint64_t node, const Key& dir, std::vector<uint64_t>* pinned) {
  ASSIGN_OR_RETURN(auto listed, Listing(node, dir));
  auto entries = std::make_shared<std::vector<DirEntry>>();
  entries->reserve(listed.size() + 2);
  // ".." carries the directory's own id: the kernel answers ".." itself.
  entries->push_back(DirEntry{".", InodeId(node), FileKind::kDirectory});
  entries->push_back(DirEntry{"..", InodeId(node), FileKind::kDirectory});
  std::lock_guard lock(mu_);
  std::vector<uint64_t> old = std::move(*pinned);
  pinned->clear();
  for (auto& [e, k] : listed) {
    uint64_t id = RememberLocked(k);
    ++nodes_.at(id)->pins;
    pinned->push_back(id);
    e.ino = InodeId(id);
    entries->push_back(std::move(e));
  }
  for (uint64_t id : old) {
    if (auto it = nodes_.find(id); it != nodes_.end()) --it->second->pins;
    DropIfUnusedLocked(id);
  }
  return std::shared_ptr<const std::vector<DirEntry>>(std::move(entries));
}

Result<uint64_t> VersionPaths::OpenDir(uint64_t node) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node " + std::to_string(node) + " was forgotten");
  if (key->kind != Kind::kHistory && key->kind != Kind::kView) {
    return Status::NotDir("not a directory");
  }
  auto h = std::make_shared<DirHandle>();
  h->node = node;
  ASSIGN_OR_RETURN(h->entries, PinListing(node, *key, &h->pinned));
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) {  // forgotten meanwhile: give the pins back
    for (uint64_t id : h->pinned) {
      if (auto n = nodes_.find(id); n != nodes_.end()) --n->second->pins;
      DropIfUnusedLocked(id);
    }
    return Status::NotFound("version path node was forgotten");
  }
  ++it->second->opens;
  uint64_t fh = kVirtualHandleBit | next_fh_++;
  dirs_.emplace(fh, std::move(h));
  return fh;
}

Result<std::shared_ptr<const std::vector<DirEntry>>> VersionPaths::DirEntries(uint64_t fh,
                                                                              bool rewind) {
  std::shared_ptr<DirHandle> h;
  bool refresh = false;
  {
    std::lock_guard lock(mu_);
    auto it = dirs_.find(fh);
    if (it == dirs_.end()) return Status::InvalidArgument("directory handle is not open");
    h = it->second;
    refresh = rewind && h->consumed;
    h->consumed = true;
    if (!refresh) return h->entries;
  }
  auto key = KeyOf(h->node);
  if (!key) return Status::NotFound("version path node was forgotten");
  std::vector<uint64_t> pinned;
  {
    std::lock_guard lock(mu_);
    pinned = std::move(h->pinned);
    h->pinned.clear();
  }
  auto entries = PinListing(h->node, *key, &pinned);
  std::lock_guard lock(mu_);
  h->pinned = std::move(pinned);
  if (!entries.ok()) return entries.status();
  h->entries = *entries;
  return h->entries;
}

Status VersionPaths::ReleaseDir(uint64_t fh) {
  std::lock_guard lock(mu_);
  auto it = dirs_.find(fh);
  if (it == dirs_.end()) return Status::InvalidArgument("directory handle is not open");
  std::shared_ptr<DirHandle> h = std::move(it->second);
  dirs_.erase(it);
  for (uint64_t id : h->pinned) {
    if (auto n = nodes_.find(id); n != nodes_.end()) --n->second->pins;
    DropIfUnusedLocked(id);
  }
  if (auto n = nodes_.find(h->node); n != nodes_.end()) --n->second->opens;
  DropIfUnusedLocked(h->node);
  return Status::OK();
}

// The user.* a version was committed with; the facts of a version (docs/semantics.md, Version
// paths), under the same permission as reading it (the SHA-256 tells much about a small secret).
// Directories of views show the directory's xattrs as they are now (a directory has no versions),
// like its owner and mode.
Result<std::string> VersionPaths::GetXattr(uint64_t node, std::string_view name,
                                           const Caller& who) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node was forgotten");
  const bool is_acl = acl::IsAclName(name);
  if (!StartsWith(name, kUserPrefix) && !is_acl) return Status::NotFound("no such attribute");
  if (key->kind == Kind::kVersion) {
    if (key->a == 0) return Status::NotFound("no version at that moment");
    // An ACL is shown like the mode (the kernel reads it for its permission
    // checks, and getfacl needs no read permission): no check here.
    if (!is_acl) RETURN_IF_ERROR(CheckRead(*key, who));
    ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(InodeId(key->ino), VersionNo(key->a)));
    if (is_acl) return VersionAcl(v, name, key->view);
    if (name == kSha256Fact) {
      ASSIGN_OR_RETURN(v, bucket_.CompleteSha256(std::move(v)));
    }
    if (StartsWith(name, kFactPrefix)) return VersionFact(v, name);
    auto it = v.xattrs.find(std::string(name));
    if (it == v.xattrs.end()) return Status::NotFound("no such attribute");
    return it->second;
  }
  if (key->kind != Kind::kView || StartsWith(name, kFactPrefix)) {
    return Status::NotFound("no such attribute");
  }
  ASSIGN_OR_RETURN(Xattrs all, bucket_.GetXattrs(InodeId(key->ino)));
  auto it = all.find(std::string(name));
  if (it == all.end()) return Status::NotFound("no such attribute");
  return it->second;
}

// The ACL recorded with version `v`. Outside time views a version shows its
// mode without write bits; its access ACL says the same.
Result<std::string> VersionPaths::VersionAcl(const VersionInfo& v, std::string_view name,
                                             bool view) {
  auto it = v.xattrs.find(std::string(name));
  if (it == v.xattrs.end()) return Status::NotFound("no such attribute");
  if (view || name != acl::kAccess) return it->second;
  ASSIGN_OR_RETURN(acl::Acl a, acl::Parse(it->second));
  for (acl::Entry& e : a) e.perm &= 05;
  return acl::Encode(a);
}

Result<std::string> VersionPaths::ListXattr(uint64_t node, const Caller& who) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node was forgotten");
  Xattrs all;
  if (key->kind == Kind::kVersion && key->a != 0) {
    // The names are the version's metadata too: the same check as reading it.
    RETURN_IF_ERROR(CheckRead(*key, who));
    ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(InodeId(key->ino), VersionNo(key->a)));
    all = std::move(v.xattrs);
  } else if (key->kind == Kind::kView) {
    ASSIGN_OR_RETURN(all, bucket_.GetXattrs(InodeId(key->ino)));
  }
  std::string out;
  for (const auto& [n, value] : all) {
    if (StartsWith(n, kFactPrefix)) continue;
    out += n;
    out.push_back('\0');
  }
  return out;
}

void VersionPaths::AttrsChanged(InodeId ino) {
  std::vector<uint64_t> stale;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, n] : nodes_) {
      if (n->key.ino == ino.value) stale.push_back(id);
    }
  }
  if (!hooks_.invalidate) return;
  for (uint64_t id : stale) hooks_.invalidate(id);
}

}  // namespace katamari::fs

// Filesystem: the node table and namespace operations. File I/O is in
// file_ops.cc; directories listings, xattrs and whole-filesystem calls in
// dir_ops.cc.
#include "fs/filesystem.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "fs/filesystem_internal.h"
#include "fs/version_paths.h"
#include "fs/write_session.h"

namespace katamari::fs {

namespace {
constexpr unsigned kRenameExchange = 2;  // RENAME_EXCHANGE

// Locks two commit mutexes (either may be null or both the same) in address
// order, so two renames never wait for each other in a circle.
std::pair<std::unique_lock<std::mutex>, std::unique_lock<std::mutex>> LockCommits(
    std::mutex* a, std::mutex* b) {
  if (a == b) b = nullptr;
  if (a && b && std::less<std::mutex*>()(b, a)) std::swap(a, b);
  std::unique_lock<std::mutex> first, second;
  if (a) first = std::unique_lock<std::mutex>(*a);
  if (b) second = std::unique_lock<std::mutex>(*b);
  return {std::move(first), std::move(second)};
}
}  // namespace

Filesystem::Filesystem(Bucket& bucket, FilesystemOptions options)
    : bucket_(bucket), options_(std::move(options)) {
  // The kernel holds the root without ever looking it up or forgetting it.
  auto root = std::make_shared<Node>(kRootInode.value);
  root->nlookup = 1;
  nodes_.emplace(kRootInode.value, std::move(root));
  VersionPaths::Hooks hooks;
  hooks.invalidate = options_.invalidate;
  hooks.log = [this](const std::string& line) { LogLine(line); };
  // A version deleted through a version path may change a live file's
  // current content: forget its reader and the kernel's cached pages.
  hooks.content_changed = [this](InodeId ino) {
    auto n = NodeOfInode(ino);
    if (!n) return;
    if (auto attr = bucket_.GetAttr(ino); attr.ok()) Overlay(*n, &*attr);
    {
      std::lock_guard lock(n->mu);
      n->reader.reset();
    }
    if (options_.invalidate) options_.invalidate(n->id);
  };
  versions_ = std::make_unique<VersionPaths>(bucket_, std::move(hooks));
}

Filesystem::~Filesystem() = default;

Status Filesystem::Init() {
  namespace stdfs = std::filesystem;
  const std::string dir = bucket_.StagingDir();
  std::error_code ec;
  stdfs::create_directories(dir, ec);
  if (ec) {
    return Status::FromErrno(ec.value(), "create staging directory " + dir);
  }
  // Sessions are never recovered (fsync commits versions), so whatever an
  // earlier run left here is garbage.
  for (const auto& entry : stdfs::directory_iterator(dir, ec)) {
    std::error_code rm_ec;
    stdfs::remove_all(entry.path(), rm_ec);
    if (rm_ec) {
      return Status::FromErrno(rm_ec.value(), "remove stale staging file " +
                                                  entry.path().string());
    }
  }
  if (ec) return Status::FromErrno(ec.value(), "list staging directory " + dir);
  return Status::OK();
}

void Filesystem::LogLine(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "katamarifs: %s\n", line.c_str());
  }
}

std::shared_ptr<Filesystem::Node> Filesystem::FindNode(uint64_t node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? nullptr : it->second;
}

// Node ids the table does not hold (never looked up, or already forgotten)
// still name catalog inodes: serve them through a throw-away Node.
std::shared_ptr<Filesystem::Node> Filesystem::NodeOrTransient(uint64_t node) const {
  auto n = FindNode(node);
  return n ? n : std::make_shared<Node>(node);
}

Result<InodeId> Filesystem::TargetOf(uint64_t node) const {
  if (IsVirtualNode(node)) {
    return Status::NotFound("node " + std::to_string(node) + " is not a live inode");
  }
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it != nodes_.end()) return it->second->target;
  if (node & kAliasNodeBit) return Status::NotFound("node " + std::to_string(node) + " was forgotten");
  return InodeId(node);
}

std::string Filesystem::Describe(const std::shared_ptr<Node>& n) const {
  InodeId target;
  {
    std::lock_guard lock(mu_);
    target = n->target;
  }
  auto path = bucket_.PathOf(target);
  return path.ok() ? "'" + *path + "'" : "inode " + std::to_string(target.value);
}

void Filesystem::Overlay(Node& n, Attr* attr) const {
  bool has_session;
  {
    std::lock_guard lock(n.mu);
    has_session = n.session != nullptr;
  }
  // st_blocks of the committed content (the store remembers it per
  // version); a session counts its own below. Asked outside Node::mu.
  // Already known when the attributes came from Bucket::ReadDirPlus.
  if (attr->kind == FileKind::kRegular && !has_session && !attr->held_bytes) {
    attr->held_bytes = 0;
    if (attr->current_version.value != 0 && attr->size != 0) {
      auto held = bucket_.HeldBytes(attr->ino, attr->current_version);  // the catalog's ino
      attr->held_bytes = held.ok() ? std::optional<uint64_t>(*held) : std::nullopt;
    }
  }
  attr->ino = InodeId(n.id);  // st_ino is the kernel's id for the file (rename)
  std::lock_guard lock(n.mu);
  if (n.session) {
    attr->size = n.session->size();
    attr->mtime_ns = n.session->mtime_ns();
    attr->ctime_ns = std::max(attr->ctime_ns, n.session->ctime_ns());
    attr->held_bytes = n.session->held_bytes();
    const WriteSession::HeldAttrs held = n.session->held_attrs();
    if (held.mode) attr->mode = *held.mode & 07777;
    if (held.uid) attr->uid = *held.uid;
    if (held.gid) attr->gid = *held.gid;
    if (held.atime_ns) attr->atime_ns = *held.atime_ns;
  }
  if (n.orphaned) attr->nlink = 0;
  n.last_attr = *attr;
  n.attr_current = true;
}

bool Filesystem::IsDetached(const Node& n) const {
  std::lock_guard lock(mu_);
  return n.detached;
}

Result<Attr> Filesystem::FreshAttr(const std::shared_ptr<Node>& n, std::optional<Attr>* catalog) {
  ASSIGN_OR_RETURN(InodeId target, TargetOf(n->id));
  if (!IsDetached(*n)) {
    auto attr = bucket_.GetAttr(target);
    if (attr.ok()) {
      if (catalog) *catalog = *attr;
      Attr a = std::move(attr).value();
      Overlay(*n, &a);
      return a;
    }
    std::lock_guard lock(n->mu);
    if (!n->orphaned || !attr.status().IsNotFound()) return attr.status();
  }
  // A file replaced by a rename, or unlinked and gone from the catalog
  // (versioning off), is still open: keep answering with what was last seen.
  std::lock_guard lock(n->mu);
  Attr last = n->last_attr;
  last.ino = InodeId(n->id);
  last.nlink = 0;
  if (n->session) {
    last.size = n->session->size();
    last.mtime_ns = n->session->mtime_ns();
    last.ctime_ns = std::max(last.ctime_ns, n->session->ctime_ns());
    last.held_bytes = n->session->held_bytes();
  }
  return last;
}

// The node id the kernel uses for catalog inode `ino` (see the header): its
// own id unless that id is routed to another inode, then an alias. With
// `create` false returns 0 where a new alias would be needed.
uint64_t Filesystem::NodeIdLocked(InodeId ino, bool create) {
  if (auto n = PresenterLocked(ino)) return n->id;
  // The inode's own id is free unless it names another file (routed by a
  // merge) or the replaced one (detached).
  if (nodes_.find(ino.value) == nodes_.end()) return ino.value;
  if (!create) return 0;
  uint64_t id = kAliasNodeBit | next_alias_++;
  presenters_[ino.value] = id;
  nodes_.emplace(id, std::make_shared<Node>(id, ino));
  return id;
}

// The node the kernel knows catalog inode `ino` by, if it has one.
std::shared_ptr<Filesystem::Node> Filesystem::PresenterLocked(InodeId ino) const {
  auto live = [&](uint64_t id) -> std::shared_ptr<Node> {
    auto n = nodes_.find(id);
    if (n == nodes_.end() || n->second->target != ino || n->second->detached) return nullptr;
    return n->second;
  };
  if (auto p = presenters_.find(ino.value); p != presenters_.end()) {
    if (auto n = live(p->second)) return n;
  }
  return live(ino.value);
}

std::shared_ptr<Filesystem::Node> Filesystem::NodeOfInode(InodeId ino) const {
  std::lock_guard lock(mu_);
  return PresenterLocked(ino);
}

Result<Entry> Filesystem::Remember(Attr attr) {
  std::shared_ptr<Node> n;
  {
    std::lock_guard lock(mu_);
    uint64_t id = NodeIdLocked(attr.ino, true);
    auto& slot = nodes_[id];
    if (!slot) slot = std::make_shared<Node>(id);
    ++slot->nlookup;
    n = slot;
  }
  Overlay(*n, &attr);
  return Entry{n->id, attr};
}

void Filesystem::AddLookup(uint64_t node) {
  if (IsVirtualNode(node)) return versions_->AddLookup(node);
  std::lock_guard lock(mu_);
  auto& slot = nodes_[node];
  if (!slot) slot = std::make_shared<Node>(node);
  ++slot->nlookup;
}

void Filesystem::Forget(uint64_t node, uint64_t count) {
  if (IsVirtualNode(node)) return versions_->Forget(node, count);
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  Node& n = *it->second;
  n.nlookup -= std::min(count, n.nlookup);
  if (n.nlookup == 0 && n.opens == 0 && node != kRootInode.value) {
    auto p = presenters_.find(n.target.value);
    if (p != presenters_.end() && p->second == node) presenters_.erase(p);
    nodes_.erase(it);
  }
}

void Filesystem::DropNodeIfUnused(uint64_t node) { Forget(node, 0); }

Result<Entry> Filesystem::Lookup(uint64_t parent, std::string_view name) {
  if (IsVirtualNode(parent)) return versions_->Lookup(parent, name);
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(parent));
  auto attr = bucket_.Lookup(dir, name);
  // A real entry wins; only a missing one may be a version path (NAME@3).
  if (!attr.ok()) return versions_->LookupIn(parent, dir, name, attr.status());
  return Remember(std::move(attr).value());
}

Result<Attr> Filesystem::GetAttr(uint64_t node) {
  if (IsVirtualNode(node)) return versions_->GetAttr(node);
  auto n = NodeOrTransient(node);
  if (auto a = NewFileAttr(n)) return *a;  // being written by tar, cp: no catalog read
  return FreshAttr(n);
}

Result<Attr> Filesystem::SetAttr(uint64_t node, const AttrUpdate& asked,
                                 std::optional<uint64_t> fh) {
  if (IsVirtualNode(node)) return VersionPaths::ReadOnly("change attributes");
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  auto n = NodeOrTransient(node);
  AttrUpdate update = asked;
  if (update.size) {
    ASSIGN_OR_RETURN(Attr before, FreshAttr(n));
    RETURN_IF_ERROR(Truncate(n, fh, *update.size));
    // A truncate to the size the file has changes no byte (no version) but,
    // as on ext4, moves mtime and ctime (docs/semantics.md, The live tree).
    if (before.size == *update.size && !update.mtime_ns) update.mtime_ns = NowNs();
  }
  if (update.mode || update.uid || update.gid || update.atime_ns || update.mtime_ns ||
      update.touch) {
    // A file just created keeps these for its first commit (tar x sets the
    // owner, mode and times of each file before closing it).
    ASSIGN_OR_RETURN(bool held, HoldAttrs(n, target, update));
    if (held) {
      // Nothing changed in the catalog: no need to read it.
      if (auto a = NewFileAttr(n)) return *a;
      return FreshAttr(n);
    }
    Bucket::AttrChange change;
    if (update.mode) {
      ASSIGN_OR_RETURN(change.xattrs, AclChmodEdits(target, *update.mode));
    }
    change.mode = update.mode;
    change.uid = update.uid;
    change.gid = update.gid;
    change.atime_ns = update.atime_ns;
    change.mtime_ns = update.mtime_ns;
    // A file replaced by a rename is no longer its catalog inode (that is
    // the renamed file now): a chmod through its old descriptor stays local.
    auto changed = IsDetached(*n) ? Result<Attr>(Status::NotFound("replaced by a rename"))
                                  : bucket_.SetAttr(target, change);
    std::lock_guard lock(n->mu);
    if (!changed.ok() && !(n->orphaned && changed.status().IsNotFound())) {
      return changed.status();
    }
    // An open file commits with the mtime set here (cp -p, touch -d on an
    // open file), not with the time of its last write.
    if (update.mtime_ns && n->session) n->session->SetMtime(*update.mtime_ns);
    // The current version, history and view directories show the current
    // owner and mode: drop cached ones.
    if (changed.ok() && (update.mode || update.uid || update.gid)) {
      versions_->AttrsChanged(target);
    }
    if (!changed.ok()) {  // orphan the catalog forgot: remember locally
      if (update.mode) n->last_attr.mode = *update.mode;
      if (update.uid) n->last_attr.uid = *update.uid;
      if (update.gid) n->last_attr.gid = *update.gid;
      if (update.mtime_ns) n->last_attr.mtime_ns = *update.mtime_ns;
      if (update.atime_ns) n->last_attr.atime_ns = *update.atime_ns;
    }
  }
  return FreshAttr(n);
}

Result<Entry> Filesystem::MakeNode(uint64_t parent, std::string_view name, FileKind kind,
                                   uint32_t mode, Caller who, std::string_view symlink_target,
                                   uint64_t rdev, Bucket::FirstVersion first) {
  if (IsVirtualNode(parent)) return VersionPaths::ReadOnly("create '" + std::string(name) + "'");
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(parent));
  uint32_t gid = who.gid;
  // BSD group semantics of a setgid directory: new entries take its group
  // and new directories inherit the bit (the kernel leaves this to us).
  auto parent_attr = bucket_.GetAttr(dir);
  if (parent_attr.ok() && (parent_attr->mode & S_ISGID)) {
    gid = parent_attr->gid;
    if (kind == FileKind::kDirectory) mode |= S_ISGID;
  }
  // The directory's default ACL, else the umask (FUSE_CAP_DONT_MASK).
  Xattrs acls;
  if (kind != FileKind::kSymlink) {
    ASSIGN_OR_RETURN(mode, InheritAcls(dir, kind, mode, who.umask, &acls));
  }
  ASSIGN_OR_RETURN(Attr attr, bucket_.MakeNode(dir, name, kind, mode & 07777, who.uid, gid,
                                               symlink_target, rdev, acls, first));
  // Creating a name whose deleted history is kept revives that inode (docs/semantics.md). If
  // descriptors of the unlinked file are still open here, they keep their own (discarded) session;
  // the revived file starts fresh.
  if (auto n = NodeOfInode(attr.ino)) {
    std::lock_guard lock(n->mu);
    if (n->orphaned) {
      n->orphaned = false;
      n->session.reset();
      ++n->sessions_ended;
      n->writers = 0;
      n->reader.reset();
      n->kernel_version = VersionNo(0);
    }
  }
  return Remember(std::move(attr));
}

Result<Entry> Filesystem::MakeDir(uint64_t parent, std::string_view name, uint32_t mode,
                                  Caller who) {
  return MakeNode(parent, name, FileKind::kDirectory, mode, who, {});
}

Result<Entry> Filesystem::MakeFile(uint64_t parent, std::string_view name, uint32_t mode,
                                   Caller who) {
  return MakeNode(parent, name, FileKind::kRegular, mode, who, {});
}

Result<Entry> Filesystem::MakeSymlink(uint64_t parent, std::string_view name,
                                      std::string_view target, Caller who) {
  return MakeNode(parent, name, FileKind::kSymlink, 0777, who, target);
}

Result<Entry> Filesystem::MakeSpecial(uint64_t parent, std::string_view name, FileKind kind,
                                      uint32_t mode, uint64_t rdev, Caller who) {
  if (!IsSpecial(kind)) {
    return Status::InvalidArgument(std::string("mknod of a ") + FileKindName(kind) +
                                   ": only fifos, sockets and devices are special files");
  }
  return MakeNode(parent, name, kind, mode, who, {}, IsDevice(kind) ? rdev : 0);
}

Result<Entry> Filesystem::Link(uint64_t node, uint64_t new_parent, std::string_view new_name) {
  if (IsVirtualNode(node) || IsVirtualNode(new_parent)) return VersionPaths::ReadOnly("link");
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(new_parent));
  ASSIGN_OR_RETURN(Attr attr, bucket_.Link(target, dir, new_name));
  return Remember(std::move(attr));
}

void Filesystem::MarkAttrsChanged(InodeId ino) {
  auto n = NodeOfInode(ino);
  if (!n) return;
  std::lock_guard lock(n->mu);
  n->attr_current = false;
}

void Filesystem::MarkIfOrphaned(InodeId ino) {
  auto n = NodeOfInode(ino);
  if (!n) return;
  auto attr = bucket_.GetAttr(ino);
  std::lock_guard lock(n->mu);
  n->attr_current = false;  // the unlink moved its ctime
  if (!attr.ok() || attr->nlink == 0) {
    n->orphaned = true;
    n->last_attr.nlink = 0;
  } else {
    n->last_attr.nlink = attr->nlink;
  }
}

// Without versioning, removing the last name of a file frees its chunks at
// once. If descriptors are open on it, copy its content into a session first:
// they keep reading (and writing) that copy until they are closed.
Result<std::shared_ptr<WriteSession>> Filesystem::PinIfOpen(const Attr& doomed) {
  if (bucket_.settings().versioning || doomed.kind != FileKind::kRegular || doomed.nlink > 1) {
    return std::shared_ptr<WriteSession>();
  }
  auto n = NodeOfInode(doomed.ino);
  if (!n) return std::shared_ptr<WriteSession>();
  {
    std::lock_guard lock(mu_);
    if (n->opens == 0) return std::shared_ptr<WriteSession>();
  }
  ASSIGN_OR_RETURN(auto session, AcquireSession(n));
  Status st = session->Materialize();
  if (!st.ok()) {
    ReleaseSession(n, session);
    return st;
  }
  return session;
}

// Undoes PinIfOpen when the removal did not happen.
void Filesystem::Unpin(const Attr& doomed, const std::shared_ptr<WriteSession>& pinned) {
  if (!pinned) return;
  if (auto n = NodeOfInode(doomed.ino)) ReleaseSession(n, pinned);
}

Status Filesystem::Unlink(uint64_t parent, std::string_view name, const Caller& who) {
  if (IsVirtualNode(parent)) return versions_->Unlink(parent, name, who);
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(parent));
  auto found = bucket_.Lookup(dir, name);
  if (!found.ok()) return versions_->UnlinkIn(parent, dir, name, found.status(), who);  // rm NAME@3
  Attr child = std::move(found).value();
  ASSIGN_OR_RETURN(auto pinned, PinIfOpen(child));
  Status st = bucket_.Unlink(dir, name);
  if (!st.ok()) {
    Unpin(child, pinned);
    return st;
  }
  MarkIfOrphaned(child.ino);
  return Status::OK();
}

Status Filesystem::RemoveDir(uint64_t parent, std::string_view name, const Caller& who) {
  if (IsVirtualNode(parent)) return VersionPaths::ReadOnly("rmdir '" + std::string(name) + "'");
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(parent));
  Status st = bucket_.RemoveDir(dir, name);
  if (st.IsNotFound()) return versions_->RemoveDirIn(parent, dir, name, st, who);  // rm -r NAME@
  return st;
}

// The editor pattern merged the source's content into inode `into` as its
// next version. The kernel keeps using the source's node id for the renamed
// name, so route that node to `into`: it presents `into` from now on (same
// bytes, so the kernel's cache stays valid). The node that presented `into`
// is, to the kernel, the replaced file: it is detached with the attributes
// it had (`replaced_attr`), its readers keep reading that version, and its
// writers' session is discarded at release (the file lost its name).
// Called with both nodes' commit_mu held.
void Filesystem::AfterMerge(const std::shared_ptr<Node>& source,
                            const std::shared_ptr<Node>& replaced, InodeId into,
                            const Attr& replaced_attr) {
  {
    std::lock_guard lock(mu_);
    if (source) {
      auto p = presenters_.find(source->target.value);
      if (p != presenters_.end() && p->second == source->id) presenters_.erase(p);
      source->target = into;
      presenters_[into.value] = source->id;
    }
    if (replaced) replaced->detached = true;
  }
  if (source) {
    auto now = bucket_.GetAttr(into);
    std::lock_guard lock(source->mu);
    source->reader.reset();  // same bytes, but numbered as `into`'s version
    source->orphaned = false;
    if (now.ok()) source->kernel_version = now->current_version;
  }
  if (replaced) {
    std::lock_guard lock(replaced->mu);
    replaced->orphaned = true;
    replaced->last_attr = replaced_attr;
    replaced->last_attr.nlink = 0;
    if (replaced->reader && replaced->reader->version != replaced_attr.current_version) {
      replaced->reader.reset();
    }
  }
}

Status Filesystem::Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                          std::string_view new_name, unsigned flags) {
  if (IsVirtualNode(parent) || IsVirtualNode(new_parent)) return VersionPaths::ReadOnly("rename");
  ASSIGN_OR_RETURN(InodeId dir, TargetOf(parent));
  ASSIGN_OR_RETURN(InodeId new_dir, TargetOf(new_parent));
  auto found = bucket_.Lookup(dir, name);
  if (!found.ok()) return versions_->RefuseIn(parent, dir, name, found.status());
  Attr source = std::move(found).value();
  auto replaced = bucket_.Lookup(new_dir, new_name);
  if (!replaced.ok() && replaced.status().IsNotFound()) {
    // Renaming onto a version path would hide that version: refuse it.
    RETURN_IF_ERROR(versions_->RefuseIn(new_parent, new_dir, new_name, Status::OK()));
  }
  const bool replacing = replaced.ok() && !(flags & kRenameExchange) && replaced->ino != source.ino;
  // A merge takes the source's owner and mode from the catalog.
  if (replacing) {
    if (auto src = NodeOfInode(source.ino)) RETURN_IF_ERROR(FlushHeldAttrs(src));
  }
  std::shared_ptr<WriteSession> pinned;
  if (replacing) {
    ASSIGN_OR_RETURN(pinned, PinIfOpen(*replaced));
  }
  auto renamed = RenameInStore(dir, name, new_dir, new_name, flags, source.ino,
                               replacing ? std::optional<InodeId>(replaced->ino) : std::nullopt);
  if (!renamed.ok()) {
    if (replaced.ok()) Unpin(*replaced, pinned);
    return renamed.status();
  }
  if (!*renamed && replacing) MarkIfOrphaned(replaced->ino);
  MarkAttrsChanged(source.ino);  // a rename moves the entry's ctime
  return Status::OK();
}

// The store's rename, and the node routing of a merge. No commit of either
// file may resolve its inode across the merge: a close of the source
// committing after it would land in the source's deleted history instead of
// the renamed file, one of the replaced file would bury the renamed content
// (Node::commit_mu). Returns whether the store merged.
Result<bool> Filesystem::RenameInStore(InodeId dir, std::string_view name, InodeId new_dir,
                                       std::string_view new_name, unsigned flags,
                                       InodeId source, std::optional<InodeId> replaced) {
  auto src_node = NodeOfInode(source);
  auto dst_node = replaced ? NodeOfInode(*replaced) : nullptr;
  auto locks = LockCommits(src_node ? &src_node->commit_mu : nullptr,
                           dst_node ? &dst_node->commit_mu : nullptr);
  // What descriptors of the replaced file go on seeing (no commit of it can
  // come in between now).
  Attr before;
  if (dst_node) {
    auto now = bucket_.GetAttr(*replaced);
    std::lock_guard lock(dst_node->mu);
    before = now.ok() ? std::move(now).value() : dst_node->last_attr;
  }
  ASSIGN_OR_RETURN(std::optional<InodeId> merged,
                   bucket_.Rename(dir, name, new_dir, new_name, flags));
  if (!merged) return false;
  AfterMerge(src_node, dst_node, *merged, before);
  return true;
}

Result<std::string> Filesystem::ReadLink(uint64_t node) {
  if (IsVirtualNode(node)) return versions_->ReadLink(node);
  ASSIGN_OR_RETURN(InodeId target, TargetOf(node));
  return bucket_.ReadLink(target);
}

size_t Filesystem::NodeCount() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

uint64_t Filesystem::LookupCount(uint64_t node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  return it == nodes_.end() ? 0 : it->second->nlookup;
}

bool Filesystem::HasSession(uint64_t node) const {
  auto n = FindNode(node);
  if (!n) return false;
  std::lock_guard lock(n->mu);
  return n->session != nullptr;
}

}  // namespace katamari::fs

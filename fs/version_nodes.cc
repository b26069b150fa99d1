// VersionPaths: the table of synthetic nodes, their attributes, reads of
// version files, listings of history and view directories, and xattrs.
// Resolving names is in version_paths.cc.
#include <fcntl.h>

#include <cstdio>

#include "fs/access.h"
#include "fs/posix_acl.h"
#include "fs/version_paths.h"
#include "fs/version_paths_internal.h"
#include "fs/version_syntax.h"

namespace katamari::fs {

namespace {

constexpr uint64_t kIdMask = (uint64_t{1} << 62) - 1;  // keeps kAliasNodeBit clear too
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// r -> r-x: a directory is searchable wherever it is readable.
uint32_t DirBits(uint32_t mode) {
  uint32_t r = mode & 0444;
  return r | (r >> 2);
}

}  // namespace

size_t VersionPaths::KeyHash::operator()(const Key& k) const {
  uint64_t h = SplitMix(static_cast<uint64_t>(k.kind));
  for (uint64_t v : {k.ino, k.a, k.b, k.parent, uint64_t{k.view}}) h = SplitMix(h ^ v);
  return static_cast<size_t>(h);
}

VersionPaths::VersionPaths(Bucket& bucket, Hooks hooks)
    : bucket_(bucket), hooks_(std::move(hooks)) {}

VersionPaths::~VersionPaths() = default;

void VersionPaths::Log(const std::string& line) const {
  if (hooks_.log) {
    hooks_.log(line);
  } else {
    std::fprintf(stderr, "katamarifs: %s\n", line.c_str());
  }
}

Status VersionPaths::ReadOnly(std::string_view what) {
  return Status::ReadOnly(std::string(what) +
                          ": version paths are read-only; change the live file instead");
}

// The id is a hash of the key so that a path keeps its st_ino across
// forgets; a (rare) collision with another live key probes onwards.
uint64_t VersionPaths::RememberLocked(const Key& k) {
  if (auto it = ids_.find(k); it != ids_.end()) return it->second;
  uint64_t low = KeyHash()(k) & kIdMask;
  for (;;) {
    if (low == 0) low = 1;
    uint64_t id = kVirtualNodeBit | low;
    if (!nodes_.count(id)) {
      nodes_.emplace(id, std::make_unique<Node>(k));
      ids_.emplace(k, id);
      return id;
    }
    low = (low + 1) & kIdMask;
  }
}

std::optional<VersionPaths::Key> VersionPaths::KeyOf(uint64_t node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second->key;
}

void VersionPaths::DropIfUnusedLocked(uint64_t node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  const Node& n = *it->second;
  if (n.nlookup != 0 || n.opens != 0 || n.pins != 0) return;
  ids_.erase(n.key);
  nodes_.erase(it);
}

void VersionPaths::Forget(uint64_t node, uint64_t count) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  it->second->nlookup -= std::min(count, it->second->nlookup);
  DropIfUnusedLocked(node);
}

void VersionPaths::AddLookup(uint64_t node) {
  std::lock_guard lock(mu_);
  // Only ids of an open listing are handed out by readdirplus, and those
  // are pinned, so the node is there.
  if (auto it = nodes_.find(node); it != nodes_.end()) ++it->second->nlookup;
}

size_t VersionPaths::NodeCount() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

// Attributes of a key (see "Attributes" in version_paths.h): a version's
// recorded owner and mode, its own size and times. `ino` of the result is
// left to the caller.
Result<Attr> VersionPaths::AttrOf(const Key& k) {
  auto cur = bucket_.GetAttr(InodeId(k.ino));
  if (!cur.ok()) {
    if (k.kind == Kind::kHistory && cur.status().IsNotFound()) {
      std::lock_guard lock(mu_);
      auto id = ids_.find(k);
      if (id != ids_.end() && nodes_.at(id->second)->emptied) return nodes_.at(id->second)->last;
    }
    return cur.status();
  }
  Attr a = std::move(cur).value();
  a.nlink = 1;
  switch (k.kind) {
    case Kind::kVersion: {
      a.kind = FileKind::kRegular;
      a.size = 0;
      a.current_version = VersionNo(k.a);
      if (k.a != 0) {  // else no version at that moment: empty, the file's owner
        ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(InodeId(k.ino), VersionNo(k.a)));
        a.size = v.size;
        a.mtime_ns = a.atime_ns = v.mtime_ns;
        a.ctime_ns = v.commit_time_ns;
        a.mode = v.mode;
        a.uid = v.uid;
        a.gid = v.gid;
      }
      a.mode &= k.view ? 0777 : 0555;
      break;
    }
    case Kind::kHistory: {
      auto versions = bucket_.ListVersions(InodeId(k.ino));
      if (!versions.ok()) return versions.status();
      a.kind = FileKind::kDirectory;
      a.mode = DirBits(a.mode) | (a.mode & 0222);
      a.nlink = 2;
      a.size = versions->size();
      a.current_version = VersionNo(0);
      if (!versions->empty()) a.mtime_ns = a.ctime_ns = versions->back().commit_time_ns;
      break;
    }
    case Kind::kView:
      a.kind = FileKind::kDirectory;
      a.nlink = 2;
      break;
    case Kind::kLink:
      a.kind = FileKind::kSymlink;
      a.mode = 0777;
      break;
    case Kind::kSpecial:  // the entry as it is now: type, owner, mode, rdev
      break;
  }
  return a;
}

Result<Attr> VersionPaths::GetAttr(uint64_t node) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node " + std::to_string(node) + " was forgotten");
  ASSIGN_OR_RETURN(Attr a, AttrOf(*key));
  a.ino = InodeId(node);
  std::lock_guard lock(mu_);
  if (auto it = nodes_.find(node); it != nodes_.end()) it->second->last = a;
  return a;
}

Result<Entry> VersionPaths::ListingEntry(uint64_t node) {
  ASSIGN_OR_RETURN(Attr a, GetAttr(node));
  return Entry{node, a};
}

Result<std::string> VersionPaths::ReadLink(uint64_t node) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node " + std::to_string(node) + " was forgotten");
  if (key->kind != Kind::kLink) return Status::InvalidArgument("not a symlink");
  return bucket_.ReadLink(InodeId(key->ino));
}

// Reading version k.a needs read permission under its recorded owner and
// mode and under the file's current ones (a deleted file's last ones: a
// file tightened before `rm` stays tight). The kernel checks only the
// node's attributes.
Status VersionPaths::CheckRead(const Key& k, const Caller& who) {
  if (who.uid == 0 || k.kind != Kind::kVersion) return Status::OK();
  InodeId ino(k.ino);
  ASSIGN_OR_RETURN(Attr file, bucket_.GetAttr(ino));
  // Under the ACLs too (fs/posix_acl.h): the file's live one, the version's
  // recorded one.
  auto acl_of = [](const Xattrs& x) {
    auto it = x.find(std::string(acl::kAccess));
    return it == x.end() ? std::string() : it->second;
  };
  ASSIGN_OR_RETURN(Xattrs live, bucket_.GetXattrs(ino));
  bool ok = MayAccess(who, file.uid, file.gid, file.mode, acl_of(live), kMayRead);
  uint32_t uid = file.uid, gid = file.gid, mode = file.mode;
  if (ok && k.a != 0) {
    ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(ino, VersionNo(k.a)));
    ok = MayAccess(who, v.uid, v.gid, v.mode, acl_of(v.xattrs), kMayRead);
    uid = v.uid, gid = v.gid, mode = v.mode;
  }
  if (ok) return Status::OK();
  auto path = bucket_.PathOf(ino);
  return CheckAccess(who, uid, gid, mode, kMayRead,
                     "reading version " + std::to_string(k.a) + " of " +
                         (path.ok() ? "'" + *path + "'" : "inode " + std::to_string(k.ino)) +
                         " needs read permission under its recorded owner and mode and the "
                         "file's current ones");
}

Result<OpenedFile> VersionPaths::Open(uint64_t node, int flags, const Caller& who) {
  auto key = KeyOf(node);
  if (!key) return Status::NotFound("version path node " + std::to_string(node) + " was forgotten");
  if (key->kind == Kind::kHistory || key->kind == Kind::kView) {
    return Status::IsDir("cannot open a directory as a file");
  }
  if (key->kind == Kind::kSpecial) {
    return Status::InvalidArgument("cannot open a special file as a regular file");
  }
  if (key->kind != Kind::kVersion) return Status::InvalidArgument("cannot open a symlink");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return ReadOnly("open for writing");
  RETURN_IF_ERROR(CheckRead(*key, who));
  ASSIGN_OR_RETURN(Attr attr, AttrOf(*key));
  attr.ino = InodeId(node);
  auto h = std::make_shared<FileHandle>();
  h->node = node;
  if (key->a != 0) {
    // Pinned while the handle is open (Bucket::OpenVersionPinned): prune
    // keeps the version, rm NAME@N and rm --version N are refused (EBUSY),
    // so a reader never meets EIO for a version removed mid-read.
    // A catalog busy past its timeout (a long CLI command holding the write
    // lock) must not fail a read-only open: the reader goes unpinned then.
    auto pinned = bucket_.OpenVersionPinned(InodeId(key->ino), VersionNo(key->a));
    if (!pinned.ok() && pinned.status().code() == Status::Code::kBusy) {
      pinned = bucket_.OpenVersion(InodeId(key->ino), VersionNo(key->a));
    }
    if (!pinned.ok()) return pinned.status();
    h->reader = std::move(pinned).value();
  }
  OpenedFile out;
  out.keep_cache = true;  // the key names immutable content (version and commit)
  out.entry = Entry{node, attr};
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return Status::NotFound("version path node was forgotten");
  ++it->second->opens;
  out.fh = kVirtualHandleBit | next_fh_++;
  files_.emplace(out.fh, std::move(h));
  return out;
}

Result<size_t> VersionPaths::Read(uint64_t fh, uint64_t off, size_t n, char* buf) {
  std::shared_ptr<FileHandle> h;
  {
    std::lock_guard lock(mu_);
    auto it = files_.find(fh);
    if (it == files_.end()) return Status::InvalidArgument("version file handle is not open");
    h = it->second;
  }
  if (!h->reader) return size_t{0};
  std::lock_guard lock(h->mu);
  size_t done = 0;
  while (done < n) {
    size_t piece = 0;
    Status st = h->reader->ReadAt(off + done, n - done, buf + done, &piece);
    if (!st.ok()) {
      const VersionInfo& v = h->reader->info();
      auto path = bucket_.PathOf(v.ino);
      Log("read of " + (path.ok() ? *path : "inode " + std::to_string(v.ino.value)) + "@" +
          std::to_string(v.version.value) + " failed: " + st.ToString());
      return st;
    }
    if (piece == 0) break;
    done += piece;
  }
  return done;
}

Status VersionPaths::Release(uint64_t fh) {
  // The handle dies after mu_ is unlocked: its pinned reader's destructor
  // writes the catalog (the unpin, perhaps a busy wait, a reclaim), which
  // must not stall every other @-path operation.
  decltype(files_)::mapped_type dying;
  std::lock_guard lock(mu_);
  auto it = files_.find(fh);
  if (it == files_.end()) return Status::InvalidArgument("version file handle is not open");
  uint64_t node = it->second->node;
  dying = std::move(it->second);
  files_.erase(it);
  if (auto n = nodes_.find(node); n != nodes_.end()) --n->second->opens;
  DropIfUnusedLocked(node);
  return Status::OK();
}

}  // namespace katamari::fs

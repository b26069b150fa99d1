// VersionPaths: what version paths name (docs/semantics.md, Version paths), and deleting versions
// through them. See version_paths.h.
#include "fs/version_paths.h"

#include <chrono>

#include "fs/access.h"
#include "fs/version_paths_internal.h"
#include "fs/version_syntax.h"

namespace katamari::fs {

namespace {

std::string Quote(std::string_view name) { return "'" + std::string(name) + "'"; }

// Whether a name the real lookup did not find (`missing`) is worth trying as
// a version path: only names with '@', and only when the real lookup said
// "no such name" (or "too long": NAME@TIME may be longer than NAME_MAX
// allows a real name), never when it failed.
bool Worth(std::string_view name, const Status& missing) {
  return VersionPaths::MayName(name) &&
         (missing.ok() || missing.IsNotFound() || missing.code() == Status::Code::kNameTooLong);
}

Status NotAVersionPath(std::string_view name) {
  return Status::NotFound("no entry " + Quote(name) + ", and no version path of that name");
}

}  // namespace

// `f@yesterday` where `f` exists: the user meant a version, so say once in
// a while (not per lookup: tools probe names) which spellings there are.
void VersionPaths::HintBadSuffix(InodeId dir, std::optional<Seq> at, std::string_view name) {
  size_t cut = name.rfind('@');
  if (cut == 0 || cut == std::string_view::npos) return;
  if (!bucket_.Lookup(dir, std::string(name.substr(0, cut)), at).ok()) return;
  using Clock = std::chrono::steady_clock;
  int64_t now = Clock::now().time_since_epoch().count();
  int64_t last = last_hint_.load(std::memory_order_relaxed);
  if (last != 0 && now - last < std::chrono::nanoseconds(std::chrono::seconds(10)).count()) return;
  if (!last_hint_.compare_exchange_strong(last, now)) return;
  Log(Quote(name) + " is not a version path: after '@' write N, -K, a moment such as "
      "2026-12-01T10:00:00Z or 2026-12-01T11:00+01:00, a date, or unix:SECONDS "
      "(docs/semantics.md, Version paths)");
}

bool VersionPaths::MayName(std::string_view name) {
  return name.find('@') != std::string_view::npos;
}

// The file a NAME@N / NAME@-K / NAME@ path is about. In a live directory:
// the file NAME names now, else the deleted file it named last — but not a
// file that was renamed away and lives on under another name (deleting
// "old@" must not reach into the history of what is now "new"). In a view:
// the file NAME named at that moment.
Result<Attr> VersionPaths::BaseFile(InodeId dir, std::optional<Seq> at, std::string_view base) {
  Attr a;
  if (at) {
    ASSIGN_OR_RETURN(a, bucket_.Lookup(dir, base, *at));
  } else {
    bool live = true;
    ASSIGN_OR_RETURN(a, bucket_.LookupAny(dir, base, &live));
    if (!live && a.nlink > 0) {
      return Status::NotFound(Quote(base) + " was renamed; its history is under its new name");
    }
  }
  if (a.kind != FileKind::kRegular) return Status::NotFound(Quote(base) + " is not a file");
  return a;
}

// Version `vno` of `ino`, or (no vno) the version current at `at`. A file
// with no version left that was made by `at` (all pruned or deleted, or none
// committed yet) is NotFound: it has nothing to show at that moment
// (docs/semantics.md, Version paths); without `at`, the empty key (vno 0).
Result<VersionPaths::Key> VersionPaths::VersionKey(InodeId ino, std::optional<VersionNo> vno,
                                                   std::optional<Seq> at) {
  if (vno) {
    ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(ino, *vno));
    return Key{Kind::kVersion, ino.value, v.version.value, v.seq.value, 0};
  }
  if (!at) return Key{Kind::kVersion, ino.value, 0, 0, 0};
  auto v = bucket_.VersionAt(ino, *at);
  if (!v.ok()) {
    if (!v.status().IsNotFound()) return v.status();
    return Status::NotFound("inode " + std::to_string(ino.value) +
                            " has no version left from that moment");
  }
  return Key{Kind::kVersion, ino.value, v->version.value, v->seq.value, 0};
}

// NAME@-K: K versions before the current one (in a view: before the one
// current at that moment), counting the versions that still exist.
Result<VersionPaths::Key> VersionPaths::BackKey(InodeId ino, uint64_t back, std::optional<Seq> at) {
  ASSIGN_OR_RETURN(std::vector<VersionInfo> all, bucket_.ListVersions(ino));
  std::vector<const VersionInfo*> seen;
  for (const VersionInfo& v : all) {
    if (!at || v.seq <= *at) seen.push_back(&v);
  }
  if (seen.size() <= back) {
    return Status::NotFound("only " + std::to_string(seen.size()) + " versions");
  }
  const VersionInfo& v = *seen[seen.size() - 1 - back];
  return Key{Kind::kVersion, ino.value, v.version.value, v.seq.value, 0};
}

// The node of `child` as seen at `at`: an entry of a view (in_view), or
// what NAME@TIME names.
Result<VersionPaths::Key> VersionPaths::ChildKey(uint64_t parent, const Attr& child, Seq at,
                                                 bool in_view) {
  switch (child.kind) {
    case FileKind::kDirectory:
      return Key{Kind::kView, child.ino.value, at.value, 0, parent};
    case FileKind::kSymlink:
      return Key{Kind::kLink, child.ino.value, 0, 0, 0};
    case FileKind::kFifo:
    case FileKind::kSocket:
    case FileKind::kCharDevice:
    case FileKind::kBlockDevice:
      return Key{Kind::kSpecial, child.ino.value, 0, 0, 0};
    case FileKind::kRegular:
      break;
  }
  ASSIGN_OR_RETURN(Key k, VersionKey(child.ino, std::nullopt, at));
  k.view = in_view;
  return k;
}

std::optional<VersionPaths::Target> VersionPaths::Tombstone(uint64_t parent,
                                                            std::string_view base) {
  std::lock_guard lock(mu_);
  for (const auto& [id, n] : nodes_) {
    if (n->emptied && n->key.kind == Kind::kHistory && n->key.parent == parent && n->base == base) {
      return Target{n->key, n->base, true};
    }
  }
  return std::nullopt;
}

// `name` (with a version suffix) in directory `dir` — live if `at` is
// nullopt, else as of that commit — looked up from node `parent`.
Result<VersionPaths::Target> VersionPaths::ResolveName(uint64_t parent, InodeId dir,
                                                       std::optional<Seq> at,
                                                       std::string_view name) {
  auto parsed = ParseVersionName(name);
  if (!parsed) {
    HintBadSuffix(dir, at, name);
    return NotAVersionPath(name);
  }
  const VersionSuffix& s = parsed->suffix;
  std::string base(parsed->base);
  if (s.kind == VersionSuffix::Kind::kTime) {
    Seq when = bucket_.SeqAtTime(s.time_ns);
    if (base.empty()) return Target{Key{Kind::kView, dir.value, when.value, 0, parent}, base};
    ASSIGN_OR_RETURN(Attr child, bucket_.Lookup(dir, base, when));
    ASSIGN_OR_RETURN(Key k, ChildKey(parent, child, when, /*in_view=*/false));
    return Target{k, base};
  }
  if (base.empty()) return NotAVersionPath(name);
  auto file = BaseFile(dir, at, base);
  if (!file.ok()) {
    if (s.kind == VersionSuffix::Kind::kHistory && !at && file.status().IsNotFound()) {
      if (auto t = Tombstone(parent, base)) return *t;
    }
    return file.status();
  }
  switch (s.kind) {
    case VersionSuffix::Kind::kHistory:
      return Target{Key{Kind::kHistory, file->ino.value, 0, 0, parent}, base};
    case VersionSuffix::Kind::kNumber: {
      ASSIGN_OR_RETURN(Key k, VersionKey(file->ino, VersionNo(s.value), std::nullopt));
      return Target{k, base};
    }
    case VersionSuffix::Kind::kBack: {
      ASSIGN_OR_RETURN(Key k, BackKey(file->ino, s.value, at));
      return Target{k, base};
    }
    case VersionSuffix::Kind::kTime:
      break;
  }
  return NotAVersionPath(name);
}

// `name` inside synthetic directory `dir` (node `parent`).
Result<VersionPaths::Target> VersionPaths::ResolveChild(uint64_t parent, const Key& dir,
                                                        std::string_view name) {
  if (dir.kind == Kind::kHistory) {
    auto vno = ParseVersionNumber(name);
    if (!vno) return Status::NotFound("no version " + Quote(name) + ": entries are 1, 2, ...");
    ASSIGN_OR_RETURN(Key k, VersionKey(InodeId(dir.ino), VersionNo(*vno), std::nullopt));
    return Target{k, ""};
  }
  if (dir.kind != Kind::kView) return Status::NotDir("not a directory");
  Seq at(dir.a);
  auto child = bucket_.Lookup(InodeId(dir.ino), name, at);
  if (child.ok()) {
    ASSIGN_OR_RETURN(Key k, ChildKey(parent, *child, at, /*in_view=*/true));
    return Target{k, std::string(name)};
  }
  if (!child.status().IsNotFound() || !MayName(name)) return child.status();
  return ResolveName(parent, InodeId(dir.ino), at, name);
}

Result<Entry> VersionPaths::Enter(const Target& t, std::optional<double> entry_timeout) {
  ASSIGN_OR_RETURN(Attr a, AttrOf(t.key));
  std::lock_guard lock(mu_);
  uint64_t id = RememberLocked(t.key);
  Node& n = *nodes_.at(id);
  ++n.nlookup;
  if (t.key.kind == Kind::kHistory && n.base.empty()) n.base = t.base;
  a.ino = InodeId(id);
  n.last = a;
  Entry e{id, a};
  e.entry_timeout = entry_timeout;
  return e;
}

Result<Entry> VersionPaths::LookupIn(uint64_t parent, InodeId dir, std::string_view name,
                                     const Status& missing) {
  if (!Worth(name, missing)) return missing;
  auto t = ResolveName(parent, dir, std::nullopt, name);
  if (!t.ok()) return t.status().IsNotFound() ? missing : t.status();
  // What these names mean moves with every commit: never cache them.
  return Enter(*t, 0.0);
}

Result<Entry> VersionPaths::Lookup(uint64_t parent, std::string_view name) {
  auto dir = KeyOf(parent);
  if (!dir)
    return Status::NotFound("version path node " + std::to_string(parent) + " was forgotten");
  ASSIGN_OR_RETURN(Target t, ResolveChild(parent, *dir, name));
  return Enter(t, std::nullopt);
}

// Deleting a version needs write permission on its file (current attributes,
// or a deleted file's last ones) and, unless `who` is the version's recorded
// owner, under the version's recorded mode: whoever revives a deleted name or
// renames a file over it owns the file but not the versions before.
Status VersionPaths::CheckDelete(InodeId ino, VersionNo vno, const Caller& who) {
  if (who.uid == 0) return Status::OK();
  ASSIGN_OR_RETURN(Attr file, bucket_.GetAttr(ino));
  ASSIGN_OR_RETURN(VersionInfo v, bucket_.GetVersion(ino, vno));
  bool file_ok = MayAccess(who, file.uid, file.gid, file.mode, kMayWrite);
  bool version_ok = who.uid == v.uid || MayAccess(who, v.uid, v.gid, v.mode, kMayWrite);
  if (file_ok && version_ok) return Status::OK();
  auto path = bucket_.PathOf(ino);
  std::string what = "deleting version " + std::to_string(vno.value) + " of " +
                     (path.ok() ? Quote(*path) : "inode " + std::to_string(ino.value));
  if (!file_ok) {
    return CheckAccess(who, file.uid, file.gid, file.mode, kMayWrite,
                       what + " needs write permission on the file");
  }
  return CheckAccess(who, v.uid, v.gid, v.mode, kMayWrite,
                     what + " needs write permission on that version as it was recorded");
}

// Deletes version `vno` of `ino` for good. A deleted current version changes
// the live file; a history emptied through its NAME@ node keeps that node
// answering until rmdir (see Node::emptied).
Status VersionPaths::DeleteVersion(InodeId ino, VersionNo vno, uint64_t history_node,
                                   const Caller& who) {
  RETURN_IF_ERROR(CheckDelete(ino, vno, who));
  ASSIGN_OR_RETURN(Attr before, bucket_.GetAttr(ino));
  RETURN_IF_ERROR(bucket_.DeleteVersion(ino, vno));
  if (before.current_version == vno && hooks_.content_changed) hooks_.content_changed(ino);
  AttrsChanged(ino);  // the history directory's size and times
  if (history_node != 0) {
    auto after = bucket_.GetAttr(ino);
    if (!after.ok() && after.status().IsNotFound()) {
      std::lock_guard lock(mu_);
      if (auto it = nodes_.find(history_node); it != nodes_.end()) {
        it->second->emptied = true;
        it->second->last.size = 0;
      }
    }
  }
  return Status::OK();
}

Status VersionPaths::UnlinkIn(uint64_t parent, InodeId dir, std::string_view name,
                              const Status& missing, const Caller& who) {
  if (!Worth(name, missing)) return missing;
  auto t = ResolveName(parent, dir, std::nullopt, name);
  if (!t.ok()) return t.status().IsNotFound() ? missing : t.status();
  switch (t->key.kind) {
    case Kind::kVersion:
      if (t->key.a == 0) return ReadOnly(Quote(name) + " had no version to delete");
      return DeleteVersion(InodeId(t->key.ino), VersionNo(t->key.a), 0, who);
    case Kind::kHistory:
    case Kind::kView:
      return Status::IsDir(Quote(name) + " is a directory");
    case Kind::kLink:
    case Kind::kSpecial:
      break;
  }
  return ReadOnly("unlink " + Quote(name));
}

Status VersionPaths::Unlink(uint64_t parent, std::string_view name, const Caller& who) {
  auto dir = KeyOf(parent);
  if (!dir)
    return Status::NotFound("version path node " + std::to_string(parent) + " was forgotten");
  if (dir->kind != Kind::kHistory) return ReadOnly("unlink " + Quote(name));
  auto vno = ParseVersionNumber(name);
  if (!vno) return Status::NotFound("no version " + Quote(name));
  return DeleteVersion(InodeId(dir->ino), VersionNo(*vno), parent, who);
}

Status VersionPaths::RemoveDirIn(uint64_t parent, InodeId dir, std::string_view name,
                                 const Status& missing, const Caller& who) {
  if (!Worth(name, missing)) return missing;
  auto t = ResolveName(parent, dir, std::nullopt, name);
  if (!t.ok()) return t.status().IsNotFound() ? missing : t.status();
  if (t->key.kind == Kind::kView) return ReadOnly("rmdir " + Quote(name));
  if (t->key.kind != Kind::kHistory) return Status::NotDir(Quote(name) + " is not a directory");
  if (t->tombstone) {  // `rm -r NAME@` deleted the last version: nothing is left
    std::lock_guard lock(mu_);
    if (auto id = ids_.find(t->key); id != ids_.end()) nodes_.at(id->second)->emptied = false;
    return Status::OK();
  }
  InodeId ino(t->key.ino);
  ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, bucket_.ListVersions(ino));
  if (!versions.empty()) {
    return Status::NotEmpty(Quote(name) + " still holds " + std::to_string(versions.size()) +
                            " versions; `rm -r` deletes them all");
  }
  ASSIGN_OR_RETURN(Attr file, bucket_.GetAttr(ino));
  RETURN_IF_ERROR(CheckAccess(who, file.uid, file.gid, file.mode, kMayWrite,
                              "removing the history " + Quote(name) +
                                  " needs write permission on the file"));
  RETURN_IF_ERROR(bucket_.PurgeHistory(ino));
  AttrsChanged(ino);
  return Status::OK();
}

Status VersionPaths::RefuseIn(uint64_t parent, InodeId dir, std::string_view name,
                              const Status& missing) {
  if (!Worth(name, missing)) return missing;
  auto t = ResolveName(parent, dir, std::nullopt, name);
  if (!t.ok()) return t.status().IsNotFound() ? missing : t.status();
  return ReadOnly("rename " + Quote(name));
}

}  // namespace katamari::fs

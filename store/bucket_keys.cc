// The key API of the original library: Put/Get/Delete/List by "a/b/c" keys.
#include <algorithm>
#include <functional>

#include "store/bucket_internal.h"
#include "store/time_format.h"

namespace katamari {

namespace {

// Splits and validates a key: '/'-separated names, no empty, "." or ".."
// parts, each at most 255 bytes. One leading '/' is tolerated.
Result<std::vector<std::string>> SplitKey(std::string_view key) {
  if (!key.empty() && key.front() == '/') key.remove_prefix(1);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("bad key '" + std::string(key) + "': " + why +
                                   "; keys look like 'dir/sub/file.txt'");
  };
  if (key.empty()) return bad("it is empty");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) slash = key.size();
    std::string_view part = key.substr(start, slash - start);
    if (part.empty()) return bad("it has an empty path component");
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
    if (part.size() > 255) return bad("a component is longer than 255 bytes");
    if (part.find('\0') != std::string_view::npos) return bad("it contains a NUL byte");
    parts.emplace_back(part);
    start = slash + 1;
  }
  return parts;
}

std::string Quote(std::string_view key) { return "'" + std::string(key) + "'"; }

}  // namespace

// Resolves a key to an inode. Live names first; with `allow_deleted`, the
// last closed name of each component when no live one exists.
static Result<InodeId> ResolveKey(Catalog& cat, std::string_view key, bool allow_deleted,
                                  bool* live) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitKey(key));
  InodeId cur = kRootInode;
  *live = true;
  for (const std::string& p : parts) {
    bool l = true;
    auto next = allow_deleted ? cat.LookupAny(cur, p, &l) : cat.Lookup(cur, p);
    if (!next.ok()) {
      if (next.status().IsNotFound()) return Status::NotFound("no such key " + Quote(key));
      return next.status();
    }
    *live = *live && l;
    cur = *next;
  }
  return cur;
}

static Result<InodeId> ResolveKeyAt(Catalog& cat, std::string_view key, Seq at) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitKey(key));
  InodeId cur = kRootInode;
  for (const std::string& p : parts) {
    auto next = cat.Lookup(cur, p, at);
    if (!next.ok()) {
      if (next.status().IsNotFound()) {
        return Status::NotFound("key " + Quote(key) + " did not exist at that time");
      }
      return next.status();
    }
    cur = *next;
  }
  return cur;
}

Result<VersionInfo> Bucket::Put(std::string_view key, ByteSource& src, const PutOptions& opts) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitKey(key));
  for (const auto& [name, value] : opts.metadata) {
    if (name.rfind("user.", 0) != 0) {
      return Status::InvalidArgument("metadata name '" + name + "' must start with 'user.'");
    }
  }
  Catalog& cat = *s_->catalog;
  Catalog::PutFile p;
  p.name = parts.back();
  parts.pop_back();
  p.dirs = std::move(parts);
  p.dir_node.mode = 0755;
  p.dir_node.uid = p.file_node.uid = opts.uid;
  p.dir_node.gid = p.file_node.gid = opts.gid;
  p.file_node.mode = opts.mode & 07777;
  // The new content carries exactly the given metadata, live and in the version.
  p.xattrs = opts.metadata;
  Result<VersionInfo> r = Status::IOError("not committed");
  {
    // Data first, then names and version in one transaction: a failed or
    // crashed put leaves at most orphan chunks, never a key without content.
    ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
    // put hashes its holes' zeros: its SHA-256 is complete at once.
    // Replacing a file: its current version's chunks are delta bases.
    std::unique_ptr<DeltaBases> bases;
    Result<InodeId> cur = kRootInode;
    for (const std::string& name : p.dirs) {
      if (cur.ok()) cur = cat.Lookup(*cur, name);
    }
    if (cur.ok()) cur = cat.Lookup(*cur, p.name);
    if (cur.ok()) bases = CurrentDeltaBases(*s_, *cur);
    ASSIGN_OR_RETURN(Ingested in, IngestStream(*s_, src, opts.progress, /*hash_holes=*/true,
                                               bases.get()));
    p.version.size = in.size;
    p.version.mtime_ns = opts.mtime_ns.value_or(NowNs());
    p.version.sha256 = in.sha256;
    p.version.sha256_pending = in.sha256_pending;
    p.version.chunks = std::move(in.chunks);
    // What readers of this process hold of the file it replaces stays, as
    // for a commit (AddIngestedVersion).
    std::unique_lock<std::mutex> pins(s_->pin_mu);
    if (cur.ok()) p.version.held_here = HeldHereLocked(*s_, *cur, std::nullopt);
    r = cat.Put(p);
  }  // gc lock released: the version row now holds its chunks
  if (!r.ok() && r.status().code() == Status::Code::kNotDir) {
    return Status::NotDir("cannot put " + Quote(key) + ": " + r.status().message());
  }
  if (!r.ok() && r.status().code() == Status::Code::kIsDir) {
    return Status::IsDir("cannot put " + Quote(key) + ": " + r.status().message());
  }
  if (r.ok() && !cat.settings().versioning) TryReclaim(*s_, dir_);
  return r;
}

Result<VersionInfo> Bucket::Resolve(std::string_view key, const VersionSelector& sel) {
  Catalog& cat = *s_->catalog;
  if (sel.at_time_ns) {
    Seq at = cat.SeqAtTime(*sel.at_time_ns);
    if (at.value == 0) {
      return Status::NotFound("key " + Quote(key) + " did not exist at " +
                              FormatUtcTime(*sel.at_time_ns) + " (the bucket was empty)");
    }
    ASSIGN_OR_RETURN(InodeId ino, ResolveKeyAt(cat, key, at));
    auto v = cat.VersionAt(ino, at);
    if (!v.ok() && v.status().IsNotFound()) {
      return Status::NotFound("key " + Quote(key) + " had no content at " +
                              FormatUtcTime(*sel.at_time_ns));
    }
    return v;
  }
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(cat, key, true, &live));
  if (sel.version) {
    auto v = cat.GetVersion(ino, *sel.version);
    if (!v.ok() && v.status().IsNotFound()) {
      return Status::NotFound("key " + Quote(key) + " has no version " +
                              std::to_string(sel.version->value) +
                              "; list them with 'katamari versions " + std::string(key) + "'");
    }
    return v;
  }
  if (!live) {
    return Status::NotFound("key " + Quote(key) +
                            " was deleted; its history is kept: see 'katamari versions " +
                            std::string(key) + "' and get it with --version N");
  }
  ASSIGN_OR_RETURN(Attr a, cat.GetAttr(ino));
  if (IsSpecial(a.kind)) {
    return Status::NotFound("key " + Quote(key) + " is a " + FileKindName(a.kind) +
                            ", a special file without content; there is nothing to get "
                            "('katamari ls' shows its type)");
  }
  if (a.kind != FileKind::kRegular) return Status::IsDir(Quote(key) + " is not a file");
  if (a.current_version.value == 0) {
    return Status::NotFound("key " + Quote(key) + " has no committed content yet");
  }
  return cat.GetVersion(ino, a.current_version);
}

Status Bucket::Get(std::string_view key, const VersionSelector& sel, ByteSink& out,
                   const ProgressFn& progress) {
  ASSIGN_OR_RETURN(VersionInfo v, Resolve(key, sel));
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s_->catalog->VersionChunks(v.ino, v.version));
  const std::string what = std::string(key) + "@" + std::to_string(v.version.value);
  // Every byte passes: a pending SHA-256 is completed on the way.
  if (v.sha256_pending) return StreamAndCompleteSha256(*s_, v, chunks, out, what, progress);
  return StreamChunks(*s_, chunks, out, what, progress);
}

Status Bucket::Delete(std::string_view key) {
  ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitKey(key));
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(*s_->catalog, key, false, &live));
  ASSIGN_OR_RETURN(Attr a, s_->catalog->GetAttr(ino));
  if (a.kind == FileKind::kDirectory) {
    return Status::IsDir(Quote(key) + " is a directory; delete the keys inside it instead");
  }
  InodeId parent = kRootInode;
  if (parts.size() > 1) {
    std::string dir_key = std::string(key.substr(0, key.rfind('/')));
    ASSIGN_OR_RETURN(parent, ResolveKey(*s_->catalog, dir_key, false, &live));
  }
  return Unlink(parent, parts.back());
}

Status Bucket::DeleteVersion(std::string_view key, VersionNo vno) {
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(*s_->catalog, key, true, &live));
  Status st = DeleteVersion(ino, vno);
  if (st.IsNotFound()) {
    return Status::NotFound("key " + Quote(key) + " has no version " +
                            std::to_string(vno.value));
  }
  return st;
}

Status Bucket::Purge(std::string_view key) {
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(*s_->catalog, key, true, &live));
  // Asked first: a pinned history (a file open for writing in a mount)
  // keeps its name too. PurgeHistory asks again in its own transaction.
  RETURN_IF_ERROR(s_->catalog->CheckUnpinned(ino));
  if (live) RETURN_IF_ERROR(Delete(key));
  return PurgeHistory(ino);
}

Result<std::vector<VersionInfo>> Bucket::Versions(std::string_view key) {
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(*s_->catalog, key, true, &live));
  ASSIGN_OR_RETURN(std::vector<VersionInfo> out, s_->catalog->ListVersions(ino));
  // What `katamari versions` shows: every SHA-256, pending ones completed.
  for (VersionInfo& v : out) {
    ASSIGN_OR_RETURN(v, CompleteSha256(std::move(v)));
  }
  return out;
}

Result<VersionInfo> Bucket::Restore(std::string_view key, const VersionSelector& sel) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  ASSIGN_OR_RETURN(VersionInfo from, Resolve(key, sel));
  Catalog& cat = *s_->catalog;
  ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, cat.VersionChunks(from.ino, from.version));
  bool live = true;
  ASSIGN_OR_RETURN(InodeId ino, ResolveKey(cat, key, true, &live));
  if (!live) {
    // Bring the name back: creating it revives the same history.
    ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitKey(key));
    InodeId parent = kRootInode;
    if (parts.size() > 1) {
      bool dir_live = true;
      ASSIGN_OR_RETURN(parent, ResolveKey(cat, key.substr(0, key.rfind('/')), false, &dir_live));
    }
    ASSIGN_OR_RETURN(Attr old, cat.GetAttr(ino));
    ASSIGN_OR_RETURN(Attr a, MakeNode(parent, parts.back(), FileKind::kRegular, old.mode,
                                      old.uid, old.gid));
    ino = a.ino;
  }
  Catalog::NewVersion v = VersionFrom(ino, from, std::move(chunks));
  v.restored_from = from.version;
  return cat.AddVersion(v);
}

Catalog::NewVersion VersionFrom(InodeId ino, const VersionInfo& from,
                                std::vector<ChunkRef> chunks) {
  Catalog::NewVersion v;
  v.ino = ino;
  v.size = from.size;
  v.mtime_ns = from.mtime_ns;
  v.sha256 = from.sha256;
  v.sha256_pending = from.sha256_pending;
  v.chunks = std::move(chunks);
  v.xattrs = from.xattrs;
  return v;
}

Result<std::vector<FileListing>> Bucket::List(std::string_view prefix, bool include_deleted) {
  Catalog& cat = *s_->catalog;
  std::vector<FileListing> out;
  // Each step reads the catalog as it is then: a mount (or another command)
  // may remove what an earlier step listed. NotFound: gone since, skipped.
  auto add_file = [&](const std::string& key, InodeId ino, bool deleted) -> Status {
    auto attr = cat.GetAttr(ino);
    if (!attr.ok() && attr.status().IsNotFound()) return Status::OK();
    ASSIGN_OR_RETURN(Attr a, std::move(attr));
    if (a.kind != FileKind::kRegular && !IsSpecial(a.kind)) return Status::OK();
    FileListing f;
    f.key = key;
    f.deleted = deleted;
    f.attr = a;
    auto listed = cat.ListVersions(ino);
    if (!listed.ok() && listed.status().IsNotFound()) return Status::OK();
    ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, std::move(listed));
    f.version_count = versions.size();
    if (!versions.empty()) {
      // What `katamari ls` shows: the latest SHA-256, completed if pending.
      auto latest = CompleteSha256(versions.back());
      if (!latest.ok() && latest.status().IsNotFound()) return Status::OK();  // gone since
      ASSIGN_OR_RETURN(f.latest, std::move(latest));
    }
    out.push_back(std::move(f));
    return Status::OK();
  };
  // Depth-first over live directories, skipping subtrees the prefix excludes.
  std::function<Status(InodeId, const std::string&)> walk = [&](InodeId dir,
                                                                const std::string& base) {
    auto listed = cat.ReadDir(dir);
    if (!listed.ok() && listed.status().IsNotFound() && dir != kRootInode) return Status::OK();
    ASSIGN_OR_RETURN(std::vector<DirEntry> entries, std::move(listed));
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    for (const DirEntry& e : entries) {
      std::string key = base + e.name;
      if (e.kind == FileKind::kDirectory) {
        std::string sub = key + "/";
        size_t n = std::min(sub.size(), prefix.size());
        if (sub.compare(0, n, prefix.substr(0, n)) == 0) RETURN_IF_ERROR(walk(e.ino, sub));
      } else if ((e.kind == FileKind::kRegular || IsSpecial(e.kind)) &&
                 key.rfind(prefix, 0) == 0) {
        RETURN_IF_ERROR(add_file(key, e.ino, false));
      }
    }
    if (include_deleted) {
      ASSIGN_OR_RETURN(std::vector<DirEntry> gone, cat.ReadDirDeleted(dir));
      for (const DirEntry& e : gone) {
        std::string key = base + e.name;
        if (key.rfind(prefix, 0) == 0) RETURN_IF_ERROR(add_file(key, e.ino, true));
      }
    }
    return Status::OK();
  };
  RETURN_IF_ERROR(walk(kRootInode, ""));
  std::sort(out.begin(), out.end(),
            [](const FileListing& a, const FileListing& b) { return a.key < b.key; });
  return out;
}

}  // namespace katamari

// Filesystem: regular-file operations (open, read, write, flush, release,
// fsync, truncate, fallocate) and the life cycle of write sessions.
#include <fcntl.h>
#include <linux/falloc.h>

#include <functional>

#include "fs/filesystem.h"
#include "fs/filesystem_internal.h"
#include "fs/version_paths.h"

namespace katamari::fs {

namespace {

// The catalog change that records attributes a session held.
Bucket::AttrChange HeldChange(const WriteSession::HeldAttrs& held, const WriteSession& s) {
  Bucket::AttrChange change;
  change.mode = held.mode;
  change.uid = held.uid;
  change.gid = held.gid;
  change.atime_ns = held.atime_ns;
  change.ctime_ns = s.ctime_ns();
  return change;
}

}  // namespace

Result<std::shared_ptr<Filesystem::FileHandle>> Filesystem::GetHandle(uint64_t fh) const {
  std::lock_guard lock(mu_);
  auto it = handles_.find(fh);
  if (it == handles_.end()) {
    return Status::InvalidArgument("file handle " + std::to_string(fh) + " is not open");
  }
  return it->second;
}

// Joins the node's session, creating it on the node's current version. The
// store is asked outside the node's lock; if another opener won the race in
// the meantime, its session is joined instead.
Result<std::shared_ptr<WriteSession>> Filesystem::AcquireSession(
    const std::shared_ptr<Node>& n, const Attr* known, std::optional<uint64_t> known_ended) {
  for (;;) {
    uint64_t ended = 0;
    bool joined = false;
    ASSIGN_OR_RETURN(std::shared_ptr<WriteSession> s,
                     TryAcquireSession(n, known, known_ended, &ended, &joined));
    if (joined) return s;
    std::lock_guard lock(n->mu);
    if (!n->session && n->sessions_ended != ended) {
      // A session of this node committed and ended after the catalog was
      // read: `s` would build on the version before that commit and undo
      // it. Read again (`s` unpins its base as it goes).
      known = nullptr;
      continue;
    }
    if (!n->session) {
      n->session = std::move(s);
      n->writers = 0;
    }
    ++n->writers;
    return n->session;
  }
}

// One attempt of AcquireSession: the node's session, joined (*joined), or a
// new one on the catalog's current version, not yet published, with *ended
// the node's sessions_ended from before the catalog was read.
Result<std::shared_ptr<WriteSession>> Filesystem::TryAcquireSession(
    const std::shared_ptr<Node>& n, const Attr* known, std::optional<uint64_t> known_ended,
    uint64_t* ended, bool* joined) {
  Attr last;
  bool orphaned;
  const bool detached = IsDetached(*n);
  {
    std::unique_lock lock(n->mu);
    // Joining a session its last writer is committing would put this
    // opener's changes (an O_TRUNC, say) into that commit: wait for it.
    n->released.wait(lock, [&] { return !n->releasing; });
    if (n->session) {
      ++n->writers;
      *joined = true;
      return n->session;
    }
    last = n->last_attr;
    orphaned = n->orphaned;
    *ended = n->sessions_ended;
    // `known` was read when sessions_ended was `known_ended`: stale if a
    // session ended since (the last writer's release often runs while the
    // next open is on its way).
    if (known_ended && *known_ended != *ended) known = nullptr;
  }
  ASSIGN_OR_RETURN(InodeId target, TargetOf(n->id));
  // A detached node (replaced by a rename) is the old file: its last state.
  auto attr = detached ? Result<Attr>(last)
              : known   ? Result<Attr>(*known)
                        : bucket_.GetAttr(target);
  if (!attr.ok() && !(orphaned && attr.status().IsNotFound())) return attr.status();
  const Attr& a = attr.ok() ? *attr : last;
  // Named by inode: the path costs a catalog walk and is only for messages.
  std::string what = "inode " + std::to_string(target.value);
  if (a.kind != FileKind::kRegular) return Status::IsDir(what + " is not a regular file");
  WriteSession::Base base;
  base.version = a.current_version;
  base.size = a.size;
  base.mtime_ns = a.mtime_ns;
  // An empty version has nothing to read, so nothing to pin (a pin and an
  // unpin are a catalog transaction each).
  if (a.current_version.value != 0 && a.size != 0) {
    auto reader = bucket_.OpenSessionBase(target, a.current_version);
    if (!reader.ok() && reader.status().IsNotFound() && !detached) {
      // The version this node last saw went meanwhile (replaced by a
      // `katamari put` beside the mount on a bucket without versioning or
      // under an excluded name): the session starts from the current one.
      auto now = bucket_.GetAttr(target);
      if (now.ok() && now->kind == FileKind::kRegular && now->current_version.value != 0 &&
          now->current_version != a.current_version) {
        base.version = now->current_version;
        base.mtime_ns = now->mtime_ns;
        reader = bucket_.OpenSessionBase(target, now->current_version);
      }
    }
    if (!reader.ok()) {
      LogLine("open of " + what + " for writing failed: its version " +
              std::to_string(base.version.value) + " could not be pinned and opened: " +
              reader.status().ToString());
      return reader.status();
    }
    base.reader = std::move(reader).value();
    base.size = base.reader->info().size;
  }
  auto fresh = std::make_shared<WriteSession>(bucket_, what, std::move(base));
  fresh->AllowStreaming(&bucket_, target);
  return fresh;
}

Status Filesystem::CommitNode(const std::shared_ptr<Node>& n,
                              const std::shared_ptr<WriteSession>& s) {
  // The target is resolved and committed to under commit_mu, so a rename
  // merge happens wholly before or after this commit (Node::commit_mu).
  std::lock_guard commit(n->commit_mu);
  {
    std::lock_guard lock(n->mu);
    // The file lost its name (unlink, replaced by a rename) before this
    // commit got its turn: its data is dropped, as for any unlinked file.
    if (n->orphaned || n->session != s) return Status::OK();
  }
  ASSIGN_OR_RETURN(InodeId target, TargetOf(n->id));
  // Held attributes reach the inode in the commit's transaction, before the
  // version records the file's owner and mode (one transaction per file
  // that tar or cp -p makes, not two).
  const WriteSession::HeldAttrs held = s->TakeHeldAttrs(/*stop=*/false);
  std::optional<Bucket::AttrChange> change;
  if (held.any()) change = HeldChange(held, *s);
  bool attrs_done = false;
  auto committed = s->Commit(bucket_, target, change, &attrs_done);
  if (change && !attrs_done) {
    // Not made by the commit (it failed, or there was nothing to commit):
    // held again, and recorded on their own if the commit had nothing to do.
    s->RestoreHeldAttrs(held);
    if (committed.ok()) RETURN_IF_ERROR(RecordHeldAttrs(n, s, target, /*stop=*/false));
  } else if (change && (held.mode || held.uid || held.gid)) {
    versions_->AttrsChanged(target);
  }
  if (!committed.ok() && committed.status().IsNotFound()) {
    // Unlinked (and gone from the catalog) by someone else while this
    // close was on its way: the file has no name, its data is dropped.
    auto attr = bucket_.GetAttr(target);
    if (!attr.ok() || attr->nlink == 0) {
      std::lock_guard lock(n->mu);
      n->orphaned = true;
      return Status::OK();
    }
  }
  if (!committed.ok()) {
    if (committed.status().IsCancelled()) {
      LogLine("abandoned the commit of " + Describe(n) +
              " at shutdown (past the stop deadline); its previous version stays current");
    } else {
      LogLine("commit of " + Describe(n) + " failed: " + committed.status().ToString());
    }
    return committed.status();
  }
  // Changes held while the commit ran; from now on every change goes to
  // the catalog at once.
  RETURN_IF_ERROR(RecordHeldAttrs(n, s, target, /*stop=*/true));
  if (!committed->has_value()) return Status::OK();
  const VersionInfo& v = **committed;
  std::lock_guard lock(n->mu);
  n->last_attr.current_version = v.version;
  n->last_attr.size = v.size;
  n->last_attr.mtime_ns = v.mtime_ns;
  n->reader.reset();
  // The kernel saw every byte of this version go through it.
  if (n->session == s) n->kernel_version = v.version;
  return Status::OK();
}

Result<bool> Filesystem::HoldAttrs(const std::shared_ptr<Node>& n, InodeId target,
                                   const AttrUpdate& update) {
  if (update.size) return false;
  std::shared_ptr<WriteSession> s;
  {
    std::lock_guard lock(n->mu);
    if (n->orphaned) return false;
    s = n->session;
  }
  if (!s || IsDetached(*n)) return false;
  // A chmod of a file with an ACL also sets the ACL's mask: that goes to
  // the catalog at once, together.
  if (update.mode) {
    ASSIGN_OR_RETURN(XattrEdits edits, AclChmodEdits(target, *update.mode));
    if (!edits.empty()) return false;
  }
  WriteSession::HeldAttrs held;
  held.mode = update.mode;
  held.uid = update.uid;
  held.gid = update.gid;
  held.atime_ns = update.atime_ns;
  if (!s->HoldAttrs(held)) return false;
  // The commit records the mtime the session has (as for any open file).
  if (update.mtime_ns) s->SetMtime(*update.mtime_ns);
  return true;
}

Status Filesystem::RecordHeldAttrs(const std::shared_ptr<Node>& n,
                                   const std::shared_ptr<WriteSession>& s, InodeId target,
                                   bool stop) {
  WriteSession::HeldAttrs held = s->TakeHeldAttrs(stop);
  if (!held.any()) return Status::OK();
  auto changed = bucket_.SetAttr(target, HeldChange(held, *s));
  if (!changed.ok()) {
    if (!stop) s->RestoreHeldAttrs(held);
    LogLine("recording the owner, mode or times of " + Describe(n) +
            " failed: " + changed.status().ToString());
    return changed.status();
  }
  if (held.mode || held.uid || held.gid) versions_->AttrsChanged(target);
  return Status::OK();
}

std::optional<Attr> Filesystem::NewFileAttr(const std::shared_ptr<Node>& n) {
  std::shared_ptr<WriteSession> s;
  Attr a;
  {
    std::lock_guard lock(n->mu);
    if (n->orphaned || !n->attr_current) return std::nullopt;
    s = n->session;
    a = n->last_attr;
  }
  if (!s || !s->holds_attrs() || a.kind != FileKind::kRegular || a.ino.value != n->id ||
      IsDetached(*n)) {
    return std::nullopt;
  }
  Overlay(*n, &a);
  return a;
}

Status Filesystem::FlushHeldAttrs(const std::shared_ptr<Node>& n) {
  std::shared_ptr<WriteSession> s;
  {
    std::lock_guard lock(n->mu);
    s = n->session;
  }
  if (!s) return Status::OK();
  std::lock_guard commit(n->commit_mu);
  ASSIGN_OR_RETURN(InodeId target, TargetOf(n->id));
  return RecordHeldAttrs(n, s, target, /*stop=*/false);
}

// A writer handle goes away. The last writer of a still-attached session
// commits it (if changed) and ends it; detached sessions and sessions of
// files that lost their name are dropped.
Status Filesystem::ReleaseSession(const std::shared_ptr<Node>& n,
                                  const std::shared_ptr<WriteSession>& s) {
  bool last = false;
  {
    std::lock_guard lock(n->mu);
    if (n->session == s) {
      --n->writers;
      last = n->writers == 0;
      n->releasing = last;
    }
  }
  if (!last) return Status::OK();
  Status st = CommitNode(n, s);  // nothing if clean; dropped if orphaned
  {
    std::lock_guard lock(n->mu);
    if (n->session == s && n->writers == 0) {
      n->session.reset();
      ++n->sessions_ended;
    }
    n->releasing = false;
  }
  n->released.notify_all();
  return st;
}

Status Filesystem::Truncate(const std::shared_ptr<Node>& n, std::optional<uint64_t> fh,
                            uint64_t size) {
  if (fh) {
    ASSIGN_OR_RETURN(auto h, GetHandle(*fh));
    if (h->session) return h->session->Truncate(size);
  }
  std::shared_ptr<WriteSession> open_session;
  {
    std::lock_guard lock(n->mu);
    open_session = n->session;
  }
  if (open_session) return open_session->Truncate(size);
  // truncate(2) of a file nobody has open: a one-off session, committed now.
  ASSIGN_OR_RETURN(auto s, AcquireSession(n));
  Status st = s->Truncate(size);
  Status released = ReleaseSession(n, s);
  return st.ok() ? released : st;
}

Result<std::shared_ptr<Filesystem::ReaderSlot>> Filesystem::CurrentReader(
    const std::shared_ptr<Node>& n) {
  ASSIGN_OR_RETURN(InodeId target, TargetOf(n->id));
  std::lock_guard lock(n->mu);
  VersionNo want = n->last_attr.current_version;
  if (n->reader && n->reader->version == want) return n->reader;
  auto slot = std::make_shared<ReaderSlot>();
  slot->version = want;
  if (want.value != 0) {
    auto reader = bucket_.OpenVersion(target, want);
    if (!reader.ok()) {
      // A deleted file whose versions are gone: keep the reader we had.
      if (n->reader && n->orphaned) return n->reader;
      return reader.status();
    }
    Bucket* bucket = &bucket_;
    auto open_more = [bucket, target, want] { return bucket->OpenVersion(target, want); };
    slot->reader = ReadAhead::Create(std::move(reader).value(), open_more, &read_ahead_);
  }
  n->reader = slot;
  return slot;
}

Result<OpenedFile> Filesystem::AddHandle(const std::shared_ptr<Node>& n, Attr attr, int flags,
                                         std::shared_ptr<WriteSession> session,
                                         bool keep_cache) {
  auto h = std::make_shared<FileHandle>();
  h->node = n;
  h->session = std::move(session);
  h->flags = flags;
  OpenedFile out;
  out.keep_cache = keep_cache;
  out.entry = Entry{n->id, attr};
  std::lock_guard lock(mu_);
  // A node opened without a lookup (the root, or one the kernel forgot)
  // must stay in the table while open.
  auto [it, inserted] = nodes_.try_emplace(n->id, n);
  ++it->second->opens;
  out.fh = next_fh_++;
  handles_.emplace(out.fh, std::move(h));
  return out;
}

Result<OpenedFile> Filesystem::Open(uint64_t node, int flags, const Caller& who) {
  if (IsVirtualNode(node)) return versions_->Open(node, flags, who);
  auto n = NodeOrTransient(node);
  uint64_t ended;
  {
    std::lock_guard lock(n->mu);
    ended = n->sessions_ended;
  }
  std::optional<Attr> catalog;
  ASSIGN_OR_RETURN(Attr attr, FreshAttr(n, &catalog));
  if (attr.kind == FileKind::kDirectory) return Status::IsDir("cannot open a directory as a file");
  // The kernel opens fifos and devices itself and never asks us; a special
  // file has no content to serve.
  if (IsSpecial(attr.kind)) {
    return Status::InvalidArgument(std::string("cannot open a ") + FileKindName(attr.kind) +
                                   " as a regular file");
  }
  bool keep_cache;
  {
    std::lock_guard lock(n->mu);
    // Keep the kernel's pages unless the content changed behind its back
    // (the katamari CLI, a rename merge).
    keep_cache = n->session != nullptr || n->kernel_version == attr.current_version;
    if (!n->session) n->kernel_version = attr.current_version;
  }
  std::shared_ptr<WriteSession> session;
  // O_TRUNC truncates also when opening for reading only, as Linux does (the kernel
  // checked write permission for it).
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    // The catalog was read just now: a session that ended since is seen by
    // the sessions_ended check, which reads it again.
    ASSIGN_OR_RETURN(session, AcquireSession(n, catalog ? &*catalog : nullptr, ended));
    if (flags & O_TRUNC) {
      const bool was_empty = attr.size == 0;
      Status st = session->Truncate(0);
      if (st.ok() && was_empty) {
        // O_TRUNC of an empty file changes no byte (no version) but moves
        // mtime and ctime, as POSIX and ext4 do.
        AttrUpdate touch;
        touch.mtime_ns = NowNs();
        auto touched = SetAttr(node, touch, std::nullopt);
        if (!touched.ok()) st = touched.status();
      }
      if (!st.ok()) {
        ReleaseSession(n, session);
        return st;
      }
      attr.size = 0;
    }
  }
  // A reader opened now keeps the file readable if it is unlinked (and,
  // without versioning, purged) while open.
  if (!session) (void)CurrentReader(n);
  return AddHandle(n, attr, flags, std::move(session), keep_cache);
}

Result<OpenedFile> Filesystem::Create(uint64_t parent, std::string_view name, uint32_t mode,
                                      int flags, Caller who) {
  // The first version, empty, is made with the name (one transaction); the
  // writes before the first close amend it (WriteSession::AmendOnCommit).
  auto made = MakeNode(parent, name, FileKind::kRegular, mode, who, {}, 0,
                       Bucket::FirstVersion::kEmpty);
  if (!made.ok()) {
    if (made.status().code() != Status::Code::kExists || (flags & O_EXCL)) return made.status();
    // Lost a race with another creator: open(O_CREAT) opens what is there.
    ASSIGN_OR_RETURN(Entry existing, Lookup(parent, name));
    auto opened = Open(existing.node, flags);
    if (!opened.ok()) {
      Forget(existing.node, 1);
      return opened.status();
    }
    opened->entry = existing;
    return opened;
  }
  Entry entry = std::move(made).value();
  auto n = NodeOrTransient(entry.node);
  auto session = AcquireSession(n, &entry.attr);  // made just now: no second read
  Status st = session.ok() ? (*session)->Truncate(0) : session.status();
  if (!st.ok()) {
    if (session.ok()) ReleaseSession(n, *session);
    Forget(entry.node, 1);
    return st;
  }
  if (entry.attr.current_version.value != 0) {
    // Its empty first version exists already: a close with nothing written
    // commits nothing, and the next commit amends that version.
    (*session)->AmendOnCommit(entry.attr.ino, entry.attr.current_version);
  } else {
    // A revived inode: closing it commits its first (maybe empty) version.
    (*session)->MarkDirty();
  }
  (*session)->HoldAttrsUntilCommit();
  entry.attr.size = 0;
  {
    std::lock_guard lock(n->mu);
    n->kernel_version = entry.attr.current_version;
  }
  ASSIGN_OR_RETURN(OpenedFile opened, AddHandle(n, entry.attr, flags, *session, false));
  opened.entry = entry;
  return opened;
}

Result<size_t> Filesystem::ReadCommitted(const std::shared_ptr<Node>& n, uint64_t off,
                                         size_t len, char* buf) {
  ASSIGN_OR_RETURN(auto slot, CurrentReader(n));
  if (!slot->reader) return size_t{0};  // no version yet: empty
  return slot->reader->Read(off, len, buf);
}

Result<size_t> Filesystem::Read(uint64_t fh, uint64_t off, size_t n, char* buf) {
  if (IsVirtualHandle(fh)) return versions_->Read(fh, off, n, buf);
  ASSIGN_OR_RETURN(auto h, GetHandle(fh));
  std::shared_ptr<WriteSession> session = h->session;
  if (!session) {
    std::lock_guard lock(h->node->mu);
    session = h->node->session;
  }
  auto got = session ? session->Read(off, n, buf) : ReadCommitted(h->node, off, n, buf);
  if (!got.ok() && got.status().IsCorruption()) {
    LogLine("read of " + Describe(h->node) + " failed: " + got.status().ToString());
  }
  return got;
}

Result<size_t> Filesystem::Write(uint64_t fh, uint64_t off, std::string_view data) {
  ASSIGN_OR_RETURN(auto h, GetHandle(fh));
  if (!h->session) return Status::Permission("file handle is not open for writing");
  // As on ext4: a write that would end past the largest size writes what
  // fits; one that starts there is EFBIG (docs/semantics.md, The live tree).
  if (h->flags & O_APPEND) {
    // O_APPEND writes at the end of the file as it is, not where the kernel
    // put it: its cached size lags a `katamari put` beside the mount (up to
    // the attribute timeout), and a write at the stale end would leave a
    // hole of zeros or overwrite the new content. If it was stale, the
    // kernel's attributes and pages are dropped once this write returns.
    ASSIGN_OR_RETURN(uint64_t at, h->session->Append(data));
    if (at != off && options_.invalidate) options_.invalidate(h->node->id);
    return data.size();
  }
  if (off < kMaxFileSize && data.size() > kMaxFileSize - off) {
    data = data.substr(0, static_cast<size_t>(kMaxFileSize - off));
  }
  RETURN_IF_ERROR(h->session->Write(off, data));
  return data.size();
}

Status Filesystem::CommitHandle(uint64_t fh) {
  ASSIGN_OR_RETURN(auto h, GetHandle(fh));
  if (!h->session || !h->session->dirty()) return Status::OK();
  return CommitNode(h->node, h->session);
}

// Every change is a version when close() returns, an empty one too. A
// session only created or truncated commits provisionally (see
// WriteSession::provisional_version): the shell's `echo x > f` closes the
// original descriptor before writing through its dup, and the write's close
// then amends that empty version instead of adding a second one.
Status Filesystem::Flush(uint64_t fh) {
  if (IsVirtualHandle(fh)) return Status::OK();  // a version file: nothing to commit
  return CommitHandle(fh);
}

Status Filesystem::Release(uint64_t fh) {
  if (IsVirtualHandle(fh)) return versions_->Release(fh);
  std::shared_ptr<FileHandle> h;
  {
    std::lock_guard lock(mu_);
    auto it = handles_.find(fh);
    if (it == handles_.end()) return Status::InvalidArgument("file handle is not open");
    h = std::move(it->second);
    handles_.erase(it);
    --h->node->opens;
  }
  Status st;
  if (h->session) st = ReleaseSession(h->node, h->session);
  DropNodeIfUnused(h->node->id);
  return st;
}

Result<uint64_t> Filesystem::Lseek(uint64_t fh, uint64_t off, bool want_data) {
  if (IsVirtualHandle(fh)) return Status::NotSupported("SEEK_DATA/SEEK_HOLE on a version");
  ASSIGN_OR_RETURN(auto h, GetHandle(fh));
  std::shared_ptr<WriteSession> session = h->session;
  if (!session) {
    std::lock_guard lock(h->node->mu);
    session = h->node->session;
  }
  std::function<Result<Extent>(uint64_t)> extent_at;
  uint64_t size;
  if (session) {
    size = session->size();
    extent_at = [&](uint64_t at) { return session->ExtentAt(at); };
  } else {
    ASSIGN_OR_RETURN(auto slot, CurrentReader(h->node));
    size = slot->reader ? slot->reader->size() : 0;
    extent_at = [slot](uint64_t at) { return slot->reader->ExtentAt(at); };
  }
  // As lseek(2): ENXIO at or past the end; the end itself is a hole.
  if (off >= size) return Status::NoData("offset " + std::to_string(off) + " is past the end");
  for (uint64_t pos = off; pos < size;) {
    ASSIGN_OR_RETURN(Extent e, extent_at(pos));
    if (e.len == 0) break;
    if (e.hole != want_data) return pos;
    pos += std::min(e.len, size - pos);
  }
  if (!want_data) return size;
  return Status::NoData("no data at or after offset " + std::to_string(off));
}

Status Filesystem::Fsync(uint64_t fh) {
  if (IsVirtualHandle(fh)) return Status::OK();  // versions are committed already
  RETURN_IF_ERROR(CommitHandle(fh));
  // A file kept open after fsync holds the version it just made, not the
  // one before (WriteSession::Commit rebases lazily).
  if (auto h = GetHandle(fh); h.ok() && (*h)->session) (*h)->session->Rebase();
  return bucket_.Sync();
}

Status Filesystem::Fallocate(uint64_t fh, int mode, uint64_t off, uint64_t len) {
  ASSIGN_OR_RETURN(auto h, GetHandle(fh));
  if (!h->session) return Status::Permission("file handle is not open for writing");
  WriteSession& s = *h->session;
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  if (off > kMaxFileSize || len > kMaxFileSize - off) {
    return Status::TooBig("fallocate to " + std::to_string(off) + " + " + std::to_string(len) +
                          " bytes: past the largest file size a bucket supports (" +
                          std::to_string(kMaxFileSize) + " bytes)");
  }
  switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
      // Space is not reserved ahead in a deduplicating store (the range
      // stays a hole until written); only the size changes (unless
      // KEEP_SIZE). Reaching past the end moves mtime and ctime as ext4's
      // allocation does, also with KEEP_SIZE.
      if (off + len <= s.size()) return Status::OK();
      if (!keep_size) return s.Truncate(off + len);
      {
        AttrUpdate touch;
        touch.mtime_ns = NowNs();
        return SetAttr(h->node->id, touch, fh).status();
      }
    case FALLOC_FL_PUNCH_HOLE:
      if (!keep_size) return Status::NotSupported("punch hole needs FALLOC_FL_KEEP_SIZE");
      return s.ZeroRange(off, len);
    case FALLOC_FL_ZERO_RANGE:
      if (!keep_size && off + len > s.size()) RETURN_IF_ERROR(s.Truncate(off + len));
      return s.ZeroRange(off, len);
    default:
      return Status::NotSupported("fallocate mode " + std::to_string(mode) + " is not supported");
  }
}

}  // namespace katamari::fs

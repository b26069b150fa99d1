// The FUSE low-level handlers: decode the request, call the Filesystem,
// reply. Each handler replies exactly once and holds no lock while replying.
#include "fs/fuse_glue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fs/errno_map.h"
#include "fs/write_session.h"

namespace katamari::fs {

namespace {

FuseServer& Server(fuse_req_t req) { return *static_cast<FuseServer*>(fuse_req_userdata(req)); }
Filesystem& Fs(fuse_req_t req) { return Server(req).fs(); }

Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  Caller who{ctx->uid, ctx->gid};
  who.umask = ctx->umask;  // 0 unless a create (mknod, mkdir, create) sent it
  return who;
}

// The caller with its supplementary groups, for the calls on version paths
// that check permissions themselves (fs/access.h). libfuse reads them from
// /proc, so only those calls pay for it; if that fails the primary group
// is all there is (a denial errs on the safe side).
Caller CallerWithGroups(fuse_req_t req) {
  Caller who = CallerOf(req);
  std::vector<gid_t> groups(32);
  int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
  if (n > static_cast<int>(groups.size())) {
    groups.resize(static_cast<size_t>(n));
    n = fuse_req_getgroups(req, n, groups.data());
  }
  if (n > 0) who.groups.assign(groups.begin(), groups.begin() + std::min<size_t>(n, groups.size()));
  return who;
}

// Whether a call on (parent, name) may reach a version path: only those
// need the groups.
bool MayBeVersionPath(fuse_ino_t parent, const char* name) {
  return IsVirtualNode(parent) || std::strchr(name, '@') != nullptr;
}

timespec ToTimespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    --ts.tv_sec;
  }
  return ts;
}

// Times past what 64-bit nanoseconds hold (before 1677, after 2262) are clamped to
// the nearest representable one, as the kernel clamps to a file system's range; an
// overflow would wrap a far-future time into the past.
int64_t ToNs(const timespec& ts) {
  int64_t ns;
  if (__builtin_mul_overflow(static_cast<int64_t>(ts.tv_sec), int64_t{1000000000}, &ns) ||
      __builtin_add_overflow(ns, static_cast<int64_t>(ts.tv_nsec), &ns)) {
    return ts.tv_sec < 0 ? std::numeric_limits<int64_t>::min()
                         : std::numeric_limits<int64_t>::max();
  }
  return ns;
}

mode_t KindBits(FileKind kind) {
  switch (kind) {
    case FileKind::kDirectory: return S_IFDIR;
    case FileKind::kSymlink: return S_IFLNK;
    case FileKind::kFifo: return S_IFIFO;
    case FileKind::kSocket: return S_IFSOCK;
    case FileKind::kCharDevice: return S_IFCHR;
    case FileKind::kBlockDevice: return S_IFBLK;
    case FileKind::kRegular: break;
  }
  return S_IFREG;
}

// The special file kind of a mknod(2) mode, if it is one.
std::optional<FileKind> SpecialKind(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFIFO: return FileKind::kFifo;
    case S_IFSOCK: return FileKind::kSocket;
    case S_IFCHR: return FileKind::kCharDevice;
    case S_IFBLK: return FileKind::kBlockDevice;
    default: return std::nullopt;
  }
}

void ReplyError(fuse_req_t req, const Status& st) { fuse_reply_err(req, StatusToErrno(st)); }

// Errors of xattr calls: a missing attribute is ENODATA, not ENOENT.
void ReplyXattrError(fuse_req_t req, const Status& st) {
  fuse_reply_err(req, st.IsNotFound() ? ENODATA : StatusToErrno(st));
}

fuse_entry_param MakeEntryParam(fuse_req_t req, const Entry& entry) {
  const auto& cfg = Server(req).config();
  fuse_entry_param e{};
  e.ino = entry.node;
  e.generation = 0;
  ToStat(entry.attr, &e.attr);
  e.attr_timeout = cfg.attr_timeout;
  e.entry_timeout = entry.entry_timeout.value_or(cfg.entry_timeout);
  return e;
}

void ReplyEntry(fuse_req_t req, const Result<Entry>& entry) {
  if (!entry.ok()) return ReplyError(req, entry.status());
  fuse_entry_param e = MakeEntryParam(req, *entry);
  fuse_reply_entry(req, &e);
}

void ReplyAttr(fuse_req_t req, const Result<Attr>& attr) {
  if (!attr.ok()) return ReplyError(req, attr.status());
  struct stat st {};
  ToStat(*attr, &st);
  fuse_reply_attr(req, &st, Server(req).config().attr_timeout);
}

void ReplyStatus(fuse_req_t req, const Status& st) { fuse_reply_err(req, StatusToErrno(st)); }

// ---- namespace

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req).Lookup(parent, name));
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Fs(req).Forget(ino, nlookup);
  fuse_reply_none(req);
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) Fs(req).Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  ReplyAttr(req, Fs(req).GetAttr(ino));
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
               fuse_file_info* fi) {
  AttrUpdate u;
  if (to_set & FUSE_SET_ATTR_MODE) u.mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_UID) u.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) u.gid = attr->st_gid;
  if (to_set & FUSE_SET_ATTR_SIZE) u.size = static_cast<uint64_t>(attr->st_size);
  // One clock reading: utimensat(UTIME_NOW, UTIME_NOW) sets both times to the same now.
  const int64_t now = NowNs();
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    u.atime_ns = now;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    u.atime_ns = ToNs(attr->st_atim);
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    u.mtime_ns = now;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    u.mtime_ns = ToNs(attr->st_mtim);
  }
  constexpr int kKnown = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID |
                        FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                        FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW;
  if ((to_set & kKnown) == 0) {
    // A setattr that sets nothing: chown(f, -1, -1), or the kernel asking
    // to drop set-id bits before a write or truncate by someone without
    // CAP_FSETID. FUSE's kernel side drops setgid only with group-exec;
    // ext4 (Linux 6.x) also drops it when the writer is not in the file's
    // group. Do that here; ctime moves either way.
    u.touch = true;
    auto now_attr = Fs(req).GetAttr(ino);
    const fuse_ctx* ctx = fuse_req_ctx(req);
    if (now_attr.ok() && now_attr->kind == FileKind::kRegular && ctx->uid != 0 &&
        (now_attr->mode & (S_ISGID | S_IXGRP)) == S_ISGID && ctx->gid != now_attr->gid) {
      Caller who = CallerWithGroups(req);
      if (std::find(who.groups.begin(), who.groups.end(), now_attr->gid) == who.groups.end()) {
        u.mode = now_attr->mode & ~static_cast<uint32_t>(S_ISGID);
      }
    }
  }
  std::optional<uint64_t> fh;
  if (fi) fh = fi->fh;
  ReplyAttr(req, Fs(req).SetAttr(ino, u, fh));
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  auto target = Fs(req).ReadLink(ino);
  if (!target.ok()) return ReplyError(req, target.status());
  fuse_reply_readlink(req, target->c_str());
}

// Regular files, and special files as entries without content
// (docs/semantics.md, The live tree). The kernel has checked CAP_MKNOD for
// devices and handles bind(2) of a Unix socket by calling this.
void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  if (S_ISREG(mode)) {
    return ReplyEntry(req, Fs(req).MakeFile(parent, name, mode & 07777, CallerOf(req)));
  }
  std::optional<FileKind> kind = SpecialKind(mode);
  if (!kind) return (void)fuse_reply_err(req, EINVAL);  // as mknod(2) for an unknown type
  ReplyEntry(req, Fs(req).MakeSpecial(parent, name, *kind, mode & 07777,
                                      static_cast<uint64_t>(rdev), CallerOf(req)));
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  ReplyEntry(req, Fs(req).MakeDir(parent, name, mode & 07777, CallerOf(req)));
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  ReplyEntry(req, Fs(req).MakeSymlink(parent, name, link, CallerOf(req)));
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  ReplyEntry(req, Fs(req).Link(ino, new_parent, new_name));
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Caller who = MayBeVersionPath(parent, name) ? CallerWithGroups(req) : CallerOf(req);
  ReplyStatus(req, Fs(req).Unlink(parent, name, who));
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Caller who = MayBeVersionPath(parent, name) ? CallerWithGroups(req) : CallerOf(req);
  ReplyStatus(req, Fs(req).RemoveDir(parent, name, who));
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
              const char* new_name, unsigned int flags) {
  ReplyStatus(req, Fs(req).Rename(parent, name, new_parent, new_name, flags));
}

// ---- files

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  auto opened = Fs(req).Create(parent, name, mode & 07777, fi->flags, CallerOf(req));
  if (!opened.ok()) return ReplyError(req, opened.status());
  fi->fh = opened->fh;
  fi->keep_cache = opened->keep_cache;
  fuse_entry_param e = MakeEntryParam(req, opened->entry);
  if (fuse_reply_create(req, &e, fi) != 0) {
    // The creator is gone (interrupted): undo the lookup and the handle.
    Fs(req).Release(opened->fh);
    Fs(req).Forget(opened->entry.node, 1);
  }
}

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto opened =
      Fs(req).Open(ino, fi->flags, IsVirtualNode(ino) ? CallerWithGroups(req) : CallerOf(req));
  if (!opened.ok()) return ReplyError(req, opened.status());
  fi->fh = opened->fh;
  fi->keep_cache = opened->keep_cache;
  if (fuse_reply_open(req, fi) != 0) Fs(req).Release(opened->fh);
}

void OpRead(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  thread_local std::vector<char> buf;
  if (buf.size() < size) buf.resize(size);
  auto got = Fs(req).Read(fi->fh, static_cast<uint64_t>(off), size, buf.data());
  if (!got.ok()) return ReplyError(req, got.status());
  fuse_reply_buf(req, buf.data(), *got);
}

void OpWrite(fuse_req_t req, fuse_ino_t, const char* data, size_t size, off_t off,
             fuse_file_info* fi) {
  auto wrote = Fs(req).Write(fi->fh, static_cast<uint64_t>(off), std::string_view(data, size));
  if (!wrote.ok()) return ReplyError(req, wrote.status());
  fuse_reply_write(req, *wrote);
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyStatus(req, Fs(req).Flush(fi->fh));
}

void OpRelease(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyStatus(req, Fs(req).Release(fi->fh));
}

void OpFsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  ReplyStatus(req, Fs(req).Fsync(fi->fh));
}

void OpFallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len,
                 fuse_file_info* fi) {
  if (off < 0 || len <= 0) return (void)fuse_reply_err(req, EINVAL);
  ReplyStatus(req, Fs(req).Fallocate(fi->fh, mode, static_cast<uint64_t>(off),
                                     static_cast<uint64_t>(len)));
}

void OpLseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  // Only the sparse-file queries reach us; the kernel does the rest itself.
  if ((whence != SEEK_DATA && whence != SEEK_HOLE) || off < 0) {
    return (void)fuse_reply_err(req, EINVAL);
  }
  auto at = Fs(req).Lseek(fi->fh, static_cast<uint64_t>(off), whence == SEEK_DATA);
  if (!at.ok()) return ReplyError(req, at.status());
  fuse_reply_lseek(req, static_cast<off_t>(*at));
}

// ---- directories

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto fh = Fs(req).OpenDir(ino);
  if (!fh.ok()) return ReplyError(req, fh.status());
  fi->fh = *fh;
  if (fuse_reply_open(req, fi) != 0) Fs(req).ReleaseDir(*fh);
}

void ReadDir(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi, bool plus) {
  Filesystem& fs = Fs(req);
  auto entries = fs.DirEntries(fi->fh, off == 0);
  if (!entries.ok()) return ReplyError(req, entries.status());
  std::vector<char> buf(size);
  size_t used = 0;
  const std::vector<DirEntry>& all = **entries;
  // readdirplus: the attributes of every entry that can fit, in one catalog
  // query. Each takes at least 160 bytes (fuse_entry_out, fuse_dirent and
  // a name padded to 8), "." and ".." come first.
  std::vector<std::optional<Entry>> listed;
  size_t listed_from = std::max<size_t>(static_cast<size_t>(off), 2);
  if (plus && listed_from < all.size()) {
    size_t n = std::min(all.size() - listed_from, size / 160 + 1);
    listed = fs.ListingEntries(fi->fh, std::span(all).subspan(listed_from, n));
  }
  for (size_t i = static_cast<size_t>(off); i < all.size(); ++i) {
    const DirEntry& d = all[i];
    char* dst = buf.data() + used;
    size_t room = size - used;
    off_t next = static_cast<off_t>(i + 1);
    size_t len;
    if (!plus) {
      struct stat st {};
      st.st_ino = d.ino.value;
      st.st_mode = KindBits(d.kind);
      len = fuse_add_direntry(req, dst, room, d.name.c_str(), &st, next);
      if (len > room) break;
    } else if (d.name == "." || d.name == "..") {
      fuse_entry_param e{};  // ino 0: the kernel makes no dentry for these
      e.attr.st_ino = d.ino.value;
      e.attr.st_mode = S_IFDIR;
      len = fuse_add_direntry_plus(req, dst, room, d.name.c_str(), &e, next);
      if (len > room) break;
    } else {
      std::optional<Entry> entry;
      if (i - listed_from < listed.size()) {
        entry = std::move(listed[i - listed_from]);
      } else if (auto one = fs.ListingEntry(d.ino); one.ok()) {
        entry = std::move(*one);
      }
      if (!entry) continue;  // removed since the listing was taken
      fuse_entry_param e = MakeEntryParam(req, *entry);  // ino 0: plain entry
      len = fuse_add_direntry_plus(req, dst, room, d.name.c_str(), &e, next);
      if (len > room) break;
      if (entry->node != 0) fs.AddLookup(entry->node);
    }
    used += len;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void OpReaddir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  ReadDir(req, size, off, fi, true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  ReplyStatus(req, Fs(req).ReleaseDir(fi->fh));
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  ReplyStatus(req, Fs(req).SyncAll());
}

// ---- the rest

void OpStatfs(fuse_req_t req, fuse_ino_t) {
  auto s = Fs(req).StatFs();
  if (!s.ok()) return ReplyError(req, s.status());
  struct statvfs st {};
  st.f_bsize = s->block_size;
  st.f_frsize = s->block_size;
  st.f_blocks = s->blocks;
  st.f_bfree = s->blocks_free;
  st.f_bavail = s->blocks_avail;
  st.f_files = s->files;
  st.f_ffree = s->files_free;
  st.f_favail = s->files_free;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value,
                size_t size, int flags) {
  Status st = Fs(req).SetXattr(ino, name, std::string_view(value, size), flags);
  if (!st.ok()) return ReplyXattrError(req, st);
  fuse_reply_err(req, 0);
}

void ReplyXattrValue(fuse_req_t req, const Result<std::string>& value, size_t size) {
  if (!value.ok()) return ReplyXattrError(req, value.status());
  if (size == 0) return (void)fuse_reply_xattr(req, value->size());
  if (value->size() > size) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, value->data(), value->size());
}

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  // Only user.* of versions is checked (other names are absent anyway).
  bool check = IsVirtualNode(ino) && std::strncmp(name, "user.", 5) == 0;
  ReplyXattrValue(req, Fs(req).GetXattr(ino, name, check ? CallerWithGroups(req) : CallerOf(req)),
                  size);
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Caller who = IsVirtualNode(ino) ? CallerWithGroups(req) : CallerOf(req);
  ReplyXattrValue(req, Fs(req).ListXattr(ino, who), size);
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Status st = Fs(req).RemoveXattr(ino, name);
  if (!st.ok()) return ReplyXattrError(req, st);
  fuse_reply_err(req, 0);
}

// default_permissions makes the kernel check access itself; this is only
// reached on kernels that still ask.
void OpAccess(fuse_req_t req, fuse_ino_t, int) { fuse_reply_err(req, 0); }

void OpInit(void* userdata, fuse_conn_info* conn) {
  auto* server = static_cast<FuseServer*>(userdata);
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  // Write-back caching would let the kernel delay writes past close(); a
  // version must be complete when close() returns, so writes go through.
  // (Measured with it on: no faster for appends, small files and tar x,
  // half the speed for sequential writes; fs/README.md, Kernel caching.)
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // 1 MiB per WRITE request (the kernel's own default is 128 KiB): fewer
  // round trips for a sequential writer. libfuse 3.14 derives max_pages
  // from max_write and clamps max_write to its receive buffer (1 MiB +
  // header), which made 1 MiB its default too; asked for here so that it
  // does not depend on that. The kernel clamps max_pages to
  // fs.fuse.max_pages_limit (256 pages).
  conn->max_write = FuseServer::kMaxWrite;
  // READ requests stay as large as the kernel's read-ahead window (its
  // offer, conn->max_readahead, which a daemon can only lower; 128 KiB by
  // default, /sys/class/bdi/*/read_ahead_kb): left as offered, and
  // fs/read_ahead.h fetches further ahead in parallel.
  // POSIX ACLs: the kernel enforces and caches them, we store them and keep
  // mode and ACL in step (fs/posix_acl.h). A directory's default ACL
  // replaces the umask for its new entries, so the kernel must not apply
  // it: FUSE_CAP_DONT_MASK, and Filesystem applies the caller's umask
  // where there is no default ACL.
  if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK)) {
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  }
  server->Ready();
}

void OpDestroy(void* userdata) {
  auto* server = static_cast<FuseServer*>(userdata);
  (void)server->fs().CommitAll();
}

}  // namespace

void ToStat(const Attr& attr, struct stat* st) {
  *st = {};
  st->st_ino = attr.ino.value;
  st->st_mode = KindBits(attr.kind) | (attr.mode & 07777);
  st->st_nlink = attr.nlink;
  st->st_uid = attr.uid;
  st->st_gid = attr.gid;
  st->st_rdev = static_cast<dev_t>(attr.rdev);
  st->st_size = static_cast<off_t>(attr.size);
  st->st_blksize = 4096;
  // What the file really holds: a sparse file's holes count nothing, as on
  // ext4 (docs/semantics.md, The live tree).
  st->st_blocks = static_cast<blkcnt_t>((attr.held_bytes.value_or(attr.size) + 511) / 512);
  st->st_atim = ToTimespec(attr.atime_ns);
  st->st_mtim = ToTimespec(attr.mtime_ns);
  st->st_ctim = ToTimespec(attr.ctime_ns);
}

const fuse_lowlevel_ops& LowLevelOps() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = OpInit;
    o.destroy = OpDestroy;
    o.lookup = OpLookup;
    o.forget = OpForget;
    o.forget_multi = OpForgetMulti;
    o.getattr = OpGetattr;
    o.setattr = OpSetattr;
    o.readlink = OpReadlink;
    o.mknod = OpMknod;
    o.mkdir = OpMkdir;
    o.symlink = OpSymlink;
    o.link = OpLink;
    o.unlink = OpUnlink;
    o.rmdir = OpRmdir;
    o.rename = OpRename;
    o.create = OpCreate;
    o.open = OpOpen;
    o.read = OpRead;
    o.write = OpWrite;
    o.flush = OpFlush;
    o.release = OpRelease;
    o.fsync = OpFsync;
    o.fallocate = OpFallocate;
    o.lseek = OpLseek;
    o.opendir = OpOpendir;
    o.readdir = OpReaddir;
    o.readdirplus = OpReaddirplus;
    o.releasedir = OpReleasedir;
    o.fsyncdir = OpFsyncdir;
    o.statfs = OpStatfs;
    o.setxattr = OpSetxattr;
    o.getxattr = OpGetxattr;
    o.listxattr = OpListxattr;
    o.removexattr = OpRemovexattr;
    o.access = OpAccess;
    // getlk/setlk/flock are left out on purpose: the kernel then keeps
    // POSIX and BSD locks locally, which is right for a single mount.
    return o;
  }();
  return ops;
}

}  // namespace katamari::fs

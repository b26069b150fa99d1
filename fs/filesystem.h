// Filesystem: POSIX semantics over a Bucket, without FUSE.
//
// fs/fuse_ops.cc is a thin adapter that calls this object and replies; the
// object itself is unit-tested without a mount (tests/unit/fs_test.cc).
//
// Node ids. The kernel names inodes by 64-bit node ids. For the live tree a
// node id is the catalog InodeId (root = 1), with one exception: after a
// rename merge (below) the source inode's id stays in the kernel's hands as
// the renamed file; if the store later revives that inode under another name
// (creating a name with a deleted history continues it), the revived
// file gets an alias id (kAliasNodeBit | n) so the kernel never sees one id
// for two files. Attributes always report the node id as st_ino, so after
// `rename(a, b)` over an existing b, `stat b` shows a's inode number as POSIX
// says (until the kernel forgets the node; a remount shows the catalog's).
// Ids with kVirtualNodeBit set are the synthetic nodes of
// version paths (NAME@N, NAME@, time views; docs/semantics.md, Version paths), kept by VersionPaths
// (fs/version_paths.h), which every call on such a node, and every miss of a
// name containing '@', is handed to. Neither kind is ever passed to the
// store as an inode.
//
// Each node id the kernel knows has a Node: its lookup count (every call that
// returns an Entry counts one lookup; Forget() subtracts), its open handles, a
// write session while it is open for writing, and a reader of its current
// version. A Node lives until the kernel has forgotten it AND its last handle
// is released, so an unlinked file stays readable and writable through open
// descriptors. A Node's `target` is the catalog inode it reads and writes:
// normally its own id, but after the editor pattern (rename of a file over an
// existing one merged the source into the target, see Bucket::Rename) the
// source's node id is routed to the target inode from then on, and the
// target's old node is detached: to the kernel it is the replaced, unlinked
// file, and its descriptors keep reading the version it showed, whole.
//
// Write sessions (fs/write_session.h): one per Node, shared by every handle
// open for writing on it; reads through any handle see it. A changed session
// commits one version at each Flush() (close) of a writing handle, at
// Fsync() and at the last Release(). A close of a file only created or
// truncated commits its empty version provisionally: the session's next
// commit amends it (WriteSession::provisional_version), so `echo x > f`
// makes one version. An unchanged close commits nothing. Sessions of files
// that lost their last name are discarded, not committed.
//
// Threads and locks: every method may be called from any thread. Lock order:
// Node::commit_mu (a commit, or a rename: at most two, in address order)
// before Filesystem::mu_ (node and handle tables) before Node::mu, before a
// session's or reader's own mutex. Store calls are never made under mu_;
// long work (commits) is never done under Node::mu.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "fs/read_ahead.h"
#include "store/bucket.h"

namespace katamari::fs {

class WriteSession;
class VersionPaths;

inline constexpr uint64_t kVirtualNodeBit = uint64_t{1} << 63;
inline constexpr uint64_t kAliasNodeBit = uint64_t{1} << 62;
inline bool IsVirtualNode(uint64_t node) { return (node & kVirtualNodeBit) != 0; }

struct Caller {  // who makes a request (owner of what it creates)
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Supplementary groups; filled only for the calls that check permissions
  // themselves (opening and deleting versions, fs/access.h).
  std::vector<uint32_t> groups;
  // The caller's umask for the calls that create (mknod, mkdir, create):
  // applied here unless the directory has a default ACL (then the ACL
  // decides; fs/posix_acl.h). 0 where the kernel applied it already.
  uint32_t umask = 0;
};

struct FilesystemOptions {
  // Called (outside every lock) when the kernel's cached data of `node` is
  // stale because its content changed behind the kernel (rename merge).
  std::function<void(uint64_t node)> invalidate;
  // One line per event worth a log line (commit failures, corruption).
  std::function<void(const std::string&)> log;
};

// What a FUSE entry reply carries: the node id to use and its attributes.
struct Entry {
  uint64_t node = 0;
  Attr attr;
  // How long the kernel may cache the name; nullopt: the mount's default.
  // Version paths whose meaning moves (NAME@-1, NAME@) use 0.
  std::optional<double> entry_timeout;
};

struct OpenedFile {
  uint64_t fh = 0;
  bool keep_cache = false;  // kernel page cache still matches the content
  Entry entry;              // the file's entry (Create counts it as a lookup)
};

struct AttrUpdate {
  std::optional<uint32_t> mode, uid, gid;
  std::optional<uint64_t> size;
  std::optional<int64_t> atime_ns, mtime_ns;
  // Nothing else changes, but ctime moves (chown(f, -1, -1), as on ext4).
  bool touch = false;
};

class Filesystem {
 public:
  Filesystem(Bucket& bucket, FilesystemOptions options);
  ~Filesystem();
  Filesystem(const Filesystem&) = delete;
  Filesystem& operator=(const Filesystem&) = delete;

  // Empties the staging directory (left-overs of an earlier run). Call once
  // before serving.
  Status Init();

  // ---- namespace. Every returned Entry counts one kernel lookup.
  Result<Entry> Lookup(uint64_t parent, std::string_view name);
  void Forget(uint64_t node, uint64_t count);
  void AddLookup(uint64_t node);  // readdirplus handed out an entry
  Result<Attr> GetAttr(uint64_t node);
  // fh: the handle of an ftruncate/futimens, if any.
  Result<Attr> SetAttr(uint64_t node, const AttrUpdate& update, std::optional<uint64_t> fh);
  Result<Entry> MakeDir(uint64_t parent, std::string_view name, uint32_t mode, Caller who);
  Result<Entry> MakeFile(uint64_t parent, std::string_view name, uint32_t mode, Caller who);
  Result<Entry> MakeSymlink(uint64_t parent, std::string_view name, std::string_view target,
                            Caller who);
  // A fifo, socket or device node (mknod(2); bind(2) of a Unix socket): an
  // entry without content. `rdev` only for devices. Who may make a device
  // is the kernel's check (CAP_MKNOD), as for any filesystem.
  Result<Entry> MakeSpecial(uint64_t parent, std::string_view name, FileKind kind,
                            uint32_t mode, uint64_t rdev, Caller who);
  Result<Entry> Link(uint64_t node, uint64_t new_parent, std::string_view new_name);
  // `who` is checked only when a version path is deleted (the kernel checks
  // everything else; fs/access.h). The default caller is root.
  Status Unlink(uint64_t parent, std::string_view name, const Caller& who = {});
  Status RemoveDir(uint64_t parent, std::string_view name, const Caller& who = {});
  // flags: RENAME_NOREPLACE (1) / RENAME_EXCHANGE (2).
  Status Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags);
  Result<std::string> ReadLink(uint64_t node);

  // ---- regular files. flags are open(2) flags.
  Result<OpenedFile> Create(uint64_t parent, std::string_view name, uint32_t mode, int flags,
                            Caller who);
  // `who` is checked only for version files (read permission under the
  // version's recorded owner/mode and the live file's; fs/access.h).
  Result<OpenedFile> Open(uint64_t node, int flags, const Caller& who = {});
  Result<size_t> Read(uint64_t fh, uint64_t off, size_t n, char* buf);
  Result<size_t> Write(uint64_t fh, uint64_t off, std::string_view data);
  Status Flush(uint64_t fh);
  Status Release(uint64_t fh);
  Status Fsync(uint64_t fh);
  // mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
  // FALLOC_FL_ZERO_RANGE[|KEEP_SIZE]; others NotSupported.
  Status Fallocate(uint64_t fh, int mode, uint64_t off, uint64_t len);
  // lseek(SEEK_DATA) (want_data) or lseek(SEEK_HOLE) from `off`: the first
  // offset of data, or of a hole (the end counts as one). NoData (ENXIO) at
  // or past the end, and for SEEK_DATA when only holes follow.
  Result<uint64_t> Lseek(uint64_t fh, uint64_t off, bool want_data);

  // ---- directories
  Result<uint64_t> OpenDir(uint64_t node);
  // The handle's snapshot ("." and ".." first), taken at OpenDir. `rewind`
  // (a read from offset 0) re-reads the directory if a listing was already
  // handed out (rewinddir).
  Result<std::shared_ptr<const std::vector<DirEntry>>> DirEntries(uint64_t fh, bool rewind);
  Status ReleaseDir(uint64_t fh);
  // The entry of a directory listing for readdirplus, not yet counted as a
  // lookup (AddLookup does once it is handed out). node is 0 if the inode
  // has no node id of its own yet (hand out a plain entry then).
  Result<Entry> ListingEntry(InodeId ino);
  // ListingEntry of each of `entries` (a slice of the handle's snapshot, in
  // its order, without "." and ".."), from one catalog query for the lot
  // (Bucket::ReadDirPlus); nullopt for an entry removed since the snapshot.
  std::vector<std::optional<Entry>> ListingEntries(uint64_t fh,
                                                   std::span<const DirEntry> entries);

  // ---- xattrs (user.* and the POSIX ACLs system.posix_acl_{access,default}
  // are stored; user.katamari.* are read-only facts; other names: absent,
  // NotSupported to set). Setting an access ACL sets the mode it implies;
  // docs/semantics.md, The live tree.
  Result<std::string> GetXattr(uint64_t node, std::string_view name, const Caller& who = {});
  // Names, each NUL-terminated. Of a version: only for who may read it.
  Result<std::string> ListXattr(uint64_t node, const Caller& who = {});
  Status SetXattr(uint64_t node, std::string_view name, std::string_view value, int flags);
  Status RemoveXattr(uint64_t node, std::string_view name);

  Result<FsStats> StatFs();
  Status SyncAll();  // fsyncdir: everything committed becomes durable

  // Commits every changed write session (unmount, signals). Returns the
  // first error; every session is tried.
  Status CommitAll();

  // ---- introspection for tests
  size_t NodeCount() const;
  uint64_t LookupCount(uint64_t node) const;
  bool HasSession(uint64_t node) const;

 private:
  struct Node;
  struct ReaderSlot;
  struct FileHandle;
  struct DirHandle;

  std::shared_ptr<Node> FindNode(uint64_t node) const;
  std::shared_ptr<Node> NodeOrTransient(uint64_t node) const;
  Result<InodeId> TargetOf(uint64_t node) const;
  Result<Entry> Remember(Attr attr);
  Entry ListingEntryOf(Attr attr);
  uint64_t NodeIdLocked(InodeId ino, bool create);
  std::shared_ptr<Node> PresenterLocked(InodeId ino) const;
  std::shared_ptr<Node> NodeOfInode(InodeId ino) const;
  void Overlay(Node& n, Attr* attr) const;
  bool IsDetached(const Node& n) const;
  // `catalog`: set to the catalog's attributes before the overlay, when the
  // answer came from the catalog.
  Result<Attr> FreshAttr(const std::shared_ptr<Node>& n, std::optional<Attr>* catalog = nullptr);
  Result<Entry> MakeNode(uint64_t parent, std::string_view name, FileKind kind, uint32_t mode,
                         Caller who, std::string_view symlink_target, uint64_t rdev = 0,
                         Bucket::FirstVersion first = Bucket::FirstVersion::kNone);
  void MarkIfOrphaned(InodeId ino);
  Result<std::shared_ptr<WriteSession>> PinIfOpen(const Attr& doomed);
  void Unpin(const Attr& doomed, const std::shared_ptr<WriteSession>& pinned);
  Result<bool> RenameInStore(InodeId dir, std::string_view name, InodeId new_dir,
                             std::string_view new_name, unsigned flags, InodeId source,
                             std::optional<InodeId> replaced);
  void AfterMerge(const std::shared_ptr<Node>& source, const std::shared_ptr<Node>& replaced,
                  InodeId into, const Attr& replaced_attr);
  void DropNodeIfUnused(uint64_t node);

  // acl_ops.cc (POSIX ACLs, fs/posix_acl.h)
  Result<uint32_t> InheritAcls(InodeId dir, FileKind kind, uint32_t mode, uint32_t umask,
                               Xattrs* acls);
  Result<XattrEdits> AclChmodEdits(InodeId ino, uint32_t mode);
  // value nullopt: remove (no error if there is none, as ext4).
  Status SetAcl(InodeId target, std::string_view name, std::optional<std::string_view> value);
  void LogLine(const std::string& line) const;

  // file_ops.cc
  Result<std::shared_ptr<FileHandle>> GetHandle(uint64_t fh) const;
  // `known`: the file's catalog attributes, if the caller just read them,
  // after the node's sessions_ended was `known_ended` (if the caller read it).
  Result<std::shared_ptr<WriteSession>> AcquireSession(
      const std::shared_ptr<Node>& n, const Attr* known = nullptr,
      std::optional<uint64_t> known_ended = std::nullopt);
  Result<std::shared_ptr<WriteSession>> TryAcquireSession(const std::shared_ptr<Node>& n,
                                                          const Attr* known,
                                                          std::optional<uint64_t> known_ended,
                                                          uint64_t* ended, bool* joined);
  Status ReleaseSession(const std::shared_ptr<Node>& n, const std::shared_ptr<WriteSession>& s);
  Status CommitHandle(uint64_t fh);
  Status CommitNode(const std::shared_ptr<Node>& n, const std::shared_ptr<WriteSession>& s);
  // Attribute changes of a new file held for its first commit
  // (WriteSession::HoldAttrs). HoldAttrs: true if `update` was held (no
  // catalog change now). RecordHeldAttrs writes what `s` holds to inode
  // `target` (`stop`: and holds no more). FlushHeldAttrs records them
  // before a change that reads the inode's attributes from the catalog (an
  // ACL edit, a rename that may merge).
  Result<bool> HoldAttrs(const std::shared_ptr<Node>& n, InodeId target, const AttrUpdate& update);
  Status RecordHeldAttrs(const std::shared_ptr<Node>& n, const std::shared_ptr<WriteSession>& s,
                         InodeId target, bool stop);
  Status FlushHeldAttrs(const std::shared_ptr<Node>& n);
  // The attributes of a new file whose session holds its changes: nothing
  // of it changed in the catalog since the node last read it, so the node's
  // last attributes with the session's on top; nullopt otherwise.
  std::optional<Attr> NewFileAttr(const std::shared_ptr<Node>& n);
  // The catalog changed inode `ino`'s attributes (ctime) behind its node's
  // last_attr: NewFileAttr reads the catalog again.
  void MarkAttrsChanged(InodeId ino);
  Status Truncate(const std::shared_ptr<Node>& n, std::optional<uint64_t> fh, uint64_t size);
  Result<std::shared_ptr<ReaderSlot>> CurrentReader(const std::shared_ptr<Node>& n);
  Result<size_t> ReadCommitted(const std::shared_ptr<Node>& n, uint64_t off, size_t len,
                               char* buf);
  Result<OpenedFile> AddHandle(const std::shared_ptr<Node>& n, Attr attr, int flags,
                               std::shared_ptr<WriteSession> session, bool keep_cache);
  std::string Describe(const std::shared_ptr<Node>& n) const;

  Bucket& bucket_;
  FilesystemOptions options_;
  ReadAheadPool read_ahead_;  // outlives every node's reader (declared before nodes_)

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Node>> nodes_;            // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<FileHandle>> handles_;    // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dir_handles_; // guarded by mu_
  uint64_t next_fh_ = 1;                                                 // guarded by mu_
  // inode -> the node id the kernel knows it by, where that is not the
  // inode's own id (a rename merge's source, an alias); guarded by mu_
  std::unordered_map<uint64_t, uint64_t> presenters_;
  uint64_t next_alias_ = 1;  // guarded by mu_
  // The hidden `@` names and their synthetic nodes (fs/version_paths.h).
  std::unique_ptr<VersionPaths> versions_;
};

}  // namespace katamari::fs

// VersionPaths: the hidden `@` names of docs/semantics.md, Version paths and the synthetic nodes
// behind them. Filesystem (fs/filesystem.h) hands over every call on a node
// id with kVirtualNodeBit, and every name containing '@' that no real entry
// bears; a real entry of that exact name always wins.
//
// Names (fs/version_syntax.h parses what follows the LAST '@'):
//   NAME@N     version N                          -> a version file
//   NAME@-K    K versions before the current one  -> a version file
//   NAME@TIME  what NAME was at TIME               -> a version file, a view
//                                                    directory, a symlink or
//                                                    a special file
//   NAME@      the history, entries 1, 2, ...      -> a history directory
//   @TIME      the directory itself at TIME        -> a view directory
// NAME@N, NAME@-K and NAME@ find a deleted file through the name it had last
// (Bucket::LookupAny), unless that file lives on under another name (then
// NAME@TIME and time views reach it). NAME@TIME and everything inside a view
// resolve names as of that moment: Lookup/ReadDir at Seq = SeqAtTime(TIME)
// and, per file, VersionAt(Seq) — one MVCC snapshot, so a view is exactly
// what was committed then. The same suffixes work inside views (NAME@-K
// counts back from the view's version).
//
// Nodes. A synthetic node is a Key:
//   kVersion {ino, vno, seq of that version's commit, view}  (vno 0: a file
//            that had no version yet at that moment, read as empty; view: an
//            entry of a time view rather than NAME@N / NAME@TIME / NAME@/N)
//   kHistory {ino, parent node}
//   kView    {directory ino, seq, parent node}
//   kLink    {ino}  (a symlink seen in a view)
//   kSpecial {ino}  (a fifo, socket or device seen in a view)
// Directory keys include the parent node so the kernel never meets one
// directory inode under two parents (`DIR@T` and `@T/DIR`). A node id is
// kVirtualNodeBit | a hash of the key (probing past collisions), so a path
// keeps its st_ino when the kernel forgets and looks it up again; st_ino is
// that id, never the live file's, so cp/cmp/diff never take a version for
// the live file. A node lives while the kernel holds lookups on it, while it
// is open, or while an open listing of its directory names it.
//
// Attributes: a version shows the owner, group and mode recorded with it
// (VersionInfo::mode/uid/gid: the file's when it was committed), its size
// and mtime, its commit time as ctime; setuid, setgid and sticky bits are
// never shown. NAME@N, NAME@-K, NAME@TIME and the entries of NAME@ drop the
// write bits; entries of time views keep them (so `cp -a DIR@TIME/ out/`
// restores modes; writing is still ReadOnly). A file that had no version yet
// at a moment, directories of views, and history directories show the
// file's or directory's current owner and mode (directories have no
// history of their attributes; nor have symlinks and special files, which
// show their current type, owner, mode and rdev); view directories keep their write bits, a
// history directory gets x wherever r is set and keeps the file's write
// bits, so the kernel lets whoever may change the file ask to delete its
// versions (`rm NAME@/N`, `rm -r NAME@`). Names in live directories are given
// a zero entry timeout: what they mean moves with every commit (NAME@-1,
// NAME@, @TIME of a moment still to come), so right after close() the new
// version is there.
//
// Permissions (fs/access.h). The kernel checks the attributes above
// (default_permissions); in addition, opening a version or reading its
// xattrs needs read permission under its recorded owner/mode AND under the
// file's current ones (a deleted file's last ones), so tightening a file
// protects its history. A later owner of the name (a revived or renamed-over
// file) never reads versions that were not theirs: the store narrows the
// recorded modes to the old owner's last ones when it hands the file over.
// Deleting a version needs write permission on the file (its current
// attributes; a deleted file's last ones) and, unless the caller is the
// version's recorded owner, under the version's recorded mode. Denials are
// Permission (EPERM). uid 0 passes.
//
// Changes. `rm NAME@N` (also NAME@-K, NAME@TIME) and `rm NAME@/N` delete that
// version for good (Bucket::DeleteVersion; deleting the current one makes the
// previous current). `rmdir NAME@` is NotEmpty while versions remain and then
// purges the history (Bucket::PurgeHistory), so `rm -r NAME@` deletes it all;
// a live NAME stays, empty. Every other change is ReadOnly (EROFS).
//
// Thread safety: all methods may be called from any thread. mu_ guards the
// tables; no store call and no hook is made while it is held. Lock order:
// Filesystem::mu_ is never held while calling in here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fs/filesystem.h"
#include "store/bucket.h"

namespace katamari::fs {

// File handles of version files carry this bit (Filesystem's own never do).
inline constexpr uint64_t kVirtualHandleBit = uint64_t{1} << 63;
inline bool IsVirtualHandle(uint64_t fh) { return (fh & kVirtualHandleBit) != 0; }

class VersionPaths {
 public:
  struct Hooks {
    // The kernel's cached attributes/data of this node id are stale.
    std::function<void(uint64_t node)> invalidate;
    // The current version of live file `ino` changed behind its node (a
    // version deleted here).
    std::function<void(InodeId ino)> content_changed;
    std::function<void(const std::string&)> log;
  };

  VersionPaths(Bucket& bucket, Hooks hooks);
  ~VersionPaths();
  VersionPaths(const VersionPaths&) = delete;
  VersionPaths& operator=(const VersionPaths&) = delete;

  // Cheap pre-check: could `name` be a version path at all?
  static bool MayName(std::string_view name);
  static Status ReadOnly(std::string_view what);

  // ---- names in a live directory `dir` (node `parent`) that no real entry
  // bears. `missing` is what the real lookup said; it is returned unchanged
  // when the name is not a version path.
  Result<Entry> LookupIn(uint64_t parent, InodeId dir, std::string_view name,
                         const Status& missing);
  Status UnlinkIn(uint64_t parent, InodeId dir, std::string_view name, const Status& missing,
                  const Caller& who);
  Status RemoveDirIn(uint64_t parent, InodeId dir, std::string_view name, const Status& missing,
                     const Caller& who);
  // ReadOnly if `name` is an existing version path (rename from or onto it),
  // else `missing`.
  Status RefuseIn(uint64_t parent, InodeId dir, std::string_view name, const Status& missing);

  // ---- synthetic nodes (IsVirtualNode ids) and names inside them
  Result<Entry> Lookup(uint64_t parent, std::string_view name);
  void Forget(uint64_t node, uint64_t count);
  void AddLookup(uint64_t node);
  Result<Attr> GetAttr(uint64_t node);
  Result<Entry> ListingEntry(uint64_t node);  // readdirplus; not counted yet
  Result<std::string> ReadLink(uint64_t node);
  Status Unlink(uint64_t parent, std::string_view name, const Caller& who);

  Result<OpenedFile> Open(uint64_t node, int flags, const Caller& who);
  Result<size_t> Read(uint64_t fh, uint64_t off, size_t n, char* buf);
  Status Release(uint64_t fh);

  Result<uint64_t> OpenDir(uint64_t node);
  Result<std::shared_ptr<const std::vector<DirEntry>>> DirEntries(uint64_t fh, bool rewind);
  Status ReleaseDir(uint64_t fh);

  // user.* of the version; user.katamari.{sha256,version,stored_size,mtime}.
  Result<std::string> GetXattr(uint64_t node, std::string_view name, const Caller& who);
  Result<std::string> ListXattr(uint64_t node, const Caller& who);

  // Live file `ino` changed owner or mode: drop the kernel's cached
  // attributes of its version nodes, so tightening a mode protects them.
  void AttrsChanged(InodeId ino);

  size_t NodeCount() const;  // for tests

  enum class Kind : uint8_t { kVersion = 1, kHistory, kView, kLink, kSpecial };
  struct Key {
    Kind kind = Kind::kVersion;
    uint64_t ino = 0, a = 0, b = 0, parent = 0;
    bool view = false;  // kVersion: an entry of a time view (keeps write bits)
    bool operator==(const Key&) const = default;
  };

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Node;
  struct FileHandle;
  struct DirHandle;
  struct Target;  // a resolved name: its key, and the base name it came from

  // version_paths.cc: resolving names
  Result<Target> ResolveName(uint64_t parent, InodeId dir, std::optional<Seq> at,
                             std::string_view name);
  Result<Target> ResolveChild(uint64_t parent, const Key& dir, std::string_view name);
  Result<Attr> BaseFile(InodeId dir, std::optional<Seq> at, std::string_view base);
  Result<Key> VersionKey(InodeId ino, std::optional<VersionNo> vno, std::optional<Seq> at);
  Result<Key> BackKey(InodeId ino, uint64_t back, std::optional<Seq> at);
  Result<Key> ChildKey(uint64_t parent, const Attr& child, Seq at, bool in_view);
  std::optional<Target> Tombstone(uint64_t parent, std::string_view base);
  Status DeleteVersion(InodeId ino, VersionNo vno, uint64_t history_node, const Caller& who);
  Status CheckDelete(InodeId ino, VersionNo vno, const Caller& who);
  Status CheckRead(const Key& k, const Caller& who);
  Result<Entry> Enter(const Target& t, std::optional<double> entry_timeout);

  // version_dirs.cc: listings
  Result<std::vector<std::pair<DirEntry, Key>>> Listing(uint64_t node, const Key& dir);
  Result<std::shared_ptr<const std::vector<DirEntry>>> PinListing(uint64_t node, const Key& dir,
                                                                  std::vector<uint64_t>* pinned);

  // version_nodes.cc: the node table and attributes
  Result<Attr> AttrOf(const Key& k);
  uint64_t RememberLocked(const Key& k);
  std::optional<Key> KeyOf(uint64_t node) const;
  void DropIfUnusedLocked(uint64_t node);
  void Log(const std::string& line) const;
  void HintBadSuffix(InodeId dir, std::optional<Seq> at, std::string_view name);

  Bucket& bucket_;
  Hooks hooks_;

  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::unique_ptr<Node>> nodes_;        // guarded by mu_
  std::unordered_map<Key, uint64_t, KeyHash> ids_;                   // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<FileHandle>> files_;  // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<DirHandle>> dirs_;    // guarded by mu_
  uint64_t next_fh_ = 1;                                             // guarded by mu_
  std::atomic<int64_t> last_hint_{0};  // steady-clock ns of the last HintBadSuffix line
};

}  // namespace katamari::fs

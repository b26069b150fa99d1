// Catalog::Impl: state and shared helpers of the catalog, split over
// catalog.cc (open, clock, reads), catalog_ns.cc (namespace changes) and
// catalog_versions.cc (versions, chunks, xattrs).
//
// Locking: every public Catalog method takes `mu` for its whole duration and
// then calls the helpers below, which assume `mu` is held. There is no other
// lock in the catalog, so there is no lock order to respect; SQLite's own
// locks only matter against other processes (busy_timeout).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "store/catalog.h"
#include "store/catalog_db.h"
#include "store/catalog_format.h"

namespace katamari {

// Wall-clock now in ns (overridable by catalog_testing::ScopedClock).
int64_t CatalogNowNs();

// Validates a directory entry name: 1..255 bytes, no '/' or NUL, not "." or
// "..". InvalidArgument / NameTooLong otherwise.
Status ValidateName(std::string_view name);
// 'name' quoted for messages.
std::string QuoteName(std::string_view name);
// Why a pinned version cannot be deleted (Busy's message).
std::string PinnedMessage(VersionNo vno, const std::string& who);

struct Catalog::Impl {
  std::string path;
  std::unique_ptr<sql::Db> db;
  BucketSettings settings;
  int format_version = 0;
  std::mutex mu;
  // Encrypted buckets: the catalog field key, once unlocked (catalog_keys.cc).
  std::optional<crypto::Key> field_key;

  // Sealed columns (docs/catalog.md "Sealed columns"). On a plain bucket
  // these return their input; on an encrypted one they seal / open with the
  // field key and `aad` (WrongKey if locked, Corruption naming `what` if a
  // stored value does not open).
  Result<std::string> Seal(std::string_view aad, std::string_view plain);
  Result<std::string> Unseal(std::string_view aad, std::string_view stored,
                             const std::string& what);

  // A write transaction that has inserted its commits row.
  struct Write {
    sql::Txn txn;
    Seq seq;
    int64_t time_ns = 0;
  };
  // BEGIN IMMEDIATE + the next commit (time strictly after the previous one).
  Result<Write> BeginWrite();

  struct InodeRow {
    InodeId id;
    FileKind kind = FileKind::kRegular;
    uint64_t size = 0;
    VersionNo current_version;
    VersionNo next_version;
  };
  Result<InodeRow> LoadInode(InodeId ino);  // NotFound if absent
  Result<Attr> LoadAttr(InodeId ino);       // NotFound if absent; nlink computed
  // An Attr from the columns kind, mode, uid, gid, size, atime_ns, mtime_ns,
  // ctime_ns, current_version, rdev, nlink starting at column `c`.
  static Attr AttrFromRow(const sql::Query& q, int c, InodeId ino);
  Result<int64_t> LiveNameCount(InodeId ino);
  // OK if `dir` is a directory that is reachable (root or has a live name).
  Status CheckLiveDir(InodeId dir);
  Status SetTimes(InodeId ino, std::optional<int64_t> mtime_ns, int64_t ctime_ns);

  struct Dentry {
    int64_t id = 0;  // dentries.id
    InodeId ino;
    FileKind kind = FileKind::kRegular;
  };
  Result<std::optional<Dentry>> FindLive(InodeId parent, std::string_view name);
  Status CloseDentry(int64_t dentry_id, Seq seq);
  Status OpenDentry(InodeId parent, std::string_view name, InodeId ino, FileKind kind, Seq seq);

  // CreateNode's body inside the caller's transaction (catalog_ns.cc).
  Result<InodeId> CreateNodeIn(const Write& w, InodeId parent, std::string_view name,
                               const NewNode& node);

  // catalog_versions.cc
  // AddVersion's body inside the caller's transaction.
  Result<VersionInfo> AddVersionIn(const Write& w, const NewVersion& nv);
  // The SHA-256 of no bytes: the content of an empty version.
  static Sha256 EmptyContentSha256();
  Result<Xattrs> LiveXattrs(InodeId ino);
  // Deletes one version row and lowers its chunks' reference counts.
  Status DropVersion(InodeId ino, VersionNo vno);
  // PurgeHistory's body: versions, closed names, and the row if nameless.
  Status Purge(InodeId ino);
  // Before the inode's owner and mode are replaced by another file's (a
  // revived name, a rename merge): narrows every version's recorded mode so
  // that it allows no caller more than the version's and the inode's present
  // attributes allowed together (docs/catalog.md, "versions"). Never widens.
  Status NarrowHistory(InodeId ino);
  // After chmod/chown: the current version (the content the file shows, so
  // readable under the new attributes anyway) records the inode's owner and
  // mode, so that time views show the mode a file had after `chmod +x`.
  Status RestampCurrentVersion(InodeId ino);
  // SetAttr's body inside the caller's transaction (also a commit's held
  // attributes: Catalog::NewVersion::attrs); `time_ns` the ctime if the
  // change names none.
  Status ApplyAttrChange(InodeId ino, const AttrChange& c, int64_t time_ns);
  // catalog_xattrs.cc: sets / removes live xattrs (validated first) and, if
  // a system.posix_acl_* name is among them, the same in the current
  // version's xattr snapshot (see Catalog::SetAttr).
  Status ApplyXattrEdits(InodeId ino, const XattrEdits& edits);
  // catalog_policy.cc: if every live name of `ino` matches an exclude
  // pattern, its versions numbered below `below` that were made while every
  // name it had then was excluded (what an excluded file's commit replaces);
  // else nullopt. A file renamed to `doc~` or linked as `doc.tmp` keeps what
  // it made as `doc`; a `-wal` file deleted and made again loses its old ones.
  Result<std::optional<std::vector<VersionNo>>> ExcludedVersions(InodeId ino, VersionNo below);
  // The editor-pattern half of Rename (see Catalog::RenameResult).
  Status MergeInto(const Write& w, InodeId src, InodeId dst);
  // catalog_pins.cc: the versions of `ino` pinned by a live owner, each
  // with who holds it; stale pins met on the way are deleted (inside the
  // caller's write transaction). `include_own`: this catalog's own pins
  // count too (always live).
  std::string pin_owner;
  Catalog::PinLiveness pin_alive;
  bool has_pin_table = false;
  Result<std::map<VersionNo, std::string>> PinnedVersions(InodeId ino, bool include_own = true);
  // Deletes this owner's pin row of (ino, vno), if any, in the caller's
  // write transaction.
  Status RemoveOwnPinIn(InodeId ino, VersionNo vno);
  // Drops every version of `ino` that is not in `pins` and is not `keep`;
  // sets *dropped if one went. If the current one went (a nameless file's:
  // `keep` unset), the newest left becomes current (AfterVersionsDropped);
  // if none is left the file is purged.
  Status DropUnpinned(InodeId ino, const std::map<VersionNo, std::string>& pins,
                      std::optional<VersionNo> keep, bool* dropped, int64_t now);
  // Without versioning: what pins alone kept of regular file `ino` (a
  // version that is not current, or the whole file if it has no live name)
  // goes once no live owner pins it. Whether anything went.
  Result<bool> ReleaseKept(InodeId ino, int64_t now);
  // catalog_versions.cc: after versions `dropped` of `ino` went, whose
  // current version was `current`: if that was one of them the newest left
  // becomes current (its size, mtime and owner), or none (0) if none is
  // left. Whether any version is left.
  Result<bool> AfterVersionsDropped(InodeId ino, VersionNo current,
                                    const std::set<VersionNo>& dropped, int64_t now);
};

// catalog_versions.cc: the chunk rows `q` returns, each as id, raw_len,
// stored_len, pack_id, pack_offset (the garbage, every chunk, one pack's).
Result<std::vector<ChunkRef>> CollectChunks(sql::Query& q);

// catalog_chunks.cc: the stored bytes of the chunk rows that gc
// (TakeGarbageChunks) deletes, and would not without it, once `dropped`
// references (by chunk) go. A delta chunk's row holds one reference on its
// base: a base goes with the last delta that needs it, in the same gc.
// Garbage already there (refs 0) is not counted, but the bases it frees
// only together with `dropped` are. Call inside a transaction. Counts
// with GcModel (store/gc_model.h), as Bucket::Space's history bytes do.
Result<uint64_t> StoredBytesGcWouldFree(sql::Db& db, const std::map<ChunkId, uint64_t>& dropped);

}  // namespace katamari

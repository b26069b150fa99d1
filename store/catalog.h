// Catalog: the bucket's SQLite database (catalog.db, WAL mode). Private to store/.
//
// MVCC (docs/semantics.md, Files, versions and history): every mutating call is one SQLite
// transaction that first inserts a row into `commits` (next Seq, wall-clock time). Rows describing
// names (dentries) and versions are never rewritten to change history: a name is removed by closing
// its dentry (seq_end = that commit's Seq) and a new dentry row is opened for a rename. Reading "as
// of Seq S" sees exactly the rows with seq_start <= S < seq_end. Inode attributes (mode, owner,
// times) and live xattrs are current state, updated in place.
//
// Schema, format version and migrations are documented in docs/catalog.md.
// Opening a catalog whose format is newer than kFormatVersion fails with
// NewerFormat; older formats are migrated forward step by step.
//
// Thread-safety: all methods may be called from any thread; calls are
// serialized internally (one connection, one mutex). Heavy work (hashing,
// compression) never happens inside these calls.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/crypto.h"
#include "store/data_backend.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

inline constexpr unsigned kRenameNoReplace = 1;  // == RENAME_NOREPLACE
inline constexpr unsigned kRenameExchange = 2;   // == RENAME_EXCHANGE

class Catalog {
 public:
  static constexpr int kFormatVersion = 8;

  // Creates a new catalog.db at `path` (Exists if there is one) with the
  // root directory (inode 1, mode 0755, owned by uid/gid) and `settings`.
  // An encrypted bucket (settings.encrypted) is created with its first key
  // slot in the same transaction, so it never exists without one; the
  // returned catalog is then unlocked with `field_key`.
  static Result<std::unique_ptr<Catalog>> Create(const std::string& path,
                                                 const BucketSettings& settings,
                                                 uint32_t root_uid, uint32_t root_gid,
                                                 std::string_view first_key_slot = {},
                                                 const crypto::Key* field_key = nullptr);
  // Opens an existing catalog (NotFound if absent, NewerFormat if its format
  // is newer than this build, Corruption if it is not a katamari catalog).
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path, bool read_only);
  ~Catalog();

  const BucketSettings& settings() const;
  int format_version() const;
  Status SetCompression(Codec codec, int level);

  // Makes every committed transaction durable (fsyncs the WAL and the main
  // file through SQLite's own handles, then the directory). Safe while other
  // processes use the catalog: it never opens or closes a catalog file.
  Status Sync();

  // ---- MVCC clock
  Seq CurrentSeq();
  // Newest Seq whose commit time <= time_ns; Seq(0) if none (empty bucket).
  Seq SeqAtTime(int64_t time_ns);
  // Wall-clock time of a commit.
  Result<int64_t> TimeOfSeq(Seq seq);

  // ---- namespace; `at` = nullopt reads the live state, else as of that Seq
  Result<Attr> GetAttr(InodeId ino);
  Result<InodeId> Lookup(InodeId parent, std::string_view name, std::optional<Seq> at = {});
  // Live name if there is one, else the most recently closed dentry of that
  // name (a deleted file whose history is kept). `*live` tells which.
  Result<InodeId> LookupAny(InodeId parent, std::string_view name, bool* live);
  Result<std::vector<DirEntry>> ReadDir(InodeId dir, std::optional<Seq> at = {});
  // Names in a live directory whose last dentry is closed and whose inode
  // still has versions (for `ls --deleted`).
  Result<std::vector<DirEntry>> ReadDirDeleted(InodeId dir);
  // Up to `limit` live entries of `dir` whose names are >= `from` (bytewise),
  // in name order, with their attributes, in one query: ReadDir joined with
  // GetAttr (held_bytes left unset). NotDir if `dir` is not a directory.
  Result<std::vector<ListedEntry>> ReadDirPlus(InodeId dir, std::string_view from, size_t limit);
  // One live path of an inode ("a/b/c.txt"), or its last path if deleted; for
  // messages and listings. NotFound if the inode never had a name.
  Result<std::string> PathOf(InodeId ino);

  struct NewNode {
    FileKind kind = FileKind::kRegular;
    uint32_t mode = 0644;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string symlink_target;  // kSymlink only
    uint64_t rdev = 0;           // kCharDevice / kBlockDevice only (else must be 0)
    int64_t time_ns = 0;         // atime = mtime = ctime
    // Live xattrs the node starts with (ACLs inherited from the directory's
    // default ACL), written in the same transaction.
    Xattrs xattrs;
    // A new regular file gets its first version, empty, in the same
    // transaction (the mount's create: the writes before the first close
    // amend it, so a new small file costs one transaction less). Not for a
    // revived inode, which keeps the old path (its history may be held by
    // readers the commit must see); the Attr CreateNode returns tells
    // (current_version != 0).
    bool empty_first_version = false;
  };
  // Creates `name` in live directory `parent`. Exists if the name is live.
  // Special files (fifo, socket, devices) are entries without content: they
  // never take a version (AddVersion refuses them) and never revive one.
  // A regular file whose name has a deleted history revives that inode
  // (version numbering continues, docs/semantics.md, Version paths). Names: 1..255 bytes, no '/' or
  // NUL (InvalidArgument / NameTooLong otherwise).
  Result<Attr> CreateNode(InodeId parent, std::string_view name, const NewNode& node);
  Result<Attr> Link(InodeId ino, InodeId new_parent, std::string_view new_name);
  // Removes a non-directory name (IsDir for a directory). With versioning
  // off, an inode left without names is purged (versions dropped).
  Status Unlink(InodeId parent, std::string_view name);
  // NotEmpty if it has live entries; NotDir if not a directory.
  Status RemoveDir(InodeId parent, std::string_view name);

  struct RenameResult {
    // Set when the editor pattern applied: the source regular file was moved
    // over an existing regular file (both single-linked, versioning on), so
    // the source's current content became a new version of *this* inode (the
    // target keeps its inode and history) and the source inode lost its name.
    std::optional<InodeId> merged_into;
  };
  Result<RenameResult> Rename(InodeId parent, std::string_view name, InodeId new_parent,
                              std::string_view new_name, unsigned flags);

  struct AttrChange {
    std::optional<uint32_t> mode;  // permission bits
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
    std::optional<int64_t> atime_ns;
    std::optional<int64_t> mtime_ns;
    std::optional<int64_t> ctime_ns;
    // Live xattrs set or removed in the same transaction (an ACL and the
    // mode it implies change together: docs/semantics.md, The live tree).
    XattrEdits xattrs;
  };
  // A change of mode, uid or gid also restamps the current version's
  // (docs/catalog.md, "versions"); so does an edit of a system.posix_acl_*
  // xattr in the current version's xattr snapshot (the ACL is part of the
  // permissions a version shows).
  Result<Attr> SetAttr(InodeId ino, const AttrChange& change);
  Result<std::string> ReadLink(InodeId ino);

  // Live user xattrs (snapshotted into each new version).
  Result<Xattrs> GetXattrs(InodeId ino);
  // flags: 0, 1 = XATTR_CREATE (Exists if present), 2 = XATTR_REPLACE (NotFound if absent).
  Status SetXattr(InodeId ino, std::string_view name, std::string_view value, int flags);
  Status RemoveXattr(InodeId ino, std::string_view name);  // NotFound if absent

  // ---- versions
  struct NewVersion {
    InodeId ino;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    Sha256 sha256;
    bool sha256_pending = false;          // sha256 not known yet (stored as the empty blob)
    std::vector<ChunkRef> chunks;         // in file order; sum(raw_len) == size; holes too
    // Instead of `chunks` (an incremental commit): the list as pieces, the
    // reused segments being ones of version `pieces_base` of `pieces_base_ino`
    // (catalog_segments::ReferencePieces). NotFound if one no longer exists.
    std::vector<ListPiece> pieces;
    InodeId pieces_base_ino;
    VersionNo pieces_base;
    std::optional<Xattrs> xattrs;         // nullopt: snapshot the live xattrs
    std::optional<VersionNo> restored_from;
    // Amend: if this version is still the inode's current AND newest one
    // (nothing committed, restored or deleted since), the new content
    // replaces it under the same number: its row is deleted (references
    // dropped) and the new row inserted with this commit's Seq, so time views
    // before this commit show the version before it. Otherwise (or nullopt)
    // the content becomes the next version as usual. The write session uses
    // this for the empty version it commits at the first close of a file only
    // created or truncated (`echo x > f` closes once before writing).
    // Never a version another owner pins (its reader would see it change),
    // nor one in `held_here`.
    std::optional<VersionNo> replaces;
    // Versions of `ino` that readers of this catalog's own owner hold
    // (besides the committing session's base): kept, as other owners'
    // pinned versions are, by the amend and by the drop of superseded
    // versions (the owner's own pins do not count there, since the
    // committing session pins its base).
    std::set<VersionNo> held_here;
    // The inode's ctime after the commit: nullopt = the commit's time; else
    // the later of this and the inode's ctime (the mount passes the time of
    // the last change it already showed, so a close does not move ctime).
    std::optional<int64_t> ctime_ns;
    // A version of `ino` whose pin row of this catalog's own owner goes in
    // the same transaction (the committing session's base: a commit never
    // reads its base again, so its pin is done; Bucket's pin counts know).
    std::optional<VersionNo> release_own_pin;
    // Attribute changes made in the same transaction, before the version
    // records the file's owner and mode (as a SetAttr just before it would:
    // the file's previous current version is restamped too). The mount's
    // close of a file whose owner, mode or times were set while it was open
    // (tar, cp -p, rsync) is one transaction, not two.
    std::optional<AttrChange> attrs;
  };
  // One transaction: new Seq; chunk rows inserted or their reference counts
  // raised; the version row (see `replaces`; recording the inode's mode, uid
  // and gid); the inode's size, mtime and current version. With versioning
  // off, the inode's older versions are dropped in the same transaction. The
  // caller has made every chunk durable before this call.
  Result<VersionInfo> AddVersion(const NewVersion& v);

  // The key API's put (store/catalog_put.cc), one transaction: walks `dirs`
  // from the root, creating each missing directory from `dir_node`; creates
  // the file `name` from `file_node` unless it is live (a new file may revive
  // a deleted history, as CreateNode does); makes `xattrs` its live xattrs
  // and adds `version` (its ino and xattrs are set here) as AddVersion does.
  // A failure anywhere commits nothing: no directory, name or version.
  // NotDir if a directory on the way is not one; IsDir if the name is not a
  // regular file. The caller has made every chunk durable before this call.
  struct PutFile {
    std::vector<std::string> dirs;
    std::string name;
    NewNode dir_node;   // kind is set to kDirectory
    NewNode file_node;  // kind is set to kRegular
    Xattrs xattrs;
    NewVersion version;
  };
  Result<VersionInfo> Put(const PutFile& p);
  Result<VersionInfo> GetVersion(InodeId ino, VersionNo vno);
  Result<std::vector<VersionInfo>> ListVersions(InodeId ino);  // oldest first
  // The version current at `at` (newest existing version with seq <= at).
  Result<VersionInfo> VersionAt(InodeId ino, Seq at);
  Result<std::vector<ChunkRef>> VersionChunks(InodeId ino, VersionNo vno);
  // A version's list as its segments, unread (catalog_segments.h), and the
  // refs of one of them: for a commit that reuses the untouched ones.
  Result<std::vector<SegmentMeta>> VersionSegments(InodeId ino, VersionNo vno);
  Result<std::vector<ChunkRef>> SegmentChunks(int64_t segment);
  // Completes a pending SHA-256 (catalog_sha.cc): stores `sha` in the row of
  // version `vno` if it is still the one made by commit `seq` and still
  // pending; otherwise changes nothing (also OK). Records no commit: the
  // content is unchanged, only a fact about it is filled in. ReadOnly on a
  // read-only catalog.
  Status SetVersionSha256(InodeId ino, VersionNo vno, Seq seq, const Sha256& sha);
  // A version whose SHA-256 is pending, as PendingSha256 lists it.
  struct PendingSha {
    InodeId ino;
    VersionNo vno;
    Seq seq;
    uint64_t size = 0;
  };
  // Up to `limit` versions with a pending SHA-256 and size <= max_size,
  // smallest first (catalog_sha.cc; the background completion). A scan of
  // `versions`: no index says which are pending (docs/catalog.md).
  // `newest_only`: only versions no newer version of their file superseded
  // (the background completion leaves the others to their first request).
  Result<std::vector<PendingSha>> PendingSha256(uint64_t max_size, size_t limit,
                                                bool newest_only = false);
  // Whether the file has a version numbered above `vno`.
  Result<bool> Superseded(InodeId ino, VersionNo vno);
  // Permanently deletes one version (reference counts lowered). Deleting the
  // newest makes the previous one current.
  Status DeleteVersion(InodeId ino, VersionNo vno);
  // DeleteVersion whatever pins it (they go too): recovery's rollback of a
  // version whose data did not reach the disk before a power cut, which
  // ended every process that pinned it (and a reader would get EIO).
  Status DeleteTornVersion(InodeId ino, VersionNo vno);
  // Deletes every version and every closed name of the inode; the inode row
  // goes too if it has no live name.
  Status PurgeHistory(InodeId ino);

  // ---- version pins (catalog_pins.cc; docs/catalog.md "version_pins"):
  // a version an open write session reads from, which DeleteVersion and
  // PurgeHistory refuse (Busy) and PruneVersions, PurgeIfDeletedBefore and
  // the drops of an excluded commit skip while its owner lives.
  // Creates the table if missing (writable opens; no format change).
  Status EnsurePinTable();
  // Whether the process owning pins `owner` still runs; *who describes it
  // ("pid 123") for messages. Pins of an owner it says is gone are dropped.
  using PinLiveness = std::function<bool(const std::string& owner, std::string* who)>;
  // This catalog's own owner name (its pins are always live) and the test
  // for others'. Without a test every pin counts as live.
  void SetPinOwner(std::string owner, PinLiveness alive);
  // NotFound if the version does not exist (deleted meanwhile).
  Status AddPin(std::string_view owner, InodeId ino, VersionNo vno);
  Status RemovePin(std::string_view owner, InodeId ino, VersionNo vno);
  Status RemoveOwnerPins(std::string_view owner);
  // Busy (as DeleteVersion) if a live owner pins a version of `ino`; for
  // callers that must ask before a first step (rm --purge of a live file
  // removes its name before its history).
  Status CheckUnpinned(InodeId ino);
  // Drops the pins of every owner that is gone; returns how many owners.
  Result<uint64_t> SweepStalePins();
  // Without versioning, a file that loses its last name (or a version a
  // commit supersedes) while a live owner pins one of its versions keeps
  // the pinned versions (nameless). These go once unpinned: for one inode
  // (after an unpin) or for every file (prune, gc, an open that dropped
  // stale pins). Whether / how many files lost something; a bucket with
  // versioning does nothing here.
  Result<bool> ReleaseUnpinned(InodeId ino);
  // The versions of `ino` a live owner (this one too) pins now.
  Result<std::set<VersionNo>> PinnedVersionsOf(InodeId ino);
  Result<uint64_t> ReleaseAllUnpinned();

  // ---- chunks
  // For each id: whether a chunk row exists (its file was durable when the
  // row was committed), i.e. a writer may reference it without writing it.
  std::vector<bool> HaveChunks(const std::vector<ChunkId>& ids);
  // Deletes chunk rows whose reference count is 0 and returns them; the
  // caller removes the files afterwards (a crash in between leaves orphans).
  Result<std::vector<ChunkRef>> TakeGarbageChunks();
  // Every chunk row (fsck, gc orphan sweep).
  Result<std::vector<ChunkRef>> AllChunks();

  // ---- pack locations (catalog_packs.cc; docs/pack-format.md)
  // The location recorded in chunk `id`'s row: none for a chunk file (rows
  // of older formats), NotFound if there is no row.
  Result<std::optional<ChunkLocation>> ChunkLocationOf(const ChunkId& id);
  // Clears the location of `id` if it is still `loc` (fsck moved a damaged
  // record's bytes aside): the row then names a chunk file that does not
  // exist, so reads fail and the next write of the same content stores it
  // again (ChunkRef::replace), as for a chunk file moved aside.
  Status ForgetChunkLocation(const ChunkId& id, const ChunkLocation& loc);
  struct PackUse {
    std::array<uint8_t, 16> pack{};
    uint64_t chunks = 0;      // rows pointing into it
    uint64_t live_bytes = 0;  // their records' bytes (header + body)
  };
  // Every pack some row points into.
  Result<std::vector<PackUse>> PackUsage();
  // The same for one pack (zero if no row points into it).
  Result<PackUse> PackUsageOf(const std::array<uint8_t, 16>& pack);
  // Whether any row points into `pack`.
  Result<bool> PackInUse(const std::array<uint8_t, 16>& pack);
  // The rows pointing into `pack` (loc set), in record order.
  Result<std::vector<ChunkRef>> ChunksInPack(const std::array<uint8_t, 16>& pack);
  // gc repack: in one transaction, moves each chunk whose row still points
  // at `from[i].loc` to `to[i]`. Returns how many moved.
  Result<uint64_t> MoveChunks(const std::vector<ChunkRef>& from,
                              const std::vector<ChunkLocation>& to);

  // ---- encryption (docs/encryption.md)
  // An encrypted catalog seals versions.sha256, versions.xattrs and
  // xattrs.value with the bucket's catalog field key. Until Unlock() every
  // call that reads or writes those columns fails with WrongKey; names,
  // sizes and times need no key.
  void Unlock(const crypto::Key& field_key);

  // Key slots wrap the master key (crypto::WrapMasterKey). They are not
  // history: changing them records no commit.
  struct KeySlot {
    uint32_t id = 0;  // never reused
    int64_t created_ns = 0;
    std::string label;
    std::string blob;  // crypto::kSlotSize bytes
  };
  Result<std::vector<KeySlot>> KeySlots();  // by id
  Result<uint32_t> AddKeySlot(std::string_view blob, std::string_view label);
  // NotFound if there is no such slot; InvalidArgument if it is the last one
  // (a bucket without a slot could never be opened again).
  Status RemoveKeySlot(uint32_t id);
  // Replaces the wrapped key of slot `id` in place (changing a passphrase).
  Status ReplaceKeySlot(uint32_t id, std::string_view blob);

  // ---- retention policy and exclude patterns (store/catalog_policy.cc;
  // docs/semantics.md, Retention and excludes). Settings, not history: a
  // change records no commit, but each one appends a row to policy_log.
  // Patterns and rule texts are validated by the caller (store/retention.h).
  struct PolicyRule {
    std::string pattern;  // "" = the default rule set
    std::string rules;    // RetentionRules::ToString()
  };
  // Patterns in the order they were first set, the default last.
  Result<std::vector<PolicyRule>> PolicyRules();
  // Replaces the rules of `pattern` (a new pattern goes after the others).
  Status SetPolicyRule(std::string_view pattern, std::string_view rules);
  // NotFound if `pattern` has no rules.
  Status ClearPolicyRule(std::string_view pattern);
  Result<std::vector<std::string>> Excludes();  // in the order added
  // See Impl::ExcludedVersions: nullopt unless every live name is excluded.
  Result<std::optional<std::vector<VersionNo>>> ExcludedVersions(InodeId ino, VersionNo below);
  Status AddExclude(std::string_view pattern);     // Exists if listed
  Status RemoveExclude(std::string_view pattern);  // NotFound if not listed
  Status ResetExcludes(const std::vector<std::string>& defaults);
  struct PolicyChange {
    int64_t time_ns = 0;
    std::string action;   // "policy set", "policy clear", "exclude add", ...
    std::string pattern;  // "" for the default rule set / exclude reset
    std::string rules;    // the rule text set ("" when cleared)
  };
  Result<std::vector<PolicyChange>> PolicyLog();  // oldest first
  // A regular file that has versions, as prune sees it.
  struct RetentionFile {
    InodeId ino;
    VersionNo current;       // 0 for a deleted file
    bool live = false;       // has a live name
    int64_t deleted_ns = 0;  // !live: when its last name was removed
  };
  Result<std::vector<RetentionFile>> RetentionFiles();
  // One transaction: deletes those of `vnos` that still exist and are not the
  // current version of a live file (so a file re-created or restored since
  // the caller looked is never cut back), nor pinned (the base of a file
  // open for writing: added to *pinned). Returns the numbers deleted.
  Result<std::vector<VersionNo>> PruneVersions(InodeId ino, const std::vector<VersionNo>& vnos,
                                               std::vector<VersionNo>* pinned = nullptr);
  // Deletes the whole history of `ino` if it still has no live name, its
  // last name went before `cutoff_ns` and no version is pinned; returns
  // whether it did.
  Result<bool> PurgeIfDeletedBefore(InodeId ino, int64_t cutoff_ns);
  // Stored bytes of the chunks whose last references are in `versions`.
  Result<uint64_t> BytesFreedBy(const std::vector<std::pair<InodeId, VersionNo>>& versions);

  // ---- whole-bucket facts
  struct VersionKey {
    InodeId ino;
    VersionNo vno;
  };
  Result<std::vector<VersionKey>> AllVersions();  // fsck
  // Versions committed after `seq`, by inode and number (recovery).
  Result<std::vector<VersionKey>> VersionsAfter(Seq seq);
  // The last sync point (store/catalog_durable.cc): every version with
  // seq <= mark.seq had its chunk data durable. Seq 0 if none was recorded.
  struct DurableMark {
    Seq seq;
    int64_t time_ns = 0;
    bool recorded = false;  // false: the bucket never had one (older builds)
  };
  Result<DurableMark> GetDurableMark();
  // Where the chunk data lives (store/catalog_data.cc): url "" = the bucket
  // directory.
  Result<DataBackend> GetDataBackend();
  Status SetDataBackend(const DataBackend& d);
  // Raises the mark (never lowers it); a write transaction without a commit.
  Status SetDurableMark(const DurableMark& m);
  // fsck's checks of the catalog itself (store/catalog_check.cc): SQLite's
  // integrity_check and foreign_key_check, every chunk row's refs against
  // the references segment rows really make (by chunk id), every segment's
  // refs, key and counts against its rows and the version lists, each inode's
  // current_version naming an existing version, and special files holding
  // no content, target or stray device number. One line per problem,
  // naming the file; a check that cannot run (a query error) is a problem
  // too. Empty: the catalog is sound.
  std::vector<std::string> CheckIntegrity();
  struct Stats {
    uint64_t inodes = 0, files = 0, versions = 0, chunks = 0;
    uint64_t chunk_stored_bytes = 0;  // sum over chunk rows
    uint64_t chunk_raw_bytes = 0;
    uint64_t logical_bytes = 0;       // sum of sizes of all versions
  };
  Result<Stats> GetStats();

  // ---- whole trees (store/catalog_history.cc): what `katamari du`, `stats
  // PATH`, `log`, `diff` and `restore --at TIME DIR` work from, read in one
  // read transaction (one consistent snapshot, a handful of queries; no
  // chunk file is read). Needs no key: sealed columns are not read.
  struct HistoryDentry {
    InodeId parent;
    std::string name;
    InodeId ino;
    FileKind kind = FileKind::kRegular;
    Seq seq_start, seq_end;  // seq_end 0: live
    int64_t start_ns = 0, end_ns = 0;  // the commits' times (end_ns 0 if live)
  };
  struct HistoryInode {
    InodeId ino;
    FileKind kind = FileKind::kRegular;
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0, rdev = 0;
    int64_t mtime_ns = 0;
    VersionNo current_version;
    std::string symlink_target;
  };
  struct HistoryVersion {
    InodeId ino;
    VersionNo vno;
    Seq seq;
    int64_t time_ns = 0, mtime_ns = 0;
    uint64_t size = 0, stored_size = 0;
    uint32_t mode = 0, uid = 0, gid = 0;
    std::optional<VersionNo> restored_from;
    // with_chunks only: the chunk list as indexes into History::chunks
    // (holes and ids without a chunk row left out), in file order.
    std::vector<uint32_t> chunks;
  };
  struct HistoryChunk {
    ChunkId id;
    // refs: occurrences in the chunk lists of all versions (with_chunks;
    // counted from them, not chunks.refs, which counts segments).
    uint64_t refs = 0, stored_len = 0;
    uint64_t row_refs = 0;  // chunks.refs as stored (0: garbage, gc takes it)
    // A delta chunk (docs/chunk-format.md, "Delta chunks"): its base, as an
    // index into History::chunks (none if the base has no row: fsck says so).
    std::optional<uint32_t> delta_base;
  };
  struct History {
    Seq seq;  // the newest commit the snapshot includes
    std::vector<HistoryDentry> dentries;  // by id (creation order)
    std::vector<HistoryInode> inodes;     // by ino
    std::vector<HistoryVersion> versions; // by ino, then vno
    std::vector<HistoryChunk> chunks;     // by id; with_chunks only
  };
  Result<History> ReadHistory(bool with_chunks);

  struct Impl;

 private:
  explicit Catalog(std::unique_ptr<Impl> impl);
  Status DeleteVersion(InodeId ino, VersionNo vno, bool forced);
  std::unique_ptr<Impl> impl_;
};

}  // namespace katamari

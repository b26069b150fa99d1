// Bucket: the store's public face. The CLI (daemon/) and the filesystem (fs/)
// use only this header (plus types.h/status.h).
//
// A bucket is a directory (docs/semantics.md, Buckets): catalog.db (SQLite, WAL), chunks/,
// staging/ and a lock file. Two faces:
//  - the key API of the original library (Put/Get/Delete/List by "a/b/c"
//    keys; directories on the way are created by Put);
//  - the inode API the mount uses (inode numbers are catalog ids).
//
// Thread-safety: a Bucket may be used from many threads at once. Contents
// are chunked, hashed and compressed outside catalog transactions.
// Durability: a call that commits a version returns only after its chunks
// are durable and the catalog row is committed (survives kill -9); Sync()
// makes everything committed survive a power cut.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/object_store.h"
#include "store/pack_remote.h"
#include "store/retention.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

class Env;
class Catalog;
class ChunkStore;

// A run of a sparse stream or file: `len` bytes of data, or of a hole (zeros
// that are stored as nothing). len UINT64_MAX: up to the end, length unknown.
struct Extent {
  bool hole = false;
  uint64_t len = UINT64_MAX;
};

// Pull-style input. Read returns bytes read, 0 at end of stream.
// A sparse source also says where its holes are (Next), so that the store
// records them as hole refs without reading or hashing them.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // The run at the current position; a data run is read with Read (which
  // then never reads past it), a hole run of len > 0 is passed with
  // SkipHole(len). Default: everything is data.
  virtual Result<Extent> Next() { return Extent{}; }
  virtual Status SkipHole(uint64_t n) {
    (void)n;
    return Status::InvalidArgument("this source has no holes");
  }
};
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(std::string_view data) = 0;
};
// Sources/sinks on a file descriptor (not owned). `what` names it in errors.
// On a regular file, FdSource reports the file's holes (SEEK_DATA/SEEK_HOLE),
// so `katamari put` of a sparse file stores no zeros.
class FdSource : public ByteSource {
 public:
  FdSource(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  Result<size_t> Read(char* buf, size_t n) override;
  Result<Extent> Next() override;
  Status SkipHole(uint64_t n) override;

 private:
  int fd_;
  std::string what_;
};
class FdSink : public ByteSink {
 public:
  FdSink(int fd, std::string what) : fd_(fd), what_(std::move(what)) {}
  Status Write(std::string_view data) override;

 private:
  int fd_;
  std::string what_;
};
class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string_view s) : s_(s) {}
  Result<size_t> Read(char* buf, size_t n) override;

 private:
  std::string_view s_;
};
// Random access to new content that is mostly an existing version (the
// mount's write session: the base version overlaid by what was written).
// Bucket::CommitEdit reads only what may have changed.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t size() const = 0;
  // Exactly min(n, size() - off) bytes at `off`.
  virtual Status ReadAt(uint64_t off, size_t n, char* buf) = 0;
  // The data or hole run at `off` (< size()), as ByteSource::Next.
  virtual Result<Extent> ExtentAt(uint64_t off) = 0;
};
// Where new content may differ from the version it was made from.
struct EditedRanges {
  InodeId base_ino;   // the version edited (its inode may differ from the
  VersionNo base;     // target after a rename routed the file elsewhere)
  // Bytes [0, base_valid) of the new content equal the base's at the same
  // offsets except inside `dirty` (sorted, disjoint, half-open); from
  // base_valid on (a truncation, an extension) nothing is the base's.
  uint64_t base_valid = 0;
  std::vector<std::pair<uint64_t, uint64_t>> dirty;
};
class StringSink : public ByteSink {
 public:
  Status Write(std::string_view data) override {
    out.append(data);
    return Status::OK();
  }
  std::string out;
};

// Called now and then during long work; total 0 = unknown.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Which version of a file: an explicit number, the one current at a time, or
// (neither) the current one.
struct VersionSelector {
  std::optional<VersionNo> version;
  std::optional<int64_t> at_time_ns;
};

struct PutOptions {
  Xattrs metadata;                  // user.* xattrs; replaces the file's live set
  std::optional<int64_t> mtime_ns;  // default: now
  uint32_t mode = 0644;             // for a file created by this put
  uint32_t uid = 0, gid = 0;        // idem (default: the caller's)
  ProgressFn progress;
};

// One entry of List: a regular file, or a special file (attr.kind, attr.rdev;
// never a version).
struct FileListing {
  std::string key;
  bool deleted = false;  // no live name; history kept
  Attr attr;
  std::optional<VersionInfo> latest;
  uint64_t version_count = 0;
};

struct FsckReport {
  uint64_t chunks_checked = 0, versions_checked = 0, bytes_checked = 0;
  uint64_t orphan_chunks = 0;          // files no catalog row references (harmless)
  uint64_t packs = 0;                  // pack files present
  uint64_t dead_pack_bytes = 0;        // bytes of packs no row references (gc reclaims)
  std::vector<std::string> problems;   // one line each, naming what is wrong
  std::vector<std::string> damaged;    // "KEY@VERSION" of every unreadable version
  bool catalog_damaged = false;        // some problem is in catalog.db itself
  bool ok() const { return problems.empty() && damaged.empty(); }
};

struct GcReport {
  uint64_t chunks_removed = 0;
  uint64_t bytes_freed = 0;
  uint64_t orphans_removed = 0;
  uint64_t packs_removed = 0;    // pack files no row pointed into any more
  uint64_t packs_rewritten = 0;  // mostly dead packs whose live chunks were copied out
  uint64_t packs_merged = 0;     // small packs whose chunks were copied into one
};

struct BucketStats {
  uint64_t files = 0, versions = 0, chunks = 0;
  uint64_t logical_bytes = 0;  // sum of all versions' sizes
  uint64_t stored_bytes = 0;   // chunk files on disk
  uint64_t raw_chunk_bytes = 0;
};

struct FsStats {  // statfs of the storage holding the bucket
  uint64_t block_size = 4096, blocks = 0, blocks_free = 0, blocks_avail = 0;
  uint64_t files = 0, files_free = 0;
};

// ---- whole trees (Bucket::Space, Log, Diff, RestoreTree; store/bucket_history.cc;
// docs/semantics.md, Whole trees). Paths are keys ("docs/a.txt"); "" is the bucket's root.

// The space one file, or a directory's files together, take.
struct SpaceEntry {
  std::string path;
  FileKind kind = FileKind::kRegular;  // kDirectory: a total of the files below
  bool deleted = false;   // no live name (its history is kept); a directory: none live below
  uint64_t files = 0;     // files counted (1 for a file)
  uint64_t size = 0;      // logical bytes of the current content (0 when deleted)
  uint64_t versions = 0;
  uint64_t all_versions_bytes = 0;  // logical bytes of every version
  // On-disk bytes of the distinct chunks its versions use, with the bases
  // their delta chunks are stored against (shared chunks counted in full
  // for every file using them).
  uint64_t stored_bytes = 0;
  // On-disk bytes only its old versions keep alive: what deleting every
  // version but the current one (all of them for a deleted file) and gc
  // would free, delta bases that only those versions' deltas hold included
  // (counted as gc frees, store/gc_model.h). A directory's figure is the
  // sum of its files'.
  uint64_t history_bytes = 0;
};
// Bucket::Space: the files (and directories, as du totals) under a path,
// and the figures of the whole subtree counted exactly (chunks shared
// inside it counted once; history_bytes = what deleting the history of
// every file under it would free).
struct SpaceReport {
  SpaceEntry total;
  uint64_t deleted_files = 0;
  std::vector<SpaceEntry> files;  // by path
  std::vector<SpaceEntry> dirs;   // by path; the subtree's root included
};

// One change to a file or tree, as the catalog recorded it.
struct LogEntry {
  enum class Action { kVersion, kRestore, kCreate, kDelete, kRename };
  Action action = Action::kVersion;
  Seq seq;
  int64_t time_ns = 0;
  std::string path;      // the name now (or last); for kRename the new one
  std::string old_path;  // kRename: the name before
  FileKind kind = FileKind::kRegular;
  VersionNo version;     // kVersion, kRestore: the version made
  std::optional<VersionNo> restored_from;
  uint64_t size = 0;         // kVersion, kRestore: its size
  int64_t size_change = 0;   // against the version before (the whole size for the first)
};

// One difference between two moments of a tree.
struct DiffEntry {
  char status = 'M';  // 'A' added, 'D' removed, 'M' changed
  std::string path;
  FileKind kind = FileKind::kRegular;  // the newer one's for 'M' and 'A'
  std::optional<VersionNo> old_version, new_version;
  uint64_t old_size = 0, new_size = 0;
};

// What Bucket::RestoreTree did.
struct TreeRestoreReport {
  std::string target;  // where the tree now is
  uint64_t files_restored = 0;   // got the old content as a new version (or a new file)
  uint64_t unchanged = 0;        // already as they were (attributes fixed if needed)
  uint64_t dirs_created = 0, links_created = 0, specials_created = 0;
  uint64_t attrs_fixed = 0;      // mode or owner set back, content unchanged
  uint64_t deleted = 0;          // files made after TIME: a delete marker (history kept)
  uint64_t dirs_removed = 0;     // directories made after TIME, once emptied
};

// A key of an encrypted bucket (docs/encryption.md): how to unlock it at
// Open, or the key of a new key slot. Secrets are read from their file when
// used and never kept; a passphrase held here is wiped on destruction.
struct BucketKey {
  enum class Source { kNone, kKeyFile, kPassphraseFile, kPassphrase };
  Source source = Source::kNone;
  // kKeyFile: a file of exactly 32 random bytes. kPassphraseFile: the
  // passphrase, one trailing newline ("\n" or "\r\n") dropped. Either file is
  // refused (Permission, naming `chmod 600 FILE`) if group or others may read
  // it; pipes and devices (/dev/stdin) are read as they are.
  std::string path;
  std::string passphrase;  // kPassphrase: the exact bytes (e.g. typed on a terminal)
  // New passphrase slots only: scrypt cost (0 = the default, N=2^16 r=8 p=1,
  // ~0.25 s). Stored in the slot; tests use small values to run fast.
  uint64_t scrypt_n = 0;
  uint32_t scrypt_r = 0, scrypt_p = 0;

  static BucketKey KeyFile(std::string path);
  static BucketKey PassphraseFile(std::string path);
  static BucketKey Passphrase(std::string bytes);
  bool empty() const { return source == Source::kNone; }
  // "key file /etc/k.key", "passphrase file /run/pw", "passphrase".
  std::string Describe() const;

  BucketKey() = default;
  BucketKey(const BucketKey&) = default;
  BucketKey& operator=(const BucketKey&) = default;
  ~BucketKey();
};

// One key slot of an encrypted bucket (the secret is never shown).
struct KeySlotInfo {
  enum class Kind { kKeyFile, kPassphrase };
  uint32_t id = 0;  // 1, 2, ...; never reused
  Kind kind = Kind::kKeyFile;
  std::string label;
  int64_t created_ns = 0;
  uint64_t scrypt_n = 0;  // passphrase slots: the stored scrypt cost
  uint32_t scrypt_r = 0, scrypt_p = 0;
  bool in_use = false;  // the slot this Bucket was opened with
  std::string problem;  // non-empty: the slot is damaged and opens nothing
};

// Random-access reader of one version. Thread-compatible (one user at a time
// or external locking); keeps a small cache of decoded chunks.
class VersionReader {
 public:
  virtual ~VersionReader() = default;
  virtual const VersionInfo& info() const = 0;
  // Reads up to n bytes at offset (short only at end). Corruption on a bad chunk.
  virtual Status ReadAt(uint64_t offset, size_t n, char* buf, size_t* got) = 0;
  // The data or hole run at `offset` (< size), as long as it goes (holes are
  // hole refs of the chunk list). Default: all data.
  virtual Extent ExtentAt(uint64_t offset) const {
    return Extent{false, offset < info().size ? info().size - offset : 0};
  }
  // Bytes of the version that are not holes (what st_blocks counts).
  virtual uint64_t held_bytes() const { return info().size; }
};

// Scratch space for the uncommitted blocks of one file open for writing
// (fs/write_session.h): an unlinked sparse file in the bucket's staging/
// directory, gone when closed (after kill -9 too: nothing is recovered from
// it). On an encrypted bucket every kBlock block is sealed (AES-256-GCM)
// under a key made when the Bucket was opened and never written anywhere, so
// the disk holds no plaintext and what a crash leaves is unreadable
// (docs/encryption.md, "Staging"). Never written ranges read as zeros and
// take no space.
//
// Thread-compatible: one caller at a time (WriteSession holds its mutex).
class StagingFile {
 public:
  static constexpr uint64_t kBlock = 4096;
  virtual ~StagingFile() = default;
  // Exactly n bytes at off; ranges never written, punched or cut read as
  // zeros. Corruption (EIO) if a sealed block does not open: never wrong bytes.
  virtual Status Read(uint64_t off, size_t n, char* buf) = 0;
  virtual Status Write(uint64_t off, std::string_view data) = 0;
  // [off, off+len) reads as zeros; whole blocks inside give their space back.
  virtual Status Punch(uint64_t off, uint64_t len) = 0;
  // Everything at and beyond `size` reads as zeros and its space is freed.
  virtual Status Truncate(uint64_t size) = 0;
  // The run at `off`, at most up to `limit` (> off): data where something
  // was written, a hole where nothing was, or it was punched or cut (at the
  // block granularity of the file system holding it; a hole always reads as
  // zeros, data may be zeros too).
  virtual Result<Extent> ExtentAt(uint64_t off, uint64_t limit) = 0;
  virtual bool sealed() const = 0;  // encrypted bucket: blocks are sealed
};

// Background completion of pending SHA-256s (Bucket::StartShaCompletion;
// docs/semantics.md, Files, versions and history): versions are hashed one
// at a time, smallest first, sequentially (data chunks read, holes hashed as
// zeros), and stored with the race-safe update of CompleteSha256 (only if
// the row is still the one hashed and still pending).
struct ShaCompletionOptions {
  // Larger versions are left to their first request (CompleteSha256):
  // hashing costs about a second per GiB, zeros included.
  uint64_t max_version_size = uint64_t{64} << 30;
  // How often the idle worker asks the catalog whether anything was
  // committed since it last found nothing pending.
  std::chrono::milliseconds poll_interval{1000};
  // One line per version that could not be hashed (e.g. a damaged chunk;
  // it is not tried again by this worker). Optional.
  std::function<void(const std::string&)> log;
  // Tests: called on the worker when it starts hashing a version.
  std::function<void(const VersionInfo&)> on_start;
};

class Bucket {
 public:
  struct OpenOptions {
    bool read_only = false;
    Env* env = nullptr;                // nullptr: Env::Default()
    std::optional<Codec> compression;  // override for new writes (and store it)
    std::optional<int> level;
    // Unlocks an encrypted bucket; ignored by a plain one (so a key set in
    // the environment does not get in the way of plain buckets).
    BucketKey key;
    // Batched durability (the daemon; docs/semantics.md, Durability): > 0
    // lets commits return once their rows and chunk data are written, and
    // makes everything durable at a sync point at least this often, at
    // Sync() and when the bucket is closed. 0: each commit syncs its chunk
    // data before its row (the CLI).
    int sync_interval_ms = 0;
    // read_only only: a SHA-256 that CompleteSha256 completes is still
    // stored, through a writable catalog handle opened for those updates
    // alone, if the bucket directory and catalog may be written (otherwise
    // it is only computed). The CLI's listing commands set it
    // (docs/semantics.md, Files, versions and history); a read-only mount
    // does not.
    bool store_sha256 = false;
    // A bucket whose data is on an object store (docs/object-store.md):
    // the store to use instead of the one its URL names (tests: a store
    // that fails on demand), and the bound of the local cache of pack data.
    std::shared_ptr<ObjectStore> data_store;
    uint64_t data_cache_bytes = kDefaultDataCacheBytes;
  };


  // Creates a bucket directory (mode 0700; parents created). Exists if a
  // catalog is already there; InvalidArgument for bad settings, and for
  // settings.encrypted (an encrypted bucket needs the overload below).
  static Status Create(const std::string& dir, const BucketSettings& settings,
                       Env* env = nullptr);
  // Creates an encrypted bucket (settings.encrypted is implied): a random
  // master key, wrapped in key slot 1 under `first_key`. Errors of the key
  // file (NotFound, Permission, InvalidArgument) name it and the fix.
  static Status Create(const std::string& dir, const BucketSettings& settings,
                       const BucketKey& first_key, Env* env = nullptr);
  // Writes a new key file: 32 random bytes, mode 0600, created exclusively
  // (Exists if `path` is there) and synced.
  static Status CreateKeyFile(const std::string& path);
  // NotFound (with the `katamari init` hint) if there is no bucket,
  // NewerFormat, Permission, ... otherwise. An encrypted bucket needs
  // opts.key: without one, WrongKey "bucket DIR is encrypted: pass --keyfile
  // FILE or --passphrase-file FILE (...)"; with one that opens no slot,
  // WrongKey "wrong key or passphrase for bucket DIR ..."; a key file that
  // is missing, too open or not 32 bytes: NotFound / Permission /
  // InvalidArgument naming the file. Unlocking a passphrase slot costs its
  // scrypt (~0.25 s by default).
  static Result<std::unique_ptr<Bucket>> Open(const std::string& dir, const OpenOptions& opts);
  ~Bucket();
  Bucket(const Bucket&) = delete;
  Bucket& operator=(const Bucket&) = delete;

  const std::string& dir() const { return dir_; }
  const BucketSettings& settings() const;
  bool encrypted() const { return settings().encrypted; }
  std::string StagingDir() const;  // dir/staging: private scratch for write sessions
  // A new, empty staging file in StagingDir() (sealed on an encrypted
  // bucket). `what` names the file being written in errors.
  Result<std::unique_ptr<StagingFile>> OpenStaging(std::string what);
  // A sync point: everything committed so far survives a power cut. Chunk
  // data first (deferred by sync_interval_ms), then the durable mark, then
  // the catalog (docs/semantics.md, Durability).
  Status Sync();
  // After an unclean stop: every version committed after the last sync
  // point whose new chunk data did not all reach the disk (missing, short
  // or damaged: a power cut inside the window) is deleted, so its file is
  // back at the version before; nothing else changes. Each line names a
  // version rolled back. Run by the daemon before it mounts and by fsck;
  // cheap when the last stop was clean (nothing after the mark).
  Result<std::vector<std::string>> RecoverUnsynced();
  // Shutdown: every running and later commit, put and hash of content
  // (ingest, CompleteSha256, Get) stops at its next chunk with Cancelled and
  // leaves the catalog as it was (no row of its own; its chunk files are
  // garbage for gc). Metadata calls and Sync keep working. Irreversible.
  void CancelWork();

  // Packs roll over at this size instead of the default (tests).
  void SetPackTargetSizeForTesting(uint64_t bytes);
  // The next `n` deletions of a pin row fail as if the catalog were busy.
  void FailUnpinsForTesting(int n);
  bool cancelled() const;

  // ---- key API. Keys are relative '/'-separated paths ("docs/a.txt").
  Result<VersionInfo> Put(std::string_view key, ByteSource& src, const PutOptions& opts);
  Result<VersionInfo> Resolve(std::string_view key, const VersionSelector& sel);
  Status Get(std::string_view key, const VersionSelector& sel, ByteSink& out,
             const ProgressFn& progress = {});
  Status Delete(std::string_view key);                       // delete marker
  Status DeleteVersion(std::string_view key, VersionNo vno);  // permanent
  Status Purge(std::string_view key);                         // every version
  Result<std::vector<FileListing>> List(std::string_view prefix, bool include_deleted);
  Result<std::vector<VersionInfo>> Versions(std::string_view key);
  Result<VersionInfo> Restore(std::string_view key, const VersionSelector& sel);
  // A version whose SHA-256 is pending (VersionInfo::sha256_pending, after a
  // commit with holes) gets it computed from its content (data chunks
  // read, holes hashed as zeros) and stored in its row if that row is still
  // the same (a read-only bucket only computes it, unless opened with
  // store_sha256); others are returned as they are. Costs a read of the
  // whole version: call it where the value is shown (`ls`, `versions`,
  // user.katamari.sha256), not for every stat.
  Result<VersionInfo> CompleteSha256(VersionInfo v);
  // Completes and stores, in the caller's thread, up to `max_versions`
  // pending SHA-256s of versions of at most `max_version_size` bytes,
  // smallest first (store/bucket_sha.cc); returns how many were stored.
  // ReadOnly on a read-only bucket, Cancelled after CancelWork (the version
  // being hashed stays pending); a damaged version's Corruption stops it.
  Result<uint64_t> CompletePendingSha256(uint64_t max_versions,
                                         uint64_t max_version_size = UINT64_MAX);
  // Starts one background thread that does this whenever something was
  // committed, at the lowest CPU and I/O priority of the process (nice 19,
  // idle I/O class), so that it only uses what foreground work leaves.
  // ReadOnly on a read-only bucket; Busy if already started.
  Status StartShaCompletion(ShaCompletionOptions opts = {});
  // Stops the background thread (CancelWork and ~Bucket do too) and returns
  // once it has exited: the version being hashed is abandoned at its next
  // chunk or MiB of zeros and stays pending. No-op if none runs.
  void StopShaCompletion();
  Result<FsckReport> Fsck(const ProgressFn& progress = {});
  Result<GcReport> Gc(const ProgressFn& progress = {});
  Result<BucketStats> Stats();
  Result<FsStats> StatFs();

  // ---- whole trees (store/bucket_history.cc, bucket_tree_restore.cc;
  // docs/semantics.md, Whole trees). Each reads one snapshot of the catalog
  // (Catalog::ReadHistory) and reads no chunk file. NotFound, naming the
  // path, if nothing is or was ever at `path`.
  Result<SpaceReport> Space(std::string_view path);
  // Newest first, at most `limit` entries (0: all).
  Result<std::vector<LogEntry>> Log(std::string_view path, size_t limit);
  // Files added, removed and changed under `path` from time t1 to t2 (by path).
  Result<std::vector<DiffEntry>> Diff(int64_t t1_ns, int64_t t2_ns, std::string_view path);
  // Brings the tree at `dir` back as it was at `at_ns`: in place (`to`
  // empty) or into `to`, which must not exist or be an empty directory.
  // Files get new versions that reference the old chunks (no data copied);
  // in place, what was made after `at_ns` gets a delete marker. Resumable,
  // not atomic, in place: each file is one commit, and running it again
  // finishes what a killed run left. Into `to`: built under a hidden sibling
  // name and renamed onto `to` in one commit at the end.
  Result<TreeRestoreReport> RestoreTree(int64_t at_ns, std::string_view dir, std::string_view to);

  // ---- inode API (the mount). `at` = nullopt: live namespace.
  Result<Attr> GetAttr(InodeId ino);
  Result<Attr> Lookup(InodeId parent, std::string_view name, std::optional<Seq> at = {});
  // The inode `name` in live directory `parent` names now, else the one it
  // named last (a deleted or renamed-away file whose history is kept);
  // *live tells which. For NAME@N paths after NAME was deleted (docs/semantics.md, Version paths).
  Result<Attr> LookupAny(InodeId parent, std::string_view name, bool* live);
  Result<std::vector<DirEntry>> ReadDir(InodeId dir, std::optional<Seq> at = {});
  // Up to `limit` live entries of `dir` named `from` or after (bytewise), in
  // name order, each with what GetAttr gives and, for a regular file,
  // held_bytes (HeldBytes of its current version, cached per version; 0
  // without one): one catalog query for a readdirplus once cached.
  Result<std::vector<ListedEntry>> ReadDirPlus(InodeId dir, std::string_view from, size_t limit);
  // `symlink_target` for kSymlink only, `rdev` for device kinds only.
  // kEmpty: a new regular file gets its first version, empty, in the same
  // transaction (Catalog::NewNode::empty_first_version; a revived inode does
  // not: the returned current_version says which).
  enum class FirstVersion { kNone, kEmpty };
  Result<Attr> MakeNode(InodeId parent, std::string_view name, FileKind kind, uint32_t mode,
                        uint32_t uid, uint32_t gid, std::string_view symlink_target = {},
                        uint64_t rdev = 0, const Xattrs& xattrs = {},
                        FirstVersion first = FirstVersion::kNone);
  Result<Attr> Link(InodeId ino, InodeId new_parent, std::string_view new_name);
  Status Unlink(InodeId parent, std::string_view name);
  Status RemoveDir(InodeId parent, std::string_view name);
  // flags: kRenameNoReplace / kRenameExchange (see catalog.h values 1 / 2).
  // Returns the inode that received the content if the editor pattern merged
  // the source into an existing target (see Catalog::RenameResult). No
  // version is ever dropped: the source's history stays readable under its
  // old name, as after Unlink. One catalog transaction.
  Result<std::optional<InodeId>> Rename(InodeId parent, std::string_view name,
                                        InodeId new_parent, std::string_view new_name,
                                        unsigned flags);
  struct AttrChange {
    std::optional<uint32_t> mode, uid, gid;
    std::optional<int64_t> atime_ns, mtime_ns;
    std::optional<int64_t> ctime_ns;  // nullopt: now
    // Live xattrs set or removed in the same transaction (an ACL with the
    // mode it implies; see Catalog::SetAttr for the version restamp).
    XattrEdits xattrs;
  };
  Result<Attr> SetAttr(InodeId ino, const AttrChange& change);
  Result<std::string> ReadLink(InodeId ino);
  Result<Xattrs> GetXattrs(InodeId ino);
  Status SetXattr(InodeId ino, std::string_view name, std::string_view value, int flags);
  Status RemoveXattr(InodeId ino, std::string_view name);

  // Versions by inode.
  Result<std::vector<VersionInfo>> ListVersions(InodeId ino);
  Result<VersionInfo> GetVersion(InodeId ino, VersionNo vno);
  Result<VersionInfo> VersionAt(InodeId ino, Seq at);
  Status DeleteVersion(InodeId ino, VersionNo vno);
  Status PurgeHistory(InodeId ino);
  Seq SeqAtTime(int64_t time_ns);
  Result<std::string> PathOf(InodeId ino);

  // Content.
  Result<std::unique_ptr<VersionReader>> OpenVersion(InodeId ino, VersionNo vno);
  // As OpenVersion, for the base of a write session (fs/write_session.h):
  // while the reader lives the version is pinned in the catalog, so that no
  // process (the CLI's prune, rm NAME@N, rm --purge; the mount's own rm
  // NAME@N) deletes it underneath the session; they refuse (Busy) or skip it.
  // Pins of a process that is gone (kill -9) are stale and dropped by the
  // next one that meets them. NotFound if the version is gone already.
  // A read-only bucket pins nothing (its mount has no write sessions).
  Result<std::unique_ptr<VersionReader>> OpenVersionPinned(InodeId ino, VersionNo vno);
  // As OpenVersionPinned, for the base of a write session only: it reads
  // through the cache of chunks this process already read and verified
  // (docs/chunk-format.md, "The chunk cache"), so that the commit after an
  // append, which reads the file's last chunk and patches against it, does
  // not read, decrypt and verify it again. Chunks it has not seen are read
  // from storage and verified as always. Readers of old versions never use
  // it: they, and fsck, always read storage and so see any damage.
  Result<std::unique_ptr<VersionReader>> OpenSessionBase(InodeId ino, VersionNo vno);
  // A commit deletes the pin row of the committing session's base in its
  // transaction (the session rebases on the new version before it reads
  // again). A session whose rebase failed reads its old base still: this
  // writes the row of that version again if a commit deleted it.
  Status RepinSessionBase(InodeId ino, VersionNo vno);
  // Bytes of the version that are not holes (st_blocks). Remembered per
  // version after the first call (reads its chunk list once).
  Result<uint64_t> HeldBytes(InodeId ino, VersionNo vno);
  // How a commit (CommitContent, CommitEdit) records its version.
  struct CommitOptions {
    // The version's mtime; nullopt: the commit's time.
    std::optional<int64_t> mtime_ns;
    // Amend this version instead if it is still the newest and current one
    // (Catalog::NewVersion::replaces); the result says which number the
    // content got.
    std::optional<VersionNo> replaces;
    // nullopt: the inode's ctime becomes the commit's time; else the later
    // of this and the ctime it has (the mount's last shown change).
    std::optional<int64_t> ctime_ns;
    // A version of `ino` the caller itself holds pinned (a write session's
    // base, OpenVersionPinned). Every other pin of this process is a
    // reader: the version it holds is neither amended nor dropped by this
    // commit (with versioning off, or for an excluded name, superseded
    // versions go now; a held one goes once its reader lets go, or with the
    // next commit or prune).
    std::optional<VersionNo> caller_pin;
    // Attribute changes made in the commit's transaction before the version
    // records the file's owner and mode, as SetAttr just before would (the
    // mount's held changes of a file being written: tar, cp -p).
    std::optional<AttrChange> attrs;
    ProgressFn progress;  // CommitContent only
  };
  // Chunks `src` and commits it as the next version of `ino` (see Put for
  // durability). Holes `src` reports (ByteSource::Next) become hole refs and
  // leave the version's SHA-256 pending (never hashed on this path). TooBig
  // past kMaxFileSize; Cancelled after CancelWork (nothing committed).
  Result<VersionInfo> CommitContent(InodeId ino, ByteSource& src,
                                    const CommitOptions& options = {});
  // As CommitContent, for content that is an edit of an existing version
  // (docs/semantics.md, When a version is made: a commit costs what
  // changed). The base version's chunk refs are reused wherever `edit` says
  // the bytes are unchanged; only from the chunk boundary before each dirty
  // range to where the content-defined boundaries meet the base's again is
  // read, chunked and stored. The result is the chunk list a full ingest
  // would make. Large changes, a base that is gone and small files take the
  // full path (their SHA-256 is computed inline); otherwise the version's
  // SHA-256 is left pending (completed off the close path).
  Result<VersionInfo> CommitEdit(InodeId ino, RandomSource& src, const EditedRanges& edit,
                                 const CommitOptions& options = {});

  // ---- retention policy, prune and exclude patterns (store/bucket_policy.cc;
  // docs/semantics.md, Retention and excludes). Settings stored in the
  // catalog, shared with a mounted daemon (which reads the exclude list at
  // every commit, so changes apply without a remount). Changes are ReadOnly
  // on a read-only bucket and InvalidArgument for a bad pattern or no rule.
  Result<std::vector<PolicyEntry>> Policy();  // first match first, default last
  Status SetPolicy(std::string_view pattern, const RetentionRules& rules);
  Status ClearPolicy(std::string_view pattern);  // NotFound if it has no rules
  // The rule set that applies to `path` (nullopt: keep everything) and the
  // pattern that chose it ("" = the default).
  std::optional<PolicyEntry> PolicyFor(const std::vector<PolicyEntry>& policy,
                                       std::string_view path) const;
  Result<std::vector<std::string>> Excludes();
  Status AddExclude(std::string_view pattern);     // Exists if listed already
  Status RemoveExclude(std::string_view pattern);  // NotFound if not listed
  Status ResetExcludes();                          // back to DefaultExcludes()
  Result<std::vector<PolicyChange>> PolicyLog();   // oldest first
  // Applies the policy: per file, the versions no rule keeps are deleted (one
  // transaction per file; the current version of a live file never), a deleted
  // file gone longer than its deleted-for loses its whole history, and a live
  // excluded file keeps only its current version. Freed chunks are reclaimed
  // at once if no writer holds the gc lock. dry_run changes nothing.
  Result<PruneReport> Prune(const PruneOptions& opts);

  // ---- key slots of an encrypted bucket (docs/encryption.md). None of these
  // re-encrypts data: each slot wraps the same master key. On a plain bucket
  // ListKeySlots is empty and the others are InvalidArgument; on a read-only
  // one the changes are ReadOnly.
  Result<std::vector<KeySlotInfo>> ListKeySlots();
  // Adds a slot opened by `key`; returns its id.
  Result<uint32_t> AddKeySlot(const BucketKey& key, std::string_view label = {});
  // NotFound if absent; InvalidArgument for the last remaining slot.
  Status RemoveKeySlot(uint32_t id);
  // Makes slot `id` open with `new_key` instead (a passphrase change; the
  // kind may change too). Old copies of catalog.db still open with the old
  // key: see the threat model.
  Status ChangeKeySlot(uint32_t id, const BucketKey& new_key);
  // The slot that opened this Bucket (0 on a plain bucket).
  uint32_t unlocked_slot() const;

  struct Shared;  // implementation detail (store/bucket_internal.h)

 private:
  Bucket() = default;
  std::string dir_;
  std::unique_ptr<Shared> s_;
};

}  // namespace katamari

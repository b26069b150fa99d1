// Private parts shared by bucket*.cc. Not a public header.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/bucket.h"
#include "store/bucket_delta.h"
#include "store/catalog.h"
#include "store/chunk_store.h"
#include "store/chunker.h"
#include "store/env.h"
#include "store/worker_pool.h"

namespace katamari {

// The gc lock (dir/gc.lock, flock): writers hold it shared from their first
// chunk write until the catalog row that references their chunks commits;
// chunk deletion (gc, automatic reclamation) holds it exclusive (whole packs
// it judged unused are deleted after it: UnusedPacks). So a chunk that a put
// is about to reference (written or deduplicated) is never deleted
// underneath it, across threads and processes.
class GcLock {
 public:
  enum class Mode { kShared, kExclusive, kTryExclusive };
  // For kTryExclusive, held() is false when someone else holds the lock.
  static Result<GcLock> Acquire(const std::string& bucket_dir, Mode mode);
  GcLock(GcLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  GcLock& operator=(GcLock&&) = delete;
  ~GcLock();
  bool held() const { return fd_ >= 0; }

 private:
  explicit GcLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

struct StagingKey;
class StagingPool;
std::shared_ptr<StagingPool> MakeStagingPool();  // staging_file.cc
class ShaWorker;   // bucket_sha.cc
struct ShaWriter;  // bucket_sha.cc

struct Bucket::Shared {
  Env* env = nullptr;
  std::string dir;  // the bucket directory
  bool read_only = false;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<ChunkStore> chunks;
  std::unique_ptr<Chunker> chunker;
  // Encrypted buckets, once unlocked (bucket_crypto.cc): the master key (to
  // wrap new key slots), its subkeys (shared with the chunk store) and the
  // slot that opened it.
  std::optional<crypto::Key> master;
  std::shared_ptr<const crypto::BucketKeys> keys;
  uint32_t unlocked_slot = 0;
  // Chunks a read found damaged but could not move aside (a writer held the
  // gc lock): this process's writers store them again instead of reusing.
  // quarantine_mu serializes this process's readers that move files aside,
  // so that one does not find the gc lock taken by another.
  std::mutex quarantine_mu;
  std::mutex suspect_mu;
  std::set<ChunkId> suspect_chunks;
  // Encrypted buckets: the ephemeral key that seals staging files
  // (staging_file.cc); made at Open, held only in memory.
  std::shared_ptr<StagingKey> staging_key;
  // Emptied staging files kept open for reuse (staging_file.cc StagingPool).
  std::shared_ptr<StagingPool> staging_pool = MakeStagingPool();
  // Bucket::CancelWork: ingest, hashing and streaming loops stop at their
  // next chunk with Cancelled (shutdown; docs/semantics.md, When a version
  // is made).
  std::atomic<bool> cancelled{false};
  // Bucket::HeldBytes, remembered per (inode, version); entries of an inode
  // are dropped when this process commits to it (an amend keeps the number).
  std::mutex held_mu;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> held_bytes;
  // Batched durability (bucket_sync.cc; docs/semantics.md, Durability):
  // with deferred_sync, commits leave their chunk data unsynced and set
  // `unsynced`; a sync point (the syncer thread every sync_interval, Sync(),
  // the destructor) makes it durable and raises the catalog's durable mark.
  bool deferred_sync = false;
  std::atomic<bool> unsynced{false};
  // The chunk files written since the last sync point, while few: a sync
  // point then fdatasyncs them (and their directories) instead of syncing
  // the whole host file system. `unsynced_many`: too many to list.
  // Not deferred (the CLI): this process committed chunk data, so the mark
  // is raised when the bucket is closed (one more syncfs, which covers the
  // daemon's unsynced data too), and the daemon's next start has nothing of
  // ours to check.
  std::atomic<bool> raise_mark_at_close{false};
  std::mutex unsynced_mu;
  std::vector<std::string> unsynced_files;
  bool unsynced_many = false;
  std::mutex sync_mu;  // one sync point at a time
  Seq marked;          // the durable mark this process last wrote; guarded by sync_mu
  std::mutex syncer_mu;
  std::condition_variable syncer_cv;
  bool syncer_stop = false;  // guarded by syncer_mu
  std::thread syncer;
  // Threads for work in parallel (IngestStream, StreamChunks): made at
  // Open, sized to the machine (1..4). Last, so that it is shut down
  // before what its tasks use goes.
  std::unique_ptr<WorkerPool> pool = std::make_unique<WorkerPool>(WorkerPool::DefaultThreads());
  // OpenOptions::store_sha256 of a read-only bucket, and its writable
  // catalog handle (opened at first use; bucket_sha.cc).
  bool store_sha256 = false;
  std::shared_ptr<ShaWriter> sha_writer;
  // Bucket::StartShaCompletion's thread, under sha_worker_mu. Declared last,
  // so that it is stopped before anything it uses goes (~Bucket stops it
  // first anyway).
  std::mutex sha_worker_mu;
  std::shared_ptr<ShaWorker> sha_worker;
  // Version pins (bucket_pins.cc): this bucket's owner name, the flock'ed
  // dir/pins/NAME (-1 until the first pin) and how many readers of this
  // process pin each (inode, version); one catalog row per pinned version.
  std::string pin_owner;
  int pin_lock_fd = -1;
  std::mutex pin_mu;
  std::map<std::pair<uint64_t, uint64_t>, int> pin_counts;
  // Rows whose delete failed (catalog busy): retried at the next unpin, or
  // kept if the version is pinned again meanwhile (its row is the pin).
  std::set<std::pair<uint64_t, uint64_t>> unpin_retry;
  // Pinned versions whose row a commit deleted (the committing session's
  // base, which it never reads again): the last unpin deletes nothing, and
  // a new pin of one writes its row again (PinVersion).
  std::set<std::pair<uint64_t, uint64_t>> pin_rows_released;
  int unpin_failures_for_testing = 0;  // Bucket::FailUnpinsForTesting
};

// The new version that brings `from`'s content back as a version of `ino`
// (restore, restore --at TIME DIR): its size, mtime, SHA-256 (or pending),
// chunk list (`chunks`, from's) and xattr snapshot; restored_from is left to
// the caller. No chunk data is copied (bucket_keys.cc).
Catalog::NewVersion VersionFrom(InodeId ino, const VersionInfo& from,
                                std::vector<ChunkRef> chunks);

// bucket_pins.cc: at Open (writable) and at close.
Status SetUpPins(Bucket::Shared& s);
void TearDownPins(Bucket::Shared& s);
Status PinVersion(Bucket::Shared& s, InodeId ino, VersionNo vno);
void UnpinVersion(Bucket::Shared& s, InodeId ino, VersionNo vno);
// The versions of `ino` that readers of this process hold pinned, leaving
// out one pin of `caller_pin` (the committing write session's own base):
// a commit keeps them as it keeps other processes' pinned versions
// (Catalog::NewVersion::held_here). The caller holds s.pin_mu.
std::set<VersionNo> HeldHereLocked(Bucket::Shared& s, InodeId ino,
                                   std::optional<VersionNo> caller_pin);

// After chunk files were written for a commit: makes them durable now, or
// (deferred_sync) leaves that to the next sync point.
Status ChunksWritten(Bucket::Shared& s);
// Records a chunk file just written, for the next sync point (deferred_sync).
void NoteUnsyncedChunk(Bucket::Shared& s, const ChunkId& id);
// A sync point (Bucket::Sync), and the thread that makes one every
// interval; StopSyncer joins it after a last sync point.
Status SyncPoint(Bucket::Shared& s);
void StartSyncer(Bucket::Shared& s, int interval_ms);
void StopSyncer(Bucket::Shared& s);
// Closing a bucket that was not deferred but committed chunk data: a sync
// point with a syncfs (see raise_mark_at_close).
void RaiseMarkAtClose(Bucket::Shared& s);

// Cancelled if CancelWork was called (checked once per chunk or block).
inline Status CheckCancelled(const Bucket::Shared& s) {
  if (!s.cancelled.load(std::memory_order_relaxed)) return Status::OK();
  return Status::Cancelled("the bucket is shutting down: work abandoned");
}

// A fresh staging key (random) and a staging file in `dir`: sealed under
// `key`, or plain if key is null; taken from `pool` (emptied files of ended
// sessions, given back when the new one is destroyed) if it has one
// (staging_file.cc).
std::shared_ptr<StagingKey> MakeStagingKey();
Result<std::unique_ptr<StagingFile>> OpenStagingFile(const std::string& dir, std::string what,
                                                     std::shared_ptr<StagingKey> key,
                                                     std::shared_ptr<StagingPool> pool = nullptr);

// Bucket::Create's body (bucket.cc): directory, chunks/, staging/ and the
// catalog, which for an encrypted bucket gets `first_key_slot` in its
// creating transaction.
Status CreateBucketDir(const std::string& dir, const BucketSettings& settings, Env* env,
                       std::string_view first_key_slot);

// Opens an encrypted bucket's key slots with `key` and fills s.master,
// s.keys and s.unlocked_slot, and unlocks s.catalog (bucket_crypto.cc).
Status UnlockBucket(Bucket::Shared& s, const std::string& dir, const BucketKey& key);

// Result of chunking and storing a stream (bucket_io.cc).
struct Ingested {
  uint64_t size = 0;
  Sha256 sha256;
  bool sha256_pending = false;  // holes met and not hashed: sha256 unknown
  std::vector<ChunkRef> chunks;
  // An incremental commit (store/bucket_edit.cc): the list as pieces of
  // version `base` of `base_ino` instead (Catalog::NewVersion::pieces).
  std::vector<ListPiece> pieces;
  InodeId base_ino;
  VersionNo base;
};

// Splits `src` into content-defined chunks, stores the ones the catalog does
// not have (in parallel, on s.pool), and makes them durable. Holes `src` reports
// become hole refs without being read; `hash_holes` hashes their zeros into
// the SHA-256 (katamari put), otherwise a hole leaves it pending (the mount's
// close path). Data runs are chunked apart at every hole. TooBig past
// kMaxFileSize, Cancelled after CancelWork. The caller must hold the gc
// lock shared until it has committed a row referencing the chunks.
// With `bases` (the version the new content replaces), a changed chunk may
// be stored as a delta chunk (bucket_delta.cc).
Result<Ingested> IngestStream(Bucket::Shared& s, ByteSource& src, const ProgressFn& progress,
                              bool hash_holes, const DeltaBases* bases = nullptr);

// Hashes, deduplicates against the catalog, compresses and writes (on this
// thread) the chunks of `buf`, whose lengths `lens` lay them back to back
// from offset 0; out[i] receives the ref of the i-th. *wrote_any is set if
// a chunk was written (not yet durable). Same lock rule as IngestStream.
// `offset` is the file offset of buf[0], where `bases` (if any) looks for
// the chunk a new one replaces.
Status StoreChunks(Bucket::Shared& s, std::string_view buf, const std::vector<uint32_t>& lens,
                   ChunkRef* out, bool* wrote_any, const DeltaBases* bases = nullptr,
                   uint64_t offset = 0);

// Delta chunks (bucket_delta.cc; docs/chunk-format.md, "Delta chunks"). The
// chunk list of version `vno` of `ino` (or the inode's current version) as
// delta bases; null if the bucket stores no delta chunks or there is no
// such version. The caller holds the gc lock shared, from here until the
// new version's row is in (so the bases stay).
std::unique_ptr<DeltaBases> LoadDeltaBases(Bucket::Shared& s, InodeId ino, VersionNo vno);
std::unique_ptr<DeltaBases> CurrentDeltaBases(Bucket::Shared& s, InodeId ino);
// Writes one new chunk (ChunkStore::Write) starting at file offset
// `offset`: as a delta on the base chunk that held that offset if it pays.
// A base that cannot be read is no candidate (the chunk is stored whole).
Result<ChunkRef> WriteChunk(Bucket::Shared& s, const DeltaBases* bases, uint64_t offset,
                            const ChunkId& id, std::string_view data);

// Appends a hole of `len` bytes to `refs` (as many hole refs as it takes),
// extending the hole ref at the end if `extend`.
void AppendHole(std::vector<ChunkRef>* refs, uint64_t len, bool extend);

// Chunks and stores only what `edit` says may have changed in `src`,
// reusing `base` (the segments of edit.base) elsewhere (bucket_edit.cc):
// the result is pieces, whole segments of the base where nothing in them
// changed, refs around the changes. Only the segments the changes reach
// are read. The SHA-256 is left pending. Same lock rule as IngestStream.
Result<Ingested> IngestEdit(Bucket::Shared& s, RandomSource& src, const EditedRanges& edit,
                            std::vector<SegmentMeta> base, DeltaBases* bases = nullptr);

// Adds the version `in` describes to `ino` (the tail of CommitContent and
// CommitEdit; the caller holds the gc lock shared).
Result<VersionInfo> AddIngestedVersion(Bucket::Shared& s, InodeId ino, Ingested in,
                                       const Bucket::CommitOptions& options);

// SHA-256 of the content of `chunks` (holes as zeros); Cancelled after
// CancelWork. `what` names the version in errors.
Result<Sha256> HashChunks(Bucket::Shared& s, const std::vector<ChunkRef>& chunks,
                          const std::string& what);

// A reader of version `vno` of `ino` whose chunks are read with `mode`
// (ChunkStore::ReadMode): kFromStorage for Bucket::OpenVersion, kCached
// only for the base of a write session (Bucket::OpenSessionBase).
Result<std::unique_ptr<VersionReader>> OpenVersionReader(Bucket::Shared& s, InodeId ino,
                                                         VersionNo vno,
                                                         ChunkStore::ReadMode mode);

// Streams the content of `chunks` in order into `out`, decoding ahead on
// s.pool. Corruption names the chunk; `what` names the file version.
Status StreamChunks(Bucket::Shared& s, const std::vector<ChunkRef>& chunks, ByteSink& out,
                    const std::string& what, const ProgressFn& progress);

// Deletes chunk rows without references and their files, if no writer holds
// the gc lock right now (otherwise leaves them for the next chance / gc).
// With `rewrite_packs` (an explicit delete: rm NAME@N, purge), packs the
// freed chunks leave mostly dead are rewritten too (RewriteIfMostlyDead);
// else (after a commit) only wholly dead packs are deleted, and `katamari gc`
// rewrites the rest.
void TryReclaim(Bucket::Shared& s, const std::string& dir, bool rewrite_packs = false);

// Packs that gc, under the exclusive gc lock, found no row points into (the
// rows' deletion or move committed and synced) and no process appends to;
// deleted by DeleteUnusedPacks once the lock is released, so that writers
// do not wait for object-store DELETEs (bucket_gc.cc says why that is safe).
class UnusedPacks {
 public:
  enum class Counter { kRemoved, kRewritten, kMerged };  // which GcReport field
  // `freed`: what bytes_freed gains once the pack is deleted. A pack added
  // twice is kept once.
  void Add(const std::array<uint8_t, 16>& pack, uint64_t freed, Counter counter);
  bool empty() const { return entries_.empty(); }

 private:
  friend Status DeleteUnusedPacks(Bucket::Shared& s, const UnusedPacks& unused, GcReport* rep);
  struct Entry {
    std::array<uint8_t, 16> pack{};
    uint64_t freed = 0;
    Counter counter = Counter::kRemoved;
  };
  std::vector<Entry> entries_;
  std::set<std::array<uint8_t, 16>> seen_;
};
// Deletes them (on the object store first, then the local copy), counting
// into *rep if given. The caller must NOT hold the gc lock. Each is tried;
// one that fails, or that a process holds locked meanwhile, stays as an
// unreferenced pack for the next gc; the first failure is returned.
Status DeleteUnusedPacks(Bucket::Shared& s, const UnusedPacks& unused, GcReport* rep);

// gc of packs (bucket_gc.cc): finds packs no row points into and rewrites
// those mostly dead; the old packs go to *unused. The caller holds the gc
// lock exclusively.
Status GcPacks(Bucket::Shared& s, UnusedPacks* unused);
// Rewrites `pack` if less than half of it is live and no other process
// appends to it (this process's own open pack is sealed first); the old pack
// goes to *unused. The caller holds the gc lock exclusively.
Status RewriteIfMostlyDead(Bucket::Shared& s, const std::array<uint8_t, 16>& pack,
                           UnusedPacks* unused);

// Removes what the chunk rows `garbage` (already deleted and synced) held:
// their chunk files now, and every pack of theirs no row points into any
// more later (added to *unused). Counts into *rep if given. The caller holds
// the gc lock exclusively.
Status RemoveGarbage(Bucket::Shared& s, const std::vector<ChunkRef>& garbage, GcReport* rep,
                     bool rewrite_packs, UnusedPacks* unused);

// After a read of chunk `id` failed with Corruption: moves its file to
// chunks/damaged/ (ChunkStore::MoveAsideIfDamaged) if the gc lock can be had
// exclusively right now, else marks it suspect for this process's writers.
// Best effort (a read-only bucket directory moves nothing); never fails the
// caller, whose Corruption status stands.
void QuarantineChunk(Bucket::Shared& s, const ChunkId& id);

// Whether a writer may reference chunk `id` without writing it, given that
// the catalog has its row: the file must exist and not be suspect.
bool CanReuseChunk(Bucket::Shared& s, const ChunkId& id);

// Stores a completed SHA-256 of `v` (Catalog::SetVersionSha256): through
// the catalog, or on a read-only bucket opened with store_sha256 through
// its writable handle; ReadOnly where it cannot (bucket_sha.cc).
Status StoreSha256(Bucket::Shared& s, const VersionInfo& v, const Sha256& sha);

// Catalog::ForgetChunkLocation, through the writable handle StoreSha256
// uses when the bucket is open read-only (fsck moving a damaged record aside).
Status ForgetChunkLocation(Bucket::Shared& s, const ChunkId& id, const ChunkLocation& loc);

// StreamChunks of version `v` (whose SHA-256 is pending) that hashes what
// passes and then stores the digest (StoreSha256; best effort: the row
// changes only if it is still commit v.seq's, so chunks read from a row
// amended since store nothing).
Status StreamAndCompleteSha256(Bucket::Shared& s, const VersionInfo& v,
                               const std::vector<ChunkRef>& chunks, ByteSink& out,
                               const std::string& what, const ProgressFn& progress);

// Wakes the background SHA-256 worker, if any, to see CancelWork at once.
void WakeShaWorker(Bucket::Shared& s);

// Drops the remembered HeldBytes of `ino` (after a commit to it: an amend
// keeps the version number).
void ForgetHeldBytes(Bucket::Shared& s, InodeId ino);
// Remembers HeldBytes of a version (its chunk list was in hand).
void RememberHeldBytes(Bucket::Shared& s, InodeId ino, VersionNo vno, uint64_t held);

int64_t NowNs();                      // wall clock

}  // namespace katamari

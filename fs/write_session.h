// WriteSession: the uncommitted state of one regular file open for writing.
//
// Every descriptor open for write on an inode shares one session, and every
// read of that inode goes through it while it exists, so all descriptors and
// processes see the same bytes. The session is the file as it will be
// committed: a base version (read through a VersionReader, possibly none)
// overlaid by ranges written since, which live in a StagingFile of the bucket
// (store/bucket.h: sparse, unlinked, sealed on an encrypted bucket). Only an IntervalSet of staged ranges is kept
// in memory (ranges are aligned to kBlock), so memory stays bounded whatever
// the file size; disk use is what was written.
//
// Commit() hands the store the merged content as the next version: with a
// base version, through Bucket::CommitEdit with the staged ranges and the
// truncation point, so only the changed regions are read and chunked again
// (a commit costs what changed); without one, streamed through
// Bucket::CommitContent. After a commit the session is clean again; it is
// rebased on the new version (the staging file emptied) when next used, so
// the close of the last writer pins nothing new (see Commit).
//
// The base reader pins its version (Bucket::OpenSessionBase), so that no
// prune or rm NAME@N, of this process or another, deletes what the session
// still reads from; Materialize drops it. It reads through the store's cache
// of chunks this process already read and verified, so the commit after an
// append does not decode the file's last chunk again; readers of versions
// (not a session) read storage.
//
// The staging file is unlinked as soon as it is created: it exists only while
// the session holds it open, so a crash leaves nothing behind to recover
// (fsync commits a version instead of keeping a durable session).
//
// Files written sequentially from offset 0 are in addition streamed to the
// store while they are written (AllowStreaming), so close() only waits for
// the tail; the staging file stays the fallback if the writer seeks back.
//
// Thread-safety: all methods may be called concurrently; one mutex
// serializes the data operations (a commit blocks writers and readers of this
// file for its duration). size(), mtime_ns(), ctime_ns() and dirty() never
// block.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "fs/interval_set.h"
#include "fs/stream_commit.h"
#include "store/bucket.h"

namespace katamari::fs {

class WriteSession {
 public:
  static constexpr uint64_t kBlock = StagingFile::kBlock;
  static constexpr uint64_t kStreamThreshold = 4 << 20;

  struct Base {
    std::unique_ptr<VersionReader> reader;  // nullptr: empty base
    VersionNo version;                      // 0: none
    uint64_t size = 0;
    int64_t mtime_ns = 0;
  };

  // Stages in bucket.OpenStaging() (the bucket must outlive the session);
  // `what` names the file in messages ("a/b.txt").
  WriteSession(Bucket& bucket, std::string what, Base base);
  ~WriteSession();
  WriteSession(const WriteSession&) = delete;
  WriteSession& operator=(const WriteSession&) = delete;

  // Reads up to n bytes at off from the merged view; short only at the end.
  Result<size_t> Read(uint64_t off, size_t n, char* buf);
  // Writes at off, extending the file if needed. NoSpace if staging is full.
  Status Write(uint64_t off, std::string_view data);
  // Writes at the end of the merged view, whatever size the caller last saw
  // (O_APPEND); returns the offset written at.
  Result<uint64_t> Append(std::string_view data);
  // Sets the size; growing reads as zeros (a hole: costs no space, and the
  // commit records it without reading it), shrinking forgets the tail.
  // TooBig past kMaxFileSize, as is a Write that would end past it.
  Status Truncate(uint64_t size);
  // Makes [off, off+len) read as zeros without changing the size (punch hole).
  Status ZeroRange(uint64_t off, uint64_t len);
  // The mtime the next commit records (utimens on an open file, cp -p);
  // a change of the inode, so ctime is now.
  void SetMtime(int64_t mtime_ns);
  // Lets a file written from offset 0 strictly sequentially be committed
  // while it is written (fs/stream_commit.h) as version of `target`. Any
  // other change falls back to committing from the staging file.
  void AllowStreaming(Bucket* bucket, InodeId target);
  // Marks the session changed although no byte changed (a newly created
  // file commits its first, possibly empty, version at close).
  void MarkDirty();
  // The session of a file created with its first version, empty, already
  // committed (Filesystem::Create): it is clean, so a close with nothing
  // written commits nothing, and its next commit amends that version as a
  // provisional one (provisional_version) unless a reader holds it.
  void AmendOnCommit(InodeId ino, VersionNo version);

  // Attribute changes held for the session's first commit. tar, cp -p and
  // rsync set the owner, mode and times of a file they just created before
  // closing it; a new file (Filesystem::Create calls HoldAttrsUntilCommit)
  // keeps such changes here, they show at once in the mount (Filesystem::
  // Overlay), and its first commit records them: the catalog's inode first,
  // then the version, which so records the owner and mode the file has
  // (docs/semantics.md, When a version is made).
  struct HeldAttrs {
    std::optional<uint32_t> mode, uid, gid;
    std::optional<int64_t> atime_ns;
    bool any() const { return mode || uid || gid || atime_ns; }
  };
  void HoldAttrsUntilCommit();
  // Merges `a` into the held changes (and moves ctime) if the session still
  // holds them: dirty and not yet committed. False otherwise (the caller
  // changes the catalog at once, as for any file).
  bool HoldAttrs(const HeldAttrs& a);
  HeldAttrs held_attrs() const;
  // Whether HoldAttrs would hold a change now.
  bool holds_attrs() const;
  // Hands the held changes to the committer; `stop`: hold no more (after
  // the first commit every change goes to the catalog at once).
  HeldAttrs TakeHeldAttrs(bool stop);
  // Gives changes back after the committer failed to record them.
  void RestoreHeldAttrs(const HeldAttrs& a);

  // Copies every byte still read from the base into the staging file and
  // drops the base reader, so the session no longer needs the base version's
  // chunks (they may be freed: unlink of an open file without versioning).
  Status Materialize();

  // The data or hole run of the merged view at `off` (< size; a run of
  // length 0 at or past the end). Holes: the base version's, the zeros past
  // a truncation, the staging file's own (SEEK_HOLE). Blocks while a commit
  // runs (lseek SEEK_DATA/SEEK_HOLE of the mount).
  Result<Extent> ExtentAt(uint64_t off);
  // Bytes of the merged view that are not holes (st_blocks). Never blocks:
  // while the session is busy it answers the last count it made.
  uint64_t held_bytes();

  uint64_t size() const { return size_.load(); }
  int64_t mtime_ns() const { return mtime_.load(); }
  // When the session last changed the file (write, truncate, fallocate,
  // SetMtime); 0 if it has not. stat shows the later of this and the
  // catalog's ctime, and the commit records it as the inode's ctime, so
  // ctime moves at the change and not again at close (as on ext4).
  int64_t ctime_ns() const { return ctime_.load(); }
  bool dirty() const { return dirty_.load(); }
  // Dirty through bytes written (write, fallocate, truncate to a non-zero
  // size) rather than only by MarkDirty or a truncation to zero.
  bool has_writes() const { return has_writes_.load(); }
  // The version the last commit made if that commit was provisional: an
  // empty version committed without writes (a file only created or
  // truncated). The next commit of this session to the same inode amends it
  // (same number, new content; Bucket::CommitContent `replaces`), so the
  // shell's `echo x > f` (open O_CREAT|O_TRUNC, dup, close the original: a
  // close with nothing written, then write and close) makes one version,
  // while `: > f` alone has its empty version when close() returns.
  std::optional<VersionNo> provisional_version() const;
  VersionNo base_version() const;
  // Bytes currently held in the staging file (for tests and logs).
  uint64_t staged_bytes() const;

  // If dirty: commits the merged content as the next version of `target`
  // (amending a provisional one, above); returns the new version. If clean:
  // returns nullopt. On error the session stays dirty and unchanged (a later
  // call retries). The session rebases on the new version (pins it, gives
  // the staging space back) lazily: at its next read, change or Rebase(),
  // never if it ends first (the close of the last writer).
  // `attrs`: attribute changes to make in the commit's transaction
  // (Bucket::CommitOptions::attrs); `*attrs_done` says whether they were
  // (not if clean, nor for a streamed commit, which started before them).
  Result<std::optional<VersionInfo>> Commit(
      Bucket& bucket, InodeId target,
      const std::optional<Bucket::AttrChange>& attrs = std::nullopt, bool* attrs_done = nullptr);
  // Rebases now on what the last commit made, if not done yet (fsync, so a
  // session left open holds its current version, not the one before).
  void Rebase();
  bool rebase_pending() const;

 private:
  class MergedSource;
  class SessionView;
  Status EnsureStagingLocked();
  Result<size_t> ReadLocked(uint64_t off, size_t n, char* buf);
  Result<Extent> ExtentLocked(uint64_t off);
  Status WriteAtLocked(uint64_t off, std::string_view data);  // size checked
  Status ReadUnstagedLocked(uint64_t off, size_t n, char* buf);
  Status ReadStagingLocked(uint64_t off, size_t n, char* buf);
  Status PwriteStagingLocked(uint64_t off, std::string_view data);
  Status FillBlockEdgeLocked(uint64_t block_start, uint64_t keep_from, uint64_t keep_to);
  Status WriteLocked(uint64_t off, std::string_view data);
  Status PunchStagingLocked(uint64_t off, uint64_t len);
  void Touch(bool wrote);
  void StreamWriteLocked(std::string_view data, bool was_append);
  void AbortStreamLocked();
  Result<std::optional<VersionInfo>> FinishStreamLocked(
      Bucket& bucket, InodeId target, const std::optional<Bucket::AttrChange>& attrs);
  void RebaseLocked(Bucket& bucket, InodeId target, const VersionInfo& info);
  void RebasePendingLocked();
  struct Pending {
    InodeId target;
    VersionInfo info;
  };
  std::optional<Pending> rebase_;  // committed, not rebased yet; guarded by mu_

  Bucket& bucket_;
  const std::string what_;

  mutable std::mutex mu_;
  std::unique_ptr<StagingFile> staging_;  // null until the first change
  Base base_;               // guarded by mu_
  uint64_t base_valid_ = 0; // bytes of base still visible (shrinks on truncate)
  IntervalSet staged_;      // block-aligned ranges held by the staging file
  Bucket* stream_bucket_ = nullptr;        // streaming allowed when set
  InodeId stream_target_;
  std::unique_ptr<StreamCommit> stream_;   // the running streamed commit
  bool sequential_ = false;  // content is exactly what was appended since empty
  struct Provisional {
    InodeId ino;
    VersionNo version;
  };
  std::optional<Provisional> provisional_;  // see provisional_version()
  std::optional<VersionNo> ReplacesLocked(InodeId target) const;
  // The version of `target` this session's base reader pins, if any: the
  // one pin of this process a commit does not count as a reader's.
  std::optional<VersionNo> OwnPinLocked(InodeId target) const;

  std::atomic<uint64_t> size_{0};
  std::atomic<int64_t> mtime_{0};
  std::atomic<int64_t> ctime_{0};
  std::atomic<bool> dirty_{false};
  std::atomic<bool> has_writes_{false};
  mutable std::mutex attr_mu_;  // guards the two below (never held across I/O)
  bool hold_attrs_ = false;
  bool fresh_ = false;  // AmendOnCommit, until the first commit: holds attrs although clean
  HeldAttrs held_attrs_;
  std::atomic<uint64_t> held_{0};   // last held_bytes() count
  bool held_valid_ = false;         // held_ matches the content; guarded by mu_
};

// Wall-clock now in ns since the epoch.
int64_t NowNs();

}  // namespace katamari::fs

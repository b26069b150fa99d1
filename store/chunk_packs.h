// PackSet: a bucket's pack files as the chunk store uses them
// (docs/pack-format.md, "Wiring"). Not a public header.
//
// Writing: one open pack per process (a fresh random id, so the daemon and
// commands never append to the same file), rolled over at the target size.
// The open pack is flock()ed exclusively for as long as this process may
// append to it, so that gc (any process) never deletes a pack a writer still
// appends to, even one with no row pointing into it yet. Rolled-over packs
// are sealed (footer index, sync) at the next Sync(), not on the write path.
//
// Reading: readers are cached per pack (a bounded number of open files);
// a record is checked for framing (pack_file.h) before the chunk layer
// checks the body.
//
// Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/env.h"
#include "store/pack_file.h"
#include "store/pack_remote.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

class PackSet {
 public:
  PackSet(Env* env, std::string bucket_dir, bool encrypted);
  ~PackSet();  // seals the open pack and any rolled-over one (best effort)
  PackSet(const PackSet&) = delete;
  PackSet& operator=(const PackSet&) = delete;

  // Appends one chunk file's bytes as a record of the open pack (created on
  // first use; a new one once it reached the target size or an append to it
  // failed). Not durable until Sync(). Errors keep the Env's code.
  Result<ChunkLocation> Append(const ChunkId& id, std::string_view chunk);

  // Makes every Append that returned before this call durable (fdatasync of
  // the open pack, and sealing of rolled-over ones). Nothing to do: OK.
  Status Sync();

  // Sync, and seals the open pack too (the next Append starts a new one), so
  // that gc may judge every pack this process wrote.
  Status SealAll();

  // Closes the cached readers of packs deleted meanwhile (another process's
  // gc repacked them): an open descriptor keeps a deleted file's space.
  void DropRemovedReaders();

  // The open pack (id and size) if nothing was appended to it for `idle`
  // or longer and no failed sync is on record; nullopt otherwise.
  struct IdlePack {
    std::array<uint8_t, 16> pack{};
    uint64_t size = 0;
  };
  std::optional<IdlePack> IdleOpenPack(std::chrono::steady_clock::duration idle);
  // Seals the open pack if it is still `pack` and still unchanged since
  // IdleOpenPack said `size` (the next Append starts a new one), so that gc
  // in another process may judge it.
  Status SealIfIdle(const IdlePack& idle);

  // Reads the record at `loc` (checked: header, length, id, body CRC) into
  // *out; *how says where it came from (RecordRead). A pack missing from
  // the local disk is Corruption, one the object store says it lacks
  // IOError, both with how->missing set. With a remote, a cached copy that
  // fails a check is dropped and the record fetched again from the store:
  // Corruption only if the store's copy fails too.
  Status Read(const ChunkLocation& loc, const ChunkId& id, std::string* out, RecordRead* how);
  // With a remote, for a body Read took from the cache (how->cached) that
  // failed the chunk layer's own check: drops the cached copies of the
  // record (its record file, the whole cached pack) and reads it from the
  // store by one ranged GET, as Read does on a cache miss.
  Status ReadFromStore(const ChunkLocation& loc, const ChunkId& id, std::string* out,
                       RecordRead* how);
  // Drops the cached copies of the record at `loc` (with a remote; else
  // nothing), so that a copy the chunk layer judged bad is not read again.
  void DropCachedRecord(const ChunkLocation& loc);

  bool Exists(const std::array<uint8_t, 16>& pack) const;
  std::string PathOf(const std::array<uint8_t, 16>& pack) const;

  // Every pack file present (temp files of a crashed Reopen are skipped).
  Result<std::vector<std::array<uint8_t, 16>>> List() const;
  // Only the pack files in packs/.
  Result<std::vector<std::array<uint8_t, 16>>> ListLocal() const;

  // Deletes a pack (with a remote: the object first, then the local copy and
  // the cached pieces) unless some process holds its lock (a writer that may
  // still append, an open uploading it): false then. A pack that is already
  // gone: true. gc calls it without the gc lock, for packs it judged unused
  // under it (bucket_gc.cc).
  Result<bool> RemoveIfClosed(const std::array<uint8_t, 16>& pack);
  // Whether `pack` is this process's open pack.
  bool IsOwnOpenPack(const std::array<uint8_t, 16>& pack);
  // Whether some process (this one included) holds the pack open for writing.
  bool IsOpenForWriting(const std::array<uint8_t, 16>& pack) const;

  // Writes a new sealed pack holding `chunks` (record bodies, each for the
  // id at the same index), synced with its directory; their locations go
  // to *locs. For gc's repack.
  Status WriteSealed(const std::vector<ChunkId>& ids, const std::vector<std::string>& chunks,
                     std::array<uint8_t, 16>* pack, std::vector<ChunkLocation>* locs);

  // Data on an object store (docs/object-store.md): from now on a sealed
  // pack is uploaded (create-only) at the next Sync, then kept in the local
  // cache; a record of a pack not on the local disk is read by a ranged
  // GET. Sync fails while an upload does (the pack stays in packs/, on the
  // local disk, and is retried at every Sync). Call before any other use.
  void UseRemote(std::unique_ptr<PackRemote> remote) { remote_ = std::move(remote); }
  PackRemote* remote() const { return remote_.get(); }
  // Uploads the packs in packs/ that no process writes any more (sealed, or
  // left by a crashed writer): recovery. The caller holds the gc lock
  // exclusively, so no writer is between creating a pack and locking it.
  Status UploadStaged();
  // UploadStaged in two steps: the list needs the gc lock, the uploads
  // (each under its pack's own lock) do not.
  Result<std::vector<std::array<uint8_t, 16>>> ListStaged();
  Status UploadListed(const std::vector<std::array<uint8_t, 16>>& packs);
  // Whether sealed packs wait for an upload (a sync point then has work).
  bool UploadsPending();
  // A pack's size: its local file's, else the object's.
  Result<uint64_t> SizeOf(const std::array<uint8_t, 16>& pack) const;

  void set_target_size(uint64_t n) { target_size_ = n; }
  uint64_t target_size() const { return target_size_; }
  bool encrypted() const { return encrypted_; }

 private:
  struct Open {
    std::unique_ptr<PackWriter> writer;
    int lock_fd = -1;
    bool dirty = false;
    std::chrono::steady_clock::time_point last_append{};
  };
  Result<std::unique_ptr<PackWriter>> CreatePack(PackId* id, int* lock_fd);
  // Seals `o`; with a remote, queues it for upload at the next Sync.
  Status Seal(Open& o, bool queue_upload = true);
  Status UploadOne(const std::array<uint8_t, 16>& pack);
  Status UploadPending();
  // *cached: the reader is (or the failed open was) of a whole pack in the
  // object store's cache, not of packs/.
  Result<std::shared_ptr<const PackReader>> Reader(const std::array<uint8_t, 16>& pack,
                                                    bool* missing, bool* cached) const;
  // The bytes at `loc` in its pack in packs/ (record header and body, as
  // many as there are): a failed record's evidence.
  std::string RawRecordAt(const ChunkLocation& loc) const;

  Env* env_;
  std::string dir_;  // bucket/packs
  bool encrypted_;
  uint64_t target_size_ = kPackTargetSize;
  Status SyncLocked();  // Sync's work; write_mu_ held
  std::mutex write_mu_;  // the open pack and the retired ones
  Open open_;
  std::vector<Open> retired_;  // rolled over or failed, sealed at the next Sync
  // The first failed sync, kept: Linux reports a writeback error to one
  // fsync only, so a retry on the same file "succeeds" over lost pages.
  // Every later Sync fails with it and the durable mark stays where it was;
  // the next start's recovery judges what reached the disk.
  Status sync_failed_;
  std::unique_ptr<PackRemote> remote_;
  std::vector<std::array<uint8_t, 16>> pending_upload_;  // sealed, not yet uploaded; write_mu_
  std::mutex upload_mu_;  // one upload pass at a time
  std::vector<std::string> dirs_to_sync_;  // parents of directories made since
  struct CachedReader {
    std::shared_ptr<const PackReader> reader;
    std::string path;  // where it was opened (packs/ or the cache)
    uint64_t last_use = 0;  // reader_clock_ at the last hit; the least is evicted
  };
  mutable std::mutex read_mu_;
  mutable std::map<std::array<uint8_t, 16>, CachedReader> readers_;
  mutable uint64_t reader_clock_ = 0;
};

}  // namespace katamari

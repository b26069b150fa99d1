// ChunkStore: content-addressed chunks, in pack files under <bucket>/packs/
// once UsePacks() was called (every bucket since catalog format 6; see
// chunk_packs.h, docs/pack-format.md), else as one file each under
// <bucket>/chunks/ (what older buckets hold, and still read). What follows
// describes chunk files; a pack record's body is the same bytes.
//
// Layout: chunks/<first two hex of id>/<64 hex id>; the byte format of a chunk
// file is in docs/chunk-format.md. Crash order (STYLE 11): Write() puts the
// bytes under a temporary name in the same fan-out directory and renames it
// into place, but does NOT sync. The caller makes a batch durable with
// SyncBatch() (one syncfs) and only then commits catalog rows that reference
// the chunks. A crash before that leaves harmless orphans that gc sweeps.
// The write path never deletes a chunk; only Remove() (gc) does.
//
// Damaged files: MoveAsideIfDamaged() moves a chunk file that fails its own
// check to chunks/damaged/ (kept as evidence, never deleted by katamari), so
// the next write of the same content stores the chunk again. List() and gc
// look only at the 256 fan-out directories and never see that directory.
//
// Encrypted buckets (docs/encryption.md): given the bucket's keys, ids are
// HMAC-SHA256 under the chunk-id key and every chunk written is sealed with
// AES-256-GCM (fresh random nonce, the id and header bound as AAD).
//
// Chunk cache: Read(..., ReadMode::kCached) serves a chunk this store read
// and verified before from a small in-process cache (store/chunk_cache.h,
// docs/chunk-format.md, "The chunk cache"); only the commit path asks for it.
// Every other read (kFromStorage, the default) reads and verifies storage.
//
// Thread-safe: Write/Read/Remove may run concurrently from many threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/chunk_packs.h"
#include "store/crypto.h"
#include "store/env.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

class ChunkCache;

inline constexpr size_t kChunkHeaderSize = 24;
// The codec byte of a delta chunk's header.
inline constexpr uint8_t kCodecZstdPatch = 3;

// What a new chunk may be stored as a patch against: a chunk already
// stored (committed, or in the same commit), its plaintext, and the length
// of its own chain (0: a full chunk).
struct DeltaChain {
  int depth = 0;   // deltas from the chunk down to its full chunk
  ChunkRef root;   // that full chunk (id, raw length)
};
struct DeltaCandidate {
  ChunkRef base;
  std::string_view plain;
  int depth = 0;
};

class ChunkStore {
 public:
  // How Read finds a chunk. kFromStorage: always from its file or pack
  // record, decoded and verified. kCached: from the chunk cache if this
  // store read and verified it before (bytes verified then, not now),
  // else as kFromStorage, and what was verified is kept there (also the
  // bases down a delta chain). Only the commit path reads kCached.
  enum class ReadMode { kFromStorage, kCached };
  // Plaintext bytes the chunk cache holds at most.
  static constexpr size_t kCacheBytes = 8 << 20;

  // `root` is the bucket directory; chunks live in root + "/chunks". `env` is
  // not owned and must outlive the store. With `keys` (an unlocked encrypted
  // bucket) chunks are sealed and ids keyed; without, ids are SHA-256 and
  // chunks plain.
  ChunkStore(Env* env, std::string root, Codec codec, int level,
             std::shared_ptr<const crypto::BucketKeys> keys = nullptr);
  ~ChunkStore();

  // Creates chunks/ and its 256 fan-out directories (idempotent).
  Status Init();

  // Packed storage (docs/pack-format.md): from now on Write() appends to
  // this process's open pack (Write's ref then carries the location, for
  // the catalog row), and Read() finds a chunk by `locate`, the location
  // its catalog row records (none: a chunk file; NotFound: no row, read the
  // file if any). `forget` clears a row's location once MoveAsideIfDamaged
  // set a damaged record's bytes aside. Without this call (unit tests of the
  // chunk layer) chunks are files, as in buckets of format 4 and older.
  using LocateFn = std::function<Result<std::optional<ChunkLocation>>(const ChunkId&)>;
  using ForgetFn = std::function<Status(const ChunkId&, const ChunkLocation&)>;
  void UsePacks(LocateFn locate, ForgetFn forget);
  PackSet* packs() { return packs_.get(); }

  // Codec for new writes (compression may change after init).
  void SetCodec(Codec codec, int level);

  // The id a plaintext chunk gets: SHA-256, or HMAC-SHA256 with the chunk-id
  // key on an encrypted bucket.
  ChunkId IdOf(std::string_view plaintext) const;
  bool encrypted() const { return keys_ != nullptr; }

  // Compresses and writes one chunk whose id the caller computed with IdOf().
  // Returns its ref (stored_len = size of the chunk file). Not yet durable.
  // If a chunk file with this id already exists and verifies, it is reused
  // as is (never renamed over); if it does not verify it is replaced. On
  // failure no final-named file is left that was not there before, and the
  // temp file is removed (best effort); errors keep the Env's code (NoSpace,
  // IOError, ...).
  Result<ChunkRef> Write(const ChunkId& id, std::string_view plaintext);
  // Like Write, but stores the chunk as a delta chunk (a zstd patch against
  // `delta`'s plaintext) when the chain stays within kMaxDeltaChain and the
  // patch is at most half the size of the plain compressed chunk; the ref
  // then names its base (delta_base), which the catalog row must hold a
  // reference on. Else exactly Write.
  Result<ChunkRef> Write(const ChunkId& id, std::string_view plaintext,
                         const DeltaCandidate& delta);

  // Makes every Write() that returned before this call durable: with packs,
  // fdatasync of this process's packs written since the last call; chunk
  // files: syncfs plus the renames' directory entries.
  Status SyncBatch();
  // Makes every file of the host file system durable (syncfs): other
  // processes' packs and chunk files too.
  Status SyncAll();

  // Reads, decodes and verifies one chunk into *out (exactly ref.raw_len
  // bytes). A missing file, bad header, failed GCM tag (encrypted: tampered,
  // truncated, or another chunk's file), codec error, wrong length or id
  // mismatch is a Corruption status naming the chunk id; never wrong bytes.
  // A sealed chunk read without keys is NotSupported. On an object store, a
  // cached body that fails is replaced by the store's copy, read again, and
  // only that copy failing is Corruption; a pack the store says it lacks is
  // IOError (PackSet::Read).
  Status Read(const ChunkRef& ref, std::string* out,
              ReadMode mode = ReadMode::kFromStorage) const;
  // Read, also telling the chunk's delta chain (depth 0: a full chunk).
  // A delta whose base cannot be read is Corruption naming both chunks.
  Status Read(const ChunkRef& ref, std::string* out, DeltaChain* chain,
              ReadMode mode = ReadMode::kFromStorage) const;
  // Empties the chunk cache: the next kCached read of any chunk reads
  // storage. (Also done when SyncBatch fails.)
  void DropCache();

  // Whether the chunk file exists (no verification).
  bool Exists(const ChunkId& id) const;

  // If the file of `id` is damaged on its own terms (it fails Read() with the
  // raw length its header gives: bad header, failed tag, codec error, wrong
  // content), renames it to chunks/damaged/<id>.<random> and returns true.
  // A missing, intact or unreadable (I/O error, no key) file is left alone:
  // false. A pack record is judged the same way (MovePackedAside); on an
  // object store only the store's own bytes are judged, and a pack the
  // store says it lacks is never damage. The caller holds the gc lock
  // exclusively, so no writer can be re-creating the same chunk meanwhile.
  // Errors keep the Env's code.
  Result<bool> MoveAsideIfDamaged(const ChunkId& id);
  // Decodes the pack record body `body` of `id` by its own header (tag,
  // codec, delta base, content digest), as the quarantine judges it: OK,
  // Corruption, NotSupported (encrypted, no key) or the I/O error of a base.
  // For gc's repack, which copies a body into a new pack and then deletes
  // the old one: only a body that is the chunk may be the last copy.
  Status VerifyRecordBody(const ChunkId& id, const std::string& body) const {
    std::optional<ChunkId> bad_base;
    return JudgeBody(id, body, &bad_base);
  }
  std::string DamagedDir() const { return dir_ + "/damaged"; }

  // Removes the chunk file of `id` (gc). Chunks in packs are removed with
  // their pack (PackSet::RemoveIfClosed).
  Status Remove(const ChunkId& id);

  // Every chunk file present (ids parsed from names; stray temp files older
  // than `min_tmp_age_sec` are removed on the way).
  Result<std::vector<ChunkId>> List(int64_t min_tmp_age_sec = 3600);

  std::string PathOf(const ChunkId& id) const;

 private:
  Status WriteFileAtomically(const std::string& tmp, const std::string& path,
                             std::string_view head, std::string_view tail);
  Status CheckHeader(const ChunkRef& ref, std::string_view file) const;
  void Seal(const ChunkId& id, bool raw, std::string_view plaintext, std::string* buf) const;
  Status Unseal(const ChunkRef& ref, std::string* file) const;
  void SweepTemp(const std::string& path, int64_t now, int64_t min_age_sec);
  // Where Fetch found a pack record: for a second look at the object
  // store's copy when a cached one fails the chunk's own check.
  struct Fetched {
    std::optional<ChunkLocation> loc;  // none: a chunk file
    bool cached = false;               // from the object store's local cache
  };
  // The bytes of the chunk (a file's, or a pack record's body) into *bytes.
  Status Fetch(const ChunkRef& ref, std::string* bytes, Fetched* from) const;
  // The store's copy of the record at `loc`, decoded as ReadAt decodes.
  Status DecodeFromStore(const ChunkRef& ref, const ChunkLocation& loc, std::string* bytes,
                         std::string* out, int level, DeltaChain* chain, ReadMode mode) const;
  Status FetchFile(const ChunkRef& ref, std::string* bytes) const;
  // Decodes a chunk's bytes (scratch) into *out; `level` is how deep in a
  // delta chain this chunk is read, *depth receives its own chain length,
  // and *bad_base (when not null) the id of a base whose read failed.
  Status Decode(const ChunkRef& ref, std::string* bytes, std::string* out, int level = 0,
                DeltaChain* chain = nullptr, std::optional<ChunkId>* bad_base = nullptr,
                ReadMode mode = ReadMode::kFromStorage) const;
  Status ReadAt(const ChunkRef& ref, std::string* out, int level, DeltaChain* chain,
                std::string* scratch, ReadMode mode) const;
  Result<ChunkRef> WriteImpl(const ChunkId& id, std::string_view plaintext,
                             const DeltaCandidate* delta);
  // Patch payload after the header into `patch`; true when it is kept.
  Result<bool> BuildPatch(const ChunkId& id, std::string_view plaintext,
                          const DeltaCandidate& delta, size_t plain_payload, std::string* patch);
  Result<bool> MovePackedAside(const ChunkId& id, const ChunkLocation& loc, int hops);
  // Decodes a record's body by its own header's length (the quarantine's
  // judgement); *bad_base: a base of a delta that failed.
  Status JudgeBody(const ChunkId& id, const std::string& body,
                   std::optional<ChunkId>* bad_base) const;
  Result<bool> MoveAside(const ChunkId& id, int hops);
  Status DecodePatch(const ChunkRef& ref, std::string_view payload, std::string* out, int level,
                     DeltaChain* chain, std::optional<ChunkId>* bad_base, ReadMode mode) const;

  Env* env_;
  std::string root_;
  std::string dir_;
  std::atomic<uint32_t> codec_level_;  // codec << 16 | level
  std::shared_ptr<const crypto::BucketKeys> keys_;  // null: a plain bucket
  std::unique_ptr<PackSet> packs_;  // null: chunk files only
  LocateFn locate_;
  ForgetFn forget_;
  // Verified plaintexts for kCached reads; never filled at Write time.
  std::unique_ptr<ChunkCache> cache_;
};

}  // namespace katamari

// PackRemote: the packs of a bucket whose data lives on an object store
// (docs/object-store.md, "Object layout"), and the bounded local cache of
// them. Not a public header; PackSet (chunk_packs.h) uses it.
//
// Objects: packs/ab/<32 hex> in the store, one per sealed pack, put once
// with create-only. Cache: <bucket>/cache/ab/<32 hex> is a whole pack (the
// local copy of one this process uploaded), <bucket>/cache/ab/<32 hex>.<offset>
// one record (header and body) fetched by a ranged GET. Packs are immutable,
// so nothing cached is ever revalidated against the store; a cache file that
// fails its checks when read is dropped and the record fetched again
// (ReadRecord, PackSet::Read), and so is one whose body fails the chunk
// layer's check (PackSet::ReadFromStore). The cache holds at most
// `cache_bytes` (the oldest used entries go first); losing it loses nothing.
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/object_store.h"
#include "store/pack_file.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

inline constexpr uint64_t kDefaultDataCacheBytes = uint64_t{1} << 30;

// What a read of one record tells besides its body (PackRemote::ReadRecord,
// PackSet::Read), so that the chunk layer judges damage only on evidence.
struct RecordRead {
  // The pack is not there. Gone from the local disk: Corruption (packs/ of
  // a local bucket is the only copy). An object store's NotFound: IOError,
  // since a store may say so for a while (a wrong URL or prefix, a restart,
  // eventual consistency) about data it still holds.
  bool missing = false;
  // The body came from the object store's local cache (cache/): a copy,
  // which may be bad where the store's is good (PackSet::ReadFromStore).
  bool cached = false;
  // On Corruption of the framing: the bytes at the location that failed
  // (record header and body, as far as they could be read), for the
  // quarantine's evidence. Empty otherwise.
  std::string raw;
};

class PackRemote {
 public:
  PackRemote(std::shared_ptr<ObjectStore> store, std::string cache_dir, uint64_t cache_bytes);

  static std::string KeyOf(const std::array<uint8_t, 16>& pack);

  // Puts the pack `data` create-only. An object already there of the same
  // size is this pack (a retried or repeated upload): OK.
  Status Upload(const std::array<uint8_t, 16>& pack, std::string_view data);

  // The record at `loc` from the cache, else by one ranged GET (then cached),
  // checked as PackReader::ReadRecord checks it. A cached record that fails
  // that check is dropped and fetched again. A pack the store says is not
  // there: IOError with how->missing set, never Corruption. The store
  // unreachable: IOError. The store's bytes failing the check: Corruption,
  // with them in how->raw.
  Status ReadRecord(const ChunkLocation& loc, const ChunkId& id, std::string* out,
                    RecordRead* how);

  // Where a whole cached pack lives (it may not be there).
  std::string CachedPackPath(const std::array<uint8_t, 16>& pack) const;
  // Where the cached record at `loc` lives (it may not be there).
  std::string CachedRecordPath(const ChunkLocation& loc) const;
  // Moves `local` (a pack just uploaded) into the cache as a whole pack, or
  // deletes it if it is larger than the cache may hold. Best effort.
  void Adopt(const std::array<uint8_t, 16>& pack, const std::string& local);
  // Drops every cached piece of `pack`.
  void DropCached(const std::array<uint8_t, 16>& pack);
  // Drops the cached copies of the record at `loc`: its record file and the
  // whole cached pack holding it.
  void DropCachedRecord(const ChunkLocation& loc);
  // Drops one cache file (a whole pack or a record that failed its checks)
  // from the disk and the index.
  void DropCacheFile(const std::string& path);

  Result<std::vector<std::array<uint8_t, 16>>> List();
  Result<uint64_t> Size(const std::array<uint8_t, 16>& pack);
  Status Delete(const std::array<uint8_t, 16>& pack);

  ObjectStore* store() { return store_.get(); }
  uint64_t cached_bytes();

 private:
  void Note(const std::string& path, uint64_t size);  // a new cache file
  void Touch(const std::string& path);
  void EvictLocked();
  void LoadIndex();

  std::shared_ptr<ObjectStore> store_;
  std::string cache_dir_;
  uint64_t cache_bytes_;
  std::mutex mu_;
  bool loaded_ = false;
  uint64_t total_ = 0;
  uint64_t clock_ = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> entries_;  // path -> (size, last use)
  std::set<std::pair<uint64_t, std::string>> by_use_;
};

}  // namespace katamari

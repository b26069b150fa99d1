// ChunkCache: a small, bounded LRU of chunk plaintexts that this process
// read from storage and verified (ChunkStore::ReadMode::kCached,
// docs/chunk-format.md, "The chunk cache"). Private to store/.
//
// Only the commit path reads through it: a write session's base and the
// delta bases of the chunks a commit stores, which an append to a file reads
// again on every close. Readers of versions and fsck never do, so damage on
// disk is always seen by them. An entry is put only after a verified decode
// (never at write time), and is content-addressed: a chunk's id fixes its
// bytes, so an entry never goes stale. Its delta chain is what the verified
// read found; a chunk whose lost copy is stored again whole keeps its row's
// base (store/catalog_segments.cc), so the root it names stays held.
//
// Thread-safe: every method may be called from any thread (one mutex; Get
// copies the bytes out under it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/chunk_store.h"
#include "store/types.h"

namespace katamari {

class ChunkCache {
 public:
  // Holds at most `capacity_bytes` of plaintext; a chunk larger than a
  // quarter of that is never kept (it would push out too much).
  explicit ChunkCache(size_t capacity_bytes);
  ~ChunkCache();
  ChunkCache(const ChunkCache&) = delete;
  ChunkCache& operator=(const ChunkCache&) = delete;

  // The plaintext of `id` into *out and its chain into *chain_or_null, and
  // marks it most recently used; false (and *out untouched) if it is not
  // held or held with another length than `raw_len`.
  bool Get(const ChunkId& id, size_t raw_len, std::string* out, DeltaChain* chain_or_null);
  // Keeps `plain` (verified bytes of `id`) and its delta chain, evicting the
  // least recently used entries down to the capacity. Replaces an entry of
  // the same id.
  void Put(const ChunkId& id, std::string plain, const DeltaChain& chain);
  void Erase(const ChunkId& id);
  void Clear();
  // Plaintext bytes held.
  size_t bytes() const;

 private:
  struct Entry {
    ChunkId id;
    std::string plain;
    DeltaChain chain;
  };
  // Ids are hashes already: their first 8 bytes are as good as any hash.
  struct IdHash {
    size_t operator()(const ChunkId& id) const {
      uint64_t h;
      std::memcpy(&h, id.bytes.data(), sizeof(h));
      return static_cast<size_t>(h);
    }
  };
  using List = std::list<Entry>;

  void EraseLocked(List::iterator it);

  const size_t capacity_;
  mutable std::mutex mu_;
  List lru_;  // most recently used first; guarded by mu_
  std::unordered_map<ChunkId, List::iterator, IdHash> index_;  // guarded by mu_
  size_t bytes_ = 0;  // guarded by mu_
};

}  // namespace katamari

// ChunkCache (store/chunk_cache.h).
#include "store/chunk_cache.h"

#include <utility>

namespace katamari {

ChunkCache::ChunkCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

ChunkCache::~ChunkCache() = default;

bool ChunkCache::Get(const ChunkId& id, size_t raw_len, std::string* out,
                     DeltaChain* chain_or_null) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = index_.find(id);
  if (it == index_.end() || it->second->plain.size() != raw_len) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  out->assign(it->second->plain);
  if (chain_or_null) *chain_or_null = it->second->chain;
  return true;
}

void ChunkCache::Put(const ChunkId& id, std::string plain, const DeltaChain& chain) {
  if (plain.size() > capacity_ / 4) return;
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = index_.find(id); it != index_.end()) EraseLocked(it->second);
  bytes_ += plain.size();
  lru_.push_front(Entry{id, std::move(plain), chain});
  index_.emplace(id, lru_.begin());
  while (bytes_ > capacity_ && !lru_.empty()) EraseLocked(std::prev(lru_.end()));
}

void ChunkCache::Erase(const ChunkId& id) {
  std::lock_guard<std::mutex> l(mu_);
  if (auto it = index_.find(id); it != index_.end()) EraseLocked(it->second);
}

void ChunkCache::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  index_.clear();
  lru_.clear();
  bytes_ = 0;
}

size_t ChunkCache::bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return bytes_;
}

void ChunkCache::EraseLocked(List::iterator it) {
  bytes_ -= it->plain.size();
  index_.erase(it->id);
  lru_.erase(it);
}

}  // namespace katamari

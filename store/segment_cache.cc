// The process-wide cache of decoded segments (store/segment_cache.h).
#include "store/segment_cache.h"

#include <atomic>
#include <list>
#include <map>
#include <mutex>
#include <utility>

namespace katamari::segment_cache {

namespace {

using Key = std::pair<uint64_t, int64_t>;

struct Cache {
  std::mutex mu;
  std::list<std::pair<Key, Refs>> lru;  // most recently used first
  std::map<Key, std::list<std::pair<Key, Refs>>::iterator> index;
  size_t refs = 0;  // chunk refs held
};

Cache& TheCache() {
  static Cache* c = new Cache;  // never destroyed: used until exit
  return *c;
}

std::atomic<uint64_t> decodes{0};

void EraseLocked(Cache& c, std::map<Key, std::list<std::pair<Key, Refs>>::iterator>::iterator it) {
  c.refs -= it->second->second->size();
  c.lru.erase(it->second);
  c.index.erase(it);
}

}  // namespace

Refs Find(uint64_t db, int64_t id) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> l(c.mu);
  auto it = c.index.find(Key(db, id));
  if (it == c.index.end()) return nullptr;
  c.lru.splice(c.lru.begin(), c.lru, it->second);
  return it->second->second;
}

void Put(uint64_t db, int64_t id, Refs refs) {
  if (!refs || refs->size() > kMaxRefs) return;
  Cache& c = TheCache();
  std::lock_guard<std::mutex> l(c.mu);
  const Key key(db, id);
  if (auto it = c.index.find(key); it != c.index.end()) EraseLocked(c, it);
  c.refs += refs->size();
  c.lru.emplace_front(key, std::move(refs));
  c.index[key] = c.lru.begin();
  while (c.refs > kMaxRefs) EraseLocked(c, c.index.find(c.lru.back().first));
}

void Forget(uint64_t db, int64_t id) {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> l(c.mu);
  if (auto it = c.index.find(Key(db, id)); it != c.index.end()) EraseLocked(c, it);
}

uint64_t DecodesForTesting() { return decodes.load(); }
void NoteDecode() { decodes.fetch_add(1, std::memory_order_relaxed); }

void ClearForTesting() {
  Cache& c = TheCache();
  std::lock_guard<std::mutex> l(c.mu);
  c.lru.clear();
  c.index.clear();
  c.refs = 0;
}

}  // namespace katamari::segment_cache

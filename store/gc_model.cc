// GcModel (store/gc_model.h): gc's rounds replayed on counts in memory.
#include "store/gc_model.h"

#include <utility>

namespace katamari {

GcModel::GcModel(RowSource rows, std::vector<ChunkId> garbage)
    : source_(std::move(rows)), garbage_(std::move(garbage)) {}

Result<const GcRow*> GcModel::Row(const ChunkId& id) {
  auto it = rows_.find(id);
  if (it != rows_.end()) return &it->second;
  ASSIGN_OR_RETURN(GcRow r, source_(id));
  return &rows_.emplace(id, std::move(r)).first->second;
}

Result<std::set<ChunkId>> GcModel::Freed(const std::map<ChunkId, uint64_t>& dropped) {
  std::map<ChunkId, uint64_t> left;
  std::set<ChunkId> round(garbage_.begin(), garbage_.end());
  for (const auto& [id, n] : dropped) {
    ASSIGN_OR_RETURN(const GcRow* r, Row(id));
    if (!r->present || r->refs == 0) continue;  // absent, or garbage already
    left[id] = r->refs > n ? r->refs - n : 0;
    if (left[id] == 0) round.insert(id);
  }
  std::set<ChunkId> freed;
  for (int i = 0; i <= kMaxDeltaChain + 1 && !round.empty(); ++i) {
    freed.insert(round.begin(), round.end());
    std::set<ChunkId> next;
    for (const ChunkId& id : round) {
      ASSIGN_OR_RETURN(const GcRow* r, Row(id));
      if (!r->base) continue;
      ASSIGN_OR_RETURN(const GcRow* b, Row(*r->base));
      if (!b->present) continue;
      auto [it, fresh] = left.emplace(*r->base, b->refs);
      if (it->second == 0) continue;  // garbage already, or freed before
      if (--it->second == 0 && !freed.count(*r->base)) next.insert(*r->base);
    }
    round = std::move(next);
  }
  return freed;
}

Result<uint64_t> GcModel::StoredBytesFreed(const std::map<ChunkId, uint64_t>& dropped) {
  if (!garbage_frees_) {
    if (garbage_.empty()) {
      garbage_frees_.emplace();
    } else {
      ASSIGN_OR_RETURN(std::set<ChunkId> alone, Freed({}));
      garbage_frees_ = std::move(alone);
    }
  }
  ASSIGN_OR_RETURN(std::set<ChunkId> with, Freed(dropped));
  uint64_t bytes = 0;
  for (const ChunkId& id : with) {
    if (garbage_frees_->count(id)) continue;
    ASSIGN_OR_RETURN(const GcRow* r, Row(id));
    bytes += r->stored;
  }
  return bytes;
}

}  // namespace katamari

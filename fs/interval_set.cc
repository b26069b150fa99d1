#include "fs/interval_set.h"

#include <algorithm>
#include <iterator>

namespace katamari::fs {

void IntervalSet::Add(uint64_t start, uint64_t end) {
  if (start >= end) return;
  // Absorb every range that overlaps or touches [start, end).
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) it = prev;
  }
  while (it != ranges_.end() && it->first <= end) {
    start = std::min(start, it->first);
    end = std::max(end, it->second);
    it = ranges_.erase(it);
  }
  ranges_.emplace(start, end);
}

void IntervalSet::TruncateTo(uint64_t limit) {
  auto it = ranges_.lower_bound(limit);
  ranges_.erase(it, ranges_.end());
  if (!ranges_.empty()) {
    auto last = std::prev(ranges_.end());
    if (last->second > limit) last->second = limit;
  }
}

bool IntervalSet::Covers(uint64_t start, uint64_t end) const {
  if (start >= end) return true;
  auto it = ranges_.upper_bound(start);
  if (it == ranges_.begin()) return false;
  --it;
  return it->first <= start && it->second >= end;
}

}  // namespace katamari::fs

// IntervalSet: a set of disjoint half-open byte ranges [start, end), kept
// merged (adjacent and overlapping ranges fuse). Used by WriteSession to
// remember which ranges of a file live in its staging file.
//
// Memory is one map node per disjoint range. Callers that align ranges to a
// block size bound the count by file_size / (2 * block).
//
// Thread-compatible: callers lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>

namespace katamari::fs {

class IntervalSet {
 public:
  // Adds [start, end). Empty ranges are ignored.
  void Add(uint64_t start, uint64_t end);
  // Removes everything at or beyond `limit` (ranges straddling it are cut).
  void TruncateTo(uint64_t limit);
  void Clear() { ranges_.clear(); }
  bool empty() const { return ranges_.empty(); }
  size_t range_count() const { return ranges_.size(); }

  // True if all of [start, end) is covered.
  bool Covers(uint64_t start, uint64_t end) const;

  // Splits [start, end) into consecutive pieces and reports, for each, whether
  // it is covered: visit(piece_start, piece_end, covered). Stops early and
  // returns false if visit returns false.
  template <class Fn>
  bool Walk(uint64_t start, uint64_t end, Fn&& visit) const;

  const std::map<uint64_t, uint64_t>& ranges() const { return ranges_; }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // start -> end
};

template <class Fn>
bool IntervalSet::Walk(uint64_t start, uint64_t end, Fn&& visit) const {
  uint64_t pos = start;
  auto it = ranges_.upper_bound(pos);
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second > pos) it = prev;
  }
  while (pos < end) {
    if (it == ranges_.end() || it->first >= end) {
      return visit(pos, end, false);
    }
    if (it->first > pos) {
      if (!visit(pos, it->first, false)) return false;
      pos = it->first;
    }
    uint64_t piece_end = it->second < end ? it->second : end;
    if (!visit(pos, piece_end, true)) return false;
    pos = piece_end;
    ++it;
  }
  return true;
}

}  // namespace katamari::fs

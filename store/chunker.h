// Content-defined chunking (FastCDC with normalized chunking).
//
// Boundaries depend only on content and the (min, avg, max) parameters, so an
// insertion shifts at most a chunk or two. The gear table is part of the
// on-disk contract in spirit: changing it loses dedup against old data (never
// correctness). Pure computation; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace katamari {

class Chunker {
 public:
  // Requires 64 <= min < avg < max <= 16 MiB; avg a power of two.
  Chunker(uint32_t min_size, uint32_t avg_size, uint32_t max_size);

  // Length of the first chunk of `data`. If data.size() <= max and `at_eof` is
  // false, the caller must supply more data before cutting unless a boundary
  // was found: returns 0 to mean "need more data". With at_eof, always returns
  // a length in [1, data.size()] for non-empty data.
  size_t NextBoundary(std::string_view data, bool at_eof) const;

  uint32_t min_size() const { return min_; }
  uint32_t avg_size() const { return avg_; }
  uint32_t max_size() const { return max_; }

 private:
  uint32_t min_, avg_, max_;
  uint64_t mask_small_, mask_large_;  // stricter before avg, looser after
};

}  // namespace katamari

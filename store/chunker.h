// Content-defined chunking (FastCDC with normalized chunking).
//
// Boundaries depend only on content and the (min, avg, max) parameters, so an
// insertion shifts at most a chunk or two. The gear table is part of the
// on-disk contract in spirit: changing it loses dedup against old data (never
// correctness). Pure computation; thread-compatible.
//
// How it works (FastCDC, Xia et al., USENIX ATC 2016):
//  - A "gear" rolling hash: fp = (fp << 1) + kGear[byte]. Because of the
//    shift, bit k of fp depends only on the last k+1 bytes, so fp's top bits
//    form a 64-byte sliding window over the content for one shift, one add
//    and one table load per byte (no per-byte window removal step).
//  - kGear is 256 fixed 64-bit values from splitmix64 with a fixed seed,
//    computed at compile time. It must never change.
//  - A boundary is placed after byte i when (fp & mask) == 0. The masks take
//    the TOP bits of fp (the bits that see the whole 64-byte window), so the
//    test is equivalent to "fp < 2^(64 - bits)".
//  - The first min_size bytes of a chunk are not hashed at all (no chunk can
//    end there), which is both a speed-up and the minimum size.
//  - Normalized chunking, level 2: up to the normalization point the mask has
//    log2(avg)+2 bits (a cut is 4x less likely than 1/avg), after it
//    log2(avg)-2 bits (4x more likely). This squeezes the size distribution
//    around avg instead of the long exponential tail of plain CDC. The
//    normalization point is placed so that the mean chunk size on random
//    data comes out close to avg.
//  - At max_size a cut is forced.
//
// Encrypted buckets pass a secret gear table (derived from the bucket's key,
// docs/encryption.md): boundaries then depend on the key too, so the chunk
// lengths the catalog shows cannot be matched against the chunking of a
// guessed file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace katamari {

class Chunker {
 public:
  using GearTable = std::array<uint64_t, 256>;
  // Requires 64 <= min < avg < max <= 16 MiB; avg a power of two. `gear`:
  // a keyed table (copied), or nullptr for the fixed public one.
  Chunker(uint32_t min_size, uint32_t avg_size, uint32_t max_size,
          const GearTable* gear = nullptr);

  // Whether the parameters meet the constructor's requirements; the message
  // says which one does not. Check settings with this before constructing.
  static bool ValidParams(uint32_t min_size, uint32_t avg_size, uint32_t max_size,
                          std::string* why = nullptr);

  // Length of the first chunk of `data`. If no boundary is found in `data`,
  // data.size() < max and `at_eof` is false, the caller must supply more data
  // before cutting: returns 0 to mean "need more data". Once max bytes are
  // available a length in [1, max] is always returned. With at_eof, always
  // returns a length in [1, data.size()] for non-empty data; 0 for empty.
  // The result depends only on data[0, result] (plus at_eof for the tail),
  // never on bytes after it.
  size_t NextBoundary(std::string_view data, bool at_eof) const;

  uint32_t min_size() const { return min_; }
  uint32_t avg_size() const { return avg_; }
  uint32_t max_size() const { return max_; }

 private:
  uint32_t min_, avg_, max_;
  uint32_t norm_;                     // normalization point (chunk offset)
  uint64_t mask_small_, mask_large_;  // stricter before norm_, looser after
  GearTable gear_;
};

}  // namespace katamari

// FastCDC with normalized chunking; see chunker.h for how it works.
#include "store/chunker.h"

#include <array>
#include <bit>
#include <cstdio>
#include <cstdlib>

namespace katamari {

namespace {

constexpr uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The gear table. Seed and generator are frozen: changing either moves every
// boundary and loses dedup against all existing data.
constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> t{};
  uint64_t state = 0x6b6174616d617269ull;  // "katamari"
  for (auto& v : t) v = SplitMix64(&state);
  return t;
}
constexpr std::array<uint64_t, 256> kGear = MakeGear();

// Pinned so that an accidental edit of the generator fails to compile.
static_assert(kGear[0] != kGear[1]);

constexpr uint32_t kMaxLimit = 16u << 20;

// A mask of the top `bits` bits of a 64-bit word.
constexpr uint64_t TopBits(int bits) {
  return bits <= 0 ? 0 : bits >= 64 ? ~0ull : ~0ull << (64 - bits);
}

// Offset at which the mask switches from strict to loose, chosen so that the
// expected chunk size on random data equals avg (ignoring the max cut).
// With p_s = 1/(4 avg) before the switch and p_l = 4/avg after it, the mean
// is min + (1 - e^-x)/p_s + e^-x/p_l where x = p_s * (norm - min); solving
// for mean == avg gives x = ln(1 + y), y = (0.75 avg - min) / (3 avg + min).
// ln(1+y) is taken as a 4-term series in plain IEEE +,-,*,/ only (y < 0.25,
// error < y^5/5 < 2e-4), so the result is bit-identical on every platform, which a
// libm log() does not promise.
uint32_t NormalizationPoint(uint32_t min, uint32_t avg, uint32_t max) {
  const double a = avg, m = min;
  if (m >= 0.75 * a) return min;
  const double y = (0.75 * a - m) / (3.0 * a + m);
  const double x = y - y * y / 2 + y * y * y / 3 - y * y * y * y / 4;
  const double norm = m + 4.0 * a * x;
  if (norm >= max) return max;
  return static_cast<uint32_t>(norm);
}

}  // namespace

bool Chunker::ValidParams(uint32_t min_size, uint32_t avg_size, uint32_t max_size,
                          std::string* why) {
  const char* err = nullptr;
  if (min_size < 64) {
    err = "chunk min must be at least 64 bytes";
  } else if (!(min_size < avg_size && avg_size < max_size)) {
    err = "chunk sizes must satisfy min < avg < max";
  } else if (max_size > kMaxLimit) {
    err = "chunk max must be at most 16 MiB";
  } else if (!std::has_single_bit(avg_size)) {
    err = "chunk avg must be a power of two";
  }
  if (err != nullptr && why != nullptr) *why = err;
  return err == nullptr;
}

Chunker::Chunker(uint32_t min_size, uint32_t avg_size, uint32_t max_size,
                 const GearTable* gear)
    : min_(min_size), avg_(avg_size), max_(max_size), gear_(gear ? *gear : kGear) {
  std::string why;
  if (!ValidParams(min_size, avg_size, max_size, &why)) {
    // A programming error: settings are validated before a Chunker is made.
    std::fprintf(stderr, "katamari: bad chunker parameters %u/%u/%u: %s\n", min_size,
                 avg_size, max_size, why.c_str());
    std::abort();
  }
  const int bits = std::countr_zero(avg_size);
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
  norm_ = NormalizationPoint(min_, avg_, max_);
}

size_t Chunker::NextBoundary(std::string_view data, bool at_eof) const {
  const size_t n = data.size();
  if (n <= min_) return at_eof ? n : 0;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const size_t end = n < max_ ? n : max_;
  const size_t barrier = end < norm_ ? end : norm_;
  const uint64_t ms = mask_small_, ml = mask_large_;
  const uint64_t* gear = gear_.data();
  uint64_t fp = 0;
  size_t i = min_;
  // The two loops are the hot path: one load, one table lookup, one lea
  // (fp*2 + g) and one test per byte.
  for (; i < barrier; ++i) {
    fp = (fp << 1) + gear[p[i]];
    if ((fp & ms) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    fp = (fp << 1) + gear[p[i]];
    if ((fp & ml) == 0) return i + 1;
  }
  if (end == max_) return max_;
  return at_eof ? n : 0;
}

}  // namespace katamari

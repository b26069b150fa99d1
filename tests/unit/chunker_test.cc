// FastCDC chunker: bounds, determinism, average size, shift resistance.
#include "store/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/sha256.h"

namespace katamari {
namespace {

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int k = 0; k < 8; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

// Cuts all of `data` at once.
std::vector<size_t> Cut(const Chunker& c, std::string_view data) {
  std::vector<size_t> lens;
  while (!data.empty()) {
    size_t n = c.NextBoundary(data, /*at_eof=*/true);
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    lens.push_back(n);
    data.remove_prefix(n);
  }
  return lens;
}

// Cuts `data` as a streaming caller would: a buffer refilled `piece` bytes
// at a time, asking for more whenever NextBoundary returns 0.
std::vector<size_t> CutStreaming(const Chunker& c, std::string_view data, size_t piece) {
  std::vector<size_t> lens;
  std::string buf;
  size_t fed = 0;
  for (;;) {
    const bool eof = fed == data.size();
    size_t n = c.NextBoundary(buf, eof);
    if (n == 0) {
      if (eof) break;
      size_t take = std::min(piece, data.size() - fed);
      buf.append(data.substr(fed, take));
      fed += take;
      continue;
    }
    lens.push_back(n);
    buf.erase(0, n);
  }
  return lens;
}

std::multiset<Sha256> ChunkHashes(const Chunker& c, std::string_view data) {
  std::multiset<Sha256> set;
  size_t pos = 0;
  for (size_t n : Cut(c, data)) {
    set.insert(Sha256Of(data.substr(pos, n)));
    pos += n;
  }
  return set;
}

size_t NotIn(const std::multiset<Sha256>& a, const std::multiset<Sha256>& b) {
  size_t n = 0;
  for (const auto& h : a) n += b.count(h) == 0;
  return n;
}

TEST(Chunker, ChunksWithinBounds) {
  const std::string data = Random(8 << 20, 1);
  for (auto [mn, av, mx] : {std::tuple{16384u, 65536u, 262144u}, {2048u, 8192u, 16384u},
                            {64u, 128u, 256u}}) {
    Chunker c(mn, av, mx);
    for (const std::string& d : {data, std::string(1 << 20, '\0')}) {
      auto lens = Cut(c, d);
      ASSERT_FALSE(lens.empty());
      size_t total = 0;
      for (size_t i = 0; i < lens.size(); ++i) {
        total += lens[i];
        EXPECT_LE(lens[i], mx);
        if (i + 1 < lens.size()) {
          EXPECT_GE(lens[i], mn) << "chunk " << i;
        }
      }
      EXPECT_EQ(total, d.size());
    }
  }
}

TEST(Chunker, ConstantDataCutsAtMax) {
  Chunker c(16384, 65536, 262144);
  auto lens = Cut(c, std::string(1 << 20, 'z'));
  ASSERT_EQ(lens.size(), 4u);
  for (size_t n : lens) EXPECT_EQ(n, 262144u);
}

TEST(Chunker, DeterministicAndPinned) {
  const std::string data = Random(4 << 20, 2);
  Chunker c(16384, 65536, 262144);
  auto a = Cut(c, data);
  EXPECT_EQ(a, Cut(Chunker(16384, 65536, 262144), data));
  // Pinned forever: these boundaries follow from the frozen gear table and
  // normalization rule. If this fails, dedup against existing buckets breaks.
  ASSERT_GE(a.size(), 5u);
  std::vector<size_t> first(a.begin(), a.begin() + 5);
  EXPECT_EQ(first, (std::vector<size_t>{35495, 138088, 60903, 70769, 59339}));
}

TEST(Chunker, StreamingMatchesWholeInput) {
  const std::string data = Random(3 << 20, 3);
  Chunker c(16384, 65536, 262144);
  const auto whole = Cut(c, data);
  for (size_t piece : {size_t{1000}, size_t{65536}, size_t{300000}}) {
    EXPECT_EQ(CutStreaming(c, data, piece), whole) << "piece " << piece;
  }
}

TEST(Chunker, AverageNearTarget) {
  const std::string data = Random(16 << 20, 4);
  for (auto [mn, av, mx] : {std::tuple{16384u, 65536u, 262144u}, {4096u, 16384u, 65536u},
                            {1024u, 8192u, 65536u}}) {
    auto lens = Cut(Chunker(mn, av, mx), data);
    const double mean = double(data.size()) / double(lens.size());
    EXPECT_GT(mean, 0.7 * av) << mn << "/" << av << "/" << mx;
    EXPECT_LT(mean, 1.3 * av) << mn << "/" << av << "/" << mx;
  }
}

TEST(Chunker, InsertionNearStartChangesFewChunks) {
  const std::string data = Random(8 << 20, 5);
  std::string edited = data;
  edited.insert(1000, Random(100, 6));
  Chunker c(16384, 65536, 262144);
  const auto before = ChunkHashes(c, data);
  const auto after = ChunkHashes(c, edited);
  ASSERT_GT(before.size(), 64u);
  EXPECT_LE(NotIn(after, before), 2u) << "of " << after.size() << " chunks";
}

TEST(Chunker, OneByteChangeChangesAboutOneChunk) {
  const std::string data = Random(8 << 20, 7);
  Chunker c(16384, 65536, 262144);
  const auto before = ChunkHashes(c, data);
  for (size_t at : {size_t{0}, size_t{12345}, data.size() / 2, data.size() - 1}) {
    std::string edited = data;
    edited[at] ^= 1;
    const auto after = ChunkHashes(c, edited);
    EXPECT_GE(NotIn(after, before), 1u);
    EXPECT_LE(NotIn(after, before), 2u) << "change at " << at;
  }
}

TEST(Chunker, NeedMoreDataContract) {
  Chunker c(16384, 65536, 262144);
  EXPECT_EQ(c.NextBoundary("", false), 0u);
  EXPECT_EQ(c.NextBoundary("", true), 0u);
  EXPECT_EQ(c.NextBoundary("abc", false), 0u);
  EXPECT_EQ(c.NextBoundary("abc", true), 3u);
  const std::string zeros(262144, '\0');  // no boundary in constant data
  EXPECT_EQ(c.NextBoundary(std::string_view(zeros).substr(0, 100000), false), 0u);
  EXPECT_EQ(c.NextBoundary(std::string_view(zeros).substr(0, 100000), true), 100000u);
  EXPECT_EQ(c.NextBoundary(zeros, false), 262144u);
  EXPECT_EQ(c.NextBoundary(zeros + "more", false), 262144u);
}

TEST(Chunker, ValidParams) {
  std::string why;
  EXPECT_TRUE(Chunker::ValidParams(16384, 65536, 262144));
  EXPECT_FALSE(Chunker::ValidParams(32, 64, 128, &why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(Chunker::ValidParams(16384, 60000, 262144));   // not a power of two
  EXPECT_FALSE(Chunker::ValidParams(65536, 65536, 262144));   // min == avg
  EXPECT_FALSE(Chunker::ValidParams(16384, 65536, 65536));    // avg == max
  EXPECT_FALSE(Chunker::ValidParams(1 << 20, 1 << 22, 1 << 25));  // max > 16 MiB
}

}  // namespace
}  // namespace katamari

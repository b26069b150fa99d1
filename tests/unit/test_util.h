// Small helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "store/types.h"

namespace katamari::testing_util {

// `c` as a chunk the test stored in a pack (as ChunkStore::Write returns
// it): a location in pack `pack`, at an offset made from its id. A catalog
// commit refuses a new chunk without one (catalog_segments::MissingRows).
inline ChunkRef InPack(ChunkRef c, uint8_t pack = 0xC0) {
  ChunkLocation l;
  l.pack.fill(pack);
  uint32_t v;
  memcpy(&v, c.id.bytes.data(), 4);
  l.offset = 32 + uint64_t{v} * 64;
  l.length = c.stored_len;
  c.loc = l;
  return c;
}

// n pseudo-random bytes, the same for the same seed.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    memcpy(&s[i], &v, 8);
  }
  for (; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("katamari-" + tag + "-XXXXXX")).string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace katamari::testing_util

// Where a bucket's chunks are on disk, for tests that damage or count them:
// chunk files (buckets of format 4 and older) and the records of packs
// (docs/pack-format.md).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/env.h"
#include "store/pack_file.h"

namespace katamari::testing_util {

struct StoredChunk {
  std::string path;     // the chunk file, or the pack that holds the record
  uint64_t offset = 0;  // where its bytes (a record's body) start in `path`
  uint64_t length = 0;
  bool in_pack = false;
  std::string id_hex;   // the chunk id, as its file is named
};

// Every chunk file (not chunks/damaged/) and every complete pack record of
// the bucket at `dir`, chunk files first, then by pack and offset.
inline std::vector<StoredChunk> StoredChunks(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<StoredChunk> files, packed;
  if (fs::exists(dir + "/chunks")) {
    for (auto& e : fs::recursive_directory_iterator(dir + "/chunks")) {
      if (e.is_regular_file() && e.path().filename().string().size() == 64 &&
          e.path().parent_path().filename() != "damaged") {
        files.push_back({e.path().string(), 0, e.file_size(), false,
                         e.path().filename().string()});
      }
    }
  }
  std::vector<std::string> packs;
  if (fs::exists(dir + "/packs")) {
    for (auto& e : fs::recursive_directory_iterator(dir + "/packs")) {
      if (e.is_regular_file() && e.path().filename().string().size() == 32) {
        packs.push_back(e.path().string());
      }
    }
  }
  std::sort(files.begin(), files.end(),
            [](const StoredChunk& a, const StoredChunk& b) { return a.path < b.path; });
  std::sort(packs.begin(), packs.end());
  for (const std::string& p : packs) {
    auto id = PackId::FromHex(fs::path(p).filename().string());
    if (!id) continue;
    auto r = PackReader::Open(Env::Default(), p, *id);
    if (!r.ok()) continue;
    auto scan = (*r)->Scan();
    if (!scan.ok()) continue;
    for (const PackEntry& e : scan->records) {
      packed.push_back(
          {p, e.loc.offset + kPackRecordHeaderSize, e.loc.length, true, e.id.Hex()});
    }
  }
  files.insert(files.end(), packed.begin(), packed.end());
  return files;
}

// Bytes of chunk files and packs (what the bucket stores chunk data in).
inline uint64_t StoredBytes(const std::string& dir) {
  namespace fs = std::filesystem;
  uint64_t n = 0;
  for (const char* sub : {"/chunks", "/packs"}) {
    if (!fs::exists(dir + sub)) continue;
    for (auto& e : fs::recursive_directory_iterator(dir + sub)) {
      if (e.is_regular_file() && e.path().parent_path().filename() != "damaged") {
        n += e.file_size();
      }
    }
  }
  return n;
}

// Flips one bit of the byte in the middle of the chunk's bytes.
inline void FlipByteOf(const StoredChunk& c) {
  std::fstream f(c.path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << c.path;
  const auto at = static_cast<std::streamoff>(c.offset + c.length / 2);
  f.seekg(at);
  char b = 0;
  f.read(&b, 1);
  b ^= 0x40;
  f.seekp(at);
  f.write(&b, 1);
}

}  // namespace katamari::testing_util

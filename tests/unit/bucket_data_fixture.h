// The fixture of the tests of a bucket whose packs live on an object store
// (bucket_data_test.cc, bucket_data_quarantine_test.cc): a local-directory
// store, a store that fails on demand, and helpers that look at and damage
// the cache and the objects.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "store/catalog.h"
#include "store/data_backend.h"
#include "store/pack_file.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace bucket_data_testing {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

inline size_t CountFiles(const std::string& dir, size_t name_len = 32) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    n += e.is_regular_file() && e.path().filename().string().size() == name_len;
  }
  return n;
}

inline uint64_t BytesUnder(const std::string& dir) {
  uint64_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

// Cache files of one kind: whole packs (names of 32 hex digits) or records
// (`<32 hex>.<offset>`), sorted.
inline std::vector<std::string> CacheFiles(const std::string& dir, bool whole) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.size() < 32 || name[0] == '.') continue;
    if ((name.size() == 32) == whole) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void FlipByteAt(const std::string& path, uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  char b = 0;
  f.seekg(static_cast<std::streamoff>(at));
  f.read(&b, 1);
  b ^= 0x40;
  f.seekp(static_cast<std::streamoff>(at));
  f.write(&b, 1);
}

// Flips byte `at` of the body of the record whose header starts at
// `record_offset` in `path` (a pack, or a record cache file at 0) and sets
// its body and header CRCs to match: damage that only the chunk layer's own
// check (codec, tag, id) can see.
inline void FlipBodyByteKeepingCrcs(const std::string& path, uint64_t record_offset,
                                     uint32_t at = 100) {
  std::string file = ReadAll(path);
  ASSERT_GE(file.size(), record_offset + kPackRecordHeaderSize) << path;
  char* h = file.data() + record_offset;
  auto get32 = [](const char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
    return v;
  };
  auto put32 = [](char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
  };
  const uint32_t length = get32(h + 4);
  ASSERT_GE(file.size(), record_offset + kPackRecordHeaderSize + length) << path;
  ASSERT_GT(at, 24u) << "past the chunk header: in the payload";
  ASSERT_GT(length, at);
  char* body = h + kPackRecordHeaderSize;
  body[at] ^= 0x40;
  put32(h + 40, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body), length)));
  put32(h + 44, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(h), 44)));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << file;
}

// Delegates to a real store; while `down`, every call fails as an
// unreachable S3 does after its retries.
class FlakyStore : public ObjectStore {
 public:
  explicit FlakyStore(std::unique_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> down{false};
  // While not_found: Gets and Heads answer NotFound, as a store does for a
  // while under a wrong prefix, while radosgw restarts, or before an
  // eventually consistent store has caught up.
  std::atomic<bool> not_found{false};
  // While get_not_found: Gets alone answer NotFound (a flapping store, or
  // one whose reads lag behind its HEADs).
  std::atomic<bool> get_not_found{false};
  std::atomic<int> gets{0};
  std::atomic<int> heads{0};
  std::function<void()> on_put;
  // While put_down: Puts alone fail (counted in refused_puts).
  std::atomic<bool> put_down{false};
  std::atomic<int> refused_puts{0};
  Status Put(std::string_view key, std::string_view data, PutMode mode) override {
    if (down) return Status::IOError("store down");
    if (put_down) {
      ++refused_puts;
      return Status::IOError("store refuses puts");
    }
    if (on_put) on_put();
    return inner_->Put(key, data, mode);
  }
  Result<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override {
    ++gets;
    if (down) return Status::IOError("store down");
    if (not_found || get_not_found) return Status::NotFound("no such key " + std::string(key));
    return inner_->Get(key, offset, length);
  }
  Result<uint64_t> Head(std::string_view key) override {
    ++heads;
    if (down) return Status::IOError("store down");
    if (not_found) return Status::NotFound("no such key " + std::string(key));
    return inner_->Head(key);
  }
  // Called in Delete; its failure is Delete's.
  std::function<Status(std::string_view key)> on_delete;
  Status Delete(std::string_view key) override {
    if (down) return Status::IOError("store down");
    if (on_delete) RETURN_IF_ERROR(on_delete(key));
    return inner_->Delete(key);
  }
  Result<ObjectListPage> List(std::string_view prefix, std::string_view token,
                              size_t max_keys) override {
    if (down) return Status::IOError("store down");
    return inner_->List(prefix, token, max_keys);
  }
  std::string Describe() const override { return "flaky " + inner_->Describe(); }

 private:
  std::unique_ptr<ObjectStore> inner_;
};

class BucketDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() + "/b";
    objects_ = tmp_.path() + "/objects";
    BucketSettings s;
    s.data_url = "file://" + objects_;
    Status st = Bucket::Create(dir_, s);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::unique_ptr<Bucket> Open(Bucket::OpenOptions o = {}) {
    auto r = Bucket::Open(dir_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }
  std::shared_ptr<FlakyStore> Flaky() {
    auto inner = NewLocalObjectStore(objects_);
    EXPECT_TRUE(inner.ok());
    return std::make_shared<FlakyStore>(std::move(*inner));
  }
  static void Put(Bucket& b, const std::string& key, const std::string& data) {
    StringSource src(data);
    auto r = b.Put(key, src, {});
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }
  static Status Get(Bucket& b, const std::string& key, std::string* out,
                    std::optional<uint64_t> version = std::nullopt) {
    StringSink sink;
    VersionSelector sel;
    if (version) sel.version = VersionNo(*version);
    Status st = b.Get(key, sel, sink);
    *out = sink.out;
    return st;
  }
  // The files f0, f2, f4 the repack tests keep (200,000 random bytes each).
  static void ExpectKeptFilesRead(Bucket& b) {
    for (int i = 0; i < 6; i += 2) {
      EXPECT_TRUE(Get(b, "f" + std::to_string(i)) == RandomBytes(200000, i)) << i;
    }
  }
  static std::string Get(Bucket& b, const std::string& key,
                         std::optional<uint64_t> version = std::nullopt) {
    std::string out;
    Status st = Get(b, key, &out, version);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    return out;
  }
  size_t ObjectPacks() { return CountFiles(objects_ + "/packs"); }
  // The store's object of pack `hex` (32 hex digits).
  std::string ObjectPackPath(const std::string& hex) {
    return objects_ + "/packs/" + hex.substr(0, 2) + "/" + hex;
  }
  // Puts `data` as "f" in a bucket opened and closed again, and returns the
  // one whole pack left in the cache (its file name is the pack's hex id).
  std::string PutWithOneCachedPack(const std::string& data) {
    {
      auto b = Open();
      Put(*b, "f", data);
    }
    const std::vector<std::string> whole = CacheFiles(dir_ + "/cache", true);
    EXPECT_EQ(whole.size(), 1u);
    return whole.empty() ? std::string() : whole[0];
  }
  // The object's bytes a record cache file `<32 hex>.<offset>` should hold.
  std::string ObjectBytesOf(const std::string& record_file) {
    const std::string name = fs::path(record_file).filename().string();
    const std::string object = ReadAll(objects_ + "/packs/" + name.substr(0, 2) + "/" +
                                       name.substr(0, 32));
    const uint64_t offset = std::stoull(name.substr(33));
    const uint64_t length = fs::file_size(record_file);
    return offset + length <= object.size() ? object.substr(offset, length) : std::string();
  }
  // A file written and uploaded, its pack cached whole (`whole`) or, after a
  // read with the cache gone, as records; then `damage` is done to the first
  // cache file of that kind. Reading back through a fresh store gives the
  // right bytes, with one ranged GET per record the damaged file held, and
  // the damaged entry replaced by records equal to the store's.
  void CheckDamagedCacheIsReplaced(bool whole, const std::function<void(const std::string&)>& damage) {
    const std::string data = RandomBytes(300000, 5);
    {
      auto b = Open();
      Put(*b, "f", data);
    }
    if (!whole) {
      fs::remove_all(dir_ + "/cache");
      auto b = Open();
      ASSERT_TRUE(Get(*b, "f") == data);
    }
    const std::vector<std::string> before = CacheFiles(dir_ + "/cache", whole);
    ASSERT_FALSE(before.empty());
    const std::string victim = before.front();
    const std::vector<std::string> records_before = CacheFiles(dir_ + "/cache", false);
    damage(victim);
    auto store = Flaky();
    Bucket::OpenOptions o;
    o.data_store = store;
    auto b = Open(o);
    const int at_open = store->gets.load();  // the `format` object
    std::string out;
    Status st = Get(*b, "f", &out);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(out == data) << "exactly the bytes written";
    const std::vector<std::string> records = CacheFiles(dir_ + "/cache", false);
    const int gets = store->gets.load() - at_open;
    if (whole) {
      EXPECT_FALSE(fs::exists(victim)) << "the damaged whole pack is dropped";
      EXPECT_GT(gets, 0);
      EXPECT_EQ(static_cast<size_t>(gets), records.size()) << "one ranged GET per record";
    } else {
      EXPECT_EQ(gets, 1) << "one ranged GET for the one damaged record";
      EXPECT_EQ(records, records_before);
    }
    for (const std::string& r : records) {
      EXPECT_TRUE(ReadAll(r) == ObjectBytesOf(r)) << r << " holds the store's record";
    }
    if (whole) {
      // What was read from the whole pack before it was dropped is fetched
      // as records now.
      EXPECT_TRUE(Get(*b, "f") == data);
      for (const std::string& r : CacheFiles(dir_ + "/cache", false)) {
        EXPECT_TRUE(ReadAll(r) == ObjectBytesOf(r)) << r << " holds the store's record";
      }
    }
    const int total = store->gets.load();
    EXPECT_TRUE(Get(*b, "f") == data);
    EXPECT_EQ(store->gets.load(), total) << "read again: from the replaced cache entries";
    // Nothing was judged damaged: the rows still point at the store's copy.
    EXPECT_TRUE(Evidence().empty()) << "nothing quarantined";
    b.reset();
    EXPECT_EQ(ChunksWithoutLocation(), 0u);
    fs::remove_all(dir_ + "/cache");
    b = Open();
    EXPECT_TRUE(Get(*b, "f") == data);
  }
  size_t LocalPacks() { return CountFiles(dir_ + "/packs"); }
  // The contents of the quarantine's evidence files (chunks/damaged/).
  std::vector<std::string> Evidence() {
    std::vector<std::string> out;
    if (!fs::exists(dir_ + "/chunks/damaged")) return out;
    for (auto& e : fs::directory_iterator(dir_ + "/chunks/damaged")) {
      if (e.is_regular_file()) out.push_back(ReadAll(e.path().string()));
    }
    return out;
  }
  // Chunk rows whose location a quarantine cleared (read from the catalog
  // directly; a bucket may be open meanwhile).
  size_t ChunksWithoutLocation() {
    auto cat = Catalog::Open(dir_ + "/catalog.db", /*read_only=*/true);
    EXPECT_TRUE(cat.ok()) << cat.status().ToString();
    if (!cat.ok()) return SIZE_MAX;
    auto rows = (*cat)->AllChunks();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) return SIZE_MAX;
    return static_cast<size_t>(
        std::count_if(rows->begin(), rows->end(), [](const ChunkRef& c) { return !c.loc; }));
  }
  // The bytes of the record whose header is at `offset` in pack object `hex`
  // (header and body when `with_header`, else the body alone).
  std::string ObjectRecord(const std::string& hex, uint64_t offset, bool with_header) {
    const std::string object = ReadAll(ObjectPackPath(hex));
    if (object.size() < offset + kPackRecordHeaderSize) return std::string();
    const char* h = object.data() + offset;
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= uint32_t{static_cast<uint8_t>(h[4 + i])} << (8 * i);
    return with_header ? object.substr(offset, kPackRecordHeaderSize + length)
                       : object.substr(offset + kPackRecordHeaderSize, length);
  }

  testing_util::TempDir tmp_{"data"};
  std::string dir_, objects_;
};

}  // namespace bucket_data_testing
}  // namespace katamari

// The cost of a 1-byte edit of a big file against the same edit of a 1 MiB
// file, at the store level (Bucket::CommitEdit, what the mount's close
// calls). A benchmark, not a timed test: it runs only with
// KATAMARI_EDIT_BENCH=1 (size of the big file in MiB: KATAMARI_EDIT_BENCH_MIB,
// default 1024; edits per file: KATAMARI_EDIT_BENCH_OPS, default 15) and
// prints the medians. Run it under `perf record` for the breakdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

// Pseudo-random content generated on the fly (the same bytes for the same
// offset), with a few bytes patched.
class GeneratedSource : public RandomSource, public ByteSource {
 public:
  explicit GeneratedSource(uint64_t size) : size_(size) {}
  uint64_t size() const override { return size_; }
  Status ReadAt(uint64_t off, size_t n, char* buf) override {
    for (size_t i = 0; i < n; ++i) buf[i] = ByteAt(off + i);
    return Status::OK();
  }
  Result<Extent> ExtentAt(uint64_t off) override { return Extent{false, size_ - off}; }
  Result<size_t> Read(char* buf, size_t n) override {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
    RETURN_IF_ERROR(ReadAt(pos_, k, buf));
    pos_ += k;
    return k;
  }
  void Patch(uint64_t off, char c) { patches_.emplace_back(off, c); }

 private:
  char ByteAt(uint64_t off) const {
    for (auto it = patches_.rbegin(); it != patches_.rend(); ++it) {
      if (it->first == off) return it->second;
    }
    uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    return static_cast<char>(x >> (8 * (off & 7)));
  }
  uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<std::pair<uint64_t, char>> patches_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

TEST(EditBench, OneByteEditOfABigFileAgainstA1MiBFile) {
  if (std::getenv("KATAMARI_EDIT_BENCH") == nullptr) GTEST_SKIP() << "KATAMARI_EDIT_BENCH unset";
  const uint64_t big_size = EnvOr("KATAMARI_EDIT_BENCH_MIB", 1024) << 20;
  const uint64_t ops = EnvOr("KATAMARI_EDIT_BENCH_OPS", 15);
  testing_util::TempDir root("editbench");
  const std::string dir = root.path() + "/b";
  ASSERT_TRUE(Bucket::Create(dir, {}).ok());
  auto opened = Bucket::Open(dir, {});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Bucket> b = std::move(*opened);
  struct File {
    InodeId ino;
    VersionNo v;
    std::unique_ptr<GeneratedSource> src;
    std::vector<double> ms;
  };
  File files[2];
  const uint64_t sizes[2] = {big_size, uint64_t{1} << 20};
  for (int k = 0; k < 2; ++k) {
    auto f = b->MakeNode(kRootInode, k == 0 ? "big" : "small", FileKind::kRegular, 0644, 0, 0);
    ASSERT_TRUE(f.ok());
    files[k].ino = f->ino;
    files[k].src = std::make_unique<GeneratedSource>(sizes[k]);
    const auto t0 = std::chrono::steady_clock::now();
    auto v = b->CommitContent(f->ino, *files[k].src);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    files[k].v = v->version;
    std::printf("ingest %s: %.0f ms, %llu chunks\n", k == 0 ? "big" : "small",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count(),
                static_cast<unsigned long long>(v->chunk_count));
  }
  for (uint64_t i = 0; i < ops; ++i) {
    for (File& f : files) {
      const uint64_t off = f.src->size() / 2 + i;
      f.src->Patch(off, static_cast<char>('a' + i % 26));
      EditedRanges edit{f.ino, f.v, f.src->size(), {{off - off % 4096, off - off % 4096 + 4096}}};
      const auto t0 = std::chrono::steady_clock::now();
      auto v = b->CommitEdit(f.ino, *f.src, edit);
      f.ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
              .count());
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      f.v = v->version;
    }
  }
  const double big = Median(files[0].ms), small = Median(files[1].ms);
  std::printf("edit %llu MiB: %.2f ms/op   edit 1 MiB: %.2f ms/op   ratio %.1fx\n",
              static_cast<unsigned long long>(big_size >> 20), big, small, big / small);
  auto st = b->Stats();
  ASSERT_TRUE(st.ok());
  auto sz = std::filesystem::file_size(dir + "/catalog.db");
  std::error_code ec;
  auto wal = std::filesystem::file_size(dir + "/catalog.db-wal", ec);
  std::printf("catalog.db %llu bytes, -wal %llu bytes\n", static_cast<unsigned long long>(sz),
              static_cast<unsigned long long>(ec ? 0 : wal));
}

}  // namespace
}  // namespace katamari

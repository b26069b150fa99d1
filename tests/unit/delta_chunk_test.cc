// Delta chunks at the chunk layer (docs/chunk-format.md, "Delta chunks"):
// the zstd patch codec, a patch round trip through ChunkStore (plain and
// sealed), the chain bound, "only when it pays", and a damaged or missing
// base giving an error, never bytes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/chunk_store.h"
#include "store/codec.h"
#include "store/crypto.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;

std::string Log(size_t lines, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s;
  for (size_t i = 0; i < lines; ++i) {
    s += "2026-12-02T03:" + std::to_string(10 + i % 50) + " worker=" + std::to_string(rng() % 97) +
         " req=" + std::to_string(rng()) + " ok\n";
  }
  return s;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

TEST(ZstdPatch, RoundTripAndWrongBase) {
  const std::string base = Log(200, 1);
  const std::string next = base + Log(1, 2);
  std::string frame = "head";
  auto n = ZstdPatchAppend(3, base, next, &frame);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(frame.size(), 4 + *n);
  EXPECT_LT(*n, 200u) << "one appended line should patch to a few dozen bytes";
  std::string out;
  ASSERT_TRUE(ZstdUnpatch(base, std::string_view(frame).substr(4), next.size(), &out, "x").ok());
  EXPECT_TRUE(out == next);
  // Against another base: an error or other bytes, which the chunk layer's
  // id check turns into an error; never the right length of wrong bytes
  // without a check. Here: the length or the content differs.
  std::string other = base;
  other[100] ^= 1;
  Status st = ZstdUnpatch(other, std::string_view(frame).substr(4), next.size(), &out, "x");
  EXPECT_TRUE(!st.ok() || out != next);
  // A wrong length is always refused.
  EXPECT_TRUE(ZstdUnpatch(base, std::string_view(frame).substr(4), next.size() + 1, &out, "x")
                  .IsCorruption());
  // The thread's plain contexts are unaffected by the prefix.
  std::string c, d;
  ASSERT_TRUE(Compress(Codec::kZstd, 3, next, &c).ok());
  ASSERT_TRUE(Decompress(Codec::kZstd, c, next.size(), &d, "y").ok());
  EXPECT_TRUE(d == next);
}

class DeltaChunkTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      keys_ = std::make_shared<crypto::BucketKeys>(
          crypto::BucketKeys::Derive(crypto::Key::Random()));
    }
    store_ = std::make_unique<ChunkStore>(Env::Default(), tmp_.path(), Codec::kZstd, 3, keys_);
    ASSERT_TRUE(store_->Init().ok());
  }
  ChunkRef Put(const std::string& data, const ChunkRef* base = nullptr,
               const std::string* base_plain = nullptr, int depth = 0) {
    Result<ChunkRef> r = base ? store_->Write(store_->IdOf(data), data,
                                              DeltaCandidate{*base, *base_plain, depth})
                              : store_->Write(store_->IdOf(data), data);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ChunkRef{};
  }
  std::string Read(const ChunkRef& ref, Status* st = nullptr, int* depth = nullptr) {
    std::string out;
    DeltaChain chain;
    chain.depth = -1;
    Status s = store_->Read(ref, &out, &chain);
    if (depth) *depth = chain.depth;
    if (st) *st = s;
    EXPECT_TRUE(st || s.ok()) << s.ToString();
    return out;
  }

  testing_util::TempDir tmp_{"delta"};
  std::shared_ptr<const crypto::BucketKeys> keys_;
  std::unique_ptr<ChunkStore> store_;
};

INSTANTIATE_TEST_SUITE_P(PlainAndSealed, DeltaChunkTest, ::testing::Bool());

TEST_P(DeltaChunkTest, APatchRoundTripsAndIsSmall) {
  const std::string v1 = Log(300, 1);
  const ChunkRef r1 = Put(v1);
  EXPECT_FALSE(r1.delta_base);
  const std::string v2 = v1 + Log(1, 7);
  const ChunkRef r2 = Put(v2, &r1, &v1, 0);
  ASSERT_TRUE(r2.delta_base);
  EXPECT_EQ(*r2.delta_base, r1.id);
  EXPECT_LT(r2.stored_len, 200u) << "a patch for one line";
  EXPECT_LT(r2.stored_len * 4, r1.stored_len);
  int depth = -1;
  EXPECT_TRUE(Read(r2, nullptr, &depth) == v2);
  EXPECT_EQ(depth, 1);
  // The record says codec 3; sealed, its payload (base id included) is
  // ciphertext: the base id does not show in the file.
  const std::string file = Slurp(store_->PathOf(r2.id));
  EXPECT_EQ(static_cast<uint8_t>(file[5]), kCodecZstdPatch);
  const std::string base_id(reinterpret_cast<const char*>(r1.id.bytes.data()), 32);
  EXPECT_EQ(file.find(base_id) != std::string::npos, !GetParam());
}

TEST_P(DeltaChunkTest, OnlyWhenItPays) {
  const std::string v1 = Log(300, 1);
  const ChunkRef r1 = Put(v1);
  // Unrelated content: the patch is no smaller, the chunk is stored whole.
  const std::string other = Log(300, 99);
  const ChunkRef r2 = Put(other, &r1, &v1, 0);
  EXPECT_FALSE(r2.delta_base);
  EXPECT_TRUE(Read(r2) == other);
}

TEST_P(DeltaChunkTest, TheChainIsBounded) {
  std::string plain = Log(300, 1);
  ChunkRef ref = Put(plain);
  int depth = 0;
  std::vector<std::pair<ChunkRef, std::string>> all{{ref, plain}};
  for (int i = 1; i <= kMaxDeltaChain + 3; ++i) {
    std::string next = plain + Log(1, 100 + i);
    ChunkRef r = Put(next, &ref, &plain, depth);
    int got = -1;
    EXPECT_TRUE(Read(r, nullptr, &got) == next);
    if (i <= kMaxDeltaChain) {
      EXPECT_TRUE(r.delta_base) << i;
      EXPECT_EQ(got, i);
    } else if (i == kMaxDeltaChain + 1) {
      EXPECT_FALSE(r.delta_base) << "past the bound: a full chunk";
      EXPECT_EQ(got, 0);
    } else {
      EXPECT_EQ(got, i - kMaxDeltaChain - 1) << "a new chain on the full chunk";
    }
    depth = got;
    ref = r;
    plain = next;
    all.emplace_back(r, next);
  }
  for (const auto& [r, p] : all) EXPECT_TRUE(Read(r) == p);
}

TEST_P(DeltaChunkTest, ADamagedOrMissingBaseIsAnErrorNeverBytes) {
  const std::string v1 = Log(300, 1);
  const ChunkRef r1 = Put(v1);
  const std::string v2 = v1 + Log(2, 5);
  const ChunkRef r2 = Put(v2, &r1, &v1, 0);
  ASSERT_TRUE(r2.delta_base);
  const std::string path = store_->PathOf(r1.id);
  const std::string good = Slurp(path);
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x40;
  Spit(path, bad);
  Status st;
  std::string out = Read(r2, &st);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(out.empty());
  EXPECT_NE(st.message().find(r1.id.Hex()), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(r2.id.Hex()), std::string::npos) << st.message();
  // Moving aside judges the base, not the intact delta.
  auto moved = store_->MoveAsideIfDamaged(r2.id);
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(*moved);
  EXPECT_FALSE(fs::exists(path)) << "the damaged base was moved aside";
  EXPECT_TRUE(fs::exists(store_->PathOf(r2.id))) << "the delta stays";
  Read(r2, &st);
  EXPECT_TRUE(st.IsCorruption()) << "a missing base: " << st.ToString();
  // The base stored again (the next write of its content): the delta reads.
  Put(v1);
  EXPECT_TRUE(Read(r2) == v2);
}

TEST_P(DeltaChunkTest, ATamperedDeltaIsRefused) {
  const std::string v1 = Log(300, 1);
  const ChunkRef r1 = Put(v1);
  const std::string v2 = v1 + Log(2, 5);
  const ChunkRef r2 = Put(v2, &r1, &v1, 0);
  ASSERT_TRUE(r2.delta_base);
  const std::string path = store_->PathOf(r2.id);
  const std::string good = Slurp(path);
  for (size_t at : {size_t{5}, size_t{24}, size_t{40}, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    Spit(path, bad);
    Status st;
    std::string out = Read(r2, &st);
    EXPECT_FALSE(st.ok()) << "byte " << at;
    EXPECT_TRUE(out.empty()) << "byte " << at;
  }
  Spit(path, good);
  EXPECT_TRUE(Read(r2) == v2);
}

}  // namespace
}  // namespace katamari

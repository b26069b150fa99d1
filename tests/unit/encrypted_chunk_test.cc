// ChunkStore with keys: sealed chunk files (docs/chunk-format.md, cipher 1)
// round trip, keep no plaintext, and refuse every kind of tampering.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "store/chunk_store.h"
#include "store/chunker.h"
#include "store/crypto.h"
#include "store/sha256.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}
std::string Text(size_t n, int salt = 0) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) s += "secret line " + std::to_string(i * 7 + salt) + "\n";
  s.resize(n);
  return s;
}
std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::shared_ptr<const crypto::BucketKeys> NewKeys() {
  return std::make_shared<crypto::BucketKeys>(crypto::BucketKeys::Derive(crypto::Key::Random()));
}

class EncryptedChunkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "katamari-ec-XXXXXX").string();
    dir_ = new std::string(::mkdtemp(tmpl.data()));
    keys_ = new std::shared_ptr<const crypto::BucketKeys>(NewKeys());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete keys_;
  }
  void SetUp() override { ASSERT_TRUE(store_.Init().ok()); }

  ChunkRef Put(ChunkStore& store, const std::string& data) {
    auto ref = store.Write(store.IdOf(data), data);
    EXPECT_TRUE(ref.ok()) << ref.status().ToString();
    return ref.ok() ? *ref : ChunkRef{};
  }
  ChunkRef Put(const std::string& data) { return Put(store_, data); }
  Status Read(const ChunkRef& ref, std::string* out = nullptr) {
    std::string tmp;
    return store_.Read(ref, out ? out : &tmp);
  }

  static inline std::string* dir_ = nullptr;
  static inline std::shared_ptr<const crypto::BucketKeys>* keys_ = nullptr;
  ChunkStore store_{Env::Default(), *dir_, Codec::kZstd, 3, *keys_};
};

TEST_F(EncryptedChunkTest, RoundTripEveryCodecAndNoPlaintextOnDisk) {
  for (Codec c : {Codec::kNone, Codec::kZstd, Codec::kZlib}) {
    store_.SetCodec(c, c == Codec::kZlib ? 6 : 3);
    for (const std::string& data :
         {Text(70000, static_cast<int>(c)), Random(5000, 9 + int(c)), std::string("x")}) {
      ChunkRef ref = Put(data);
      std::string file = Slurp(store_.PathOf(ref.id));
      EXPECT_EQ(ref.stored_len, file.size());
      EXPECT_EQ(file[6], 1) << "cipher byte";
      EXPECT_NE(file.substr(12, 12), std::string(12, '\0')) << "nonce";
      EXPECT_LE(file.size(), kChunkHeaderSize + data.size() + crypto::kTagSize);
      if (data.size() > 100) {
        EXPECT_EQ(file.find(data.substr(0, 24)), std::string::npos);
        EXPECT_EQ(file.find(data.substr(data.size() / 2, 24)), std::string::npos);
      }
      std::string out;
      ASSERT_TRUE(Read(ref, &out).ok()) << CodecName(c);
      EXPECT_EQ(out, data);
    }
  }
  // Compress, then encrypt: text still shrinks.
  store_.SetCodec(Codec::kZstd, 3);
  EXPECT_LT(Put(Text(65536, 99)).stored_len, 30000u);
}

TEST_F(EncryptedChunkTest, IdsAreKeyedHmacsNotContentHashes) {
  const std::string data = Text(4000, 1);
  const ChunkId id = store_.IdOf(data);
  EXPECT_NE(id, Sha256Of(data));
  EXPECT_EQ(id, crypto::HmacSha256((*keys_)->chunk_id.view(), data));
  ChunkStore other(Env::Default(), *dir_, Codec::kZstd, 3, NewKeys());
  EXPECT_NE(other.IdOf(data), id);  // equal content, another bucket: another id
  EXPECT_TRUE(store_.encrypted());
}

TEST_F(EncryptedChunkTest, EveryFlippedBitIsCaught) {
  store_.SetCodec(Codec::kZstd, 3);
  const ChunkRef ref = Put(Text(300, 5));
  const std::string path = store_.PathOf(ref.id);
  const std::string good = Slurp(path);
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    Spit(path, bad);
    std::string out;
    Status st = Read(ref, &out);
    EXPECT_TRUE(st.IsCorruption()) << "bit " << bit << ": " << st.ToString();
    EXPECT_NE(st.message().find(ref.id.Hex()), std::string::npos);
    EXPECT_TRUE(out.empty());
  }
  Spit(path, good);
  EXPECT_TRUE(Read(ref).ok());
}

TEST_F(EncryptedChunkTest, TruncatedOrExtendedFileIsCorruption) {
  const ChunkRef ref = Put(Random(3000, 77));
  const std::string path = store_.PathOf(ref.id);
  const std::string good = Slurp(path);
  for (size_t n : {size_t{0}, size_t{10}, kChunkHeaderSize, kChunkHeaderSize + 15, good.size() - 16,
                   good.size() - 1}) {
    Spit(path, good.substr(0, n));
    EXPECT_TRUE(Read(ref).IsCorruption()) << n;
  }
  Spit(path, good + "x");
  EXPECT_TRUE(Read(ref).IsCorruption());
  Spit(path, good);
  EXPECT_TRUE(Read(ref).ok());
}

// A chunk file renamed over another (same length or not) fails: the id of
// the chunk being read is part of the AAD.
TEST_F(EncryptedChunkTest, SwappedChunkFilesAreCaught) {
  store_.SetCodec(Codec::kNone, 0);
  const ChunkRef a = Put(Random(2000, 1)), b = Put(Random(2000, 2));
  ASSERT_EQ(a.stored_len, b.stored_len);
  const std::string file_a = Slurp(store_.PathOf(a.id)), file_b = Slurp(store_.PathOf(b.id));
  fs::rename(store_.PathOf(a.id), store_.PathOf(b.id));
  ChunkRef b_as_a = b;
  Status st = Read(b_as_a);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("authentication failed"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(b.id.Hex()), std::string::npos);
  Spit(store_.PathOf(a.id), file_a);
  Spit(store_.PathOf(b.id), file_b);
  EXPECT_TRUE(Read(a).ok());
  EXPECT_TRUE(Read(b).ok());
  store_.SetCodec(Codec::kZstd, 3);
}

TEST_F(EncryptedChunkTest, HeaderEditsFailTheTag) {
  store_.SetCodec(Codec::kZstd, 3);
  const ChunkRef ref = Put(Text(9000, 3));
  const std::string path = store_.PathOf(ref.id);
  const std::string good = Slurp(path);
  // codec byte: 1 (zstd) -> 2 (zlib) is a valid codec, caught only by the AAD.
  std::string bad = good;
  bad[5] = 2;
  Spit(path, bad);
  Status st = Read(ref);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("authentication failed"), std::string::npos) << st.ToString();
  Spit(path, good);
}

TEST_F(EncryptedChunkTest, WrongKeysOrNoKeysNeverReturnBytes) {
  const ChunkRef ref = Put(Text(5000, 11));
  ChunkStore wrong(Env::Default(), *dir_, Codec::kZstd, 3, NewKeys());
  std::string out;
  EXPECT_TRUE(wrong.Read(ref, &out).IsCorruption());
  EXPECT_TRUE(out.empty());
  ChunkStore plain(Env::Default(), *dir_, Codec::kZstd, 3);
  Status st = plain.Read(ref, &out);
  EXPECT_EQ(st.code(), Status::Code::kNotSupported) << st.ToString();
  EXPECT_TRUE(out.empty());
  // And a plain chunk planted into an encrypted bucket is refused.
  const std::string data = Text(700, 12);
  ChunkId planted_id = store_.IdOf(data);
  ASSERT_TRUE(plain.Write(planted_id, data).ok());
  st = Read(ChunkRef{planted_id, static_cast<uint32_t>(data.size()), 0});
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("plain chunk in an encrypted bucket"), std::string::npos);
}

TEST_F(EncryptedChunkTest, RewriteRepairsADamagedChunkWithAFreshNonce) {
  const std::string data = Text(6000, 13);
  const ChunkRef ref = Put(data);
  const std::string path = store_.PathOf(ref.id);
  const std::string first = Slurp(path);
  Spit(path, first.substr(0, 40));
  ASSERT_TRUE(Read(ref).IsCorruption());
  Put(data);
  const std::string second = Slurp(path);
  EXPECT_NE(second.substr(12, 12), first.substr(12, 12));
  std::string out;
  ASSERT_TRUE(Read(ref, &out).ok());
  EXPECT_EQ(out, data);
  // A valid existing chunk is reused as is, never rewritten.
  Put(data);
  EXPECT_EQ(Slurp(path), second);
}

// A keyed gear table moves every boundary (so the catalog's chunk lengths do
// not match the public chunking of a guessed file) but keeps FastCDC's
// properties: deterministic, sizes around avg, insertions stay local.
TEST(KeyedChunkerTest, KeyedBoundariesDifferButBehaveAlike) {
  const std::string data = Random(8 << 20, 21);
  auto cuts = [&](const Chunker& c, const std::string& d) {
    std::vector<size_t> out;
    size_t pos = 0;
    while (pos < d.size()) {
      size_t n = c.NextBoundary(std::string_view(d).substr(pos), true);
      pos += n;
      out.push_back(pos);
    }
    return out;
  };
  const auto keys = NewKeys();
  Chunker plain(16 << 10, 64 << 10, 256 << 10);
  Chunker keyed(16 << 10, 64 << 10, 256 << 10, &keys->chunker_gear);
  Chunker keyed_again(16 << 10, 64 << 10, 256 << 10, &keys->chunker_gear);
  const auto p = cuts(plain, data), k = cuts(keyed, data);
  EXPECT_EQ(cuts(keyed_again, data), k);
  size_t shared = 0;
  for (size_t c : k) shared += std::binary_search(p.begin(), p.end(), c) ? 1 : 0;
  EXPECT_LE(shared, 2u) << "of " << k.size();  // the end of data is always a cut
  const double mean = static_cast<double>(data.size()) / static_cast<double>(k.size());
  EXPECT_GT(mean, 48 << 10);
  EXPECT_LT(mean, 80 << 10);
  // Insert 10 bytes near the start: all but the first few cuts stay put.
  const std::string edited = data.substr(0, 1000) + "0123456789" + data.substr(1000);
  const auto e = cuts(keyed, edited);
  size_t moved = 0;
  for (size_t c : e) moved += std::binary_search(k.begin(), k.end(), c - 10) ? 0 : 1;
  EXPECT_LE(moved, 2u);
}

}  // namespace
}  // namespace katamari

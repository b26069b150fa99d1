// store/crypto: published test vectors for every primitive, and the key-slot
// and sealed-field formats (round trips, wrong keys, tampering).
#include "store/crypto.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace katamari::crypto {
namespace {

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

Key KeyOf(std::string_view hex) { return *Key::FromBytes(Unhex(hex)); }

// ---- AES-256-GCM: "The Galois/Counter Mode of Operation" (McGrew, Viega),
// test cases 13-16, the AES-256 ones.
struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plain;
  const char* aad;
  const char* cipher;
  const char* tag;
};

constexpr char kZeroKey[] = "0000000000000000000000000000000000000000000000000000000000000000";
constexpr char kKey15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr char kPlain15[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
constexpr char kCipher15[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

const GcmVector kGcmVectors[] = {
    {"case 13", kZeroKey, "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"case 14", kZeroKey, "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"case 15", kKey15, "cafebabefacedbaddecaf888", kPlain15, "", kCipher15,
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"case 16 (with AAD)", kKey15, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(GcmTest, NistVectorsSealAndOpen) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    const Key key = KeyOf(v.key);
    const std::string iv = Unhex(v.iv), plain = Unhex(v.plain), aad = Unhex(v.aad);
    const auto* nonce = reinterpret_cast<const uint8_t*>(iv.data());
    std::string sealed(plain.size() + kTagSize, '\0');
    GcmSeal(key, nonce, aad, plain, sealed.data());
    EXPECT_EQ(Hex(sealed), std::string(v.cipher) + v.tag);

    std::string opened(plain.size(), '\0');
    ASSERT_TRUE(GcmOpen(key, nonce, aad, sealed, opened.data()));
    EXPECT_EQ(opened, plain);
  }
}

TEST(GcmTest, InPlaceSealAndOpen) {
  const GcmVector& v = kGcmVectors[3];
  const Key key = KeyOf(v.key);
  const std::string iv = Unhex(v.iv), aad = Unhex(v.aad);
  const auto* nonce = reinterpret_cast<const uint8_t*>(iv.data());
  std::string buf = Unhex(v.plain);
  const size_t n = buf.size();
  buf.resize(n + kTagSize);
  GcmSeal(key, nonce, aad, std::string_view(buf).substr(0, n), buf.data());
  EXPECT_EQ(Hex(buf), std::string(v.cipher) + v.tag);
  ASSERT_TRUE(GcmOpen(key, nonce, aad, buf, buf.data()));
  EXPECT_EQ(buf.substr(0, n), Unhex(v.plain));
}

TEST(GcmTest, AnyChangeFailsTheTag) {
  const GcmVector& v = kGcmVectors[3];
  const Key key = KeyOf(v.key);
  const std::string iv = Unhex(v.iv), aad = Unhex(v.aad);
  const std::string sealed = Unhex(std::string(v.cipher) + v.tag);
  std::string out(sealed.size(), '\0');
  auto open = [&](const Key& k, std::string n, std::string a, std::string s) {
    return GcmOpen(k, reinterpret_cast<const uint8_t*>(n.data()), a, s, out.data());
  };
  ASSERT_TRUE(open(key, iv, aad, sealed));
  for (size_t bit = 0; bit < sealed.size() * 8; bit += 7) {
    std::string s = sealed;
    s[bit / 8] = static_cast<char>(s[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_FALSE(open(key, iv, aad, s)) << "bit " << bit;
  }
  std::string a = aad;
  a[0] ^= 1;
  EXPECT_FALSE(open(key, iv, a, sealed));
  EXPECT_FALSE(open(key, iv, aad.substr(1), sealed));
  std::string n = iv;
  n[11] ^= 1;
  EXPECT_FALSE(open(key, n, aad, sealed));
  Key other = key;
  other.data()[31] ^= 1;
  EXPECT_FALSE(open(other, iv, aad, sealed));
  EXPECT_FALSE(open(key, iv, aad, sealed.substr(0, sealed.size() - 1)));
  EXPECT_FALSE(open(key, iv, aad, sealed.substr(0, kTagSize - 1)));
}

// Sealing runs on many threads at once (ingest workers); per-thread contexts
// must not mix.
TEST(GcmTest, ConcurrentUseFromManyThreads) {
  const Key a = Key::Random(), b = Key::Random();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const Key& k = t % 2 ? a : b;
      for (int i = 0; i < 300; ++i) {
        std::string plain(1000 + i, static_cast<char>(t));
        std::string sealed = SealField(k, "aad", plain), opened;
        if (!OpenField(k, "aad", sealed, &opened) || opened != plain) ++failures;
        if (OpenField(t % 2 ? b : a, "aad", sealed, &opened)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---- HMAC-SHA256: RFC 4231 test cases 1, 2 and 6.
TEST(HmacTest, Rfc4231Vectors) {
  EXPECT_EQ(HmacSha256(std::string(20, '\x0b'), "Hi There").Hex(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HmacSha256("Jefe", "what do ya want for nothing?").Hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(
      HmacSha256(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First")
          .Hex(),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The per-thread context is re-keyed on every call.
  EXPECT_EQ(HmacSha256("Jefe", "what do ya want for nothing?").Hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// ---- HKDF-SHA256: RFC 5869 test cases 1 and 3.
TEST(HkdfTest, Rfc5869Vectors) {
  const std::string ikm(22, '\x0b');
  EXPECT_EQ(
      Hex(HkdfSha256(ikm, Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42)),
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
      "34007208d5b887185865");
  EXPECT_EQ(Hex(HkdfSha256(ikm, "", "", 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

// ---- scrypt: RFC 7914 section 12, the two small vectors.
TEST(ScryptTest, Rfc7914Vectors) {
  auto a = Scrypt("", "", {16, 1, 1}, 64);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Hex(*a),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  auto b = Scrypt("password", "NaCl", {1024, 8, 16}, 64);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Hex(*b),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST(ScryptTest, BadOrHugeParametersRefused) {
  for (ScryptParams p : {ScryptParams{0, 8, 1}, ScryptParams{1000, 8, 1}, ScryptParams{1024, 0, 1},
                         ScryptParams{1024, 8, 0}, ScryptParams{uint64_t{1} << 40, 8, 1},
                         ScryptParams{uint64_t{1} << 20, 16, 1}}) {
    EXPECT_EQ(Scrypt("pw", "salt", p, 32).status().code(), Status::Code::kInvalidArgument)
        << p.n << " " << p.r << " " << p.p;
  }
}

// ---- key hierarchy and sealed fields

TEST(BucketKeysTest, SubkeysAreDistinctAndDeterministic) {
  const Key master = Key::Random();
  BucketKeys a = BucketKeys::Derive(master), b = BucketKeys::Derive(master);
  EXPECT_TRUE(a.chunk == b.chunk && a.chunk_id == b.chunk_id && a.field == b.field);
  EXPECT_FALSE(a.chunk == a.chunk_id);
  EXPECT_FALSE(a.chunk == a.field);
  EXPECT_FALSE(a.chunk_id == a.field);
  EXPECT_FALSE(a.chunk == master);
  // Pinned, so a change of labels (which would orphan every bucket) fails here.
  const BucketKeys z = BucketKeys::Derive(Key());
  EXPECT_EQ(z.chunk.view(), HkdfSha256(Key().view(), "", "katamari chunk key v1", 32));
  EXPECT_EQ(z.chunk_id.view(), HkdfSha256(Key().view(), "", "katamari chunk id key v1", 32));
  EXPECT_EQ(z.field.view(), HkdfSha256(Key().view(), "", "katamari catalog field key v1", 32));
  const std::string gear = HkdfSha256(Key().view(), "", "katamari chunker gear v1", 2048);
  for (size_t i : {size_t{0}, size_t{1}, size_t{255}}) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = v << 8 | static_cast<uint8_t>(gear[8 * i + b]);
    EXPECT_EQ(z.chunker_gear[i], v) << i;
  }
  EXPECT_NE(a.chunker_gear, z.chunker_gear);
}

TEST(SealedFieldTest, RoundTripFreshNonceAndTamperDetection) {
  const Key k = Key::Random();
  const std::string plain = "some secret value";
  const std::string s1 = SealField(k, "aad", plain), s2 = SealField(k, "aad", plain);
  EXPECT_EQ(s1.size(), plain.size() + kSealedOverhead);
  EXPECT_EQ(s1[0], 1);
  EXPECT_NE(s1, s2);  // a fresh nonce each time
  EXPECT_EQ(s1.find(plain), std::string::npos);
  std::string out;
  ASSERT_TRUE(OpenField(k, "aad", s1, &out));
  EXPECT_EQ(out, plain);
  EXPECT_FALSE(OpenField(k, "other aad", s1, &out));
  EXPECT_TRUE(out.empty());
  for (size_t i = 0; i < s1.size(); ++i) {
    std::string s = s1;
    s[i] ^= 0x20;
    EXPECT_FALSE(OpenField(k, "aad", s, &out)) << i;
  }
  EXPECT_FALSE(OpenField(k, "aad", s1.substr(0, kSealedOverhead - 1), &out));
  std::string empty;
  ASSERT_TRUE(OpenField(k, "", SealField(k, "", ""), &empty));
  EXPECT_TRUE(empty.empty());
}

// ---- key slots

constexpr ScryptParams kFastScrypt{1024, 8, 1};

TEST(KeySlotTest, KeyFileSlotRoundTripAndLayout) {
  const Key master = Key::Random();
  const std::string secret(Key::Random().view());
  auto blob = WrapMasterKey(SlotKind::kKeyFile, secret, {}, master);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  ASSERT_EQ(blob->size(), kSlotSize);
  EXPECT_EQ(blob->substr(0, 4), "KTKS");
  EXPECT_EQ((*blob)[4], 1);
  EXPECT_EQ((*blob)[5], 1);
  EXPECT_EQ(blob->substr(6, 18), std::string(18, '\0'));  // reserved + no scrypt
  EXPECT_EQ(blob->find(std::string(master.view())), std::string::npos);
  auto h = ParseSlot(*blob, "slot 1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, SlotKind::kKeyFile);
  auto got = UnwrapMasterKey(*blob, secret, "slot 1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == master);
  // The same secret wraps differently each time (fresh salt and nonce).
  EXPECT_NE(*WrapMasterKey(SlotKind::kKeyFile, secret, {}, master), *blob);
}

TEST(KeySlotTest, PassphraseSlotStoresItsParameters) {
  const Key master = Key::Random();
  auto blob = WrapMasterKey(SlotKind::kPassphrase, "correct horse", kFastScrypt, master);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  auto h = ParseSlot(*blob, "slot 2");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, SlotKind::kPassphrase);
  EXPECT_EQ(h->scrypt.n, 1024u);
  EXPECT_EQ(h->scrypt.r, 8u);
  EXPECT_EQ(h->scrypt.p, 1u);
  EXPECT_EQ((*blob)[5], 2);
  EXPECT_EQ(Hex(blob->substr(8, 16)),
            "0004000000000000"
            "0800000001000000");
  auto got = UnwrapMasterKey(*blob, "correct horse", "slot 2");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == master);
}

TEST(KeySlotTest, WrongSecretIsWrongKeyNeverCorruption) {
  const Key master = Key::Random();
  auto pass = *WrapMasterKey(SlotKind::kPassphrase, "right", kFastScrypt, master);
  EXPECT_EQ(UnwrapMasterKey(pass, "wrong", "slot 1").status().code(), Status::Code::kWrongKey);
  EXPECT_EQ(UnwrapMasterKey(pass, "", "slot 1").status().code(), Status::Code::kWrongKey);
  const std::string file_key(Key::Random().view());
  auto file = *WrapMasterKey(SlotKind::kKeyFile, file_key, {}, master);
  EXPECT_EQ(UnwrapMasterKey(file, std::string(Key::Random().view()), "slot 1").status().code(),
            Status::Code::kWrongKey);
  EXPECT_EQ(UnwrapMasterKey(file, "short", "slot 1").status().code(), Status::Code::kWrongKey);
  EXPECT_EQ(WrapMasterKey(SlotKind::kKeyFile, "short", {}, master).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(KeySlotTest, TamperedSlotsNeverUnlock) {
  const Key master = Key::Random();
  const std::string secret(Key::Random().view());
  const std::string blob = *WrapMasterKey(SlotKind::kKeyFile, secret, {}, master);
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string b = blob;
    b[i] ^= 0x01;
    auto r = UnwrapMasterKey(b, secret, "slot 1");
    ASSERT_FALSE(r.ok()) << "byte " << i;
    // Header damage is reported as such; damage that only the tag covers
    // (salt, nonce, wrapped key, tag) is indistinguishable from a wrong key.
    const Status::Code want = i < 24 ? Status::Code::kCorruption : Status::Code::kWrongKey;
    EXPECT_EQ(r.status().code(), want) << "byte " << i << ": " << r.status().ToString();
  }
  EXPECT_TRUE(UnwrapMasterKey(blob.substr(0, 99), secret, "slot 1").status().IsCorruption());
  std::string newer = blob;
  newer[4] = 2;
  EXPECT_EQ(UnwrapMasterKey(newer, secret, "slot 1").status().code(), Status::Code::kNewerFormat);
  // A tampered work factor is refused before any work is done.
  std::string pass = *WrapMasterKey(SlotKind::kPassphrase, "pw", kFastScrypt, master);
  pass[8 + 5] = 0x40;  // N = 2^46
  EXPECT_TRUE(UnwrapMasterKey(pass, "pw", "slot 1").status().IsCorruption());
}

TEST(KeySlotTest, DefaultScryptCostIsInTheIntendedRange) {
  // The default must make a passphrase guess expensive; this also documents
  // what unlocking costs (docs/encryption.md says ~0.25 s here).
  const auto start = std::chrono::steady_clock::now();
  auto blob = WrapMasterKey(SlotKind::kPassphrase, "pw", ScryptParams{}, Key::Random());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(ScryptParams{}.n, uint64_t{1} << 16);
  EXPECT_EQ(ScryptParams{}.r, 8u);
  EXPECT_GT(secs, 0.02);  // far from free even on a fast machine
}

}  // namespace
}  // namespace katamari::crypto

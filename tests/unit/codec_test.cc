// Codec round trips, raw fallback, level checks and corrupt-input handling.
#include "store/codec.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace katamari {
namespace {

std::string Text(size_t n) {
  std::string s;
  const char* words[] = {"chunk ", "version ", "katamari ", "bucket ", "the ", "of "};
  for (size_t i = 0; s.size() < n; ++i) s += words[(i * 7 + i / 3) % 6];
  s.resize(n);
  return s;
}

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class CodecTest : public ::testing::TestWithParam<Codec> {};

TEST_P(CodecTest, TextRoundTripShrinks) {
  const Codec codec = GetParam();
  const std::string in = Text(100000);
  std::string packed, out;
  auto used = Compress(codec, 3, in, &packed);
  ASSERT_TRUE(used.ok()) << used.status().ToString();
  EXPECT_EQ(*used, codec);
  if (codec != Codec::kNone) {
    EXPECT_LT(packed.size(), in.size() / 4);
    ASSERT_TRUE(Decompress(codec, packed, in.size(), &out, "t").ok());
    EXPECT_EQ(out, in);
  }
}

TEST_P(CodecTest, RandomDataFallsBackToRaw) {
  const std::string in = Random(65536, 1);
  std::string packed = "junk";
  auto used = Compress(GetParam(), 3, in, &packed);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(*used, Codec::kNone);
  std::string out;
  ASSERT_TRUE(Decompress(Codec::kNone, in, in.size(), &out, "t").ok());
  EXPECT_EQ(out, in);
}

TEST_P(CodecTest, EmptyAndOneByte) {
  for (const std::string& in : {std::string(), std::string("x")}) {
    std::string packed;
    auto used = Compress(GetParam(), 3, in, &packed);
    ASSERT_TRUE(used.ok());
    EXPECT_EQ(*used, Codec::kNone) << "nothing this small shrinks";
    std::string out = "stale";
    ASSERT_TRUE(Decompress(Codec::kNone, in, in.size(), &out, "t").ok());
    EXPECT_EQ(out, in);
  }
}

TEST_P(CodecTest, CompressAppendKeepsPrefix) {
  const std::string in = Text(50000);
  std::string buf = "HEADER";
  auto used = CompressAppend(GetParam(), 5, in, &buf);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(buf.substr(0, 6), "HEADER");
  if (*used == Codec::kNone) {
    EXPECT_EQ(buf, "HEADER");
  } else {
    std::string out;
    ASSERT_TRUE(Decompress(*used, std::string_view(buf).substr(6), in.size(), &out, "t").ok());
    EXPECT_EQ(out, in);
  }
  // Raw fallback restores the buffer exactly.
  buf = "HEADER";
  ASSERT_EQ(*CompressAppend(GetParam(), 5, Random(10000, 2), &buf), Codec::kNone);
  EXPECT_EQ(buf, "HEADER");
}

TEST_P(CodecTest, WrongRawLenIsCorruption) {
  const std::string in = Text(20000);
  std::string packed, out;
  const Codec used = *Compress(GetParam(), 3, in, &packed);
  const std::string_view payload = used == Codec::kNone ? std::string_view(in) : packed;
  for (size_t len : {in.size() - 1, in.size() + 1, size_t{0}}) {
    Status st = Decompress(used, payload, len, &out, "chunk abc123");
    ASSERT_TRUE(st.IsCorruption()) << "raw_len " << len << ": " << st.ToString();
    EXPECT_NE(st.message().find("chunk abc123"), std::string::npos) << st.message();
  }
}

// Raw data has no structure to break, so this runs for the real codecs only.
class RealCodecTest : public CodecTest {};

TEST_P(RealCodecTest, CorruptInputIsCorruption) {
  const std::string in = Text(20000);
  std::string packed, out;
  ASSERT_EQ(*Compress(GetParam(), 3, in, &packed), GetParam());
  // Garbage and truncation must be caught by the codec itself.
  for (const std::string& bad : {std::string("definitely not a frame"),
                                 packed.substr(0, packed.size() / 2), packed.substr(0, 3)}) {
    Status st = Decompress(GetParam(), bad, in.size(), &out, "chunk 42");
    ASSERT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_NE(st.message().find("chunk 42"), std::string::npos) << st.message();
    EXPECT_TRUE(out.empty());
  }
  // A flipped byte either fails or decodes to different bytes: the codec may
  // not notice a changed literal (the chunk store's SHA-256 check does).
  std::string flipped = packed;
  flipped[flipped.size() / 2] ^= 0x5a;
  Status st = Decompress(GetParam(), flipped, in.size(), &out, "chunk 42");
  if (st.ok()) {
    EXPECT_NE(out, in);
  } else {
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(AllCodecs, CodecTest,
                         ::testing::Values(Codec::kNone, Codec::kZstd, Codec::kZlib),
                         [](const auto& info) { return std::string(CodecName(info.param)); });
INSTANTIATE_TEST_SUITE_P(RealCodecs, RealCodecTest, ::testing::Values(Codec::kZstd, Codec::kZlib),
                         [](const auto& info) { return std::string(CodecName(info.param)); });

TEST(CodecLevel, Ranges) {
  EXPECT_TRUE(ValidateLevel(Codec::kZstd, 1).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kZstd, 19).ok());
  EXPECT_FALSE(ValidateLevel(Codec::kZstd, 0).ok());
  EXPECT_FALSE(ValidateLevel(Codec::kZstd, 20).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kZlib, 1).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kZlib, 9).ok());
  EXPECT_FALSE(ValidateLevel(Codec::kZlib, 0).ok());
  EXPECT_FALSE(ValidateLevel(Codec::kZlib, 10).ok());
  EXPECT_TRUE(ValidateLevel(Codec::kNone, -5).ok());
  EXPECT_EQ(ValidateLevel(Codec::kZlib, 12).code(), Status::Code::kInvalidArgument);
}

TEST(CodecLevel, CompressRejectsBadLevel) {
  std::string out;
  auto r = Compress(Codec::kZstd, 42, Text(1000), &out);
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
}

TEST(CodecNames, RoundTrip) {
  for (Codec c : {Codec::kNone, Codec::kZstd, Codec::kZlib}) {
    EXPECT_EQ(ParseCodec(CodecName(c)), c);
  }
  EXPECT_EQ(ParseCodec("zstandard"), Codec::kZstd);
  EXPECT_EQ(ParseCodec("lz4"), std::nullopt);
}

}  // namespace
}  // namespace katamari

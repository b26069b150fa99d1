// SHA-256 against the FIPS 180-2 / NIST published vectors; Digest hex.
#include "store/sha256.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace katamari {
namespace {

TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(Sha256Of("").Hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Of("abc").Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").Hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Of(std::string(1000000, 'a')).Hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingInOddPiecesEqualsOneShot) {
  std::mt19937_64 rng(7);
  std::string data(300001, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const Sha256 expected = Sha256Of(data);
  for (size_t piece : {size_t{1}, size_t{3}, size_t{63}, size_t{64}, size_t{65}, size_t{4099}}) {
    Sha256Stream s;
    for (size_t pos = 0; pos < data.size(); pos += piece) {
      s.Update(std::string_view(data).substr(pos, piece));
    }
    EXPECT_EQ(s.Finish(), expected) << "piece " << piece;
  }
}

TEST(Sha256, StreamingMillionA) {
  Sha256Stream s;
  const std::string block(1000, 'a');
  for (int i = 0; i < 1000; ++i) s.Update(block);
  EXPECT_EQ(s.Finish().Hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamIsMovable) {
  Sha256Stream a;
  a.Update("ab");
  Sha256Stream b(std::move(a));
  b.Update("c");
  Sha256Stream c;
  c = std::move(b);
  EXPECT_EQ(c.Finish(), Sha256Of("abc"));
}

TEST(Digest, HexRoundTrip) {
  const Sha256 d = Sha256Of("abc");
  const std::string hex = d.Hex();
  ASSERT_EQ(hex.size(), 64u);
  EXPECT_EQ(Digest::FromHex(hex), d);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Digest::FromHex(upper), d);
  EXPECT_EQ(Digest().Hex(), std::string(64, '0'));
}

TEST(Digest, FromHexRejectsBadInput) {
  const std::string hex = Sha256Of("abc").Hex();
  EXPECT_FALSE(Digest::FromHex(""));
  EXPECT_FALSE(Digest::FromHex(hex.substr(1)));
  EXPECT_FALSE(Digest::FromHex(hex + "0"));
  std::string bad = hex;
  bad[10] = 'g';
  EXPECT_FALSE(Digest::FromHex(bad));
  bad[10] = ' ';
  EXPECT_FALSE(Digest::FromHex(bad));
}

}  // namespace
}  // namespace katamari

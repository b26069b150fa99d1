// Crypto for encrypted buckets, over OpenSSL 3 EVP. Private to store/.
//
// Primitives (AES-256-GCM, HMAC-SHA256, HKDF-SHA256, scrypt, random bytes)
// plus the bucket's key hierarchy and the key-slot format that wraps the
// master key. Every byte layout here is described in docs/encryption.md.
//
// Thread-safety: every function may be called from any thread at once. The
// hot paths (GCM, HMAC) reuse one EVP context per thread, so they allocate
// nothing in steady state. Secret keys live in `Key`, wiped on destruction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/status.h"
#include "store/types.h"

namespace katamari::crypto {

inline constexpr size_t kKeySize = 32;    // AES-256 / HMAC-SHA256 / master key
inline constexpr size_t kNonceSize = 12;  // GCM nonce (96 bits, random per seal)
inline constexpr size_t kTagSize = 16;    // GCM tag (128 bits)

// 32 secret bytes, wiped (OPENSSL_cleanse) when destroyed or overwritten.
class Key {
 public:
  Key() = default;  // all zero
  ~Key();
  Key(const Key& o) : b_(o.b_) {}
  Key& operator=(const Key& o);
  // Exactly kKeySize bytes; anything else is an InvalidArgument.
  static Result<Key> FromBytes(std::string_view bytes);
  static Key Random();
  const uint8_t* data() const { return b_.data(); }
  uint8_t* data() { return b_.data(); }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(b_.data()), b_.size());
  }
  bool operator==(const Key& o) const;  // constant time

 private:
  std::array<uint8_t, kKeySize> b_{};
};

// Overwrites secret bytes in a way the compiler does not optimize away.
void Wipe(void* p, size_t n);

// Cryptographically strong random bytes (RAND_bytes). Aborts if the system
// has no entropy source: nothing sealed with a predictable nonce is safe.
void RandomBytes(void* out, size_t n);

// ---- AES-256-GCM

// Encrypts `plain` into `out` (plain.size() bytes of ciphertext followed by
// the kTagSize-byte tag). `out` may equal plain.data() (in place); otherwise
// the ranges must not overlap.
void GcmSeal(const Key& key, const uint8_t* nonce, std::string_view aad, std::string_view plain,
             char* out);
// Checks the tag of `sealed` (ciphertext || tag) and decrypts the ciphertext
// into `out` (sealed.size() - kTagSize bytes; may equal sealed.data()).
// Returns false if `sealed` is shorter than a tag or the tag does not match
// (wrong key, modified bytes or AAD); `out` then holds no plaintext.
[[nodiscard]] bool GcmOpen(const Key& key, const uint8_t* nonce, std::string_view aad,
                           std::string_view sealed, char* out);

// ---- MACs and KDFs

// `key` of any length (chunk ids use a Key; RFC 4231 vectors use others).
Digest HmacSha256(std::string_view key, std::string_view data);
// HKDF-SHA256 (RFC 5869) of `ikm` with `salt` (empty = HashLen zeros) and
// `info`, `out_len` bytes (at most 255 * 32).
std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t out_len);

struct ScryptParams {
  uint64_t n = uint64_t{1} << 16;  // ~0.25 s and 64 MiB on the reference machine
  uint32_t r = 8;
  uint32_t p = 1;
};
// InvalidArgument unless n is a power of two >= 2, r and p >= 1, and the
// work needs at most kScryptMaxMemory bytes (so a tampered slot cannot make
// unlocking exhaust memory).
inline constexpr uint64_t kScryptMaxMemory = uint64_t{1} << 30;
Status CheckScryptParams(const ScryptParams& p);
// scrypt (RFC 7914). InvalidArgument for bad parameters.
Result<std::string> Scrypt(std::string_view passphrase, std::string_view salt,
                           const ScryptParams& params, size_t out_len);

// ---- the bucket's keys

// Subkeys of an encrypted bucket, each HKDF-SHA256(master, info = label).
struct BucketKeys {
  Key chunk;     // AES-256-GCM of chunk payloads
  Key chunk_id;  // HMAC-SHA256 chunk ids
  Key field;     // AES-256-GCM of sealed catalog fields
  // The chunker's gear table: 256 u64 LE from HKDF-SHA256(master, info
  // "katamari chunker gear v1", 2048 bytes). Secret: it decides boundaries.
  std::array<uint64_t, 256> chunker_gear{};
  static BucketKeys Derive(const Key& master);
  ~BucketKeys();
};

// Sealed catalog field: u8 version (1) | nonce | ciphertext | tag.
inline constexpr size_t kSealedOverhead = 1 + kNonceSize + kTagSize;
std::string SealField(const Key& key, std::string_view aad, std::string_view plain);
// False if malformed or the tag fails (`*plain` is then cleared).
[[nodiscard]] bool OpenField(const Key& key, std::string_view aad, std::string_view sealed,
                             std::string* plain);

// ---- key slots: the master key wrapped under a key file or a passphrase

enum class SlotKind : uint8_t { kKeyFile = 1, kPassphrase = 2 };
const char* SlotKindName(SlotKind k);  // "keyfile", "passphrase"

inline constexpr size_t kSlotSize = 100;
struct SlotHeader {
  SlotKind kind = SlotKind::kKeyFile;
  ScryptParams scrypt;  // kPassphrase only (n = 0 for key files)
};
// Parses and validates a slot blob's header. Corruption (naming `what`) if
// the blob is not a well-formed slot of a known version.
Result<SlotHeader> ParseSlot(std::string_view blob, const std::string& what);
// Wraps `master` under `secret` (the key file's 32 bytes, or the passphrase).
// `scrypt` is used for kPassphrase only. InvalidArgument for bad parameters
// or a key file secret that is not exactly 32 bytes.
Result<std::string> WrapMasterKey(SlotKind kind, std::string_view secret,
                                  const ScryptParams& scrypt, const Key& master);
// Unwraps the master key. WrongKey if `secret` does not open the slot (the
// GCM tag fails), Corruption (naming `what`) if the blob is malformed.
Result<Key> UnwrapMasterKey(std::string_view blob, std::string_view secret,
                            const std::string& what);

}  // namespace katamari::crypto

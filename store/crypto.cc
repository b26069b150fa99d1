// Crypto over OpenSSL 3 EVP (layouts in docs/encryption.md).
//
// Algorithms are fetched once per process (an implicit fetch per call walks
// the provider tables under a lock), and the hot paths keep one context per
// thread, so sealing a chunk costs the cipher itself and nothing else. An
// EVP failure on these paths can only be an allocation failure or a broken
// provider; like sha256.cc we stop rather than store unsealed data.
#include "store/crypto.h"
#include "store/little_endian.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace katamari::crypto {

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "katamari: OpenSSL %s failed\n", what);
  std::abort();
}

template <class T, class Fetch>
T* FetchOnce(Fetch fetch, const char* what) {
  // Kept for the life of the process: other threads may still use it while
  // static destructors run.
  T* alg = fetch();
  if (alg == nullptr) Die(what);
  return alg;
}

const EVP_CIPHER* Aes256Gcm() {
  static const EVP_CIPHER* c = FetchOnce<EVP_CIPHER>(
      [] { return EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr); }, "fetch AES-256-GCM");
  return c;
}
EVP_MAC* Hmac() {
  static EVP_MAC* m =
      FetchOnce<EVP_MAC>([] { return EVP_MAC_fetch(nullptr, "HMAC", nullptr); }, "fetch HMAC");
  return m;
}
EVP_KDF* Kdf(const char* name) {
  static EVP_KDF* hkdf =
      FetchOnce<EVP_KDF>([] { return EVP_KDF_fetch(nullptr, "HKDF", nullptr); }, "fetch HKDF");
  static EVP_KDF* scrypt =
      FetchOnce<EVP_KDF>([] { return EVP_KDF_fetch(nullptr, "SCRYPT", nullptr); }, "fetch SCRYPT");
  return std::strcmp(name, "HKDF") == 0 ? hkdf : scrypt;
}

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// One cipher context per thread and direction; re-keyed per message (AES key
// expansion is ~0.1 us against ~15 us for a 64 KiB chunk).
EVP_CIPHER_CTX* ThreadCipherCtx(bool encrypt) {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> enc(EVP_CIPHER_CTX_new());
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> dec(EVP_CIPHER_CTX_new());
  EVP_CIPHER_CTX* c = encrypt ? enc.get() : dec.get();
  if (c == nullptr) Die("EVP_CIPHER_CTX_new");
  return c;
}

// One HMAC-SHA256 context per thread; the digest is set once, the key per call.
EVP_MAC_CTX* ThreadHmacCtx() {
  thread_local std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx = [] {
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> c(EVP_MAC_CTX_new(Hmac()));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!c || EVP_MAC_CTX_set_params(c.get(), params) != 1) Die("HMAC context setup");
    return c;
  }();
  return ctx.get();
}

int Len(size_t n) {
  // EVP takes int lengths; chunks are at most 16 MiB and fields far smaller.
  if (n > static_cast<size_t>(INT32_MAX)) Die("a message over 2 GiB");
  return static_cast<int>(n);
}

using le::GetU32;
using le::GetU64;
using le::PutU32;
using le::PutU64;

}  // namespace

// ---- Key

Key::~Key() { OPENSSL_cleanse(b_.data(), b_.size()); }

Key& Key::operator=(const Key& o) {
  if (this != &o) b_ = o.b_;
  return *this;
}

Result<Key> Key::FromBytes(std::string_view bytes) {
  if (bytes.size() != kKeySize) {
    return Status::InvalidArgument("a key is " + std::to_string(kKeySize) + " bytes, not " +
                                   std::to_string(bytes.size()));
  }
  Key k;
  std::memcpy(k.b_.data(), bytes.data(), kKeySize);
  return k;
}

Key Key::Random() {
  Key k;
  RandomBytes(k.b_.data(), k.b_.size());
  return k;
}

bool Key::operator==(const Key& o) const {
  return CRYPTO_memcmp(b_.data(), o.b_.data(), b_.size()) == 0;
}

void Wipe(void* p, size_t n) { OPENSSL_cleanse(p, n); }

void RandomBytes(void* out, size_t n) {
  if (RAND_bytes(static_cast<unsigned char*>(out), Len(n)) != 1) Die("RAND_bytes");
}

// ---- AES-256-GCM

void GcmSeal(const Key& key, const uint8_t* nonce, std::string_view aad, std::string_view plain,
             char* out) {
  EVP_CIPHER_CTX* c = ThreadCipherCtx(/*encrypt=*/true);
  auto* o = reinterpret_cast<unsigned char*>(out);
  int len = 0;
  if (EVP_EncryptInit_ex2(c, Aes256Gcm(), key.data(), nonce, nullptr) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(c, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                         Len(aad.size())) != 1) ||
      EVP_EncryptUpdate(c, o, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                        Len(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(c, o + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, kTagSize, o + plain.size()) != 1) {
    Die("AES-256-GCM seal");
  }
}

bool GcmOpen(const Key& key, const uint8_t* nonce, std::string_view aad, std::string_view sealed,
             char* out) {
  if (sealed.size() < kTagSize) return false;
  const size_t n = sealed.size() - kTagSize;
  // The tag is copied first: with in-place decryption `out` may overlap it.
  unsigned char tag[kTagSize];
  std::memcpy(tag, sealed.data() + n, kTagSize);
  EVP_CIPHER_CTX* c = ThreadCipherCtx(/*encrypt=*/false);
  auto* o = reinterpret_cast<unsigned char*>(out);
  int len = 0;
  if (EVP_DecryptInit_ex2(c, Aes256Gcm(), key.data(), nonce, nullptr) != 1 ||
      (!aad.empty() &&
       EVP_DecryptUpdate(c, nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                         Len(aad.size())) != 1) ||
      EVP_DecryptUpdate(c, o, &len, reinterpret_cast<const unsigned char*>(sealed.data()),
                        Len(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, kTagSize, tag) != 1) {
    Die("AES-256-GCM open");
  }
  // Final is where the tag is checked; only a mismatch makes it fail.
  if (EVP_DecryptFinal_ex(c, o + len, &len) != 1) {
    OPENSSL_cleanse(out, n);
    return false;
  }
  return true;
}

// ---- MACs and KDFs

Digest HmacSha256(std::string_view key, std::string_view data) {
  EVP_MAC_CTX* c = ThreadHmacCtx();
  Digest d;
  size_t len = 0;
  if (EVP_MAC_init(c, reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr) !=
          1 ||
      EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(c, d.bytes.data(), &len, d.bytes.size()) != 1 || len != d.bytes.size()) {
    Die("HMAC-SHA256");
  }
  return d;
}

std::string HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                       size_t out_len) {
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> c(EVP_KDF_CTX_new(Kdf("HKDF")));
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                           ikm.size());
  if (!salt.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                             salt.size());
  }
  if (!info.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                             info.size());
  }
  *p = OSSL_PARAM_construct_end();
  std::string out(out_len, '\0');
  if (!c ||
      EVP_KDF_derive(c.get(), reinterpret_cast<unsigned char*>(out.data()), out_len, params) != 1) {
    Die("HKDF-SHA256");
  }
  return out;
}

Status CheckScryptParams(const ScryptParams& p) {
  const bool pow2 = p.n >= 2 && (p.n & (p.n - 1)) == 0;
  // Memory of scrypt: 128 * r * N (V) + 128 * r * p (B), checked without overflow.
  const bool fits = pow2 && p.r >= 1 && p.p >= 1 && p.n <= kScryptMaxMemory / 128 / p.r &&
                    128 * uint64_t{p.r} * p.n + 128 * uint64_t{p.r} * p.p <= kScryptMaxMemory;
  if (!fits) {
    return Status::InvalidArgument(
        "bad scrypt parameters N=" + std::to_string(p.n) + " r=" + std::to_string(p.r) +
        " p=" + std::to_string(p.p) +
        ": need N a power of two >= 2, r >= 1, p >= 1 and at most 1 GiB of memory");
  }
  return Status::OK();
}

Result<std::string> Scrypt(std::string_view passphrase, std::string_view salt,
                           const ScryptParams& sp, size_t out_len) {
  RETURN_IF_ERROR(CheckScryptParams(sp));
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> c(EVP_KDF_CTX_new(Kdf("SCRYPT")));
  uint64_t n = sp.n, maxmem = kScryptMaxMemory + (1 << 20);
  uint32_t r = sp.r, p = sp.p;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                        const_cast<char*>(passphrase.data()), passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  std::string out(out_len, '\0');
  if (!c ||
      EVP_KDF_derive(c.get(), reinterpret_cast<unsigned char*>(out.data()), out_len, params) != 1) {
    // With checked parameters this is an allocation failure (V is large).
    return Status::NoSpace("scrypt (N=" + std::to_string(sp.n) + ", r=" + std::to_string(sp.r) +
                           ") could not allocate its memory; free some memory and retry");
  }
  return out;
}

// ---- the bucket's keys

BucketKeys BucketKeys::Derive(const Key& master) {
  auto sub = [&](std::string_view label) {
    std::string bytes = HkdfSha256(master.view(), {}, label, kKeySize);
    Key k = *Key::FromBytes(bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return k;
  };
  BucketKeys keys;
  keys.chunk = sub("katamari chunk key v1");
  keys.chunk_id = sub("katamari chunk id key v1");
  keys.field = sub("katamari catalog field key v1");
  std::string gear =
      HkdfSha256(master.view(), {}, "katamari chunker gear v1", keys.chunker_gear.size() * 8);
  for (size_t i = 0; i < keys.chunker_gear.size(); ++i) {
    keys.chunker_gear[i] = GetU64(gear.data() + 8 * i);
  }
  OPENSSL_cleanse(gear.data(), gear.size());
  return keys;
}

BucketKeys::~BucketKeys() { OPENSSL_cleanse(chunker_gear.data(), sizeof(chunker_gear)); }

namespace {
constexpr uint8_t kFieldVersion = 1;
}  // namespace

std::string SealField(const Key& key, std::string_view aad, std::string_view plain) {
  std::string out(kSealedOverhead + plain.size(), '\0');
  out[0] = static_cast<char>(kFieldVersion);
  auto* nonce = reinterpret_cast<uint8_t*>(out.data() + 1);
  RandomBytes(nonce, kNonceSize);
  GcmSeal(key, nonce, aad, plain, out.data() + 1 + kNonceSize);
  return out;
}

bool OpenField(const Key& key, std::string_view aad, std::string_view sealed, std::string* plain) {
  plain->clear();
  if (sealed.size() < kSealedOverhead || static_cast<uint8_t>(sealed[0]) != kFieldVersion) {
    return false;
  }
  const auto* nonce = reinterpret_cast<const uint8_t*>(sealed.data() + 1);
  std::string_view body = sealed.substr(1 + kNonceSize);
  plain->resize(body.size() - kTagSize);
  if (!GcmOpen(key, nonce, aad, body, plain->data())) {
    plain->clear();
    return false;
  }
  return true;
}

// ---- key slots (docs/encryption.md, "Key slots")

namespace {

constexpr char kSlotMagic[4] = {'K', 'T', 'K', 'S'};
constexpr uint8_t kSlotVersion = 1;
constexpr size_t kOffKind = 5, kOffN = 8, kOffR = 16, kOffP = 20, kOffSalt = 24;
constexpr size_t kSaltSize = 16, kOffNonce = 40, kOffWrapped = 52, kSlotAad = kOffNonce;
static_assert(kOffWrapped + kKeySize + kTagSize == kSlotSize);
constexpr char kKeyFileInfo[] = "katamari key slot v1 keyfile";

Status BadSlot(const std::string& what, const std::string& why) {
  return Status::Corruption(what + " is malformed (" + why +
                            "); remove it with `katamari key remove` if another slot still "
                            "opens the bucket, or restore catalog.db from a backup");
}

// The key-encryption key of a slot.
Result<Key> SlotKek(SlotKind kind, std::string_view secret, std::string_view salt,
                    const ScryptParams& sp) {
  if (kind == SlotKind::kKeyFile) {
    if (secret.size() != kKeySize) {
      return Status::InvalidArgument("a key file holds exactly 32 bytes, not " +
                                     std::to_string(secret.size()));
    }
    std::string k = HkdfSha256(secret, salt, kKeyFileInfo, kKeySize);
    Key kek = *Key::FromBytes(k);
    OPENSSL_cleanse(k.data(), k.size());
    return kek;
  }
  ASSIGN_OR_RETURN(std::string k, Scrypt(secret, salt, sp, kKeySize));
  Key kek = *Key::FromBytes(k);
  OPENSSL_cleanse(k.data(), k.size());
  return kek;
}

}  // namespace

const char* SlotKindName(SlotKind k) { return k == SlotKind::kKeyFile ? "keyfile" : "passphrase"; }

Result<SlotHeader> ParseSlot(std::string_view b, const std::string& what) {
  if (b.size() != kSlotSize) {
    return BadSlot(what, std::to_string(b.size()) + " bytes, not " + std::to_string(kSlotSize));
  }
  if (std::memcmp(b.data(), kSlotMagic, 4) != 0) return BadSlot(what, "bad magic");
  if (b[4] == 0) return BadSlot(what, "format version 0");
  if (static_cast<uint8_t>(b[4]) > kSlotVersion) {
    return Status::NewerFormat(what + " has format " + std::to_string(static_cast<uint8_t>(b[4])) +
                               ", newer than this katamari understands; upgrade katamari");
  }
  if (b[6] != 0 || b[7] != 0) return BadSlot(what, "reserved bytes set");
  SlotHeader h;
  const auto kind = static_cast<uint8_t>(b[kOffKind]);
  h.scrypt = {GetU64(b.data() + kOffN), GetU32(b.data() + kOffR), GetU32(b.data() + kOffP)};
  if (kind == static_cast<uint8_t>(SlotKind::kKeyFile)) {
    h.kind = SlotKind::kKeyFile;
    if (h.scrypt.n != 0 || h.scrypt.r != 0 || h.scrypt.p != 0) {
      return BadSlot(what, "scrypt parameters on a key-file slot");
    }
  } else if (kind == static_cast<uint8_t>(SlotKind::kPassphrase)) {
    h.kind = SlotKind::kPassphrase;
    if (!CheckScryptParams(h.scrypt).ok()) return BadSlot(what, "bad scrypt parameters");
  } else {
    return BadSlot(what, "unknown kind " + std::to_string(kind));
  }
  return h;
}

Result<std::string> WrapMasterKey(SlotKind kind, std::string_view secret,
                                  const ScryptParams& scrypt, const Key& master) {
  std::string b(kSlotSize, '\0');
  std::memcpy(b.data(), kSlotMagic, 4);
  b[4] = static_cast<char>(kSlotVersion);
  b[kOffKind] = static_cast<char>(kind);
  if (kind == SlotKind::kPassphrase) {
    RETURN_IF_ERROR(CheckScryptParams(scrypt));
    PutU64(b.data() + kOffN, scrypt.n);
    PutU32(b.data() + kOffR, scrypt.r);
    PutU32(b.data() + kOffP, scrypt.p);
  }
  RandomBytes(b.data() + kOffSalt, kSaltSize);
  RandomBytes(b.data() + kOffNonce, kNonceSize);
  ASSIGN_OR_RETURN(Key kek,
                   SlotKek(kind, secret, std::string_view(b).substr(kOffSalt, kSaltSize), scrypt));
  GcmSeal(kek, reinterpret_cast<const uint8_t*>(b.data() + kOffNonce),
          std::string_view(b).substr(0, kSlotAad), master.view(), b.data() + kOffWrapped);
  return b;
}

Result<Key> UnwrapMasterKey(std::string_view b, std::string_view secret, const std::string& what) {
  ASSIGN_OR_RETURN(SlotHeader h, ParseSlot(b, what));
  auto kek = SlotKek(h.kind, secret, b.substr(kOffSalt, kSaltSize), h.scrypt);
  if (!kek.ok()) {
    // A key file of the wrong size cannot be the key of this slot.
    if (kek.status().code() == Status::Code::kInvalidArgument) {
      return Status::WrongKey(what + ": " + kek.status().message());
    }
    return kek.status();
  }
  Key master;
  if (!GcmOpen(*kek, reinterpret_cast<const uint8_t*>(b.data() + kOffNonce), b.substr(0, kSlotAad),
               b.substr(kOffWrapped, kKeySize + kTagSize),
               reinterpret_cast<char*>(master.data()))) {
    return Status::WrongKey(what + ": the key does not open it");
  }
  return master;
}

}  // namespace katamari::crypto

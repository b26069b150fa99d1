// SHA-256 through OpenSSL 3 EVP. OpenSSL picks the SHA-NI code path itself
// when the CPU has it; we only make sure the algorithm is fetched once,
// because an implicit fetch per call walks the provider tables under a lock.
#include "store/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <cstdio>

namespace katamari {

namespace {

const EVP_MD* Md() {
  // Fetched once and kept for the life of the process (never freed: other
  // threads and static destructors may still hash).
  static const EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) {
      // Without SHA-256 nothing in a bucket can be verified; there is no
      // sensible way to continue.
      std::fprintf(stderr, "katamari: OpenSSL has no SHA256 implementation\n");
      std::abort();
    }
    return m;
  }();
  return md;
}

[[noreturn]] void DieOnEvpFailure(const char* what) {
  // EVP digest calls fail only on allocation failure or a broken provider.
  std::fprintf(stderr, "katamari: OpenSSL %s failed\n", what);
  std::abort();
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

Sha256 Sha256Of(std::string_view data) {
  Sha256 out;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.bytes.data(), &len, Md(), nullptr) != 1 ||
      len != out.bytes.size()) {
    DieOnEvpFailure("EVP_Digest(SHA256)");
  }
  return out;
}

struct Sha256Stream::Ctx {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> md_ctx;
};

Sha256Stream::Sha256Stream() : ctx_(new Ctx) {
  ctx_->md_ctx.reset(EVP_MD_CTX_new());
  if (!ctx_->md_ctx || EVP_DigestInit_ex2(ctx_->md_ctx.get(), Md(), nullptr) != 1) {
    DieOnEvpFailure("EVP_DigestInit_ex2(SHA256)");
  }
}

Sha256Stream::~Sha256Stream() = default;
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;

void Sha256Stream::Update(std::string_view data) {
  if (EVP_DigestUpdate(ctx_->md_ctx.get(), data.data(), data.size()) != 1) {
    DieOnEvpFailure("EVP_DigestUpdate(SHA256)");
  }
}

Sha256 Sha256Stream::Finish() {
  Sha256 out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md_ctx.get(), out.bytes.data(), &len) != 1 ||
      len != out.bytes.size()) {
    DieOnEvpFailure("EVP_DigestFinal_ex(SHA256)");
  }
  return out;
}

}  // namespace katamari

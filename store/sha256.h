// SHA-256 and HMAC-SHA256 through OpenSSL EVP (uses SHA-NI where the CPU has it).
#pragma once

#include <memory>
#include <string_view>

#include "store/types.h"

namespace katamari {

Sha256 Sha256Of(std::string_view data);

// Incremental hashing of a stream. Not thread-safe; movable.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;
  void Update(std::string_view data);
  Sha256 Finish();  // the object may not be updated again afterwards

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace katamari

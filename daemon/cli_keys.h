// Keys of encrypted buckets in the `katamari` CLI: choosing the key of a new
// key slot (for `init --encrypt`, `key add`, `key change`). The `key`
// commands themselves are declared in cli_commands.h.
#pragma once

#include <memory>
#include <string>

#include "daemon/cli_support.h"

namespace katamari::cli {

// Where the key of a new slot comes from, as the user gave it. At most one
// of keyfile / passphrase_file is set; with neither, a passphrase is asked
// twice on the terminal (only if stdin is one).
struct NewKeySource {
  std::string keyfile;          // made (32 random bytes, 0600) if it does not exist
  std::string passphrase_file;  // must exist
  std::string command;          // for messages: "init --encrypt", "key add"
  std::string options;          // how to pass a key: "--keyfile FILE or --passphrase-file FILE"
  std::string bucket_dir;       // named in the terminal prompt
};

// The key of a new slot. A key file made for it is removed again when this
// goes away, unless Keep() was called: a failed `init` or `key add` leaves
// no key file behind that opens nothing.
class NewKey {
 public:
  NewKey() = default;
  ~NewKey();
  NewKey(const NewKey&) = delete;
  NewKey& operator=(const NewKey&) = delete;

  void Keep() { keep_ = true; }
  // "key file F", "passphrase file F" or "a passphrase typed on the terminal".
  std::string Describe() const;
  // If a key file was made: the line that says so and what to do with it.
  std::string CreatedNote() const;

  BucketKey key;
  std::string created_file;  // the key file made for this slot, if any

 private:
  bool keep_ = false;
};

// Chooses the key of a new slot from `src` (scrypt_n: GlobalOptions). On
// failure prints the error and returns nullptr with *exit_code set: 2 if no
// key was given and there is no terminal to ask on, 1 otherwise.
std::unique_ptr<NewKey> ChooseNewKey(const NewKeySource& src, uint64_t scrypt_n, int* exit_code);

}  // namespace katamari::cli

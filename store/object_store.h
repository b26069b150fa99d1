// ObjectStore: the seam under chunk/pack data (docs/object-store.md).
//
// A flat namespace of immutable-by-convention objects named by keys. Two
// implementations: a local directory (NewLocalObjectStore) and S3 over libcurl
// (store/s3_object_store.h). Every call is idempotent, so a caller may retry any
// of them after an error whose outcome it does not know: Put writes the whole
// object or nothing, Delete of a missing key is OK, reads change nothing.
//
// Keys: 1..512 bytes of [A-Za-z0-9._-] in '/'-separated components; no empty
// component, no component starting with '.', no leading or trailing '/'.
// Anything else is InvalidArgument (so a key maps 1:1 to a file name and needs
// no escaping in a URL).
//
// Thread safety: implementations are safe to call from many threads at once.
// Errors: NotFound (no such key), Exists (create-only Put of an existing key),
// Permission (credentials refused; the message names where they came from),
// IOError (after the implementation's bounded retries), InvalidArgument.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace katamari {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

// One page of a listing, keys in ascending byte order.
struct ObjectListPage {
  std::vector<ObjectInfo> objects;
  // Empty when this was the last page; else pass it to the next List call.
  std::string next_token;
};

// A byte range of one object for Get/GetMany.
struct ObjectRange {
  std::string key;
  uint64_t offset = 0;
  uint64_t length = UINT64_MAX;  // UINT64_MAX: to the end of the object
};

class ObjectStore {
 public:
  enum class PutMode {
    kOverwrite,   // replaces an existing object whole (atomically)
    kCreateOnly,  // Exists if the key is already there; never replaces
  };
  static constexpr uint64_t kToEnd = UINT64_MAX;

  virtual ~ObjectStore() = default;

  // Stores `data` as the whole object `key`. Readers see the old object or the
  // new one, never a part. Durable when OK is returned (local: fsync of the
  // file and its directory; S3: the server's acknowledgement).
  virtual Status Put(std::string_view key, std::string_view data,
                     PutMode mode = PutMode::kOverwrite) = 0;

  // Bytes [offset, offset+length) of the object, shorter at its end; empty if
  // offset is at or past the end. NotFound if there is no such key.
  virtual Result<std::string> Get(std::string_view key, uint64_t offset = 0,
                                  uint64_t length = kToEnd) = 0;

  // Several ranges at once (S3: in parallel). One Result per range, in order;
  // one range failing does not fail the others. The default calls Get in turn.
  virtual std::vector<Result<std::string>> GetMany(const std::vector<ObjectRange>& ranges);

  // The object's size. NotFound if there is no such key.
  virtual Result<uint64_t> Head(std::string_view key) = 0;

  // Removes the object; OK if it was not there.
  virtual Status Delete(std::string_view key) = 0;

  // Keys starting with `prefix` (any string, not only whole components), at
  // most max_keys (1..1000) per page, after the page `token` names ("" = first).
  virtual Result<ObjectListPage> List(std::string_view prefix, std::string_view token = "",
                                      size_t max_keys = 1000) = 0;

  // Every page of List(prefix) joined.
  Result<std::vector<ObjectInfo>> ListAll(std::string_view prefix);

  // For messages: "dir /srv/b/data" or "s3://127.0.0.1:7480/bucket/prefix".
  virtual std::string Describe() const = 0;
};

// InvalidArgument naming the key and the rule it breaks, or OK.
Status ValidateObjectKey(std::string_view key);

// Objects as files under `root` (created if missing): key "a/b" is root/a/b.
// Put writes root/.tmp/NAME, fsyncs it, renames (create-only: link(2), which
// fails if the name exists) it into place and fsyncs the directory. Temp files
// a crashed Put left in root/.tmp (never listed) are removed by the next open
// once they are an hour old. Parent directories made for a key stay after
// Delete (empty directories are never listed).
Result<std::unique_ptr<ObjectStore>> NewLocalObjectStore(const std::string& root);

}  // namespace katamari

// Where a bucket's chunk data lives (docs/object-store.md): the bucket
// directory (the default), or an object store named by a URL given to
// `katamari init --data`:
//   s3://HOST:PORT/BUCKET[/PREFIX]   S3 over http (radosgw, ...)
//   file:///ABSOLUTE/DIR             a local directory as an object store
//                                    (tests, and a second disk)
// The URL, the credentials file named at init (a path, never the secrets)
// and a random data id are meta rows of the catalog; the store holds an
// object `format` with the same id, so that two buckets never share a prefix.
#pragma once

#include <memory>
#include <string>

#include "store/object_store.h"
#include "store/status.h"

namespace katamari {

struct DataBackend {
  std::string url;          // "" = the bucket directory
  std::string credentials;  // a file (absolute), "" = environment
  std::string id;           // 32 hex digits
};

// InvalidArgument naming the problem and the fix, or OK.
Status ValidateDataUrl(const std::string& url);

// Opens the store the URL names (credentials from `credentials`, else
// $KATAMARI_S3_CREDENTIALS, else the AWS_ variables). Does not contact it.
Result<std::unique_ptr<ObjectStore>> OpenDataStore(const std::string& url,
                                                   const std::string& credentials);

// At init: makes the S3 bucket if needed and puts `format` create-only.
// Exists if the prefix already holds a bucket's data.
Status InitDataStore(ObjectStore& store, const std::string& id);
// At open: the `format` object names `id`. Corruption if another bucket's.
Status CheckDataStore(ObjectStore& store, const std::string& id);

}  // namespace katamari

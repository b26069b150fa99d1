// S3ObjectStore: the ObjectStore seam over S3 (tested against Ceph radosgw).
//
// libcurl does the HTTP and the AWS Signature V4 (CURLOPT_AWS_SIGV4); nothing
// here signs by hand. Path-style URLs: ENDPOINT/BUCKET/PREFIX/KEY. GetMany runs
// its ranges in parallel through one curl multi handle. Every request is retried
// a bounded number of times with exponential backoff on connection errors,
// timeouts, 429 and 5xx; then the call returns IOError naming the endpoint,
// the attempts and the last error. A 403 is not retried: Permission, naming
// where the credentials came from. Secrets are never put in a message or log.
//
// Thread safety: one S3ObjectStore may be used by many threads at once (each
// call takes its own curl handles from a pool).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "store/object_store.h"

namespace katamari {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  // Where they came from, for messages: "file /etc/k.cred" or "environment
  // (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".
  std::string source;
};

// Credentials from `file` if not empty, else from the file named by
// $KATAMARI_S3_CREDENTIALS, else from $AWS_ACCESS_KEY_ID and
// $AWS_SECRET_ACCESS_KEY. The file holds lines `access_key_id = ...` and
// `secret_access_key = ...` (the aws_ prefixed names of ~/.aws/credentials are
// accepted, [section] lines and # comments ignored) and must not be readable by
// group or others (Permission otherwise: "chmod 600 FILE").
Result<S3Credentials> LoadS3Credentials(const std::string& file = "");

struct S3Config {
  std::string endpoint;  // "http://127.0.0.1:7480" (https works as libcurl does)
  std::string bucket;
  std::string prefix;    // "" or "a/b": keys become PREFIX/KEY in the bucket
  std::string region = "us-east-1";
  S3Credentials credentials;
  int max_attempts = 5;                          // per request, including the first
  std::chrono::milliseconds first_backoff{100};  // doubled per retry, plus jitter
  std::chrono::milliseconds max_backoff{2000};
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};  // whole request, per attempt
  std::chrono::milliseconds low_speed_time{10000};   // below 1 byte/s this long: failed
  std::chrono::milliseconds retry_deadline{15000};   // no retry starts after this, per call
  int max_parallel = 16;                             // GetMany's requests in flight
};

class S3ObjectStore : public ObjectStore {
 public:
  // Checks the config (endpoint scheme, bucket name, prefix as a key, keys
  // present); does not contact the server.
  static Result<std::unique_ptr<S3ObjectStore>> Open(S3Config config);

  // PUT of the bucket itself. OK if it already exists and is ours.
  virtual Status CreateBucket() = 0;
};

}  // namespace katamari

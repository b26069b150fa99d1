// Shared by the ObjectStore tests: the S3 server the scale suite started, if any.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "store/s3_object_store.h"

namespace katamari::testing_util {

// $KATAMARI_TEST_S3_ENDPOINT (tests/scale/servers.sh exports it), or "".
inline std::string TestS3Endpoint() {
  const char* e = std::getenv("KATAMARI_TEST_S3_ENDPOINT");
  return e != nullptr ? e : "";
}

// A config for a fresh bucket on the test server (credentials from
// $KATAMARI_TEST_S3_CREDENTIALS). Fails the test if they cannot be read.
inline S3Config TestS3Config() {
  static std::atomic<int> n{0};
  S3Config c;
  c.endpoint = TestS3Endpoint();
  c.bucket = "kt-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" +
             std::to_string(std::random_device{}() % 100000);
  c.prefix = "data/p1";
  const char* f = std::getenv("KATAMARI_TEST_S3_CREDENTIALS");
  auto creds = LoadS3Credentials(f != nullptr ? f : "");
  EXPECT_TRUE(creds.ok()) << creds.status().ToString();
  if (creds.ok()) c.credentials = *creds;
  return c;
}

// Opens `c` and creates its bucket.
inline std::unique_ptr<S3ObjectStore> OpenTestS3(S3Config c) {
  auto s = S3ObjectStore::Open(std::move(c));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return nullptr;
  Status st = (*s)->CreateBucket();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return std::move(s).value();
}

}  // namespace katamari::testing_util

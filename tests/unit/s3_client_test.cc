// The S3 client's own rules: credentials loading, the XML it parses, bounded
// retries (against a fake HTTP server on loopback), and, when the scale suite
// names a real radosgw, a wrong secret and the server going away mid-way.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "store/s3_object_store.h"
#include "store/s3_xml.h"
#include "tests/unit/object_store_test.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::TempDir;

std::string WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(S3CredentialsTest, FromAFileOfMode600) {
  TempDir d("s3cred");
  std::string f = WriteFile(d.path() + "/c",
                            "# test keys\n[default]\naws_access_key_id = AKID\n"
                            "secret_access_key=s3cr3t \n",
                            0600);
  auto c = LoadS3Credentials(f);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "s3cr3t");
  EXPECT_EQ(c->source, "file " + f);
}

TEST(S3CredentialsTest, AFileOthersCanReadIsRefused) {
  TempDir d("s3cred");
  std::string f = WriteFile(d.path() + "/c", "access_key_id = A\nsecret_access_key = S\n", 0644);
  auto c = LoadS3Credentials(f);
  EXPECT_EQ(c.status().code(), Status::Code::kPermission);
  EXPECT_NE(c.status().message().find("chmod 600 " + f), std::string::npos)
      << c.status().message();
}

TEST(S3CredentialsTest, AFileWithoutTheSecretIsRefused) {
  TempDir d("s3cred");
  std::string f = WriteFile(d.path() + "/c", "access_key_id = A\n", 0600);
  auto c = LoadS3Credentials(f);
  EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("secret_access_key"), std::string::npos);
  EXPECT_EQ(LoadS3Credentials(d.path() + "/none").status().code(), Status::Code::kNotFound);
}

TEST(S3CredentialsTest, FromTheEnvironment) {
  TempDir d("s3cred");
  std::string f = WriteFile(d.path() + "/c", "access_key_id = FILEKEY\nsecret_access_key = S\n",
                            0600);
  ::unsetenv("KATAMARI_S3_CREDENTIALS");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto none = LoadS3Credentials();
  EXPECT_EQ(none.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(none.status().message().find("KATAMARI_S3_CREDENTIALS"), std::string::npos);
  EXPECT_NE(none.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  ::setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
  auto env = LoadS3Credentials();
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  EXPECT_EQ(env->access_key_id, "ENVKEY");
  EXPECT_NE(env->source.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  ::setenv("KATAMARI_S3_CREDENTIALS", f.c_str(), 1);  // the file wins over the keys
  auto file = LoadS3Credentials();
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->access_key_id, "FILEKEY");
  ::unsetenv("KATAMARI_S3_CREDENTIALS");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}

TEST(S3XmlTest, ListReplyAndErrors) {
  ObjectListPage page;
  ASSERT_TRUE(ParseS3ListReply(
                  "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/"
                  "doc/2006-03-01/\"><Name>b</Name><IsTruncated>true</IsTruncated>"
                  "<Contents><Key>p/a&amp;b</Key><Size>12</Size><ETag>\"x\"</ETag></Contents>"
                  "<Contents><Key>p/c</Key><Size>0</Size></Contents>"
                  "<NextContinuationToken>tok=1</NextContinuationToken></ListBucketResult>",
                  &page)
                  .ok());
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].key, "p/a&b");
  EXPECT_EQ(page.objects[0].size, 12u);
  EXPECT_EQ(page.objects[1].key, "p/c");
  EXPECT_EQ(page.next_token, "tok=1");
  ObjectListPage last;
  ASSERT_TRUE(ParseS3ListReply("<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "<NextContinuationToken>x</NextContinuationToken>"
                               "</ListBucketResult>",
                               &last)
                  .ok());
  EXPECT_TRUE(last.next_token.empty());
  ObjectListPage bad;
  EXPECT_EQ(ParseS3ListReply("<ListBucketResult><Contents>", &bad).code(),
            Status::Code::kCorruption);
  EXPECT_EQ(ParseS3ListReply("<Other/>", &bad).code(), Status::Code::kCorruption);
  EXPECT_EQ(ParseS3ListReply("<ListBucketResult><IsTruncated>true</IsTruncated>"
                             "</ListBucketResult>", &bad).code(),
            Status::Code::kCorruption);
  EXPECT_EQ(ParseS3ListReply("<ListBucketResult><Contents><Key>a</Key><Size>1x</Size>"
                             "</Contents></ListBucketResult>", &bad).code(),
            Status::Code::kCorruption);
  EXPECT_EQ(ParseS3Error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>"),
            "NoSuchKey: gone");
  EXPECT_EQ(ParseS3Error("not xml"), "");
}

// An HTTP/1.1 server on 127.0.0.1 that answers the n-th connection with
// statuses[n] (the last one repeats), `delay` after reading the request, and
// closes it. Each connection has its own thread, so it sees how many requests
// a client keeps in flight at once.
class FakeHttpServer {
 public:
  explicit FakeHttpServer(std::vector<int> statuses,
                          std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : statuses_(std::move(statuses)), delay_(delay) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    for (std::thread& t : workers_) t.join();
    ::close(fd_);
  }
  int max_in_flight() const { return max_in_flight_.load(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void Serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      size_t n = static_cast<size_t>(connections_++);
      workers_.emplace_back([this, c, n] { Answer(c, n); });
    }
  }
  void Answer(int c, size_t n) {
    int status = statuses_[std::min(n, statuses_.size() - 1)];
    ReadRequest(c);
    int now = ++in_flight_;
    int seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(delay_);
    --in_flight_;
    std::string body = status == 200   ? "hello"
                       : status == 403 ? "<Error><Code>SignatureDoesNotMatch</Code></Error>"
                                       : "<Error><Code>ServiceUnavailable</Code></Error>";
    std::string reply = "HTTP/1.1 " + std::to_string(status) +
                        " X\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body;
    [[maybe_unused]] ssize_t w = ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(c);
  }
  static void ReadRequest(int c) {
    std::string req;
    char buf[4096];
    size_t need = std::string::npos;
    while (need == std::string::npos || req.size() < need) {
      ssize_t r = ::read(c, buf, sizeof buf);
      if (r <= 0) return;
      req.append(buf, static_cast<size_t>(r));
      size_t end = req.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        size_t cl = 0, p = req.find("Content-Length: ");
        if (p != std::string::npos && p < end) cl = std::stoul(req.substr(p + 16));
        need = end + 4 + cl;
      }
    }
  }

  std::vector<int> statuses_;
  std::chrono::milliseconds delay_;
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
  std::vector<std::thread> workers_;  // only the accept thread adds to it
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

S3Config FakeConfig(const std::string& endpoint, int attempts) {
  S3Config c;
  c.endpoint = endpoint;
  c.bucket = "bkt";
  c.credentials = {"AKID", "not-a-real-secret", "file /etc/test.cred"};
  c.max_attempts = attempts;
  c.first_backoff = std::chrono::milliseconds(20);
  c.connect_timeout = std::chrono::milliseconds(2000);
  c.request_timeout = std::chrono::milliseconds(5000);
  return c;
}

TEST(S3RetryTest, RetriesA503ThenSucceeds) {
  FakeHttpServer server({503, 503, 200});
  auto s = S3ObjectStore::Open(FakeConfig(server.endpoint(), 5));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto got = (*s)->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "hello");
  EXPECT_EQ(server.connections(), 3);
}

TEST(S3ParallelTest, GetManyKeepsRequestsInFlightTogether) {
  FakeHttpServer server({200}, std::chrono::milliseconds(300));
  S3Config c = FakeConfig(server.endpoint(), 1);
  c.max_parallel = 4;
  auto s = S3ObjectStore::Open(c);
  ASSERT_TRUE(s.ok());
  std::vector<ObjectRange> ranges;
  for (int i = 0; i < 8; ++i) ranges.push_back({"k" + std::to_string(i), 0, 5});
  auto t0 = std::chrono::steady_clock::now();
  auto got = (*s)->GetMany(ranges);
  auto took = std::chrono::steady_clock::now() - t0;
  for (auto& g : got) {
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(*g, "hello");
  }
  EXPECT_EQ(server.max_in_flight(), 4);  // max_parallel at once, never more
  EXPECT_EQ(server.connections(), 8);
  EXPECT_LT(took, std::chrono::milliseconds(8 * 300));  // 2 rounds of 300 ms, not 8
}

TEST(S3RetryTest, GivesUpAfterBoundedAttempts) {
  FakeHttpServer server({503});
  auto s = S3ObjectStore::Open(FakeConfig(server.endpoint(), 3));
  ASSERT_TRUE(s.ok());
  Status st = (*s)->Put("k", "data");
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_NE(st.message().find("after 3 attempts"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("503"), std::string::npos) << st.message();
  EXPECT_EQ(server.connections(), 3);
  // A batch retries each failed range on its own budget too.
  auto many = (*s)->GetMany({{"a", 0, 5}, {"b", 0, 5}});
  EXPECT_EQ(many[0].status().code(), Status::Code::kIOError);
  EXPECT_EQ(many[1].status().code(), Status::Code::kIOError);
  EXPECT_EQ(server.connections(), 3 + 2 * 3);
}

// A server that accepts and then sends nothing is given up on after the
// low-speed time, and retries stop at the call's deadline: seconds, not the
// attempts times the request timeout.
TEST(S3RetryTest, AStalledServerIsGivenUpOnWithinTheDeadline) {
  FakeHttpServer server({200}, std::chrono::milliseconds(4000));
  S3Config c = FakeConfig(server.endpoint(), 5);
  c.request_timeout = std::chrono::milliseconds(60000);
  c.low_speed_time = std::chrono::milliseconds(1000);
  c.retry_deadline = std::chrono::milliseconds(1500);
  auto s = S3ObjectStore::Open(c);
  ASSERT_TRUE(s.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto got = (*s)->Get("k", 0, 10);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got.status().code(), Status::Code::kIOError) << got.status().ToString();
  EXPECT_LT(took, std::chrono::milliseconds(4000));
  EXPECT_LE(server.connections(), 2);
}

TEST(S3RetryTest, AForbiddenAnswerIsNotRetriedAndNamesTheCredentials) {
  FakeHttpServer server({403});
  auto s = S3ObjectStore::Open(FakeConfig(server.endpoint(), 5));
  ASSERT_TRUE(s.ok());
  Status st = (*s)->Put("k", "data");
  EXPECT_EQ(st.code(), Status::Code::kPermission);
  EXPECT_NE(st.message().find("file /etc/test.cred"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("SignatureDoesNotMatch"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("not-a-real-secret"), std::string::npos) << st.message();
  EXPECT_EQ(server.connections(), 1);
}

TEST(S3RetryTest, NobodyListeningIsAnIOErrorAfterBoundedTime) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // a port that was free a moment ago
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  std::string endpoint = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto s = S3ObjectStore::Open(FakeConfig(endpoint, 3));
  ASSERT_TRUE(s.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto got = (*s)->Get("k", 0, 10);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got.status().code(), Status::Code::kIOError);
  EXPECT_NE(got.status().message().find("after 3 attempts"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("127.0.0.1:"), std::string::npos);
  EXPECT_GE(took, std::chrono::milliseconds(20 + 40));  // it did back off
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(S3ConfigTest, BadConfigsAreRefusedBeforeAnyRequest) {
  S3Config c = FakeConfig("127.0.0.1:7480", 1);
  EXPECT_EQ(S3ObjectStore::Open(c).status().code(), Status::Code::kInvalidArgument);
  c = FakeConfig("http://127.0.0.1:7480/", 1);
  c.bucket = "Bad_Name";
  EXPECT_EQ(S3ObjectStore::Open(c).status().code(), Status::Code::kInvalidArgument);
  c.bucket = "ok-name";
  c.prefix = "a//b";
  EXPECT_EQ(S3ObjectStore::Open(c).status().code(), Status::Code::kInvalidArgument);
  c.prefix = "a/b";
  c.credentials.secret_access_key.clear();
  EXPECT_EQ(S3ObjectStore::Open(c).status().code(), Status::Code::kInvalidArgument);
}

// ---- against the real radosgw of the scale suite

class RealS3Test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing_util::TestS3Endpoint().empty()) {
      GTEST_SKIP() << "no S3 server: KATAMARI_TEST_S3_ENDPOINT is not set";
    }
  }
};

TEST_F(RealS3Test, AWrongSecretOrKeyIsPermissionDeniedNamingTheCredentials) {
  S3Config good = testing_util::TestS3Config();
  auto store = testing_util::OpenTestS3(good);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("k", "v").ok());
  for (int which = 0; which < 2; ++which) {
    S3Config bad = good;
    (which == 0 ? bad.credentials.secret_access_key : bad.credentials.access_key_id) += "X";
    auto s = S3ObjectStore::Open(bad);
    ASSERT_TRUE(s.ok());
    Status put = (*s)->Put("k2", "v");
    EXPECT_EQ(put.code(), Status::Code::kPermission) << put.ToString();
    EXPECT_NE(put.message().find(good.credentials.source), std::string::npos) << put.message();
    EXPECT_EQ(put.message().find(bad.credentials.secret_access_key), std::string::npos);
    EXPECT_EQ((*s)->Get("k").status().code(), Status::Code::kPermission);
  }
  EXPECT_EQ(store->Head("k2").status().code(), Status::Code::kNotFound);
}

TEST_F(RealS3Test, ServerStoppedMidwayGivesBoundedErrorsThenRecovers) {
  const char* stop = std::getenv("KATAMARI_TEST_S3_STOP");
  const char* start = std::getenv("KATAMARI_TEST_S3_START");
  if (stop == nullptr || start == nullptr) GTEST_SKIP() << "KATAMARI_TEST_S3_STOP/START unset";
  S3Config c = testing_util::TestS3Config();
  c.max_attempts = 3;
  c.first_backoff = std::chrono::milliseconds(100);
  auto store = testing_util::OpenTestS3(c);
  ASSERT_NE(store, nullptr);
  std::string data = testing_util::RandomBytes(300000, 7);
  ASSERT_TRUE(store->Put("before", data).ok());
  ASSERT_EQ(std::system(stop), 0) << stop;
  auto t0 = std::chrono::steady_clock::now();
  auto got = store->Get("before", 10, 1000);
  Status put = store->Put("during", "x");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(got.status().code(), Status::Code::kIOError) << got.status().ToString();
  EXPECT_NE(got.status().message().find("after 3 attempts"), std::string::npos)
      << got.status().message();
  EXPECT_EQ(put.code(), Status::Code::kIOError) << put.ToString();
  EXPECT_LT(took, std::chrono::seconds(10));
  int started = std::system(start);
  ASSERT_EQ(started, 0) << start;
  // The same store object reconnects by itself: nothing committed was lost.
  auto again = store->Get("before", 10, 1000);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, data.substr(10, 1000));
  ASSERT_TRUE(store->Put("after", "y").ok());
  EXPECT_EQ(store->Head("during").status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace katamari

// S3 over libcurl: SigV4 by CURLOPT_AWS_SIGV4, parallel ranges by the multi
// interface, bounded retries with backoff.
#include "store/s3_object_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

#include "store/s3_xml.h"
#include "store/sha256.h"

namespace katamari {
namespace {

// SHA-256 of the empty string: the x-amz-content-sha256 of a body-less request.
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One HTTP request and, after Perform, its outcome.
struct Request {
  std::string method;  // GET PUT HEAD DELETE
  std::string url;
  std::vector<std::string> headers;
  std::string_view body;  // PUT only
  std::string what;       // for messages: "GET chunks/ab" (no secrets)

  std::unique_ptr<curl_slist, SlistDeleter> header_list;
  size_t body_pos = 0;
  CURLcode curl = CURLE_OK;
  char curl_error[CURL_ERROR_SIZE] = {};
  long http = 0;
  curl_off_t content_length = -1;
  std::string response;
  int attempts = 0;

  bool Retryable() const {
    switch (curl) {
      case CURLE_OK:
        return http == 429 || http == 500 || http == 502 || http == 503 || http == 504;
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_SEND_ERROR:
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        return true;
      default:
        return false;
    }
  }
};

size_t OnWrite(char* data, size_t size, size_t n, void* ud) {
  static_cast<Request*>(ud)->response.append(data, size * n);
  return size * n;
}

size_t OnRead(char* buf, size_t size, size_t n, void* ud) {
  auto* r = static_cast<Request*>(ud);
  size_t k = std::min(size * n, r->body.size() - r->body_pos);
  std::copy_n(r->body.data() + r->body_pos, k, buf);
  r->body_pos += k;
  return k;
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class S3Impl final : public S3ObjectStore {
 public:
  explicit S3Impl(S3Config c)
      : cfg_(std::move(c)), sigv4_("aws:amz:" + cfg_.region + ":s3") {}

  ~S3Impl() override {
    for (CURL* h : pool_) curl_easy_cleanup(h);
  }

  Status CreateBucket() override {
    Request r = Make("PUT", BucketUrl(), "create bucket " + cfg_.bucket);
    r.headers.push_back(std::string("x-amz-content-sha256: ") + kEmptySha256);
    Run({&r});
    if (r.curl == CURLE_OK && r.http == 409 &&
        r.response.find("BucketAlreadyOwnedByYou") != std::string::npos) {
      return Status::OK();
    }
    return Check(r);
  }

  Status Put(std::string_view key, std::string_view data, PutMode mode) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    Request r = Make("PUT", ObjectUrl(key), "PUT " + std::string(key));
    r.body = data;
    r.headers.push_back("x-amz-content-sha256: " + Sha256Of(data).Hex());
    if (mode == PutMode::kCreateOnly) r.headers.push_back("If-None-Match: *");
    Run({&r});
    if (r.curl == CURLE_OK && r.http == 412) {
      // After a retried attempt this may be our own earlier PUT that landed;
      // a create-only caller writes immutable content, so either way it is there.
      return Status::Exists("object '" + std::string(key) + "' already exists in " + Describe());
    }
    return Check(r);
  }

  Result<std::string> Get(std::string_view key, uint64_t offset, uint64_t length) override {
    auto all = GetMany({ObjectRange{std::string(key), offset, length}});
    return std::move(all[0]);
  }

  std::vector<Result<std::string>> GetMany(const std::vector<ObjectRange>& ranges) override {
    std::vector<Result<std::string>> out(ranges.size(), Result<std::string>(std::string()));
    std::vector<Request> reqs;
    std::vector<size_t> index;  // reqs[i] answers ranges[index[i]]
    reqs.reserve(ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      const ObjectRange& g = ranges[i];
      if (Status st = ValidateObjectKey(g.key); !st.ok()) {
        out[i] = st;
        continue;
      }
      if (g.length == 0) {  // nothing to read, but a missing key is still NotFound
        auto size = Head(g.key);
        if (!size.ok()) out[i] = size.status();
        continue;
      }
      Request r = Make("GET", ObjectUrl(g.key), "GET " + g.key);
      if (g.offset != 0 || g.length != kToEnd) {
        std::string range = "Range: bytes=" + std::to_string(g.offset) + "-";
        if (g.length != kToEnd && g.length <= UINT64_MAX - g.offset) {
          range += std::to_string(g.offset + g.length - 1);
        }
        r.headers.push_back(range);
      }
      reqs.push_back(std::move(r));
      index.push_back(i);
    }
    std::vector<Request*> ptrs;
    for (Request& r : reqs) ptrs.push_back(&r);
    Run(ptrs);
    for (size_t j = 0; j < reqs.size(); ++j) {
      Request& r = reqs[j];
      const ObjectRange& g = ranges[index[j]];
      if (r.curl == CURLE_OK && r.http == 416) continue;  // offset at/past the end: empty
      if (Status st = Check(r); !st.ok()) {
        out[index[j]] = st;
      } else if (r.http == 200 && (g.offset != 0 || g.length != kToEnd)) {
        // A server that ignores Range sends the whole object: cut it here.
        out[index[j]] = g.offset >= r.response.size()
                            ? std::string()
                            : r.response.substr(g.offset, g.length);
      } else {
        out[index[j]] = std::move(r.response);
      }
    }
    return out;
  }

  Result<uint64_t> Head(std::string_view key) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    Request r = Make("HEAD", ObjectUrl(key), "HEAD " + std::string(key));
    Run({&r});
    RETURN_IF_ERROR(Check(r));
    if (r.content_length < 0) {
      return Status::IOError("S3 HEAD " + std::string(key) + " at " + Describe() +
                             ": no Content-Length in the reply");
    }
    return static_cast<uint64_t>(r.content_length);
  }

  Status Delete(std::string_view key) override {
    RETURN_IF_ERROR(ValidateObjectKey(key));
    Request r = Make("DELETE", ObjectUrl(key), "DELETE " + std::string(key));
    Run({&r});
    if (r.curl == CURLE_OK && r.http == 404) return Status::OK();
    return Check(r);
  }

  Result<ObjectListPage> List(std::string_view prefix, std::string_view token,
                              size_t max_keys) override {
    if (max_keys == 0 || max_keys > 1000) {
      return Status::InvalidArgument("list max_keys must be 1..1000, not " +
                                     std::to_string(max_keys));
    }
    std::string full = KeyPrefix() + std::string(prefix);
    // libcurl signs the query as given: it must already be sorted by name and
    // percent-encoded the way SigV4 wants (curl_easy_escape does that).
    std::string q;
    if (!token.empty()) q += "continuation-token=" + Escape(token) + "&";
    q += "list-type=2&max-keys=" + std::to_string(max_keys) + "&prefix=" + Escape(full);
    Request r = Make("GET", BucketUrl() + "?" + q, "LIST " + std::string(prefix));
    Run({&r});
    RETURN_IF_ERROR(Check(r));
    ObjectListPage page;
    Status st = ParseS3ListReply(r.response, &page);
    if (!st.ok()) return Status::IOError(st.message() + " from " + Describe());
    size_t strip = KeyPrefix().size();
    for (ObjectInfo& o : page.objects) {
      if (o.key.compare(0, full.size(), full) != 0) {
        return Status::IOError("S3 listing of '" + full + "' at " + Describe() +
                               " returned key '" + o.key + "' outside the prefix");
      }
      o.key.erase(0, strip);
    }
    return page;
  }

  std::string Describe() const override {
    std::string host = cfg_.endpoint.substr(cfg_.endpoint.find("://") + 3);
    return "s3://" + host + "/" + cfg_.bucket + (cfg_.prefix.empty() ? "" : "/" + cfg_.prefix);
  }

 private:
  std::string BucketUrl() const { return cfg_.endpoint + "/" + cfg_.bucket; }
  std::string KeyPrefix() const { return cfg_.prefix.empty() ? "" : cfg_.prefix + "/"; }
  // Keys hold only [A-Za-z0-9._-/] (ValidateObjectKey): nothing to escape.
  std::string ObjectUrl(std::string_view key) const {
    return BucketUrl() + "/" + KeyPrefix() + std::string(key);
  }

  static std::string Escape(std::string_view s) {
    char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
    std::string out = e != nullptr ? e : "";
    curl_free(e);
    return out;
  }

  Request Make(std::string method, std::string url, std::string what) const {
    Request r;
    r.method = std::move(method);
    r.url = std::move(url);
    r.what = std::move(what);
    if (r.method != "PUT") r.headers.push_back(std::string("x-amz-content-sha256: ") + kEmptySha256);
    return r;
  }

  CURL* Take() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!pool_.empty()) {
        CURL* h = pool_.back();
        pool_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Give(CURL* h) {
    std::lock_guard<std::mutex> l(mu_);
    pool_.push_back(h);
  }

  void Setup(CURL* h, Request* r) const {
    curl_easy_reset(h);
    r->curl = CURLE_OK;
    r->curl_error[0] = '\0';
    r->http = 0;
    r->content_length = -1;
    r->response.clear();
    r->body_pos = 0;
    // No "Expect:" line to suppress 100-continue: curl 7.88 signs such a
    // header-removal line as an empty header it then does not send, and every
    // such PUT fails with SignatureDoesNotMatch.
    curl_slist* l = nullptr;
    for (const std::string& s : r->headers) l = curl_slist_append(l, s.c_str());
    r->header_list.reset(l);
    curl_easy_setopt(h, CURLOPT_URL, r->url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4_.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, cfg_.credentials.access_key_id.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, cfg_.credentials.secret_access_key.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(cfg_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(cfg_.request_timeout.count()));
    // A stalled server (connected, sending nothing) is given up on after
    // low_speed_time below 1 byte/s, not after the whole request_timeout.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     static_cast<long>(std::max<int64_t>(1, cfg_.low_speed_time.count() / 1000)));
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_PRIVATE, r);
    if (r->method == "PUT") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(h, CURLOPT_READDATA, r);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
      // curl sends "Expect: 100-continue" before a PUT body and, by default,
      // waits 1 s for a server that does not answer it; radosgw answers at once.
      curl_easy_setopt(h, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
    } else if (r->method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (r->method == "DELETE") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
  }

  static void Finish(CURL* h, Request* r, CURLcode code) {
    r->curl = code;
    r->attempts++;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->http);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &r->content_length);
  }

  // One attempt of every request, at most max_parallel in flight.
  void PerformAll(const std::vector<Request*>& reqs) {
    if (reqs.size() == 1) {
      CURL* h = Take();
      Setup(h, reqs[0]);
      Finish(h, reqs[0], curl_easy_perform(h));
      Give(h);
      return;
    }
    CURLM* m = curl_multi_init();
    size_t next = 0, in_flight = 0;
    size_t limit = static_cast<size_t>(std::max(1, cfg_.max_parallel));
    while (next < reqs.size() || in_flight > 0) {
      while (next < reqs.size() && in_flight < limit) {
        CURL* h = Take();
        Setup(h, reqs[next++]);
        curl_multi_add_handle(m, h);
        ++in_flight;
      }
      int running = 0;
      curl_multi_perform(m, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* h = msg->easy_handle;
        Request* r = nullptr;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, &r);
        Finish(h, r, msg->data.result);
        curl_multi_remove_handle(m, h);
        Give(h);
        --in_flight;
      }
      if (in_flight > 0) curl_multi_poll(m, nullptr, 0, 1000, nullptr);
    }
    curl_multi_cleanup(m);
  }

  // Every request until it gets an answer that is not worth retrying, or
  // max_attempts are spent. Backoff doubles from first_backoff, with jitter.
  void Run(std::vector<Request*> pending) {
    std::minstd_rand rng(std::random_device{}());
    auto backoff = cfg_.first_backoff;
    const auto deadline = std::chrono::steady_clock::now() + cfg_.retry_deadline;
    for (int attempt = 1;; ++attempt) {
      PerformAll(pending);
      std::vector<Request*> again;
      for (Request* r : pending) {
        if (r->Retryable()) again.push_back(r);
      }
      if (again.empty() || attempt >= cfg_.max_attempts) return;
      auto jitter = std::chrono::milliseconds(rng() % (backoff.count() / 2 + 1));
      // No retry that would start after the call's deadline.
      if (std::chrono::steady_clock::now() + backoff + jitter >= deadline) return;
      std::this_thread::sleep_for(backoff + jitter);
      backoff = std::min(backoff * 2, cfg_.max_backoff);
      pending = std::move(again);
    }
  }

  Status Check(const Request& r) const {
    std::string where = "S3 " + r.what + " at " + Describe();
    std::string tries = r.attempts > 1 ? " after " + std::to_string(r.attempts) + " attempts" : "";
    if (r.curl != CURLE_OK) {
      std::string detail = r.curl_error[0] != '\0' ? r.curl_error : curl_easy_strerror(r.curl);
      return Status::IOError(where + " failed" + tries + ": " + detail +
                             (r.Retryable() ? " (is the server up and reachable?)" : ""));
    }
    if (r.http >= 200 && r.http < 300) return Status::OK();
    std::string s3err = ParseS3Error(r.response);
    std::string code = "HTTP " + std::to_string(r.http) + (s3err.empty() ? "" : " " + s3err);
    if (r.http == 404) {
      if (s3err.rfind("NoSuchBucket", 0) == 0) {
        return Status::NotFound(where + ": no bucket '" + cfg_.bucket + "' (" + code + ")");
      }
      return Status::NotFound("no object '" + r.what.substr(r.what.find(' ') + 1) + "' in " +
                              Describe());
    }
    if (r.http == 403) {
      return Status::Permission(where + " refused the credentials from " +
                                cfg_.credentials.source + " (" + code +
                                "): check access_key_id and secret_access_key there");
    }
    return Status::IOError(where + " failed" + tries + ": " + code);
  }

  const S3Config cfg_;
  const std::string sigv4_;
  std::mutex mu_;
  std::vector<CURL*> pool_;  // idle easy handles (each keeps its connections)
};

bool ValidBucketName(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

}  // namespace

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(S3Config c) {
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (c.endpoint.rfind("http://", 0) != 0 && c.endpoint.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("S3 endpoint '" + c.endpoint +
                                   "' must start with http:// or https://");
  }
  if (!ValidBucketName(c.bucket)) {
    return Status::InvalidArgument("S3 bucket name '" + c.bucket +
                                   "' must be 3..63 characters of a-z, 0-9, '.' and '-'");
  }
  if (!c.prefix.empty()) {
    if (Status st = ValidateObjectKey(c.prefix); !st.ok()) {
      return Status::InvalidArgument("S3 prefix: " + st.message());
    }
  }
  if (c.credentials.access_key_id.empty() || c.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("S3 credentials are empty (" + c.credentials.source + ")");
  }
  if (c.max_attempts < 1) c.max_attempts = 1;
  InitCurlOnce();
  return std::unique_ptr<S3ObjectStore>(new S3Impl(std::move(c)));
}

}  // namespace katamari

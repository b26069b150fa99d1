// Data backends (data_backend.h): URLs, opening the store, its `format` object.
#include "store/data_backend.h"

#include <cstdlib>

#include "store/s3_object_store.h"

namespace katamari {

namespace {

constexpr char kFormatKey[] = "format";
constexpr char kFormatHead[] = "katamari-data 1\n";

struct S3Url {
  std::string host_port, bucket, prefix;
};

Status ParseS3(const std::string& url, S3Url* out) {
  const std::string rest = url.substr(5);
  const size_t slash = rest.find('/');
  if (rest.substr(0, slash).find('@') != std::string::npos) {
    // Keys in the URL would be stored in the catalog and printed: refused
    // without repeating the URL.
    return Status::InvalidArgument(
        "--data: the s3 URL holds credentials (USER:SECRET@); give the URL without them and "
        "the keys in a file with --data-credentials FILE (or the environment)");
  }
  const auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("--data " + url + ": " + why +
                                   "; write s3://HOST:PORT/BUCKET/PREFIX, e.g. "
                                   "s3://127.0.0.1:7480/katamari/photos");
  };
  if (slash == std::string::npos || slash == 0) return bad("no bucket after the host");
  out->host_port = rest.substr(0, slash);
  if (out->host_port.find(':') == std::string::npos) return bad("no port after the host");
  std::string path = rest.substr(slash + 1);
  while (!path.empty() && path.back() == '/') path.pop_back();
  const size_t s2 = path.find('/');
  out->bucket = path.substr(0, s2);
  out->prefix = s2 == std::string::npos ? "" : path.substr(s2 + 1);
  if (out->bucket.empty()) return bad("no bucket after the host");
  if (!out->prefix.empty()) {
    Status st = ValidateObjectKey(out->prefix);
    if (!st.ok()) return bad("the prefix " + st.message());
  }
  return Status::OK();
}

}  // namespace

Status ValidateDataUrl(const std::string& url) {
  if (url.rfind("s3://", 0) == 0) {
    S3Url u;
    return ParseS3(url, &u);
  }
  if (url.rfind("file://", 0) == 0) {
    if (url.size() <= 8 || url[7] != '/') {
      return Status::InvalidArgument("--data " + url +
                                     ": a file URL needs an absolute directory, e.g. "
                                     "file:///srv/katamari-data");
    }
    return Status::OK();
  }
  return Status::InvalidArgument("--data " + url +
                                 ": unknown kind of store; use s3://HOST:PORT/BUCKET/PREFIX "
                                 "or file:///DIRECTORY");
}

Result<std::unique_ptr<ObjectStore>> OpenDataStore(const std::string& url,
                                                   const std::string& credentials) {
  RETURN_IF_ERROR(ValidateDataUrl(url));
  if (url.rfind("file://", 0) == 0) return NewLocalObjectStore(url.substr(7));
  S3Url u;
  RETURN_IF_ERROR(ParseS3(url, &u));
  S3Config c;
  c.endpoint = "http://" + u.host_port;
  c.bucket = u.bucket;
  c.prefix = u.prefix;
  if (const char* r = std::getenv("AWS_REGION"); r && *r) c.region = r;
  Result<S3Credentials> creds = LoadS3Credentials(credentials);
  if (!creds.ok()) {
    const Status& st = creds.status();
    if (st.message().find("; ") != std::string::npos) return st;
    const std::string msg = st.message() +
                            "; give the file of access_key_id and secret_access_key "
                            "(init --data-credentials FILE, or $KATAMARI_S3_CREDENTIALS), or "
                            "set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY";
    if (st.IsNotFound()) return Status::NotFound(msg);
    if (st.code() == Status::Code::kPermission) return Status::Permission(msg);
    return Status::InvalidArgument(msg);
  }
  c.credentials = std::move(*creds);
  ASSIGN_OR_RETURN(std::unique_ptr<S3ObjectStore> s3, S3ObjectStore::Open(std::move(c)));
  return std::unique_ptr<ObjectStore>(std::move(s3));
}

Status InitDataStore(ObjectStore& store, const std::string& id) {
  if (auto* s3 = dynamic_cast<S3ObjectStore*>(&store)) RETURN_IF_ERROR(s3->CreateBucket());
  Status st = store.Put(kFormatKey, std::string(kFormatHead) + "id " + id + "\n",
                        ObjectStore::PutMode::kCreateOnly);
  if (st.code() == Status::Code::kExists) {
    return Status::Exists(store.Describe() +
                          " already holds a bucket's data; give --data another prefix");
  }
  return st;
}

Status CheckDataStore(ObjectStore& store, const std::string& id) {
  Result<std::string> f = store.Get(kFormatKey);
  if (!f.ok() && f.status().IsNotFound()) {
    return Status::Corruption(store.Describe() + " holds no bucket data (no `format` object); "
                              "check the URL this bucket was created with");
  }
  if (!f.ok()) return f.status();
  if (f->rfind(kFormatHead, 0) != 0) {
    return Status::NewerFormat(store.Describe() +
                               " holds data in a layout this version does not know; "
                               "upgrade katamari");
  }
  if (f->find("id " + id + "\n") == std::string::npos) {
    return Status::Corruption(store.Describe() + " holds another bucket's data; "
                              "this bucket's data is elsewhere");
  }
  return Status::OK();
}

}  // namespace katamari

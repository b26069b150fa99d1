// S3 XML replies through libexpat: element paths collected as the parser walks.
#include "store/s3_xml.h"

#include <expat.h>

#include <charconv>
#include <memory>
#include <vector>

namespace katamari {
namespace {

// Collects the text of each element, keyed by its path ("ListBucketResult/
// Contents/Key"); `on_end` sees each finished element.
struct Walker {
  std::vector<std::string> path;
  std::string text;
  virtual ~Walker() = default;
  virtual void OnEnd(const std::string& where, const std::string& value) = 0;

  std::string Where() const {
    std::string w;
    for (const std::string& p : path) w += (w.empty() ? "" : "/") + p;
    return w;
  }
};

// Expat passes names as "ns-uri|local" when namespace-aware; we are not, and
// S3 puts xmlns on the root only, so names are plain local names.
void XMLCALL Start(void* ud, const XML_Char* name, const XML_Char**) {
  auto* w = static_cast<Walker*>(ud);
  w->path.emplace_back(name);
  w->text.clear();
}
void XMLCALL End(void* ud, const XML_Char*) {
  auto* w = static_cast<Walker*>(ud);
  w->OnEnd(w->Where(), w->text);
  w->path.pop_back();
  w->text.clear();
}
void XMLCALL Text(void* ud, const XML_Char* s, int len) {
  static_cast<Walker*>(ud)->text.append(s, static_cast<size_t>(len));
}

struct ParserDeleter {
  void operator()(XML_Parser p) const { XML_ParserFree(p); }
};

Status Run(std::string_view xml, Walker* w, const char* what) {
  std::unique_ptr<XML_ParserStruct, ParserDeleter> p(XML_ParserCreate("UTF-8"));
  if (!p) return Status::IOError("out of memory creating an XML parser");
  XML_SetUserData(p.get(), w);
  XML_SetElementHandler(p.get(), Start, End);
  XML_SetCharacterDataHandler(p.get(), Text);
  if (XML_Parse(p.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE) !=
      XML_STATUS_OK) {
    return Status::Corruption(std::string("S3 sent a ") + what + " that is not XML (" +
                              XML_ErrorString(XML_GetErrorCode(p.get())) + " at line " +
                              std::to_string(XML_GetCurrentLineNumber(p.get())) + ")");
  }
  return Status::OK();
}

struct ListWalker : Walker {
  ObjectListPage* page;
  bool truncated = false;
  bool root_ok = false;
  bool bad_size = false;
  ObjectInfo cur;
  explicit ListWalker(ObjectListPage* p) : page(p) {}
  void OnEnd(const std::string& where, const std::string& v) override {
    if (where == "ListBucketResult") root_ok = true;
    if (where == "ListBucketResult/IsTruncated") truncated = v == "true";
    if (where == "ListBucketResult/NextContinuationToken") page->next_token = v;
    if (where == "ListBucketResult/Contents/Key") cur.key = v;
    if (where == "ListBucketResult/Contents/Size") {
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), cur.size);
      if (ec != std::errc() || ptr != v.data() + v.size()) bad_size = true;
    }
    if (where == "ListBucketResult/Contents") {
      page->objects.push_back(std::move(cur));
      cur = ObjectInfo();
    }
  }
};

struct ErrorWalker : Walker {
  std::string code, message;
  void OnEnd(const std::string& where, const std::string& v) override {
    if (where == "Error/Code") code = v;
    if (where == "Error/Message") message = v;
  }
};

}  // namespace

Status ParseS3ListReply(std::string_view xml, ObjectListPage* page) {
  ListWalker w(page);
  RETURN_IF_ERROR(Run(xml, &w, "listing"));
  if (!w.root_ok) return Status::Corruption("S3 listing reply has no ListBucketResult");
  if (w.bad_size) return Status::Corruption("S3 listing reply has a Size that is no number");
  if (!w.truncated) page->next_token.clear();
  else if (page->next_token.empty()) {
    return Status::Corruption("S3 listing reply is truncated but has no NextContinuationToken");
  }
  return Status::OK();
}

std::string ParseS3Error(std::string_view xml) {
  ErrorWalker w;
  if (!Run(xml, &w, "error").ok() || w.code.empty()) return "";
  return w.message.empty() ? w.code : w.code + ": " + w.message;
}

}  // namespace katamari

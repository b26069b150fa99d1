// ObjectStore: what every implementation shares (key rules, ListAll, GetMany).
#include "store/object_store.h"

namespace katamari {

std::vector<Result<std::string>> ObjectStore::GetMany(const std::vector<ObjectRange>& ranges) {
  std::vector<Result<std::string>> out;
  out.reserve(ranges.size());
  for (const ObjectRange& r : ranges) out.push_back(Get(r.key, r.offset, r.length));
  return out;
}

Result<std::vector<ObjectInfo>> ObjectStore::ListAll(std::string_view prefix) {
  std::vector<ObjectInfo> all;
  std::string token;
  do {
    ASSIGN_OR_RETURN(ObjectListPage page, List(prefix, token));
    // A store that hands back the same token again would loop forever.
    if (!page.next_token.empty() && page.next_token == token) {
      return Status::IOError("listing " + Describe() + " prefix '" + std::string(prefix) +
                             "': the store returned the same continuation token twice");
    }
    for (ObjectInfo& o : page.objects) all.push_back(std::move(o));
    token = std::move(page.next_token);
  } while (!token.empty());
  return all;
}

static bool KeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

Status ValidateObjectKey(std::string_view key) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("object key '" + std::string(key.substr(0, 80)) + "' " +
                                   why);
  };
  if (key.empty()) return bad("is empty");
  if (key.size() > 512) return bad("is longer than 512 bytes");
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    std::string_view comp = key.substr(start, end - start);
    if (comp.empty()) return bad("has an empty component (leading, trailing or double '/')");
    if (comp[0] == '.') return bad("has a component starting with '.'");
    for (char c : comp) {
      if (!KeyChar(c)) return bad("has a byte outside [A-Za-z0-9._-/]");
    }
    start = end + 1;
  }
  return Status::OK();
}

}  // namespace katamari

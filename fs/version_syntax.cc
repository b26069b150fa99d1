#include "fs/version_syntax.h"

#include <cstdint>

#include "store/time_format.h"

namespace katamari::fs {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<uint64_t> ParseVersionNumber(std::string_view text) {
  if (text.empty() || text.size() > 19 || text[0] == '0') return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<VersionName> ParseVersionName(std::string_view name) {
  size_t at = name.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  VersionName out;
  out.base = name.substr(0, at);
  std::string_view rest = name.substr(at + 1);
  if (rest.empty()) {
    out.suffix.kind = VersionSuffix::Kind::kHistory;
  } else if (auto n = ParseVersionNumber(rest)) {
    out.suffix.kind = VersionSuffix::Kind::kNumber;
    out.suffix.value = *n;
  } else if (rest[0] == '-') {
    auto k = ParseVersionNumber(rest.substr(1));
    if (!k) return std::nullopt;
    out.suffix.kind = VersionSuffix::Kind::kBack;
    out.suffix.value = *k;
  } else if (auto t = rest.substr(0, kUnixPrefix.size()) == kUnixPrefix
                          ? ParseUnixTime(rest.substr(kUnixPrefix.size()))
                          : ParseUtcTime(rest)) {
    out.suffix.kind = VersionSuffix::Kind::kTime;
    out.suffix.time_ns = *t;
  } else {
    return std::nullopt;
  }
  return out;
}

Result<std::string> VersionFact(const VersionInfo& v, std::string_view name) {
  if (name.substr(0, kFactPrefix.size()) != kFactPrefix) {
    return Status::NotFound("no such attribute");
  }
  std::string_view fact = name.substr(kFactPrefix.size());
  if (fact == "sha256") return v.sha256.Hex();
  if (fact == "version") return std::to_string(v.version.value);
  if (fact == "stored_size") return std::to_string(v.stored_size);
  if (fact == "mtime") return FormatUtcTime(v.mtime_ns);
  return Status::NotFound("no such attribute");
}

}  // namespace katamari::fs

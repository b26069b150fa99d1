#include "daemon/cli_names.h"

#include <unistd.h>

#include <cstdint>

namespace katamari::cli {
namespace {

// Length of the UTF-8 character at s[i] and its code point; 0 if the bytes
// there are not a well-formed character.
size_t Utf8Char(std::string_view s, size_t i, uint32_t* cp) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b = byte(i);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  uint32_t v = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (byte(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}

bool Printable(uint32_t cp) { return cp >= 0x20 && cp != 0x7f && !(cp >= 0x80 && cp < 0xa0); }

void AppendEscape(std::string& out, unsigned char b) {
  static constexpr char kNamed[] = "abtnvfr";  // \a = 7 ... \r = 13
  if (b >= 7 && b <= 13) {
    out += '\\';
    out += kNamed[b - 7];
    return;
  }
  out += '\\';
  out += static_cast<char>('0' + (b >> 6));
  out += static_cast<char>('0' + ((b >> 3) & 7));
  out += static_cast<char>('0' + (b & 7));
}

}  // namespace

bool StdoutIsTerminal() {
  static const bool tty = isatty(STDOUT_FILENO) == 1;
  return tty;
}

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t len = Utf8Char(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string ShellEscapeName(std::string_view name) {
  bool plain = true;
  uint32_t cp = 0;
  for (size_t i = 0, len; plain && i < name.size(); i += len) {
    len = Utf8Char(name, i, &cp);
    plain = len != 0 && Printable(cp);
  }
  if (plain) return std::string(name);
  std::string out = "'";
  bool in_dollar = false;  // inside $'...' (else inside '...')
  for (size_t i = 0; i < name.size();) {
    size_t len = Utf8Char(name, i, &cp);
    bool printable = len != 0 && Printable(cp);
    if (printable == in_dollar) {  // switch quoting: close one, open the other
      out += printable ? "''" : "'$'";
      in_dollar = !printable;
    }
    if (!printable) {
      for (size_t k = 0; k < (len ? len : 1); ++k) AppendEscape(out, name[i + k]);
      i += len ? len : 1;
    } else if (name[i] == '\'') {
      out += "'\\''";
      ++i;
    } else {
      out.append(name.substr(i, len));
      i += len;
    }
  }
  out += '\'';
  return out;
}

std::string NameForStdout(std::string_view name) {
  return StdoutIsTerminal() ? ShellEscapeName(name) : std::string(name);
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

void PutName(nlohmann::json& obj, const std::string& field, std::string_view name) {
  obj[field] = std::string(name);  // PrintJson replaces bad bytes with U+FFFD
  if (!IsValidUtf8(name)) obj[field + "_base64"] = Base64(name);
}

}  // namespace katamari::cli

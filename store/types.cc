// Digest hex conversion, file kind and codec names.
#include "store/types.h"

namespace katamari {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string Digest::Hex() const {
  std::string s(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kHexDigits[bytes[i] >> 4];
    s[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return s;
}

std::optional<Digest> Digest::FromHex(std::string_view hex) {
  Digest d;
  if (hex.size() != d.bytes.size() * 2) return std::nullopt;
  for (size_t i = 0; i < d.bytes.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

const char* FileKindName(FileKind k) {
  switch (k) {
    case FileKind::kRegular: return "regular file";
    case FileKind::kDirectory: return "directory";
    case FileKind::kSymlink: return "symlink";
    case FileKind::kFifo: return "fifo";
    case FileKind::kSocket: return "socket";
    case FileKind::kCharDevice: return "character device";
    case FileKind::kBlockDevice: return "block device";
  }
  return "unknown kind";
}

const char* CodecName(Codec c) {
  switch (c) {
    case Codec::kNone: return "none";
    case Codec::kZstd: return "zstd";
    case Codec::kZlib: return "zlib";
  }
  return "unknown";
}

std::optional<Codec> ParseCodec(std::string_view name) {
  if (name == "none") return Codec::kNone;
  if (name == "zstd" || name == "zstandard") return Codec::kZstd;
  if (name == "zlib") return Codec::kZlib;
  return std::nullopt;
}

}  // namespace katamari

// Value types shared by the store's public face (bucket.h) and its private parts.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace katamari {

// Distinct integer id types so an inode number is never passed as a version.
template <class Tag>
struct StrongId {
  uint64_t value = 0;
  constexpr StrongId() = default;
  constexpr explicit StrongId(uint64_t v) : value(v) {}
  constexpr auto operator<=>(const StrongId&) const = default;
};
using InodeId = StrongId<struct InodeTag>;     // catalog row id == FUSE inode number
using VersionNo = StrongId<struct VersionTag>; // 1, 2, 3 ... never reused per file
using Seq = StrongId<struct SeqTag>;           // commit sequence number, MVCC clock

inline constexpr InodeId kRootInode{1};

// 32 bytes: a SHA-256 digest, or (encrypted buckets) an HMAC-SHA256 chunk id.
struct Digest {
  std::array<uint8_t, 32> bytes{};
  auto operator<=>(const Digest&) const = default;
  std::string Hex() const;
  // Parses 64 lowercase/uppercase hex chars; nullopt on anything else.
  static std::optional<Digest> FromHex(std::string_view hex);
};
using Sha256 = Digest;
using ChunkId = Digest;

enum class Codec : uint8_t { kNone = 0, kZstd = 1, kZlib = 2 };
const char* CodecName(Codec c);                          // "none", "zstd", "zlib"
std::optional<Codec> ParseCodec(std::string_view name);  // also accepts "zstandard"

// Kinds 4..7 (format 4) are special files: namespace entries without
// content (docs/semantics.md, The live tree): type, mode, owner and, for
// devices, rdev. The kernel opens them itself (a fifo is a pipe, a device
// its driver); the store never holds a version of one.
enum class FileKind : uint8_t {
  kRegular = 1,
  kDirectory = 2,
  kSymlink = 3,
  kFifo = 4,
  kSocket = 5,
  kCharDevice = 6,
  kBlockDevice = 7,
};
inline bool IsSpecial(FileKind k) { return k >= FileKind::kFifo && k <= FileKind::kBlockDevice; }
inline bool IsDevice(FileKind k) {
  return k == FileKind::kCharDevice || k == FileKind::kBlockDevice;
}
// "regular file", "directory", "symlink", "fifo", "socket", "character
// device", "block device" (for messages).
const char* FileKindName(FileKind k);

using Xattrs = std::map<std::string, std::string>;  // name ("user.x") -> value bytes
// Changes to an inode's live xattrs made with another change in one
// transaction: name -> new value, or nullopt to remove it (absent is fine).
using XattrEdits = std::map<std::string, std::optional<std::string>>;

// Settings fixed at `katamari init`, stored in the catalog. Compression and
// level may later be changed for new writes (every chunk records its codec).
struct BucketSettings {
  Codec compression = Codec::kZstd;
  int level = 1;
  uint32_t chunk_min = 16 * 1024;
  uint32_t chunk_avg = 64 * 1024;
  uint32_t chunk_max = 256 * 1024;
  bool versioning = true;
  // A changed chunk may be stored as a zstd patch against the chunk it
  // replaces (docs/chunk-format.md, "Delta chunks"). Set at init.
  bool delta_chunks = true;
  // Encrypted at rest (docs/encryption.md): chunks sealed with AES-256-GCM,
  // keyed chunk ids, sealed SHA-256s and xattr values. Fixed at init; set
  // by Bucket::Create when it is given a key.
  bool encrypted = false;
  // Where chunk data lives (store/data_backend.h): "" = the bucket
  // directory, else an object store URL (s3://..., file:///...) and the
  // credentials file to reach it ("" = the environment). Fixed at init; kept
  // as meta rows (Catalog::GetDataBackend), not in the settings row.
  std::string data_url;
  std::string data_credentials;
};

// Current (mutable) attributes of an inode. For regular files `size` and
// `current_version` describe the newest committed version (0 when none yet);
// a symlink's size is the length of its target, a special file's 0.
struct Attr {
  InodeId ino;
  FileKind kind = FileKind::kRegular;
  uint32_t mode = 0;  // permission bits only (07777); kind is in `kind`
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;  // live names pointing here (dirs: 2 + subdirs)
  uint64_t size = 0;
  uint64_t rdev = 0;  // device kinds: the device number (dev_t, makedev(3)); else 0
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  VersionNo current_version;  // 0 = no version
  // Bytes the content really holds, holes excluded (st_blocks); filled by
  // the mount (fs/), nullopt: count the whole size.
  std::optional<uint64_t> held_bytes;
};

// One immutable version of a regular file.
struct VersionInfo {
  InodeId ino;
  VersionNo version;
  uint64_t size = 0;
  int64_t mtime_ns = 0;        // file mtime recorded with the content
  Seq seq;                     // commit that created it
  int64_t commit_time_ns = 0;  // wall clock of that commit
  Sha256 sha256;               // of the whole plaintext content (unless pending)
  // The SHA-256 is not known yet (a commit with holes leaves it to be
  // completed off the close path; docs/semantics.md, Files, versions and
  // history): `sha256` is meaningless. Bucket::CompleteSha256 computes it.
  bool sha256_pending = false;
  uint64_t stored_size = 0;    // on-disk bytes of all its chunks (shared ones included)
  uint64_t new_bytes = 0;      // on-disk bytes of chunks this version added first
  uint64_t chunk_count = 0;
  Xattrs xattrs;               // user.* metadata snapshot at commit
  std::optional<VersionNo> restored_from;
  // The file's permission bits (07777) and owner when this version was
  // committed (format 3; versions migrated from format 2 carry the inode's
  // attributes at migration). Reading a version is checked against these.
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct DirEntry {
  std::string name;
  InodeId ino;
  FileKind kind = FileKind::kRegular;
};

// A live directory entry with its inode's attributes (Catalog/Bucket::ReadDirPlus).
struct ListedEntry {
  std::string name;
  Attr attr;
};

// A chunk as referenced from a version: its id and length of plaintext.
// A *hole* ref (docs/catalog.md, "versions.chunks encoding") has the reserved
// all-zero id, raw_len bytes of zeros and stored_len 0: it has no chunk row,
// no file and no reference count; readers produce zeros for it.
// Where a chunk's bytes live in a pack file (docs/pack-format.md): the pack's
// 16-byte id, the offset of the record header and the body length. Recorded in
// the chunk's catalog row (docs/catalog.md, "chunks"); a row without one is a
// chunk file of an older bucket.
struct ChunkLocation {
  std::array<uint8_t, 16> pack{};
  uint64_t offset = 0;
  uint32_t length = 0;
  auto operator<=>(const ChunkLocation&) const = default;
};

struct ChunkRef {
  ChunkId id;
  uint32_t raw_len = 0;
  uint32_t stored_len = 0;  // bytes of the chunk file (pack record body) on disk
  // Set by ChunkStore::Write for a chunk it just appended to a pack, and by
  // the catalog's chunk listings; the catalog records it in the chunk's row.
  // Not part of a version's chunk list (docs/catalog.md, "versions").
  std::optional<ChunkLocation> loc;
  // Write of a chunk whose row exists but whose stored copy is missing or
  // damaged: the row's location is replaced by `loc` at commit.
  bool replace = false;
  // Set by ChunkStore::Write for a chunk it stored as a delta chunk (a zstd
  // patch against this chunk, docs/chunk-format.md): the new row holds a
  // reference on it. Not part of a version's chunk list.
  std::optional<ChunkId> delta_base;
  bool IsHole() const { return id == ChunkId{}; }
  static ChunkRef Hole(uint32_t len) {
    ChunkRef r;
    r.raw_len = len;
    return r;
  }
};

// A segment of a stored chunk list (store/catalog_segments.h): its row id,
// how many refs it holds and their plaintext bytes.
struct SegmentMeta {
  int64_t id = 0;
  uint32_t chunk_count = 0;
  uint64_t size = 0;
};

// A piece of a new version's chunk list given to the catalog by an
// incremental commit (Catalog::NewVersion::pieces): either a segment of the
// base version reused by id, unread (`segment` != 0), or refs in file order.
struct ListPiece {
  int64_t segment = 0;
  // The base list cuts a segment after this one (it was not the base's last).
  bool ends_cut = false;
  std::vector<ChunkRef> chunks;  // when segment == 0
};
// Longest chain of delta chunks (docs/chunk-format.md, "Delta chunks"): a
// delta's base may itself be a delta, at most this many links deep in all.
inline constexpr int kMaxDeltaChain = 8;

// Longest hole one ref describes (longer holes take several refs).
inline constexpr uint32_t kMaxHoleRef = 0xFFFFF000u;  // 4 GiB - 4 KiB

// The largest file size a bucket supports: ext4's with 4 KiB blocks (16 TiB
// - 4 KiB). Larger sizes are EFBIG at once (docs/semantics.md, The live tree).
inline constexpr uint64_t kMaxFileSize = (uint64_t{16} << 40) - 4096;

}  // namespace katamari

// The catalog's on-disk format: schema, settings rows, packed BLOB columns and
// the forward-only migration chain. Described byte by byte in docs/catalog.md;
// any change here needs a new format version, a migration step and a doc edit.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/catalog_db.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari::catalog_format {

// PRAGMA application_id of every catalog: "KTMR" (0x4B544D52).
inline constexpr int32_t kApplicationId = 0x4B544D52;

// Creates every table and index of the current format, the settings rows,
// the first commit (seq 1), the root directory (inode 1) and, for an
// encrypted bucket, its first key slot (`first_key_slot`, required iff
// settings.encrypted). Runs inside the caller's transaction.
Status CreateSchema(sql::Db& db, const BucketSettings& settings, uint32_t root_uid,
                    uint32_t root_gid, int64_t now_ns, std::string_view first_key_slot = {});

// Checks that `db` is a katamari catalog (Corruption otherwise), refuses a
// newer format (NewerFormat), migrates an older one forward (ReadOnly if the
// connection may not write) and returns the format version now in the file.
Result<int> CheckAndMigrate(sql::Db& db, int supported_version);

Result<BucketSettings> LoadSettings(sql::Db& db);
// meta.cipher values.
inline constexpr char kCipherNone[] = "none";
inline constexpr char kCipherAes256Gcm[] = "aes-256-gcm";
Status StoreCompression(sql::Db& db, Codec codec, int level);

// One step of the migration chain: turns format `from` into `from + 1`. It
// runs inside the migration transaction; the chain updates format_version.
struct MigrationStep {
  int from = 0;
  std::string what;  // for messages: "add index x"
  std::function<Status(sql::Db&)> apply;
};
// The steps Open() uses: the built-in chain, or the test override.
std::span<const MigrationStep> MigrationSteps();

// Format 5 (store/catalog_policy.cc): the retention, excludes and
// policy_log tables, excludes filled with `default_excludes`. Used by
// CreateSchema and by the 4 -> 5 step.
Status AddPolicyTables(sql::Db& db, const std::vector<std::string>& default_excludes);

// versions.chunks: per chunk, 32-byte id, u32 LE raw_len, u32 LE stored_len.
inline constexpr size_t kPackedChunkSize = 40;
std::string EncodeChunks(const std::vector<ChunkRef>& chunks);
// `what` names the version in the Corruption message.
Result<std::vector<ChunkRef>> DecodeChunks(std::string_view blob, const std::string& what);

// versions.xattrs: per xattr in name order, u32 LE name length, name, u32 LE
// value length, value. Empty map = empty blob.
// A chunk row's pack location from columns `col` (pack_id) and `col` + 1
// (pack_offset), its length being the row's stored_len: none if both are
// NULL (a chunk file of an older bucket), Corruption if malformed.
Result<std::optional<ChunkLocation>> LocationAt(const sql::Query& q, int col,
                                                uint32_t stored_len);

std::string EncodeXattrs(const Xattrs& x);
Result<Xattrs> DecodeXattrs(std::string_view blob, const std::string& what);

// Associated data of sealed columns (encrypted buckets): a label naming the
// column, then what the value belongs to, so a sealed value copied to
// another row or column does not open. versions.sha256 / versions.xattrs:
// label, u64 LE ino, u64 LE vno. xattrs.value: label, then the name bytes
// (not the inode: rename's editor pattern copies live xattr rows in SQL).
inline constexpr char kAadVersionSha256[] = "katamari/versions.sha256";
inline constexpr char kAadVersionXattrs[] = "katamari/versions.xattrs";
inline constexpr char kAadXattrValue[] = "katamari/xattrs.value";
std::string VersionAad(std::string_view label, InodeId ino, VersionNo vno);
std::string XattrAad(std::string_view name);

}  // namespace katamari::catalog_format

// Pack files: many chunks appended to one file (docs/pack-format.md).
//
// A pack is a 32-byte pack header, then records, each a 48-byte record header
// (magic, body length, chunk id, body CRC-32, header CRC-32) followed by the
// body: one chunk's bytes exactly as a chunk file holds them today
// (docs/chunk-format.md: its own header, codec and, on an encrypted bucket,
// AES-256-GCM seal with the id bound as AAD). A pack may end in a footer index
// once sealed by Finish(). This layer checks framing only (record header,
// CRCs, id); decoding, decryption and IdOf() verification of the body stay in
// the chunk layer, exactly as for a chunk file.
//
// Crash order (docs/pack-format.md, "Crash order"): Append() writes without
// syncing; Sync() makes every record appended before it durable, and on the
// first call also the pack's name (SyncDir of its directory). Only then may
// the catalog commit rows that point into the pack (docs/semantics.md,
// Consistency, durability, integrity). A crash mid-append leaves
// a torn tail that Scan() detects and ignores; Reopen() cuts it off.
//
// All I/O goes through an Env (store/env.h), so FaultEnv tests can fail any
// step or cut the power.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/env.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari {

inline constexpr size_t kPackHeaderSize = 32;
inline constexpr size_t kPackRecordHeaderSize = 48;
inline constexpr size_t kPackIndexEntrySize = 44;
inline constexpr size_t kPackTrailerSize = 24;
// The size at which a writer should start a new pack (docs/pack-format.md,
// "Pack size"). Advisory: PackWriter itself never refuses an append below
// kPackMaxSize.
inline constexpr uint64_t kPackTargetSize = uint64_t{32} << 20;
// Offsets in the index and in the catalog are u64, but a pack never grows
// past 4 GiB so that one u32 length and one u32 offset would do if needed.
inline constexpr uint64_t kPackMaxSize = uint64_t{4} << 30;

// 128 random bits; the file name is its 32 lowercase hex digits.
struct PackId {
  std::array<uint8_t, 16> bytes{};
  auto operator<=>(const PackId&) const = default;
  std::string Hex() const;
  static std::optional<PackId> FromHex(std::string_view hex);
  static PackId Random();
};

// Where one record's body lives: `offset` is the start of its record header,
// `length` the body length (== the chunk's stored_len).
struct PackLocation {
  uint64_t offset = 0;
  uint32_t length = 0;
  auto operator<=>(const PackLocation&) const = default;
};

struct PackEntry {
  ChunkId id;
  PackLocation loc;
};

struct PackScan {
  std::vector<PackEntry> records;  // complete records, in file order
  uint64_t valid_end = 0;          // end of the last complete record (or of the header)
  uint64_t file_size = 0;
  bool sealed = false;             // a valid footer index was found and used
  // Why scanning stopped before file_size (empty when valid_end == file_size
  // or the pack is sealed): "torn record header at 1234", ...
  std::string stop_reason;
  bool torn() const { return !sealed && valid_end < file_size; }
};

// Appends records to one pack. Not thread-safe: one thread at a time (the
// caller serializes Append/Sync/Finish; size() and path() are plain reads
// under the same rule). One writer per pack, ever: packs are created with a
// fresh random id, and Reopen() is for a pack whose writer is gone.
//
// After a failed Append() the file may end in a partial record; the writer
// then refuses further Appends (IOError naming the first failure), but Sync()
// still makes the records before it durable. Start a new pack.
class PackWriter {
 public:
  // Creates `path` (must not exist; the caller chose a fresh id) and writes
  // the pack header. `encrypted` is recorded in the header (cipher byte) so a
  // scan knows what the bodies are. Not durable until Sync().
  static Result<std::unique_ptr<PackWriter>> Create(Env* env, const std::string& path,
                                                    const PackId& id, bool encrypted);

  // Continues a pack left by a writer that is gone (crash, restart). Scans
  // it; copies its valid prefix (header + complete records) to a temp file
  // next to it, syncs, renames it over `path`, syncs the directory, and keeps
  // appending to that file, so a torn tail is cut off and every offset stays
  // the same. `keep_at_least`: the caller's highest referenced record end
  // (catalog); if the valid prefix is shorter the pack is damaged, not torn,
  // and Reopen refuses with Corruption without touching it. A sealed pack is
  // immutable: InvalidArgument. Costs one copy of the pack. The caller must
  // know the old writer is gone (nothing here can tell).
  static Result<std::unique_ptr<PackWriter>> Reopen(Env* env, const std::string& path,
                                                    const PackId& id, bool encrypted,
                                                    uint64_t keep_at_least = 0);

  ~PackWriter();  // closes the file; does not sync
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Appends one record whose body is `chunk` (a whole chunk file's bytes,
  // made by the chunk layer for `id`). Not durable until Sync(). Errors keep
  // the Env's code (NoSpace, IOError); a chunk over 4 GiB or a pack that
  // would pass kPackMaxSize is InvalidArgument (nothing written).
  Result<PackLocation> Append(const ChunkId& id, std::string_view chunk);

  // Makes every record appended so far durable (fdatasync; the first time
  // also the directory entry of the pack).
  Status Sync();

  // Appends the footer index of every record this writer knows, syncs and
  // closes. Afterwards the writer accepts nothing more.
  Status Finish();

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  const PackId& id() const { return id_; }

 private:
  PackWriter(Env* env, std::string path, const PackId& id,
             std::unique_ptr<WritableFile> file, uint64_t size, bool name_durable,
             std::vector<PackEntry> records);

  Env* env_;
  std::string path_;
  PackId id_;
  std::unique_ptr<WritableFile> file_;
  uint64_t size_;
  bool name_durable_;
  bool finished_ = false;
  Status failed_;                 // the first failed Append, if any
  std::vector<PackEntry> records_;  // for Finish()'s index
};

// Checks one record as fetched whole (its 48-byte header then its body, e.g.
// by a ranged GET of an object store) the way PackReader::ReadRecord checks
// it on a file, and puts the body into *out. `where` names the pack in a
// Corruption message.
Status CheckRecordBytes(std::string_view rec, const PackLocation& loc, const ChunkId& id,
                        const std::string& where, std::string* out);

// Reads records of one pack. Thread-safe: ReadRecord may run from many
// threads at once (concurrent preads on one file; the Env's RandomAccessFile
// must allow that, as PosixEnv's does). Scan() may run concurrently too.
class PackReader {
 public:
  // Opens `path` and checks the pack header: magic, version, CRC and that its
  // id is `id` (a pack renamed over another is Corruption). A missing file is
  // Corruption ("pack ... is missing"), like a missing chunk file.
  static Result<std::unique_ptr<PackReader>> Open(Env* env, const std::string& path,
                                                  const PackId& id);

  // Reads the record at `loc`, checks its header (magic, CRC, length ==
  // loc.length, id == `id`) and body CRC, and puts the body (the chunk file's
  // bytes) into *out. Any mismatch, or a record past the end of the file, is
  // Corruption naming pack, offset and chunk; *out is then empty. Never
  // wrong bytes.
  Status ReadRecord(const PackLocation& loc, const ChunkId& id, std::string* out) const;

  // Lists the records without the catalog: from the footer index when the
  // pack is sealed and the index verifies, else by walking the records from
  // the start, stopping at the first incomplete or damaged one.
  Result<PackScan> Scan() const;

  bool encrypted() const { return encrypted_; }
  const PackId& id() const { return id_; }

 private:
  PackReader(std::string path, const PackId& id, bool encrypted,
             std::unique_ptr<RandomAccessFile> file)
      : path_(std::move(path)), id_(id), encrypted_(encrypted), file_(std::move(file)) {}
  Result<PackScan> Walk(uint64_t size) const;
  bool ReadIndex(uint64_t size, PackScan* scan) const;
  Status ReadAt(uint64_t offset, size_t n, char* buf) const;
  friend class PackWriter;  // Reopen copies the valid prefix with ReadAt

  std::string path_;
  PackId id_;
  bool encrypted_;
  std::unique_ptr<RandomAccessFile> file_;
};

}  // namespace katamari

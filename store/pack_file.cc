// Pack files, byte format in docs/pack-format.md.
//
// Integrity of the framing is two CRC-32s per record (zlib's crc32, the IEEE
// polynomial): one over the record header so a torn or garbled length can
// never send a scan off into the weeds, one over the body so a scan (and a
// gc repack) can tell a complete record from a torn one without keys and
// without decoding. Authenticity is not their job: on an encrypted bucket the
// body's own GCM tag, with the id as AAD, is checked by the chunk layer.
#include "store/pack_file.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "store/crypto.h"
#include "store/little_endian.h"

namespace katamari {

namespace {

constexpr char kPackMagic[4] = {'K', 'T', 'P', 'K'};
constexpr char kRecordMagic[4] = {'K', 'T', 'P', 'R'};
constexpr char kTrailerMagic[4] = {'K', 'T', 'P', 'F'};
constexpr uint8_t kPackFormatVersion = 1;
constexpr uint8_t kCipherNone = 0;
constexpr uint8_t kCipherAes256Gcm = 1;
// Pack header offsets.
constexpr size_t kPhVersion = 4, kPhCipher = 5, kPhFlags = 6, kPhId = 8, kPhReserved = 24,
                 kPhCrc = 28;
// Record header offsets.
constexpr size_t kRhLength = 4, kRhId = 8, kRhBodyCrc = 40, kRhCrc = 44;
// Trailer offsets.
constexpr size_t kTrCount = 4, kTrIndexOffset = 8, kTrIndexCrc = 16, kTrCrc = 20;
static_assert(kPhCrc + 4 == kPackHeaderSize);
static_assert(kRhCrc + 4 == kPackRecordHeaderSize);
static_assert(kTrCrc + 4 == kPackTrailerSize);
constexpr size_t kCopyBlock = size_t{1} << 20;
constexpr char kHexDigits[] = "0123456789abcdef";

using le::GetU32;
using le::GetU64;
using le::PutU32;
using le::PutU64;

uint32_t Crc(std::string_view data) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // names are lowercase only
}

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

Status PackCorruption(const std::string& path, uint64_t offset, const std::string& detail) {
  return Status::Corruption("pack " + path + " at offset " + std::to_string(offset) + ": " +
                            detail + "; run `katamari fsck` to find the files that use it");
}

std::array<char, kPackHeaderSize> EncodePackHeader(const PackId& id, bool encrypted) {
  std::array<char, kPackHeaderSize> h{};
  std::memcpy(h.data(), kPackMagic, 4);
  h[kPhVersion] = static_cast<char>(kPackFormatVersion);
  h[kPhCipher] = static_cast<char>(encrypted ? kCipherAes256Gcm : kCipherNone);
  std::memcpy(h.data() + kPhId, id.bytes.data(), id.bytes.size());
  PutU32(h.data() + kPhCrc, Crc(std::string_view(h.data(), kPhCrc)));
  return h;
}

void EncodeRecordHeader(const ChunkId& id, std::string_view body, char* h) {
  std::memcpy(h, kRecordMagic, 4);
  PutU32(h + kRhLength, static_cast<uint32_t>(body.size()));
  std::memcpy(h + kRhId, id.bytes.data(), 32);
  PutU32(h + kRhBodyCrc, Crc(body));
  PutU32(h + kRhCrc, Crc(std::string_view(h, kRhCrc)));
}

// Checks the framing of a record header; empty string when it is intact.
std::string RecordHeaderProblem(const char* h) {
  if (std::memcmp(h, kRecordMagic, 4) != 0) return "bad record magic";
  if (GetU32(h + kRhCrc) != Crc(std::string_view(h, kRhCrc))) return "record header CRC mismatch";
  return "";
}

ChunkId IdAt(const char* p) {
  ChunkId id;
  std::memcpy(id.bytes.data(), p, 32);
  return id;
}

}  // namespace

std::string PackId::Hex() const {
  std::string s(32, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = kHexDigits[bytes[i] >> 4];
    s[2 * i + 1] = kHexDigits[bytes[i] & 0xf];
  }
  return s;
}

std::optional<PackId> PackId::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  PackId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return id;
}

PackId PackId::Random() {
  PackId id;
  crypto::RandomBytes(id.bytes.data(), id.bytes.size());
  return id;
}

// ---- PackWriter ----

PackWriter::PackWriter(Env* env, std::string path, const PackId& id,
                       std::unique_ptr<WritableFile> file, uint64_t size, bool name_durable,
                       std::vector<PackEntry> records)
    : env_(env),
      path_(std::move(path)),
      id_(id),
      file_(std::move(file)),
      size_(size),
      name_durable_(name_durable),
      records_(std::move(records)) {}

PackWriter::~PackWriter() {
  if (file_) file_->Close();  // its error changes nothing: unsynced data may be lost anyway
}

Result<std::unique_ptr<PackWriter>> PackWriter::Create(Env* env, const std::string& path,
                                                       const PackId& id, bool encrypted) {
  if (env->FileExists(path)) {
    return Status::Exists("pack " + path + " already exists; a new pack needs a fresh id");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(path));
  const auto header = EncodePackHeader(id, encrypted);
  Status st = file->Append(std::string_view(header.data(), header.size()));
  if (!st.ok()) {
    file->Close();
    env->RemoveFile(path);  // best effort: an unreferenced pack is an orphan gc removes
    return st;
  }
  return std::unique_ptr<PackWriter>(new PackWriter(env, path, id, std::move(file),
                                                    kPackHeaderSize, false, {}));
}

Result<std::unique_ptr<PackWriter>> PackWriter::Reopen(Env* env, const std::string& path,
                                                       const PackId& id, bool encrypted,
                                                       uint64_t keep_at_least) {
  ASSIGN_OR_RETURN(std::unique_ptr<PackReader> reader, PackReader::Open(env, path, id));
  if (reader->encrypted() != encrypted) {
    return Status::Corruption("pack " + path + " says " +
                              (reader->encrypted() ? "encrypted" : "plain") +
                              ", the bucket is the other kind");
  }
  ASSIGN_OR_RETURN(PackScan scan, reader->Scan());
  if (scan.sealed) {
    return Status::InvalidArgument("pack " + path + " is sealed (has a footer index); "
                                   "sealed packs are never appended to");
  }
  if (scan.valid_end < keep_at_least) {
    return PackCorruption(path, scan.valid_end,
                          scan.stop_reason + ", but records up to " +
                              std::to_string(keep_at_least) + " are referenced");
  }
  // Copy the valid prefix to a temp file and rename it over the pack: a
  // crash at any step leaves either the old file (whose valid prefix is the
  // same bytes) or the new one, and offsets never move.
  const std::string tmp = path + ".tmp." + PackId::Random().Hex().substr(0, 16);
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(tmp));
  Status st;
  std::string buf;
  for (uint64_t pos = 0; st.ok() && pos < scan.valid_end; pos += buf.size()) {
    buf.resize(static_cast<size_t>(std::min<uint64_t>(kCopyBlock, scan.valid_end - pos)));
    st = reader->ReadAt(pos, buf.size(), buf.data());
    if (st.ok()) st = file->Append(buf);
  }
  if (st.ok()) st = file->Sync();
  if (st.ok()) st = env->RenameFile(tmp, path);
  if (!st.ok()) {
    file->Close();
    env->RemoveFile(tmp);  // best effort; an old temp is swept with the orphans
    return st;
  }
  const bool dir_synced = env->SyncDir(Parent(path)).ok();  // else the first Sync retries
  return std::unique_ptr<PackWriter>(new PackWriter(env, path, id, std::move(file),
                                                    scan.valid_end, dir_synced,
                                                    std::move(scan.records)));
}

Result<PackLocation> PackWriter::Append(const ChunkId& id, std::string_view chunk) {
  if (finished_) return Status::InvalidArgument("pack " + path_ + " is sealed");
  if (!failed_.ok()) {
    return Status::IOError("pack " + path_ + " is unusable after an earlier failed append (" +
                           failed_.ToString() + "); start a new pack");
  }
  if (chunk.size() > std::numeric_limits<uint32_t>::max() ||
      size_ + kPackRecordHeaderSize + chunk.size() > kPackMaxSize) {
    return Status::InvalidArgument("a record of " + std::to_string(chunk.size()) +
                                   " bytes does not fit in pack " + path_ + " (at " +
                                   std::to_string(size_) + " of at most " +
                                   std::to_string(kPackMaxSize) + " bytes)");
  }
  // One write per record, so a crash tears at most the last record.
  thread_local std::string buf;
  buf.resize(kPackRecordHeaderSize + chunk.size());
  EncodeRecordHeader(id, chunk, buf.data());
  std::memcpy(buf.data() + kPackRecordHeaderSize, chunk.data(), chunk.size());
  Status st = file_->Append(buf);
  if (!st.ok()) {
    failed_ = st;
    return st;
  }
  PackLocation loc{size_, static_cast<uint32_t>(chunk.size())};
  size_ += buf.size();
  records_.push_back({id, loc});
  return loc;
}

Status PackWriter::Sync() {
  if (finished_) return Status::OK();  // Finish() synced
  RETURN_IF_ERROR(file_->Sync());
  if (!name_durable_) {
    RETURN_IF_ERROR(env_->SyncDir(Parent(path_)));
    name_durable_ = true;
  }
  return Status::OK();
}

Status PackWriter::Finish() {
  if (finished_) return Status::OK();
  if (!failed_.ok()) return Status::IOError("pack " + path_ + ": cannot seal after " +
                                            failed_.ToString());
  std::string footer(records_.size() * kPackIndexEntrySize + kPackTrailerSize, '\0');
  char* p = footer.data();
  for (const PackEntry& e : records_) {
    std::memcpy(p, e.id.bytes.data(), 32);
    PutU64(p + 32, e.loc.offset);
    PutU32(p + 40, e.loc.length);
    p += kPackIndexEntrySize;
  }
  const size_t entries = records_.size() * kPackIndexEntrySize;
  std::memcpy(p, kTrailerMagic, 4);
  PutU32(p + kTrCount, static_cast<uint32_t>(records_.size()));
  PutU64(p + kTrIndexOffset, size_);
  PutU32(p + kTrIndexCrc, Crc(std::string_view(footer.data(), entries)));
  PutU32(p + kTrCrc, Crc(std::string_view(p, kTrCrc)));
  Status st = file_->Append(footer);
  if (!st.ok()) {
    failed_ = st;
    return st;
  }
  size_ += footer.size();
  RETURN_IF_ERROR(Sync());
  finished_ = true;
  Status close_st = file_->Close();
  file_.reset();
  return close_st;
}

// ---- PackReader ----

Result<std::unique_ptr<PackReader>> PackReader::Open(Env* env, const std::string& path,
                                                     const PackId& id) {
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::Corruption("pack " + path +
                                " is missing; run `katamari fsck` to find the files that use it");
    }
    return file.status();
  }
  char h[kPackHeaderSize];
  size_t got = 0;
  RETURN_IF_ERROR((*file)->Read(0, sizeof(h), h, &got));
  if (got < sizeof(h)) {
    return PackCorruption(path, 0, "file is " + std::to_string(got) +
                                       " bytes, shorter than the pack header");
  }
  if (std::memcmp(h, kPackMagic, 4) != 0) return PackCorruption(path, 0, "bad magic (not a pack)");
  if (GetU32(h + kPhCrc) != Crc(std::string_view(h, kPhCrc))) {
    return PackCorruption(path, 0, "pack header CRC mismatch");
  }
  if (static_cast<uint8_t>(h[kPhVersion]) != kPackFormatVersion) {
    return PackCorruption(path, 0, "unknown pack format version " +
                                       std::to_string(static_cast<uint8_t>(h[kPhVersion])));
  }
  const auto cipher = static_cast<uint8_t>(h[kPhCipher]);
  if (cipher > kCipherAes256Gcm) return PackCorruption(path, 0, "unknown cipher");
  if (h[kPhFlags] != 0 || h[kPhFlags + 1] != 0 || GetU32(h + kPhReserved) != 0) {
    return PackCorruption(path, 0, "unknown flags or reserved bytes set");
  }
  PackId stored;
  std::memcpy(stored.bytes.data(), h + kPhId, stored.bytes.size());
  if (stored != id) {
    return PackCorruption(path, 0, "header names pack " + stored.Hex() + ", expected " +
                                       id.Hex() + " (a pack file under another's name)");
  }
  return std::unique_ptr<PackReader>(
      new PackReader(path, id, cipher == kCipherAes256Gcm, std::move(*file)));
}

Status PackReader::ReadAt(uint64_t offset, size_t n, char* buf) const {
  size_t got = 0;
  RETURN_IF_ERROR(file_->Read(offset, n, buf, &got));
  if (got != n) {
    return PackCorruption(path_, offset, "wanted " + std::to_string(n) + " bytes, the file "
                                         "ends after " + std::to_string(got));
  }
  return Status::OK();
}

Status PackReader::ReadRecord(const PackLocation& loc, const ChunkId& id,
                              std::string* out) const {
  out->clear();
  auto bad = [&](const std::string& detail) {
    out->clear();
    return PackCorruption(path_, loc.offset, "record of chunk " + id.Hex() + ": " + detail);
  };
  if (loc.offset < kPackHeaderSize) return bad("offset inside the pack header");
  char h[kPackRecordHeaderSize];
  Status st = ReadAt(loc.offset, sizeof(h), h);
  if (!st.ok()) return st.IsCorruption() ? bad("record header past the end of the pack") : st;
  if (std::string p = RecordHeaderProblem(h); !p.empty()) return bad(p);
  if (GetU32(h + kRhLength) != loc.length) {
    return bad("record holds " + std::to_string(GetU32(h + kRhLength)) +
               " bytes, the catalog says " + std::to_string(loc.length));
  }
  if (IdAt(h + kRhId) != id) return bad("record holds chunk " + IdAt(h + kRhId).Hex());
  out->resize(loc.length);
  st = ReadAt(loc.offset + sizeof(h), loc.length, out->data());
  if (!st.ok()) {
    out->clear();
    return st.IsCorruption() ? bad("body past the end of the pack") : st;
  }
  if (Crc(*out) != GetU32(h + kRhBodyCrc)) return bad("body CRC mismatch");
  return Status::OK();
}

Status CheckRecordBytes(std::string_view rec, const PackLocation& loc, const ChunkId& id,
                        const std::string& where, std::string* out) {
  out->clear();
  auto bad = [&](const std::string& detail) {
    out->clear();
    return PackCorruption(where, loc.offset, "record of chunk " + id.Hex() + ": " + detail);
  };
  if (loc.offset < kPackHeaderSize) return bad("offset inside the pack header");
  if (rec.size() < kPackRecordHeaderSize) return bad("record header past the end of the pack");
  const char* h = rec.data();
  if (std::string p = RecordHeaderProblem(h); !p.empty()) return bad(p);
  if (GetU32(h + kRhLength) != loc.length) {
    return bad("record holds " + std::to_string(GetU32(h + kRhLength)) +
               " bytes, the catalog says " + std::to_string(loc.length));
  }
  if (IdAt(h + kRhId) != id) return bad("record holds chunk " + IdAt(h + kRhId).Hex());
  if (rec.size() < kPackRecordHeaderSize + uint64_t{loc.length}) {
    return bad("body past the end of the pack");
  }
  out->assign(rec.data() + kPackRecordHeaderSize, loc.length);
  if (Crc(*out) != GetU32(h + kRhBodyCrc)) return bad("body CRC mismatch");
  return Status::OK();
}

Result<PackScan> PackReader::Scan() const {
  ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  PackScan scan;
  if (ReadIndex(size, &scan)) return scan;
  return Walk(size);
}

// Uses the footer index when the trailer and index verify and describe a
// consistent file; false means "walk instead" (never an error: a damaged
// index costs only speed, every record carries its own header).
bool PackReader::ReadIndex(uint64_t size, PackScan* scan) const {
  if (size < kPackHeaderSize + kPackTrailerSize) return false;
  char t[kPackTrailerSize];
  if (!ReadAt(size - kPackTrailerSize, sizeof(t), t).ok()) return false;
  if (std::memcmp(t, kTrailerMagic, 4) != 0) return false;
  if (GetU32(t + kTrCrc) != Crc(std::string_view(t, kTrCrc))) return false;
  const uint64_t count = GetU32(t + kTrCount);
  const uint64_t index_offset = GetU64(t + kTrIndexOffset);
  // In this order, so that no sum can wrap and a forged count can never make
  // us allocate more than the file holds.
  if (index_offset < kPackHeaderSize || index_offset > size - kPackTrailerSize ||
      count != (size - kPackTrailerSize - index_offset) / kPackIndexEntrySize ||
      index_offset + count * kPackIndexEntrySize + kPackTrailerSize != size) {
    return false;
  }
  std::string index(count * kPackIndexEntrySize, '\0');
  if (!ReadAt(index_offset, index.size(), index.data()).ok()) return false;
  if (Crc(index) != GetU32(t + kTrIndexCrc)) return false;
  uint64_t next = kPackHeaderSize;
  for (uint64_t i = 0; i < count; ++i) {
    const char* e = index.data() + i * kPackIndexEntrySize;
    PackEntry entry{IdAt(e), {GetU64(e + 32), GetU32(e + 40)}};
    if (entry.loc.offset != next) return false;  // records are contiguous
    next = entry.loc.offset + kPackRecordHeaderSize + entry.loc.length;
    scan->records.push_back(entry);
  }
  if (next != index_offset) {
    scan->records.clear();
    return false;
  }
  scan->valid_end = size;
  scan->file_size = size;
  scan->sealed = true;
  return true;
}

Result<PackScan> PackReader::Walk(uint64_t size) const {
  PackScan scan;
  scan.file_size = size;
  uint64_t pos = kPackHeaderSize;
  std::string body;
  auto stop = [&](const std::string& why) {
    scan.stop_reason = why + " at offset " + std::to_string(pos);
  };
  while (pos < size) {
    if (size - pos < kPackRecordHeaderSize) {
      stop("torn record header");
      break;
    }
    char h[kPackRecordHeaderSize];
    RETURN_IF_ERROR(ReadAt(pos, sizeof(h), h));
    if (std::string p = RecordHeaderProblem(h); !p.empty()) {
      stop(p);
      break;
    }
    const uint32_t length = GetU32(h + kRhLength);
    if (size - pos - kPackRecordHeaderSize < length) {
      stop("torn record (body runs past the end of the file)");
      break;
    }
    body.resize(length);
    RETURN_IF_ERROR(ReadAt(pos + sizeof(h), length, body.data()));
    if (Crc(body) != GetU32(h + kRhBodyCrc)) {
      stop("body CRC mismatch");
      break;
    }
    scan.records.push_back({IdAt(h + kRhId), {pos, length}});
    pos += kPackRecordHeaderSize + length;
  }
  scan.valid_end = std::min(pos, size);
  return scan;
}

}  // namespace katamari

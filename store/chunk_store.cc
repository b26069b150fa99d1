// ChunkStore: one file per chunk, format in docs/chunk-format.md.
//
// Hot-path notes: Write builds header + compressed payload in one per-thread
// buffer (no copy of the payload; raw chunks are appended straight from the
// caller's bytes), and Read decodes from a per-thread buffer, so steady-state
// reads and writes allocate nothing but the caller's output.
#include "store/chunk_store.h"

#include <array>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>

#include "store/chunk_cache.h"
#include "store/codec.h"
#include "store/sha256.h"

namespace katamari {

namespace {

constexpr char kMagic[4] = {'K', 'T', 'C', 'H'};
constexpr uint8_t kChunkFormatVersion = 1;
constexpr uint8_t kCipherNone = 0;
constexpr uint8_t kCipherAes256Gcm = 1;
// Header field offsets (docs/chunk-format.md).
constexpr size_t kOffVersion = 4, kOffCodec = 5, kOffCipher = 6, kOffFlags = 7;
constexpr size_t kOffRawLen = 8, kOffNonce = 12, kNonceSize = crypto::kNonceSize;
static_assert(kOffNonce + kNonceSize == kChunkHeaderSize);
// AAD of a sealed chunk: its id, then header bytes 0..11 (all but the nonce).
constexpr size_t kAadHeaderBytes = kOffNonce;
constexpr size_t kAadSize = 32 + kAadHeaderBytes;

std::array<char, kAadSize> ChunkAad(const ChunkId& id, const char* header) {
  std::array<char, kAadSize> aad;
  std::memcpy(aad.data(), id.bytes.data(), 32);
  std::memcpy(aad.data() + 32, header, kAadHeaderBytes);
  return aad;
}

void PutU32LE(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetU32LE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

uint32_t PackCodec(Codec codec, int level) {
  return uint32_t{static_cast<uint8_t>(codec)} << 16 | (static_cast<uint32_t>(level) & 0xffff);
}

// A per-thread random suffix for temp names, so concurrent writers of the
// same chunk (or a crashed earlier writer's leftovers) never collide.
std::string TempSuffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string s(16, '0');
  for (char& c : s) {
    c = kHex[v & 0xf];
    v >>= 4;
  }
  return s;
}

Status ChunkCorruption(const ChunkId& id, const std::string& detail) {
  return Status::Corruption("chunk " + id.Hex() + ": " + detail +
                            "; run `katamari fsck` to find the files that use it");
}

bool IsTempName(std::string_view name) {
  return name.find(".tmp.") != std::string_view::npos;
}

}  // namespace

ChunkStore::ChunkStore(Env* env, std::string root, Codec codec, int level,
                       std::shared_ptr<const crypto::BucketKeys> keys)
    : env_(env),
      root_(std::move(root)),
      dir_(root_ + "/chunks"),
      codec_level_(PackCodec(codec, level)),
      keys_(std::move(keys)),
      cache_(std::make_unique<ChunkCache>(kCacheBytes)) {}

ChunkStore::~ChunkStore() = default;

Status ChunkStore::Init() {
  RETURN_IF_ERROR(env_->CreateDir(dir_, 0700));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string sub = dir_ + "/xx";
  for (int i = 0; i < 256; ++i) {
    sub[sub.size() - 2] = kHex[i >> 4];
    sub[sub.size() - 1] = kHex[i & 0xf];
    RETURN_IF_ERROR(env_->CreateDir(sub, 0700));
  }
  return Status::OK();
}

void ChunkStore::UsePacks(LocateFn locate, ForgetFn forget) {
  packs_ = std::make_unique<PackSet>(env_, root_, keys_ != nullptr);
  locate_ = std::move(locate);
  forget_ = std::move(forget);
}

void ChunkStore::SetCodec(Codec codec, int level) {
  codec_level_.store(PackCodec(codec, level), std::memory_order_relaxed);
}

ChunkId ChunkStore::IdOf(std::string_view plaintext) const {
  return keys_ ? crypto::HmacSha256(keys_->chunk_id.view(), plaintext) : Sha256Of(plaintext);
}

std::string ChunkStore::PathOf(const ChunkId& id) const {
  std::string hex = id.Hex();
  std::string path;
  path.reserve(dir_.size() + 4 + hex.size());
  path += dir_;
  path += '/';
  path.append(hex, 0, 2);
  path += '/';
  path += hex;
  return path;
}

Result<ChunkRef> ChunkStore::Write(const ChunkId& id, std::string_view plaintext) {
  return WriteImpl(id, plaintext, nullptr);
}

Result<ChunkRef> ChunkStore::Write(const ChunkId& id, std::string_view plaintext,
                                   const DeltaCandidate& delta) {
  return WriteImpl(id, plaintext, &delta);
}

Result<ChunkRef> ChunkStore::WriteImpl(const ChunkId& id, std::string_view plaintext,
                                       const DeltaCandidate* delta) {
  if (plaintext.size() > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("chunk of " + std::to_string(plaintext.size()) +
                                   " bytes is larger than the 4 GiB format limit");
  }
  ChunkRef ref{id, static_cast<uint32_t>(plaintext.size()), 0};
  const std::string path = packs_ ? std::string() : PathOf(id);

  // Never rename over an existing chunk: a committed chunk would briefly be
  // replaced by unsynced bytes. An existing file that verifies is reused; one
  // that does not (e.g. a rename that lost its data in a power cut before
  // any catalog row could reference it) is replaced.
  if (!packs_ && env_->FileExists(path)) {
    thread_local std::string verify;
    if (Read(ref, &verify).ok()) {
      Result<uint64_t> size = env_->GetFileSize(path);
      if (size.ok()) {
        ref.stored_len = static_cast<uint32_t>(*size);
        return ref;
      }
    }
  }

  const uint32_t packed = codec_level_.load(std::memory_order_relaxed);
  thread_local std::string buf;
  buf.assign(kChunkHeaderSize, '\0');
  std::memcpy(buf.data(), kMagic, sizeof(kMagic));
  buf[kOffVersion] = static_cast<char>(kChunkFormatVersion);
  buf[kOffCipher] = static_cast<char>(keys_ ? kCipherAes256Gcm : kCipherNone);
  buf[kOffFlags] = 0;
  PutU32LE(buf.data() + kOffRawLen, ref.raw_len);
  ASSIGN_OR_RETURN(Codec used, CompressAppend(static_cast<Codec>(packed >> 16),
                                              static_cast<int>(packed & 0xffff), plaintext,
                                              &buf));
  buf[kOffCodec] = static_cast<char>(used);
  bool raw = used == Codec::kNone;
  if (delta != nullptr) {
    thread_local std::string patch;
    const size_t plain_payload = raw ? plaintext.size() : buf.size() - kChunkHeaderSize;
    ASSIGN_OR_RETURN(bool keep, BuildPatch(id, plaintext, *delta, plain_payload, &patch));
    if (keep) {
      std::memcpy(patch.data(), buf.data(), kChunkHeaderSize);
      patch[kOffCodec] = static_cast<char>(kCodecZstdPatch);
      buf.swap(patch);
      raw = false;
      ref.delta_base = delta->base.id;
    }
  }
  std::string_view tail = raw ? plaintext : std::string_view();
  if (keys_) {
    Seal(id, raw, plaintext, &buf);
    tail = {};
  }
  ref.stored_len = static_cast<uint32_t>(buf.size() + tail.size());
  if (packs_) {
    if (!tail.empty()) buf.append(tail);
    ASSIGN_OR_RETURN(ref.loc, packs_->Append(id, buf));
    return ref;
  }

  const std::string tmp = path + ".tmp." + TempSuffix();
  RETURN_IF_ERROR(WriteFileAtomically(tmp, path, buf, tail));
  return ref;
}

// Compress, then encrypt: seals the payload in place after the header of
// `buf` (header + compressed bytes), or, for a chunk stored uncompressed
// (`raw`), the caller's `plaintext` straight into `buf`; then appends the tag.
// The nonce is fresh for every file written.
void ChunkStore::Seal(const ChunkId& id, bool raw, std::string_view plaintext,
                      std::string* buf) const {
  const size_t n = raw ? plaintext.size() : buf->size() - kChunkHeaderSize;
  buf->resize(kChunkHeaderSize + n + crypto::kTagSize);
  auto* nonce = reinterpret_cast<uint8_t*>(buf->data() + kOffNonce);
  crypto::RandomBytes(nonce, kNonceSize);
  const std::array<char, kAadSize> aad = ChunkAad(id, buf->data());
  char* payload = buf->data() + kChunkHeaderSize;
  crypto::GcmSeal(keys_->chunk, nonce, std::string_view(aad.data(), aad.size()),
                  raw ? plaintext : std::string_view(payload, n), payload);
}

// Writes head + tail to `tmp`, then renames it to `path`. On failure the temp
// file is removed (best effort: List() sweeps what is left).
Status ChunkStore::WriteFileAtomically(const std::string& tmp, const std::string& path,
                                       std::string_view head, std::string_view tail) {
  auto file = env_->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  Status st = (*file)->Append(head);
  if (st.ok() && !tail.empty()) st = (*file)->Append(tail);
  Status close_st = (*file)->Close();
  if (st.ok()) st = close_st;
  if (st.ok()) st = env_->RenameFile(tmp, path);
  if (!st.ok()) env_->RemoveFile(tmp);  // its own failure changes nothing
  return st;
}

// A failed sync may have dropped pages that reads were served from (the
// kernel marks them clean after a write-back error), so what was verified
// from them may not be what storage holds: the cache starts over.
Status ChunkStore::SyncBatch() {
  Status st = packs_ ? packs_->Sync() : env_->SyncFilesystem(dir_);
  if (!st.ok()) cache_->Clear();
  return st;
}

void ChunkStore::DropCache() { cache_->Clear(); }

Status ChunkStore::SyncAll() {
  if (packs_) RETURN_IF_ERROR(packs_->Sync());
  return env_->SyncFilesystem(root_);
}

Status ChunkStore::Read(const ChunkRef& ref, std::string* out, ReadMode mode) const {
  DeltaChain chain;
  return Read(ref, out, &chain, mode);
}

Status ChunkStore::Read(const ChunkRef& ref, std::string* out, DeltaChain* chain,
                        ReadMode mode) const {
  thread_local std::string scratch;
  return ReadAt(ref, out, 0, chain, &scratch, mode);
}

// The bases of a delta chain are read with their own scratch (`level` > 0),
// so that the chunk above them keeps its payload in its own. A kCached read
// keeps every chunk it verified, the bases down the chain too: the next
// commit of an appended file patches against the chunk it read this time.
Status ChunkStore::ReadAt(const ChunkRef& ref, std::string* out, int level, DeltaChain* chain,
                          std::string* scratch, ReadMode mode) const {
  const bool cached = mode == ReadMode::kCached;
  if (cached && cache_->Get(ref.id, ref.raw_len, out, chain)) return Status::OK();
  out->clear();
  DeltaChain own;
  if (chain == nullptr) chain = &own;
  Fetched from;
  RETURN_IF_ERROR(Fetch(ref, scratch, &from));
  std::optional<ChunkId> bad_base;
  Status st = Decode(ref, scratch, out, level, chain, &bad_base, mode);
  // A delta whose base failed has its base's own second look behind it.
  if (st.IsCorruption() && from.cached && !bad_base) {
    st = DecodeFromStore(ref, *from.loc, scratch, out, level, chain, mode);
  }
  RETURN_IF_ERROR(st);
  if (cached) cache_->Put(ref.id, *out, *chain);
  return Status::OK();
}

// A cached body passed its record's CRC, which a few flipped bits or a
// copy made wrong before it was framed can pass too, but not the chunk's
// own check (tag, codec, id). That says nothing about the store's copy: the
// cached one is dropped and the store's read by one ranged GET and judged
// instead. If it fails too it is not left in the cache, so the quarantine
// that follows judges the store's bytes again, not a copy of them.
Status ChunkStore::DecodeFromStore(const ChunkRef& ref, const ChunkLocation& loc,
                                   std::string* bytes, std::string* out, int level,
                                   DeltaChain* chain, ReadMode mode) const {
  out->clear();
  RecordRead how;
  Status st = packs_->ReadFromStore(loc, ref.id, bytes, &how);
  if (st.ok()) st = Decode(ref, bytes, out, level, chain, nullptr, mode);
  if (!st.IsCorruption()) return st;
  packs_->DropCachedRecord(loc);
  return Status::Corruption(st.message() + " (the object store's copy; the cached one failed "
                                           "too); run `katamari fsck` to find the files "
                                           "that use chunk " + ref.id.Hex());
}

// Where the chunk is: the ref's location (a chunk just written, or a row
// listed with it), else its catalog row's. A pack that is gone may have
// been repacked by gc between the lookup and the open: looked up once more.
Status ChunkStore::Fetch(const ChunkRef& ref, std::string* bytes, Fetched* from) const {
  *from = Fetched();
  if (!packs_) return FetchFile(ref, bytes);
  std::optional<ChunkLocation> loc = ref.loc;
  for (int attempt = 0;; ++attempt) {
    if (!loc) {
      Result<std::optional<ChunkLocation>> r = locate_(ref.id);
      if (!r.ok() && !r.status().IsNotFound()) return r.status();
      if (!r.ok() || !*r) return FetchFile(ref, bytes);
      loc = **r;
    }
    RecordRead how;
    Status st = packs_->Read(*loc, ref.id, bytes, &how);
    const bool missing = how.missing;
    if (st.ok()) *from = Fetched{loc, how.cached};
    if (!missing || attempt > 0) {
      if (st.ok() || !st.IsCorruption()) return st;
      return Status::Corruption(st.message() + "; run `katamari fsck` to find the files that "
                                               "use chunk " + ref.id.Hex());
    }
    const ChunkLocation was = *loc;
    Result<std::optional<ChunkLocation>> again = locate_(ref.id);
    if (again.ok() && *again && **again == was) return st;  // not moved: missing
    loc.reset();
    if (again.ok() && !*again) return FetchFile(ref, bytes);
  }
}

Status ChunkStore::FetchFile(const ChunkRef& ref, std::string* bytes) const {
  std::string& scratch = *bytes;
  const std::string path = PathOf(ref.id);
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::Corruption("chunk " + ref.id.Hex() + " is missing (expected at " + path +
                                "); run `katamari fsck` to find the files that use it");
    }
    return file.status();
  }
  ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size < kChunkHeaderSize) {
    return ChunkCorruption(ref.id, "file is " + std::to_string(size) +
                                       " bytes, shorter than the chunk header");
  }
  // What we write never exceeds header + raw length (a payload that does
  // not shrink is stored raw; sealing adds the tag), so anything larger is
  // damage; the bound also keeps a corrupt file from making us allocate
  // without limit.
  const uint64_t tag = keys_ ? crypto::kTagSize : 0;
  if (size - kChunkHeaderSize > ref.raw_len + tag) {
    return ChunkCorruption(ref.id, "file is " + std::to_string(size) + " bytes, too long for " +
                                       std::to_string(ref.raw_len) + " bytes of content");
  }
  scratch.resize(size);
  size_t got = 0;
  RETURN_IF_ERROR((*file)->Read(0, size, scratch.data(), &got));
  if (got != size) return ChunkCorruption(ref.id, "file shrank while being read");
  return Status::OK();
}

// Checks and decodes a chunk file's bytes (held in *bytes, which it uses as
// scratch) into *out.
Status ChunkStore::Decode(const ChunkRef& ref, std::string* bytes, std::string* out, int level,
                          DeltaChain* chain, std::optional<ChunkId>* bad_base,
                          ReadMode mode) const {
  if (chain) *chain = DeltaChain{0, ChunkRef{ref.id, ref.raw_len, ref.stored_len}};
  std::string& scratch = *bytes;
  const uint64_t size = scratch.size();
  if (size < kChunkHeaderSize) {
    return ChunkCorruption(ref.id, "stored chunk is " + std::to_string(size) +
                                       " bytes, shorter than the chunk header");
  }
  const uint64_t tag = keys_ ? crypto::kTagSize : 0;
  if (size - kChunkHeaderSize > ref.raw_len + tag) {
    return ChunkCorruption(ref.id, "stored chunk is " + std::to_string(size) +
                                       " bytes, too long for " + std::to_string(ref.raw_len) +
                                       " bytes of content");
  }
  RETURN_IF_ERROR(CheckHeader(ref, scratch));
  if (keys_) RETURN_IF_ERROR(Unseal(ref, &scratch));
  const auto codec = static_cast<Codec>(scratch[kOffCodec]);
  std::string_view payload(scratch.data() + kChunkHeaderSize,
                           scratch.size() - kChunkHeaderSize);
  if (static_cast<uint8_t>(scratch[kOffCodec]) == kCodecZstdPatch) {
    RETURN_IF_ERROR(DecodePatch(ref, payload, out, level, chain, bad_base, mode));
  } else {
    RETURN_IF_ERROR(Decompress(codec, payload, ref.raw_len, out, "chunk " + ref.id.Hex()));
  }
  if (IdOf(*out) != ref.id) {
    out->clear();
    return ChunkCorruption(ref.id, "content does not match its id (checksum mismatch)");
  }
  return Status::OK();
}

// Checks the tag of a sealed chunk file held in *file and decrypts its
// payload in place; *file is then header + plain payload.
Status ChunkStore::Unseal(const ChunkRef& ref, std::string* file) const {
  if (file->size() < kChunkHeaderSize + crypto::kTagSize) {
    return ChunkCorruption(ref.id, "sealed chunk file is " + std::to_string(file->size()) +
                                       " bytes, too short to hold its tag");
  }
  const std::array<char, kAadSize> aad = ChunkAad(ref.id, file->data());
  const auto* nonce = reinterpret_cast<const uint8_t*>(file->data() + kOffNonce);
  std::string_view sealed(file->data() + kChunkHeaderSize, file->size() - kChunkHeaderSize);
  if (!crypto::GcmOpen(keys_->chunk, nonce, std::string_view(aad.data(), aad.size()), sealed,
                       file->data() + kChunkHeaderSize)) {
    return ChunkCorruption(ref.id,
                           "authentication failed: the file was modified or truncated, or "
                           "is another chunk's file");
  }
  file->resize(file->size() - crypto::kTagSize);
  return Status::OK();
}

// Validates the 24-byte header of a chunk file held in `file`.
Status ChunkStore::CheckHeader(const ChunkRef& ref, std::string_view file) const {
  if (std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return ChunkCorruption(ref.id, "bad magic (not a chunk file)");
  }
  const auto version = static_cast<uint8_t>(file[kOffVersion]);
  if (version != kChunkFormatVersion) {
    return ChunkCorruption(ref.id, "unknown chunk format version " + std::to_string(version));
  }
  const auto cipher = static_cast<uint8_t>(file[kOffCipher]);
  if (cipher > kCipherAes256Gcm) {
    return ChunkCorruption(ref.id, "unknown cipher " + std::to_string(cipher));
  }
  if (cipher == kCipherAes256Gcm && !keys_) {
    return Status::NotSupported("chunk " + ref.id.Hex() + ": encrypted chunk; needs key");
  }
  if (cipher == kCipherNone && keys_) {
    // Never written by an encrypted bucket: a planted or foreign file.
    return ChunkCorruption(ref.id, "plain chunk in an encrypted bucket");
  }
  const auto codec = static_cast<uint8_t>(file[kOffCodec]);
  if (codec > static_cast<uint8_t>(Codec::kZlib) && codec != kCodecZstdPatch) {
    return ChunkCorruption(ref.id, "unknown codec " + std::to_string(codec));
  }
  if (file[kOffFlags] != 0) {
    return ChunkCorruption(ref.id, "unknown flags " +
                                       std::to_string(static_cast<uint8_t>(file[kOffFlags])));
  }
  const uint32_t raw_len = GetU32LE(file.data() + kOffRawLen);
  if (raw_len != ref.raw_len) {
    return ChunkCorruption(ref.id, "header says " + std::to_string(raw_len) +
                                       " bytes of content, the catalog says " +
                                       std::to_string(ref.raw_len));
  }
  if (keys_) return Status::OK();  // the nonce is random; the tag covers the rest
  for (size_t i = 0; i < kNonceSize; ++i) {
    if (file[kOffNonce + i] != 0) return ChunkCorruption(ref.id, "nonce set on a plain chunk");
  }
  return Status::OK();
}

bool ChunkStore::Exists(const ChunkId& id) const {
  if (packs_) {
    Result<std::optional<ChunkLocation>> loc = locate_(id);
    if (loc.ok() && *loc) return packs_->Exists((*loc)->pack);
  }
  return env_->FileExists(PathOf(id));
}

Result<bool> ChunkStore::MoveAsideIfDamaged(const ChunkId& id) { return MoveAside(id, 0); }

// A delta chunk whose base fails is not damaged itself: its base is judged
// instead (`hops` bounds the walk down a chain, also a tampered cyclic one).
Result<bool> ChunkStore::MoveAside(const ChunkId& id, int hops) {
  if (packs_) {
    Result<std::optional<ChunkLocation>> loc = locate_(id);
    if (!loc.ok() && !loc.status().IsNotFound()) return loc.status();
    if (loc.ok() && *loc) return MovePackedAside(id, **loc, hops);
  }
  const std::string path = PathOf(id);
  auto file = env_->ReadFile(path);
  if (!file.ok()) {
    if (file.status().IsNotFound()) return false;
    return file.status();
  }
  // Judge the file by its own header's length, not the catalog's: a file
  // that decodes to its id is intact even if a version row says otherwise.
  const uint32_t raw_len =
      file->size() >= kChunkHeaderSize ? GetU32LE(file->data() + kOffRawLen) : 0;
  std::string plain;
  std::optional<ChunkId> bad_base;
  Status st = Decode(ChunkRef{id, raw_len, 0}, &*file, &plain, 0, nullptr, &bad_base);
  if (st.ok() || !st.IsCorruption() || !env_->FileExists(path)) return false;
  if (bad_base && hops < kMaxDeltaChain) return MoveAside(*bad_base, hops + 1);
  const std::string damaged = DamagedDir();
  RETURN_IF_ERROR(env_->CreateDir(damaged, 0700));
  RETURN_IF_ERROR(env_->RenameFile(path, damaged + "/" + id.Hex() + "." + TempSuffix()));
  return true;
}

// A record in a pack cannot be renamed away: the bytes judged bad (the
// body, or the record whose framing failed; empty if the pack is gone from
// the local disk) are copied to chunks/damaged/ as evidence and the row's
// location is cleared, so that the chunk reads as missing and the next
// write of the same content stores it again, in any process. Clearing it
// forgets where the data was, so only bad bytes from the copy that counts
// are evidence: a cached copy of an object store's record is judged again
// by the store's own bytes, and absence reported by a store (IOError), like
// any I/O error, judges nothing. A pack gone from packs/ of a local bucket
// is judged gone: that directory is its only copy, a local file system does
// not answer "no such file" for a while, gc never deletes a pack a row
// points into, and the caller's exclusive gc lock keeps a repack from
// moving the row meanwhile.
Result<bool> ChunkStore::MovePackedAside(const ChunkId& id, const ChunkLocation& loc, int hops) {
  std::string bytes;
  RecordRead how;
  std::optional<ChunkId> bad_base;
  Status st = packs_->Read(loc, id, &bytes, &how);
  if (st.ok()) st = JudgeBody(id, bytes, &bad_base);
  if (st.IsCorruption() && how.cached && !bad_base) {
    bytes.clear();
    st = packs_->ReadFromStore(loc, id, &bytes, &how);
    if (st.ok()) st = JudgeBody(id, bytes, &bad_base);
  }
  if (st.ok()) return false;
  if (bad_base && st.IsCorruption() && hops < kMaxDeltaChain) {
    return MoveAside(*bad_base, hops + 1);
  }
  if (!st.IsCorruption()) return false;  // I/O error, no key, not in the store: judge nothing
  packs_->DropCachedRecord(loc);  // with a remote: no copy of bad bytes stays cached
  const std::string& evidence_bytes = bytes.empty() ? how.raw : bytes;
  const std::string damaged = DamagedDir();
  RETURN_IF_ERROR(env_->CreateDir(damaged, 0700));
  const std::string evidence = damaged + "/" + id.Hex() + "." + TempSuffix();
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, env_->NewWritableFile(evidence));
    RETURN_IF_ERROR(f->Append(evidence_bytes));
    RETURN_IF_ERROR(f->Close());
  }
  RETURN_IF_ERROR(forget_(id, loc));
  return true;
}

Status ChunkStore::JudgeBody(const ChunkId& id, const std::string& body,
                             std::optional<ChunkId>* bad_base) const {
  const uint32_t raw_len =
      body.size() >= kChunkHeaderSize ? GetU32LE(body.data() + kOffRawLen) : 0;
  std::string copy = body, plain;
  return Decode(ChunkRef{id, raw_len, 0}, &copy, &plain, 0, nullptr, bad_base);
}

Status ChunkStore::Remove(const ChunkId& id) { return env_->RemoveFile(PathOf(id)); }

Result<std::vector<ChunkId>> ChunkStore::List(int64_t min_tmp_age_sec) {
  static constexpr char kHex[] = "0123456789abcdef";
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::vector<ChunkId> ids;
  for (int i = 0; i < 256; ++i) {
    const char prefix[2] = {kHex[i >> 4], kHex[i & 0xf]};
    const std::string sub = dir_ + "/" + std::string(prefix, 2);
    auto names = env_->GetChildren(sub);
    if (!names.ok()) {
      if (names.status().IsNotFound()) continue;  // never initialized; nothing there
      return names.status();
    }
    for (const std::string& name : *names) {
      // Only the canonical name (lowercase, in its own fan-out dir) is a chunk.
      if (auto id = Digest::FromHex(name);
          id && name.compare(0, 2, prefix, 2) == 0 && id->Hex() == name) {
        ids.push_back(*id);
      } else if (IsTempName(name)) {
        SweepTemp(sub + "/" + name, now, min_tmp_age_sec);
      }
    }
  }
  return ids;
}

// Removes a leftover temp file once it is old enough that no Write() can
// still be working on it. Failures are ignored: the next List() retries.
void ChunkStore::SweepTemp(const std::string& path, int64_t now, int64_t min_age_sec) {
  auto mtime = env_->GetFileModificationTime(path);
  if (!mtime.ok() || now - *mtime < min_age_sec) return;
  env_->RemoveFile(path);
}

}  // namespace katamari

// Delta chunks: a chunk stored as a zstd patch against the plaintext of
// another chunk, its base (docs/chunk-format.md, "Delta chunks").
//
// Payload of a delta chunk (codec byte 3), before sealing:
//   32 bytes  the base's chunk id
//    4 bytes  the base's raw length (u32 little endian)
//    …        one zstd frame, made with the base's plaintext as prefix
// The base is read (and verified, and decrypted) like any chunk, then the
// frame is decoded against it; the result is checked against the chunk's
// own id as always, so a wrong or damaged base gives an error, never bytes.
#include <cstring>

#include "store/chunk_store.h"
#include "store/codec.h"

namespace katamari {

namespace {

constexpr size_t kBaseRefSize = 32 + 4;
// zstd level of patches when the bucket's codec is not zstd.
constexpr int kPatchLevel = 3;

Status DeltaCorruption(const ChunkId& id, const std::string& detail) {
  return Status::Corruption("chunk " + id.Hex() + ": " + detail +
                            "; run `katamari fsck` to find the files that use it");
}

}  // namespace

Result<bool> ChunkStore::BuildPatch(const ChunkId& id, std::string_view plaintext,
                                    const DeltaCandidate& delta, size_t plain_payload,
                                    std::string* patch) {
  if (delta.depth + 1 > kMaxDeltaChain || delta.base.id == id || delta.base.IsHole() ||
      delta.plain.size() != delta.base.raw_len || plaintext.empty()) {
    return false;
  }
  const uint32_t packed = codec_level_.load(std::memory_order_relaxed);
  const int level = static_cast<Codec>(packed >> 16) == Codec::kZstd
                        ? static_cast<int>(packed & 0xffff)
                        : kPatchLevel;
  // The caller copies the header of the plain form in, with codec 3.
  std::string& buf = *patch;
  buf.assign(kChunkHeaderSize, '\0');
  buf.append(reinterpret_cast<const char*>(delta.base.id.bytes.data()), 32);
  char len[4];
  for (int i = 0; i < 4; ++i) len[i] = static_cast<char>(delta.base.raw_len >> (8 * i));
  buf.append(len, 4);
  ASSIGN_OR_RETURN(size_t n, ZstdPatchAppend(level, delta.plain, plaintext, &buf));
  // Only when it pays: a patch reads one more chunk, so it must save much.
  if ((kBaseRefSize + n) * 2 > plain_payload) return false;
  return true;
}

Status ChunkStore::DecodePatch(const ChunkRef& ref, std::string_view payload, std::string* out,
                               int level, DeltaChain* chain, std::optional<ChunkId>* bad_base,
                               ReadMode mode) const {
  if (payload.size() < kBaseRefSize) {
    return DeltaCorruption(ref.id, "delta payload of " + std::to_string(payload.size()) +
                                       " bytes is too short to name its base");
  }
  ChunkRef base;
  std::memcpy(base.id.bytes.data(), payload.data(), 32);
  for (int i = 0; i < 4; ++i) {
    base.raw_len |= uint32_t{static_cast<uint8_t>(payload[32 + i])} << (8 * i);
  }
  if (base.id == ref.id || base.IsHole()) {
    return DeltaCorruption(ref.id, "delta chunk names itself or nothing as its base");
  }
  if (level + 1 > kMaxDeltaChain) {
    return DeltaCorruption(ref.id, "delta chain longer than " + std::to_string(kMaxDeltaChain) +
                                       " chunks");
  }
  std::string base_plain, base_scratch;
  DeltaChain base_chain;
  Status st = ReadAt(base, &base_plain, level + 1, &base_chain, &base_scratch, mode);
  if (!st.ok()) {
    if (!st.IsCorruption()) return st;
    if (bad_base) *bad_base = base.id;
    return Status::Corruption("chunk " + ref.id.Hex() + " is a delta on chunk " + base.id.Hex() +
                              ", which cannot be read: " + st.message());
  }
  RETURN_IF_ERROR(ZstdUnpatch(base_plain, payload.substr(kBaseRefSize), ref.raw_len, out,
                              "chunk " + ref.id.Hex()));
  if (chain) {
    *chain = base_chain;
    ++chain->depth;
  }
  return Status::OK();
}

}  // namespace katamari

// Per-chunk compression: zstd, zlib or none. Private to store/.
#pragma once

#include <string>
#include <string_view>

#include "store/status.h"
#include "store/types.h"

namespace katamari {

// Compresses `in` with `codec` at `level` into *out (replacing its content).
// Returns the codec actually used: kNone when compression would not shrink the
// data (the caller then stores `in` raw). Thread-safe (per-thread contexts).
Result<Codec> Compress(Codec codec, int level, std::string_view in, std::string* out);

// Like Compress, but appends after the current content of *out (e.g. after a
// file header, saving a copy). When kNone is returned *out is left exactly as
// it was on entry; on error its tail past the original size is unspecified.
Result<Codec> CompressAppend(Codec codec, int level, std::string_view in, std::string* out);

// Decompresses exactly `raw_len` bytes; any size mismatch or codec error is a
// Corruption status naming `what` (e.g. the chunk id).
Status Decompress(Codec codec, std::string_view in, size_t raw_len, std::string* out,
                  std::string_view what);

// Delta chunks (docs/chunk-format.md, "Delta chunks"): `in` compressed as
// one zstd frame with `base` as its prefix (ZSTD_CCtx_refPrefix), appended
// after the current content of *out; returns the frame's size. Thread-safe.
Result<size_t> ZstdPatchAppend(int level, std::string_view base, std::string_view in,
                               std::string* out);
// Decodes a frame made by ZstdPatchAppend against the same `base` into
// exactly `raw_len` bytes; a size mismatch or zstd error (e.g. another base)
// is a Corruption status naming `what`.
Status ZstdUnpatch(std::string_view base, std::string_view frame, size_t raw_len,
                   std::string* out, std::string_view what);

// Valid level ranges: zstd 1..19, zlib 1..9, none ignores the level.
Status ValidateLevel(Codec codec, int level);

}  // namespace katamari

// Per-chunk compression with zstd and zlib.
//
// zstd contexts are expensive to create (hundreds of KiB of tables), so each
// thread keeps one compression and one decompression context for its whole
// life. zlib's one-shot compress2/uncompress allocate internally; they are
// the legacy codec and not on the hot path of new buckets.
#include "store/codec.h"

#include <zlib.h>
#include <zstd.h>

#include <memory>

namespace katamari {

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
  return ctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
  return ctx.get();
}

// Compresses into out[base..]; returns the compressed size, or 0 when the
// result would not be smaller than the input (store raw instead).
Result<size_t> ZstdInto(int level, std::string_view in, std::string* out, size_t base) {
  ZSTD_CCtx* cctx = ThreadCCtx();
  if (cctx == nullptr) return Status::IOError("zstd: cannot allocate a compression context");
  out->resize(base + ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(cctx, out->data() + base, out->size() - base, in.data(),
                               in.size(), level);
  if (ZSTD_isError(n)) {
    return Status::IOError(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  return n >= in.size() ? 0 : n;
}

Result<size_t> ZlibInto(int level, std::string_view in, std::string* out, size_t base) {
  uLongf cap = compressBound(static_cast<uLong>(in.size()));
  out->resize(base + cap);
  int rc = compress2(reinterpret_cast<Bytef*>(out->data() + base), &cap,
                     reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()),
                     level);
  if (rc != Z_OK) return Status::IOError("zlib compression failed: " + std::string(zError(rc)));
  return cap >= in.size() ? 0 : static_cast<size_t>(cap);
}

Status CorruptionOf(std::string_view what, const std::string& detail) {
  std::string m(what);
  m += ": ";
  m += detail;
  return Status::Corruption(std::move(m));
}

}  // namespace

Status ValidateLevel(Codec codec, int level) {
  switch (codec) {
    case Codec::kNone:
      return Status::OK();
    case Codec::kZstd:
      if (level >= 1 && level <= 19) return Status::OK();
      return Status::InvalidArgument("zstd level " + std::to_string(level) +
                                     " is out of range; use 1..19");
    case Codec::kZlib:
      if (level >= 1 && level <= 9) return Status::OK();
      return Status::InvalidArgument("zlib level " + std::to_string(level) +
                                     " is out of range; use 1..9");
  }
  return Status::InvalidArgument("unknown codec " + std::to_string(static_cast<int>(codec)));
}

Result<Codec> CompressAppend(Codec codec, int level, std::string_view in, std::string* out) {
  if (codec == Codec::kNone) return Codec::kNone;
  RETURN_IF_ERROR(ValidateLevel(codec, level));
  const size_t base = out->size();
  Result<size_t> n = codec == Codec::kZstd ? ZstdInto(level, in, out, base)
                                           : ZlibInto(level, in, out, base);
  if (!n.ok()) {
    out->resize(base);
    return n.status();
  }
  out->resize(base + *n);
  return *n == 0 ? Codec::kNone : codec;
}

Result<Codec> Compress(Codec codec, int level, std::string_view in, std::string* out) {
  out->clear();
  return CompressAppend(codec, level, in, out);
}

Status Decompress(Codec codec, std::string_view in, size_t raw_len, std::string* out,
                  std::string_view what) {
  switch (codec) {
    case Codec::kNone:
      if (in.size() != raw_len) {
        return CorruptionOf(what, "raw payload is " + std::to_string(in.size()) +
                                      " bytes, expected " + std::to_string(raw_len));
      }
      out->assign(in);
      return Status::OK();
    case Codec::kZstd: {
      ZSTD_DCtx* dctx = ThreadDCtx();
      if (dctx == nullptr) return Status::IOError("zstd: cannot allocate a decompression context");
      out->resize(raw_len);
      // A frame holding more than raw_len bytes fails with dstSize_tooSmall,
      // so the size check below catches both too long and too short.
      size_t n = ZSTD_decompressDCtx(dctx, out->data(), raw_len, in.data(), in.size());
      if (ZSTD_isError(n)) {
        out->clear();
        return CorruptionOf(what, std::string("zstd: ") + ZSTD_getErrorName(n));
      }
      if (n != raw_len) {
        out->clear();
        return CorruptionOf(what, "zstd payload decodes to " + std::to_string(n) +
                                      " bytes, expected " + std::to_string(raw_len));
      }
      return Status::OK();
    }
    case Codec::kZlib: {
      // uncompress() needs a non-null destination even for zero bytes.
      out->resize(raw_len == 0 ? 1 : raw_len);
      uLongf n = static_cast<uLongf>(raw_len);
      int rc = uncompress(reinterpret_cast<Bytef*>(out->data()), &n,
                          reinterpret_cast<const Bytef*>(in.data()), static_cast<uLong>(in.size()));
      if (rc != Z_OK || n != raw_len) {
        out->clear();
        return CorruptionOf(what, rc != Z_OK ? std::string("zlib: ") + zError(rc)
                                             : "zlib payload decodes to " + std::to_string(n) +
                                                   " bytes, expected " + std::to_string(raw_len));
      }
      out->resize(raw_len);
      return Status::OK();
    }
  }
  return CorruptionOf(what, "unknown codec " + std::to_string(static_cast<int>(codec)));
}

Result<size_t> ZstdPatchAppend(int level, std::string_view base, std::string_view in,
                               std::string* out) {
  RETURN_IF_ERROR(ValidateLevel(Codec::kZstd, level));
  ZSTD_CCtx* cctx = ThreadCCtx();
  if (cctx == nullptr) return Status::IOError("zstd: cannot allocate a compression context");
  const size_t start = out->size();
  out->resize(start + ZSTD_compressBound(in.size()));
  // The prefix is referenced for one frame only; the parameters set here
  // are reset with the session afterwards, so plain Compress is unaffected.
  size_t rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  // The window must reach back over the whole base.
  unsigned wlog = 10;
  while (wlog < 27 && (size_t{1} << wlog) < base.size() + in.size()) ++wlog;
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, static_cast<int>(wlog));
  if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_refPrefix(cctx, base.data(), base.size());
  size_t n = ZSTD_isError(rc) ? rc
                              : ZSTD_compress2(cctx, out->data() + start, out->size() - start,
                                               in.data(), in.size());
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(n)) {
    out->resize(start);
    return Status::IOError(std::string("zstd patch compression failed: ") + ZSTD_getErrorName(n));
  }
  out->resize(start + n);
  return n;
}

Status ZstdUnpatch(std::string_view base, std::string_view frame, size_t raw_len,
                   std::string* out, std::string_view what) {
  ZSTD_DCtx* dctx = ThreadDCtx();
  if (dctx == nullptr) return Status::IOError("zstd: cannot allocate a decompression context");
  out->resize(raw_len);
  size_t rc = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 27);
  if (!ZSTD_isError(rc)) rc = ZSTD_DCtx_refPrefix(dctx, base.data(), base.size());
  size_t n = ZSTD_isError(rc) ? rc
                              : ZSTD_decompressDCtx(dctx, out->data(), raw_len, frame.data(),
                                                    frame.size());
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(n)) {
    out->clear();
    return CorruptionOf(what, std::string("zstd patch: ") + ZSTD_getErrorName(n));
  }
  if (n != raw_len) {
    out->clear();
    return CorruptionOf(what, "zstd patch decodes to " + std::to_string(n) +
                                  " bytes, expected " + std::to_string(raw_len));
  }
  return Status::OK();
}

}  // namespace katamari

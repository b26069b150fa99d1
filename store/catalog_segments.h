// Chunk lists as shared, immutable segments (format 7; docs/catalog.md,
// "segments"). A version's chunk list is cut into segments by a rule that
// looks only at the chunk ids (so the same run of chunks is always cut the
// same way, whatever came before it), each segment is stored once in the
// `segments` table under the SHA-256 of its chunk ids and lengths, and the
// version row lists segment ids. An edit of a big file therefore adds one or
// two segments and reuses every other one of its base: the commit touches
// rows in proportion to what changed, not to the size of the file.
//
// Reference counts: segments.refs counts the occurrences of a segment in
// version lists; chunks.refs counts the occurrences of a chunk in segment
// rows (a segment shared by a thousand versions counts once). A segment whose
// refs reach 0 is deleted in the same transaction and its chunks' refs are
// lowered, so chunks.refs == 0 still means "no version needs the chunk".
//
// All functions run inside the caller's transaction (they assume one is
// open; SnapshotIfNone opens a read snapshot for readers outside one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/catalog_db.h"
#include "store/status.h"
#include "store/types.h"

namespace katamari::catalog_segments {

// The cut rule: a segment of at least kMinChunks refs ends after a chunk
// (not a hole) whose id's last byte has its low 7 bits zero (1 in 128, ids
// being uniform hashes), and any segment when it holds kMaxChunks refs. The
// minimum bounds the number of segments of a list whose ids are not uniform
// (content made to hit the rule): an edit then still touches at most a
// sixteenth of the rows the list has chunks.
inline constexpr size_t kMinChunks = 16;
inline constexpr size_t kMaxChunks = 1024;
inline constexpr uint8_t kCutMask = 127;

// Whether a segment of n refs (so far) ends after its last ref `c`.
inline bool CutAfter(const ChunkRef& c, size_t n) {
  return (n >= kMinChunks && !c.IsHole() && (c.id.bytes[31] & kCutMask) == 0) || n == kMaxChunks;
}

// The segments of `chunks` as [begin, end) index ranges, in order.
std::vector<std::pair<size_t, size_t>> Split(const std::vector<ChunkRef>& chunks);

// The key of a segment: SHA-256 over its refs' 32-byte ids and u32 LE raw
// lengths (stored lengths are not part of it).
Digest SegmentHash(const ChunkRef* refs, size_t n);

// versions.chunks of format 7: u64 LE segment ids in file order.
std::string EncodeList(const std::vector<int64_t>& ids);
Result<std::vector<int64_t>> DecodeList(std::string_view blob, const std::string& what);

// What RaiseChunkRefs does with a new reference to a chunk that has no row
// and that the commit did not store (no pack location): kRefuse, for every
// commit, is Corruption (the writer believed the chunk was there; a row
// made up now would point at nothing, and the caller's transaction rolls
// back); kRecreate, for the 6 -> 7 migration only (catalog_format.cc), which
// rebuilds rows a damaged catalog lost, the old chunk files standing where
// a row without a location says.
enum class MissingRows { kRefuse, kRecreate };

struct Referenced {
  std::string list;          // the version's versions.chunks value
  uint64_t new_bytes = 0;    // stored bytes of chunk rows this call inserted
  uint64_t stored_size = 0;  // stored bytes of the distinct chunks
};
// Makes `chunks` (a new version's list) referenced: each segment found by
// its hash gets its refs raised; a new one is inserted and its chunks' refs
// raised (missing chunk rows inserted as `missing` says, ChunkRef::replace
// locations applied). Each ref's stored_len is set to the recorded one.
Result<Referenced> Reference(sql::Db& db, std::vector<ChunkRef>* chunks, MissingRows missing);

// One segment of a new list, refs[0, len) with key `hash`, occurring n
// times in it: found by its hash (refs raised by n, the refs' stored_len set
// to the recorded ones) or inserted (its chunks' refs raised). Returns its id
// and adds the stored bytes of chunk rows it inserted to *new_bytes.
Result<int64_t> ReferenceSegment(sql::Db& db, ChunkRef* refs, size_t len, const Digest& hash,
                                 size_t n, uint64_t* new_bytes, MissingRows missing);

// An incremental commit's list (store/catalog_segments_edit.cc): `pieces`
// as a version list, cut exactly as Reference would cut the refs they stand
// for. A reused segment keeps its id where a cut of the new list falls at
// its start (and at its end), so only the segments around the changes are
// read and new rows; the others only get their refs raised. `base_list` and
// `base_stored` are the versions.chunks and stored_size of the version the
// reused segments come from; the stored bytes of the distinct chunks are
// computed from them and the changed segments, not from the whole list.
// NotFound if a reused segment no longer exists (the base was deleted).
// Missing chunk rows are refused (MissingRows::kRefuse).
struct ReferencedPieces : Referenced {
  uint64_t chunk_count = 0;
  uint64_t size = 0;  // plaintext bytes of the list
};
Result<ReferencedPieces> ReferencePieces(sql::Db& db, const std::vector<ListPiece>& pieces,
                                         std::string_view base_list, uint64_t base_stored,
                                         const std::string& what);

// The metadata of each segment of a version list, in file order.
Result<std::vector<SegmentMeta>> ListSegments(sql::Db& db, std::string_view list,
                                              const std::string& what);
// The refs of one segment; NotFound if it does not exist.
Result<std::vector<ChunkRef>> SegmentRefs(sql::Db& db, int64_t id, const std::string& what);

// Drops the references a version list holds (per occurrence). `what` names
// the version in Corruption messages.
Status Release(sql::Db& db, std::string_view list, const std::string& what);

// A read transaction if none is open (then committed by the caller once
// the version row and its segments are read), else nothing.
Result<std::optional<sql::Txn>> SnapshotIfNone(sql::Db& db);

// The chunk refs of a version list, in file order.
Result<std::vector<ChunkRef>> Expand(sql::Db& db, std::string_view list,
                                     const std::string& what);

// Raises / lowers chunk refs per occurrence in chunks[0, n) (holes
// skipped). Raise inserts the rows of chunks the commit stored (a pack
// location), and of others as `missing` says, and sets each ref's
// stored_len to the row's; returns the stored bytes of rows it inserted.
Result<uint64_t> RaiseChunkRefs(sql::Db& db, ChunkRef* chunks, size_t n, MissingRows missing);
Status LowerChunkRefs(sql::Db& db, const ChunkRef* chunks, size_t n, const std::string& what);

}  // namespace katamari::catalog_segments

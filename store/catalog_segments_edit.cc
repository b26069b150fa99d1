// The list of an incremental commit (catalog_segments::ReferencePieces,
// docs/catalog.md "segments"): the base version's segments that the edit did
// not touch are reused by id, never read; only the segments around the
// changes are cut again and stored.
//
// Why the result is the list Reference would make of the whole content:
// Split looks at one ref at a time and remembers only how many refs the
// open segment holds. Where the new list's cut falls at the start of a
// reused segment, Split starts that segment afresh, as it did in the base,
// over the same refs: it cuts exactly where the base did, at its end (a
// segment that was not the base's last ends at a cut). A reused segment
// that does not start at a cut of the new list is read and its refs cut as
// new ones, until a cut lands on the start of a reused segment again.
//
// The stored bytes of the distinct chunks (versions.stored_size) follow from
// the base's: the chunks of the base's segments that were not reused (O) go,
// those of the new segments (N) come. A chunk in only one of them changes the
// sum unless it is also in a reused segment (R). Whether it is is answered
// by its row: chunks.refs counts its occurrences in segment rows, so a chunk
// whose refs are all in the dropped segments, or that has no row yet, is in
// no reused segment. Only when that cannot tell (a chunk found elsewhere too)
// are the reused segments read, to look for it.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "store/catalog_format.h"
#include "store/catalog_segments.h"

namespace katamari::catalog_segments {

namespace {

constexpr char kSqlSegmentMeta[] = "SELECT chunk_count, size FROM segments WHERE id = ?1";
constexpr char kSqlRaiseSegmentById[] =
    "UPDATE segments SET refs = refs + ?2 WHERE id = ?1 RETURNING chunk_count, size";
constexpr char kSqlChunkRefs[] = "SELECT refs FROM chunks WHERE id = ?1";

struct IdHash {
  size_t operator()(const ChunkId& id) const {
    size_t h;
    std::memcpy(&h, id.bytes.data(), sizeof h);  // ids are uniform hashes
    return h;
  }
};

// A segment of the new list: reused (id set, refs empty) or new.
struct OutSegment {
  int64_t reused = 0;
  std::vector<ChunkRef> refs;
};

// What a chunk of O or N is known to be: occurrences in O, in N, stored bytes.
struct Delta {
  uint32_t in_o = 0, in_n = 0;
  uint32_t stored_o = 0;
  bool in_r = false;     // known to be in a reused segment
  bool unknown = false;  // its row could not tell
};

}  // namespace

Result<std::vector<SegmentMeta>> ListSegments(sql::Db& db, std::string_view list,
                                              const std::string& what) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, DecodeList(list, what));
  std::vector<SegmentMeta> out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    // The columns before the chunks blob: its overflow pages are not read.
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlSegmentMeta));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return Status::Corruption("catalog " + db.path() + ": " + what + " lists segment " +
                                std::to_string(id) + ", which does not exist; run `katamari fsck`");
    }
    out.push_back({id, static_cast<uint32_t>(q.Int(0)), q.U64(1)});
  }
  return out;
}

Result<ReferencedPieces> ReferencePieces(sql::Db& db, const std::vector<ListPiece>& pieces,
                                         std::string_view base_list, uint64_t base_stored,
                                         const std::string& what) {
  // 1. The new list's segments, cut as Split would cut the refs.
  std::vector<OutSegment> segs;
  std::vector<ChunkRef> open;  // refs of the segment being cut
  auto feed = [&](const ChunkRef& c) {
    open.push_back(c);
    if (CutAfter(c, open.size())) {
      segs.push_back({0, std::move(open)});
      open.clear();
    }
  };
  std::map<int64_t, uint32_t> reused;  // id -> occurrences in the new list
  for (size_t p = 0; p < pieces.size(); ++p) {
    const ListPiece& piece = pieces[p];
    if (piece.segment == 0) {
      for (const ChunkRef& c : piece.chunks) feed(c);
      continue;
    }
    const bool last = p + 1 == pieces.size();
    if (open.empty() && (piece.ends_cut || last)) {
      segs.push_back({piece.segment, {}});
      ++reused[piece.segment];
      continue;
    }
    // Not at a cut of the new list: its refs are cut again.
    auto refs = SegmentRefs(db, piece.segment, what);
    if (!refs.ok()) {
      return Status::NotFound("segment " + std::to_string(piece.segment) + " of the base of " +
                              what + " is gone");
    }
    for (const ChunkRef& c : *refs) feed(c);
  }
  if (!open.empty()) segs.push_back({0, std::move(open)});

  // 2. O: the base's segments not reused (per occurrence in the base list).
  ASSIGN_OR_RETURN(std::vector<int64_t> base_ids, DecodeList(base_list, what));
  std::map<int64_t, uint32_t> dropped;  // id -> occurrences
  {
    std::map<int64_t, uint32_t> left = reused;
    for (int64_t id : base_ids) {
      auto it = left.find(id);
      if (it != left.end() && it->second > 0) {
        --it->second;
      } else {
        ++dropped[id];
      }
    }
    for (const auto& [id, n] : left) {
      if (n != 0) {
        return Status::InvalidArgument("internal: " + what + " reuses segment " +
                                       std::to_string(id) + " more often than its base lists it");
      }
    }
  }
  std::unordered_map<ChunkId, Delta, IdHash> delta;
  // Per dropped segment row: its chunks' occurrences in it (chunks.refs counts per row).
  std::unordered_map<ChunkId, uint32_t, IdHash> in_dropped_rows;
  for (const auto& [id, n] : dropped) {
    auto refs = SegmentRefs(db, id, what);
    if (!refs.ok()) return refs.status();
    const bool also_reused = reused.count(id) != 0;
    for (const ChunkRef& c : *refs) {
      if (c.IsHole()) continue;
      Delta& d = delta[c.id];
      d.in_o += n;
      d.stored_o = c.stored_len;
      if (also_reused) d.in_r = true;
      ++in_dropped_rows[c.id];
    }
  }
  for (const OutSegment& s : segs) {
    for (const ChunkRef& c : s.refs) {
      if (!c.IsHole()) ++delta[c.id].in_n;
    }
  }

  // 3. Whether the chunks that are in only one of O and N are in R, from
  // their rows (before this list raises them).
  bool any_unknown = false;
  for (auto& [id, d] : delta) {
    if ((d.in_o > 0) == (d.in_n > 0) || d.in_r) continue;
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlChunkRefs));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) continue;  // not stored before: in no segment
    const auto it = in_dropped_rows.find(id);
    const int64_t own = it == in_dropped_rows.end() ? 0 : it->second;
    if (q.Int(0) > own) {
      d.unknown = true;
      any_unknown = true;
    }
  }
  if (any_unknown) {
    // Rare (content repeated within the file, or shared with others): look
    // for them in the reused segments.
    for (const auto& [id, n] : reused) {
      auto refs = SegmentRefs(db, id, what);
      if (!refs.ok()) return refs.status();
      for (const ChunkRef& c : *refs) {
        auto it = delta.find(c.id);
        if (it != delta.end() && it->second.unknown) it->second.in_r = true;
      }
    }
  }

  // 4. The references: reused segments by id, new ones by hash.
  ReferencedPieces out;
  std::map<int64_t, std::pair<uint64_t, uint64_t>> meta;  // id -> chunk_count, size
  for (const auto& [id, n] : reused) {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlRaiseSegmentById));
    q.BindAll(id, n);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) {
      return Status::NotFound("segment " + std::to_string(id) + " of the base of " + what +
                              " is gone");
    }
    meta[id] = {q.U64(0), q.U64(1)};
    RETURN_IF_ERROR(q.Run());  // RETURNING: step to the end before the next statement
  }
  std::vector<int64_t> ids;
  ids.reserve(segs.size());
  for (OutSegment& s : segs) {
    if (s.reused != 0) {
      ids.push_back(s.reused);
      out.chunk_count += meta[s.reused].first;
      out.size += meta[s.reused].second;
      continue;
    }
    const Digest hash = SegmentHash(s.refs.data(), s.refs.size());
    ASSIGN_OR_RETURN(int64_t id, ReferenceSegment(db, s.refs.data(), s.refs.size(), hash, 1,
                                                  &out.new_bytes, MissingRows::kRefuse));
    ids.push_back(id);
    out.chunk_count += s.refs.size();
    for (const ChunkRef& c : s.refs) out.size += c.raw_len;
  }
  out.list = EncodeList(ids);

  // 5. The stored bytes: the base's, less what went, plus what came.
  std::unordered_map<ChunkId, uint32_t, IdHash> stored_n;
  for (const OutSegment& s : segs) {
    for (const ChunkRef& c : s.refs) {
      if (!c.IsHole()) stored_n[c.id] = c.stored_len;
    }
  }
  int64_t stored = static_cast<int64_t>(base_stored);
  for (const auto& [id, d] : delta) {
    if (d.in_r || (d.in_o > 0) == (d.in_n > 0)) continue;
    if (d.in_o > 0) {
      stored -= d.stored_o;
    } else {
      stored += stored_n[id];
    }
  }
  out.stored_size = stored < 0 ? 0 : static_cast<uint64_t>(stored);
  return out;
}

}  // namespace katamari::catalog_segments

// Segments of chunk lists and the two levels of reference counts
// (store/catalog_segments.h, docs/catalog.md "segments").
#include "store/catalog_segments.h"

#include <endian.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <memory>

#include "store/catalog_format.h"
#include "store/segment_cache.h"
#include "store/sha256.h"

namespace katamari::catalog_segments {

namespace {

constexpr char kSqlFindSegment[] = "SELECT id, chunks FROM segments WHERE hash = ?1";
constexpr char kSqlRaiseSegment[] = "UPDATE segments SET refs = refs + ?2 WHERE id = ?1";
constexpr char kSqlInsertSegment[] =
    "INSERT INTO segments(hash, refs, chunk_count, size, chunks) VALUES(?1, ?2, ?3, ?4, ?5)";
constexpr char kSqlLowerSegment[] =
    "UPDATE segments SET refs = refs - ?2 WHERE id = ?1 AND refs >= ?2 RETURNING refs, chunks";
constexpr char kSqlDeleteSegment[] = "DELETE FROM segments WHERE id = ?1";
constexpr char kSqlSegmentChunks[] = "SELECT chunks FROM segments WHERE id = ?1";

constexpr char kSqlInsertChunk[] =
    "INSERT INTO chunks(id, raw_len, stored_len, refs, pack_id, pack_offset) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO NOTHING";
// A delta chunk (format 8; the statement above also serves the 6 -> 7
// migration, before the column exists).
constexpr char kSqlInsertDeltaChunk[] =
    "INSERT INTO chunks(id, raw_len, stored_len, refs, pack_id, pack_offset, delta_base) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING";
// A new delta chunk's row holds one reference on its base (format 8).
constexpr char kSqlHoldBase[] = "UPDATE chunks SET refs = refs + 1 WHERE id = ?1";
// A chunk stored again because its copy was missing or damaged (ChunkRef::
// replace): the row now points at the new copy.
constexpr char kSqlReplaceLocation[] =
    "UPDATE chunks SET stored_len = ?2, pack_id = ?3, pack_offset = ?4 WHERE id = ?1";
constexpr char kSqlRaiseRefs[] =
    "UPDATE chunks SET refs = refs + ?2 WHERE id = ?1 RETURNING raw_len, stored_len";
constexpr char kSqlLowerRefs[] =
    "UPDATE chunks SET refs = refs - ?2 WHERE id = ?1 AND refs >= ?2";

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
uint64_t GetU64(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | u[i];
  return v;
}

// Groups of equal ids in chunks[0, n), as runs of indexes into `order`.
template <class Fn>
Status ForEachDistinct(const ChunkRef* chunks, size_t n, Fn fn) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  // Sorted ids also make the B-tree walk sequential. Stable: equal ids stay
  // in list order (callers pick among them by content, never by position).
  std::stable_sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return chunks[a].id < chunks[b].id; });
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && chunks[order[j]].id == chunks[order[i]].id) ++j;
    RETURN_IF_ERROR(fn(&order[i], j - i));
    i = j;
  }
  return Status::OK();
}

void BindLocation(sql::Query& q, int col, const std::optional<ChunkLocation>& loc) {
  if (!loc) {
    q.Bind(col, std::nullopt).Bind(col + 1, std::nullopt);
    return;
  }
  q.Bind(col, std::string_view(reinterpret_cast<const char*>(loc->pack.data()), 16));
  q.Bind(col + 1, static_cast<int64_t>(loc->offset));
}

Status ReplaceLocation(sql::Db& db, const ChunkRef& c) {
  ASSIGN_OR_RETURN(sql::Query r, db.Prepare(kSqlReplaceLocation));
  r.BindAll(c.id, c.stored_len);
  BindLocation(r, 3, c.loc);
  return r.Run();
}

// The base of a delta chunk is a chunk of the version the commit edits,
// kept from gc by the writer's shared gc lock until this row holds it.
Status HoldDeltaBase(sql::Db& db, const ChunkRef& c) {
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlHoldBase));
  q.Bind(1, *c.delta_base);
  RETURN_IF_ERROR(q.Run());
  if (db.Changes() == 1) return Status::OK();
  return Status::Corruption("catalog " + db.path() + ": chunk " + c.id.Hex() +
                            " was stored as a delta on chunk " + c.delta_base->Hex() +
                            ", which the catalog does not record; run `katamari fsck`");
}

Status MissingSegment(const sql::Db& db, int64_t id, const std::string& what) {
  return Status::Corruption("catalog " + db.path() + ": " + what + " lists segment " +
                            std::to_string(id) + ", which does not exist; run `katamari fsck`");
}

std::string EncodeRefs(const ChunkRef* refs, size_t n) {
  return catalog_format::EncodeChunks(std::vector<ChunkRef>(refs, refs + n));
}

// Stored bytes of the distinct chunks of `chunks`. Sorted by the first 8
// bytes of the ids (uniform hashes), the full ids compared only where
// those are equal: a tenth of the cost of sorting 32-byte keys.
uint64_t DistinctStoredBytes(const std::vector<ChunkRef>& chunks) {
  std::vector<std::pair<uint64_t, uint32_t>> keys;  // id prefix, index
  keys.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (chunks[i].IsHole()) continue;
    uint64_t prefix;
    std::memcpy(&prefix, chunks[i].id.bytes.data(), 8);
    keys.emplace_back(prefix, static_cast<uint32_t>(i));
  }
  std::sort(keys.begin(), keys.end());
  uint64_t total = 0;
  for (size_t k = 0; k < keys.size();) {
    size_t end = k + 1;
    while (end < keys.size() && keys[end].first == keys[k].first) ++end;
    for (size_t a = k; a < end; ++a) {  // usually one
      bool seen = false;
      for (size_t b = k; b < a && !seen; ++b) {
        seen = chunks[keys[b].second].id == chunks[keys[a].second].id;
      }
      if (!seen) total += chunks[keys[a].second].stored_len;
    }
    k = end;
  }
  return total;
}

// Appends the 40-byte records of a segment (docs/catalog.md) to `out`.
Status AppendRecords(std::string_view blob, int64_t id, std::vector<ChunkRef>* out) {
  if (blob.size() % catalog_format::kPackedChunkSize != 0) {
    return Status::Corruption("catalog: the chunks column of segment " + std::to_string(id) +
                              " is malformed; run `katamari fsck` and restore catalog.db from a "
                              "backup");
  }
  const size_t n = blob.size() / catalog_format::kPackedChunkSize;
  const size_t first = out->size();
  out->resize(first + n);
  const char* p = blob.data();
  for (size_t i = 0; i < n; ++i, p += catalog_format::kPackedChunkSize) {
    ChunkRef& c = (*out)[first + i];
    std::memcpy(c.id.bytes.data(), p, 32);
    uint32_t raw, stored;
    std::memcpy(&raw, p + 32, 4);  // little endian, as every supported host
    std::memcpy(&stored, p + 36, 4);
    c.raw_len = le32toh(raw);
    c.stored_len = le32toh(stored);
  }
  return Status::OK();
}

}  // namespace

std::vector<std::pair<size_t, size_t>> Split(const std::vector<ChunkRef>& chunks) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ChunkRef& c = chunks[i];
    if (CutAfter(c, i + 1 - begin) || i + 1 == chunks.size()) {
      out.emplace_back(begin, i + 1);
      begin = i + 1;
    }
  }
  return out;
}

Digest SegmentHash(const ChunkRef* refs, size_t n) {
  std::string buf;
  buf.reserve(n * 36);
  for (size_t i = 0; i < n; ++i) {
    buf.append(reinterpret_cast<const char*>(refs[i].id.bytes.data()), 32);
    const uint32_t len = refs[i].raw_len;
    const char b[4] = {static_cast<char>(len), static_cast<char>(len >> 8),
                       static_cast<char>(len >> 16), static_cast<char>(len >> 24)};
    buf.append(b, 4);
  }
  return Sha256Of(buf);
}

std::string EncodeList(const std::vector<int64_t>& ids) {
  std::string out;
  out.reserve(ids.size() * 8);
  for (int64_t id : ids) PutU64(&out, static_cast<uint64_t>(id));
  return out;
}

Result<std::vector<int64_t>> DecodeList(std::string_view blob, const std::string& what) {
  if (blob.size() % 8 != 0) {
    return Status::Corruption("catalog: the chunks column of " + what +
                              " is malformed; run `katamari fsck` and restore catalog.db from a "
                              "backup");
  }
  std::vector<int64_t> out(blob.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<int64_t>(GetU64(blob.data() + 8 * i));
  }
  return out;
}

Result<uint64_t> RaiseChunkRefs(sql::Db& db, ChunkRef* chunks, size_t count,
                                MissingRows missing) {
  uint64_t new_bytes = 0;
  RETURN_IF_ERROR(ForEachDistinct(chunks, count, [&](const size_t* idx, size_t n) -> Status {
    // A chunk listed twice of which one copy was stored again (replace) is
    // the replacing ref, wherever that one sits in the list.
    size_t pick = 0;
    for (size_t k = 0; k < n; ++k) {
      if (chunks[idx[k]].replace && chunks[idx[k]].loc) {
        pick = k;
        break;
      }
    }
    ChunkRef& first = chunks[idx[pick]];
    if (first.IsHole()) {  // no row, no refs, nothing stored
      for (size_t k = 0; k < n; ++k) chunks[idx[k]].stored_len = 0;
      return Status::OK();
    }
    // Raised first: in an edit nearly every chunk of a new segment exists.
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlRaiseRefs));
    q.BindAll(first.id, n);
    ASSIGN_OR_RETURN(bool existed, q.Step());
    if (!existed) {
      if (!first.loc && missing == MissingRows::kRefuse) {
        return Status::Corruption(
            "catalog " + db.path() + ": the new version lists chunk " + first.id.Hex() +
            ", which the catalog does not record and the commit did not store; the commit is "
            "refused (nothing changed); run `katamari fsck`, then write the file again");
      }
      ASSIGN_OR_RETURN(sql::Query ins,
                       db.Prepare(first.delta_base ? kSqlInsertDeltaChunk : kSqlInsertChunk));
      ins.BindAll(first.id, first.raw_len, first.stored_len, n);
      BindLocation(ins, 5, first.loc);
      if (first.delta_base) ins.Bind(7, *first.delta_base);
      RETURN_IF_ERROR(ins.Run());
      if (first.delta_base) RETURN_IF_ERROR(HoldDeltaBase(db, first));
      new_bytes += first.stored_len;
      for (size_t k = 0; k < n; ++k) chunks[idx[k]].stored_len = first.stored_len;
      return Status::OK();
    }
    uint32_t raw = static_cast<uint32_t>(q.Int(0)), stored = static_cast<uint32_t>(q.Int(1));
    if (raw != first.raw_len) {
      return Status::Corruption("catalog " + db.path() + ": chunk " + first.id.Hex() +
                                " is recorded with " + std::to_string(raw) +
                                " plaintext bytes but the new version says " +
                                std::to_string(first.raw_len) + "; run `katamari fsck`");
    }
    if (first.replace && first.loc) {
      RETURN_IF_ERROR(ReplaceLocation(db, first));
      stored = first.stored_len;
    }
    for (size_t k = 0; k < n; ++k) chunks[idx[k]].stored_len = stored;
    return Status::OK();
  }));
  return new_bytes;
}

Status LowerChunkRefs(sql::Db& db, const ChunkRef* chunks, size_t count, const std::string& what) {
  return ForEachDistinct(chunks, count, [&](const size_t* idx, size_t n) -> Status {
    const ChunkId& id = chunks[idx[0]].id;
    if (chunks[idx[0]].IsHole()) return Status::OK();
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlLowerRefs));
    q.BindAll(id, n);
    RETURN_IF_ERROR(q.Run());
    if (db.Changes() != 1) {
      return Status::Corruption("catalog " + db.path() + ": chunk " + id.Hex() + " of " + what +
                                " has fewer references than " + what +
                                " holds; run `katamari fsck`");
    }
    return Status::OK();
  });
}

Result<int64_t> ReferenceSegment(sql::Db& db, ChunkRef* refs, size_t len, const Digest& hash,
                                 size_t n, uint64_t* new_bytes, MissingRows missing) {
  std::optional<std::vector<ChunkRef>> recorded;
  int64_t id = 0;
  {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlFindSegment));
    q.Bind(1, hash);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (row) {
      id = q.Int(0);
      ASSIGN_OR_RETURN(recorded,
                       catalog_format::DecodeChunks(q.Blob(1), "segment " + std::to_string(id)));
    }
  }
  if (recorded) {
    // Same key: the same ids and lengths (checked, not assumed).
    bool same = recorded->size() == len;
    for (size_t k = 0; same && k < len; ++k) {
      same = (*recorded)[k].id == refs[k].id && (*recorded)[k].raw_len == refs[k].raw_len;
    }
    if (!same) {
      return Status::Corruption("catalog " + db.path() + ": segment " + std::to_string(id) +
                                " does not hold the chunks its key says; run `katamari fsck`");
    }
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlRaiseSegment));
    q.BindAll(id, n);
    RETURN_IF_ERROR(q.Run());
    for (size_t k = 0; k < len; ++k) {
      if (refs[k].replace && refs[k].loc) {
        // Stored again (its copy was missing or damaged): the row points
        // at the new copy, as a new segment's chunks would.
        RETURN_IF_ERROR(ReplaceLocation(db, refs[k]));
      } else {
        refs[k].stored_len = (*recorded)[k].stored_len;
      }
    }
    return id;
  }
  ASSIGN_OR_RETURN(uint64_t added, RaiseChunkRefs(db, refs, len, missing));
  *new_bytes += added;
  uint64_t size = 0;
  for (size_t k = 0; k < len; ++k) size += refs[k].raw_len;
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlInsertSegment));
  q.BindAll(hash, n, len, size);
  q.Bind(5, std::string_view(EncodeRefs(refs, len)));
  RETURN_IF_ERROR(q.Run());
  return db.LastInsertRowid();
}

Result<Referenced> Reference(sql::Db& db, std::vector<ChunkRef>* chunks, MissingRows missing) {
  Referenced out;
  const auto segs = Split(*chunks);
  std::vector<Digest> hashes(segs.size());
  for (size_t s = 0; s < segs.size(); ++s) {
    hashes[s] = SegmentHash(chunks->data() + segs[s].first, segs[s].second - segs[s].first);
  }
  std::vector<size_t> order(segs.size());
  for (size_t s = 0; s < order.size(); ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return hashes[a] < hashes[b]; });
  std::vector<int64_t> ids(segs.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i + 1;
    while (j < order.size() && hashes[order[j]] == hashes[order[i]]) ++j;
    const auto [b, e] = segs[order[i]];
    ChunkRef* refs = chunks->data() + b;
    const size_t len = e - b;
    // The same segment listed again may carry a chunk stored again
    // (replace) where the first occurrence does not: any replacing ref wins.
    for (size_t o = i + 1; o < j; ++o) {
      const size_t ob = segs[order[o]].first;
      for (size_t k = 0; k < len; ++k) {
        const ChunkRef& c = (*chunks)[ob + k];
        if (c.replace && c.loc && !refs[k].replace) refs[k] = c;
      }
    }
    // j - i: the occurrences of this segment in the version.
    ASSIGN_OR_RETURN(int64_t id,
                     ReferenceSegment(db, refs, len, hashes[order[i]], j - i, &out.new_bytes,
                                      missing));
    for (size_t k = i; k < j; ++k) {
      ids[order[k]] = id;
      const auto [ob, oe] = segs[order[k]];
      for (size_t m = 0; m < len && ob + m < oe; ++m) {
        (*chunks)[ob + m].stored_len = refs[m].stored_len;
      }
    }
    i = j;
  }
  out.list = EncodeList(ids);
  out.stored_size = DistinctStoredBytes(*chunks);
  return out;
}

Status Release(sql::Db& db, std::string_view list, const std::string& what) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, DecodeList(list, what));
  std::sort(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size();) {
    size_t j = i + 1;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    std::optional<std::vector<ChunkRef>> freed;
    {
      ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlLowerSegment));
      q.BindAll(ids[i], j - i);
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) {
        return Status::Corruption("catalog " + db.path() + ": segment " +
                                  std::to_string(ids[i]) + " of " + what +
                                  " is missing or has fewer references than " + what +
                                  " holds; run `katamari fsck`");
      }
      if (q.Int(0) == 0) {
        ASSIGN_OR_RETURN(freed, catalog_format::DecodeChunks(
                                    q.Blob(1), "segment " + std::to_string(ids[i])));
      }
      RETURN_IF_ERROR(q.Run());  // RETURNING: step to the end before the next statement
    }
    if (freed) {
      // No version lists it any more: it goes, and with it its references.
      RETURN_IF_ERROR(LowerChunkRefs(db, freed->data(), freed->size(), what));
      ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlDeleteSegment));
      q.Bind(1, ids[i]);
      RETURN_IF_ERROR(q.Run());
      segment_cache::Forget(db.uid(), ids[i]);
    }
    i = j;
  }
  return Status::OK();
}

Result<std::optional<sql::Txn>> SnapshotIfNone(sql::Db& db) {
  if (sqlite3_get_autocommit(db.raw()) == 0) return std::optional<sql::Txn>();
  ASSIGN_OR_RETURN(sql::Txn t, sql::Txn::Begin(db, /*write=*/false));
  return std::optional<sql::Txn>(std::move(t));
}

Result<std::vector<ChunkRef>> SegmentRefs(sql::Db& db, int64_t id, const std::string& what) {
  std::vector<ChunkRef> out;
  ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlSegmentChunks));
  q.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::NotFound("no segment " + std::to_string(id) + " (" + what + ")");
  RETURN_IF_ERROR(AppendRecords(q.Blob(0), id, &out));
  return out;
}

Result<std::vector<ChunkRef>> Expand(sql::Db& db, std::string_view list, const std::string& what) {
  ASSIGN_OR_RETURN(std::vector<int64_t> ids, DecodeList(list, what));
  std::vector<ChunkRef> out;
  // Segments average about 144 refs: one allocation for nearly every list.
  out.reserve(ids.size() * 2 * (kCutMask + 1));
  // Committed segments are immutable by id (store/segment_cache.h): those
  // read before come from the cache, and only reads of committed rows (no
  // write transaction open here) are remembered.
  const bool remember = !db.InWriteTxn();
  for (int64_t id : ids) {
    if (segment_cache::Refs hit = segment_cache::Find(db.uid(), id)) {
      out.insert(out.end(), hit->begin(), hit->end());
      continue;
    }
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlSegmentChunks));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return MissingSegment(db, id, what);
    const size_t first = out.size();
    RETURN_IF_ERROR(AppendRecords(q.Blob(0), id, &out));
    segment_cache::NoteDecode();
    if (remember) {
      segment_cache::Put(db.uid(), id, std::make_shared<const std::vector<ChunkRef>>(
                                           out.begin() + first, out.end()));
    }
  }
  return out;
}

}  // namespace katamari::catalog_segments

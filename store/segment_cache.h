// A process-wide cache of decoded segments (store/catalog_segments.h), so
// that opening a version of a big file, or computing its held bytes, after
// an edit decodes only the one or two segments the edit made.
//
// Keyed by (connection uid, segment id). A segment row's chunks never change
// once committed (no statement updates segments.chunks; docs/catalog.md),
// and its id is never given to another committed row (AUTOINCREMENT: ids
// are not reused after a delete, also by another process). An id can only
// come back if the transaction that inserted it rolled back, so entries are
// added only from reads outside a write transaction, which see committed
// rows only. The connection uid (sql::Db::uid) separates catalogs of one
// process and a catalog reopened after its file was replaced.
//
// Bounded by the number of chunk refs held (kMaxRefs, about 13 MiB of refs),
// least recently used evicted first. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "store/types.h"

namespace katamari::segment_cache {

inline constexpr size_t kMaxRefs = 128 * 1024;

using Refs = std::shared_ptr<const std::vector<ChunkRef>>;

// The cached refs of segment `id` of connection `db`, or null.
Refs Find(uint64_t db, int64_t id);
// Remembers `refs` as segment `id` of connection `db`.
void Put(uint64_t db, int64_t id, Refs refs);
// Drops segment `id` of `db` (deleted: its memory is better used elsewhere).
void Forget(uint64_t db, int64_t id);

// Testing: segments decoded from the catalog by Expand so far (process-wide),
// and an emptied cache.
uint64_t DecodesForTesting();
void NoteDecode();
void ClearForTesting();

}  // namespace katamari::segment_cache

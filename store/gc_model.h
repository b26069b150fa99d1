// GcModel: what gc (Catalog::TakeGarbageChunks) would delete once some
// chunk references go, worked out without deleting anything. Private to
// store/: prune's bytes freed (StoredBytesGcWouldFree, over the catalog)
// and du's history bytes (Bucket::Space, over a Catalog::History snapshot)
// both count with it, so they and gc agree.
//
// A chunk row goes when its references reach 0. A delta chunk's row holds
// one reference on its base (docs/chunk-format.md, "Delta chunks"): the
// base goes with the last delta that needs it, in the same gc, a round per
// link of the chain (at most kMaxDeltaChain; the bound also ends a tampered
// cyclic chain).
//
// Thread-compatible; the row source is called from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "store/status.h"
#include "store/types.h"

namespace katamari {

// A chunk row as gc sees it. `refs` in whatever unit the caller counts
// references in (catalog: segments and deltas; snapshot: occurrences in
// version lists and deltas), as long as the dropped counts use the same.
struct GcRow {
  bool present = false;
  uint64_t refs = 0;
  uint64_t stored = 0;
  std::optional<ChunkId> base;
};

class GcModel {
 public:
  // `rows` answers one chunk row (present = false if there is none); each id
  // is asked once. `garbage`: the rows with refs 0 already, which gc takes
  // anyway.
  using RowSource = std::function<Result<GcRow>(const ChunkId&)>;
  GcModel(RowSource rows, std::vector<ChunkId> garbage);

  Result<const GcRow*> Row(const ChunkId& id);
  // The rows gc's rounds delete once `dropped` references (by chunk) go:
  // those left with none, then the bases they alone held. With the garbage.
  Result<std::set<ChunkId>> Freed(const std::map<ChunkId, uint64_t>& dropped);
  // The stored bytes of Freed(dropped) less what gc frees without it (the
  // garbage and the bases only it holds): what dropping `dropped` frees.
  Result<uint64_t> StoredBytesFreed(const std::map<ChunkId, uint64_t>& dropped);

 private:
  RowSource source_;
  std::vector<ChunkId> garbage_;
  std::map<ChunkId, GcRow> rows_;
  std::optional<std::set<ChunkId>> garbage_frees_;  // Freed({}), once asked
};

}  // namespace katamari

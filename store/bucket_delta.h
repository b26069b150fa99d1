// Delta chunks on the commit path (docs/chunk-format.md, "Delta chunks"):
// a changed chunk is tried as a zstd patch against the chunk of the version
// it replaces that held the same offset. Private to store/.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "store/status.h"
#include "store/types.h"

namespace katamari {

// The chunks of the version a commit replaces, by offset.
// Thread-safe (the chunks of one commit are stored in parallel).
class DeltaBases {
 public:
  // All of the base's chunks, in file order from offset 0.
  explicit DeltaBases(std::vector<ChunkRef> chunks);
  // None yet: an incremental commit adds the runs of the base it reads
  // (AddRun), since it reads only the segments its changes reach.
  DeltaBases() = default;
  DeltaBases(const DeltaBases&) = delete;
  DeltaBases& operator=(const DeltaBases&) = delete;

  // The data chunk of the base that holds byte `offset`; nullptr if none
  // (a hole, past its end), or once trying has not paid: a commit whose
  // first kGiveUpAfter tries all stored full chunks (new content, not an
  // edit) tries no more, so it costs no more than one without bases.
  const ChunkRef* At(uint64_t offset) const;
  // Adds base chunks `refs` lying from file offset `start` on, after (at
  // higher offsets than) all added so far. Not while At runs.
  void AddRun(uint64_t start, const std::vector<ChunkRef>& refs);
  // The outcome of a try.
  void Tried(bool kept) const;

  static constexpr int kGiveUpAfter = 8;

 private:
  std::vector<ChunkRef> chunks_;
  std::vector<uint64_t> starts_;  // starts_[i]: offset of chunks_[i]
  std::vector<uint64_t> ends_;    // ends_[i]: offset just past chunks_[i]
  mutable std::atomic<int> kept_{0};
  mutable std::atomic<int> missed_{0};
};

}  // namespace katamari

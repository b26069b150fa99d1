// gc of pack files (docs/pack-format.md, "gc: repacking"): packs no row
// points into are deleted; packs mostly dead are rewritten. The caller
// (Bucket::Gc) holds the gc lock exclusively: no writer is between appending
// a chunk and committing the row that references it, in any process.
#include <map>
#include <utility>

#include "store/bucket_internal.h"

namespace katamari {

namespace {

// A pack whose live records (header + body) are less than this fraction of
// its file is rewritten: by `katamari gc` (and the weekly timer) when a fifth
// of it is dead, copying at most four bytes per byte freed; right after an
// explicit delete (rm of versions, purge, prune) only when half of it is
// dead, so that a command's delete copies no more than it frees.
constexpr double kGcRepackBelowLiveFraction = 0.8;
constexpr double kDeleteRepackBelowLiveFraction = 0.5;
// `katamari gc` merges packs smaller than the target size / this.
constexpr uint64_t kSmallPackFraction = 4;

// Copies the live records of `group` (one mostly dead pack, or several
// small ones merged) into a new sealed pack, points their rows there in one
// transaction, makes that durable, then deletes the old packs. A crash
// before the transaction leaves an orphan new pack (deleted by the next
// gc); after it, the old ones (likewise). Returns how many old packs went.
Result<uint64_t> Repack(Bucket::Shared& s, const std::vector<std::array<uint8_t, 16>>& group,
                        GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  std::vector<ChunkRef> live;
  std::vector<ChunkId> ids;
  std::vector<std::string> bodies;
  for (const auto& pack : group) {
    ASSIGN_OR_RETURN(std::vector<ChunkRef> in_pack, s.catalog->ChunksInPack(pack));
    std::vector<std::string> pack_bodies;
    bool damaged = false;
    for (const ChunkRef& c : in_pack) {
      std::string body;
      bool missing = false;
      Status st = packs.Read(*c.loc, c.id, &body, &missing);
      // A damaged record stays where it is (fsck reports it); so does its pack.
      if (!st.ok() && !st.IsCorruption()) return st;
      if (!st.ok()) {
        damaged = true;
        break;
      }
      pack_bodies.push_back(std::move(body));
    }
    if (damaged) continue;
    if (!packs.Exists(pack)) continue;  // gone meanwhile
    for (size_t i = 0; i < in_pack.size(); ++i) {
      ids.push_back(in_pack[i].id);
      bodies.push_back(std::move(pack_bodies[i]));
      live.push_back(in_pack[i]);
    }
  }
  uint64_t new_size = 0;
  if (!ids.empty()) {
    std::array<uint8_t, 16> fresh;
    std::vector<ChunkLocation> locs;
    RETURN_IF_ERROR(packs.WriteSealed(ids, bodies, &fresh, &locs));
    ASSIGN_OR_RETURN(new_size, packs.SizeOf(fresh));
    RETURN_IF_ERROR(s.catalog->MoveChunks(live, locs).status());
    RETURN_IF_ERROR(s.catalog->Sync());
  }
  uint64_t removed_packs = 0, removed_bytes = 0;
  for (const auto& pack : group) {
    // Damaged packs, and (never: the lock) a pack a row moved into meanwhile, stay.
    ASSIGN_OR_RETURN(bool used, s.catalog->PackInUse(pack));
    if (used) continue;
    auto size = packs.SizeOf(pack);
    ASSIGN_OR_RETURN(bool removed, packs.RemoveIfClosed(pack));
    if (!removed) continue;
    ++removed_packs;
    if (size.ok()) removed_bytes += *size;
  }
  if (removed_bytes > new_size) rep->bytes_freed += removed_bytes - new_size;
  return removed_packs;
}

}  // namespace

Status RewriteIfMostlyDead(Bucket::Shared& s, const std::array<uint8_t, 16>& pack,
                           GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  auto size = packs.SizeOf(pack);
  if (!size.ok()) return Status::OK();  // gone: nothing to rewrite
  ASSIGN_OR_RETURN(std::vector<ChunkRef> live, s.catalog->ChunksInPack(pack));
  uint64_t live_bytes = kPackHeaderSize + kPackTrailerSize;  // as GcPacks counts it
  for (const ChunkRef& c : live) {
    live_bytes += kPackRecordHeaderSize + kPackIndexEntrySize + c.stored_len;
  }
  if (static_cast<double>(live_bytes) >=
      kDeleteRepackBelowLiveFraction * static_cast<double>(*size)) {
    return Status::OK();
  }
  if (packs.IsOwnOpenPack(pack)) RETURN_IF_ERROR(packs.SealAll());
  if (packs.IsOpenForWriting(pack)) return Status::OK();  // another process appends to it
  ASSIGN_OR_RETURN(uint64_t removed, Repack(s, {pack}, rep));
  rep->packs_rewritten += removed;
  return Status::OK();
}

Status GcPacks(Bucket::Shared& s, GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  // This process's packs are sealed first (no writer of ours is between an
  // append and its commit: we hold the gc lock), so that they may be judged;
  // other processes' open packs are locked and skipped below.
  RETURN_IF_ERROR(packs.SealAll());
  // Data on an object store: what crashed writers left in packs/ goes up
  // first, so that the listing below judges every pack once, by its object.
  RETURN_IF_ERROR(packs.UploadStaged());
  ASSIGN_OR_RETURN(std::vector<Catalog::PackUse> usage, s.catalog->PackUsage());
  std::map<std::array<uint8_t, 16>, Catalog::PackUse> live;
  for (const Catalog::PackUse& u : usage) live[u.pack] = u;
  ASSIGN_OR_RETURN(auto present, packs.List());
  // First the packs no row points into (a writer that crashed before its
  // commit, an interrupted repack, every chunk deleted), which free space
  // without writing any, then rewrites and merges, which need some.
  std::vector<std::pair<std::array<uint8_t, 16>, uint64_t>> used;
  for (const auto& p : present) {
    auto size = packs.SizeOf(p);
    if (!size.ok()) continue;  // gone meanwhile
    if (live.count(p)) {
      used.emplace_back(p, *size);
      continue;
    }
    // Not while a process still appends to it (its lock).
    ASSIGN_OR_RETURN(bool removed, packs.RemoveIfClosed(p));
    if (removed) {
      ++rep->packs_removed;
      rep->bytes_freed += *size;
    }
  }
  // A rewrite that fails (a full disk) is skipped and the rest still tried;
  // the first failure is returned at the end.
  Status first_error;
  auto note = [&](const Result<uint64_t>& r, uint64_t* count) {
    if (r.ok()) {
      *count += *r;
    } else if (first_error.ok()) {
      first_error = r.status();
    }
  };
  std::vector<std::array<uint8_t, 16>> small;
  std::vector<uint64_t> small_bytes;
  for (const auto& [p, size] : used) {
    if (packs.IsOpenForWriting(p)) continue;  // its writer may still append
    // What a sealed copy of the live records would take: header, records,
    // their index entries and the trailer (so a pack of tiny records is not
    // rewritten at every gc for its index).
    const Catalog::PackUse& u = live[p];
    const uint64_t needed =
        kPackHeaderSize + u.live_bytes + u.chunks * kPackIndexEntrySize + kPackTrailerSize;
    if (static_cast<double>(needed) < kGcRepackBelowLiveFraction * static_cast<double>(size)) {
      note(Repack(s, {p}, rep), &rep->packs_rewritten);
    } else if (size < packs.target_size() / kSmallPackFraction) {
      small.push_back(p);
      small_bytes.push_back(size);
    }
  }
  // Small packs (each `katamari put` leaves one) are merged into packs of up
  // to the target size.
  for (size_t i = 0; i < small.size();) {
    std::vector<std::array<uint8_t, 16>> group;
    uint64_t bytes = 0;
    for (; i < small.size() && (group.empty() || bytes + small_bytes[i] <= packs.target_size());
         ++i) {
      group.push_back(small[i]);
      bytes += small_bytes[i];
    }
    if (group.size() < 2) continue;
    note(Repack(s, group, rep), &rep->packs_merged);
  }
  return first_error;
}

}  // namespace katamari

// gc of pack files (docs/pack-format.md, "gc: repacking"): packs no row
// points into are deleted; packs mostly dead are rewritten. The caller
// (Bucket::Gc) holds the gc lock exclusively: no writer is between appending
// a chunk and committing the row that references it, in any process.
//
// Which packs go is decided under that lock; the deletes run after it is
// released (DeleteUnusedPacks), since an object-store DELETE may take ~15 s
// under retries and the lock keeps every writer waiting. That is safe
// because a pack judged unused under the lock stays unused:
// - no row points into it, and the deletion or move of its rows is
//   committed and synced first (Bucket::Gc, Repack), so no crash brings one
//   back;
// - a row gets a pack location only from an append to its writer's own open
//   pack (PackSet::Append, under that pack's flock, for a version committed
//   under the shared gc lock) or from gc's move into a pack it just wrote
//   (PackSet::WriteSealed). Both packs are created under a fresh random
//   128-bit id (PackSet::CreatePack, PackId::Random), never an old one's;
//   a pack whose flock was free under the lock is sealed (or its writer is
//   dead) and is never appended to again (a crashed writer's pack is not
//   reopened: docs/pack-format.md);
// - a writer that reuses a chunk (dedup) finds its row, with that row's
//   location, under the shared gc lock; rows deleted under the exclusive
//   lock are not found any more, and the chunk is written again elsewhere.
// Meanwhile readers of this process may still hold an old location; they
// look the row up again when the pack is missing (ChunkStore::Fetch), as
// when a delete ran under the lock.
#include <algorithm>
#include <cstdio>
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
// transaction, makes that durable, then hands the old packs to *unused
// (counted as `counter`). A crash before the transaction leaves an orphan
// new pack (deleted by the next gc); after it, the old ones (likewise).
Status Repack(Bucket::Shared& s, const std::vector<std::array<uint8_t, 16>>& group,
              UnusedPacks::Counter counter, UnusedPacks* unused) {
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
      RecordRead how;
      Status st = packs.Read(*c.loc, c.id, &body, &how);
      // A damaged record stays where it is (fsck reports it); so does its
      // pack, and so does one the object store says it lacks (IOError), so
      // that one such pack does not fail every gc.
      if (!st.ok() && !st.IsCorruption() && !how.missing) return st;
      // The copy becomes the only one once the old pack is deleted: beyond
      // the record's CRC, the chunk's own check (tag, digest, delta base)
      // passes first. A cached copy failing it is judged by the object
      // store's. Without the key (NotSupported) the CRC-checked body is
      // copied as is. A body not proven good keeps its pack where it is.
      if (st.ok()) st = s.chunks->VerifyRecordBody(c.id, body);
      if (st.IsCorruption() && how.cached) {
        body.clear();
        st = packs.ReadFromStore(*c.loc, c.id, &body, &how);
        if (st.ok()) st = s.chunks->VerifyRecordBody(c.id, body);
      }
      if (!st.ok() && st.code() != Status::Code::kNotSupported) {
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
  // bytes_freed gains what the old packs held beyond the new one's size.
  uint64_t debit = new_size;
  for (const auto& pack : group) {
    // Damaged packs, and (never: the lock) a pack a row moved into meanwhile, stay.
    ASSIGN_OR_RETURN(bool used, s.catalog->PackInUse(pack));
    if (used || packs.IsOpenForWriting(pack)) continue;
    auto size = packs.SizeOf(pack);
    const uint64_t bytes = size.ok() ? *size : 0;
    const uint64_t paid = std::min(bytes, debit);
    debit -= paid;
    unused->Add(pack, bytes - paid, counter);
  }
  return Status::OK();
}

}  // namespace

void UnusedPacks::Add(const std::array<uint8_t, 16>& pack, uint64_t freed, Counter counter) {
  if (seen_.insert(pack).second) entries_.push_back(Entry{pack, freed, counter});
}

Status DeleteUnusedPacks(Bucket::Shared& s, const UnusedPacks& unused, GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  Status first;
  for (const UnusedPacks::Entry& e : unused.entries_) {
    // Under the pack's own lock again: an open that uploads it meanwhile
    // holds it, and the pack is left for the next gc.
    Result<bool> removed = packs.RemoveIfClosed(e.pack);
    if (!removed.ok()) {
      PackId id;
      id.bytes = e.pack;
      const Status st = Status::IOError(
          "gc: pack " + id.Hex() + " is no longer used but could not be deleted (" +
          removed.status().message() + "); the next gc deletes it");
      if (first.ok()) first = st;
      else std::fprintf(stderr, "katamari: %s\n", st.message().c_str());
      continue;
    }
    if (!*removed || !rep) continue;
    rep->bytes_freed += e.freed;
    switch (e.counter) {
      case UnusedPacks::Counter::kRemoved: ++rep->packs_removed; break;
      case UnusedPacks::Counter::kRewritten: ++rep->packs_rewritten; break;
      case UnusedPacks::Counter::kMerged: ++rep->packs_merged; break;
    }
  }
  return first;
}

Status RewriteIfMostlyDead(Bucket::Shared& s, const std::array<uint8_t, 16>& pack,
                           UnusedPacks* unused) {
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
  return Repack(s, {pack}, UnusedPacks::Counter::kRewritten, unused);
}

Status GcPacks(Bucket::Shared& s, UnusedPacks* unused) {
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
    if (!packs.IsOpenForWriting(p)) unused->Add(p, *size, UnusedPacks::Counter::kRemoved);
  }
  // A rewrite that fails (a full disk) is skipped and the rest still tried;
  // the first failure is returned at the end.
  Status first_error;
  auto note = [&](const Status& st) {
    if (!st.ok() && first_error.ok()) first_error = st;
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
      note(Repack(s, {p}, UnusedPacks::Counter::kRewritten, unused));
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
    note(Repack(s, group, UnusedPacks::Counter::kMerged, unused));
  }
  return first_error;
}

}  // namespace katamari

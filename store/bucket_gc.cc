// gc of pack files (docs/pack-format.md, "gc: repacking"): packs no row
// points into are deleted; packs mostly dead are rewritten. The caller
// (Bucket::Gc) holds the gc lock exclusively: no writer is between appending
// a chunk and committing the row that references it, in any process.
#include <map>

#include "store/bucket_internal.h"

namespace katamari {

namespace {

// A pack whose live records (header + body) are less than this fraction of
// its file is rewritten.
constexpr double kRepackBelowLiveFraction = 0.5;

// Copies the live records of `pack` into a new sealed pack, points their
// rows there in one transaction, makes that durable, then deletes the old
// pack. A crash before the transaction leaves an orphan new pack (deleted
// by the next gc); after it, the old one (likewise).
Status Repack(Bucket::Shared& s, const std::array<uint8_t, 16>& pack, GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  ASSIGN_OR_RETURN(std::vector<ChunkRef> live, s.catalog->ChunksInPack(pack));
  std::vector<ChunkId> ids;
  std::vector<std::string> bodies;
  for (const ChunkRef& c : live) {
    std::string body;
    bool missing = false;
    Status st = packs.Read(*c.loc, c.id, &body, &missing);
    // A damaged record stays where it is (fsck reports it); so does the pack.
    if (!st.ok()) return st.IsCorruption() ? Status::OK() : st;
    ids.push_back(c.id);
    bodies.push_back(std::move(body));
  }
  const std::string old_path = packs.PathOf(pack);
  ASSIGN_OR_RETURN(uint64_t old_size, s.env->GetFileSize(old_path));
  uint64_t new_size = 0;
  if (!ids.empty()) {
    std::array<uint8_t, 16> fresh;
    std::vector<ChunkLocation> locs;
    RETURN_IF_ERROR(packs.WriteSealed(ids, bodies, &fresh, &locs));
    ASSIGN_OR_RETURN(new_size, s.env->GetFileSize(packs.PathOf(fresh)));
    RETURN_IF_ERROR(s.catalog->MoveChunks(live, locs).status());
    RETURN_IF_ERROR(s.catalog->Sync());
  }
  ASSIGN_OR_RETURN(bool used, s.catalog->PackInUse(pack));
  if (used) return Status::OK();  // a row moved meanwhile: never (the lock), but be sure
  ASSIGN_OR_RETURN(bool removed, packs.RemoveIfClosed(pack));
  if (removed) {
    ++rep->packs_rewritten;
    if (old_size > new_size) rep->bytes_freed += old_size - new_size;
  }
  return Status::OK();
}

}  // namespace

Status RewriteIfMostlyDead(Bucket::Shared& s, const std::array<uint8_t, 16>& pack,
                           GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  auto size = s.env->GetFileSize(packs.PathOf(pack));
  if (!size.ok()) return Status::OK();  // gone: nothing to rewrite
  ASSIGN_OR_RETURN(std::vector<ChunkRef> live, s.catalog->ChunksInPack(pack));
  uint64_t live_bytes = kPackHeaderSize;
  for (const ChunkRef& c : live) live_bytes += kPackRecordHeaderSize + c.stored_len;
  if (static_cast<double>(live_bytes) >= kRepackBelowLiveFraction * static_cast<double>(*size)) {
    return Status::OK();
  }
  if (packs.IsOwnOpenPack(pack)) RETURN_IF_ERROR(packs.SealAll());
  if (packs.IsOpenForWriting(pack)) return Status::OK();  // another process appends to it
  return Repack(s, pack, rep);
}

Status GcPacks(Bucket::Shared& s, GcReport* rep) {
  PackSet& packs = *s.chunks->packs();
  // This process's packs are sealed first (no writer of ours is between an
  // append and its commit: we hold the gc lock), so that they may be judged;
  // other processes' open packs are locked and skipped below.
  RETURN_IF_ERROR(packs.SealAll());
  ASSIGN_OR_RETURN(std::vector<Catalog::PackUse> usage, s.catalog->PackUsage());
  std::map<std::array<uint8_t, 16>, uint64_t> live;
  for (const Catalog::PackUse& u : usage) live[u.pack] = u.live_bytes;
  ASSIGN_OR_RETURN(auto present, packs.List());
  for (const auto& p : present) {
    const std::string path = packs.PathOf(p);
    auto size = s.env->GetFileSize(path);
    if (!size.ok()) continue;  // gone meanwhile
    if (!live.count(p)) {
      // No row points into it: a writer that crashed before its commit, an
      // interrupted repack, or every chunk deleted. Not while a process
      // still appends to it (its lock).
      ASSIGN_OR_RETURN(bool removed, packs.RemoveIfClosed(p));
      if (removed) {
        ++rep->packs_removed;
        rep->bytes_freed += *size;
      }
      continue;
    }
    if (static_cast<double>(live[p] + kPackHeaderSize) >=
        kRepackBelowLiveFraction * static_cast<double>(*size)) {
      continue;
    }
    if (packs.IsOpenForWriting(p)) continue;  // its writer may still append
    RETURN_IF_ERROR(Repack(s, p, rep));
  }
  return Status::OK();
}

}  // namespace katamari

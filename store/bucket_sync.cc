// Batched durability (docs/semantics.md, Durability).
//
// Crash order. A commit appends its chunks to this process's open pack (no
// sync), then commits its catalog row; close() returns then, so kill -9
// loses nothing (the page cache holds the data). A sync point then:
//   1. takes S, the catalog's current seq;
//   2. makes every chunk written so far durable: fdatasync of the packs this
//      process appended to since the last point (rolled-over ones sealed),
//      plus, after a command's close (RaiseMarkAtClose), one syncfs for
//      other processes' data. Rows are committed after their chunks, so
//      every chunk of a row with seq <= S was appended before step 1; the
//      CLI syncs its own pack before its rows;
//   3. records the durable mark S in the catalog;
//   4. makes the catalog durable (WAL fsync).
// A power cut between sync points can leave catalog rows (SQLite writes its
// WAL back whenever the kernel likes) whose chunk data never reached the
// disk, but only rows with seq > the mark. RecoverUnsynced() checks exactly
// those versions' new chunks and deletes a version whose data is not all
// there, so its file falls back to the version before: the commits of the
// window may be lost, but no row ever points at missing data.
#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "store/bucket_internal.h"

namespace katamari {

namespace {
// Up to this many chunk files written between sync points are synced one by
// one; more take one syncfs.
constexpr size_t kMaxFilesSyncedOneByOne = 64;
}  // namespace

Status ChunksWritten(Bucket::Shared& s) {
  if (!s.deferred_sync) {
    s.raise_mark_at_close.store(true);
    return s.chunks->SyncBatch();
  }
  s.unsynced.store(true);
  return Status::OK();
}

void RaiseMarkAtClose(Bucket::Shared& s) {
  if (!s.raise_mark_at_close.load()) return;
  {
    // The daemon's chunks of versions up to the mark are unsynced, maybe:
    // a whole-file-system sync covers them.
    std::lock_guard<std::mutex> u(s.unsynced_mu);
    s.unsynced_many = true;
  }
  Status st = SyncPoint(s);
  if (!st.ok()) {
    std::fprintf(stderr, "katamari: %s: the durable mark was not raised: %s\n", s.dir.c_str(),
                 st.ToString().c_str());
  }
}

void NoteUnsyncedChunk(Bucket::Shared& s, const ChunkId& id) {
  std::lock_guard<std::mutex> l(s.unsynced_mu);
  if (s.unsynced_many) return;
  if (s.unsynced_files.size() >= kMaxFilesSyncedOneByOne) {
    s.unsynced_many = true;
    s.unsynced_files.clear();
    return;
  }
  s.unsynced_files.push_back(s.chunks->PathOf(id));
}

namespace {

// Makes the listed chunk files durable one by one: their data, then the
// directory entries their renames made. A file that is gone (gc removed it
// meanwhile) needs nothing.
Status SyncFiles(Bucket::Shared& s, const std::vector<std::string>& files) {
  std::set<std::string> dirs;
  for (const std::string& f : files) {
    Status st = s.env->SyncFile(f);
    if (!st.ok() && !st.IsNotFound()) return st;
    dirs.insert(f.substr(0, f.find_last_of('/')));
  }
  for (const std::string& d : dirs) RETURN_IF_ERROR(s.env->SyncDir(d));
  return Status::OK();
}

}  // namespace

Status SyncPoint(Bucket::Shared& s) {
  std::lock_guard<std::mutex> l(s.sync_mu);
  // The seq first: every version up to it was committed before this line,
  // so its chunks were written and noted before the list is taken below.
  // Chunks noted after that wait for the next point.
  const Seq seq = s.catalog->CurrentSeq();
  const bool had_data = s.unsynced.exchange(false);
  // Data on an object store: sealed packs whose upload failed are retried
  // at every point, and a point that cannot upload them fails (fsync: EIO).
  const bool uploads = s.chunks->packs() && s.chunks->packs()->UploadsPending();
  std::vector<std::string> files;
  bool many = false;
  {
    std::lock_guard<std::mutex> u(s.unsynced_mu);
    files.swap(s.unsynced_files);
    many = s.unsynced_many;
    s.unsynced_many = false;
  }
  if (had_data || many || !files.empty() || uploads) {
    // A few files: fdatasync each (a syncfs waits for every process's dirty
    // data on the host); many: one syncfs.
    Status st = many ? s.chunks->SyncAll() : SyncFiles(s, files);
    if (st.ok()) st = s.chunks->SyncBatch();  // this process's packs
    if (!st.ok()) {
      std::lock_guard<std::mutex> u(s.unsynced_mu);
      s.unsynced_many = true;  // retried at the next point, in full
      s.unsynced.store(true);
      return st;
    }
  }
  if (seq > s.marked) {
    Catalog::DurableMark m;
    m.seq = seq;
    m.time_ns = NowNs();
    RETURN_IF_ERROR(s.catalog->SetDurableMark(m));
    s.marked = seq;
  } else if (!had_data) {
    return Status::OK();  // nothing happened since the last point
  }
  return s.catalog->Sync();
}

Status Bucket::Sync() {
  if (s_->read_only) return s_->catalog->Sync();
  return SyncPoint(*s_);
}

namespace {

// The open pack, once idle for `idle`, is sealed if some of its records are
// dead (prune, rm or an overwrite in any process removed what used them), so
// that gc in another process may reclaim them; a pack all live stays open
// (sealing each idle spell's pack would leave a small pack per spell).
// Readers of packs another process deleted are closed (their space).
void SealIdlePackWithDeadRecords(Bucket::Shared& s, std::chrono::milliseconds idle) {
  PackSet& packs = *s.chunks->packs();
  packs.DropRemovedReaders();
  std::optional<PackSet::IdlePack> p = packs.IdleOpenPack(idle);
  if (!p) return;
  Result<Catalog::PackUse> use = s.catalog->PackUsageOf(p->pack);
  Status st = use.status();
  // Data on an object store: an idle pack is sealed anyway, so that it is
  // uploaded (and on the store, not only on this disk) soon after writes stop.
  if (use.ok() && (packs.remote() || use->live_bytes + kPackHeaderSize < p->size)) {
    st = packs.SealIfIdle(*p);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "katamari: %s: an idle pack could not be sealed: %s\n", s.dir.c_str(),
                 st.ToString().c_str());
  }
}

}  // namespace

void StartSyncer(Bucket::Shared& s, int interval_ms) {
  s.syncer = std::thread([&s, interval_ms] {
    pthread_setname_np(pthread_self(), "katamari-sync");
    std::unique_lock<std::mutex> l(s.syncer_mu);
    while (!s.syncer_stop) {
      s.syncer_cv.wait_for(l, std::chrono::milliseconds(interval_ms),
                           [&] { return s.syncer_stop; });
      if (s.syncer_stop) break;
      l.unlock();
      Status st = SyncPoint(s);
      if (!st.ok()) {
        std::fprintf(stderr, "katamari: %s: a sync point failed (retried in %d ms): %s\n",
                     s.dir.c_str(), interval_ms, st.ToString().c_str());
      } else if (s.chunks->packs()) {
        SealIdlePackWithDeadRecords(s, std::chrono::milliseconds(2 * interval_ms));
      }
      l.lock();
    }
  });
}

void StopSyncer(Bucket::Shared& s) {
  {
    std::lock_guard<std::mutex> l(s.syncer_mu);
    s.syncer_stop = true;
  }
  s.syncer_cv.notify_all();
  if (s.syncer.joinable()) s.syncer.join();
  Status st = SyncPoint(s);
  if (!st.ok()) {
    std::fprintf(stderr, "katamari: %s: the last sync point failed: %s\n", s.dir.c_str(),
                 st.ToString().c_str());
  }
}

Result<std::vector<std::string>> Bucket::RecoverUnsynced() {
  Shared& s = *s_;
  if (s.read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  std::vector<std::string> rolled_back;
  ASSIGN_OR_RETURN(Catalog::DurableMark mark, s.catalog->GetDurableMark());
  const Seq now = s.catalog->CurrentSeq();
  if (now <= mark.seq) return rolled_back;  // the last stop was clean
  if (!mark.recorded) {
    // Never marked: written only by builds that synced every version's
    // data before its row (a deferred open marks a bucket before its first
    // commit). Nothing to check; mark it.
    RETURN_IF_ERROR(SyncPoint(s));
    return rolled_back;
  }
  ASSIGN_OR_RETURN(std::vector<Catalog::VersionKey> after, s.catalog->VersionsAfter(mark.seq));
  std::set<ChunkId> broken;
  std::vector<ChunkId> broken_files;  // old layout: one file per chunk
  {
    // No gc deletes a chunk while it is judged.
    ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
    std::set<ChunkId> good;
    std::string data;
    for (size_t i = 0; i < after.size();) {
      const InodeId ino = after[i].ino;
      // The chunks of this file's versions from before the mark are durable.
      std::set<ChunkId> safe;
      ASSIGN_OR_RETURN(std::vector<VersionInfo> all, s.catalog->ListVersions(ino));
      for (auto it = all.rbegin(); it != all.rend(); ++it) {
        if (it->seq > mark.seq) continue;
        ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s.catalog->VersionChunks(ino, it->version));
        for (const ChunkRef& c : chunks) safe.insert(c.id);
        break;  // the newest one is what later versions were edited from
      }
      for (; i < after.size() && after[i].ino == ino; ++i) {
        const VersionNo vno = after[i].vno;
        ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s.catalog->VersionChunks(ino, vno));
        std::string problem;
        for (const ChunkRef& c : chunks) {
          if (c.IsHole() || safe.count(c.id) || good.count(c.id)) continue;
          if (broken.count(c.id)) {
            if (problem.empty()) problem = "chunk " + c.id.Hex() + " is damaged";
            continue;
          }
          RETURN_IF_ERROR(CheckCancelled(s));
          // The location read is the one forgotten if bad: a writer that
          // stored the chunk again meanwhile moved the row to its good copy.
          ASSIGN_OR_RETURN(std::optional<ChunkLocation> loc, s.catalog->ChunkLocationOf(c.id));
          ChunkRef at = c;
          at.loc = loc;
          Status st = s.chunks->Read(at, &data);
          if (st.ok()) {
            good.insert(c.id);
            continue;
          }
          if (!st.IsCorruption()) return st;  // an I/O error: judge nothing
          // Every broken chunk of the version is found, not just the first,
          // and before the version is deleted (a kill -9 after that would
          // never come back to it): a broken record's row forgets that
          // location at once (only if it is still that one), so the next
          // write of that content, in any process, stores it again instead
          // of deduplicating onto what the cut tore. That needs no gc lock,
          // which another process may hold. A chunk file is moved aside below.
          broken.insert(c.id);
          if (loc) {
            RETURN_IF_ERROR(s.catalog->ForgetChunkLocation(c.id, *loc));
          } else {
            broken_files.push_back(c.id);
          }
          if (problem.empty()) problem = st.message();
        }
        if (problem.empty()) continue;
        auto path = s.catalog->PathOf(ino);
        const std::string name = (path.ok() ? *path : "inode " + std::to_string(ino.value)) +
                                 "@" + std::to_string(vno.value);
        // Dropped whatever pins it: the power cut ended every process that
        // held it, and a reader of it would get EIO. An error (lock
        // contention past the busy timeout too) fails the start before the
        // mark moves past it, so the next start judges it again.
        RETURN_IF_ERROR(s.catalog->DeleteTornVersion(ino, vno));
        ForgetHeldBytes(s, ino);
        rolled_back.push_back(name + ": rolled back, its data did not reach the disk before " +
                              "the stop (" + problem + ")");
      }
    }
  }
  // Everything up to `now` is judged; make it durable and say so (the data
  // read back may be in the page cache only, in a dead process's pack).
  RETURN_IF_ERROR(s.chunks->SyncAll());
  Catalog::DurableMark m;
  m.seq = now;
  m.time_ns = NowNs();
  RETURN_IF_ERROR(s.catalog->SetDurableMark(m));
  {
    std::lock_guard<std::mutex> l(s.sync_mu);
    if (now > s.marked) s.marked = now;
  }
  RETURN_IF_ERROR(s.catalog->Sync());
  // Out of the shared gc lock: moving a chunk file aside takes it exclusively.
  for (const ChunkId& id : broken_files) QuarantineChunk(s, id);
  if (!rolled_back.empty()) TryReclaim(s, dir_);
  return rolled_back;
}

}  // namespace katamari

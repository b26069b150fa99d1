// Whole-bucket work: fsck (verify everything), gc (reclaim), stats.
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "store/bucket_internal.h"
#include "store/sha256.h"

namespace katamari {

namespace {

// Hashes what it is given (fsck's whole-version check).
class HashSink : public ByteSink {
 public:
  Status Write(std::string_view data) override {
    sha_.Update(data);
    bytes_ += data.size();
    return Status::OK();
  }
  Sha256 Finish() { return sha_.Finish(); }
  uint64_t bytes() const { return bytes_; }

 private:
  Sha256Stream sha_;
  uint64_t bytes_ = 0;
};

}  // namespace

namespace {

// After a damaged version's stream stopped at its first bad chunk: reads
// each of its chunks on its own, so that every damaged file is found (and
// moved aside, to be stored again by the next write of the same content).
void CheckEveryChunk(Bucket::Shared& s, const std::vector<ChunkRef>& chunks,
                     const std::string& name, FsckReport* rep,
                     std::set<ChunkId>* to_quarantine) {
  std::set<ChunkId> bad;
  std::string data;
  for (const ChunkRef& c : chunks) {
    if (c.IsHole() || bad.count(c.id)) continue;
    Status st = s.chunks->Read(c, &data);
    if (st.ok() || !st.IsCorruption()) continue;
    bad.insert(c.id);
    to_quarantine->insert(c.id);
  }
  if (bad.size() > 1) {
    rep->problems.push_back(name + ": " + std::to_string(bad.size()) + " of its " +
                            std::to_string(chunks.size()) + " chunks are damaged or missing");
  }
}

// Reads and hashes one version whole; its problems go into `rep`.
void CheckVersion(Bucket::Shared& s, const Catalog::VersionKey& k,
                  const std::set<ChunkId>& known, FsckReport* rep, uint64_t* done,
                  std::set<ChunkId>* to_quarantine) {
  Catalog& cat = *s.catalog;
  auto path = cat.PathOf(k.ino);
  std::string name = (path.ok() ? *path : "inode " + std::to_string(k.ino.value)) + "@" +
                     std::to_string(k.vno.value);
  auto info = cat.GetVersion(k.ino, k.vno);
  auto chunks = cat.VersionChunks(k.ino, k.vno);
  // NotFound: deleted (by a mount or another command) since it was listed.
  if ((!info.ok() && info.status().IsNotFound()) ||
      (!chunks.ok() && chunks.status().IsNotFound())) {
    return;
  }
  if (!info.ok() || !chunks.ok()) {
    rep->problems.push_back(name + ": catalog row unreadable: " +
                            (info.ok() ? chunks.status() : info.status()).ToString());
    rep->damaged.push_back(name);
    rep->catalog_damaged = true;
    return;
  }
  // A chunk not in `known` may belong to a commit made after the chunk rows
  // were listed (a mount writing meanwhile, or amending this very version):
  // ask the catalog again before calling it missing.
  std::vector<ChunkId> unknown;
  for (const ChunkRef& c : *chunks) {
    if (!c.IsHole() && !known.count(c.id)) unknown.push_back(c.id);
  }
  if (!unknown.empty()) {
    std::vector<bool> have = cat.HaveChunks(unknown);
    for (size_t i = 0; i < unknown.size(); ++i) {
      if (have[i]) continue;
      rep->problems.push_back(name + ": references chunk " + unknown[i].Hex() +
                              " that the catalog does not record");
      rep->catalog_damaged = true;
    }
  }
  HashSink sink;
  // Without a digest to compare (pending), holes need not be streamed: the
  // data chunks are read and checked, the holes only counted.
  uint64_t hole_bytes = 0;
  std::vector<ChunkRef> data_chunks;
  if (info->sha256_pending) {
    for (const ChunkRef& c : *chunks) {
      if (c.IsHole()) {
        hole_bytes += c.raw_len;
      } else {
        data_chunks.push_back(c);
      }
    }
  }
  Status st = StreamChunks(s, info->sha256_pending ? data_chunks : *chunks, sink, name, {});
  ++rep->versions_checked;
  rep->chunks_checked += chunks->size();
  if (!st.ok()) {
    // Corruption names the version already (StreamChunks). Anything else —
    // a pack the object store says it lacks, the store unreachable — is
    // reported as it is and moves nothing aside: no bad bytes were seen.
    rep->problems.push_back(st.IsCorruption() ? st.message() : name + ": " + st.message());
    rep->damaged.push_back(name);
    if (st.IsCorruption()) CheckEveryChunk(s, *chunks, name, rep, to_quarantine);
    return;
  }
  rep->bytes_checked += sink.bytes();
  // A pending SHA-256 (docs/catalog.md, versions) has nothing to compare
  // with: the size and every chunk's own check are what fsck verifies.
  if (sink.bytes() + hole_bytes != info->size ||
      (!info->sha256_pending && sink.Finish() != info->sha256)) {
    // Amended (same number, new content) between reading its row and its
    // chunk list: not damage.
    auto again = cat.GetVersion(k.ino, k.vno);
    if (!again.ok() || again->seq != info->seq) return;
    rep->problems.push_back(name + ": content does not match its recorded size/SHA-256");
    rep->damaged.push_back(name);
  }
  *done += info->size;
}

// Moves fsck's damaged chunk files aside, so that the next write of the same
// content, in any process, stores them again. Unlike a reader's quarantine
// this waits for the gc lock (writers in flight, e.g. a mount's long
// streamed commit): fsck is the one place a user asks for it.
void MoveAsideDamaged(Bucket::Shared& s, const std::set<ChunkId>& ids, FsckReport* rep) {
  if (ids.empty()) return;
  auto lock = GcLock::Acquire(s.dir, GcLock::Mode::kExclusive);
  for (const ChunkId& id : ids) {
    if (lock.ok() && lock->held()) {
      auto moved = s.chunks->MoveAsideIfDamaged(id);
      if (moved.ok()) continue;
      rep->problems.push_back("chunk " + id.Hex() + " is damaged but could not be moved aside (" +
                              moved.status().ToString() +
                              "); run katamari fsck again as the bucket's owner");
    } else {
      rep->problems.push_back("chunk " + id.Hex() +
                              " is damaged but could not be moved aside (no gc lock: " +
                              lock.status().ToString() + "); run katamari fsck again");
    }
  }
}

// Packs present, and the bytes in them no row points at (dead records of
// deleted chunks, torn tails, footers: what gc's repack reclaims).
void CountPackSpace(Bucket::Shared& s, FsckReport* rep) {
  auto packs = s.chunks->packs()->List();
  auto usage = s.catalog->PackUsage();
  if (!packs.ok() || !usage.ok()) {
    rep->problems.push_back("cannot list packs: " +
                            (packs.ok() ? usage.status() : packs.status()).ToString());
    return;
  }
  std::map<std::array<uint8_t, 16>, uint64_t> live;
  for (const Catalog::PackUse& u : *usage) live[u.pack] = u.live_bytes;
  for (const auto& p : *packs) {
    ++rep->packs;
    const std::string path = s.chunks->packs()->PathOf(p);
    auto size = s.chunks->packs()->SizeOf(p);
    if (!size.ok()) continue;
    // A sealed pack's footer index is not dead space; a torn tail is.
    uint64_t end = *size;
    PackId id;
    id.bytes = p;
    if (auto r = PackReader::Open(s.env, path, id); r.ok()) {
      if (auto scan = (*r)->Scan(); scan.ok() && scan->sealed) {
        end = kPackHeaderSize;
        if (!scan->records.empty()) {
          const PackLocation& last = scan->records.back().loc;
          end = last.offset + kPackRecordHeaderSize + last.length;
        }
      }
    }
    const uint64_t used = live.count(p) ? live[p] + kPackHeaderSize : 0;
    if (end > used) rep->dead_pack_bytes += end - used;
  }
}

}  // namespace

Result<FsckReport> Bucket::Fsck(const ProgressFn& progress) {
  Catalog& cat = *s_->catalog;
  FsckReport rep;
  // Shared, like a writer: while a mount or another command deletes versions
  // meanwhile, no chunk is deleted under the check (reclamation waits).
  // Best effort: a reader that cannot open gc.lock checks without it.
  std::optional<Result<GcLock>> gc_lock(GcLock::Acquire(dir_, GcLock::Mode::kShared));
  // Damaged files are moved aside only after the shared lock is given back
  // (moving needs it exclusively).
  std::set<ChunkId> to_quarantine;
  // The catalog itself first: pages, foreign keys, reference counts. A query
  // that fails below is a problem as well, never a pass.
  rep.problems = cat.CheckIntegrity();
  rep.catalog_damaged = !rep.problems.empty();
  auto catalog_error = [&](const char* what, const Status& st) {
    rep.problems.push_back("catalog: cannot list " + std::string(what) + ": " + st.ToString());
    rep.catalog_damaged = true;
  };
  std::vector<Catalog::VersionKey> versions;
  if (auto v = cat.AllVersions(); v.ok()) {
    versions = std::move(*v);
  } else {
    catalog_error("versions", v.status());
  }
  std::set<ChunkId> known, in_files;
  auto rows = cat.AllChunks();
  if (rows.ok()) {
    for (const ChunkRef& r : *rows) {
      known.insert(r.id);
      if (!r.loc) in_files.insert(r.id);
    }
  } else {
    catalog_error("chunks", rows.status());
  }
  uint64_t done = 0;
  for (const Catalog::VersionKey& k : versions) {
    CheckVersion(*s_, k, known, &rep, &done, &to_quarantine);
    if (progress) progress(done, 0);
  }
  gc_lock.reset();
  MoveAsideDamaged(*s_, to_quarantine, &rep);
  // A damaged key slot opens nothing; the bucket was opened with another one.
  if (auto slots = ListKeySlots(); slots.ok()) {
    for (const KeySlotInfo& k : *slots) {
      if (!k.problem.empty()) rep.problems.push_back(k.problem);
    }
  }
  auto files = s_->chunks->List();
  if (files.ok() && rows.ok()) {
    for (const ChunkId& id : *files) {
      if (!in_files.count(id)) ++rep.orphan_chunks;
    }
  } else if (!files.ok()) {
    rep.problems.push_back("cannot list chunk files: " + files.status().ToString());
  }
  CountPackSpace(*s_, &rep);
  return rep;
}

namespace {

// Bucket::Gc's part under the exclusive gc lock: everything but deleting
// the packs it finds unused (*unused), which runs after the lock is gone.
Status GcUnderLock(Bucket::Shared& s, const ProgressFn& progress, GcReport* out,
                   UnusedPacks* unused) {
  GcReport& rep = *out;
  // Exclusive: waits for writers in flight, then keeps new ones out.
  ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(s.dir, GcLock::Mode::kExclusive));
  ASSIGN_OR_RETURN(std::vector<ChunkRef> garbage, s.catalog->TakeGarbageChunks());
  // The rows' deletion (and the deletes of versions that freed them) must
  // survive a power cut before any file goes: else the catalog could come
  // back with rows pointing at removed files.
  if (!garbage.empty()) RETURN_IF_ERROR(s.catalog->Sync());
  RETURN_IF_ERROR(RemoveGarbage(s, garbage, &rep, /*rewrite_packs=*/false, unused));
  // Orphans: chunk files no row records as a file (left by puts that failed
  // or crashed, or whose chunk now lives in a pack).
  ASSIGN_OR_RETURN(std::vector<ChunkRef> rows, s.catalog->AllChunks());
  std::set<ChunkId> known;
  for (const ChunkRef& r : rows) {
    if (!r.loc) known.insert(r.id);
  }
  ASSIGN_OR_RETURN(std::vector<ChunkId> files, s.chunks->List(0));
  uint64_t n = 0;
  for (const ChunkId& id : files) {
    if (progress && (++n % 1024) == 0) progress(n, files.size());
    if (known.count(id)) continue;
    auto size = s.env->GetFileSize(s.chunks->PathOf(id));
    Status st = s.chunks->Remove(id);
    if (!st.ok() && !st.IsNotFound()) return st;
    ++rep.orphans_removed;
    if (size.ok()) rep.bytes_freed += *size;
  }
  return GcPacks(s, unused);
}

}  // namespace

Result<GcReport> Bucket::Gc(const ProgressFn& progress) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  GcReport rep;
  // Without versioning: what pins alone kept and no live owner pins now
  // (store/catalog_pins.cc) becomes garbage first.
  // Best effort: what it cannot release now waits for the next pass.
  if (Status st = s_->catalog->ReleaseAllUnpinned().status(); !st.ok()) {
    std::fprintf(stderr, "katamari: %s: gc: releasing what pins kept failed (%s); going on\n",
                 dir_.c_str(), st.ToString().c_str());
  }
  UnusedPacks unused;
  const Status st = GcUnderLock(*s_, progress, &rep, &unused);
  // The lock is released: the store's DELETEs (retried for up to ~15 s each)
  // keep no writer waiting. Also after a failure, for what was judged.
  const Status deleted = DeleteUnusedPacks(*s_, unused, &rep);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(deleted);
  return rep;
}

Result<BucketStats> Bucket::Stats() {
  ASSIGN_OR_RETURN(Catalog::Stats c, s_->catalog->GetStats());
  BucketStats b;
  b.files = c.files;
  b.versions = c.versions;
  b.chunks = c.chunks;
  b.logical_bytes = c.logical_bytes;
  b.stored_bytes = c.chunk_stored_bytes;
  b.raw_chunk_bytes = c.chunk_raw_bytes;
  return b;
}

}  // namespace katamari

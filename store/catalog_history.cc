// Catalog::ReadHistory: the whole namespace history, every inode, every
// version's plain columns and, if asked, every chunk list with the chunks'
// reference counts, in one read snapshot. The whole-tree commands
// (store/bucket_history.cc) compute from this in memory, so a bucket of 10k
// files and 100k versions costs four queries, not one per file.
#include <algorithm>
#include <unordered_map>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"
#include "store/catalog_segments.h"

namespace katamari {

namespace {

constexpr char kSqlHistorySeq[] = "SELECT coalesce(max(seq), 0) FROM commits";
constexpr char kSqlHistoryDentries[] =
    "SELECT d.parent, d.name, d.ino, d.kind, d.seq_start, coalesce(d.seq_end, 0), "
    "coalesce(cs.time_ns, 0), coalesce(ce.time_ns, 0) FROM dentries d "
    "LEFT JOIN commits cs ON cs.seq = d.seq_start LEFT JOIN commits ce ON ce.seq = d.seq_end "
    "ORDER BY d.id";
constexpr char kSqlHistoryInodes[] =
    "SELECT id, kind, mode, uid, gid, size, rdev, mtime_ns, current_version, symlink_target "
    "FROM inodes ORDER BY id";
// Without the sealed columns (sha256, xattrs): no key needed. The chunk list
// is the last column and only read when asked for. In table order (a scan;
// ORDER BY ino, vno would visit the rows through the primary key's index)
// and sorted afterwards.
constexpr char kSqlHistoryVersions[] =
    "SELECT ino, vno, seq, commit_time_ns, mtime_ns, size, stored_size, mode, uid, gid, "
    "restored_from FROM versions";
constexpr char kSqlHistoryVersionsChunks[] =
    "SELECT ino, vno, seq, commit_time_ns, mtime_ns, size, stored_size, mode, uid, gid, "
    "restored_from, chunks FROM versions";
constexpr char kSqlHistoryChunks[] =
    "SELECT id, refs, stored_len, delta_base FROM chunks ORDER BY id";
constexpr char kSqlHistorySegments[] = "SELECT id, chunks FROM segments";

// Every segment's chunk list as indexes into History::chunks.
using SegmentIndex = std::unordered_map<int64_t, std::vector<uint32_t>>;

// A chunk list blob (docs/catalog.md, versions.chunks encoding) as indexes
// into `chunks` (sorted by id); holes and unknown ids are left out.
Status IndexChunks(std::string_view blob, const std::vector<Catalog::HistoryChunk>& chunks,
                   const std::string& what, std::vector<uint32_t>* out) {
  ASSIGN_OR_RETURN(std::vector<ChunkRef> refs, catalog_format::DecodeChunks(blob, what));
  out->reserve(refs.size());
  for (const ChunkRef& r : refs) {
    if (r.IsHole()) continue;
    auto it = std::lower_bound(
        chunks.begin(), chunks.end(), r.id,
        [](const Catalog::HistoryChunk& c, const ChunkId& id) { return c.id < id; });
    if (it == chunks.end() || it->id != r.id) continue;  // fsck reports it
    out->push_back(static_cast<uint32_t>(it - chunks.begin()));
  }
  return Status::OK();
}

Status ReadDentries(Catalog::Impl& impl, Catalog::History* h) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHistoryDentries));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    Catalog::HistoryDentry d;
    d.parent = InodeId(q.U64(0));
    d.name = q.Str(1);
    d.ino = InodeId(q.U64(2));
    d.kind = static_cast<FileKind>(q.Int(3));
    d.seq_start = Seq(q.U64(4));
    d.seq_end = Seq(q.U64(5));
    d.start_ns = q.Int(6);
    d.end_ns = q.Int(7);
    h->dentries.push_back(std::move(d));
  }
}

Status ReadInodes(Catalog::Impl& impl, Catalog::History* h) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHistoryInodes));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    Catalog::HistoryInode n;
    n.ino = InodeId(q.U64(0));
    n.kind = static_cast<FileKind>(q.Int(1));
    n.mode = static_cast<uint32_t>(q.Int(2));
    n.uid = static_cast<uint32_t>(q.Int(3));
    n.gid = static_cast<uint32_t>(q.Int(4));
    n.size = q.U64(5);
    n.rdev = q.U64(6);
    n.mtime_ns = q.Int(7);
    n.current_version = VersionNo(q.U64(8));
    if (!q.IsNull(9)) n.symlink_target = q.Str(9);
    h->inodes.push_back(std::move(n));
  }
}

Status ReadChunkRows(Catalog::Impl& impl, Catalog::History* h) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHistoryChunks));
  std::vector<std::pair<uint32_t, ChunkId>> bases;  // (delta's index, base's id)
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    Catalog::HistoryChunk c;
    ASSIGN_OR_RETURN(c.id, q.DigestAt(0));
    c.refs = c.row_refs = q.U64(1);
    c.stored_len = q.U64(2);
    if (!q.IsNull(3)) {
      ASSIGN_OR_RETURN(ChunkId base, q.DigestAt(3));
      bases.emplace_back(static_cast<uint32_t>(h->chunks.size()), base);
    }
    h->chunks.push_back(c);
  }
  for (const auto& [delta, base] : bases) {
    auto it = std::lower_bound(
        h->chunks.begin(), h->chunks.end(), base,
        [](const Catalog::HistoryChunk& c, const ChunkId& id) { return c.id < id; });
    if (it == h->chunks.end() || it->id != base) continue;  // fsck reports it
    h->chunks[delta].delta_base = static_cast<uint32_t>(it - h->chunks.begin());
  }
  return Status::OK();
}

Status ReadSegments(Catalog::Impl& impl, const Catalog::History& h, SegmentIndex* out) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHistorySegments));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    const int64_t id = q.Int(0);
    RETURN_IF_ERROR(
        IndexChunks(q.Blob(1), h.chunks, "segment " + std::to_string(id), &(*out)[id]));
  }
}

Status ReadVersionRows(Catalog::Impl& impl, bool with_chunks, Catalog::History* h) {
  SegmentIndex segments;
  if (with_chunks) RETURN_IF_ERROR(ReadSegments(impl, *h, &segments));
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(with_chunks ? kSqlHistoryVersionsChunks
                                                              : kSqlHistoryVersions));
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Status::OK();
    Catalog::HistoryVersion v;
    v.ino = InodeId(q.U64(0));
    v.vno = VersionNo(q.U64(1));
    v.seq = Seq(q.U64(2));
    v.time_ns = q.Int(3);
    v.mtime_ns = q.Int(4);
    v.size = q.U64(5);
    v.stored_size = q.U64(6);
    v.mode = static_cast<uint32_t>(q.Int(7));
    v.uid = static_cast<uint32_t>(q.Int(8));
    v.gid = static_cast<uint32_t>(q.Int(9));
    if (!q.IsNull(10)) v.restored_from = VersionNo(q.U64(10));
    if (with_chunks) {
      const std::string what = "version " + std::to_string(v.vno.value) + " of inode " +
                               std::to_string(v.ino.value);
      ASSIGN_OR_RETURN(std::vector<int64_t> ids, catalog_segments::DecodeList(q.Blob(11), what));
      for (int64_t id : ids) {
        auto it = segments.find(id);
        if (it == segments.end()) continue;  // fsck reports it
        v.chunks.insert(v.chunks.end(), it->second.begin(), it->second.end());
      }
    }
    h->versions.push_back(std::move(v));
  }
}

}  // namespace

Result<Catalog::History> Catalog::ReadHistory(bool with_chunks) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  // One snapshot: a mount committing between the queries would otherwise
  // give versions of inodes not listed, or refs that do not add up.
  ASSIGN_OR_RETURN(sql::Txn snapshot, sql::Txn::Begin(*impl.db, /*write=*/false));
  History h;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHistorySeq));
    RETURN_IF_ERROR(q.Step().status());
    h.seq = Seq(q.U64(0));
  }
  RETURN_IF_ERROR(ReadDentries(impl, &h));
  RETURN_IF_ERROR(ReadInodes(impl, &h));
  if (with_chunks) RETURN_IF_ERROR(ReadChunkRows(impl, &h));
  RETURN_IF_ERROR(ReadVersionRows(impl, with_chunks, &h));
  RETURN_IF_ERROR(snapshot.Commit());
  if (with_chunks) {
    // HistoryChunk::refs counts occurrences in version lists (a chunk of a
    // segment two versions share counts twice), which chunks.refs no longer
    // does (it counts segments).
    for (HistoryChunk& c : h.chunks) c.refs = 0;
    for (const HistoryVersion& v : h.versions) {
      for (uint32_t c : v.chunks) ++h.chunks[c].refs;
    }
  }
  std::sort(h.versions.begin(), h.versions.end(),
            [](const HistoryVersion& a, const HistoryVersion& b) {
              return a.ino != b.ino ? a.ino < b.ino : a.vno < b.vno;
            });
  return h;
}

}  // namespace katamari

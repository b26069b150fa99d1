// Incremental commits: a new version that is an edit of an existing one
// stores and reads only what changed (docs/semantics.md, When a version is
// made).
//
// Why reusing base refs yields the chunking a full ingest would make: a
// content-defined cut depends only on the bytes from the chunk's start to
// the cut (store/chunker.h). So every base chunk whose bytes are all
// unchanged, and that starts where a cut of the new content falls, is a
// chunk of the new content too. The edit is therefore chunked from the start
// of the first base chunk it touches, and re-chunking stops as soon as a new
// cut lands on the start of an unchanged base chunk: from there on both
// chunkings see the same bytes from the same start. (A base chunk that ends
// at the base's end or at a hole was cut there by that, not by content: it
// is reused only if what follows it is unchanged too.) Whole segments of
// the base are reused by id, unread, under the same rule; only the
// segments the changes reach are read into refs. Reuse never depends on
// that argument for correctness, only for dedup: the refs kept are exactly
// the unchanged bytes at their offsets, and the lengths are checked to add
// up to the new size before anything is committed.
#include <algorithm>
#include <map>

#include "store/bucket_internal.h"

namespace katamari {

namespace {

// Smaller files take the full path: reading them costs little, and their
// SHA-256 is then known at once.
constexpr uint64_t kEditMinSize = 1 << 20;
// Bytes read from the source per step, and chunk data stored per batch.
constexpr size_t kReadPiece = 1 << 20;
constexpr size_t kStoreBatch = 4 << 20;

// The changed ranges clipped to [0, valid) plus [valid, size), merged.
std::vector<std::pair<uint64_t, uint64_t>> DirtyRanges(const EditedRanges& edit, uint64_t valid,
                                                       uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> d;
  for (auto [a, b] : edit.dirty) {
    b = std::min(b, valid);
    if (a < b) d.emplace_back(a, b);
  }
  if (valid < size) d.emplace_back(valid, size);
  std::sort(d.begin(), d.end());
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  for (const auto& r : d) {
    if (!merged.empty() && r.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

// Chunks and stores the data of one edited region, holding the bytes read
// from the source until they are cut.
class EditChunker {
 public:
  EditChunker(Bucket::Shared& s, RandomSource& src, std::vector<ChunkRef>* out,
              const DeltaBases* bases)
      : s_(s), src_(src), out_(out), bases_(bases) {}

  // Chunks the run of data [pos, run_end) as far as the next cut; returns
  // the cut's length. The run's end is always a cut (a hole or the end of
  // the file follows it).
  Result<uint64_t> NextChunk(uint64_t pos, uint64_t run_end) {
    if (buf_pos_ != pos) {  // first call, or after a hole: nothing held
      buf_.clear();
      head_ = 0;
      buf_pos_ = pos;
    }
    const size_t max = s_.chunker->max_size();
    while (buf_.size() - head_ < max && buf_pos_ + (buf_.size() - head_) < run_end) {
      if (head_ >= kReadPiece) {  // keep the buffer from growing
        buf_.erase(0, head_);
        head_ = 0;
      }
      const uint64_t have_end = buf_pos_ + (buf_.size() - head_);
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(kReadPiece, run_end - have_end));
      const size_t old = buf_.size();
      buf_.resize(old + piece);
      RETURN_IF_ERROR(src_.ReadAt(have_end, piece, buf_.data() + old));
    }
    const std::string_view avail(buf_.data() + head_, buf_.size() - head_);
    const bool at_end = buf_pos_ + avail.size() == run_end;
    const size_t cut = s_.chunker->NextBoundary(avail, at_end);
    if (cut == 0) return Status::IOError("internal: no chunk boundary in a full window");
    if (batch_.empty()) batch_pos_ = buf_pos_;
    batch_.append(avail.substr(0, cut));
    lens_.push_back(static_cast<uint32_t>(cut));
    head_ += cut;
    buf_pos_ += cut;
    if (batch_.size() >= kStoreBatch) RETURN_IF_ERROR(Flush());
    return uint64_t{cut};
  }

  // Stores the chunks cut so far and appends their refs.
  Status Flush() {
    if (lens_.empty()) return Status::OK();
    const size_t first = out_->size();
    out_->resize(first + lens_.size());
    RETURN_IF_ERROR(
        StoreChunks(s_, batch_, lens_, out_->data() + first, &wrote_any_, bases_, batch_pos_));
    batch_.clear();
    lens_.clear();
    return Status::OK();
  }

  bool wrote_any() const { return wrote_any_; }

 private:
  Bucket::Shared& s_;
  RandomSource& src_;
  std::vector<ChunkRef>* out_;
  const DeltaBases* bases_;
  uint64_t batch_pos_ = 0;  // file offset of batch_[0]
  std::string buf_;       // bytes read and not yet cut, from buf_[head_]
  size_t head_ = 0;
  uint64_t buf_pos_ = UINT64_MAX;  // file offset of buf_[head_]
  std::string batch_;     // cut chunks waiting to be stored
  std::vector<uint32_t> lens_;
  bool wrote_any_ = false;
};

// Adapts a RandomSource to the sequential ByteSource of the full path.
class SequentialView : public ByteSource {
 public:
  explicit SequentialView(RandomSource& src) : src_(src) {}
  Result<size_t> Read(char* buf, size_t n) override {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, src_.size() - pos_));
    RETURN_IF_ERROR(src_.ReadAt(pos_, k, buf));
    pos_ += k;
    return k;
  }
  Result<Extent> Next() override {
    if (pos_ >= src_.size()) return Extent{false, 0};
    return src_.ExtentAt(pos_);
  }
  Status SkipHole(uint64_t n) override {
    pos_ += n;
    return Status::OK();
  }

 private:
  RandomSource& src_;
  uint64_t pos_ = 0;
};

// A chunk that failed a read is not reused unread: with any such chunk
// known, the base's whole list is checked.
bool SuspectInBase(Bucket::Shared& s, const EditedRanges& edit) {
  {
    std::lock_guard<std::mutex> l(s.suspect_mu);
    if (s.suspect_chunks.empty()) return false;
  }
  auto chunks = s.catalog->VersionChunks(edit.base_ino, edit.base);
  if (!chunks.ok()) return true;
  std::lock_guard<std::mutex> l(s.suspect_mu);
  for (const ChunkRef& c : *chunks) {
    if (s.suspect_chunks.count(c.id)) return true;
  }
  return false;
}

bool BaseGone(Bucket::Shared& s, const EditedRanges& edit) {
  auto v = s.catalog->GetVersion(edit.base_ino, edit.base);
  return !v.ok() && v.status().IsNotFound();
}

// The base version as its segments, each read into refs only when the edit
// reaches into it.
class SegmentedBase {
 public:
  SegmentedBase(Catalog& cat, std::vector<SegmentMeta> segs) : cat_(cat), segs_(std::move(segs)) {
    starts_.reserve(segs_.size() + 1);
    uint64_t at = 0;
    for (const SegmentMeta& m : segs_) {
      starts_.push_back(at);
      at += m.size;
    }
    starts_.push_back(at);  // sentinel: starts_[k + 1] is segment k's end
  }
  size_t count() const { return segs_.size(); }
  uint64_t total() const { return starts_.back(); }
  uint64_t start(size_t k) const { return starts_[k]; }
  uint64_t end(size_t k) const { return starts_[k + 1]; }
  const SegmentMeta& meta(size_t k) const { return segs_[k]; }

  struct Refs {
    std::vector<ChunkRef> refs;
    std::vector<uint64_t> starts;  // file offset of each ref, and the end
  };
  bool IsRead(size_t k) const { return read_.count(k) != 0; }
  // Segment k's refs, read once.
  Result<const Refs*> Read(size_t k) {
    auto it = read_.find(k);
    if (it != read_.end()) return &it->second;
    ASSIGN_OR_RETURN(std::vector<ChunkRef> refs, cat_.SegmentChunks(segs_[k].id));
    Refs r;
    r.starts.reserve(refs.size() + 1);
    uint64_t at = start(k);
    for (const ChunkRef& c : refs) {
      r.starts.push_back(at);
      at += c.raw_len;
    }
    r.starts.push_back(at);
    if (at != end(k)) {
      return Status::Corruption("catalog: segment " + std::to_string(segs_[k].id) + " holds " +
                                std::to_string(at - start(k)) + " bytes, its row says " +
                                std::to_string(segs_[k].size) + "; run `katamari fsck`");
    }
    r.refs = std::move(refs);
    return &read_.emplace(k, std::move(r)).first->second;
  }

 private:
  Catalog& cat_;
  std::vector<SegmentMeta> segs_;
  std::vector<uint64_t> starts_;
  std::map<size_t, Refs> read_;
};

}  // namespace

Result<Ingested> IngestEdit(Bucket::Shared& s, RandomSource& src, const EditedRanges& edit,
                            std::vector<SegmentMeta> base_segments, DeltaBases* bases) {
  const uint64_t size = src.size();
  SegmentedBase base(*s.catalog, std::move(base_segments));
  const uint64_t valid = std::min({edit.base_valid, size, base.total()});
  const auto dirty = DirtyRanges(edit, valid, size);
  // Whether base bytes [a, b) are all unchanged.
  auto clean = [&](uint64_t a, uint64_t b) {
    if (b > valid) return false;
    auto it = std::upper_bound(dirty.begin(), dirty.end(), a,
                               [](uint64_t x, const auto& r) { return x < r.second; });
    return it == dirty.end() || it->first >= b;
  };
  // Whether base bytes [a, b) may be reused as they are: unchanged, and so is
  // what follows them. A cut the base made at its end or at a hole, not by
  // content, is no cut of the new content once data follows there (an
  // append, a hole written into); every other cut depends only on the bytes
  // before it.
  auto reusable = [&](uint64_t a, uint64_t b) {
    return clean(a, b) && (b == size || clean(b, b + 1));
  };

  Ingested out;
  out.size = size;
  out.sha256_pending = true;  // completed off the close path
  out.base_ino = edit.base_ino;
  out.base = edit.base;
  std::vector<ChunkRef> run;  // refs since the last reused segment
  auto end_run = [&] {
    if (run.empty()) return;
    ListPiece p;
    p.chunks = std::move(run);
    run.clear();
    out.pieces.push_back(std::move(p));
  };
  EditChunker chunker(s, src, &run, bases);
  uint64_t total = 0;
  size_t k = 0;  // the segment holding pos (the first ending after it)
  bool last_was_hole = false;
  for (uint64_t pos = 0; pos < size;) {
    RETURN_IF_ERROR(CheckCancelled(s));
    while (k < base.count() && base.end(k) <= pos) ++k;
    if (k < base.count() && base.start(k) == pos && reusable(pos, base.end(k))) {
      // Unchanged: the base's segment as it is, never read.
      RETURN_IF_ERROR(chunker.Flush());
      end_run();
      ListPiece p;
      p.segment = base.meta(k).id;
      p.ends_cut = k + 1 < base.count();
      out.pieces.push_back(std::move(p));
      total += base.meta(k).size;
      last_was_hole = false;
      pos = base.end(k);
      continue;
    }
    if (k < base.count()) {
      const bool first_read = !base.IsRead(k);
      ASSIGN_OR_RETURN(const SegmentedBase::Refs* seg, base.Read(k));
      // Changed chunks here may be patches against this segment's.
      if (first_read && bases != nullptr) bases->AddRun(base.start(k), seg->refs);
      // The first ref of the segment starting at or after pos.
      const size_t i = static_cast<size_t>(
          std::lower_bound(seg->starts.begin(), seg->starts.end() - 1, pos) -
          seg->starts.begin());
      if (i < seg->refs.size() && seg->starts[i] == pos && reusable(pos, seg->starts[i + 1])) {
        // Unchanged: the base's ref as it is, never read.
        RETURN_IF_ERROR(chunker.Flush());
        run.push_back(seg->refs[i]);
        last_was_hole = false;
        pos = seg->starts[i + 1];
        continue;
      }
    }
    // Changed (or not on a base boundary yet): the next cut of the new
    // content, or its next hole.
    ASSIGN_OR_RETURN(Extent e, src.ExtentAt(pos));
    const uint64_t len = (e.len == 0 || e.len > size - pos) ? size - pos : e.len;
    if (e.hole) {
      RETURN_IF_ERROR(chunker.Flush());
      AppendHole(&run, len, last_was_hole);
      last_was_hole = true;
      pos += len;
      continue;
    }
    ASSIGN_OR_RETURN(uint64_t cut, chunker.NextChunk(pos, pos + len));
    last_was_hole = false;
    pos += cut;
  }
  RETURN_IF_ERROR(chunker.Flush());
  if (chunker.wrote_any()) RETURN_IF_ERROR(ChunksWritten(s));
  for (const ChunkRef& c : run) total += c.raw_len;
  for (const ListPiece& p : out.pieces) {
    for (const ChunkRef& c : p.chunks) total += c.raw_len;
  }
  end_run();
  if (total != size) {  // never commit a chunk list that is not the content
    return Status::IOError("internal: an incremental commit made " + std::to_string(total) +
                           " bytes of chunks for " + std::to_string(size) + " bytes");
  }
  return out;
}

Result<VersionInfo> Bucket::CommitEdit(InodeId ino, RandomSource& src, const EditedRanges& edit,
                                       const CommitOptions& options) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  const uint64_t size = src.size();
  const uint64_t valid = std::min(edit.base_valid, size);
  uint64_t changed = size - valid;
  for (auto [a, b] : edit.dirty) changed += b > a ? std::min(b, valid) - std::min(a, valid) : 0;
  Result<VersionInfo> r = Status::IOError("not committed");
  {
    // Held from reading the base's chunk list until the row is in: no gc
    // (of any process) deletes a chunk the new version reuses meanwhile.
    ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(dir_, GcLock::Mode::kShared));
    std::vector<SegmentMeta> base;
    bool incremental = edit.base.value != 0 && size >= kEditMinSize && changed * 2 <= size;
    if (incremental) {
      auto segs = s_->catalog->VersionSegments(edit.base_ino, edit.base);
      // The base is gone (deleted meanwhile): read everything instead.
      incremental = segs.ok();
      if (incremental) base = std::move(segs).value();
    }
    if (incremental && SuspectInBase(*s_, edit)) incremental = false;
    bool done = false;
    // Changed chunks may be patches against the base's (bucket_delta.cc):
    // an incremental commit collects the base chunks it reads.
    const bool deltas = s_->catalog->settings().delta_chunks;
    if (incremental) {
      std::unique_ptr<DeltaBases> bases = deltas ? std::make_unique<DeltaBases>() : nullptr;
      auto ingested = IngestEdit(*s_, src, edit, std::move(base), bases.get());
      r = ingested.ok() ? AddIngestedVersion(*s_, ino, std::move(ingested).value(), options)
                        : Result<VersionInfo>(ingested.status());
      // A segment of the base gone meanwhile (the base deleted by another
      // process): the whole content instead. Any other error fails the commit.
      done = r.ok() || !r.status().IsNotFound() || !BaseGone(*s_, edit);
    }
    if (!done) {
      std::unique_ptr<DeltaBases> bases =
          deltas ? LoadDeltaBases(*s_, edit.base_ino, edit.base) : nullptr;
      SequentialView view(src);
      ASSIGN_OR_RETURN(Ingested in,
                       IngestStream(*s_, view, {}, /*hash_holes=*/false, bases.get()));
      r = AddIngestedVersion(*s_, ino, std::move(in), options);
    }
  }  // gc lock released: the version row now holds its chunks
  if (r.ok() && !s_->catalog->settings().versioning) TryReclaim(*s_, dir_);
  return r;
}

}  // namespace katamari

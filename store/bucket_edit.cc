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
// chunkings see the same bytes from the same start. Reuse never depends on
// that argument for correctness, only for dedup: the refs kept are exactly
// the unchanged bytes at their offsets, and the lengths are checked to add
// up to the new size before anything is committed.
#include <algorithm>

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

}  // namespace

Result<Ingested> IngestEdit(Bucket::Shared& s, RandomSource& src, const EditedRanges& edit,
                            const std::vector<ChunkRef>& base, const DeltaBases* bases) {
  const uint64_t size = src.size();
  std::vector<uint64_t> starts;
  starts.reserve(base.size() + 1);
  uint64_t base_total = 0;
  for (const ChunkRef& c : base) {
    starts.push_back(base_total);
    base_total += c.raw_len;
  }
  starts.push_back(base_total);  // sentinel: starts[i + 1] is chunk i's end
  const uint64_t valid = std::min({edit.base_valid, size, base_total});
  const auto dirty = DirtyRanges(edit, valid, size);
  // Whether base chunk i lies wholly in unchanged bytes.
  auto clean = [&](size_t i) {
    const uint64_t a = starts[i], b = starts[i + 1];
    if (b > valid) return false;
    auto it = std::upper_bound(dirty.begin(), dirty.end(), a,
                               [](uint64_t x, const auto& r) { return x < r.second; });
    return it == dirty.end() || it->first >= b;
  };

  Ingested out;
  out.size = size;
  out.sha256_pending = true;  // completed off the close path
  std::vector<ChunkRef>& refs = out.chunks;
  EditChunker chunker(s, src, &refs, bases);
  size_t i = 0;  // the first base chunk starting at or after pos
  bool last_was_hole = false;
  for (uint64_t pos = 0; pos < size;) {
    RETURN_IF_ERROR(CheckCancelled(s));
    while (i < base.size() && starts[i] < pos) ++i;
    if (i < base.size() && starts[i] == pos && clean(i)) {
      // Unchanged: the base's ref as it is, never read.
      RETURN_IF_ERROR(chunker.Flush());
      refs.push_back(base[i]);
      last_was_hole = false;
      pos = starts[i + 1];
      continue;
    }
    // Changed (or not on a base boundary yet): the next cut of the new
    // content, or its next hole.
    ASSIGN_OR_RETURN(Extent e, src.ExtentAt(pos));
    const uint64_t run = (e.len == 0 || e.len > size - pos) ? size - pos : e.len;
    if (e.hole) {
      RETURN_IF_ERROR(chunker.Flush());
      AppendHole(&refs, run, last_was_hole);
      last_was_hole = true;
      pos += run;
      continue;
    }
    ASSIGN_OR_RETURN(uint64_t cut, chunker.NextChunk(pos, pos + run));
    last_was_hole = false;
    pos += cut;
  }
  RETURN_IF_ERROR(chunker.Flush());
  if (chunker.wrote_any()) RETURN_IF_ERROR(ChunksWritten(s));
  uint64_t total = 0;
  for (const ChunkRef& c : refs) total += c.raw_len;
  if (total != size) {  // never commit a chunk list that is not the content
    return Status::IOError("internal: an incremental commit made " + std::to_string(total) +
                           " bytes of chunks for " + std::to_string(size) + " bytes");
  }
  return out;
}

Result<VersionInfo> Bucket::CommitEdit(InodeId ino, RandomSource& src, const EditedRanges& edit,
                                       std::optional<int64_t> mtime_ns,
                                       std::optional<VersionNo> replaces,
                                       std::optional<int64_t> ctime_ns) {
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
    std::vector<ChunkRef> base;
    bool incremental = edit.base.value != 0 && size >= kEditMinSize && changed * 2 <= size;
    if (incremental) {
      auto chunks = s_->catalog->VersionChunks(edit.base_ino, edit.base);
      // The base is gone (deleted meanwhile): read everything instead.
      incremental = chunks.ok();
      if (incremental) base = std::move(chunks).value();
    }
    if (incremental) {
      std::lock_guard<std::mutex> l(s_->suspect_mu);
      // A chunk that failed a read is not reused unread.
      for (const ChunkRef& c : base) {
        if (s_->suspect_chunks.empty()) break;
        if (s_->suspect_chunks.count(c.id)) incremental = false;
      }
    }
    Ingested in;
    // Changed chunks may be patches against the base's (bucket_delta.cc).
    std::unique_ptr<DeltaBases> bases;
    if (!s_->catalog->settings().delta_chunks) {
    } else if (incremental) {
      bases = std::make_unique<DeltaBases>(base);
    } else {
      bases = LoadDeltaBases(*s_, edit.base_ino, edit.base);
    }
    if (incremental) {
      ASSIGN_OR_RETURN(in, IngestEdit(*s_, src, edit, base, bases.get()));
    } else {
      SequentialView view(src);
      ASSIGN_OR_RETURN(in, IngestStream(*s_, view, {}, /*hash_holes=*/false, bases.get()));
    }
    r = AddIngestedVersion(*s_, ino, std::move(in), mtime_ns, replaces, ctime_ns);
  }  // gc lock released: the version row now holds its chunks
  if (r.ok() && !s_->catalog->settings().versioning) TryReclaim(*s_, dir_);
  return r;
}

}  // namespace katamari

// The data paths: ingest (chunk, hash, compress, write in parallel) and
// streaming/random reads of versions.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "store/bucket_internal.h"
#include "store/sha256.h"
#include "store/worker_pool.h"

namespace katamari {

namespace {

constexpr size_t kIngestBlock = 4 << 20;  // bytes read per step
constexpr size_t kMaxTasksQueued = 3;     // bounds memory: ~(3 + workers) blocks per ingest
constexpr size_t kDecodeWindow = 8;       // chunks decoded ahead of the writer
constexpr size_t kHeldCacheEntries = 1 << 16;  // Bucket::HeldBytes answers kept

// A buffer of zeros: what holes read as.
const std::string& ZeroBuffer() {
  static const std::string* zeros = new std::string(1 << 20, '\0');
  return *zeros;
}


// Chunks of one block, stored by one worker.
struct IngestTask {
  std::shared_ptr<const std::string> buf;
  std::vector<uint32_t> lens;  // chunk lengths, back to back from offset 0
  size_t first_index = 0;      // index of the first chunk in the file
  uint64_t offset = 0;         // file offset of the first chunk
};

// Hashes, deduplicates against the catalog, compresses and writes the chunks
// of one task; out[i] receives the ref of its i-th chunk.
Status StoreTask(Bucket::Shared& s, const IngestTask& t, ChunkRef* out, bool* wrote_any,
                 const DeltaBases* bases) {
  return StoreChunks(s, *t.buf, t.lens, out, wrote_any, bases, t.offset);
}

}  // namespace

Status StoreChunks(Bucket::Shared& s, std::string_view buf, const std::vector<uint32_t>& lens,
                   ChunkRef* out, bool* wrote_any, const DeltaBases* bases, uint64_t offset) {
  std::vector<ChunkId> ids;
  ids.reserve(lens.size());
  size_t off = 0;
  for (uint32_t len : lens) {
    ids.push_back(s.chunks->IdOf(buf.substr(off, len)));
    off += len;
  }
  std::vector<bool> have = s.catalog->HaveChunks(ids);
  off = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    RETURN_IF_ERROR(CheckCancelled(s));
    std::string_view data = buf.substr(off, lens[i]);
    const uint64_t at = offset + off;
    off += lens[i];
    ChunkRef ref;
    // A row alone is not enough: a file that was lost or moved aside as
    // damaged is stored again (same id; the commit raises its refs as usual).
    if (have[i] && CanReuseChunk(s, ids[i])) {
      ref.id = ids[i];
      ref.raw_len = lens[i];
    } else {
      // A row's lost copy is stored whole: the row keeps the base it holds.
      ASSIGN_OR_RETURN(ref, WriteChunk(s, have[i] ? nullptr : bases, at, ids[i], data));
      *wrote_any = true;
      if (s.deferred_sync && !ref.loc) NoteUnsyncedChunk(s, ids[i]);
      if (have[i]) {
        ref.replace = true;  // the row's copy is lost or damaged: point it here
        std::lock_guard<std::mutex> l(s.suspect_mu);
        s.suspect_chunks.erase(ids[i]);
      }
    }
    out[i] = ref;
  }
  return Status::OK();
}

// Appends a hole of `len` bytes to `refs`, extending the hole ref at the end
// if `extend` (the caller knows it put one there: the slots of chunks that
// workers have not filled in yet look like holes too).
void AppendHole(std::vector<ChunkRef>* refs, uint64_t len, bool extend) {
  if (extend && !refs->empty() && refs->back().IsHole()) {
    uint64_t room = kMaxHoleRef - refs->back().raw_len;
    uint64_t k = std::min(room, len);
    refs->back().raw_len += static_cast<uint32_t>(k);
    len -= k;
  }
  while (len > 0) {
    uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(len, kMaxHoleRef));
    refs->push_back(ChunkRef::Hole(k));
    len -= k;
  }
}

namespace {

// Reads until `want` bytes are appended or the source ends.
Result<bool> FillBlock(ByteSource& src, std::string* buf, size_t want) {
  size_t start = buf->size();
  buf->resize(start + want);
  size_t have = 0;
  bool eof = false;
  while (have < want) {
    ASSIGN_OR_RETURN(size_t n, src.Read(buf->data() + start + have, want - have));
    if (n == 0) {
      eof = true;
      break;
    }
    have += n;
  }
  buf->resize(start + have);
  return eof;
}

// Feeds `len` zeros into `sha` (a hole of katamari put), checking for
// cancellation between pieces.
Status HashZeros(const Bucket::Shared& s, Sha256Stream* sha, uint64_t len) {
  const std::string& zeros = ZeroBuffer();
  while (len > 0) {
    RETURN_IF_ERROR(CheckCancelled(s));
    size_t k = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
    sha->Update(std::string_view(zeros.data(), k));
    len -= k;
  }
  return Status::OK();
}

Status TooBigError(uint64_t size) {
  return Status::TooBig("a size of " + std::to_string(size) +
                        " bytes is larger than the largest file a bucket supports (" +
                        std::to_string(kMaxFileSize) + " bytes)");
}

}  // namespace

Result<Ingested> IngestStream(Bucket::Shared& s, ByteSource& src, const ProgressFn& progress,
                              bool hash_holes, const DeltaBases* bases) {
  Ingested out;
  Sha256Stream whole;
  std::vector<ChunkRef> refs;
  // Blocks of chunks are stored on the bucket's pool, at most
  // threads + kMaxTasksQueued of them in flight; this thread stores one
  // itself when the pool has not started its own yet (WorkerPool::Group).
  std::mutex refs_mu;  // guards refs' resizing, wrote_any and failed
  bool wrote_any = false;
  Status failed;  // the first error of a task
  std::atomic<bool> any_failed{false};
  bool scheduled = false;
  auto store = [&](const IngestTask& t) {
    if (any_failed.load()) return;
    std::vector<ChunkRef> local(t.lens.size());
    bool wrote = false;
    Status st = StoreTask(s, t, local.data(), &wrote, bases);
    std::lock_guard<std::mutex> l(refs_mu);
    if (!st.ok()) {
      if (failed.ok()) failed = st;
      any_failed = true;
      return;
    }
    std::copy(local.begin(), local.end(), refs.begin() + t.first_index);
    wrote_any = wrote_any || wrote;
  };
  // After what its tasks use: on any return, it is destroyed (and waited
  // for) first.
  WorkerPool::Group group(*s.pool);
  const size_t max_in_flight = s.pool->threads() + kMaxTasksQueued;

  std::string pending;  // bytes after the last cut, carried to the next block
  size_t chunk_count = 0;
  bool eof = false;
  bool last_was_hole = false;  // refs.back() is a hole ref this loop appended
  Status read_error;
  while (!eof) {
    read_error = CheckCancelled(s);
    if (!read_error.ok()) break;
    auto next = src.Next();
    if (!next.ok()) {
      read_error = next.status();
      break;
    }
    if (next->hole && next->len > 0) {
      // Data before a hole was cut at its end (end_of_run below), so no
      // bytes are pending here. The hole is recorded, never read or stored.
      if (out.size + next->len > kMaxFileSize || out.size + next->len < out.size) {
        read_error = TooBigError(out.size + next->len);
        break;
      }
      if (hash_holes && !out.sha256_pending) {
        read_error = HashZeros(s, &whole, next->len);
      } else {
        out.sha256_pending = true;
      }
      if (read_error.ok()) read_error = src.SkipHole(next->len);
      if (!read_error.ok()) break;
      out.size += next->len;
      std::lock_guard<std::mutex> l(refs_mu);
      refs.resize(chunk_count);
      AppendHole(&refs, next->len, /*extend=*/last_was_hole);
      chunk_count = refs.size();
      last_was_hole = true;
      continue;
    }
    last_was_hole = false;
    auto buf = std::make_shared<std::string>(std::move(pending));
    pending.clear();
    size_t old = buf->size();
    bool end_of_run = false;  // a hole follows: cut everything read
    if (next->len == 0) {
      eof = true;
    } else {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kIngestBlock, next->len));
      auto filled = FillBlock(src, buf.get(), want);
      if (!filled.ok()) {
        read_error = filled.status();
        break;
      }
      eof = *filled;
      end_of_run = !eof && buf->size() - old == next->len;
    }
    if (!out.sha256_pending) whole.Update(std::string_view(*buf).substr(old));
    out.size += buf->size() - old;
    if (out.size > kMaxFileSize) {
      read_error = TooBigError(out.size);
      break;
    }
    IngestTask t;
    t.first_index = chunk_count;
    t.offset = out.size - buf->size();
    size_t pos = 0;
    while (pos < buf->size()) {
      size_t len =
          s.chunker->NextBoundary(std::string_view(*buf).substr(pos), eof || end_of_run);
      if (len == 0) break;
      t.lens.push_back(static_cast<uint32_t>(len));
      pos += len;
    }
    pending.assign(*buf, pos, std::string::npos);
    buf->resize(pos);
    chunk_count += t.lens.size();
    if (t.lens.empty()) continue;
    {
      std::lock_guard<std::mutex> l(refs_mu);
      refs.resize(chunk_count);
    }
    t.buf = std::move(buf);
    if (eof && !scheduled) {
      // Everything fit in one block: store it on this thread (small files).
      Status st = StoreTask(s, t, refs.data() + t.first_index, &wrote_any, bases);
      if (!st.ok()) return st;
      break;
    }
    if (any_failed.load()) break;
    group.WaitBelow(max_in_flight);
    scheduled = true;
    group.Schedule([&store, task = std::make_shared<IngestTask>(std::move(t))] { store(*task); });
    if (progress) progress(out.size, 0);
  }
  if (!read_error.ok()) any_failed = true;  // the tasks not started skip their work
  group.Wait();
  RETURN_IF_ERROR(read_error);
  RETURN_IF_ERROR(failed);
  if (wrote_any) RETURN_IF_ERROR(ChunksWritten(s));
  if (!out.sha256_pending) out.sha256 = whole.Finish();
  out.chunks = std::move(refs);
  return out;
}

namespace {

// `len` zeros into `out` (a hole), in pieces, checking for cancellation.
Status WriteZeros(const Bucket::Shared& s, ByteSink& out, uint64_t len) {
  const std::string& zeros = ZeroBuffer();
  while (len > 0) {
    RETURN_IF_ERROR(CheckCancelled(s));
    size_t k = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
    RETURN_IF_ERROR(out.Write(std::string_view(zeros.data(), k)));
    len -= k;
  }
  return Status::OK();
}

// Hashes what it is given.
class HashSink : public ByteSink {
 public:
  Status Write(std::string_view data) override {
    sha_.Update(data);
    return Status::OK();
  }
  Sha256 Finish() { return sha_.Finish(); }

 private:
  Sha256Stream sha_;
};

}  // namespace

Result<Sha256> HashChunks(Bucket::Shared& s, const std::vector<ChunkRef>& chunks,
                          const std::string& what) {
  HashSink sink;
  RETURN_IF_ERROR(StreamChunks(s, chunks, sink, what, {}));
  return sink.Finish();
}

Status StreamChunks(Bucket::Shared& s, const std::vector<ChunkRef>& chunks, ByteSink& out,
                    const std::string& what, const ProgressFn& progress) {
  const size_t n = chunks.size();
  auto decode = [&](size_t i, std::string* data) {
    if (chunks[i].IsHole()) {  // written as zeros by the writer below
      data->clear();
      return Status::OK();
    }
    Status st = s.chunks->Read(chunks[i], data);
    if (!st.ok() && st.IsCorruption()) {
      QuarantineChunk(s, chunks[i].id);
      return Status::Corruption(what + ": " + st.message());
    }
    return st;
  };
  uint64_t done = 0;
  if (n <= 2) {
    std::string data;
    for (size_t i = 0; i < n; ++i) {
      RETURN_IF_ERROR(CheckCancelled(s));
      if (chunks[i].IsHole()) {
        RETURN_IF_ERROR(WriteZeros(s, out, chunks[i].raw_len));
        continue;
      }
      RETURN_IF_ERROR(decode(i, &data));
      RETURN_IF_ERROR(out.Write(data));
    }
    return Status::OK();
  }
  // Chunks i+1 .. i+kDecodeWindow-1 are decoded on the bucket's pool while
  // chunk i is written; chunk i itself is decoded here if no pool thread
  // has started on it (the pool may be busy with other callers' work).
  struct Slot {
    std::string data;
    Status st;
    size_t index = SIZE_MAX;  // the chunk this slot is for
    enum class State { kFree, kQueued, kClaimed, kReady } state = State::kFree;
  };
  std::vector<Slot> slots(kDecodeWindow);
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> abort{false};
  auto run = [&](size_t i) {  // decodes chunk i unless another thread has
    Slot& slot = slots[i % kDecodeWindow];
    {
      std::lock_guard<std::mutex> l(mu);
      if (slot.index != i || slot.state != Slot::State::kQueued) return;
      slot.state = Slot::State::kClaimed;
    }
    std::string data;
    Status st = abort.load() ? Status::OK() : decode(i, &data);
    std::lock_guard<std::mutex> l(mu);
    slot.data.swap(data);
    slot.st = st;
    slot.state = Slot::State::kReady;
    cv.notify_all();
  };
  WorkerPool::Group group(*s.pool);
  auto queue_decode = [&](size_t i) {
    {
      std::lock_guard<std::mutex> l(mu);
      Slot& slot = slots[i % kDecodeWindow];
      slot.index = i;
      slot.state = Slot::State::kQueued;
    }
    group.Schedule([&run, i] { run(i); });
  };
  for (size_t i = 0; i < std::min(n, kDecodeWindow); ++i) queue_decode(i);
  Status result;
  std::string data;
  for (size_t i = 0; i < n && result.ok(); ++i) {
    run(i);
    {
      std::unique_lock<std::mutex> l(mu);
      Slot& slot = slots[i % kDecodeWindow];
      cv.wait(l, [&] { return slot.state == Slot::State::kReady; });
      data.swap(slot.data);
      result = slot.st;
      slot.state = Slot::State::kFree;
    }
    if (i + kDecodeWindow < n) queue_decode(i + kDecodeWindow);
    if (result.ok()) result = CheckCancelled(s);
    if (result.ok()) {
      result = chunks[i].IsHole() ? WriteZeros(s, out, chunks[i].raw_len) : out.Write(data);
    }
    done += chunks[i].raw_len;
    if (progress && (i % 256) == 0) progress(done, 0);
  }
  abort = true;  // the decodes not started yet skip their work
  group.Wait();
  return result;
}

namespace {

// Random access over a version's chunk list, with a one-chunk cache; its
// chunks are read with `mode` (ChunkStore::ReadMode).
class ChunkListReader : public VersionReader {
 public:
  ChunkListReader(Bucket::Shared& s, VersionInfo info, std::vector<ChunkRef> chunks,
                  ChunkStore::ReadMode mode)
      : s_(s), info_(std::move(info)), chunks_(std::move(chunks)), mode_(mode) {
    starts_.reserve(chunks_.size());
    uint64_t off = 0;
    for (const ChunkRef& c : chunks_) {
      starts_.push_back(off);
      // Maximal runs of data and of holes, for ExtentAt.
      if (run_starts_.empty() || run_hole_.back() != c.IsHole()) {
        run_starts_.push_back(off);
        run_hole_.push_back(c.IsHole());
      }
      if (!c.IsHole()) held_ += c.raw_len;
      off += c.raw_len;
    }
  }
  const VersionInfo& info() const override { return info_; }
  uint64_t held_bytes() const override { return held_; }

  Extent ExtentAt(uint64_t offset) const override {
    if (offset >= info_.size || run_starts_.empty()) return Extent{false, 0};
    size_t r = std::upper_bound(run_starts_.begin(), run_starts_.end(), offset) -
               run_starts_.begin() - 1;
    uint64_t end = r + 1 < run_starts_.size() ? run_starts_[r + 1] : info_.size;
    return Extent{run_hole_[r], end - offset};
  }

  Status ReadAt(uint64_t offset, size_t n, char* buf, size_t* got) override {
    *got = 0;
    while (n > 0 && offset < info_.size) {
      size_t i = std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin() - 1;
      size_t in_chunk = offset - starts_[i];
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, chunks_[i].raw_len - in_chunk));
      if (chunks_[i].IsHole()) {
        std::fill_n(buf, k, '\0');
      } else {
        RETURN_IF_ERROR(Load(i));
        k = std::min(k, cached_.size() - in_chunk);
        std::copy_n(cached_.data() + in_chunk, k, buf);
      }
      buf += k;
      *got += k;
      offset += k;
      n -= k;
    }
    return Status::OK();
  }

 private:
  Status Load(size_t i) {
    if (cached_index_ == i) return Status::OK();
    cached_index_ = SIZE_MAX;
    Status st = s_.chunks->Read(chunks_[i], &cached_, mode_);
    if (!st.ok()) {
      if (!st.IsCorruption()) return st;
      QuarantineChunk(s_, chunks_[i].id);
      return Status::Corruption(Name() + ": " + st.message());
    }
    cached_index_ = i;
    return Status::OK();
  }

  // "PATH@VERSION" for messages. Computed only on failure: the path costs a
  // catalog walk, and readers are opened on every open(2) of the mount.
  std::string Name() const {
    auto path = s_.catalog->PathOf(info_.ino);
    return (path.ok() ? *path : "inode " + std::to_string(info_.ino.value)) + "@" +
           std::to_string(info_.version.value);
  }

  Bucket::Shared& s_;
  VersionInfo info_;
  std::vector<ChunkRef> chunks_;
  const ChunkStore::ReadMode mode_;
  std::vector<uint64_t> starts_;
  std::vector<uint64_t> run_starts_;  // start of each maximal data or hole run
  std::vector<bool> run_hole_;        // whether that run is a hole
  uint64_t held_ = 0;                 // bytes not in holes
  std::string cached_;
  size_t cached_index_ = SIZE_MAX;
};

}  // namespace

Result<std::unique_ptr<VersionReader>> OpenVersionReader(Bucket::Shared& s, InodeId ino,
                                                         VersionNo vno,
                                                         ChunkStore::ReadMode mode) {
  ASSIGN_OR_RETURN(VersionInfo info, s.catalog->GetVersion(ino, vno));
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s.catalog->VersionChunks(ino, vno));
  // A list that does not add up to the size would be read past its end.
  uint64_t listed = 0;
  for (const ChunkRef& c : chunks) listed += c.raw_len;
  if (listed != info.size) {
    auto path = s.catalog->PathOf(ino);
    return Status::Corruption(
        "the catalog says " +
        (path.ok() ? *path : "inode " + std::to_string(ino.value)) + "@" +
        std::to_string(vno.value) + " has a size of " + std::to_string(info.size) +
        " bytes but its chunk list holds " + std::to_string(listed) +
        "; run `katamari fsck`");
  }
  return std::unique_ptr<VersionReader>(
      new ChunkListReader(s, std::move(info), std::move(chunks), mode));
}

Result<std::unique_ptr<VersionReader>> Bucket::OpenVersion(InodeId ino, VersionNo vno) {
  return OpenVersionReader(*s_, ino, vno, ChunkStore::ReadMode::kFromStorage);
}

Result<uint64_t> Bucket::HeldBytes(InodeId ino, VersionNo vno) {
  const auto key = std::make_pair(ino.value, vno.value);
  {
    std::lock_guard<std::mutex> l(s_->held_mu);
    if (auto it = s_->held_bytes.find(key); it != s_->held_bytes.end()) return it->second;
  }
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, s_->catalog->VersionChunks(ino, vno));
  uint64_t held = 0;
  for (const ChunkRef& c : chunks) held += c.IsHole() ? 0 : c.raw_len;
  RememberHeldBytes(*s_, ino, vno, held);
  return held;
}

void RememberHeldBytes(Bucket::Shared& s, InodeId ino, VersionNo vno, uint64_t held) {
  std::lock_guard<std::mutex> l(s.held_mu);
  if (s.held_bytes.size() >= kHeldCacheEntries) s.held_bytes.clear();
  s.held_bytes[std::make_pair(ino.value, vno.value)] = held;
}

void ForgetHeldBytes(Bucket::Shared& s, InodeId ino) {
  std::lock_guard<std::mutex> l(s.held_mu);
  auto it = s.held_bytes.lower_bound(std::make_pair(ino.value, uint64_t{0}));
  while (it != s.held_bytes.end() && it->first.first == ino.value) it = s.held_bytes.erase(it);
}

}  // namespace katamari

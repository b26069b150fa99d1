// Delta chunks on the commit path (store/bucket_delta.h).
#include "store/bucket_delta.h"

#include <algorithm>

#include "store/bucket_internal.h"

namespace katamari {

DeltaBases::DeltaBases(std::vector<ChunkRef> chunks) : chunks_(std::move(chunks)) {
  starts_.reserve(chunks_.size());
  ends_.reserve(chunks_.size());
  uint64_t end = 0;
  for (const ChunkRef& c : chunks_) {
    starts_.push_back(end);
    end += c.raw_len;
    ends_.push_back(end);
  }
}

void DeltaBases::AddRun(uint64_t start, const std::vector<ChunkRef>& refs) {
  if (!ends_.empty() && start < ends_.back()) return;  // out of order: not a candidate
  for (const ChunkRef& c : refs) {
    chunks_.push_back(c);
    starts_.push_back(start);
    start += c.raw_len;
    ends_.push_back(start);
  }
}

const ChunkRef* DeltaBases::At(uint64_t offset) const {
  if (kept_.load(std::memory_order_relaxed) == 0 &&
      missed_.load(std::memory_order_relaxed) >= kGiveUpAfter) {
    return nullptr;
  }
  auto it = std::upper_bound(ends_.begin(), ends_.end(), offset);
  if (it == ends_.end()) return nullptr;
  const size_t i = static_cast<size_t>(it - ends_.begin());
  if (starts_[i] > offset) return nullptr;  // between added runs
  const ChunkRef& c = chunks_[i];
  return c.IsHole() ? nullptr : &c;
}

void DeltaBases::Tried(bool kept) const {
  (kept ? kept_ : missed_).fetch_add(1, std::memory_order_relaxed);
}

std::unique_ptr<DeltaBases> LoadDeltaBases(Bucket::Shared& s, InodeId ino, VersionNo vno) {
  if (vno.value == 0 || !s.catalog->settings().delta_chunks) return nullptr;
  auto chunks = s.catalog->VersionChunks(ino, vno);
  // Deleted meanwhile, or unreadable: the new chunks are stored whole.
  if (!chunks.ok() || chunks->empty()) return nullptr;
  return std::make_unique<DeltaBases>(std::move(chunks).value());
}

std::unique_ptr<DeltaBases> CurrentDeltaBases(Bucket::Shared& s, InodeId ino) {
  if (!s.catalog->settings().delta_chunks) return nullptr;
  auto attr = s.catalog->GetAttr(ino);
  // An empty version (a new file's first) has nothing to patch against.
  if (!attr.ok() || attr->kind != FileKind::kRegular || attr->size == 0) return nullptr;
  return LoadDeltaBases(s, ino, attr->current_version);
}

Result<ChunkRef> WriteChunk(Bucket::Shared& s, const DeltaBases* bases, uint64_t offset,
                            const ChunkId& id, std::string_view data) {
  const ChunkRef* base = bases ? bases->At(offset) : nullptr;
  if (base != nullptr && base->id != id) {
    bool suspect;
    {
      std::lock_guard<std::mutex> l(s.suspect_mu);
      suspect = s.suspect_chunks.count(base->id) != 0;
    }
    thread_local std::string plain;
    DeltaChain chain;
    ChunkRef b{base->id, base->raw_len, base->stored_len};
    // The base is read, and so verified, as any chunk; one that fails is
    // left to the readers of its own versions (fsck reports it). Through the
    // chunk cache: an append's base was just read by its session (and the
    // chain below it by the commit before), verified then.
    constexpr auto kCached = ChunkStore::ReadMode::kCached;
    bool ok = !suspect && s.chunks->Read(b, &plain, &chain, kCached).ok();
    if (ok && chain.depth >= kMaxDeltaChain) {
      // The chain is full: a patch against its full chunk instead (a new
      // chain of one), while that still pays; else the chunk is stored whole.
      b = chain.root;
      ok = s.chunks->Read(b, &plain, &chain, kCached).ok() && chain.depth == 0;
    }
    if (ok) {
      Result<ChunkRef> r = s.chunks->Write(id, data, DeltaCandidate{b, plain, chain.depth});
      if (r.ok()) bases->Tried(r->delta_base.has_value());
      return r;
    }
  }
  return s.chunks->Write(id, data);
}

}  // namespace katamari

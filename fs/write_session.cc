#include "fs/write_session.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace katamari::fs {

namespace {

constexpr uint64_t kBlock = WriteSession::kBlock;
uint64_t AlignDown(uint64_t x) { return x - x % kBlock; }
uint64_t AlignUp(uint64_t x) { return AlignDown(x + kBlock - 1); }

// A buffer of zeros (ZeroRange writes it into partial blocks).
const std::string& ZeroBuffer() {
  static const std::string* zeros = new std::string(1 << 20, '\0');
  return *zeros;
}

Status TooBig(uint64_t size) {
  return Status::TooBig("a size of " + std::to_string(size) +
                        " bytes is past the largest file size a bucket supports (" +
                        std::to_string(kMaxFileSize) + " bytes)");
}

}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Streams the merged content from offset 0 to the session's size. Used only
// while the session mutex is held (by Commit).
// Holes (of the base version, of a truncation's extension, of the staging
// file) are reported as such, so the store records them without reading.
class WriteSession::MergedSource : public ByteSource {
 public:
  explicit MergedSource(WriteSession* s) : s_(s) {}
  Result<size_t> Read(char* buf, size_t n) override {
    ASSIGN_OR_RETURN(size_t got, s_->ReadLocked(pos_, n, buf));
    pos_ += got;
    return got;
  }
  Result<Extent> Next() override { return s_->ExtentLocked(pos_); }
  Status SkipHole(uint64_t n) override {
    pos_ += n;
    return Status::OK();
  }

 private:
  WriteSession* s_;
  uint64_t pos_ = 0;
};

WriteSession::WriteSession(Bucket& bucket, std::string what, Base base)
    : bucket_(bucket), what_(std::move(what)), base_(std::move(base)) {
  base_valid_ = base_.reader ? base_.size : 0;
  size_ = base_.size;
  sequential_ = base_.size == 0;
  mtime_ = base_.mtime_ns;
}

WriteSession::~WriteSession() = default;

VersionNo WriteSession::base_version() const {
  std::lock_guard lock(mu_);
  return base_.version;
}

uint64_t WriteSession::staged_bytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [start, end] : staged_.ranges()) total += end - start;
  return total;
}

void WriteSession::Touch(bool wrote) {
  held_valid_ = false;
  const int64_t now = NowNs();
  mtime_ = now;
  ctime_ = now;
  dirty_ = true;
  if (wrote) has_writes_ = true;
}

void WriteSession::SetMtime(int64_t mtime_ns) {
  mtime_ = mtime_ns;
  ctime_ = NowNs();
}

void WriteSession::AllowStreaming(Bucket* bucket, InodeId target) {
  std::lock_guard lock(mu_);
  stream_bucket_ = bucket;
  stream_target_ = target;
}

void WriteSession::AbortStreamLocked() {
  if (!stream_) return;
  stream_->Abort();
  stream_.reset();
}

// Called after `data` was staged. Feeds appends to a running
// stream and abandons it on anything else. A file that has only been
// appended to from empty starts streaming once it is kStreamThreshold long
// (smaller files are cheaper to commit from staging at close): its staged
// prefix is fed first.
void WriteSession::StreamWriteLocked(std::string_view data, bool was_append) {
  if (stream_) {
    if (!was_append || !stream_->Append(data)) AbortStreamLocked();
    return;
  }
  if (!was_append) sequential_ = false;
  if (!sequential_ || !stream_bucket_ || size_.load() < kStreamThreshold) return;
  stream_ = std::make_unique<StreamCommit>(*stream_bucket_, stream_target_,
                                           ReplacesLocked(stream_target_),
                                           OwnPinLocked(stream_target_));
  std::string buf;
  for (uint64_t pos = 0; pos < size_.load();) {
    size_t piece = static_cast<size_t>(std::min<uint64_t>(1 << 20, size_.load() - pos));
    buf.resize(piece);
    if (!ReadStagingLocked(pos, piece, buf.data()).ok() || !stream_->Append(buf)) {
      AbortStreamLocked();
      sequential_ = false;
      return;
    }
    pos += piece;
  }
}

void WriteSession::MarkDirty() { dirty_ = true; }

void WriteSession::AmendOnCommit(InodeId ino, VersionNo version) {
  {
    std::lock_guard lock(mu_);
    provisional_ = Provisional{ino, version};
  }
  std::lock_guard lock(attr_mu_);
  fresh_ = true;
}

void WriteSession::HoldAttrsUntilCommit() {
  std::lock_guard lock(attr_mu_);
  hold_attrs_ = true;
}

namespace {
void MergeAttrs(WriteSession::HeldAttrs* into, const WriteSession::HeldAttrs& a) {
  if (a.mode) into->mode = a.mode;
  if (a.uid) into->uid = a.uid;
  if (a.gid) into->gid = a.gid;
  if (a.atime_ns) into->atime_ns = a.atime_ns;
}
}  // namespace

bool WriteSession::HoldAttrs(const HeldAttrs& a) {
  std::lock_guard lock(attr_mu_);
  if (!hold_attrs_ || !(dirty_.load() || fresh_)) return false;
  MergeAttrs(&held_attrs_, a);
  ctime_ = NowNs();
  dirty_ = true;  // the first version must record them
  return true;
}

bool WriteSession::holds_attrs() const {
  std::lock_guard lock(attr_mu_);
  return hold_attrs_ && (dirty_.load() || fresh_);
}

WriteSession::HeldAttrs WriteSession::held_attrs() const {
  std::lock_guard lock(attr_mu_);
  return held_attrs_;
}

WriteSession::HeldAttrs WriteSession::TakeHeldAttrs(bool stop) {
  std::lock_guard lock(attr_mu_);
  HeldAttrs out = held_attrs_;
  held_attrs_ = HeldAttrs{};
  if (stop) hold_attrs_ = false;
  return out;
}

void WriteSession::RestoreHeldAttrs(const HeldAttrs& a) {
  std::lock_guard lock(attr_mu_);
  HeldAttrs later = held_attrs_;  // changes held since, which win
  held_attrs_ = a;
  MergeAttrs(&held_attrs_, later);
}

Status WriteSession::EnsureStagingLocked() {
  if (staging_) return Status::OK();
  ASSIGN_OR_RETURN(staging_, bucket_.OpenStaging(what_));
  return Status::OK();
}

Result<size_t> WriteSession::Read(uint64_t off, size_t n, char* buf) {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  return ReadLocked(off, n, buf);
}

Result<size_t> WriteSession::ReadLocked(uint64_t off, size_t n, char* buf) {
  uint64_t size = size_.load();
  if (off >= size) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, size - off));
  Status st;
  staged_.Walk(off, off + n, [&](uint64_t start, uint64_t end, bool covered) {
    char* dst = buf + (start - off);
    size_t len = static_cast<size_t>(end - start);
    st = covered ? ReadStagingLocked(start, len, dst) : ReadUnstagedLocked(start, len, dst);
    return st.ok();
  });
  if (!st.ok()) return st;
  return n;
}

Result<Extent> WriteSession::ExtentLocked(uint64_t off) {
  const uint64_t size = size_.load();
  if (off >= size) return Extent{false, 0};
  uint64_t piece_end = size;
  bool covered = false;
  staged_.Walk(off, size, [&](uint64_t, uint64_t end, bool c) {
    piece_end = end;
    covered = c;
    return false;  // the first piece is enough
  });
  if (covered) return staging_->ExtentAt(off, piece_end);
  // Unstaged: the base version where it is still visible, zeros beyond
  // (a truncation's extension) -- a hole.
  if (off >= base_valid_) return Extent{true, piece_end - off};
  const uint64_t limit = std::min(piece_end, base_valid_);
  Extent e = base_.reader->ExtentAt(off);
  if (e.len == 0) return Extent{true, limit - off};
  e.len = std::min(e.len, limit - off);
  return e;
}

Result<Extent> WriteSession::ExtentAt(uint64_t off) {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  return ExtentLocked(off);
}

uint64_t WriteSession::held_bytes() {
  std::unique_lock lock(mu_, std::try_to_lock);
  // Busy (a commit holds the mutex): the last count; st_blocks is advisory.
  if (!lock.owns_lock() || held_valid_) return held_.load();
  uint64_t held = 0;
  const uint64_t size = size_.load();
  for (uint64_t off = 0; off < size;) {
    auto e = ExtentLocked(off);
    if (!e.ok() || e->len == 0) {  // unknown: count the rest as held
      held += size - off;
      break;
    }
    if (!e->hole) held += e->len;
    off += e->len;
  }
  held_ = held;
  held_valid_ = true;
  return held;
}

Status WriteSession::ReadStagingLocked(uint64_t off, size_t n, char* buf) {
  return staging_->Read(off, n, buf);
}

Status WriteSession::ReadUnstagedLocked(uint64_t off, size_t n, char* buf) {
  size_t done = 0;
  while (done < n && off + done < base_valid_) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, base_valid_ - off - done));
    size_t got = 0;
    Status st = base_.reader->ReadAt(off + done, want, buf + done, &got);
    if (!st.ok()) return st;
    if (got == 0) break;
    done += got;
  }
  // Past the base (or where it was truncated away) the file reads as zeros.
  std::memset(buf + done, 0, n - done);
  return Status::OK();
}

Status WriteSession::PwriteStagingLocked(uint64_t off, std::string_view data) {
  return staging_->Write(off, data);
}

// A write covering part of a block that is not staged yet: copy the rest of
// that block (up to the current size) from the unstaged view first, so whole
// blocks are staged and the interval set stays block-aligned.
Status WriteSession::FillBlockEdgeLocked(uint64_t block_start, uint64_t keep_from,
                                         uint64_t keep_to) {
  uint64_t limit = std::min(block_start + kBlock, size_.load());
  char block[kBlock];
  if (keep_from > block_start) {
    uint64_t end = std::min(keep_from, limit);
    if (end > block_start) {
      size_t len = static_cast<size_t>(end - block_start);
      RETURN_IF_ERROR(ReadUnstagedLocked(block_start, len, block));
      RETURN_IF_ERROR(PwriteStagingLocked(block_start, std::string_view(block, len)));
    }
  }
  if (keep_to < limit) {
    size_t len = static_cast<size_t>(limit - keep_to);
    RETURN_IF_ERROR(ReadUnstagedLocked(keep_to, len, block));
    RETURN_IF_ERROR(PwriteStagingLocked(keep_to, std::string_view(block, len)));
  }
  return Status::OK();
}

Status WriteSession::WriteLocked(uint64_t off, std::string_view data) {
  if (data.empty()) return Status::OK();
  RETURN_IF_ERROR(EnsureStagingLocked());
  uint64_t end = off + data.size();
  uint64_t first = AlignDown(off);
  uint64_t last = AlignDown(end - 1);  // start of the block holding the last byte
  bool head_partial = off > first || (first == last && end < first + kBlock);
  if (head_partial && !staged_.Covers(first, first + kBlock)) {
    RETURN_IF_ERROR(FillBlockEdgeLocked(first, off, std::min(end, first + kBlock)));
  }
  if (last != first && end < last + kBlock && !staged_.Covers(last, last + kBlock)) {
    RETURN_IF_ERROR(FillBlockEdgeLocked(last, last, end));
  }
  RETURN_IF_ERROR(PwriteStagingLocked(off, data));
  if (end > size_.load()) size_ = end;
  staged_.Add(first, last + kBlock);
  return Status::OK();
}

Status WriteSession::Write(uint64_t off, std::string_view data) {
  if (off + data.size() > kMaxFileSize || off + data.size() < off) {
    return TooBig(off + data.size());
  }
  std::lock_guard lock(mu_);
  return WriteAtLocked(off, data);
}

Result<uint64_t> WriteSession::Append(std::string_view data) {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  const uint64_t off = size_.load();
  if (data.size() > kMaxFileSize - std::min(off, kMaxFileSize)) {
    return TooBig(off + data.size());
  }
  RETURN_IF_ERROR(WriteAtLocked(off, data));
  return off;
}

Status WriteSession::WriteAtLocked(uint64_t off, std::string_view data) {
  RebasePendingLocked();
  bool append = off == size_.load() && (!stream_ || stream_->bytes() == off);
  RETURN_IF_ERROR(WriteLocked(off, data));
  StreamWriteLocked(data, append);
  Touch(true);
  return Status::OK();
}

Status WriteSession::Truncate(uint64_t size) {
  if (size > kMaxFileSize) return TooBig(size);
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  uint64_t old = size_.load();
  if (size == old) return Status::OK();
  AbortStreamLocked();
  sequential_ = size == 0;
  if (size < old) {
    base_valid_ = std::min(base_valid_, size);
    staged_.TruncateTo(AlignUp(size));
    // Cutting the staging file zeroes what lies beyond the new size, so a
    // later extension reads zeros there as POSIX requires.
    if (staging_) RETURN_IF_ERROR(staging_->Truncate(size));
  }
  size_ = size;
  Touch(size != 0);
  return Status::OK();
}

Status WriteSession::PunchStagingLocked(uint64_t off, uint64_t len) {
  return staging_->Punch(off, len);
}

Status WriteSession::ZeroRange(uint64_t off, uint64_t len) {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  uint64_t end = std::min(off + len, size_.load());
  if (off >= end) return Status::OK();
  AbortStreamLocked();
  sequential_ = false;
  uint64_t inner_start = AlignUp(off), inner_end = AlignDown(end);
  const std::string& zeros = ZeroBuffer();
  if (inner_start >= inner_end) {
    // At most two partial blocks: plain writes of zeros.
    for (uint64_t pos = off; pos < end;) {
      size_t piece = static_cast<size_t>(std::min<uint64_t>(zeros.size(), end - pos));
      RETURN_IF_ERROR(WriteLocked(pos, std::string_view(zeros.data(), piece)));
      pos += piece;
    }
  } else {
    if (off < inner_start) {
      RETURN_IF_ERROR(WriteLocked(off, std::string_view(zeros.data(), inner_start - off)));
    }
    if (inner_end < end) {
      RETURN_IF_ERROR(WriteLocked(inner_end, std::string_view(zeros.data(), end - inner_end)));
    }
    RETURN_IF_ERROR(EnsureStagingLocked());
    RETURN_IF_ERROR(PunchStagingLocked(inner_start, inner_end - inner_start));
    staged_.Add(inner_start, inner_end);
  }
  Touch(true);
  return Status::OK();
}

Status WriteSession::Materialize() {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
  if (!base_.reader) return Status::OK();
  RETURN_IF_ERROR(EnsureStagingLocked());
  std::string buf;
  Status st;
  uint64_t limit = AlignUp(base_valid_);
  staged_.Walk(0, limit, [&](uint64_t start, uint64_t end, bool covered) {
    for (uint64_t pos = start; !covered && pos < end && st.ok();) {
      // The base's holes stay holes of the staging file (never written).
      Extent e = pos < base_valid_ ? base_.reader->ExtentAt(pos) : Extent{true, end - pos};
      uint64_t run = std::min<uint64_t>(e.len == 0 ? end - pos : e.len, end - pos);
      if (e.hole || e.len == 0) {
        pos += run;
        continue;
      }
      size_t piece = static_cast<size_t>(std::min<uint64_t>(1 << 20, run));
      buf.resize(piece);
      st = ReadUnstagedLocked(pos, piece, buf.data());
      if (st.ok()) st = PwriteStagingLocked(pos, buf);
      pos += piece;
    }
    return st.ok();
  });
  RETURN_IF_ERROR(st);
  staged_.Add(0, limit);
  base_.reader.reset();
  base_valid_ = 0;
  return Status::OK();
}

// The streamed commit, if it still describes the whole file. nullopt if
// there is none or it failed (then the caller commits from staging).
Result<std::optional<VersionInfo>> WriteSession::FinishStreamLocked(
    Bucket& bucket, InodeId target, const std::optional<Bucket::AttrChange>& attrs) {
  if (!stream_) return std::optional<VersionInfo>();
  if (stream_->target() != target || stream_->bytes() != size_.load()) {
    AbortStreamLocked();
    return std::optional<VersionInfo>();
  }
  auto r = stream_->Finish();
  stream_.reset();
  if (!r.ok()) return std::optional<VersionInfo>();
  VersionInfo info = std::move(r).value();
  // The store stamped the version with the time the stream ended and left
  // the inode's ctime (StreamCommit); the inode keeps the time of the last
  // write (or the one the writer set, cp -p) and the ctime of that change,
  // as stat showed while the file was open. Held attribute changes go in
  // the same transaction (it restamps the new version with a new owner or
  // mode, as a change before the version would have recorded them).
  Bucket::AttrChange change = attrs.value_or(Bucket::AttrChange{});
  change.mtime_ns = mtime_.load();
  change.ctime_ns = ctime_.load();
  RETURN_IF_ERROR(bucket.SetAttr(target, change).status());
  info.mtime_ns = mtime_.load();
  return std::optional<VersionInfo>(std::move(info));
}

// The merged view with random access, for an incremental commit. Used only
// while the session mutex is held (by Commit).
class WriteSession::SessionView : public RandomSource {
 public:
  explicit SessionView(WriteSession* s) : s_(s) {}
  uint64_t size() const override { return s_->size_.load(); }
  Status ReadAt(uint64_t off, size_t n, char* buf) override {
    ASSIGN_OR_RETURN(size_t got, s_->ReadLocked(off, n, buf));
    if (got != n) return Status::IOError("short read of the staged content of " + s_->what_);
    return Status::OK();
  }
  Result<Extent> ExtentAt(uint64_t off) override { return s_->ExtentLocked(off); }

 private:
  WriteSession* s_;
};

// Rebase on what was just committed so the staging space is given back. If
// the new version cannot be opened the old state stays: it still reads as
// exactly the committed bytes.
void WriteSession::RebaseLocked(Bucket& bucket, InodeId target, const VersionInfo& info) {
  // Pinned and read through the chunk cache, as every base
  // (Bucket::OpenSessionBase); the old base's pin goes with its reader.
  // An empty version has nothing to read, so nothing to pin: the shell's
  // `echo x > f` writes after the close of its first descriptor committed
  // the empty version, and skipping the pin saves two catalog transactions
  // (pin and unpin) per small file. Its commit then amends that version
  // unless a reader holds it (WriteSession::provisional_version).
  if (info.size == 0) {
    base_.reader.reset();
  } else {
    auto reader = bucket.OpenSessionBase(target, info.version);
    if (!reader.ok()) {
      // The old base is read on: the commit released its pin, take it back.
      if (base_.reader) {
        (void)bucket.RepinSessionBase(base_.reader->info().ino, base_.reader->info().version);
      }
      return;
    }
    base_.reader = std::move(reader).value();
  }
  base_.version = info.version;
  base_.size = info.size;
  base_.mtime_ns = info.mtime_ns;
  base_valid_ = info.size;
  staged_.Clear();
  held_valid_ = false;
  if (staging_ && !staging_->Truncate(0).ok()) staging_.reset();
}

// After a commit the session still reads as exactly the committed bytes
// (its base and staging are what the commit read), so the rebase waits for
// the next use that reads or changes the content. A session that ends right
// after its commit (the close of the last writer) never rebases: no pin is
// added for the new version and none moved, which is most of the cost of a
// small file's close. The old base's reader stays meanwhile, though never
// read again before the rebase: with versioning off the commit may have
// dropped it, and the commit deleted its pin row (Bucket::AddIngestedVersion;
// a failed rebase writes the row again, as the old base is then read on).
void WriteSession::RebasePendingLocked() {
  if (!rebase_) return;
  Pending p = std::move(*rebase_);
  rebase_.reset();
  RebaseLocked(bucket_, p.target, p.info);
}

void WriteSession::Rebase() {
  std::lock_guard lock(mu_);
  RebasePendingLocked();
}

bool WriteSession::rebase_pending() const {
  std::lock_guard lock(mu_);
  return rebase_.has_value();
}

std::optional<VersionNo> WriteSession::provisional_version() const {
  std::lock_guard lock(mu_);
  if (!provisional_) return std::nullopt;
  return provisional_->version;
}

// A provisional version of `target` to amend, if any (a rename may have
// routed the file to another inode since: then it is left as it is).
std::optional<VersionNo> WriteSession::ReplacesLocked(InodeId target) const {
  if (!provisional_ || provisional_->ino != target) return std::nullopt;
  return provisional_->version;
}

std::optional<VersionNo> WriteSession::OwnPinLocked(InodeId target) const {
  if (!base_.reader || base_.reader->info().ino != target) return std::nullopt;
  return base_.reader->info().version;
}

Result<std::optional<VersionInfo>> WriteSession::Commit(
    Bucket& bucket, InodeId target, const std::optional<Bucket::AttrChange>& attrs,
    bool* attrs_done) {
  if (attrs_done) *attrs_done = false;
  std::lock_guard lock(mu_);
  if (!dirty_.load()) return std::optional<VersionInfo>();
  RebasePendingLocked();  // (a change since the last commit rebased already)
  ASSIGN_OR_RETURN(std::optional<VersionInfo> info, FinishStreamLocked(bucket, target, attrs));
  if (info && attrs_done) *attrs_done = attrs.has_value();
  Bucket::CommitOptions options;
  options.mtime_ns = mtime_.load();
  options.replaces = ReplacesLocked(target);
  options.ctime_ns = ctime_.load();
  options.caller_pin = OwnPinLocked(target);
  if (!info) options.attrs = attrs;
  if (!info && base_.reader) {
    // Only what was written (and where the size changed) is read and
    // chunked; the base version's chunks are reused everywhere else.
    EditedRanges edit;
    edit.base_ino = base_.reader->info().ino;
    edit.base = base_.reader->info().version;
    edit.base_valid = base_valid_;
    for (const auto& [start, end] : staged_.ranges()) edit.dirty.emplace_back(start, end);
    SessionView view(this);
    ASSIGN_OR_RETURN(info, bucket.CommitEdit(target, view, edit, options));
    if (attrs_done) *attrs_done = attrs.has_value();
  } else if (!info) {
    MergedSource src(this);
    ASSIGN_OR_RETURN(info, bucket.CommitContent(target, src, options));
    if (attrs_done) *attrs_done = attrs.has_value();
  }
  provisional_.reset();
  if (!has_writes_.load() && info->size == 0) provisional_ = Provisional{target, info->version};
  {
    std::lock_guard attrs(attr_mu_);
    fresh_ = false;
  }
  dirty_ = false;
  has_writes_ = false;
  sequential_ = info->size == 0;
  rebase_ = Pending{target, *info};  // done when next needed (RebasePendingLocked)
  return info;
}

}  // namespace katamari::fs

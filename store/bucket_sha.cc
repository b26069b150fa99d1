// Pending SHA-256s completed off the close path (docs/semantics.md, Files,
// versions and history; docs/catalog.md, "Pending SHA-256"): the background
// worker of Bucket::StartShaCompletion, Bucket::CompletePendingSha256, and
// where a completed digest is stored (also for a read-only Bucket opened with
// OpenOptions::store_sha256, the CLI's listing commands).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "store/bucket_internal.h"
#include "store/sha256.h"

namespace katamari {

// A read-only Bucket's writable catalog handle for completed SHA-256s.
struct ShaWriter {
  std::mutex mu;
  bool tried = false;              // guarded by mu: opened (or failed) once
  std::unique_ptr<Catalog> catalog;  // guarded by mu; null: cannot write
};

namespace {

constexpr size_t kScanBatch = 16;  // pending versions asked for per scan

// A pending version of at least kSettleSize bytes is hashed by the worker
// only once a scan has seen it (still its file's newest) kSettle ago: in an
// edit storm on a big file each version would otherwise be read until the
// next one superseded it, up to 16 MiB (kLockedBatchBytes) per edit.
constexpr uint64_t kSettleSize = 64 << 20;
constexpr std::chrono::milliseconds kSettle{2000};

std::string CatalogPathOf(const Bucket::Shared& s) { return s.dir + "/catalog.db"; }

// The writable handle, opened at first use. Only where the directory and the
// catalog may be written: a reader without that opened the catalog with
// SQLite's immutable mode (catalog.cc), which must not see the file change.
// The read-only handle opened, so the format is current and nothing migrates.
Catalog* OpenShaWriter(Bucket::Shared& s, ShaWriter& w) {
  if (w.tried) return w.catalog.get();
  w.tried = true;
  const std::string path = CatalogPathOf(s);
  if (::access(s.dir.c_str(), W_OK) != 0 || ::access(path.c_str(), W_OK) != 0) return nullptr;
  auto cat = Catalog::Open(path, /*read_only=*/false);
  if (!cat.ok()) return nullptr;
  if (s.keys) (*cat)->Unlock(s.keys->field);
  w.catalog = std::move(*cat);
  return w.catalog.get();
}

// Stopped: CancelWork, or the worker asked to stop (`stop` may be null).
bool Stopped(const Bucket::Shared& s, const std::atomic<bool>* stop) {
  return s.cancelled.load(std::memory_order_relaxed) ||
         (stop != nullptr && stop->load(std::memory_order_relaxed));
}

Status StoppedStatus() {
  return Status::Cancelled("the SHA-256 completion was stopped: the version stays pending");
}

const std::string& Zeros() {
  static const std::string* zeros = new std::string(1 << 20, '\0');
  return *zeros;
}

// Data chunks are read in batches of about this many bytes, each under the
// shared gc lock, so that gc (which needs it exclusively) waits for one
// batch at most, not for a whole version hashed at the lowest priority.
constexpr uint64_t kLockedBatchBytes = 16 << 20;

// Whether version p is still the row commit p.seq made and still pending;
// for the background worker (`newest_only`), also still its file's newest
// version: one a newer version superseded is left to its first request.
Result<bool> StillPending(Catalog& cat, const Catalog::PendingSha& p, bool newest_only) {
  auto info = cat.GetVersion(p.ino, p.vno);
  if (!info.ok() && info.status().IsNotFound()) return false;  // deleted since
  RETURN_IF_ERROR(info.status());
  if (info->seq != p.seq || !info->sha256_pending) return false;
  if (!newest_only) return true;
  ASSIGN_OR_RETURN(bool superseded, cat.Superseded(p.ino, p.vno));
  return !superseded;
}

// `n` zeros into `sha`, a MiB at a time, checking for the stop.
Status HashZeros(const Bucket::Shared& s, const std::atomic<bool>* stop, uint64_t n,
                 Sha256Stream& sha) {
  while (n > 0) {
    if (Stopped(s, stop)) return StoppedStatus();
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, Zeros().size()));
    sha.Update(std::string_view(Zeros().data(), k));
    n -= k;
  }
  return Status::OK();
}

// SHA-256 of version p, whose chunk list is `chunks`, read one chunk at a
// time on this thread (no helper threads: this runs at the lowest priority);
// nullopt if the version was deleted, amended or completed meanwhile (or, with
// `newest_only`, superseded by a newer version of its file). Each
// batch of data chunks first checks, under the gc lock, that the row is
// still p's: then its chunks are referenced and none is deleted while read.
// Holes need no lock. The stop is checked per chunk and per MiB of zeros.
Result<std::optional<Sha256>> HashVersion(Bucket::Shared& s, const Catalog::PendingSha& p,
                                          const std::vector<ChunkRef>& chunks,
                                          const std::string& what,
                                          const std::atomic<bool>* stop, bool newest_only) {
  Sha256Stream sha;
  std::string data;
  size_t i = 0;
  while (i < chunks.size()) {
    if (Stopped(s, stop)) return StoppedStatus();
    if (chunks[i].IsHole()) {
      RETURN_IF_ERROR(HashZeros(s, stop, chunks[i].raw_len, sha));
      ++i;
      continue;
    }
    ASSIGN_OR_RETURN(GcLock lock, GcLock::Acquire(s.dir, GcLock::Mode::kShared));
    ASSIGN_OR_RETURN(bool still, StillPending(*s.catalog, p, newest_only));
    if (!still) return std::optional<Sha256>();
    for (uint64_t batch = 0; i < chunks.size() && !chunks[i].IsHole() &&
                             batch < kLockedBatchBytes;
         ++i) {
      if (Stopped(s, stop)) return StoppedStatus();
      Status st = s.chunks->Read(chunks[i], &data);
      if (!st.ok() && st.IsCorruption()) {
        QuarantineChunk(s, chunks[i].id);
        return Status::Corruption(what + ": " + st.message());
      }
      RETURN_IF_ERROR(st);
      sha.Update(data);
      batch += chunks[i].raw_len;
    }
  }
  return std::optional<Sha256>(sha.Finish());
}

// Hashes and stores one pending version. OK also when there was nothing to
// do (deleted or amended since it was listed, or completed by another).
Status CompleteOne(Bucket::Shared& s, const Catalog::PendingSha& p,
                   const std::atomic<bool>* stop, bool newest_only,
                   const std::function<void(const VersionInfo&)>& on_start) {
  Catalog& cat = *s.catalog;
  auto info = cat.GetVersion(p.ino, p.vno);
  if (!info.ok() && info.status().IsNotFound()) return Status::OK();  // deleted since
  RETURN_IF_ERROR(info.status());
  if (info->seq != p.seq || !info->sha256_pending) return Status::OK();
  // An amend from here on is caught: HashVersion checks the row before it
  // reads data chunks, and SetVersionSha256 changes only commit p.seq's row.
  auto chunks = cat.VersionChunks(p.ino, p.vno);
  if (!chunks.ok() && chunks.status().IsNotFound()) return Status::OK();
  RETURN_IF_ERROR(chunks.status());
  auto path = cat.PathOf(p.ino);
  const std::string what = (path.ok() ? *path : "inode " + std::to_string(p.ino.value)) + "@" +
                           std::to_string(p.vno.value);
  if (on_start) on_start(*info);
  ASSIGN_OR_RETURN(std::optional<Sha256> sha,
                   HashVersion(s, p, *chunks, what, stop, newest_only));
  if (!sha) return Status::OK();
  // SetVersionSha256 changes the row only if it is still commit p.seq's and
  // still pending: an amend or a concurrent completion wins.
  return cat.SetVersionSha256(p.ino, p.vno, p.seq, *sha);
}

using VersionKey = std::tuple<uint64_t, uint64_t, uint64_t>;  // ino, vno, seq

}  // namespace

// The thread of Bucket::StartShaCompletion. Idle, it asks the catalog for
// its newest commit every poll_interval and scans for pending versions only
// when that changed (a completion records no commit, so its own work does
// not wake it).
class ShaWorker {
 public:
  ShaWorker(Bucket::Shared& s, ShaCompletionOptions opts)
      : s_(s), opts_(std::move(opts)), thread_([this] { Loop(); }) {}
  ~ShaWorker() { Stop(); }

  void Stop() {
    Wake(/*stop=*/true);
    if (thread_.joinable()) thread_.join();
  }
  void Wake(bool stop) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop) stop_ = true;
      woken_ = true;
    }
    cv_.notify_all();
  }

 private:
  static void LowerPriority() {
    // Best effort, this thread only (Linux: nice and I/O priority are per
    // thread). Class 3 is IOPRIO_CLASS_IDLE, in bits 13 and up.
    const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19);
    (void)::syscall(SYS_ioprio_set, /*IOPRIO_WHO_PROCESS=*/1, tid, 3 << 13);
  }

  // The catalog connection the scans use: a read-only one of this worker's
  // own, so that a scan (a pass over every version row, about 0.3 s for
  // 200,000 of them) never holds the connection, and the mutex, that
  // foreground calls wait for. The bucket's own if that cannot be opened.
  Catalog& ScanCatalog() {
    if (!scan_tried_) {
      scan_tried_ = true;
      auto cat = Catalog::Open(CatalogPathOf(s_), /*read_only=*/true);
      if (cat.ok()) scan_ = std::move(*cat);
    }
    return scan_ ? *scan_ : *s_.catalog;
  }

  // One scan and the versions it found; false if nothing was left to do.
  bool RunOnce() {
    const auto t0 = std::chrono::steady_clock::now();
    // Versions a newer one of their file superseded are left to their first
    // request (docs/semantics.md): an edit storm on a big file would
    // otherwise have every one of its versions read in full.
    auto list = ScanCatalog().PendingSha256(opts_.max_version_size, failed_.size() + kScanBatch,
                                            /*newest_only=*/true);
    last_scan_ = std::chrono::steady_clock::now() - t0;
    if (!list.ok()) {
      Log("listing pending SHA-256s failed: " + list.status().ToString());
      return false;
    }
    bool any = false;
    std::map<VersionKey, std::chrono::steady_clock::time_point> seen;
    for (const Catalog::PendingSha& p : *list) {
      VersionKey key{p.ino.value, p.vno.value, p.seq.value};
      if (failed_.count(key) != 0) continue;
      if (Stopped(s_, &stop_)) return false;
      if (p.size >= kSettleSize) {
        auto it = first_seen_.find(key);
        const auto now = std::chrono::steady_clock::now();
        const auto since = it == first_seen_.end() ? now : it->second;
        if (now - since < kSettle) {  // not settled: a later scan retries
          seen[key] = since;
          settling_ = true;
          continue;
        }
      }
      any = true;
      Status st = CompleteOne(s_, p, &stop_, /*newest_only=*/true, opts_.on_start);
      if (st.ok()) continue;
      if (st.code() == Status::Code::kCancelled) return false;
      failed_.insert(key);
      Log("SHA-256 of inode " + std::to_string(p.ino.value) + " version " +
          std::to_string(p.vno.value) + " not completed (left to the first request): " +
          st.ToString());
    }
    first_seen_ = std::move(seen);  // forgets versions no longer listed
    return any;
  }

  void Loop() {
    LowerPriority();
    std::optional<uint64_t> seen;  // newest commit when a scan found nothing
    while (!Stopped(s_, &stop_)) {
      const uint64_t now = ScanCatalog().CurrentSeq().value;
      settling_ = false;
      if ((!seen || *seen != now) && RunOnce()) continue;  // more may be pending
      // A version left to settle is looked at again without a new commit.
      if (!Stopped(s_, &stop_)) seen = settling_ ? std::nullopt : std::optional(now);
      // Scans that found nothing cost at most ~5% of the time, however
      // large the catalog, while commits keep coming.
      auto wait = std::max<std::chrono::steady_clock::duration>(opts_.poll_interval,
                                                                20 * last_scan_);
      if (settling_) {
        wait = std::max<std::chrono::steady_clock::duration>(
            std::min<std::chrono::steady_clock::duration>(opts_.poll_interval, kSettle / 4),
            20 * last_scan_);
      }
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, wait, [this] { return woken_; });
      woken_ = false;
    }
    scan_.reset();  // on this thread, as it was opened
  }

  void Log(const std::string& line) {
    if (opts_.log) opts_.log(line);
  }

  Bucket::Shared& s_;
  const ShaCompletionOptions opts_;
  std::atomic<bool> stop_{false};  // set under mu_, read anywhere
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;  // guarded by mu_
  // Worker thread only:
  std::set<VersionKey> failed_;
  // Big versions the last scan left to settle, and when a scan first saw each.
  std::map<VersionKey, std::chrono::steady_clock::time_point> first_seen_;
  bool settling_ = false;  // the last scan left one to settle
  bool scan_tried_ = false;
  std::unique_ptr<Catalog> scan_;
  std::chrono::steady_clock::duration last_scan_{};
  std::thread thread_;  // last: starts once everything above is built
};

Status StoreSha256(Bucket::Shared& s, const VersionInfo& v, const Sha256& sha) {
  if (!s.read_only) return s.catalog->SetVersionSha256(v.ino, v.version, v.seq, sha);
  if (!s.store_sha256) return Status::ReadOnly("bucket " + s.dir + " is open read-only");
  std::shared_ptr<ShaWriter> w;
  {
    std::lock_guard<std::mutex> l(s.sha_worker_mu);
    if (!s.sha_writer) s.sha_writer = std::make_shared<ShaWriter>();
    w = s.sha_writer;
  }
  std::lock_guard<std::mutex> l(w->mu);
  Catalog* cat = OpenShaWriter(s, *w);
  if (cat == nullptr) {
    return Status::ReadOnly("catalog " + CatalogPathOf(s) + " cannot be written by this user");
  }
  return cat->SetVersionSha256(v.ino, v.version, v.seq, sha);
}

Status ForgetChunkLocation(Bucket::Shared& s, const ChunkId& id, const ChunkLocation& loc) {
  if (!s.read_only) return s.catalog->ForgetChunkLocation(id, loc);
  std::shared_ptr<ShaWriter> w;
  {
    std::lock_guard<std::mutex> l(s.sha_worker_mu);
    if (!s.sha_writer) s.sha_writer = std::make_shared<ShaWriter>();
    w = s.sha_writer;
  }
  std::lock_guard<std::mutex> l(w->mu);
  Catalog* cat = OpenShaWriter(s, *w);
  if (cat == nullptr) {
    return Status::ReadOnly("catalog " + CatalogPathOf(s) + " cannot be written by this user");
  }
  return cat->ForgetChunkLocation(id, loc);
}

Status StreamAndCompleteSha256(Bucket::Shared& s, const VersionInfo& v,
                               const std::vector<ChunkRef>& chunks, ByteSink& out,
                               const std::string& what, const ProgressFn& progress) {
  // Passes everything on to `out`, hashing it.
  class HashingTee : public ByteSink {
   public:
    explicit HashingTee(ByteSink& out) : out_(out) {}
    Status Write(std::string_view data) override {
      sha_.Update(data);
      return out_.Write(data);
    }
    Sha256 Finish() { return sha_.Finish(); }

   private:
    ByteSink& out_;
    Sha256Stream sha_;
  };
  HashingTee tee(out);
  RETURN_IF_ERROR(StreamChunks(s, chunks, tee, what, progress));
  // The content went out whatever comes next: not stored, it is computed
  // again on the next request.
  (void)StoreSha256(s, v, tee.Finish());
  return Status::OK();
}

void WakeShaWorker(Bucket::Shared& s) {
  std::lock_guard<std::mutex> l(s.sha_worker_mu);
  if (s.sha_worker) s.sha_worker->Wake(/*stop=*/false);
}

Result<uint64_t> Bucket::CompletePendingSha256(uint64_t max_versions,
                                               uint64_t max_version_size) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  uint64_t stored = 0;
  // Each round hashes one version; one amended meanwhile is not stored and
  // counts too, so that a file amended without end cannot keep this busy.
  for (uint64_t round = 0; round < max_versions; ++round) {
    ASSIGN_OR_RETURN(std::vector<Catalog::PendingSha> list,
                     s_->catalog->PendingSha256(max_version_size, 1));
    if (list.empty()) break;
    RETURN_IF_ERROR(CompleteOne(*s_, list.front(), nullptr, /*newest_only=*/false, {}));
    ASSIGN_OR_RETURN(VersionInfo after,
                     s_->catalog->GetVersion(list.front().ino, list.front().vno));
    // Not stored (amended meanwhile): the next scan lists the new row.
    if (!after.sha256_pending) ++stored;
  }
  return stored;
}

Status Bucket::StartShaCompletion(ShaCompletionOptions opts) {
  if (s_->read_only) return Status::ReadOnly("bucket " + dir_ + " is open read-only");
  std::lock_guard<std::mutex> l(s_->sha_worker_mu);
  if (s_->sha_worker) return Status::Busy("the SHA-256 completion of " + dir_ + " already runs");
  s_->sha_worker = std::make_shared<ShaWorker>(*s_, std::move(opts));
  return Status::OK();
}

void Bucket::StopShaCompletion() {
  std::shared_ptr<ShaWorker> w;
  {
    std::lock_guard<std::mutex> l(s_->sha_worker_mu);
    w.swap(s_->sha_worker);
  }
  if (w) w->Stop();  // joins outside the mutex: WakeShaWorker may wait on it
}

}  // namespace katamari

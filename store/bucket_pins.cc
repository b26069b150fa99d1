// Bucket: pinning the base version of a write session against deletion by
// any process (store/catalog_pins.cc; docs/semantics.md, Retention and
// excludes).
//
// Each writable Bucket is a pin owner with a random name. Before its first
// pin it creates dir/pins/NAME and holds an exclusive flock on it for as long
// as it is open, so that another process can tell whether the pins of NAME
// are still held: if it can take a shared lock on the file (or the file is
// gone), the owner has exited — closed the bucket, or was killed with -9,
// which releases the lock — and its pins are stale. The file is made under a
// temporary name and renamed into place once locked, so it is never seen
// unlocked while its owner lives.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <set>
#include <string>

#include "store/bucket.h"
#include "store/bucket_internal.h"
#include "store/crypto.h"

namespace katamari {
namespace {

std::string PinsDir(const std::string& dir) { return dir + "/pins"; }

bool ValidOwner(const std::string& owner) {
  if (owner.size() != 32) return false;
  for (char c : owner) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Whether the owner of pins `owner` still has its bucket open.
// `tidy`: remove the file of an owner found gone (not by a read-only open).
bool OwnerAlive(const std::string& dir, const std::string& owner, std::string* who, bool tidy) {
  if (!ValidOwner(owner)) return false;  // never written by this code: not a live owner
  const std::string path = PinsDir(dir) + "/" + owner;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;
    *who = "owner " + owner + ", unknown state";
    return true;  // cannot tell (permissions): keep the pin, the safe side
  }
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    if (tidy) ::unlink(path.c_str());  // its owner is gone
    ::close(fd);
    return false;
  }
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  ::close(fd);
  *who = pid > 0 ? "pid " + std::to_string(pid) : "another process";
  return true;
}

// Creates and locks this owner's file (once).
Status EnsureOwnerFile(Bucket::Shared& s) {
  if (s.pin_lock_fd >= 0) return Status::OK();
  const std::string dir = PinsDir(s.dir);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::FromErrno(errno, "create " + dir);
  }
  const std::string tmp = dir + "/." + s.pin_owner + ".tmp";
  const std::string path = dir + "/" + s.pin_owner;
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::flock(fd, LOCK_EX) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()) ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = Status::FromErrno(errno, "set up pin lock " + path);
    ::unlink(tmp.c_str());
    ::close(fd);
    return st;
  }
  s.pin_lock_fd = fd;
  return Status::OK();
}

// A reader that keeps its version pinned while it lives.
class PinnedReader : public VersionReader {
 public:
  PinnedReader(Bucket::Shared& s, std::unique_ptr<VersionReader> inner)
      : s_(s), inner_(std::move(inner)) {}
  ~PinnedReader() override { UnpinVersion(s_, inner_->info().ino, inner_->info().version); }
  const VersionInfo& info() const override { return inner_->info(); }
  Status ReadAt(uint64_t offset, size_t n, char* buf, size_t* got) override {
    return inner_->ReadAt(offset, n, buf, got);
  }
  Extent ExtentAt(uint64_t offset) const override { return inner_->ExtentAt(offset); }
  uint64_t held_bytes() const override { return inner_->held_bytes(); }

 private:
  Bucket::Shared& s_;
  std::unique_ptr<VersionReader> inner_;
};

}  // namespace

Status SetUpPins(Bucket::Shared& s) {
  if (s.read_only) {
    // Pins nothing and changes nothing, but sees what live owners pin
    // (prune --dry-run leaves that out as prune does).
    const std::string dir = s.dir;
    s.catalog->SetPinOwner("", [dir](const std::string& owner, std::string* who) {
      return OwnerAlive(dir, owner, who, /*tidy=*/false);
    });
    return Status::OK();
  }
  unsigned char raw[16];
  crypto::RandomBytes(raw, sizeof(raw));
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : raw) {
    s.pin_owner += kHex[c >> 4];
    s.pin_owner += kHex[c & 15];
  }
  RETURN_IF_ERROR(s.catalog->EnsurePinTable());
  const std::string dir = s.dir;
  s.catalog->SetPinOwner(s.pin_owner, [dir](const std::string& owner, std::string* who) {
    return OwnerAlive(dir, owner, who, /*tidy=*/true);
  });
  // Pins left by owners that are gone (kill -9) are dropped here too, not
  // only when a deletion meets them. Best effort: a busy catalog leaves them.
  // Without versioning, what only those pins kept goes with them.
  auto swept = s.catalog->SweepStalePins();
  if (swept.ok() && *swept > 0) (void)s.catalog->ReleaseAllUnpinned();
  return Status::OK();
}

void TearDownPins(Bucket::Shared& s) {
  if (s.pin_lock_fd < 0) return;
  (void)s.catalog->RemoveOwnerPins(s.pin_owner);
  // Rows first: a crash in between leaves rows whose owner file is gone,
  // which read as stale.
  ::unlink((PinsDir(s.dir) + "/" + s.pin_owner).c_str());
  ::close(s.pin_lock_fd);
  s.pin_lock_fd = -1;
  // Without versioning: what only this owner's pins kept (best effort; the
  // next prune or gc finds it otherwise).
  (void)s.catalog->ReleaseAllUnpinned();
}

Status PinVersion(Bucket::Shared& s, InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(s.pin_mu);
  int& count = s.pin_counts[{ino.value, vno.value}];
  if (count > 0 && s.pin_rows_released.count({ino.value, vno.value})) {
    // Held here still, but a commit deleted its row (the committing
    // session's base): this new reader needs the row back.
    RETURN_IF_ERROR(s.catalog->AddPin(s.pin_owner, ino, vno));
    s.pin_rows_released.erase({ino.value, vno.value});
  }
  if (count == 0) {
    // A row left by a failed unpin is this pin's row now (INSERT OR IGNORE).
    s.unpin_retry.erase({ino.value, vno.value});
    Status st = EnsureOwnerFile(s);
    if (st.ok()) st = s.catalog->AddPin(s.pin_owner, ino, vno);
    if (!st.ok()) {
      s.pin_counts.erase({ino.value, vno.value});
      return st;
    }
  }
  ++count;
  return Status::OK();
}

namespace {

Status RemovePinRow(Bucket::Shared& s, InodeId ino, VersionNo vno) {
  if (s.unpin_failures_for_testing > 0) {
    --s.unpin_failures_for_testing;
    return Status::Busy("catalog busy (FailUnpinsForTesting)");
  }
  return s.catalog->RemovePin(s.pin_owner, ino, vno);
}

}  // namespace

void UnpinVersion(Bucket::Shared& s, InodeId ino, VersionNo vno) {
  std::set<uint64_t> unpinned;  // inodes whose row went
  {
    std::lock_guard<std::mutex> l(s.pin_mu);
    auto it = s.pin_counts.find({ino.value, vno.value});
    if (it == s.pin_counts.end()) return;
    if (--it->second > 0) return;
    s.pin_counts.erase(it);
    // Its row went with a commit already: nothing to delete, unless
    // earlier deletes wait for a retry.
    const bool released = s.pin_rows_released.erase({ino.value, vno.value}) > 0;
    if (released && s.unpin_retry.empty()) return;
    // A row that cannot be deleted now (catalog busy) is retried at the
    // next unpin, and goes at the latest when this bucket is closed
    // (TearDownPins) or its process is gone: it only delays a prune or rm.
    if (!released) s.unpin_retry.insert({ino.value, vno.value});
    for (auto r = s.unpin_retry.begin(); r != s.unpin_retry.end();) {
      if (!RemovePinRow(s, InodeId(r->first), VersionNo(r->second)).ok()) break;
      unpinned.insert(r->first);
      r = s.unpin_retry.erase(r);
    }
  }
  // Without versioning, a version kept only for this pin (its file lost its
  // last name, or a commit superseded it) goes now, and its data with the
  // next reclaim. Best effort: prune and gc find what is left.
  if (unpinned.empty() || s.catalog->settings().versioning) return;
  bool released = false;
  for (uint64_t i : unpinned) {
    auto r = s.catalog->ReleaseUnpinned(InodeId(i));
    released = released || (r.ok() && *r);
  }
  if (released) TryReclaim(s, s.dir);
}

std::set<VersionNo> HeldHereLocked(Bucket::Shared& s, InodeId ino,
                                   std::optional<VersionNo> caller_pin) {
  std::set<VersionNo> out;
  for (auto it = s.pin_counts.lower_bound({ino.value, 0});
       it != s.pin_counts.end() && it->first.first == ino.value; ++it) {
    const VersionNo v(it->first.second);
    const int others = it->second - (caller_pin && *caller_pin == v ? 1 : 0);
    if (others > 0) out.insert(v);
  }
  return out;
}

namespace {

Result<std::unique_ptr<VersionReader>> OpenPinned(Bucket::Shared& s, InodeId ino, VersionNo vno,
                                                  ChunkStore::ReadMode mode) {
  if (s.read_only) return OpenVersionReader(s, ino, vno, mode);
  // Pinned first, then read: once the pin is in, no process deletes the
  // version, so the chunk list read next stays valid.
  RETURN_IF_ERROR(PinVersion(s, ino, vno));
  auto reader = OpenVersionReader(s, ino, vno, mode);
  if (!reader.ok()) {
    UnpinVersion(s, ino, vno);
    return reader.status();
  }
  return std::unique_ptr<VersionReader>(new PinnedReader(s, std::move(reader).value()));
}

}  // namespace

Status Bucket::RepinSessionBase(InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(s_->pin_mu);
  const std::pair<uint64_t, uint64_t> key{ino.value, vno.value};
  if (!s_->pin_counts.count(key) || !s_->pin_rows_released.count(key)) return Status::OK();
  RETURN_IF_ERROR(s_->catalog->AddPin(s_->pin_owner, ino, vno));
  s_->pin_rows_released.erase(key);
  return Status::OK();
}

void Bucket::FailUnpinsForTesting(int n) {
  std::lock_guard<std::mutex> l(s_->pin_mu);
  s_->unpin_failures_for_testing = n;
}

Result<std::unique_ptr<VersionReader>> Bucket::OpenVersionPinned(InodeId ino, VersionNo vno) {
  return OpenPinned(*s_, ino, vno, ChunkStore::ReadMode::kFromStorage);
}

Result<std::unique_ptr<VersionReader>> Bucket::OpenSessionBase(InodeId ino, VersionNo vno) {
  return OpenPinned(*s_, ino, vno, ChunkStore::ReadMode::kCached);
}

}  // namespace katamari

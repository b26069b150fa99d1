// Staging files of write sessions (bucket.h StagingFile): plain on a plain
// bucket, sealed block by block on an encrypted one. Layout of a sealed
// staging file in docs/encryption.md ("Staging").
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "store/bucket.h"
#include "store/bucket_internal.h"
#include "store/crypto.h"

namespace katamari {

// The ephemeral key of one opened encrypted Bucket: random, in memory only.
// Nonces come from one counter per key, so no two seals share a nonce.
struct StagingKey {
  crypto::Key key = crypto::Key::Random();
  std::atomic<uint64_t> next_nonce{1};
  std::atomic<uint64_t> next_file{1};
};

std::shared_ptr<StagingKey> MakeStagingKey() { return std::make_shared<StagingKey>(); }

namespace {

constexpr uint64_t kBlock = StagingFile::kBlock;
// A sealed block's slot: nonce | ciphertext | tag.
constexpr uint64_t kSlot = crypto::kNonceSize + kBlock + crypto::kTagSize;
// Blocks sealed or opened per pread/pwrite.
constexpr uint64_t kBatch = 64;

uint64_t AlignDown(uint64_t x) { return x - x % kBlock; }
uint64_t AlignUp(uint64_t x) { return AlignDown(x + kBlock - 1); }

void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// Reads exactly n bytes at off; bytes past the end of the file read as zeros.
Status PreadFull(int fd, uint64_t off, size_t n, char* buf, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read staging data of " + what);
    }
    if (r == 0) break;  // a hole past the staging file's end reads as zeros
    done += static_cast<size_t>(r);
  }
  std::memset(buf + done, 0, n - done);
  return Status::OK();
}

Status PwriteFull(int fd, uint64_t off, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t r =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write staging data of " + what);
    }
    done += static_cast<size_t>(r);
  }
  return Status::OK();
}

// fallocate(PUNCH_HOLE); false (errno EOPNOTSUPP) where the file system cannot.
Status PunchHole(int fd, uint64_t off, uint64_t len, const std::string& what, bool* done) {
  *done = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                      static_cast<off_t>(len)) == 0;
  if (*done || errno == EOPNOTSUPP) return Status::OK();
  return Status::FromErrno(errno, "punch staging data of " + what);
}

}  // namespace

// Staging files given back by ended sessions, emptied and still open (and
// unlinked), for the next sessions to reuse. Making and unlinking a file per
// write session is costly where it matters most: ext4 without a journal does
// not hand out an inode freed in the last minute (five, while its inode table
// block is dirty), and every later create in the group walks past each such
// inode, so with thousands of short sessions (appends, small files, tar x)
// each create cost more than the rest of the session. A reused file frees
// nothing and creates nothing.
class StagingPool {
 public:
  static constexpr size_t kMaxKept = 32;
  ~StagingPool() {
    for (int fd : fds_) ::close(fd);
  }
  int Take() {
    std::lock_guard lock(mu_);
    if (fds_.empty()) return -1;
    int fd = fds_.back();
    fds_.pop_back();
    return fd;
  }
  // Empties `fd` and keeps it, or closes it (a full pool, a failed truncate).
  void Give(int fd) {
    if (::ftruncate(fd, 0) == 0) {
      std::lock_guard lock(mu_);
      if (fds_.size() < kMaxKept) {
        fds_.push_back(fd);
        return;
      }
    }
    ::close(fd);
  }

 private:
  std::mutex mu_;
  std::vector<int> fds_;  // guarded by mu_
};

std::shared_ptr<StagingPool> MakeStagingPool() { return std::make_shared<StagingPool>(); }

namespace {

// The file descriptor of a staging file, unlinked as soon as it is created,
// or an emptied one taken from the bucket's pool (given back when done).
class StagingFd {
 public:
  static Result<StagingFd> Create(const std::string& dir, const std::string& what,
                                  std::shared_ptr<StagingPool> pool) {
    if (pool) {
      if (int fd = pool->Take(); fd >= 0) return StagingFd(fd, std::move(pool));
    }
    std::string path = dir + "/session-XXXXXX";
    int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "create staging file in " + dir + " for " + what);
    // Unlinked at once: the data lives exactly as long as the session.
    ::unlink(path.c_str());
    return StagingFd(fd, std::move(pool));
  }
  StagingFd(StagingFd&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), pool_(std::move(o.pool_)) {}
  StagingFd& operator=(StagingFd&&) = delete;
  ~StagingFd() {
    if (fd_ < 0) return;
    if (pool_) {
      pool_->Give(fd_);
    } else {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }

 private:
  StagingFd(int fd, std::shared_ptr<StagingPool> pool) : fd_(fd), pool_(std::move(pool)) {}
  int fd_;
  std::shared_ptr<StagingPool> pool_;
};

// Today's staging: the bytes as they are, at their own offsets.
class PlainStagingFile : public StagingFile {
 public:
  PlainStagingFile(StagingFd fd, std::string what) : fd_(std::move(fd)), what_(std::move(what)) {}
  Status Read(uint64_t off, size_t n, char* buf) override {
    return PreadFull(fd_.get(), off, n, buf, what_);
  }
  Status Write(uint64_t off, std::string_view data) override {
    return PwriteFull(fd_.get(), off, data, what_);
  }
  Status Punch(uint64_t off, uint64_t len) override {
    bool punched = false;
    RETURN_IF_ERROR(PunchHole(fd_.get(), off, len, what_, &punched));
    if (punched) return Status::OK();
    static const std::string* zeros = new std::string(1 << 20, '\0');
    for (uint64_t pos = off; pos < off + len;) {
      size_t piece = static_cast<size_t>(std::min<uint64_t>(zeros->size(), off + len - pos));
      RETURN_IF_ERROR(Write(pos, std::string_view(zeros->data(), piece)));
      pos += piece;
    }
    return Status::OK();
  }
  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_.get(), static_cast<off_t>(size)) == 0) return Status::OK();
    return Status::FromErrno(errno, "truncate staging data of " + what_);
  }
  bool sealed() const override { return false; }
  // The file system's own holes (SEEK_DATA / SEEK_HOLE).
  Result<Extent> ExtentAt(uint64_t off, uint64_t limit) override {
    off_t data = ::lseek(fd_.get(), static_cast<off_t>(off), SEEK_DATA);
    if (data < 0 && errno == ENXIO) return Extent{true, limit - off};  // past the end
    if (data < 0) return Status::FromErrno(errno, "find data in staging of " + what_);
    if (static_cast<uint64_t>(data) > off) {
      return Extent{true, std::min<uint64_t>(static_cast<uint64_t>(data), limit) - off};
    }
    off_t hole = ::lseek(fd_.get(), static_cast<off_t>(off), SEEK_HOLE);
    if (hole < 0) return Status::FromErrno(errno, "find holes in staging of " + what_);
    return Extent{false, std::min<uint64_t>(static_cast<uint64_t>(hole), limit) - off};
  }

 private:
  StagingFd fd_;
  const std::string what_;
};

// Block indices holding a sealed block, as disjoint ranges start -> end.
// Kept in memory so a block turned into zeros or a hole on the disk is an
// error, not a block of zeros; as small as the write pattern is fragmented.
class BlockSet {
 public:
  bool Contains(uint64_t i) const {
    auto it = r_.upper_bound(i);
    return it != r_.begin() && i < std::prev(it)->second;
  }
  // Whether block i is in the set, and the first block after it where that
  // changes (UINT64_MAX: never).
  std::pair<bool, uint64_t> RunAt(uint64_t i) const {
    auto it = r_.upper_bound(i);
    if (it != r_.begin() && i < std::prev(it)->second) return {true, std::prev(it)->second};
    return {false, it == r_.end() ? UINT64_MAX : it->first};
  }
  void Add(uint64_t a, uint64_t b) {
    auto it = r_.upper_bound(a);
    if (it != r_.begin() && std::prev(it)->second >= a) {
      --it;
      a = it->first;
      b = std::max(b, it->second);
      it = r_.erase(it);
    }
    while (it != r_.end() && it->first <= b) {
      b = std::max(b, it->second);
      it = r_.erase(it);
    }
    r_.emplace(a, b);
  }
  void Remove(uint64_t a, uint64_t b) {
    auto it = r_.lower_bound(a);
    if (it != r_.begin() && std::prev(it)->second > a) {
      auto p = std::prev(it);
      uint64_t end = std::exchange(p->second, a);
      if (end > b) {
        r_.emplace(b, end);
        return;
      }
    }
    while (it != r_.end() && it->first < b) {
      if (it->second > b) {
        uint64_t end = it->second;
        r_.erase(it);
        r_.emplace(b, end);
        return;
      }
      it = r_.erase(it);
    }
  }

 private:
  std::map<uint64_t, uint64_t> r_;
};

// Buffers for a batch of blocks, one set per thread (the FUSE workers), not
// per open file: a file open for writing costs no memory until it is used.
struct BatchBuffers {
  char plain[kBatch * kBlock];
  char slots[kBatch * kSlot];
};
BatchBuffers& Scratch() {
  thread_local std::unique_ptr<BatchBuffers> buffers = std::make_unique<BatchBuffers>();
  return *buffers;
}

// Encrypted buckets: block i lives sealed in the slot at i * kSlot.
class SealedStagingFile : public StagingFile {
 public:
  SealedStagingFile(StagingFd fd, std::string what, std::shared_ptr<StagingKey> key)
      : fd_(std::move(fd)), what_(std::move(what)), key_(std::move(key)) {
    file_id_ = key_->next_file.fetch_add(1);
  }

  Status Read(uint64_t off, size_t n, char* buf) override;
  Status Write(uint64_t off, std::string_view data) override;
  Status Punch(uint64_t off, uint64_t len) override;
  Status Truncate(uint64_t size) override;
  bool sealed() const override { return true; }
  // Blocks never sealed (or forgotten by a punch or cut) are the holes.
  Result<Extent> ExtentAt(uint64_t off, uint64_t limit) override {
    auto [have, next] = sealed_.RunAt(off / kBlock);
    uint64_t end = next >= UINT64_MAX / kBlock ? limit : std::min(limit, next * kBlock);
    return Extent{!have, end - off};
  }

 private:
  // Opens blocks [first, first+count) (all sealed) into `out`.
  Status OpenBlocks(uint64_t first, uint64_t count, char* out);
  // Seals the scratch plaintext's first `count` blocks as blocks first.. and writes them.
  Status SealBlocks(uint64_t first, uint64_t count);
  // Plaintext of one block into `out` (zeros if it was never sealed).
  Status LoadBlock(uint64_t index, char* out) {
    if (sealed_.Contains(index)) return OpenBlocks(index, 1, out);
    std::memset(out, 0, kBlock);
    return Status::OK();
  }
  std::string Aad(uint64_t index) const {
    std::string aad(16, '\0');
    PutU64(aad.data(), file_id_);
    PutU64(aad.data() + 8, index);
    return aad;
  }

  StagingFd fd_;
  const std::string what_;
  const std::shared_ptr<StagingKey> key_;
  uint64_t file_id_ = 0;
  BlockSet sealed_;
};

Status SealedStagingFile::OpenBlocks(uint64_t first, uint64_t count, char* out) {
  RETURN_IF_ERROR(PreadFull(fd_.get(), first * kSlot, count * kSlot, Scratch().slots, what_));
  for (uint64_t k = 0; k < count; ++k) {
    const char* slot = Scratch().slots + k * kSlot;
    std::string_view sealed(slot + crypto::kNonceSize, kBlock + crypto::kTagSize);
    if (!crypto::GcmOpen(key_->key, reinterpret_cast<const uint8_t*>(slot), Aad(first + k), sealed,
                         out + k * kBlock)) {
      return Status::Corruption("staged block " + std::to_string(first + k) + " of " + what_ +
                                " does not open: its staging file was changed on the disk "
                                "while mounted (or the disk returned bad data); the "
                                "uncommitted writes of this file are lost");
    }
  }
  return Status::OK();
}

Status SealedStagingFile::SealBlocks(uint64_t first, uint64_t count) {
  for (uint64_t k = 0; k < count; ++k) {
    char* slot = Scratch().slots + k * kSlot;
    std::memset(slot, 0, crypto::kNonceSize);
    PutU64(slot, key_->next_nonce.fetch_add(1));
    crypto::GcmSeal(key_->key, reinterpret_cast<const uint8_t*>(slot), Aad(first + k),
                    std::string_view(Scratch().plain + k * kBlock, kBlock),
                    slot + crypto::kNonceSize);
  }
  RETURN_IF_ERROR(PwriteFull(fd_.get(), first * kSlot,
                             std::string_view(Scratch().slots, count * kSlot), what_));
  sealed_.Add(first, first + count);
  return Status::OK();
}

Status SealedStagingFile::Read(uint64_t off, size_t n, char* buf) {
  uint64_t end = off + n;
  for (uint64_t i = off / kBlock; i * kBlock < end;) {
    uint64_t count = 1;
    bool have = sealed_.Contains(i);
    while (count < kBatch && (i + count) * kBlock < end && sealed_.Contains(i + count) == have) {
      ++count;
    }
    uint64_t from = std::max(off, i * kBlock), to = std::min(end, (i + count) * kBlock);
    char* dst = buf + (from - off);
    if (!have) {
      std::memset(dst, 0, to - from);
    } else if (from == i * kBlock && to == (i + count) * kBlock) {
      RETURN_IF_ERROR(OpenBlocks(i, count, dst));  // whole blocks: straight into buf
    } else {
      RETURN_IF_ERROR(OpenBlocks(i, count, Scratch().plain));
      std::memcpy(dst, Scratch().plain + (from - i * kBlock), to - from);
    }
    i += count;
  }
  return Status::OK();
}

Status SealedStagingFile::Write(uint64_t off, std::string_view data) {
  if (data.empty()) return Status::OK();
  uint64_t end = off + data.size();
  for (uint64_t i = off / kBlock; i * kBlock < end;) {
    uint64_t count = std::min<uint64_t>(kBatch, AlignUp(end) / kBlock - i);
    uint64_t from = std::max(off, i * kBlock), to = std::min(end, (i + count) * kBlock);
    // Partly written blocks keep the rest of their bytes.
    bool head = from > i * kBlock, tail = to < (i + count) * kBlock;
    if (head) RETURN_IF_ERROR(LoadBlock(i, Scratch().plain));
    if (tail && !(head && count == 1)) {
      RETURN_IF_ERROR(LoadBlock(i + count - 1, Scratch().plain + (count - 1) * kBlock));
    }
    std::memcpy(Scratch().plain + (from - i * kBlock), data.data() + (from - off), to - from);
    RETURN_IF_ERROR(SealBlocks(i, count));
    i += count;
  }
  return Status::OK();
}

Status SealedStagingFile::Punch(uint64_t off, uint64_t len) {
  uint64_t end = off + len, inner_from = AlignUp(off), inner_to = AlignDown(end);
  if (inner_from >= inner_to) return Write(off, std::string(len, '\0'));
  if (off < inner_from) RETURN_IF_ERROR(Write(off, std::string(inner_from - off, '\0')));
  if (inner_to < end) RETURN_IF_ERROR(Write(inner_to, std::string(end - inner_to, '\0')));
  // Forgotten blocks read as zeros whatever the disk holds; the punch only
  // gives the space back (where the file system cannot, it stays used).
  sealed_.Remove(inner_from / kBlock, inner_to / kBlock);
  bool punched = false;
  return PunchHole(fd_.get(), inner_from / kBlock * kSlot, (inner_to - inner_from) / kBlock * kSlot,
                   what_, &punched);
}

Status SealedStagingFile::Truncate(uint64_t size) {
  uint64_t keep = AlignUp(size) / kBlock;
  if (size % kBlock != 0 && sealed_.Contains(size / kBlock)) {
    RETURN_IF_ERROR(LoadBlock(size / kBlock, Scratch().plain));
    std::memset(Scratch().plain + size % kBlock, 0, kBlock - size % kBlock);
    RETURN_IF_ERROR(SealBlocks(size / kBlock, 1));
  }
  sealed_.Remove(keep, UINT64_MAX);
  if (::ftruncate(fd_.get(), static_cast<off_t>(keep * kSlot)) == 0) return Status::OK();
  return Status::FromErrno(errno, "truncate staging data of " + what_);
}

}  // namespace

Result<std::unique_ptr<StagingFile>> OpenStagingFile(const std::string& dir, std::string what,
                                                     std::shared_ptr<StagingKey> key,
                                                     std::shared_ptr<StagingPool> pool) {
  ASSIGN_OR_RETURN(StagingFd fd, StagingFd::Create(dir, what, std::move(pool)));
  if (!key) return std::unique_ptr<StagingFile>(new PlainStagingFile(std::move(fd), what));
  return std::unique_ptr<StagingFile>(
      new SealedStagingFile(std::move(fd), std::move(what), std::move(key)));
}

Result<std::unique_ptr<StagingFile>> Bucket::OpenStaging(std::string what) {
  return OpenStagingFile(StagingDir(), std::move(what), s_->staging_key, s_->staging_pool);
}

}  // namespace katamari

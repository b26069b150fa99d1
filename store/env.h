// Env: the I/O seam under the chunk store (after LevelDB's include/leveldb/env.h).
//
// Every file-system call the chunk store makes goes through an Env, so tests
// can inject ENOSPC, EIO and "power cuts" that drop unsynced data
// (tests/unit/fault_env.h). Implementations must be thread-safe; the objects
// they hand out are used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"

namespace katamari {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;   // fdatasync: data durable once this returns OK
  virtual Status Close() = 0;  // also called by the destructor if not yet closed
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to n bytes at offset into scratch; *got is set to bytes read
  // (short only at end of file).
  virtual Status Read(uint64_t offset, size_t n, char* scratch, size_t* got) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The process-wide POSIX Env. Never deleted.
  static Env* Default();

  // Creates or truncates `path` for writing (mode 0600).
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Whole small file into memory.
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // mkdir with mode; OK if it already exists as a directory.
  virtual Status CreateDir(const std::string& path, uint32_t mode = 0700) = 0;
  virtual Status SyncDir(const std::string& path) = 0;
  // syncfs(2) on the file system holding `path`: every write made before the
  // call is durable when it returns. One call makes a whole batch durable.
  virtual Status SyncFilesystem(const std::string& path) = 0;
  // fdatasync(2) of an existing file, by name: its data (not its name: see
  // SyncDir) is durable when this returns. The default syncs the whole file
  // system, which covers it.
  virtual Status SyncFile(const std::string& path) { return SyncFilesystem(path); }
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  // Last modification time, seconds since the epoch. Added for ChunkStore's
  // stale-temp sweep; the default says NotSupported so that Envs written
  // before it still compile (ChunkStore then keeps temps it cannot date).
  virtual Result<int64_t> GetFileModificationTime(const std::string& path) {
    return Status::NotSupported("GetFileModificationTime on " + path);
  }
};

}  // namespace katamari

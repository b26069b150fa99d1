// Where `katamari get -o PATH` writes: to PATH the way cp(1) writes a file.
//  - a symlink is followed (a chain of them too); one that dangles gets its
//    target created, as POSIX cp does (GNU cp refuses by default);
//  - a character device, fifo or socket is written into as it is (-o /dev/null
//    stays a device; -o /dev/stdout writes into a pipe);
//  - a regular file with other hard links is overwritten in place, so every
//    link shows the new content; the content is fetched completely into an
//    unlinked scratch file first, so a failed get leaves the old one;
//  - any other regular file (or a new one) is replaced atomically: a
//    temporary file in the same directory (O_TMPFILE, named only once it is
//    complete), fsync, rename over, fsync of the directory. A replaced file keeps its mode (and
//    owner, where permitted); a new one gets 0666 & ~umask.
// Until Commit() nothing at PATH has changed (except bytes already sent into
// a device or fifo); the destructor removes any temporary file.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "store/status.h"

namespace katamari::cli {

class OutputFile {
 public:
  // Errors name PATH and say what to do (a directory, a missing directory,
  // permission, a symlink loop).
  static Result<std::unique_ptr<OutputFile>> Open(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  int fd() const { return fd_; }
  // Where the bytes go in messages (PATH, or the file a symlink names).
  const std::string& what() const { return target_; }
  // Makes what was written to fd() the content of PATH; regular files get
  // `mtime_ns` as their modification time.
  Status Commit(int64_t mtime_ns);

 private:
  enum class Mode { kReplace, kInPlace, kStream };
  OutputFile(Mode mode, std::string target) : mode_(mode), target_(std::move(target)) {}
  // kReplace of `target`: the new file gets `mode` and, if `old` (the file
  // replaced) is given, its owner where permitted.
  static Result<std::unique_ptr<OutputFile>> OpenReplace(const std::string& target, uint32_t mode,
                                                         const struct stat* old);
  Status CreateTemp(const std::string& dir, bool unlinked);
  std::string TempName(const std::string& dir, const std::string& suffix) const;
  Status LinkTemp();
  Status CopyInPlace(int64_t mtime_ns);
  Status CopyScratchTo(int dst);

  Mode mode_;
  std::string target_;  // the file written (symlinks resolved)
  std::string temp_;    // kReplace: name of the temporary (empty while it has none)
  int fd_ = -1;
  uint32_t keep_mode_ = 0;  // kReplace of an existing file: its mode bits
  bool keep_owner_ = false;
  uint32_t uid_ = 0, gid_ = 0;
};

}  // namespace katamari::cli

// FaultEnv: an Env for tests that injects I/O errors and simulates power cuts
// (after LevelDB's db/fault_injection_test.cc and SQLite's test6.c).
//
// It wraps a base Env (Env::Default() unless told otherwise) and forwards
// every call to it, with two extra powers:
//
// 1. Error injection. Each *mutating* call is counted:
//      Env:          NewWritableFile, RenameFile, RemoveFile, CreateDir,
//                    SyncDir, SyncFilesystem, SyncFile
//      WritableFile: Append, Sync, Close
//    FailNthMutation(n, err) makes the n-th mutating call from now fail with
//    errno `err` (Status::FromErrno, so ENOSPC -> NoSpace, EIO -> IOError)
//    without doing anything; with sticky=true every later one fails too,
//    until ClearFaults(). A failed Append may first write part of its data
//    (set_torn_appends(true)), as a write that hits a full disk does. A failed
//    Close still closes the underlying file. Reads are never failed.
//    Typical use, to fail at every step of an operation in turn:
//
//      uint64_t before = env.mutation_count();
//      DoIt(&env);                                    // dry run
//      uint64_t steps = env.mutation_count() - before;
//      for (uint64_t i = 1; i <= steps; ++i) {
//        ResetTheWorld();
//        env.FailNthMutation(i, ENOSPC);
//        EXPECT_FALSE(DoIt(&env).ok());
//        env.ClearFaults();
//        CheckInvariants();
//      }
//
// 2. Power cuts. FaultEnv records what has not been made durable yet, under a
//    strict POSIX model:
//      - WritableFile::Sync() and SyncFile(path) make the file's data
//        durable, NOT its name;
//      - SyncDir(d) makes name changes in d durable (creates, renames whose
//        target is in d, removes);
//      - SyncFilesystem() makes everything durable.
//    SimulatePowerCut() then undoes everything not durable, newest first:
//      - data appended after a file's last Sync is cut off (the file is
//        truncated to its durable size); a truncated-and-rewritten file that
//        was never synced gets its old content back;
//      - files created since their directory was last synced vanish;
//      - renames revert (a file the rename replaced comes back), removes
//        revert (the removed file comes back), new directories go away if
//        they are empty.
//    Only calls made through this FaultEnv are tracked; anything else is
//    treated as durable. Files still open at the cut are dead: their later
//    calls fail with IOError. After the cut everything left is durable.
//    Backups of replaced/removed files live next to them as hidden
//    ".faultenv-*" files, which GetChildren() does not report.
//
// Syncs are recorded but by default NOT passed to the base Env (a real
// syncfs can take seconds on a busy disk and tests do not need real
// durability); set_forward_syncs(true) passes them on.
//
// Thread-safe: any method may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/env.h"

namespace katamari {

class FaultEnv final : public Env {
 public:
  explicit FaultEnv(Env* base = Env::Default());
  ~FaultEnv() override;  // removes leftover backup files
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  // ---- error injection ----
  // Fails the n-th mutating call from now (n >= 1; 1 = the very next one)
  // with `err`; with `sticky`, also every mutating call after it.
  void FailNthMutation(uint64_t n, int err, bool sticky = false);
  // Fails every mutating call from now on with `err` (a full disk).
  void FailAllMutations(int err) { FailNthMutation(1, err, /*sticky=*/true); }
  void ClearFaults();
  // When a failing Append is injected, first write half of the data.
  void set_torn_appends(bool on);
  // Mutating calls attempted so far (failed ones included).
  uint64_t mutation_count() const;
  // How many calls were failed by injection so far.
  uint64_t injected_failures() const;

  // ---- durability model ----
  void set_forward_syncs(bool on);
  // Undoes every change not yet durable (see the file comment). Returns the
  // first error met while restoring (a test bug or a real I/O problem).
  Status SimulatePowerCut();
  // Number of non-durable changes currently recorded (files with unsynced
  // data plus unsynced name changes). 0 right after SyncFilesystem().
  size_t unsynced_count() const;

  // ---- Env ----
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDir(const std::string& path, uint32_t mode = 0700) override;
  Status SyncDir(const std::string& path) override;
  Status SyncFilesystem(const std::string& path) override;
  Status SyncFile(const std::string& path) override;
  // SyncFilesystem calls made so far (tests of who syncs how).
  uint64_t syncfs_count() const;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  bool FileExists(const std::string& path) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Result<int64_t> GetFileModificationTime(const std::string& path) override;

  // Shared between the env and the files it hands out (implementation).
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace katamari

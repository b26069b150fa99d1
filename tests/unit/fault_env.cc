// FaultEnv implementation; the model is described in fault_env.h.
//
// One mutex serializes every call (including the forwarded I/O): tests do
// not need parallel I/O, and it keeps the bookkeeping trivially consistent.
// Backups are made with POSIX calls directly (link/rename/copy) because the
// Env seam has no link(); they are test machinery, not part of the model.
#include "tests/unit/fault_env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>

namespace katamari {

namespace {

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string StripTrailingSlashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

constexpr char kBackupPrefix[] = ".faultenv-";

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Copies the first `len` bytes of `from` into a new file `to`.
Status CopyPrefix(Env* base, const std::string& from, const std::string& to, uint64_t len) {
  ASSIGN_OR_RETURN(std::string data, base->ReadFile(from));
  if (data.size() > len) data.resize(len);
  ASSIGN_OR_RETURN(auto file, base->NewWritableFile(to));
  RETURN_IF_ERROR(file->Append(data));
  return file->Close();
}

}  // namespace

struct FaultEnv::State {
  // One file written through this env whose data may not be durable.
  struct FileData {
    uint64_t size = 0;          // bytes appended so far
    uint64_t durable_size = 0;  // bytes covered by the last Sync
    std::string backup;         // durable old content, if the create truncated a file
  };
  // One name change not yet durable. `path` is the name it created/changed.
  struct NameOp {
    enum Kind { kCreate, kRename, kRemove, kMkdir } kind;
    std::string path;
    std::string from;    // kRename: the old name
    std::string backup;  // kRename: the replaced file; kRemove: the removed one
  };

  explicit State(Env* b) : base(b) {}

  Env* const base;
  std::mutex mu;
  // Fault injection.
  uint64_t mutations = 0;
  uint64_t fail_at = 0;  // 0: no fault armed
  int fail_err = 0;
  bool sticky = false;
  bool torn_appends = false;
  uint64_t failures = 0;
  // Durability model.
  bool forward_syncs = false;
  uint64_t syncfs_calls = 0;
  uint64_t generation = 0;  // bumped by each power cut; older files are dead
  uint64_t backup_seq = 0;
  std::map<std::string, std::shared_ptr<FileData>> files;  // by current path
  std::vector<NameOp> ops;                                 // oldest first

  // Counts one mutating call; returns the injected failure, if any.
  Status Mutation(const char* op, const std::string& path) {
    ++mutations;
    if (fail_at == 0 || mutations < fail_at || (mutations > fail_at && !sticky)) {
      return Status::OK();
    }
    ++failures;
    return Status::FromErrno(fail_err, std::string("injected fault: ") + op + " " + path);
  }

  std::string NewBackupName(const std::string& path) {
    return Parent(path) + "/" + kBackupPrefix + std::to_string(::getpid()) + "-" +
           std::to_string(++backup_seq);
  }

  // Hard-links the current inode of `path` to a fresh backup name; moves its
  // FileData (if tracked) with it, so a power cut also trims that data.
  Result<std::string> LinkBackup(const std::string& path) {
    std::string backup = NewBackupName(path);
    if (::link(path.c_str(), backup.c_str()) != 0) {
      return Status::FromErrno(errno, "faultenv: link backup of " + path);
    }
    return backup;
  }

  void MoveTracking(const std::string& from, const std::string& to) {
    auto it = files.find(from);
    if (it == files.end()) return;
    files[to] = it->second;
    files.erase(it);
  }

  // Makes durable the name ops for which `durable(op)` holds.
  template <class Pred>
  void MakeDurable(Pred durable) {
    std::vector<NameOp> keep;
    for (NameOp& op : ops) {
      if (!durable(op)) {
        keep.push_back(std::move(op));
        continue;
      }
      if (!op.backup.empty()) {
        ::unlink(op.backup.c_str());
        auto it = files.find(op.backup);
        if (it != files.end()) {
          if (!it->second->backup.empty()) ::unlink(it->second->backup.c_str());
          files.erase(it);
        }
      }
    }
    ops = std::move(keep);
  }

  Status RestoreData();
  Status RevertNames();
};

namespace {

class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(std::shared_ptr<FaultEnv::State> state, std::string path,
                    std::unique_ptr<WritableFile> base,
                    std::shared_ptr<FaultEnv::State::FileData> data)
      : state_(std::move(state)),
        path_(std::move(path)),
        base_(std::move(base)),
        data_(std::move(data)),
        generation_(state_->generation) {}

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    RETURN_IF_ERROR(CheckAlive("append to"));
    Status fault = state_->Mutation("append", path_);
    if (!fault.ok()) {
      if (state_->torn_appends && base_->Append(data.substr(0, data.size() / 2)).ok()) {
        data_->size += data.size() / 2;
      }
      return fault;
    }
    RETURN_IF_ERROR(base_->Append(data));
    data_->size += data.size();
    return Status::OK();
  }

  Status Sync() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    RETURN_IF_ERROR(CheckAlive("sync"));
    RETURN_IF_ERROR(state_->Mutation("sync", path_));
    if (state_->forward_syncs) RETURN_IF_ERROR(base_->Sync());
    data_->durable_size = data_->size;
    if (!data_->backup.empty()) {
      ::unlink(data_->backup.c_str());
      data_->backup.clear();
    }
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (closed_) return Status::OK();
    closed_ = true;
    if (generation_ != state_->generation) {
      base_->Close();
      return Status::OK();  // a dead file closes quietly; its data is gone
    }
    Status fault = state_->Mutation("close", path_);
    Status st = base_->Close();
    return fault.ok() ? st : fault;
  }

 private:
  Status CheckAlive(const char* what) const {
    if (closed_) return Status::IOError(std::string(what) + " closed file " + path_);
    if (generation_ != state_->generation) {
      return Status::IOError(std::string(what) + " " + path_ +
                             ": file was open across a simulated power cut");
    }
    return Status::OK();
  }

  std::shared_ptr<FaultEnv::State> state_;
  std::string path_;
  std::unique_ptr<WritableFile> base_;
  std::shared_ptr<FaultEnv::State::FileData> data_;
  uint64_t generation_;
  bool closed_ = false;
};

}  // namespace

FaultEnv::FaultEnv(Env* base) : state_(std::make_shared<State>(base)) {}

FaultEnv::~FaultEnv() {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (const auto& op : state_->ops) {
    if (!op.backup.empty()) ::unlink(op.backup.c_str());
  }
  for (const auto& [path, data] : state_->files) {
    if (!data->backup.empty()) ::unlink(data->backup.c_str());
  }
}

void FaultEnv::FailNthMutation(uint64_t n, int err, bool sticky) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_at = state_->mutations + (n == 0 ? 1 : n);
  state_->fail_err = err;
  state_->sticky = sticky;
}

void FaultEnv::ClearFaults() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->fail_at = 0;
  state_->sticky = false;
}

void FaultEnv::set_torn_appends(bool on) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->torn_appends = on;
}

uint64_t FaultEnv::mutation_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->mutations;
}

uint64_t FaultEnv::injected_failures() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->failures;
}

void FaultEnv::set_forward_syncs(bool on) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->forward_syncs = on;
}

size_t FaultEnv::unsynced_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  size_t n = state_->ops.size();
  for (const auto& [path, data] : state_->files) {
    if (data->size != data->durable_size || !data->backup.empty()) ++n;
  }
  return n;
}

Result<std::unique_ptr<WritableFile>> FaultEnv::NewWritableFile(const std::string& path) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("create", path));
  auto data = std::make_shared<State::FileData>();
  const bool existed = s.base->FileExists(path);
  if (existed) {
    // O_TRUNC is about to destroy the durable content: keep a copy of it.
    auto old = s.files.find(path);
    if (old != s.files.end() && !old->second->backup.empty()) {
      data->backup = old->second->backup;  // the durable content is still that one
      old->second->backup.clear();
    } else {
      uint64_t durable = old != s.files.end() ? old->second->durable_size : UINT64_MAX;
      data->backup = s.NewBackupName(path);
      RETURN_IF_ERROR(CopyPrefix(s.base, path, data->backup, durable));
    }
  }
  auto file = s.base->NewWritableFile(path);
  if (!file.ok()) {
    if (!data->backup.empty()) ::unlink(data->backup.c_str());
    return file.status();
  }
  if (!existed) s.ops.push_back({State::NameOp::kCreate, path, "", ""});
  s.files[path] = data;
  return std::unique_ptr<WritableFile>(
      new FaultWritableFile(state_, path, std::move(file).value(), data));
}

Result<std::unique_ptr<RandomAccessFile>> FaultEnv::NewRandomAccessFile(
    const std::string& path) {
  return state_->base->NewRandomAccessFile(path);
}

Result<std::string> FaultEnv::ReadFile(const std::string& path) {
  return state_->base->ReadFile(path);
}

Status FaultEnv::RenameFile(const std::string& from, const std::string& to) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("rename", from + " to " + to));
  std::string backup;
  if (s.base->FileExists(to)) {
    ASSIGN_OR_RETURN(backup, s.LinkBackup(to));
  }
  Status st = s.base->RenameFile(from, to);
  if (!st.ok()) {
    if (!backup.empty()) ::unlink(backup.c_str());
    return st;
  }
  if (!backup.empty()) s.MoveTracking(to, backup);
  s.MoveTracking(from, to);
  s.ops.push_back({State::NameOp::kRename, to, from, backup});
  return Status::OK();
}

Status FaultEnv::RemoveFile(const std::string& path) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("unlink", path));
  if (!s.base->FileExists(path)) return s.base->RemoveFile(path);  // its own error
  ASSIGN_OR_RETURN(std::string backup, s.LinkBackup(path));
  Status st = s.base->RemoveFile(path);
  if (!st.ok()) {
    ::unlink(backup.c_str());
    return st;
  }
  s.MoveTracking(path, backup);
  s.ops.push_back({State::NameOp::kRemove, path, "", backup});
  return Status::OK();
}

Status FaultEnv::CreateDir(const std::string& path, uint32_t mode) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("mkdir", path));
  const bool existed = IsDirectory(path);
  RETURN_IF_ERROR(s.base->CreateDir(path, mode));
  if (!existed) s.ops.push_back({State::NameOp::kMkdir, StripTrailingSlashes(path), "", ""});
  return Status::OK();
}

Status FaultEnv::SyncDir(const std::string& path) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("fsync directory", path));
  if (s.forward_syncs) RETURN_IF_ERROR(s.base->SyncDir(path));
  const std::string dir = StripTrailingSlashes(path);
  s.MakeDurable([&](const State::NameOp& op) { return Parent(op.path) == dir; });
  return Status::OK();
}

Status FaultEnv::SyncFile(const std::string& path) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("fdatasync", path));
  if (s.forward_syncs) RETURN_IF_ERROR(s.base->SyncFile(path));
  auto it = s.files.find(path);
  if (it == s.files.end()) return Status::OK();  // untracked: durable already
  State::FileData& d = *it->second;
  d.durable_size = d.size;
  if (!d.backup.empty()) {
    ::unlink(d.backup.c_str());
    d.backup.clear();
  }
  if (it->second.use_count() == 1) s.files.erase(it);
  return Status::OK();
}

uint64_t FaultEnv::syncfs_count() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->syncfs_calls;
}

Status FaultEnv::SyncFilesystem(const std::string& path) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  RETURN_IF_ERROR(s.Mutation("syncfs", path));
  ++s.syncfs_calls;
  if (s.forward_syncs) RETURN_IF_ERROR(s.base->SyncFilesystem(path));
  s.MakeDurable([](const State::NameOp&) { return true; });
  for (auto it = s.files.begin(); it != s.files.end();) {
    State::FileData& d = *it->second;
    d.durable_size = d.size;
    if (!d.backup.empty()) {
      ::unlink(d.backup.c_str());
      d.backup.clear();
    }
    // Keep tracking only files still open (their later appends matter).
    it = it->second.use_count() == 1 ? s.files.erase(it) : std::next(it);
  }
  return Status::OK();
}

Status FaultEnv::State::RestoreData() {
  Status first;
  auto note = [&](int rc, const char* op, const std::string& p) {
    if (rc != 0 && errno != ENOENT && first.ok()) {
      first = Status::FromErrno(errno, std::string("faultenv power cut: ") + op + " " + p);
    }
  };
  for (auto& [path, data] : files) {
    if (!data->backup.empty()) {
      note(::rename(data->backup.c_str(), path.c_str()), "restore", path);
    } else if (data->size != data->durable_size) {
      note(::truncate(path.c_str(), static_cast<off_t>(data->durable_size)), "truncate", path);
    }
  }
  files.clear();
  return first;
}

Status FaultEnv::State::RevertNames() {
  Status first;
  auto note = [&](int rc, const char* op, const std::string& p) {
    if (rc != 0 && errno != ENOENT && first.ok()) {
      first = Status::FromErrno(errno, std::string("faultenv power cut: ") + op + " " + p);
    }
  };
  for (auto it = ops.rbegin(); it != ops.rend(); ++it) {
    switch (it->kind) {
      case NameOp::kCreate:
        note(::unlink(it->path.c_str()), "unlink", it->path);
        break;
      case NameOp::kRename:
        note(::rename(it->path.c_str(), it->from.c_str()), "rename back", it->path);
        if (!it->backup.empty()) {
          note(::rename(it->backup.c_str(), it->path.c_str()), "restore", it->path);
        }
        break;
      case NameOp::kRemove:
        note(::rename(it->backup.c_str(), it->path.c_str()), "restore", it->path);
        break;
      case NameOp::kMkdir:
        ::rmdir(it->path.c_str());  // stays if something durable lives in it
        break;
    }
  }
  ops.clear();
  return first;
}

Status FaultEnv::SimulatePowerCut() {
  std::lock_guard<std::mutex> lock(state_->mu);
  ++state_->generation;
  // Data first, at the names it has now; then names, newest first.
  Status data_st = state_->RestoreData();
  Status names_st = state_->RevertNames();
  return data_st.ok() ? names_st : data_st;
}

Result<std::vector<std::string>> FaultEnv::GetChildren(const std::string& dir) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, state_->base->GetChildren(dir));
  std::erase_if(names, [](const std::string& n) { return n.rfind(kBackupPrefix, 0) == 0; });
  return names;
}

bool FaultEnv::FileExists(const std::string& path) { return state_->base->FileExists(path); }

Result<uint64_t> FaultEnv::GetFileSize(const std::string& path) {
  return state_->base->GetFileSize(path);
}

Result<int64_t> FaultEnv::GetFileModificationTime(const std::string& path) {
  return state_->base->GetFileModificationTime(path);
}

}  // namespace katamari

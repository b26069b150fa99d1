// Whole trees: `stats PATH`, `du`, `log`, `diff` and `restore --at TIME DIR
// [--to TARGET]` (docs/semantics.md, Whole trees). Sizes in du(1)'s human
// units unless --bytes; --json gives exact numbers under stable names.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "daemon/cli_commands.h"
#include "daemon/cli_names.h"

namespace katamari::cli {
namespace {

using Json = nlohmann::json;

// du -h style: "0", "512", "1.5K", "18G" (powers of 1024, rounded up).
std::string Human(uint64_t n) {
  static const char kUnits[] = "KMGTPE";
  if (n < 1024) return std::to_string(n);
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (v < 10.0) {
    double up = static_cast<double>(static_cast<uint64_t>(v * 10.0 + 0.999999)) / 10.0;
    if (up >= 10.0) {
      std::snprintf(buf, sizeof buf, "%d%c", 10, kUnits[u]);
    } else {
      std::snprintf(buf, sizeof buf, "%.1f%c", up, kUnits[u]);
    }
  } else {
    std::snprintf(buf, sizeof buf, "%" PRIu64 "%c", static_cast<uint64_t>(v + 0.999999),
                  kUnits[u]);
  }
  return buf;
}

std::string Size(uint64_t n, bool bytes) { return bytes ? std::to_string(n) : Human(n); }

std::string Signed(int64_t n, bool bytes) {
  if (n == 0) return "0";
  const uint64_t mag = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  return (n < 0 ? "-" : "+") + Size(mag, bytes);
}

// "/" for the root, "dir/" for a directory.
std::string Shown(const std::string& path, bool dir) {
  if (path.empty()) return "/";
  return dir ? path + "/" : path;
}

Json SpaceJson(const SpaceEntry& e) {
  Json j;
  PutName(j, "path", e.path);
  j["type"] = e.kind == FileKind::kDirectory ? "dir" : "file";
  j["deleted"] = e.deleted;
  j["files"] = e.files;
  j["size"] = e.size;
  j["versions"] = e.versions;
  j["all_versions_bytes"] = e.all_versions_bytes;
  j["stored_bytes"] = e.stored_bytes;
  j["history_bytes"] = e.history_bytes;
  return j;
}

bool OpenForRead(const GlobalOptions& g, std::unique_ptr<Bucket>* b, int* code) {
  *b = OpenBucket(g, /*read_only=*/true, code);
  return *b != nullptr;
}

std::optional<int64_t> ParseTimeArg(const std::string& what, const std::string& text) {
  if (text == "now") return NowNsForCli();
  auto t = ParseTime(text);
  if (!t) {
    PrintError(what + ": cannot read time '" + text + "'",
               "use 2026-11-25T10:00:00Z, 2026-11-25T10:00Z, 2026-11-25T11:00+01:00, "
               "2026-11-25 (end of that day, UTC), unix:SECONDS or now");
  }
  return t;
}

const char* ActionName(LogEntry::Action a) {
  switch (a) {
    case LogEntry::Action::kVersion: return "version";
    case LogEntry::Action::kRestore: return "restore";
    case LogEntry::Action::kCreate: return "create";
    case LogEntry::Action::kDelete: return "delete";
    case LogEntry::Action::kRename: return "rename";
  }
  return "?";
}

bool HasVersion(const LogEntry& l) {
  return l.action == LogEntry::Action::kVersion || l.action == LogEntry::Action::kRestore;
}

}  // namespace

int64_t NowNsForCli() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int RunTreeStats(const GlobalOptions& g, const TreeStatsArgs& a) {
  int code = kExitOk;
  std::unique_ptr<Bucket> bucket;
  if (!OpenForRead(g, &bucket, &code)) return code;
  auto r = bucket->Space(a.path);
  if (!r.ok()) return ReportStatus("stats " + a.path, r.status());
  const SpaceEntry& t = r->total;
  if (a.json) {
    Json j = SpaceJson(t);
    j["deleted_files"] = r->deleted_files;
    PrintJson(j);
    return kExitOk;
  }
  auto line = [&](const char* label, uint64_t n, const char* note) {
    std::cout << label << Size(n, a.bytes) << note << "\n";
  };
  std::cout << "path:              " << NameForStdout(Shown(t.path, t.kind == FileKind::kDirectory))
            << (t.deleted ? " (deleted; history kept)" : "") << "\n";
  std::cout << "files:             " << t.files;
  if (r->deleted_files) std::cout << " (" << r->deleted_files << " deleted, history kept)";
  std::cout << "\nversions:          " << t.versions << "\n";
  line("size:              ", t.size, " (current content)");
  line("all versions:      ", t.all_versions_bytes, " (logical bytes of every version)");
  line("stored:            ", t.stored_bytes, " (distinct chunks on disk)");
  line("held by history:   ", t.history_bytes,
       " (what deleting every old version under it would free)");
  return kExitOk;
}

int RunDu(const GlobalOptions& g, const DuArgs& a) {
  int code = kExitOk;
  std::unique_ptr<Bucket> bucket;
  if (!OpenForRead(g, &bucket, &code)) return code;
  auto r = bucket->Space(a.path);
  if (!r.ok()) return ReportStatus("du " + a.path, r.status());
  std::vector<SpaceEntry> rows = r->dirs;
  if (a.all || rows.empty()) rows.insert(rows.end(), r->files.begin(), r->files.end());
  auto key = [&](const SpaceEntry& e) -> uint64_t {
    if (a.sort == "size") return e.size;
    if (a.sort == "stored") return e.stored_bytes;
    if (a.sort == "history") return e.history_bytes;
    if (a.sort == "versions") return e.versions;
    return 0;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const SpaceEntry& x, const SpaceEntry& y) {
    if (a.sort == "name") return x.path < y.path;
    if (key(x) != key(y)) return key(x) > key(y);
    return x.path < y.path;
  });
  if (a.json) {
    Json j;
    j["total"] = SpaceJson(r->total);
    j["entries"] = Json::array();
    for (const SpaceEntry& e : rows) j["entries"].push_back(SpaceJson(e));
    PrintJson(j);
    return kExitOk;
  }
  Table table({"SIZE", "STORED", "HISTORY", "VERSIONS", "PATH"},
              {true, true, true, true, false});
  for (const SpaceEntry& e : rows) {
    std::string p = NameForStdout(Shown(e.path, e.kind == FileKind::kDirectory));
    if (e.deleted) p += " (deleted)";
    table.Add({Size(e.size, a.bytes), Size(e.stored_bytes, a.bytes),
               Size(e.history_bytes, a.bytes), std::to_string(e.versions), p});
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunLog(const GlobalOptions& g, const LogArgs& a) {
  int code = kExitOk;
  std::unique_ptr<Bucket> bucket;
  if (!OpenForRead(g, &bucket, &code)) return code;
  auto r = bucket->Log(a.path, a.limit);
  if (!r.ok()) return ReportStatus("log " + a.path, r.status());
  if (a.json) {
    Json arr = Json::array();
    for (const LogEntry& l : *r) {
      Json j;
      PutTime(j, "time", l.time_ns);
      j["seq"] = l.seq.value;
      j["action"] = ActionName(l.action);
      PutName(j, "path", l.path);
      j["type"] = l.kind == FileKind::kDirectory ? "dir"
                  : l.kind == FileKind::kSymlink ? "symlink"
                  : l.kind == FileKind::kRegular ? "file"
                                                 : "special";
      if (l.action == LogEntry::Action::kRename) PutName(j, "old_path", l.old_path);
      if (HasVersion(l)) {
        j["version"] = l.version.value;
        j["size"] = l.size;
        j["size_change"] = l.size_change;
        j["restored_from"] = l.restored_from ? Json(l.restored_from->value) : Json(nullptr);
      }
      arr.push_back(std::move(j));
    }
    PrintJson(arr);
    return kExitOk;
  }
  Table table({"TIME", "ACTION", "VERSION", "SIZE", "CHANGE", "PATH"},
              {false, false, true, true, true, false});
  for (const LogEntry& l : *r) {
    std::string what = ActionName(l.action);
    if (l.restored_from) what += " of " + std::to_string(l.restored_from->value);
    std::string p = NameForStdout(Shown(l.path, l.kind == FileKind::kDirectory));
    if (l.action == LogEntry::Action::kRename) {
      p = NameForStdout(Shown(l.old_path, l.kind == FileKind::kDirectory)) + " -> " + p;
    }
    const bool v = HasVersion(l);
    table.Add({FormatTime(l.time_ns), what, v ? std::to_string(l.version.value) : "-",
               v ? Size(l.size, a.bytes) : "-", v ? Signed(l.size_change, a.bytes) : "-", p});
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunDiff(const GlobalOptions& g, const DiffArgs& a) {
  auto t1 = ParseTimeArg("diff TIME1", a.time1);
  if (!t1) return kExitUsage;
  auto t2 = ParseTimeArg("diff TIME2", a.time2);
  if (!t2) return kExitUsage;
  int code = kExitOk;
  std::unique_ptr<Bucket> bucket;
  if (!OpenForRead(g, &bucket, &code)) return code;
  auto r = bucket->Diff(*t1, *t2, a.path);
  if (!r.ok()) return ReportStatus("diff " + a.path, r.status());
  if (a.json) {
    Json arr = Json::array();
    for (const DiffEntry& d : *r) {
      Json j;
      j["status"] = std::string(1, d.status);
      PutName(j, "path", d.path);
      j["old_version"] = d.old_version ? Json(d.old_version->value) : Json(nullptr);
      j["new_version"] = d.new_version ? Json(d.new_version->value) : Json(nullptr);
      j["old_size"] = d.old_size;
      j["new_size"] = d.new_size;
      arr.push_back(std::move(j));
    }
    PrintJson(arr);
    return kExitOk;
  }
  for (const DiffEntry& d : *r) std::cout << d.status << "\t" << NameForStdout(d.path) << "\n";
  return kExitOk;
}

int RunTreeRestore(const GlobalOptions& g, const RestoreArgs& a) {
  if (a.sel.version) {
    PrintError("restore " + a.key + ": --version N names a version of one file",
               "restore a tree as it was at a time with --at TIME");
    return kExitUsage;
  }
  if (!a.sel.at) {
    PrintError("restore " + a.key + " --to " + a.to + ": as it was when?", "pass --at TIME");
    return kExitUsage;
  }
  auto at = ParseTimeArg("--at", *a.sel.at);
  if (!at) return kExitUsage;
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  auto r = bucket->RestoreTree(*at, a.key, a.to);
  if (!r.ok()) return ReportStatus("restore " + a.key, r.status());
  if (a.json) {
    Json j;
    PutName(j, "path", a.key);
    PutTime(j, "at", *at);
    j["in_place"] = a.to.empty();
    PutName(j, "target", r->target);
    j["files_restored"] = r->files_restored;
    j["unchanged"] = r->unchanged;
    j["dirs_created"] = r->dirs_created;
    j["links_created"] = r->links_created;
    j["specials_created"] = r->specials_created;
    j["attrs_fixed"] = r->attrs_fixed;
    j["deleted"] = r->deleted;
    j["dirs_removed"] = r->dirs_removed;
    PrintJson(j);
    return kExitOk;
  }
  std::cout << "restored " << NameForStdout(a.key) << " as it was at " << FormatTime(*at)
            << (a.to.empty() ? " in place" : " into " + NameForStdout(r->target)) << ": "
            << r->files_restored << " files restored, " << r->unchanged << " unchanged, "
            << r->dirs_created << " directories and " << r->links_created + r->specials_created
            << " links or special files made, " << r->attrs_fixed << " attributes set back";
  if (a.to.empty()) {
    std::cout << "; deleted " << r->deleted << " files and " << r->dirs_removed
              << " directories made after that time (history kept)";
  }
  std::cout << "\n";
  return kExitOk;
}

// A directory (or the root) at the time --at names: the tree restore.
int RunRestoreAny(const GlobalOptions& g, const RestoreArgs& a) {
  if (!a.to.empty()) return RunTreeRestore(g, a);
  if (!a.sel.at || a.sel.version) return RunRestore(g, a);
  if (a.key == "/" || a.key == "." || a.key.empty()) return RunTreeRestore(g, a);
  auto at = ParseTimeArg("--at", *a.sel.at);
  if (!at) return kExitUsage;
  int code = kExitOk;
  std::unique_ptr<Bucket> bucket;
  if (!OpenForRead(g, &bucket, &code)) return code;
  bool dir = false;
  {
    // What the path was at that time decides.
    std::string key = a.key;
    while (!key.empty() && key.back() == '/') key.pop_back();
    Seq s = bucket->SeqAtTime(*at);
    InodeId cur = kRootInode;
    bool found = s.value != 0;
    if (key.empty()) return RunTreeRestore(g, a);
    size_t i = key.front() == '/' ? 1 : 0;
    while (found && i < key.size()) {
      size_t slash = key.find('/', i);
      if (slash == std::string::npos) slash = key.size();
      auto e = bucket->Lookup(cur, key.substr(i, slash - i), s);
      found = e.ok();
      if (found) {
        cur = e->ino;
        dir = e->kind == FileKind::kDirectory;
      }
      i = slash + 1;
    }
    dir = found && dir;
  }
  bucket.reset();
  return dir ? RunTreeRestore(g, a) : RunRestore(g, a);
}

}  // namespace katamari::cli

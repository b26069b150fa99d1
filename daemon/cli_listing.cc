// ls, versions, fsck, gc, stats: the commands that report. Each prints an
// aligned table for people or, with --json, stable field names for scripts.
// Names go through cli_names.h: quoted on a terminal, raw into pipes.
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/cli_commands.h"
#include "daemon/cli_key_arg.h"
#include "daemon/cli_names.h"

namespace katamari::cli {
namespace {

using Json = nlohmann::json;

Json VersionJson(const VersionInfo& v) {
  Json j;
  j["version"] = v.version.value;
  j["size"] = v.size;
  j["stored_bytes"] = v.stored_size;
  j["new_bytes"] = v.new_bytes;
  j["chunks"] = v.chunk_count;
  PutTime(j, "mtime", v.mtime_ns);
  PutTime(j, "committed", v.commit_time_ns);
  j["seq"] = v.seq.value;
  j["sha256"] = v.sha256.Hex();
  j["metadata"] = MetadataJson(v.xattrs);
  j["restored_from"] = v.restored_from ? Json(v.restored_from->value) : Json(nullptr);
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", v.mode & 07777);
  j["mode"] = mode;  // recorded with the version, like uid and gid
  j["uid"] = v.uid;
  j["gid"] = v.gid;
  return j;
}

// "file", or the kind of a special file (an entry without content).
const char* TypeName(FileKind k) {
  switch (k) {
    case FileKind::kFifo: return "fifo";
    case FileKind::kSocket: return "socket";
    case FileKind::kCharDevice: return "char";
    case FileKind::kBlockDevice: return "block";
    default: return "file";
  }
}

// What ls prints where a file's SHA-256 goes: "fifo", "socket",
// "char device 1,3", "block device 8,0" (major,minor as `ls -l` shows them).
std::string SpecialText(const Attr& a) {
  std::string out = IsDevice(a.kind) ? std::string(TypeName(a.kind)) + " device" : TypeName(a.kind);
  if (IsDevice(a.kind)) {
    out += " " + std::to_string(major(a.rdev)) + "," + std::to_string(minor(a.rdev));
  }
  return out;
}

Json ListingJson(const FileListing& f) {
  Json j;
  PutName(j, "key", f.key);
  j["type"] = TypeName(f.attr.kind);
  if (IsDevice(f.attr.kind)) {
    j["rdev_major"] = major(f.attr.rdev);
    j["rdev_minor"] = minor(f.attr.rdev);
  }
  j["deleted"] = f.deleted;
  j["size"] = f.latest ? f.latest->size : f.attr.size;
  j["versions"] = f.version_count;
  j["latest_version"] = f.latest ? Json(f.latest->version.value) : Json(nullptr);
  j["sha256"] = f.latest ? Json(f.latest->sha256.Hex()) : Json(nullptr);
  PutTime(j, "mtime", f.latest ? f.latest->mtime_ns : f.attr.mtime_ns);
  if (f.latest) {
    PutTime(j, "committed", f.latest->commit_time_ns);
  } else {
    j["committed"] = nullptr;
    j["committed_ns"] = nullptr;
  }
  j["metadata"] = MetadataJson(f.latest ? f.latest->xattrs : Xattrs{});
  return j;
}

double Ratio(uint64_t num, uint64_t den) {
  return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

std::string Fixed(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Dedup: logical bytes per distinct chunk byte; compression: distinct chunk
// bytes per stored byte; their product is the overall saving.
Json StatsJson(const BucketStats& s, const BucketSettings& set, size_t key_slots) {
  Json j;
  j["files"] = s.files;
  j["versions"] = s.versions;
  j["chunks"] = s.chunks;
  j["logical_bytes"] = s.logical_bytes;
  j["unique_bytes"] = s.raw_chunk_bytes;
  j["stored_bytes"] = s.stored_bytes;
  j["dedup_ratio"] = Ratio(s.logical_bytes, s.raw_chunk_bytes);
  j["compression_ratio"] = Ratio(s.raw_chunk_bytes, s.stored_bytes);
  j["total_ratio"] = Ratio(s.logical_bytes, s.stored_bytes);
  j["settings"] = {{"compression", CodecName(set.compression)},
                   {"level", set.level},
                   {"versioning", set.versioning},
                   {"delta_chunks", set.delta_chunks},
                   {"chunk_min", set.chunk_min},
                   {"chunk_avg", set.chunk_avg},
                   {"chunk_max", set.chunk_max},
                   {"encrypted", set.encrypted}};
  j["key_slots"] = key_slots;
  return j;
}

}  // namespace

int RunLs(const GlobalOptions& g, const LsArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  // A PREFIX that names a directory means that directory: `ls zlib` lists
  // zlib/..., not zlib-restored/ too (docs/semantics.md, The command line).
  // Any other PREFIX matches the start of keys (`ls zlib-`).
  std::string prefix = a.prefix;
  if (!prefix.empty() && prefix.back() != '/') {
    bool live = true;
    auto attr = LookupKeyAny(*bucket, prefix, &live);
    if (attr.ok() && live && attr->kind == FileKind::kDirectory) prefix += '/';
  }
  auto files = bucket->List(prefix, a.deleted);
  if (!files.ok()) return ReportStatus("ls " + a.prefix, files.status());
  if (a.json) {
    Json arr = Json::array();
    for (const FileListing& f : *files) arr.push_back(ListingJson(f));
    PrintJson(arr);
    return kExitOk;
  }
  std::vector<std::string> header = {"KEY", "SIZE", "VERSIONS", "LATEST", "SHA256", "MODIFIED"};
  std::vector<bool> numeric = {false, true, true, true, false, false};
  if (a.deleted) {
    header.push_back("STATE");
    numeric.push_back(false);
  }
  header.push_back("METADATA");
  numeric.push_back(false);
  Table table(header, numeric);
  for (const FileListing& f : *files) {
    const VersionInfo* v = f.latest ? &*f.latest : nullptr;
    std::vector<std::string> row = {
        NameForStdout(f.key),
        std::to_string(v ? v->size : f.attr.size),
        std::to_string(f.version_count),
        v ? std::to_string(v->version.value) : "-",
        v ? v->sha256.Hex() : IsSpecial(f.attr.kind) ? SpecialText(f.attr) : "-",
        FormatTime(v ? v->mtime_ns : f.attr.mtime_ns)};
    if (a.deleted) row.push_back(f.deleted ? "deleted" : "live");
    row.push_back(MetadataText(v ? v->xattrs : Xattrs{}));
    table.Add(std::move(row));
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunVersions(const GlobalOptions& g, const VersionsArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto t = ParseKeyArg(*bucket, "versions", a.key, {}, {}, KeyArgUse::kVersions, &code);
  if (!t) return code;
  bool live = true;
  auto attr = LookupKeyAny(*bucket, t->key, &live);
  if (attr.ok() && attr->kind == FileKind::kDirectory) {
    std::string dir = t->key;
    while (!dir.empty() && dir.back() == '/') dir.pop_back();
    PrintError("versions " + a.key + ": '" + dir + "' is a directory (directories keep no "
               "versions; their files do)",
               "list its files with 'katamari ls " + ShellQuote(dir + "/") +
                   "', then 'katamari versions " + ShellQuote(dir + "/FILE") + "'");
    return kExitUsage;
  }
  if (attr.ok() && attr->kind != FileKind::kRegular) {
    // Only regular files have content, so only they have versions
    // (docs/semantics.md, Special files).
    const char* what = attr->kind == FileKind::kSymlink      ? "a symbolic link"
                       : attr->kind == FileKind::kFifo       ? "a fifo"
                       : attr->kind == FileKind::kSocket     ? "a socket"
                       : attr->kind == FileKind::kCharDevice ? "a character device"
                                                             : "a block device";
    PrintError("versions " + a.key + ": '" + t->key + "' is " + what +
                   ", which keeps no versions (only regular files have content to version; "
                   "its type, mode, owner and times are kept as they are now)",
               attr->kind == FileKind::kSymlink
                   ? std::string("read its target in the mount (readlink); 'katamari diff' and "
                                 "'katamari log' show when it changed")
                   : "see it with 'katamari ls " + ShellQuote(t->key) + "'");
    return kExitUsage;
  }
  auto versions = bucket->Versions(t->key);
  if (!versions.ok()) return ReportStatus("versions " + a.key, versions.status());
  if (a.json) {
    Json arr = Json::array();
    for (const VersionInfo& v : *versions) arr.push_back(VersionJson(v));
    PrintJson(arr);
    return kExitOk;
  }
  Table table({"VERSION", "SIZE", "STORED", "NEW", "MODIFIED", "COMMITTED", "SHA256",
               "RESTORED_FROM", "METADATA"},
              {true, true, true, true, false, false, false, true, false});
  for (const VersionInfo& v : *versions) {
    table.Add({std::to_string(v.version.value), std::to_string(v.size),
               std::to_string(v.stored_size), std::to_string(v.new_bytes),
               FormatTime(v.mtime_ns), FormatTime(v.commit_time_ns), v.sha256.Hex(),
               v.restored_from ? std::to_string(v.restored_from->value) : "-",
               MetadataText(v.xattrs)});
  }
  table.Print(std::cout);
  return kExitOk;
}

int RunFsck(const GlobalOptions& g, bool json) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  // Fsck counts the bytes of the versions it checked: all of them in the end.
  uint64_t total = 0;
  if (isatty(STDERR_FILENO) == 1) {
    if (auto stats = bucket->Stats(); stats.ok()) total = stats->logical_bytes;
  }
  Progress progress("fsck", total);
  auto report = bucket->Fsck(progress.Fn());
  progress.Finish();
  if (!report.ok()) return ReportStatus("fsck " + g.bucket_dir, report.status());
  const FsckReport& r = *report;
  if (json) {
    Json j;
    j["ok"] = r.ok();
    j["chunks_checked"] = r.chunks_checked;
    j["versions_checked"] = r.versions_checked;
    j["bytes_checked"] = r.bytes_checked;
    j["orphan_chunks"] = r.orphan_chunks;
    j["packs"] = r.packs;
    j["dead_pack_bytes"] = r.dead_pack_bytes;
    j["catalog_ok"] = !r.catalog_damaged;
    j["problems"] = r.problems;
    j["damaged"] = r.damaged;
    PrintJson(j);
  } else {
    // Both name files: quoted on a terminal as ls quotes names.
    for (const std::string& p : r.problems) {
      std::cout << "problem: " << NameForStdout(p) << "\n";
    }
    for (const std::string& d : r.damaged) {
      std::cout << "damaged: " << NameForStdout(d) << "\n";
    }
    std::cout << "checked " << r.versions_checked << " versions, " << r.chunks_checked
              << " chunks (" << FormatBytes(r.bytes_checked) << ")";
    if (r.orphan_chunks > 0) {
      std::cout << "; " << r.orphan_chunks << " unreferenced chunk files ('katamari gc' removes "
                << "them)";
    }
    if (r.dead_pack_bytes > 0) {
      std::cout << "; " << FormatBytes(r.dead_pack_bytes) << " unreferenced in " << r.packs
                << " packs ('katamari gc' reclaims it)";
    }
    std::cout << "\n" << (r.ok() ? "ok" : "FAILED") << "\n";
  }
  if (!r.ok()) {
    PrintError("fsck " + g.bucket_dir + ": " + std::to_string(r.damaged.size()) +
                   " damaged versions, " + std::to_string(r.problems.size()) + " problems" +
                   (r.catalog_damaged ? " (the catalog, catalog.db, is damaged)" : ""),
               r.catalog_damaged
                   ? "restore the bucket from a backup; do not write to it meanwhile"
                   : "write the same content again (it stores the damaged chunks anew), "
                     "restore the damaged versions from a backup, or remove them with "
                     "'katamari rm KEY --version N'");
    return kExitFailure;
  }
  return kExitOk;
}

int RunGc(const GlobalOptions& g, bool json) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  Progress progress("gc", 0, "chunk files");
  auto report = bucket->Gc(progress.Fn());
  progress.Finish();
  if (!report.ok()) return ReportStatus("gc " + g.bucket_dir, report.status());
  if (json) {
    Json j;
    j["chunks_removed"] = report->chunks_removed;
    j["bytes_freed"] = report->bytes_freed;
    j["orphans_removed"] = report->orphans_removed;
    j["packs_removed"] = report->packs_removed;
    j["packs_rewritten"] = report->packs_rewritten;
    j["packs_merged"] = report->packs_merged;
    PrintJson(j);
  } else {
    std::cout << "removed " << report->chunks_removed << " chunks and "
              << report->orphans_removed << " orphan files";
    if (report->packs_removed + report->packs_rewritten + report->packs_merged > 0) {
      std::cout << ", deleted " << report->packs_removed << ", rewrote "
                << report->packs_rewritten << " and merged " << report->packs_merged
                << " packs";
    }
    std::cout << ", freed "
              << FormatBytes(report->bytes_freed) << "\n";
  }
  return kExitOk;
}

int RunStats(const GlobalOptions& g, bool json) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto stats = bucket->Stats();
  if (!stats.ok()) return ReportStatus("stats " + g.bucket_dir, stats.status());
  const BucketStats& s = *stats;
  const BucketSettings& set = bucket->settings();
  auto slots = bucket->ListKeySlots();  // empty on a plain bucket
  if (!slots.ok()) return ReportStatus("stats " + g.bucket_dir, slots.status());
  if (json) {
    PrintJson(StatsJson(s, set, slots->size()));
    return kExitOk;
  }
  std::cout << "files:             " << s.files << "\n"
            << "versions:          " << s.versions << "\n"
            << "chunks:            " << s.chunks << "\n"
            << "logical bytes:     " << s.logical_bytes << " (" << FormatBytes(s.logical_bytes)
            << ")\n"
            << "unique bytes:      " << s.raw_chunk_bytes << " ("
            << FormatBytes(s.raw_chunk_bytes) << ")\n"
            << "stored bytes:      " << s.stored_bytes << " (" << FormatBytes(s.stored_bytes)
            << ")\n"
            << "dedup ratio:       " << Fixed(Ratio(s.logical_bytes, s.raw_chunk_bytes)) << "\n"
            << "compression ratio: " << Fixed(Ratio(s.raw_chunk_bytes, s.stored_bytes)) << "\n"
            << "total ratio:       " << Fixed(Ratio(s.logical_bytes, s.stored_bytes)) << "\n"
            << "settings:          " << CodecName(set.compression) << " level " << set.level
            << ", versioning " << (set.versioning ? "on" : "off")
            << ", delta chunks " << (set.delta_chunks ? "on" : "off") << ", chunks "
            << set.chunk_min << "/" << set.chunk_avg << "/" << set.chunk_max << " bytes\n"
            << "encryption:        ";
  if (set.encrypted) {
    std::cout << "AES-256-GCM, " << slots->size() << " key slot" << (slots->size() == 1 ? "" : "s")
              << " (opened with slot " << bucket->unlocked_slot() << ")\n";
  } else {
    std::cout << "none\n";
  }
  return kExitOk;
}

}  // namespace katamari::cli

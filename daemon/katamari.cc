// katamari: the bucket's admin tool (SPEC §9).
//
//   katamari [-b BUCKET_DIR] COMMAND ...
//
// This file only wires the command line (CLI11) to the commands in
// cli_commands.h. CLI11 reports usage errors with exceptions; they are caught
// here and become exit code 2, so nothing else in the CLI throws.
#include <cstdlib>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "daemon/cli_commands.h"

namespace katamari::cli {
namespace {

constexpr const char* kDefaultBucket = "./storage/my_bucket";

struct AllArgs {
  GlobalOptions g;
  InitArgs init;
  PutArgs put;
  GetArgs get;
  RmArgs rm;
  RestoreArgs restore;
  LsArgs ls;
  VersionsArgs versions;
  bool fsck_json = false, gc_json = false, stats_json = false;
};

void AddSelector(CLI::App* cmd, SelectorArgs* sel, const char* verb) {
  auto* v = cmd->add_option("--version", sel->version,
                            std::string("the version number to ") + verb)
                ->check(CLI::PositiveNumber);
  auto* at = cmd->add_option("--at", sel->at,
                             std::string("the version current at TIME to ") + verb +
                                 " (2026-11-25T10:00:00Z, 2026-11-25T10:00Z, 2026-11-25 = end "
                                 "of that day UTC, or @UNIX_SECONDS)");
  v->excludes(at);
}

void AddContentCommands(CLI::App& app, AllArgs& a) {
  auto* init = app.add_subcommand("init", "create a bucket in BUCKET_DIR");
  init->add_option("--compression", a.init.compression, "codec for new chunks")
      ->check(CLI::IsMember({"zstd", "zstandard", "zlib", "none"}))
      ->capture_default_str();
  init->add_option("--level", a.init.level, "compression level (zstd 1-19, zlib 1-9)");
  init->add_flag("--no-versioning", a.init.no_versioning,
                 "keep only the newest version of each file");
  init->add_option("--chunk-min", a.init.chunk_min, "smallest chunk (SIZE, e.g. 16K)");
  init->add_option("--chunk-avg", a.init.chunk_avg, "average chunk (SIZE, e.g. 64K)");
  init->add_option("--chunk-max", a.init.chunk_max, "largest chunk (SIZE, e.g. 256K)");
  init->add_flag("--encrypt", a.init.encrypt, "encrypt the bucket (not available yet)");

  auto* put = app.add_subcommand("put", "store FILE (or stdin) as the next version of KEY; "
                                        "prints its sha256");
  put->add_option("key", a.put.key, "key, e.g. docs/report.txt")->required();
  put->add_option("file", a.put.file, "file to store, '-' for stdin")->capture_default_str();
  put->add_option("--meta", a.put.meta, "metadata k=v (repeatable), kept as xattr user.k")
      ->allow_extra_args(false);
  put->add_option("--mode", a.put.mode, "permission bits in octal (default: FILE's, or 0644)");

  auto* get = app.add_subcommand("get", "write a version of KEY to stdout or -o FILE");
  get->add_option("key", a.get.key, "key")->required();
  AddSelector(get, &a.get.sel, "get");
  get->add_option("-o,--output", a.get.output, "write to FILE (atomically) instead of stdout");

  auto* rm = app.add_subcommand("rm", "delete KEY (history kept), one version, or all of it");
  rm->add_option("key", a.rm.key, "key")->required();
  auto* rv = rm->add_option("--version", a.rm.version, "delete only version N, permanently")
                 ->check(CLI::PositiveNumber);
  auto* purge = rm->add_flag("--purge", a.rm.purge, "delete KEY and every version, permanently");
  rv->excludes(purge);

  auto* restore = app.add_subcommand(
      "restore", "make an old version of KEY current again (a new version, no data copied)");
  restore->add_option("key", a.restore.key, "key")->required();
  AddSelector(restore, &a.restore.sel, "restore");
}

void AddReportCommands(CLI::App& app, AllArgs& a) {
  auto* ls = app.add_subcommand("ls", "list files: size, versions, latest, sha256, time, "
                                      "metadata");
  ls->add_option("prefix", a.ls.prefix, "only keys starting with PREFIX");
  ls->add_flag("--deleted", a.ls.deleted, "also list deleted files whose history is kept");
  ls->add_flag("--json", a.ls.json, "print JSON");

  auto* versions = app.add_subcommand("versions", "the history of KEY");
  versions->add_option("key", a.versions.key, "key")->required();
  versions->add_flag("--json", a.versions.json, "print JSON");

  app.add_subcommand("fsck", "read and verify every chunk and version; exit 1 on damage")
      ->add_flag("--json", a.fsck_json, "print JSON");
  app.add_subcommand("gc", "delete chunks nothing references any more")
      ->add_flag("--json", a.gc_json, "print JSON");
  app.add_subcommand("stats", "files, versions, chunks, bytes and savings")
      ->add_flag("--json", a.stats_json, "print JSON");
}

int Dispatch(CLI::App& app, const AllArgs& a) {
  const GlobalOptions& g = a.g;
  if (app.got_subcommand("init")) return RunInit(g, a.init);
  if (app.got_subcommand("put")) return RunPut(g, a.put);
  if (app.got_subcommand("get")) return RunGet(g, a.get);
  if (app.got_subcommand("rm")) return RunRm(g, a.rm);
  if (app.got_subcommand("restore")) return RunRestore(g, a.restore);
  if (app.got_subcommand("ls")) return RunLs(g, a.ls);
  if (app.got_subcommand("versions")) return RunVersions(g, a.versions);
  if (app.got_subcommand("fsck")) return RunFsck(g, a.fsck_json);
  if (app.got_subcommand("gc")) return RunGc(g, a.gc_json);
  if (app.got_subcommand("stats")) return RunStats(g, a.stats_json);
  return kExitUsage;  // unreachable: a subcommand is required
}

int Main(int argc, char** argv) {
  CLI::App app("katamari: admin tool for a katamarifs bucket", "katamari");
  app.require_subcommand(1);
  app.fallthrough();  // -b works after the command name too
  AllArgs a;
  app.add_option("-b,--bucket", a.g.bucket_dir,
                 "bucket directory (default: $KATAMARI_BUCKET, else ./storage/my_bucket)");
  AddContentCommands(app, a);
  AddReportCommands(app, a);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    PrintError(e.what(), "see 'katamari --help' or 'katamari COMMAND --help'");
    return kExitUsage;
  }
  if (a.g.bucket_dir.empty()) {
    const char* env = std::getenv("KATAMARI_BUCKET");
    a.g.bucket_dir = env && *env ? env : kDefaultBucket;
  }
  return Dispatch(app, a);
}

}  // namespace
}  // namespace katamari::cli

int main(int argc, char** argv) { return katamari::cli::Main(argc, argv); }

// katamari: the bucket's admin tool (docs/semantics.md, The command line).
//
//   katamari [-b BUCKET_DIR] [--keyfile FILE | --passphrase-file FILE] COMMAND ...
//
// This file only wires the command line (CLI11) to the commands in
// cli_commands.h. CLI11 reports usage errors with exceptions; they are caught
// here and become exit code 2, so nothing else in the CLI throws.
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "daemon/cli_commands.h"
#include "daemon/cli_policy.h"

namespace katamari::cli {
namespace {

constexpr const char* kDefaultBucket = "./storage/my_bucket";

struct AllArgs {
  GlobalOptions g;
  std::string keyfile, passphrase_file;  // as given; ResolveKey fills g.key
  InitArgs init;
  PutArgs put;
  GetArgs get;
  RmArgs rm;
  RestoreArgs restore;
  LsArgs ls;
  VersionsArgs versions;
  KeyArgs key;
  PolicyArgs policy;
  bool fsck_json = false, gc_json = false, stats_json = false;
  TreeStatsArgs tree_stats;
  DuArgs du;
  LogArgs log;
  DiffArgs diff;
};

// A whole number from 1 to `max`, checked as typed: CLI11's own checks say
// "Value 0 not in range 0.000000 to <300 digits>" and wrap an overflow to
// UINT64_MAX. `fix` ends the message ("versions are numbered from 1...").
CLI::Validator Counting(const std::string& fix, uint64_t max = UINT64_MAX) {
  return CLI::Validator(
      [fix, max](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
            ptr != end) {
          return "'" + text + "' is not a whole number; " + fix;
        }
        if (ec == std::errc::result_out_of_range || v > max) {
          return text + " is too large (at most " + std::to_string(max) + "); " + fix;
        }
        if (v == 0) return "0 is not allowed; " + fix;
        return "";
      },
      "N");
}

// A whole number, possibly negative, that fits an int (CLI11 would say
// "Could not convert: --level = abc").
CLI::Validator Integer(const std::string& fix) {
  return CLI::Validator(
      [fix](std::string& text) -> std::string {
        int v = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || ptr != end) {
          return "'" + text + "' is not a whole number; " + fix;
        }
        return "";
      },
      "N");
}

constexpr char kVersionFix[] =
    "versions are numbered from 1 ('katamari versions KEY' lists them)";

void AddSelector(CLI::App* cmd, SelectorArgs* sel, const char* verb) {
  auto* v = cmd->add_option("--version", sel->version,
                            std::string("the version number to ") + verb +
                                " (or write KEY@N)")
                ->check(Counting(kVersionFix));
  auto* at = cmd->add_option("--at", sel->at,
                             std::string("the version current at TIME to ") + verb +
                                 " (2026-11-25T10:00:00Z, 2026-11-25T11:00+01:00, 2026-11-25 = "
                                 "end of that day UTC, or unix:SECONDS)");
  v->excludes(at);
}

void AddContentCommands(CLI::App& app, AllArgs& a) {
  auto* init = app.add_subcommand("init", "create a bucket in BUCKET_DIR");
  init->add_option("--compression", a.init.compression, "codec for new chunks")
      ->check(CLI::IsMember({"zstd", "zstandard", "zlib", "none"}))
      ->capture_default_str();
  init->add_option("--level", a.init.level, "compression level (zstd 1-19, zlib 1-9)")
      ->check(Integer("give the compression level: zstd 1-19, zlib 1-9"));
  init->add_flag("--no-versioning", a.init.no_versioning,
                 "keep only the newest version of each file");
  init->add_flag("--no-delta", a.init.no_delta,
                 "store every changed chunk whole, never as a patch against the one it replaces");
  init->add_option("--chunk-min", a.init.chunk_min, "smallest chunk (SIZE, e.g. 16K)");
  init->add_option("--chunk-avg", a.init.chunk_avg, "average chunk (SIZE, e.g. 64K)");
  init->add_option("--chunk-max", a.init.chunk_max, "largest chunk (SIZE, e.g. 256K)");
  init->add_flag("--encrypt", a.init.encrypt,
                 "encrypt the bucket (AES-256-GCM) with --keyfile FILE (made if missing), "
                 "--passphrase-file FILE, or a passphrase typed on the terminal");
  init->add_option("--data", a.init.data,
                   "keep chunk data on an object store: s3://HOST:PORT/BUCKET/PREFIX (or "
                   "file:///DIR); the catalog stays in BUCKET_DIR")
      ->type_name("URL");
  init->add_option("--data-credentials", a.init.data_credentials,
                   "file with access_key_id and secret_access_key (mode 600) for --data; "
                   "default $KATAMARI_S3_CREDENTIALS, then $AWS_ACCESS_KEY_ID and "
                   "$AWS_SECRET_ACCESS_KEY")
      ->type_name("FILE");

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
  get->add_option("-o,--output", a.get.output,
                  "write to FILE as cp would (a regular file is replaced atomically, a "
                  "symlink followed, a device or fifo written into) instead of stdout");

  auto* rm = app.add_subcommand("rm", "delete KEY (history kept), one version, or all of it");
  rm->add_option("key", a.rm.key, "key")->required();
  auto* rv = rm->add_option("--version", a.rm.version,
                            "delete only version N, permanently (or write KEY@N)")
                 ->check(Counting(kVersionFix));
  auto* purge = rm->add_flag("--purge", a.rm.purge,
                             "delete KEY and every version, permanently (asks on a terminal)");
  rv->excludes(purge);
  rm->add_flag("-y,--yes", a.rm.yes, "--purge without asking (needed without a terminal)");

  auto* restore = app.add_subcommand(
      "restore", "make an old version of KEY current again (a new version, no data copied); "
                 "with --at TIME and a directory, the whole tree as it was");
  restore->add_option("key", a.restore.key,
                      "key; or with --at, a directory (or / for the whole bucket) to bring "
                      "back as a tree")->required();
  AddSelector(restore, &a.restore.sel, "restore");
  restore->add_option("--to", a.restore.to,
                      "restore the tree (or file) into TARGET, which must not exist or be "
                      "an empty directory, instead of in place")->type_name("TARGET");
  restore->add_flag("--json", a.restore.json, "print JSON");
}

void AddTreeCommands(CLI::App& app, AllArgs& a) {
  auto* du = app.add_subcommand(
      "du", "space per directory like du(1): size, stored bytes, bytes only history holds");
  du->add_option("path", a.du.path, "a directory or file (default: the whole bucket)");
  du->add_flag("-a,--all", a.du.all, "list files too, not only directories");
  du->add_option("--sort", a.du.sort, "order: name, or largest first by size, stored, "
                                      "history or versions")
      ->check(CLI::IsMember({"name", "size", "stored", "history", "versions"}))
      ->capture_default_str();
  du->add_flag("--bytes", a.du.bytes, "exact byte counts instead of K/M/G");
  du->add_flag("--json", a.du.json, "print JSON");

  auto* log = app.add_subcommand("log", "the commits that touched a file or tree, newest first");
  log->add_option("path", a.log.path, "a file or directory (default: the whole bucket)");
  log->add_option("-n,--max-count", a.log.limit, "show only the newest N entries")
      ->check(CLI::PositiveNumber);
  log->add_flag("--bytes", a.log.bytes, "exact byte counts instead of K/M/G");
  log->add_flag("--json", a.log.json, "print JSON");

  auto* diff = app.add_subcommand(
      "diff", "files added (A), removed (D) and changed (M) between two times");
  diff->add_option("time1", a.diff.time1, "the earlier time (as --at takes it, or now)")
      ->required();
  diff->add_option("time2", a.diff.time2, "the later time (as --at takes it, or now)")
      ->required();
  diff->add_option("path", a.diff.path, "only under this directory (default: everything)");
  diff->add_flag("--json", a.diff.json, "print JSON");
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
  auto* stats = app.add_subcommand("stats", "files, versions, chunks, bytes and savings; "
                                             "with PATH, the space a tree and its history take");
  stats->add_flag("--json", a.stats_json, "print JSON");
  stats->add_option("path", a.tree_stats.path, "a directory or file ('/' = the whole bucket)");
  stats->add_flag("--bytes", a.tree_stats.bytes, "exact byte counts instead of K/M/G");
  AddTreeCommands(app, a);
}

// --new-keyfile / --new-passphrase-file of `key add` and `key change`.
void AddNewKeyOptions(CLI::App* cmd, KeyArgs* k) {
  auto* kf = cmd->add_option("--new-keyfile", k->new_keyfile,
                             "the new key: a key file (32 random bytes, made if missing)")
                 ->type_name("FILE");
  auto* pf = cmd->add_option("--new-passphrase-file", k->new_passphrase_file,
                             "the new key: a passphrase file (without either, the new "
                             "passphrase is asked on the terminal)")
                 ->type_name("FILE");
  kf->excludes(pf);
}

void AddKeyCommands(CLI::App& app, AllArgs& a) {
  auto* key = app.add_subcommand(
      "key",
      "list, add, change or remove the key slots of an encrypted bucket (no data is "
      "re-encrypted)");
  key->require_subcommand(1);
  key->add_subcommand("list", "the key slots: id, kind, creation time, scrypt cost, label")
      ->add_flag("--json", a.key.json, "print JSON");
  auto* add = key->add_subcommand("add", "add a key slot: another key that opens the bucket");
  AddNewKeyOptions(add, &a.key);
  add->add_option("--label", a.key.label, "a note shown by 'key list', e.g. recovery")
      ->type_name("LABEL");
  auto* change = key->add_subcommand(
      "change", "make the slot that opened the bucket open with a new key instead");
  AddNewKeyOptions(change, &a.key);
  key->add_subcommand("remove", "remove a key slot (never the last one)")
      ->add_option("slot", a.key.slot, "the slot's id, as 'key list' shows it")
      ->required()
      ->check(Counting("slots are numbered from 1 ('katamari key list' shows them)",
                       UINT32_MAX));
}

int DispatchKey(const CLI::App& key, const AllArgs& a) {
  if (key.got_subcommand("list")) return RunKeyList(a.g, a.key);
  if (key.got_subcommand("add")) return RunKeyAdd(a.g, a.key);
  if (key.got_subcommand("change")) return RunKeyChange(a.g, a.key);
  if (key.got_subcommand("remove")) return RunKeyRemove(a.g, a.key);
  return kExitUsage;  // unreachable: a subcommand is required
}

// The key: --keyfile / --passphrase-file, else $KATAMARI_KEYFILE, else
// $KATAMARI_PASSPHRASE_FILE. Prints a usage error and returns false if both
// variables are set and no option decides.
bool ResolveKey(const AllArgs& a, GlobalOptions* g) {
  if (!a.keyfile.empty()) {
    g->key = BucketKey::KeyFile(a.keyfile);
    g->key_origin = "--keyfile";
    return true;
  }
  if (!a.passphrase_file.empty()) {
    g->key = BucketKey::PassphraseFile(a.passphrase_file);
    g->key_origin = "--passphrase-file";
    return true;
  }
  const char* kf = std::getenv("KATAMARI_KEYFILE");
  const char* pf = std::getenv("KATAMARI_PASSPHRASE_FILE");
  const bool has_kf = kf && *kf, has_pf = pf && *pf;
  if (has_kf && has_pf) {
    PrintError("both $KATAMARI_KEYFILE and $KATAMARI_PASSPHRASE_FILE are set",
               "unset one of them, or pass --keyfile FILE or --passphrase-file FILE");
    return false;
  }
  if (has_kf) {
    g->key = BucketKey::KeyFile(kf);
    g->key_origin = "$KATAMARI_KEYFILE";
  } else if (has_pf) {
    g->key = BucketKey::PassphraseFile(pf);
    g->key_origin = "$KATAMARI_PASSPHRASE_FILE";
  }
  return true;
}

int Dispatch(CLI::App& app, const AllArgs& a) {
  const GlobalOptions& g = a.g;
  if (app.got_subcommand("init")) return RunInit(g, a.init);
  if (app.got_subcommand("put")) return RunPut(g, a.put);
  if (app.got_subcommand("get")) return RunGet(g, a.get);
  if (app.got_subcommand("rm")) return RunRm(g, a.rm);
  if (app.got_subcommand("restore")) return RunRestoreAny(g, a.restore);
  if (app.got_subcommand("ls")) return RunLs(g, a.ls);
  if (app.got_subcommand("versions")) return RunVersions(g, a.versions);
  if (app.got_subcommand("fsck")) return RunFsck(g, a.fsck_json);
  if (app.got_subcommand("gc")) return RunGc(g, a.gc_json);
  if (app.got_subcommand("stats")) {
    if (a.tree_stats.path.empty()) return RunStats(g, a.stats_json);
    TreeStatsArgs s = a.tree_stats;
    s.json = a.stats_json;
    return RunTreeStats(g, s);
  }
  if (app.got_subcommand("du")) return RunDu(g, a.du);
  if (app.got_subcommand("log")) return RunLog(g, a.log);
  if (app.got_subcommand("diff")) return RunDiff(g, a.diff);
  if (app.got_subcommand("key")) return DispatchKey(*app.get_subcommand("key"), a);
  if (auto code = DispatchPolicy(app, g, a.policy)) return *code;
  return kExitUsage;  // unreachable: a subcommand is required
}

// The first word that is not a global option, when it names no command
// ("katamari forget"): CLI11 would only say "A subcommand is required".
std::optional<std::string> UnknownCommand(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view w = argv[i];
    if (w == "--") return std::nullopt;
    if (w.starts_with("-")) {
      // Global options that take a value in the next word.
      if (w == "-b" || w == "--bucket" || w == "--keyfile" || w == "--passphrase-file" ||
          w == "--scrypt-n") {
        ++i;
      }
      continue;
    }
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->check_name(std::string(w))) return std::nullopt;
    }
    return std::string(w);
  }
  return std::nullopt;
}

std::string CommandNames(const CLI::App& app) {
  std::string out;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (!out.empty()) out += ", ";
    out += sub->get_name();
  }
  return out;
}

int Main(int argc, char** argv) {
  CLI::App app("katamari: admin tool for a katamarifs bucket", "katamari");
  app.require_subcommand(1);
  app.set_version_flag("-V,--version", std::string("katamari ") + KATAMARI_VERSION,
                       "print the version and exit (after COMMAND, --version is its option)");
  app.fallthrough();  // -b works after the command name too
  AllArgs a;
  app.add_option("-b,--bucket", a.g.bucket_dir,
                 "bucket directory (default: $KATAMARI_BUCKET, else ./storage/my_bucket)");
  auto* kf = app.add_option("--keyfile", a.keyfile,
                            "key file of an encrypted bucket: 32 random bytes, mode 0600 "
                            "(default: $KATAMARI_KEYFILE)")
                 ->type_name("FILE");
  auto* pf = app.add_option("--passphrase-file", a.passphrase_file,
                            "file holding the passphrase of an encrypted bucket, mode 0600 "
                            "(default: $KATAMARI_PASSPHRASE_FILE; else asked on the terminal)")
                 ->type_name("FILE");
  kf->excludes(pf);
  // Hidden: a cheaper scrypt for new passphrase slots, so tests run fast.
  app.add_option("--scrypt-n", a.g.scrypt_n, "scrypt N of new passphrase slots")->group("");
  AddContentCommands(app, a);
  AddReportCommands(app, a);
  AddKeyCommands(app, a);
  AddPolicyCommands(app, a.policy);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ValidationError& e) {
    // Our validators (Counting, Integer) say the fix after "; " themselves.
    std::string what = e.what();
    PrintError(what, what.find("; ") == std::string::npos
                         ? "see 'katamari --help' or 'katamari COMMAND --help'"
                         : "");
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    if (auto unknown = UnknownCommand(app, argc, argv)) {
      PrintError("unknown command '" + *unknown + "'",
                 "the commands are " + CommandNames(app) + "; see 'katamari --help'");
      return kExitUsage;
    }
    if (app.get_subcommands().empty()) {
      PrintError("no command given",
                 "the commands are " + CommandNames(app) + "; see 'katamari --help'");
      return kExitUsage;
    }
    PrintError(e.what(), "see 'katamari --help' or 'katamari COMMAND --help'");
    return kExitUsage;
  }
  if (a.g.bucket_dir.empty()) {
    const char* env = std::getenv("KATAMARI_BUCKET");
    a.g.bucket_dir = env && *env ? env : kDefaultBucket;
  }
  if (!ResolveKey(a, &a.g)) return kExitUsage;
  return Dispatch(app, a);
}

}  // namespace
}  // namespace katamari::cli

int main(int argc, char** argv) { return katamari::cli::Main(argc, argv); }

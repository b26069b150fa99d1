// The `katamari` commands (docs/semantics.md, The command line). katamari.cc parses the command
// line with CLI11 into these option structs; each Run* returns the process exit code
// (cli_support.h) and prints its own errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/cli_support.h"

namespace katamari::cli {

// --version N / --at TIME, as typed (TIME parsed by the command).
struct SelectorArgs {
  std::optional<uint64_t> version;
  std::optional<std::string> at;
};

struct InitArgs {
  std::string compression = "zstd";
  std::optional<int> level;
  bool no_versioning = false;
  bool no_delta = false;
  bool encrypt = false;
  std::optional<std::string> chunk_min, chunk_avg, chunk_max;
  std::optional<std::string> data;              // s3://HOST:PORT/BUCKET/PREFIX, file:///DIR
  std::optional<std::string> data_credentials;  // a file; never the secrets themselves
};
int RunInit(const GlobalOptions& g, const InitArgs& a);

struct PutArgs {
  std::string key;
  std::string file = "-";
  std::vector<std::string> meta;  // "k=v"
  std::optional<std::string> mode;
};
int RunPut(const GlobalOptions& g, const PutArgs& a);

struct GetArgs {
  std::string key;
  SelectorArgs sel;
  std::optional<std::string> output;
};
int RunGet(const GlobalOptions& g, const GetArgs& a);

struct RmArgs {
  std::string key;
  std::optional<uint64_t> version;
  bool purge = false;
  bool yes = false;  // --purge without asking
};
// KEY (a delete marker; history kept), KEY@N / --version N (that version,
// permanently) or --purge (every version; asks on a terminal unless --yes).
// Says what it removed.
int RunRm(const GlobalOptions& g, const RmArgs& a);

struct RestoreArgs {
  std::string key;
  SelectorArgs sel;
  std::string to;  // --to TARGET (cli_history.cc): a tree restored elsewhere
  bool json = false;
};
int RunRestore(const GlobalOptions& g, const RestoreArgs& a);

struct LsArgs {
  std::string prefix;
  bool deleted = false;
  bool json = false;
};
int RunLs(const GlobalOptions& g, const LsArgs& a);

struct VersionsArgs {
  std::string key;
  bool json = false;
};
int RunVersions(const GlobalOptions& g, const VersionsArgs& a);

int RunFsck(const GlobalOptions& g, bool json);
int RunGc(const GlobalOptions& g, bool json);
int RunStats(const GlobalOptions& g, bool json);

// Whole trees (cli_history.cc; docs/semantics.md, Whole trees).
struct TreeStatsArgs {
  std::string path;
  bool json = false, bytes = false;
};
int RunTreeStats(const GlobalOptions& g, const TreeStatsArgs& a);  // `stats PATH`
struct DuArgs {
  std::string path;
  bool all = false, json = false, bytes = false;
  std::string sort = "name";  // name, size, stored, history, versions
};
int RunDu(const GlobalOptions& g, const DuArgs& a);
struct LogArgs {
  std::string path;
  size_t limit = 0;  // -n N; 0: all
  bool json = false, bytes = false;
};
int RunLog(const GlobalOptions& g, const LogArgs& a);
struct DiffArgs {
  std::string time1, time2, path;
  bool json = false;
};
int RunDiff(const GlobalOptions& g, const DiffArgs& a);
// `restore KEY ...` as before for a file; `restore --at TIME DIR [--to
// TARGET]` (a directory at TIME, the root "/", or any --to) restores a tree.
int RunRestoreAny(const GlobalOptions& g, const RestoreArgs& a);
int RunTreeRestore(const GlobalOptions& g, const RestoreArgs& a);
int64_t NowNsForCli();

// `key list|add|change|remove`: the key slots of an encrypted bucket
// (docs/encryption.md). None of them re-encrypts data.
struct KeyArgs {
  bool json = false;                // list
  std::string new_keyfile;          // add, change: made if it does not exist
  std::string new_passphrase_file;  // add, change (neither: asked on the terminal)
  std::string label;                // add
  uint32_t slot = 0;                // remove
};
int RunKeyList(const GlobalOptions& g, const KeyArgs& a);
int RunKeyAdd(const GlobalOptions& g, const KeyArgs& a);
// Replaces the slot that opened the bucket (a passphrase change).
int RunKeyChange(const GlobalOptions& g, const KeyArgs& a);
// Refused for the last slot.
int RunKeyRemove(const GlobalOptions& g, const KeyArgs& a);

}  // namespace katamari::cli

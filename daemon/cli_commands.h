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
  bool encrypt = false;
  std::optional<std::string> chunk_min, chunk_avg, chunk_max;
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

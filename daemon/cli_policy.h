// `katamari policy`, `katamari prune` and `katamari exclude` (docs/semantics.md,
// Retention and excludes): their command-line wiring (CLI11) and the commands.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "daemon/cli_support.h"

namespace katamari::cli {

struct PolicyArgs {
  std::optional<std::string> path;  // policy set/clear --path PATTERN
  std::vector<std::string> rules;   // policy set: RULE=VALUE words
  bool json = false;                // policy show/log, exclude list, prune
  bool dry_run = false;             // prune
  std::string prune_path;           // prune [PATH]
  std::string pattern;              // exclude add/remove
};

// Adds the policy, prune and exclude commands to `app`.
void AddPolicyCommands(CLI::App& app, PolicyArgs& a);
// Runs whichever of them was given; nullopt if none was.
std::optional<int> DispatchPolicy(const CLI::App& app, const GlobalOptions& g,
                                  const PolicyArgs& a);

}  // namespace katamari::cli

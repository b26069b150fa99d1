// `katamari policy set|show|clear|log`, `katamari prune`, `katamari exclude
// list|add|remove|reset` (docs/semantics.md, Retention and excludes).
#include "daemon/cli_policy.h"

#include <iostream>

#include "daemon/cli_names.h"

namespace katamari::cli {
namespace {

std::string PatternLabel(const std::string& pattern) {
  return pattern.empty() ? "(default)" : pattern;
}

// --path given as '' (or only slashes) is a usage error, not the default.
bool CheckPathOption(const std::optional<std::string>& path, const char* verb) {
  if (!path) return true;
  Status st = ValidatePattern(*path);
  if (st.ok()) return true;
  PrintError(std::string("policy ") + verb + " --path: " + st.message(),
             std::string("leave --path out for the default rules, or give a pattern such as "
                         "--path '*.log'"));
  return false;
}

nlohmann::json RulesJson(const RetentionRules& r) {
  nlohmann::json j = nlohmann::json::object();
  auto count = [&](const char* k, const std::optional<uint64_t>& v) {
    if (v) j[k] = *v;
  };
  count("keep-last", r.keep_last);
  count("keep-hourly", r.keep_hourly);
  count("keep-daily", r.keep_daily);
  count("keep-weekly", r.keep_weekly);
  count("keep-monthly", r.keep_monthly);
  count("keep-yearly", r.keep_yearly);
  if (r.keep_within_ns) j["keep-within"] = FormatDuration(*r.keep_within_ns);
  if (r.deleted_for_ns) j["deleted-for"] = FormatDuration(*r.deleted_for_ns);
  return j;
}

int RunPolicySet(const GlobalOptions& g, const PolicyArgs& a) {
  if (!CheckPathOption(a.path, "set")) return kExitUsage;
  auto rules = RetentionRules::Parse(a.rules);
  if (!rules.ok()) return ReportStatus("policy set", rules.status());
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  const std::string pattern = a.path.value_or("");
  Status st = bucket->SetPolicy(pattern, *rules);
  if (!st.ok()) return ReportStatus("policy set", st);
  std::cout << "retention for " << (pattern.empty() ? "every other file" : pattern) << ": "
            << rules->ToString() << "\n";
  return kExitOk;
}

int RunPolicyShow(const GlobalOptions& g, const PolicyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto policy = bucket->Policy();
  if (!policy.ok()) return ReportStatus("policy show", policy.status());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const PolicyEntry& e : *policy) {
      nlohmann::json j;
      j["pattern"] = e.pattern;
      j["default"] = e.pattern.empty();
      j["rules"] = RulesJson(e.rules);
      j["text"] = e.rules.ToString();
      out.push_back(std::move(j));
    }
    PrintJson(out);
    return kExitOk;
  }
  if (policy->empty()) {
    std::cout << "no retention policy: every version is kept (set one with `katamari policy "
                 "set keep-last=N ...`)\n";
    return kExitOk;
  }
  Table t({"PATTERN", "RULES"}, {false, false});
  for (const PolicyEntry& e : *policy) t.Add({PatternLabel(e.pattern), e.rules.ToString()});
  t.Print(std::cout);
  return kExitOk;
}

int RunPolicyClear(const GlobalOptions& g, const PolicyArgs& a) {
  if (!CheckPathOption(a.path, "clear")) return kExitUsage;
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  const std::string pattern = a.path.value_or("");
  Status st = bucket->ClearPolicy(pattern);
  if (!st.ok()) return ReportStatus("policy clear", st);
  std::cout << "cleared the retention rules of " << PatternLabel(pattern) << "\n";
  return kExitOk;
}

int RunPolicyLog(const GlobalOptions& g, const PolicyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto log = bucket->PolicyLog();
  if (!log.ok()) return ReportStatus("policy log", log.status());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const PolicyChange& c : *log) {
      nlohmann::json j;
      PutTime(j, "time", c.time_ns);
      j["action"] = c.action;
      j["pattern"] = c.pattern;
      j["rules"] = c.rules;
      out.push_back(std::move(j));
    }
    PrintJson(out);
    return kExitOk;
  }
  Table t({"TIME", "CHANGE", "PATTERN", "RULES"}, {false, false, false, false});
  for (const PolicyChange& c : *log) {
    const bool policy = c.action.starts_with("policy");
    t.Add({FormatTime(c.time_ns), c.action,
           policy ? PatternLabel(c.pattern) : (c.pattern.empty() ? "-" : c.pattern),
           c.rules.empty() ? "-" : c.rules});
  }
  t.Print(std::cout);
  return kExitOk;
}

// "1-3, 5, 7-9": runs of consecutive numbers (sorted) as ranges.
std::string VersionList(const std::vector<uint64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

int RunPrune(const GlobalOptions& g, const PolicyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/a.dry_run, &code);
  if (!bucket) return code;
  PruneOptions opts;
  opts.dry_run = a.dry_run;
  opts.path = a.prune_path;
  if (!a.prune_path.empty()) {
    // A PATH that names nothing is more likely a typo than a wish to prune nothing.
    auto listed = bucket->List("", /*include_deleted=*/true);
    if (!listed.ok()) return ReportStatus("prune " + a.prune_path, listed.status());
    std::string root = a.prune_path;
    while (!root.empty() && root.back() == '/') root.pop_back();
    while (!root.empty() && root.front() == '/') root.erase(0, 1);
    bool any = false;
    for (const FileListing& f : *listed) {
      if (root.empty() || f.key == root || f.key.starts_with(root + "/")) any = true;
    }
    if (!any) {
      PrintError("prune " + a.prune_path + ": no file at or under that path",
                 "`katamari ls --deleted` lists the files; leave PATH out to prune the whole "
                 "bucket");
      return kExitFailure;
    }
  }
  auto report = bucket->Prune(opts);
  if (!report.ok()) return ReportStatus("prune", report.status());
  if (a.json) {
    nlohmann::json out;
    out["dry_run"] = report->dry_run;
    out["files_checked"] = report->files_checked;
    out["versions_removed"] = report->versions_removed;
    out["versions_in_use"] = report->versions_in_use;
    out["bytes_freed"] = report->bytes_freed;
    nlohmann::json files = nlohmann::json::array();
    for (const PruneFile& f : report->files) {
      nlohmann::json j;
      PutName(j, "key", f.key);
      j["deleted"] = f.deleted;
      j["rule"] = f.why;
      j["removed"] = f.removed;
      j["kept"] = f.kept;
      j["history_deleted"] = f.history_deleted;
      files.push_back(std::move(j));
    }
    out["files"] = std::move(files);
    PrintJson(out);
    return kExitOk;
  }
  const char* verb = report->dry_run ? "would remove" : "removed";
  for (const PruneFile& f : report->files) {
    std::cout << NameForStdout(f.key) << (f.deleted ? " (deleted)" : "") << ": " << verb << " ";
    if (f.history_deleted) {
      std::cout << "its whole history (" << f.removed.size() << " versions, deleted-for)\n";
      continue;
    }
    std::cout << f.removed.size() << (f.removed.size() == 1 ? " version" : " versions") << " ("
              << VersionList(f.removed) << "), kept " << f.kept << "\n";
  }
  auto count = [](uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  std::cout << (report->dry_run ? "dry run: would remove " : "pruned ")
            << count(report->versions_removed, "version", "versions") << " of "
            << count(report->files.size(), "file", "files") << " (of "
            << report->files_checked << " checked), freeing " << FormatBytes(report->bytes_freed)
            << "\n";
  if (report->versions_in_use > 0) {
    std::cout << "kept " << report->versions_in_use
              << (report->versions_in_use == 1 ? " version" : " versions")
              << " for now: in use by a file open in a mount (the base of a file open for "
                 "writing, or a version being read); prune again once it is closed\n";
  }
  return kExitOk;
}

int RunExcludeList(const GlobalOptions& g, const PolicyArgs& a) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/true, &code);
  if (!bucket) return code;
  auto list = bucket->Excludes();
  if (!list.ok()) return ReportStatus("exclude list", list.status());
  if (a.json) {
    PrintJson(*list);
    return kExitOk;
  }
  for (const std::string& p : *list) std::cout << p << "\n";
  return kExitOk;
}

int RunExcludeChange(const GlobalOptions& g, const PolicyArgs& a, bool add) {
  int code = kExitOk;
  const std::string verb = add ? "exclude add" : "exclude remove";
  if (add) {
    // Checked before the bucket is opened, so a typo is a usage error anywhere.
    Status valid = ValidatePattern(a.pattern);
    if (!valid.ok()) return ReportStatus(verb, valid);
  }
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  Status st = add ? bucket->AddExclude(a.pattern) : bucket->RemoveExclude(a.pattern);
  if (!st.ok()) return ReportStatus(verb, st);
  std::cout << (add ? "excluded '" : "no longer excluded: '") << a.pattern << "'"
            << (add ? " (its files keep only their current content from their next commit)"
                    : "")
            << "\n";
  return kExitOk;
}

int RunExcludeReset(const GlobalOptions& g) {
  int code = kExitOk;
  auto bucket = OpenBucket(g, /*read_only=*/false, &code);
  if (!bucket) return code;
  Status st = bucket->ResetExcludes();
  if (!st.ok()) return ReportStatus("exclude reset", st);
  std::cout << "exclude patterns reset to the defaults:";
  for (const std::string& p : DefaultExcludes()) std::cout << " " << p;
  std::cout << "\n";
  return kExitOk;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, PolicyArgs& a) {
  auto* policy = app.add_subcommand(
      "policy", "the bucket's retention policy: which versions `katamari prune` keeps");
  policy->require_subcommand(1);
  auto* set = policy->add_subcommand(
      "set", "set the rules of --path PATTERN (or the default rules): keep-last=N "
             "keep-within=DURATION keep-hourly=N keep-daily=N keep-weekly=N keep-monthly=N "
             "keep-yearly=N deleted-for=DURATION");
  set->add_option("--path", a.path,
                  "files these rules are for: a glob on the name ('*.log') or, with a '/', "
                  "on the path ('logs/'); first matching pattern wins")
      ->type_name("PATTERN");
  // Not ->required(): with none, RetentionRules::Parse names the rules there are.
  set->add_option("rules", a.rules, "RULE=VALUE ... (durations: 30m, 12h, 7d, 2w, 6mo, 1y)");
  policy->add_subcommand("show", "the rules, first match first, the default last")
      ->add_flag("--json", a.json, "print JSON");
  policy->add_subcommand("clear", "remove the rules of --path PATTERN (or the default rules)")
      ->add_option("--path", a.path, "the pattern whose rules go")
      ->type_name("PATTERN");
  policy->add_subcommand("log", "every change of the policy and the exclude list")
      ->add_flag("--json", a.json, "print JSON");

  auto* prune = app.add_subcommand(
      "prune", "delete the versions the retention policy does not keep (safe while mounted)");
  prune->add_flag("--dry-run", a.dry_run, "only say what would be removed and freed");
  prune->add_flag("--json", a.json, "print JSON");
  prune->add_option("path", a.prune_path, "only files at or under PATH");

  auto* exclude = app.add_subcommand(
      "exclude", "name patterns whose files keep no history (only their current content)");
  exclude->require_subcommand(1);
  exclude->add_subcommand("list", "the patterns")->add_flag("--json", a.json, "print JSON");
  exclude->add_subcommand("add", "exclude names matching PATTERN (a glob, e.g. '*.bak')")
      ->add_option("pattern", a.pattern, "the glob")
      ->required();
  exclude->add_subcommand("remove", "stop excluding PATTERN")
      ->add_option("pattern", a.pattern, "the glob, as `exclude list` shows it")
      ->required();
  exclude->add_subcommand("reset", "back to the default patterns");
}

std::optional<int> DispatchPolicy(const CLI::App& app, const GlobalOptions& g,
                                  const PolicyArgs& a) {
  if (app.got_subcommand("prune")) return RunPrune(g, a);
  if (app.got_subcommand("policy")) {
    const CLI::App& p = *app.get_subcommand("policy");
    if (p.got_subcommand("set")) return RunPolicySet(g, a);
    if (p.got_subcommand("show")) return RunPolicyShow(g, a);
    if (p.got_subcommand("clear")) return RunPolicyClear(g, a);
    if (p.got_subcommand("log")) return RunPolicyLog(g, a);
    return kExitUsage;
  }
  if (app.got_subcommand("exclude")) {
    const CLI::App& e = *app.get_subcommand("exclude");
    if (e.got_subcommand("list")) return RunExcludeList(g, a);
    if (e.got_subcommand("add")) return RunExcludeChange(g, a, /*add=*/true);
    if (e.got_subcommand("remove")) return RunExcludeChange(g, a, /*add=*/false);
    if (e.got_subcommand("reset")) return RunExcludeReset(g);
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace katamari::cli

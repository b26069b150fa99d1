// Bucket: retention policy, prune and exclude patterns (docs/semantics.md,
// Retention and excludes). The choices are store/retention.cc's; the catalog
// keeps the settings and does each deletion in one transaction.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "store/bucket.h"
#include "store/bucket_internal.h"

namespace katamari {
namespace {

Status CheckWritable(const Bucket::Shared& s, const std::string& dir) {
  if (s.read_only) return Status::ReadOnly("bucket " + dir + " is open read-only");
  return Status::OK();
}

Status ValidateExclude(std::string_view pattern) {
  RETURN_IF_ERROR(ValidatePattern(pattern));
  if (pattern.find('/') != std::string_view::npos) {
    return Status::InvalidArgument("exclude pattern '" + std::string(pattern) +
                                   "' holds a '/'; exclude patterns match file names only "
                                   "(e.g. '*.tmp'); for a directory use a retention rule: "
                                   "katamari policy set --path DIR/ keep-last=1");
  }
  return Status::OK();
}

// "docs/" and "/docs" name the same subtree as "docs".
std::string NormalizePath(std::string_view p) {
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return std::string(p);
}

bool Under(std::string_view key, std::string_view root) {
  if (root.empty() || key == root) return true;
  return key.size() > root.size() && key.starts_with(root) && key[root.size()] == '/';
}

}  // namespace

Result<std::vector<PolicyEntry>> Bucket::Policy() {
  ASSIGN_OR_RETURN(std::vector<Catalog::PolicyRule> rows, s_->catalog->PolicyRules());
  std::vector<PolicyEntry> out;
  for (const Catalog::PolicyRule& r : rows) {
    std::vector<std::string> words;
    size_t pos = 0;
    while (pos < r.rules.size()) {
      size_t sp = r.rules.find(' ', pos);
      if (sp == std::string::npos) sp = r.rules.size();
      if (sp > pos) words.push_back(r.rules.substr(pos, sp - pos));
      pos = sp + 1;
    }
    auto rules = RetentionRules::Parse(words);
    if (!rules.ok()) {
      return Status::Corruption("bucket " + dir_ + ": the stored retention rules of " +
                                (r.pattern.empty() ? std::string("the default")
                                                   : "pattern '" + r.pattern + "'") +
                                " do not parse (" + rules.status().message() +
                                "); set them again with `katamari policy set`");
    }
    out.push_back(PolicyEntry{r.pattern, *rules});
  }
  return out;
}

Status Bucket::SetPolicy(std::string_view pattern, const RetentionRules& rules) {
  RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  if (!pattern.empty()) RETURN_IF_ERROR(ValidatePattern(pattern));
  if (rules.empty()) {
    return Status::InvalidArgument("no rule given; name at least one rule, e.g. keep-last=10 "
                                   "(`katamari policy clear` removes a pattern's rules)");
  }
  return s_->catalog->SetPolicyRule(pattern, rules.ToString());
}

Status Bucket::ClearPolicy(std::string_view pattern) {
  RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  return s_->catalog->ClearPolicyRule(pattern);
}

std::optional<PolicyEntry> Bucket::PolicyFor(const std::vector<PolicyEntry>& policy,
                                             std::string_view path) const {
  for (const PolicyEntry& e : policy) {
    if (!e.pattern.empty() && PatternMatches(e.pattern, path)) return e;
  }
  for (const PolicyEntry& e : policy) {
    if (e.pattern.empty()) return e;
  }
  return std::nullopt;
}

Result<std::vector<std::string>> Bucket::Excludes() { return s_->catalog->Excludes(); }

Status Bucket::AddExclude(std::string_view pattern) {
  RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  RETURN_IF_ERROR(ValidateExclude(pattern));
  return s_->catalog->AddExclude(pattern);
}

Status Bucket::RemoveExclude(std::string_view pattern) {
  RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  return s_->catalog->RemoveExclude(pattern);
}

Status Bucket::ResetExcludes() {
  RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  return s_->catalog->ResetExcludes(DefaultExcludes());
}

Result<std::vector<PolicyChange>> Bucket::PolicyLog() {
  ASSIGN_OR_RETURN(std::vector<Catalog::PolicyChange> rows, s_->catalog->PolicyLog());
  std::vector<PolicyChange> out;
  for (Catalog::PolicyChange& r : rows) {
    out.push_back(PolicyChange{r.time_ns, std::move(r.action), std::move(r.pattern),
                               std::move(r.rules)});
  }
  return out;
}

namespace {

// One file's part of a prune: what goes, decided before anything does.
struct Planned {
  InodeId ino;
  int64_t cutoff = 0;  // history_deleted: its name went before this
  PruneFile file;
};

// The versions of `f` (at `path`) that neither `rules` (nullopt: none apply)
// nor an exclude keep; nullopt if nothing goes. `excluded`: every live name
// of the file is excluded, and these of its versions were made under
// excluded names only (Catalog::ExcludedVersions); they go, but the current
// one (a file renamed to `doc~` keeps the history it had as `doc`).
Result<std::optional<Planned>> PlanFile(Bucket::Shared& s, const Catalog::RetentionFile& f,
                                        const std::string& path,
                                        const std::optional<PolicyEntry>& rules,
                                        const std::optional<std::vector<VersionNo>>& excluded,
                                        int64_t now) {
  ASSIGN_OR_RETURN(std::vector<VersionInfo> versions, s.catalog->ListVersions(f.ino));
  if (versions.empty()) return std::optional<Planned>();
  Planned p;
  p.ino = f.ino;
  p.file.key = path;
  p.file.deleted = !f.live;
  p.file.why = rules ? rules->pattern : "exclude";
  const std::optional<int64_t> deleted_for = rules ? rules->rules.deleted_for_ns : std::nullopt;
  std::vector<uint64_t> kept;
  if (!f.live && deleted_for && f.deleted_ns < now - *deleted_for) {
    p.file.history_deleted = true;
    p.cutoff = now - *deleted_for;
  } else if (excluded) {
    // The current content, and what was made under names that keep history.
    p.file.why = "exclude";
    for (const VersionInfo& v : versions) {
      if (v.version == f.current ||
          std::find(excluded->begin(), excluded->end(), v.version) == excluded->end()) {
        kept.push_back(v.version.value);
      }
    }
  } else {
    std::vector<RetentionCandidate> cands;
    for (const VersionInfo& v : versions) {
      cands.push_back(RetentionCandidate{v.version.value, v.commit_time_ns});
    }
    kept = SelectKept(cands, rules->rules, f.live ? f.current.value : 0);
  }
  for (const VersionInfo& v : versions) {
    if (!std::binary_search(kept.begin(), kept.end(), v.version.value)) {
      p.file.removed.push_back(v.version.value);
    }
  }
  p.file.kept = versions.size() - p.file.removed.size();
  if (p.file.removed.empty()) return std::optional<Planned>();
  return std::optional<Planned>(std::move(p));
}

// Carries out one file's plan; the catalog re-checks the file in the same
// transaction, so what changed meanwhile is left alone. Returns whether
// anything went (p.file then says what).
Result<bool> CarryOut(Bucket::Shared& s, Planned& p, uint64_t* in_use) {
  PruneFile& pf = p.file;
  if (pf.history_deleted) return s.catalog->PurgeIfDeletedBefore(p.ino, p.cutoff);
  std::vector<VersionNo> want;
  for (uint64_t v : pf.removed) want.push_back(VersionNo(v));
  std::vector<VersionNo> pinned;
  ASSIGN_OR_RETURN(std::vector<VersionNo> done, s.catalog->PruneVersions(p.ino, want, &pinned));
  *in_use += pinned.size();
  pf.kept += pf.removed.size() - done.size();
  pf.removed.clear();
  for (VersionNo v : done) pf.removed.push_back(v.value);
  return !pf.removed.empty();
}

}  // namespace

Result<PruneReport> Bucket::Prune(const PruneOptions& opts) {
  if (!opts.dry_run) RETURN_IF_ERROR(CheckWritable(*s_, dir_));
  const int64_t now = opts.now_ns.value_or(NowNs());
  const std::string root = NormalizePath(opts.path);
  ASSIGN_OR_RETURN(std::vector<PolicyEntry> policy, Policy());
  // Without versioning: what pins alone kept and no live owner pins now
  // (store/catalog_pins.cc).
  // Best effort: what it cannot release now waits for the next pass.
  if (!opts.dry_run) {
    if (Status st = s_->catalog->ReleaseAllUnpinned().status(); !st.ok()) {
      std::fprintf(stderr, "katamari: %s: prune: releasing what pins kept failed (%s); going on\n",
                   dir_.c_str(), st.ToString().c_str());
    }
  }
  ASSIGN_OR_RETURN(std::vector<Catalog::RetentionFile> files, s_->catalog->RetentionFiles());
  PruneReport report;
  report.dry_run = opts.dry_run;
  std::vector<Planned> plan;
  std::vector<std::pair<InodeId, VersionNo>> doomed;
  for (const Catalog::RetentionFile& f : files) {
    auto path = s_->catalog->PathOf(f.ino);
    if (!path.ok()) {
      if (path.status().IsNotFound()) continue;  // never named: nothing a user could mean
      return path.status();
    }
    if (!Under(*path, root)) continue;
    ++report.files_checked;
    std::optional<PolicyEntry> rules = PolicyFor(policy, *path);
    // Excludes apply to live files only: a deleted file's last name says
    // nothing of the names its versions were made under.
    std::optional<std::vector<VersionNo>> excluded;
    if (f.live) {
      ASSIGN_OR_RETURN(excluded, s_->catalog->ExcludedVersions(f.ino, VersionNo(~0ULL >> 1)));
    }
    if (!rules && !excluded) continue;  // no policy: keep everything
    ASSIGN_OR_RETURN(std::optional<Planned> p, PlanFile(*s_, f, *path, rules, excluded, now));
    if (!p) continue;
    for (uint64_t v : p->file.removed) doomed.emplace_back(f.ino, VersionNo(v));
    plan.push_back(std::move(*p));
  }
  // Counted before anything goes: the chunks whose last references the
  // planned versions hold, but not of those a file open in a mount holds
  // (pinned: CarryOut keeps them, and a deleted file with one keeps its
  // whole history). A dry run leaves them out of its plan the same way.
  {
    std::map<uint64_t, std::set<VersionNo>> pinned;
    std::set<uint64_t> whole;  // deleted files kept whole for a pin
    for (Planned& p : plan) {
      ASSIGN_OR_RETURN(std::set<VersionNo> pins, s_->catalog->PinnedVersionsOf(p.ino));
      if (pins.empty()) continue;
      if (p.file.history_deleted) whole.insert(p.ino.value);
      if (opts.dry_run) {
        PruneFile& pf = p.file;
        const size_t before = pf.removed.size();
        if (pf.history_deleted) {
          pf.kept += before;
          pf.removed.clear();
        } else {
          std::erase_if(pf.removed, [&](uint64_t v) { return pins.count(VersionNo(v)) > 0; });
          pf.kept += before - pf.removed.size();
        }
        report.versions_in_use += std::min<size_t>(pins.size(), before);
      }
      pinned[p.ino.value] = std::move(pins);
    }
    std::erase_if(doomed, [&](const std::pair<InodeId, VersionNo>& d) {
      auto it = pinned.find(d.first.value);
      if (it == pinned.end()) return false;
      return it->second.count(d.second) > 0 || whole.count(d.first.value) > 0;
    });
    if (opts.dry_run) {
      std::erase_if(plan, [](const Planned& p) { return p.file.removed.empty(); });
    }
  }
  ASSIGN_OR_RETURN(report.bytes_freed, s_->catalog->BytesFreedBy(doomed));
  for (Planned& p : plan) {
    if (!opts.dry_run) {
      ASSIGN_OR_RETURN(bool went, CarryOut(*s_, p, &report.versions_in_use));
      if (!went) continue;  // changed meanwhile (re-created, restored): kept
    }
    report.versions_removed += p.file.removed.size();
    report.files.push_back(std::move(p.file));
  }
  if (!opts.dry_run && report.versions_removed > 0) {
    TryReclaim(*s_, dir_, /*rewrite_packs=*/true);
  }
  return report;
}

}  // namespace katamari

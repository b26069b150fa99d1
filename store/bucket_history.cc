// Whole trees, read side: Bucket::Space (`katamari du`, `stats PATH`),
// Bucket::Log and Bucket::Diff (docs/semantics.md, Whole trees). Each reads
// one Catalog::History snapshot and computes in memory.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_set>

#include "store/bucket_internal.h"
#include "store/gc_model.h"
#include "store/history_model.h"

namespace katamari {

// ---- HistoryModel

Result<std::string> NormalizeTreePath(std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(i, slash - i);
    i = slash + 1;
    if (part.empty() || (part == "." && out.empty())) continue;
    if (part == "." || part == "..") {
      return Status::InvalidArgument("bad path '" + std::string(path) +
                                     "': '.' and '..' are not allowed inside; paths look like "
                                     "'dir/sub' ('/' is the whole bucket)");
    }
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

bool PathIsUnder(std::string_view path, std::string_view under) {
  if (under.empty()) return true;
  if (path.size() < under.size() || path.compare(0, under.size(), under) != 0) return false;
  return path.size() == under.size() || path[under.size()] == '/';
}

HistoryModel::HistoryModel(Catalog::History h) : h_(std::move(h)) {
  for (size_t i = 0; i < h_.inodes.size(); ++i) inode_index_[h_.inodes[i].ino.value] = i;
  for (size_t i = 0; i < h_.versions.size(); ++i) {
    auto [it, fresh] = version_range_.try_emplace(h_.versions[i].ino.value, i, i + 1);
    if (!fresh) it->second.second = i + 1;
  }
  for (size_t i = 0; i < h_.dentries.size(); ++i) {
    names_of_[h_.dentries[i].ino.value].push_back(i);
    children_of_[h_.dentries[i].parent.value].push_back(i);
  }
}

const Catalog::HistoryInode* HistoryModel::Inode(InodeId ino) const {
  auto it = inode_index_.find(ino.value);
  return it == inode_index_.end() ? nullptr : &h_.inodes[it->second];
}

std::pair<const Catalog::HistoryVersion*, const Catalog::HistoryVersion*> HistoryModel::Versions(
    InodeId ino) const {
  auto it = version_range_.find(ino.value);
  if (it == version_range_.end()) return {nullptr, nullptr};
  const Catalog::HistoryVersion* base = h_.versions.data();
  return {base + it->second.first, base + it->second.second};
}

const Catalog::HistoryVersion* HistoryModel::VersionAt(InodeId ino, Seq at) const {
  auto [b, e] = Versions(ino);
  const Catalog::HistoryVersion* best = nullptr;
  for (auto* v = b; v != e; ++v) {
    if (v->seq <= at) best = v;  // by vno: the last one that qualifies is the newest
  }
  return best;
}

bool HistoryModel::Live(InodeId ino) const {
  if (ino == kRootInode) return true;
  auto it = names_of_.find(ino.value);
  if (it == names_of_.end()) return false;
  for (size_t i : it->second) {
    if (h_.dentries[i].seq_end.value == 0) return true;
  }
  return false;
}

const std::string& HistoryModel::PathOf(InodeId ino) {
  static const std::string kEmpty;
  if (ino == kRootInode) return kEmpty;
  auto memo = path_memo_.find(ino.value);
  if (memo != path_memo_.end()) return memo->second;
  path_memo_[ino.value] = "";  // a cycle (never in a sound catalog) ends here
  const Catalog::HistoryDentry* best = nullptr;
  auto it = names_of_.find(ino.value);
  if (it != names_of_.end()) {
    for (size_t i : it->second) {
      const Catalog::HistoryDentry& d = h_.dentries[i];
      auto rank = [](const Catalog::HistoryDentry& x) {
        return x.seq_end.value == 0 ? UINT64_MAX : x.seq_end.value;
      };
      if (!best || rank(d) >= rank(*best)) best = &d;
    }
  }
  std::string path;
  if (best) {
    const std::string& dir = PathOf(best->parent);
    path = dir.empty() ? best->name : dir + "/" + best->name;
  }
  return path_memo_[ino.value] = std::move(path);
}

std::vector<const Catalog::HistoryDentry*> HistoryModel::Children(InodeId dir, Seq at) const {
  std::vector<const Catalog::HistoryDentry*> out;
  auto it = children_of_.find(dir.value);
  if (it == children_of_.end()) return out;
  for (size_t i : it->second) {
    const Catalog::HistoryDentry& d = h_.dentries[i];
    if (d.seq_start <= at && (d.seq_end.value == 0 || d.seq_end > at)) out.push_back(&d);
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

std::optional<InodeId> HistoryModel::ResolveAt(std::string_view path, Seq at) const {
  InodeId cur = kRootInode;
  size_t i = 0;
  while (i < path.size()) {
    size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view name = path.substr(i, slash - i);
    i = slash + 1;
    auto it = children_of_.find(cur.value);
    if (it == children_of_.end()) return std::nullopt;
    std::optional<InodeId> next;
    for (size_t k : it->second) {
      const Catalog::HistoryDentry& d = h_.dentries[k];
      if (d.name == name && d.seq_start <= at && (d.seq_end.value == 0 || d.seq_end > at)) {
        next = d.ino;
        break;
      }
    }
    if (!next) return std::nullopt;
    cur = *next;
  }
  return cur;
}

namespace {

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

Status NothingAt(std::string_view path) {
  return Status::NotFound("nothing is or was ever at '" + std::string(path) +
                          "' in the bucket; see 'katamari ls' (and 'ls --deleted')");
}

// Per chunk index: occurrences in old versions, and whether some current
// version uses it (the scratch of one file or of a whole subtree).
struct ChunkTally {
  std::unordered_map<uint32_t, uint64_t> old_count;
  std::unordered_set<uint32_t> current, all;
};

void TallyVersion(const Catalog::HistoryVersion& v, bool is_current, ChunkTally* t) {
  for (uint32_t c : v.chunks) {
    t->all.insert(c);
    if (is_current) {
      t->current.insert(c);
    } else {
      ++t->old_count[c];
    }
  }
}

// GcModel (store/gc_model.h) over the snapshot. A chunk's references, in
// the snapshot's unit: its occurrences in the chunk lists of all versions,
// and one per delta row stored against it, which holds it as gc sees it.
// So what old versions alone keep alive includes the bases of their deltas
// that nothing else needs, and not a chunk a current version's delta
// chain needs.
class SnapshotGc {
 public:
  explicit SnapshotGc(const std::vector<Catalog::HistoryChunk>& chunks)
      : chunks_(chunks), deltas_on_(chunks.size(), 0), gc_(Rows(), Garbage(chunks)) {
    for (const Catalog::HistoryChunk& c : chunks) {
      if (c.delta_base) ++deltas_on_[*c.delta_base];
    }
  }

  // Stored bytes of the chunks `t` uses, with the bases their delta chains
  // read, and of those only its old versions keep alive.
  Result<std::pair<uint64_t, uint64_t>> Tally(const ChunkTally& t) {
    std::unordered_set<uint32_t> used;
    for (uint32_t c : t.all) {
      std::optional<uint32_t> link = c;
      for (int i = 0; link && i <= kMaxDeltaChain + 1; ++i) {
        if (!used.insert(*link).second) break;  // and so the rest of its chain
        link = chunks_[*link].delta_base;
      }
    }
    uint64_t stored = 0;
    for (uint32_t c : used) stored += chunks_[c].stored_len;
    std::map<ChunkId, uint64_t> dropped;
    for (const auto& [c, n] : t.old_count) dropped[chunks_[c].id] += n;
    ASSIGN_OR_RETURN(uint64_t history, gc_.StoredBytesFreed(dropped));
    return std::make_pair(stored, history);
  }

 private:
  static std::vector<ChunkId> Garbage(const std::vector<Catalog::HistoryChunk>& chunks) {
    std::vector<ChunkId> out;
    for (const Catalog::HistoryChunk& c : chunks) {
      if (c.row_refs == 0) out.push_back(c.id);
    }
    return out;
  }
  GcModel::RowSource Rows() {
    return [this](const ChunkId& id) -> Result<GcRow> {
      auto it = std::lower_bound(
          chunks_.begin(), chunks_.end(), id,
          [](const Catalog::HistoryChunk& c, const ChunkId& want) { return c.id < want; });
      GcRow r;
      if (it == chunks_.end() || it->id != id) return r;
      const size_t i = static_cast<size_t>(it - chunks_.begin());
      r.present = true;
      r.refs = it->row_refs == 0 ? 0 : it->refs + deltas_on_[i];
      r.stored = it->stored_len;
      if (it->delta_base) r.base = chunks_[*it->delta_base].id;
      return r;
    };
  }

  const std::vector<Catalog::HistoryChunk>& chunks_;
  std::vector<uint64_t> deltas_on_;  // by chunk index: delta rows based on it
  GcModel gc_;
};

}  // namespace

Result<SpaceReport> Bucket::Space(std::string_view path) {
  ASSIGN_OR_RETURN(std::string root, NormalizeTreePath(path));
  ASSIGN_OR_RETURN(Catalog::History h, s_->catalog->ReadHistory(/*with_chunks=*/true));
  HistoryModel m(std::move(h));
  SnapshotGc gc(m.history().chunks);
  std::optional<InodeId> live_root = m.ResolveAt(root, m.seq());
  SpaceReport r;
  ChunkTally subtree;
  std::map<std::string, SpaceEntry> dirs;
  for (const Catalog::HistoryInode& n : m.history().inodes) {
    if (n.kind != FileKind::kRegular) continue;
    auto [b, e] = m.Versions(n.ino);
    const bool live = m.Live(n.ino);
    if (b == e && !live) continue;
    const std::string& p = m.PathOf(n.ino);
    if (p.empty() || !PathIsUnder(p, root)) continue;
    SpaceEntry f;
    f.path = p;
    f.deleted = !live;
    f.files = 1;
    f.size = live ? n.size : 0;
    const VersionNo cur = live ? n.current_version : VersionNo();
    ChunkTally mine;
    for (auto* v = b; v != e; ++v) {
      ++f.versions;
      f.all_versions_bytes += v->size;
      TallyVersion(*v, v->vno == cur, &mine);
      TallyVersion(*v, v->vno == cur, &subtree);
    }
    ASSIGN_OR_RETURN(std::tie(f.stored_bytes, f.history_bytes), gc.Tally(mine));
    if (f.deleted) ++r.deleted_files;
    // du's directory totals: every directory from the root down to the file's.
    for (size_t cut = root.empty() ? 0 : root.size(); cut != std::string::npos && cut < p.size();
         cut = p.find('/', cut + 1)) {
      SpaceEntry& d = dirs[p.substr(0, cut)];
      d.files += 1;
      d.size += f.size;
      d.versions += f.versions;
      d.all_versions_bytes += f.all_versions_bytes;
      d.stored_bytes += f.stored_bytes;
      d.history_bytes += f.history_bytes;
    }
    r.total.files += 1;
    r.total.size += f.size;
    r.total.versions += f.versions;
    r.total.all_versions_bytes += f.all_versions_bytes;
    r.files.push_back(std::move(f));
  }
  if (r.files.empty() && !live_root) return NothingAt(path);
  ASSIGN_OR_RETURN(std::tie(r.total.stored_bytes, r.total.history_bytes), gc.Tally(subtree));
  r.total.path = root;
  const Catalog::HistoryInode* root_node = live_root ? m.Inode(*live_root) : nullptr;
  r.total.kind = root_node ? root_node->kind : FileKind::kDirectory;
  if (r.files.size() == 1 && r.files[0].path == root) r.total.kind = FileKind::kRegular;
  r.total.deleted = !live_root;
  if (r.total.kind == FileKind::kDirectory && !dirs.contains(root)) dirs[root] = SpaceEntry{};
  for (auto& [p, d] : dirs) {
    if (r.total.kind != FileKind::kDirectory) break;
    d.path = p;
    d.kind = FileKind::kDirectory;
    d.deleted = !m.ResolveAt(p, m.seq());
    r.dirs.push_back(d);
  }
  std::sort(r.files.begin(), r.files.end(),
            [](const SpaceEntry& a, const SpaceEntry& b) { return a.path < b.path; });
  return r;
}

// ---- log

namespace {

// The dentry of the same inode that a rename at `seq` opened (or closed).
const Catalog::HistoryDentry* RenamePartner(const Catalog::History& h,
                                            const std::vector<size_t>& names, Seq seq,
                                            bool want_opened) {
  for (size_t i : names) {
    const Catalog::HistoryDentry& d = h.dentries[i];
    if (want_opened ? d.seq_start == seq : d.seq_end == seq) return &d;
  }
  return nullptr;
}

}  // namespace

Result<std::vector<LogEntry>> Bucket::Log(std::string_view path, size_t limit) {
  ASSIGN_OR_RETURN(std::string root, NormalizeTreePath(path));
  ASSIGN_OR_RETURN(Catalog::History h, s_->catalog->ReadHistory(/*with_chunks=*/false));
  HistoryModel m(std::move(h));
  const Catalog::History& hist = m.history();
  std::vector<LogEntry> out;
  std::unordered_map<uint64_t, std::vector<size_t>> names;
  std::set<std::pair<uint64_t, uint64_t>> versioned_at;  // (ino, seq) of every version
  names.reserve(hist.inodes.size());
  for (size_t i = 0; i < hist.dentries.size(); ++i) names[hist.dentries[i].ino.value].push_back(i);
  for (const Catalog::HistoryInode& n : hist.inodes) {
    auto [b, e] = m.Versions(n.ino);
    const std::string& p = m.PathOf(n.ino);
    uint64_t prev = 0;
    for (auto* v = b; v != e; ++v) {
      versioned_at.emplace(n.ino.value, v->seq.value);
      LogEntry l;
      l.action = v->restored_from ? LogEntry::Action::kRestore : LogEntry::Action::kVersion;
      l.seq = v->seq;
      l.time_ns = v->time_ns;
      l.path = p;
      l.kind = n.kind;
      l.version = v->vno;
      l.restored_from = v->restored_from;
      l.size = v->size;
      l.size_change = static_cast<int64_t>(v->size) - static_cast<int64_t>(prev);
      prev = v->size;
      if (PathIsUnder(p, root)) out.push_back(std::move(l));
    }
  }
  for (const Catalog::HistoryDentry& d : hist.dentries) {
    const std::vector<size_t>& same = names[d.ino.value];
    const std::string here = Join(m.PathOf(d.parent), d.name);
    const Catalog::HistoryDentry* from = RenamePartner(hist, same, d.seq_start, false);
    LogEntry open;
    open.seq = d.seq_start;
    open.time_ns = d.start_ns;
    open.path = here;
    open.kind = d.kind;
    if (from) {
      open.action = LogEntry::Action::kRename;
      open.old_path = Join(m.PathOf(from->parent), from->name);
    } else {
      open.action = LogEntry::Action::kCreate;
    }
    const bool with_version = versioned_at.contains({d.ino.value, d.seq_start.value});
    if ((from || !with_version) &&
        (PathIsUnder(open.path, root) || (from && PathIsUnder(open.old_path, root)))) {
      out.push_back(open);
    }
    if (d.seq_end.value != 0 && !RenamePartner(hist, same, d.seq_end, true) &&
        PathIsUnder(here, root)) {
      LogEntry del;
      del.action = LogEntry::Action::kDelete;
      del.seq = d.seq_end;
      del.time_ns = d.end_ns;
      del.path = here;
      del.kind = d.kind;
      out.push_back(std::move(del));
    }
  }
  if (out.empty() && !root.empty() && !m.ResolveAt(root, m.seq())) return NothingAt(path);
  std::stable_sort(out.begin(), out.end(),
                   [](const LogEntry& a, const LogEntry& b) { return a.seq > b.seq; });
  if (limit != 0 && out.size() > limit) out.resize(limit);
  return out;
}

// ---- diff

namespace {

struct TreeItem {
  InodeId ino;
  FileKind kind = FileKind::kRegular;
  const Catalog::HistoryVersion* version = nullptr;
};

// Every entry but directories under `root` as of `at` (path -> item).
void Snapshot(const HistoryModel& m, const std::string& root, Seq at,
              std::map<std::string, TreeItem>* out) {
  std::optional<InodeId> top = m.ResolveAt(root, at);
  if (!top || at.value == 0) return;
  const Catalog::HistoryInode* n = m.Inode(*top);
  if (!n) return;
  if (n->kind != FileKind::kDirectory) {
    (*out)[root] = TreeItem{*top, n->kind, m.VersionAt(*top, at)};
    return;
  }
  std::vector<std::pair<InodeId, std::string>> stack = {{*top, root}};
  while (!stack.empty()) {
    auto [dir, base] = stack.back();
    stack.pop_back();
    for (const Catalog::HistoryDentry* d : m.Children(dir, at)) {
      std::string p = Join(base, d->name);
      if (d->kind == FileKind::kDirectory) {
        stack.emplace_back(d->ino, std::move(p));
      } else {
        (*out)[p] = TreeItem{d->ino, d->kind, m.VersionAt(d->ino, at)};
      }
    }
  }
}

}  // namespace

Result<std::vector<DiffEntry>> Bucket::Diff(int64_t t1_ns, int64_t t2_ns, std::string_view path) {
  ASSIGN_OR_RETURN(std::string root, NormalizeTreePath(path));
  Catalog& cat = *s_->catalog;
  const Seq s1 = cat.SeqAtTime(t1_ns), s2 = cat.SeqAtTime(t2_ns);
  ASSIGN_OR_RETURN(Catalog::History h, cat.ReadHistory(/*with_chunks=*/false));
  HistoryModel m(std::move(h));
  // Commits made after the snapshot was read are not in it.
  const Seq a = std::min(s1, m.seq()), b = std::min(s2, m.seq());
  if (!root.empty() && !m.ResolveAt(root, a) && !m.ResolveAt(root, b)) {
    return Status::NotFound("'" + root + "' existed at neither time; see 'katamari log " + root +
                            "' for when it did");
  }
  std::map<std::string, TreeItem> before, after;
  Snapshot(m, root, a, &before);
  Snapshot(m, root, b, &after);
  // Same content: same version, else same size and the same chunk list.
  auto same = [&](const TreeItem& x, const TreeItem& y) -> Result<bool> {
    if (x.kind != y.kind) return false;
    if (x.kind != FileKind::kRegular) {
      if (x.ino == y.ino) return true;
      const Catalog::HistoryInode *nx = m.Inode(x.ino), *ny = m.Inode(y.ino);
      return nx && ny && nx->symlink_target == ny->symlink_target && nx->rdev == ny->rdev;
    }
    if (!x.version || !y.version) return x.version == y.version;
    if (x.ino == y.ino && x.version->vno == y.version->vno) return true;
    if (x.version->size != y.version->size) return false;
    auto cx = cat.VersionChunks(x.ino, x.version->vno);
    auto cy = cat.VersionChunks(y.ino, y.version->vno);
    if (!cx.ok() || !cy.ok()) return false;  // deleted since: say it changed
    if (cx->size() != cy->size()) return false;
    for (size_t i = 0; i < cx->size(); ++i) {
      if ((*cx)[i].id != (*cy)[i].id || (*cx)[i].raw_len != (*cy)[i].raw_len) return false;
    }
    return true;
  };
  auto entry = [](char status, const std::string& p, const TreeItem* x, const TreeItem* y) {
    DiffEntry d;
    d.status = status;
    d.path = p;
    d.kind = y ? y->kind : x->kind;
    if (x && x->version) {
      d.old_version = x->version->vno;
      d.old_size = x->version->size;
    }
    if (y && y->version) {
      d.new_version = y->version->vno;
      d.new_size = y->version->size;
    }
    return d;
  };
  std::vector<DiffEntry> out;
  for (const auto& [p, x] : before) {
    auto it = after.find(p);
    if (it == after.end()) {
      out.push_back(entry('D', p, &x, nullptr));
      continue;
    }
    ASSIGN_OR_RETURN(bool eq, same(x, it->second));
    if (!eq) out.push_back(entry('M', p, &x, &it->second));
  }
  for (const auto& [p, y] : after) {
    if (!before.contains(p)) out.push_back(entry('A', p, nullptr, &y));
  }
  std::sort(out.begin(), out.end(),
            [](const DiffEntry& x, const DiffEntry& y) { return x.path < y.path; });
  return out;
}

}  // namespace katamari

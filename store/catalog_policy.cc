// Catalog: retention rules, exclude patterns and their change log (format 5;
// docs/catalog.md "retention", "excludes", "policy_log"), and the catalog side
// of `katamari prune` (docs/semantics.md, Retention and excludes).
#include <map>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"
#include "store/catalog_segments.h"
#include "store/retention.h"

namespace katamari {
namespace {

// Format 5. Patterns are TEXT as typed (validated by store/retention.cc);
// `position` orders the retention patterns ("first matching pattern wins");
// the default rule set has pattern '' and is always consulted last.
constexpr char kSchemaV5Additions[] = R"sql(
CREATE TABLE retention (
  pattern  TEXT PRIMARY KEY NOT NULL,
  position INTEGER NOT NULL,
  rules    TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE excludes (
  pattern  TEXT PRIMARY KEY NOT NULL,
  position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE policy_log (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  action  TEXT NOT NULL,
  pattern TEXT NOT NULL,
  rules   TEXT NOT NULL
);
)sql";

constexpr char kSqlRules[] =
    "SELECT pattern, rules FROM retention ORDER BY pattern = '', position";
constexpr char kSqlHasRule[] = "SELECT 1 FROM retention WHERE pattern = ?1";
constexpr char kSqlUpdateRule[] = "UPDATE retention SET rules = ?2 WHERE pattern = ?1";
constexpr char kSqlInsertRule[] =
    "INSERT INTO retention(pattern, position, rules) "
    "VALUES(?1, (SELECT coalesce(max(position), 0) + 1 FROM retention), ?2)";
constexpr char kSqlDeleteRule[] = "DELETE FROM retention WHERE pattern = ?1";
constexpr char kSqlExcludes[] = "SELECT pattern FROM excludes ORDER BY position";
constexpr char kSqlInsertExclude[] =
    "INSERT OR IGNORE INTO excludes(pattern, position) "
    "VALUES(?1, (SELECT coalesce(max(position), 0) + 1 FROM excludes))";
constexpr char kSqlDeleteExclude[] = "DELETE FROM excludes WHERE pattern = ?1";
constexpr char kSqlDeleteExcludes[] = "DELETE FROM excludes";
constexpr char kSqlLog[] =
    "INSERT INTO policy_log(time_ns, action, pattern, rules) VALUES(?1, ?2, ?3, ?4)";
constexpr char kSqlReadLog[] =
    "SELECT time_ns, action, pattern, rules FROM policy_log ORDER BY id";
// Every name `ino` has or had, with the commits that gave and took it.
constexpr char kSqlNamesOf[] = "SELECT name, seq_start, seq_end FROM dentries WHERE ino = ?1";
constexpr char kSqlVersionSeqsBelow[] =
    "SELECT vno, seq FROM versions WHERE ino = ?1 AND vno < ?2";
// Every regular file with a version: its current version, whether it has a
// live name, and the commit that closed its last name.
constexpr char kSqlRetentionFiles[] =
    "SELECT i.id, i.current_version, "
    "  EXISTS (SELECT 1 FROM dentries d WHERE d.ino = i.id AND d.seq_end IS NULL), "
    "  coalesce((SELECT c.time_ns FROM dentries d JOIN commits c ON c.seq = d.seq_end "
    "            WHERE d.ino = i.id ORDER BY d.seq_end DESC LIMIT 1), 0) "
    "FROM inodes i WHERE i.kind = 1 AND EXISTS (SELECT 1 FROM versions v WHERE v.ino = i.id) "
    "ORDER BY i.id";
constexpr char kSqlInodeState[] =
    "SELECT i.current_version, "
    "  EXISTS (SELECT 1 FROM dentries d WHERE d.ino = i.id AND d.seq_end IS NULL), "
    "  coalesce((SELECT c.time_ns FROM dentries d JOIN commits c ON c.seq = d.seq_end "
    "            WHERE d.ino = i.id ORDER BY d.seq_end DESC LIMIT 1), 0) "
    "FROM inodes i WHERE i.id = ?1";
constexpr char kSqlHasVersion[] = "SELECT 1 FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlVersionChunks[] = "SELECT chunks FROM versions WHERE ino = ?1 AND vno = ?2";
constexpr char kSqlSegmentRefs[] = "SELECT refs, chunks FROM segments WHERE id = ?1";

Status Log(Catalog::Impl& impl, std::string_view action, std::string_view pattern,
           std::string_view rules) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlLog));
  q.Bind(1, CatalogNowNs())
      .BindText(2, action)
      .BindText(3, std::string(pattern))
      .BindText(4, std::string(rules));
  return q.Run();
}

struct InodeState {
  VersionNo current;
  bool live = false;
  int64_t deleted_ns = 0;
};

Result<std::optional<InodeState>> LoadState(Catalog::Impl& impl, InodeId ino) {
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInodeState));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<InodeState>();
  return std::optional<InodeState>(InodeState{VersionNo(q.U64(0)), q.Int(1) != 0, q.Int(2)});
}

}  // namespace

Status catalog_format::AddPolicyTables(sql::Db& db, const std::vector<std::string>& defaults) {
  RETURN_IF_ERROR(db.Exec(kSchemaV5Additions, "creating the retention and excludes tables"));
  for (const std::string& p : defaults) {
    ASSIGN_OR_RETURN(sql::Query q, db.Prepare(kSqlInsertExclude));
    q.BindText(1, p);
    RETURN_IF_ERROR(q.Run());
  }
  return Status::OK();
}

Result<std::optional<std::vector<VersionNo>>> Catalog::Impl::ExcludedVersions(InodeId ino,
                                                                             VersionNo below) {
  using Out = std::optional<std::vector<VersionNo>>;
  std::vector<std::string> patterns;
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlExcludes));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      patterns.push_back(q.Str(0));
    }
  }
  if (patterns.empty()) return Out();
  auto excluded = [&](const std::string& name) {
    for (const std::string& p : patterns) {
      if (PatternMatches(p, name)) return true;
    }
    return false;
  };
  struct Name {
    bool excluded;
    uint64_t start, end;  // end 0: live
  };
  std::vector<Name> names;
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlNamesOf));
    q.Bind(1, ino);
    bool live = false;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      Name n{excluded(q.Str(0)), q.U64(1), q.Type(2) == SQLITE_NULL ? 0 : q.U64(2)};
      if (n.end == 0 && !n.excluded) return Out();  // a live name that keeps history
      live = live || n.end == 0;
      names.push_back(n);
    }
    if (!live) return Out();
  }
  // A version made at seq S was made under the names live at S.
  std::vector<VersionNo> out;
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlVersionSeqsBelow));
  q.BindAll(ino, below);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return Out(std::move(out));
    const uint64_t seq = q.U64(1);
    bool any = false, all = true;
    for (const Name& n : names) {
      if (n.start <= seq && (n.end == 0 || seq < n.end)) {
        any = true;
        all = all && n.excluded;
      }
    }
    if (any && all) out.push_back(VersionNo(q.U64(0)));
  }
}

Result<std::optional<std::vector<VersionNo>>> Catalog::ExcludedVersions(InodeId ino,
                                                                       VersionNo below) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->ExcludedVersions(ino, below);
}

Result<std::vector<Catalog::PolicyRule>> Catalog::PolicyRules() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlRules));
  std::vector<PolicyRule> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(PolicyRule{q.Str(0), q.Str(1)});
  }
}

Status Catalog::SetPolicyRule(std::string_view pattern, std::string_view rules) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  const std::string p(pattern), r(rules);
  bool exists = false;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHasRule));
    q.BindText(1, p);
    ASSIGN_OR_RETURN(exists, q.Step());
  }
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(exists ? kSqlUpdateRule : kSqlInsertRule));
    q.BindText(1, p).BindText(2, r);
    RETURN_IF_ERROR(q.Run());
  }
  RETURN_IF_ERROR(Log(impl, "policy set", p, r));
  return txn.Commit();
}

Status Catalog::ClearPolicyRule(std::string_view pattern) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  const std::string p(pattern);
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteRule));
    q.BindText(1, p);
    RETURN_IF_ERROR(q.Run());
  }
  if (impl.db->Changes() == 0) {
    return Status::NotFound((p.empty() ? std::string("there are no default retention rules")
                                        : "pattern '" + p + "' has no retention rules") +
                            "; `katamari policy show` lists the patterns there are");
  }
  RETURN_IF_ERROR(Log(impl, "policy clear", p, ""));
  return txn.Commit();
}

Result<std::vector<std::string>> Catalog::Excludes() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlExcludes));
  std::vector<std::string> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(q.Str(0));
  }
}

Status Catalog::AddExclude(std::string_view pattern) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  const std::string p(pattern);
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInsertExclude));
    q.BindText(1, p);
    RETURN_IF_ERROR(q.Run());
  }
  if (impl.db->Changes() == 0) {
    return Status::Exists("exclude pattern '" + p + "' is already listed");
  }
  RETURN_IF_ERROR(Log(impl, "exclude add", p, ""));
  return txn.Commit();
}

Status Catalog::RemoveExclude(std::string_view pattern) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  const std::string p(pattern);
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteExclude));
    q.BindText(1, p);
    RETURN_IF_ERROR(q.Run());
  }
  if (impl.db->Changes() == 0) {
    return Status::NotFound("exclude pattern '" + p + "' is not listed; `katamari exclude "
                            "list` shows the patterns there are");
  }
  RETURN_IF_ERROR(Log(impl, "exclude remove", p, ""));
  return txn.Commit();
}

Status Catalog::ResetExcludes(const std::vector<std::string>& defaults) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteExcludes));
    RETURN_IF_ERROR(q.Run());
  }
  std::string all;
  for (const std::string& p : defaults) {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInsertExclude));
    q.BindText(1, p);
    RETURN_IF_ERROR(q.Run());
    if (!all.empty()) all += ' ';
    all += p;
  }
  RETURN_IF_ERROR(Log(impl, "exclude reset", "", all));
  return txn.Commit();
}

Result<std::vector<Catalog::PolicyChange>> Catalog::PolicyLog() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlReadLog));
  std::vector<PolicyChange> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    out.push_back(PolicyChange{q.Int(0), q.Str(1), q.Str(2), q.Str(3)});
  }
}

Result<std::vector<Catalog::RetentionFile>> Catalog::RetentionFiles() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlRetentionFiles));
  std::vector<RetentionFile> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    RetentionFile f;
    f.ino = InodeId(q.U64(0));
    f.current = VersionNo(q.U64(1));
    f.live = q.Int(2) != 0;
    f.deleted_ns = q.Int(3);
    if (!f.live) f.current = VersionNo(0);
    out.push_back(f);
  }
}

Result<std::vector<VersionNo>> Catalog::PruneVersions(InodeId ino,
                                                       const std::vector<VersionNo>& vnos,
                                                       std::vector<VersionNo>* pinned) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(std::optional<InodeState> st, LoadState(impl, ino));
  std::vector<VersionNo> done;
  if (!st) return done;  // purged meanwhile; the transaction rolls back
  ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(ino));
  for (VersionNo v : vnos) {
    if (st->live && v == st->current) continue;
    if (pins.count(v)) {  // the base of a file open for writing: kept for now
      if (pinned) pinned->push_back(v);
      continue;
    }
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHasVersion));
    q.BindAll(ino, v);
    ASSIGN_OR_RETURN(bool there, q.Step());
    if (!there) continue;
    RETURN_IF_ERROR(impl.DropVersion(ino, v));
    done.push_back(v);
  }
  if (done.empty()) return done;  // nothing changed: no commit recorded
  RETURN_IF_ERROR(w.txn.Commit());
  return done;
}

Result<bool> Catalog::PurgeIfDeletedBefore(InodeId ino, int64_t cutoff_ns) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(std::optional<InodeState> st, LoadState(impl, ino));
  if (!st || st->live || st->deleted_ns >= cutoff_ns) return false;
  {
    // A deleted file still open for writing keeps its history for now.
    ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(ino));
    if (!pins.empty()) return false;
  }
  RETURN_IF_ERROR(impl.Purge(ino));
  RETURN_IF_ERROR(w.txn.Commit());
  return true;
}

Result<uint64_t> Catalog::BytesFreedBy(
    const std::vector<std::pair<InodeId, VersionNo>>& versions) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/false));
  // Two levels (store/catalog_segments.h): a segment goes when the versions
  // hold all its references, a chunk when the segments that go hold all of
  // its own.
  std::map<int64_t, uint64_t> segments;  // references the versions hold
  for (const auto& [ino, vno] : versions) {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionChunks));
    q.BindAll(ino, vno);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) continue;
    ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                     catalog_segments::DecodeList(q.Blob(0), "inode " +
                                                                std::to_string(ino.value) +
                                                                " version " +
                                                                std::to_string(vno.value)));
    for (int64_t id : ids) ++segments[id];
  }
  std::map<ChunkId, uint64_t> dropped;  // references the freed segments hold
  for (const auto& [id, n] : segments) {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlSegmentRefs));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row || q.U64(0) > n) continue;
    ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks,
                     catalog_format::DecodeChunks(q.Blob(1), "segment " + std::to_string(id)));
    for (const ChunkRef& c : chunks) {
      if (!c.IsHole()) ++dropped[c.id];
    }
  }
  // A chunk's own references are not all: delta chunks hold their bases
  // (docs/chunk-format.md, "Delta chunks"), which go with the last of them.
  return StoredBytesGcWouldFree(*impl.db, dropped);
}

}  // namespace katamari

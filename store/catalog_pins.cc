// Catalog: pins of versions that an open write session reads from
// (docs/catalog.md "version_pins"; docs/semantics.md, Retention and
// excludes). A pin keeps `katamari prune`, `rm NAME@N` and `rm --purge` (of
// any process) from deleting the version a mounted file open for writing is
// based on: its unchanged ranges are read from that version's chunks until
// the session commits. A pin names its owner (a Bucket of a live process);
// pins of owners that are gone (kill -9) are stale and dropped by whoever
// meets them (Catalog::SetPinOwner's liveness test).
#include <set>
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {
namespace {

// Not part of a format number: a program that does not know the table
// ignores it (and does not honor pins); every writable open creates it.
constexpr char kSqlCreatePins[] =
    "CREATE TABLE IF NOT EXISTS version_pins ("
    "  owner TEXT NOT NULL,"
    "  ino   INTEGER NOT NULL,"
    "  vno   INTEGER NOT NULL,"
    "  PRIMARY KEY (ino, vno, owner)"
    ") WITHOUT ROWID";
constexpr char kSqlHasPinTable[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'version_pins'";
constexpr char kSqlInsertPin[] =
    "INSERT OR IGNORE INTO version_pins(owner, ino, vno) VALUES(?1, ?2, ?3)";
constexpr char kSqlDeletePin[] =
    "DELETE FROM version_pins WHERE owner = ?1 AND ino = ?2 AND vno = ?3";
constexpr char kSqlDeleteOwnerPins[] = "DELETE FROM version_pins WHERE owner = ?1";
constexpr char kSqlDeleteOwnerPinsOfInode[] =
    "DELETE FROM version_pins WHERE owner = ?1 AND ino = ?2";
constexpr char kSqlPinOwners[] = "SELECT DISTINCT owner FROM version_pins";
constexpr char kSqlPinsOfInode[] = "SELECT vno, owner FROM version_pins WHERE ino = ?1";
constexpr char kSqlVersionExists[] = "SELECT 1 FROM versions WHERE ino = ?1 AND vno = ?2";
// What only a pin can have kept of a regular file in a bucket without
// versioning: a version that is not current, or any version of a file
// without a live name.
constexpr char kSqlKeptState[] =
    "SELECT i.current_version, EXISTS (SELECT 1 FROM dentries d WHERE d.ino = i.id "
    "  AND d.seq_end IS NULL), "
    "EXISTS (SELECT 1 FROM versions v WHERE v.ino = i.id AND v.vno <> i.current_version), "
    "EXISTS (SELECT 1 FROM versions v WHERE v.ino = i.id) "
    "FROM inodes i WHERE i.id = ?1 AND i.kind = 1";
constexpr char kSqlKeptInodes[] =
    "SELECT i.id FROM inodes i WHERE i.kind = 1 AND EXISTS (SELECT 1 FROM versions v "
    "  WHERE v.ino = i.id AND (v.vno <> i.current_version OR NOT EXISTS (SELECT 1 FROM "
    "  dentries d WHERE d.ino = i.id AND d.seq_end IS NULL)))";
constexpr char kSqlAllVersionNos[] = "SELECT vno FROM versions WHERE ino = ?1";

}  // namespace

Status Catalog::EnsurePinTable() {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only()) return Status::OK();
  RETURN_IF_ERROR(impl.db->Exec(kSqlCreatePins, "creating table version_pins"));
  impl.has_pin_table = true;
  return Status::OK();
}

void Catalog::SetPinOwner(std::string owner, PinLiveness alive) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->pin_owner = std::move(owner);
  impl_->pin_alive = std::move(alive);
}

Status Catalog::AddPin(std::string_view owner, InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  // A plain write transaction (no commit recorded: a pin changes no file).
  // It serializes with every deletion, which checks pins in its own write
  // transaction: either the deletion came first (the version is gone:
  // NotFound) or it sees this pin.
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlVersionExists));
    q.BindAll(ino, vno);
    ASSIGN_OR_RETURN(bool there, q.Step());
    if (!there) {
      return Status::NotFound("version " + std::to_string(vno.value) + " of inode " +
                              std::to_string(ino.value) + " is gone");
    }
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlInsertPin));
  q.BindText(1, owner).Bind(2, ino).Bind(3, vno);
  RETURN_IF_ERROR(q.Run());
  return txn.Commit();
}

Status Catalog::Impl::RemoveOwnPinIn(InodeId ino, VersionNo vno) {
  if (!has_pin_table || pin_owner.empty()) return Status::OK();
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlDeletePin));
  q.BindText(1, pin_owner).Bind(2, ino).Bind(3, vno);
  return q.Run();
}

Status Catalog::RemovePin(std::string_view owner, InodeId ino, VersionNo vno) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlDeletePin));
  q.BindText(1, owner).Bind(2, ino).Bind(3, vno);
  return q.Run();
}

Status Catalog::RemoveOwnerPins(std::string_view owner) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlDeleteOwnerPins));
  q.BindText(1, owner);
  return q.Run();
}

Status Catalog::CheckUnpinned(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(auto pins, impl_->PinnedVersions(ino));
  if (pins.empty()) return Status::OK();
  return Status::Busy(PinnedMessage(pins.begin()->first, pins.begin()->second));
}

Result<uint64_t> Catalog::SweepStalePins() {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only() || !impl.pin_alive) return uint64_t{0};
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  std::vector<std::string> owners;
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlPinOwners));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      owners.push_back(q.Str(0));
    }
  }
  uint64_t dropped = 0;
  for (const std::string& o : owners) {
    std::string who;
    if (o == impl.pin_owner || impl.pin_alive(o, &who)) continue;
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlDeleteOwnerPins));
    q.BindText(1, o);
    RETURN_IF_ERROR(q.Run());
    ++dropped;
  }
  if (dropped == 0) return dropped;  // the transaction rolls back: nothing changed
  RETURN_IF_ERROR(txn.Commit());
  return dropped;
}

Status Catalog::Impl::DropUnpinned(InodeId ino, const std::map<VersionNo, std::string>& pins,
                                   std::optional<VersionNo> keep, bool* dropped, int64_t now) {
  std::vector<VersionNo> vnos;
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlAllVersionNos));
    q.Bind(1, ino);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      vnos.push_back(VersionNo(q.U64(0)));
    }
  }
  std::set<VersionNo> gone;
  for (VersionNo v : vnos) {
    if (pins.count(v) || (keep && v == *keep)) continue;
    RETURN_IF_ERROR(DropVersion(ino, v));
    gone.insert(v);
  }
  if (gone.empty()) return Status::OK();
  if (dropped) *dropped = true;
  // A nameless file keeps pointing at a version it has (fsck, time views).
  ASSIGN_OR_RETURN(InodeRow r, LoadInode(ino));
  ASSIGN_OR_RETURN(bool any, AfterVersionsDropped(ino, r.current_version, gone, now));
  if (!any) return Purge(ino);
  return Status::OK();
}

Result<bool> Catalog::Impl::ReleaseKept(InodeId ino, int64_t now) {
  if (settings.versioning) return false;
  ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlKeptState));
  q.Bind(1, ino);
  ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return false;
  const VersionNo current(q.U64(0));
  const bool live = q.Int(1) != 0, others = q.Int(2) != 0, any = q.Int(3) != 0;
  if (live ? !others : !any) return false;
  ASSIGN_OR_RETURN(auto pins, PinnedVersions(ino));
  if (!live && pins.empty()) {
    RETURN_IF_ERROR(Purge(ino));
    return true;
  }
  bool dropped = false;
  RETURN_IF_ERROR(DropUnpinned(ino, pins, live ? std::optional<VersionNo>(current) : std::nullopt,
                               &dropped, now));
  return dropped;
}

Result<bool> Catalog::ReleaseUnpinned(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (impl.db->read_only() || impl.settings.versioning) return false;
  {
    // A read first: most unpins (a write session moving on to the version
    // it committed) find nothing left to drop and take no write lock.
    ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/false));
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlKeptState));
    q.Bind(1, ino);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return false;
    const bool live = q.Int(1) != 0, others = q.Int(2) != 0, any = q.Int(3) != 0;
    if (live ? !others : !any) return false;
  }
  ASSIGN_OR_RETURN(Impl::Write w, impl.BeginWrite());
  ASSIGN_OR_RETURN(bool changed, impl.ReleaseKept(ino, w.time_ns));
  if (!changed) return false;  // rolled back: no commit recorded
  RETURN_IF_ERROR(w.txn.Commit());
  return true;
}

Result<std::set<VersionNo>> Catalog::PinnedVersionsOf(InodeId ino) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  std::set<VersionNo> out;
  // Writable: stale pins met are dropped on the way (as by a deletion); a
  // read-only open (prune --dry-run) only reads them.
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/!impl.db->read_only()));
  ASSIGN_OR_RETURN(auto pins, impl.PinnedVersions(ino));
  for (const auto& [vno, who] : pins) out.insert(vno);
  RETURN_IF_ERROR(txn.Commit());
  return out;
}

Result<uint64_t> Catalog::ReleaseAllUnpinned() {
  std::vector<InodeId> inos;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    Impl& impl = *impl_;
    if (impl.db->read_only() || impl.settings.versioning) return uint64_t{0};
    ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/false));
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlKeptInodes));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      inos.push_back(InodeId(q.U64(0)));
    }
  }
  uint64_t released = 0;
  for (InodeId ino : inos) {
    ASSIGN_OR_RETURN(bool changed, ReleaseUnpinned(ino));
    released += changed ? 1 : 0;
  }
  return released;
}

Result<std::map<VersionNo, std::string>> Catalog::Impl::PinnedVersions(InodeId ino,
                                                                      bool include_own) {
  std::map<VersionNo, std::string> out;
  if (!has_pin_table) {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlHasPinTable));
    RETURN_IF_ERROR(q.Step().status());
    if (q.Int(0) == 0) return out;
    has_pin_table = true;
  }
  std::vector<std::pair<VersionNo, std::string>> pins;
  {
    ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlPinsOfInode));
    q.Bind(1, ino);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      pins.emplace_back(VersionNo(q.U64(0)), q.Str(1));
    }
  }
  std::map<std::string, std::string> alive;  // owner -> who, for live owners
  std::set<std::string> dead;
  for (const auto& [vno, owner] : pins) {
    if (dead.count(owner) || (!include_own && owner == pin_owner)) continue;
    auto it = alive.find(owner);
    if (it == alive.end()) {
      std::string who = "this process";
      bool live = owner == pin_owner || (pin_alive && pin_alive(owner, &who));
      // Without a liveness test (a Catalog alone, in tests) every pin counts.
      if (!pin_alive && owner != pin_owner) live = true, who = "another process";
      if (!live) {
        dead.insert(owner);
        if (db->read_only()) continue;
        // Stale (its process is gone): dropped in the caller's transaction,
        // for this inode only. Its pins of other files stay for whoever
        // meets them, or the sweep of the next open, which then releases
        // what only they kept (SweepStalePins, ReleaseAllUnpinned); deleted
        // here they would leave that behind unnoticed.
        ASSIGN_OR_RETURN(sql::Query q, db->Prepare(kSqlDeleteOwnerPinsOfInode));
        q.BindText(1, owner).Bind(2, ino);
        RETURN_IF_ERROR(q.Run());
        continue;
      }
      it = alive.emplace(owner, who).first;
    }
    out.emplace(vno, it->second);
  }
  return out;
}

std::string PinnedMessage(VersionNo vno, const std::string& who) {
  return "version " + std::to_string(vno.value) +
         " is in use: a file open in a mount (" + who +
         ") reads it, or a file open for writing there is based on it; close the file (or "
         "wait for the writer to finish) and retry";
}

}  // namespace katamari

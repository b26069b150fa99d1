// Catalog: key slots and sealed columns of encrypted buckets
// (docs/encryption.md, docs/catalog.md "Sealed columns").
#include <string>

#include "store/catalog.h"
#include "store/catalog_impl.h"

namespace katamari {

namespace {

constexpr char kSqlKeySlots[] = "SELECT id, created_ns, label, slot FROM key_slots ORDER BY id";
constexpr char kSqlAddKeySlot[] =
    "INSERT INTO key_slots(created_ns, label, slot) VALUES(?1, ?2, ?3)";
constexpr char kSqlCountKeySlots[] = "SELECT count(*) FROM key_slots";
constexpr char kSqlHasKeySlot[] = "SELECT 1 FROM key_slots WHERE id = ?1";
constexpr char kSqlRemoveKeySlot[] = "DELETE FROM key_slots WHERE id = ?1";
constexpr char kSqlReplaceKeySlot[] = "UPDATE key_slots SET slot = ?2 WHERE id = ?1";

Status NotEncrypted(const std::string& path) {
  return Status::InvalidArgument("catalog " + path +
                                 " belongs to a bucket that is not encrypted; it has no key "
                                 "slots (encryption is chosen at `katamari init --encrypt`)");
}

Status NoSuchSlot(uint32_t id) {
  return Status::NotFound("no key slot " + std::to_string(id) +
                          "; `katamari key list` shows the slots there are");
}

// While alive, SQLite overwrites deleted content with zeros (secure_delete),
// so a removed or replaced key slot does not linger in free space of the
// page. Afterwards it truncates the WAL (best effort: a reader holding an old
// snapshot, e.g. a mounted daemon, keeps old frames until its next
// checkpoint), so the old wrapped key is gone from the bucket's files too.
class ScrubOldSlots {
 public:
  explicit ScrubOldSlots(sql::Db& db) : db_(db) {
    (void)db_.Exec("PRAGMA secure_delete = ON", "enabling secure_delete");
  }
  ~ScrubOldSlots() {
    (void)db_.Exec("PRAGMA secure_delete = OFF", "disabling secure_delete");
    (void)db_.Exec("PRAGMA wal_checkpoint(TRUNCATE)", "checkpointing the catalog");
  }
  ScrubOldSlots(const ScrubOldSlots&) = delete;
  ScrubOldSlots& operator=(const ScrubOldSlots&) = delete;

 private:
  sql::Db& db_;
};

}  // namespace

// ---- sealed columns (mu held)

Result<std::string> Catalog::Impl::Seal(std::string_view aad, std::string_view plain) {
  if (!settings.encrypted) return std::string(plain);
  if (!field_key) {
    return Status::WrongKey("catalog " + path + " is encrypted and was opened without its key");
  }
  return crypto::SealField(*field_key, aad, plain);
}

Result<std::string> Catalog::Impl::Unseal(std::string_view aad, std::string_view stored,
                                          const std::string& what) {
  if (!settings.encrypted) return std::string(stored);
  if (!field_key) {
    return Status::WrongKey("catalog " + path + " is encrypted and was opened without its key");
  }
  std::string plain;
  if (!crypto::OpenField(*field_key, aad, stored, &plain)) {
    return Status::Corruption("catalog " + path + ": the sealed " + what +
                              " does not authenticate (modified, moved from another row, or "
                              "damaged); run `katamari fsck` and restore catalog.db from a "
                              "backup");
  }
  return plain;
}

// ---- public

void Catalog::Unlock(const crypto::Key& field_key) {
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->field_key = field_key;
}

Result<std::vector<Catalog::KeySlot>> Catalog::KeySlots() {
  std::lock_guard<std::mutex> l(impl_->mu);
  ASSIGN_OR_RETURN(sql::Query q, impl_->db->Prepare(kSqlKeySlots));
  std::vector<KeySlot> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return out;
    KeySlot k;
    k.id = static_cast<uint32_t>(q.U64(0));
    k.created_ns = q.Int(1);
    k.label = q.Str(2);
    k.blob = q.Str(3);
    out.push_back(std::move(k));
  }
}

Result<uint32_t> Catalog::AddKeySlot(std::string_view blob, std::string_view label) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (!impl.settings.encrypted) return NotEncrypted(impl.path);
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  {
    // A std::string, not the view: an empty view may have no data pointer,
    // which SQLite would bind as NULL.
    const std::string label_text(label);
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlAddKeySlot));
    q.Bind(1, CatalogNowNs()).BindText(2, label_text).Bind(3, blob);
    RETURN_IF_ERROR(q.Run());
  }
  const auto id = static_cast<uint32_t>(impl.db->LastInsertRowid());
  RETURN_IF_ERROR(txn.Commit());
  return id;
}

Status Catalog::RemoveKeySlot(uint32_t id) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (!impl.settings.encrypted) return NotEncrypted(impl.path);
  ScrubOldSlots scrub(*impl.db);  // declared first: it acts after the commit
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlHasKeySlot));
    q.Bind(1, id);
    ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) return NoSuchSlot(id);
  }
  {
    // Counted inside the write transaction: two removals racing from two
    // processes cannot both see "another slot is left".
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlCountKeySlots));
    RETURN_IF_ERROR(q.Step().status());
    if (q.Int(0) <= 1) {
      return Status::InvalidArgument(
          "key slot " + std::to_string(id) +
          " is the bucket's last key slot; without it the bucket could never be opened "
          "again. Add another key first (`katamari key add`), or change this one "
          "(`katamari key change`)");
    }
  }
  ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlRemoveKeySlot));
  q.Bind(1, id);
  RETURN_IF_ERROR(q.Run());
  return txn.Commit();
}

Status Catalog::ReplaceKeySlot(uint32_t id, std::string_view blob) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl& impl = *impl_;
  if (!impl.settings.encrypted) return NotEncrypted(impl.path);
  ScrubOldSlots scrub(*impl.db);  // declared first: it acts after the commit
  ASSIGN_OR_RETURN(sql::Txn txn, sql::Txn::Begin(*impl.db, /*write=*/true));
  {
    ASSIGN_OR_RETURN(sql::Query q, impl.db->Prepare(kSqlReplaceKeySlot));
    q.Bind(1, id).Bind(2, blob);
    RETURN_IF_ERROR(q.Run());
  }
  if (impl.db->Changes() != 1) return NoSuchSlot(id);
  return txn.Commit();
}

}  // namespace katamari

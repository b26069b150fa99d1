// Catalog of an encrypted bucket: key slots, and the sealed columns
// (versions.sha256, versions.xattrs, xattrs.value) seen from SQL.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/catalog.h"
#include "store/crypto.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;

struct RawDb {
  explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db); }
  ~RawDb() { sqlite3_close(db); }
  std::string Blob(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    return out;
  }
  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
  }
  sqlite3* db = nullptr;
};

class EncryptedCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "katamari-ecat-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    path_ = dir_ + "/catalog.db";
    master_ = crypto::Key::Random();
    keys_ = crypto::BucketKeys::Derive(master_);
    slot_ = *crypto::WrapMasterKey(crypto::SlotKind::kKeyFile,
                                   std::string(crypto::Key::Random().view()), {}, master_);
    BucketSettings set;
    set.encrypted = true;
    auto c = Catalog::Create(path_, set, 0, 0, slot_, &keys_.field);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  void TearDown() override {
    cat_.reset();
    fs::remove_all(dir_);
  }
  void Reopen(bool unlock) {
    cat_.reset();
    auto c = Catalog::Open(path_, false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
    if (unlock) cat_->Unlock(keys_.field);
  }
  InodeId File(const std::string& name) {
    Catalog::NewNode n;
    auto a = cat_->CreateNode(kRootInode, name, n);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->ino : InodeId(0);
  }
  Result<VersionInfo> AddVersion(InodeId ino, const Sha256& sha, std::optional<Xattrs> x = {}) {
    Catalog::NewVersion v;
    v.ino = ino;
    v.size = 10;
    v.sha256 = sha;
    v.chunks = {testing_util::InPack(ChunkRef{sha, 10, 50})};
    v.xattrs = std::move(x);
    return cat_->AddVersion(v);
  }

  std::string dir_, path_, slot_;
  crypto::Key master_;
  crypto::BucketKeys keys_;
  std::unique_ptr<Catalog> cat_;
};

Sha256 ShaOf(uint8_t fill) {
  Sha256 d;
  d.bytes.fill(fill);
  return d;
}

TEST_F(EncryptedCatalogTest, CreateStoresCipherAndFirstSlot) {
  EXPECT_TRUE(cat_->settings().encrypted);
  Reopen(false);
  EXPECT_TRUE(cat_->settings().encrypted);
  auto slots = cat_->KeySlots();
  ASSERT_TRUE(slots.ok());
  ASSERT_EQ(slots->size(), 1u);
  EXPECT_EQ((*slots)[0].id, 1u);
  EXPECT_EQ((*slots)[0].blob, slot_);
  EXPECT_GT((*slots)[0].created_ns, 0);
  RawDb raw(path_);
  EXPECT_EQ(raw.Blob("SELECT value FROM meta WHERE key = 'cipher'"), "aes-256-gcm");
}

TEST_F(EncryptedCatalogTest, CreateNeedsSlotIffEncrypted) {
  BucketSettings plain;
  EXPECT_EQ(Catalog::Create(dir_ + "/p.db", plain, 0, 0, slot_).status().code(),
            Code::kInvalidArgument);
  BucketSettings enc;
  enc.encrypted = true;
  EXPECT_EQ(Catalog::Create(dir_ + "/e.db", enc, 0, 0).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/p.db"));  // a failed create leaves nothing
  EXPECT_FALSE(fs::exists(dir_ + "/e.db"));
}

TEST_F(EncryptedCatalogTest, ShaAndXattrsAreSealedInSqlAndPlainThroughTheApi) {
  InodeId f = File("bank-statement.pdf");
  const Sha256 sha = ShaOf(0x5a);
  ASSERT_TRUE(cat_->SetXattr(f, "user.account", "DE44 5001 0517 5407 3249 31", 0).ok());
  auto v = AddVersion(f, sha);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->sha256, sha);
  Reopen(true);
  auto got = cat_->GetVersion(f, VersionNo(1));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->sha256, sha);
  EXPECT_EQ(got->xattrs.at("user.account"), "DE44 5001 0517 5407 3249 31");
  EXPECT_EQ(cat_->GetXattrs(f)->at("user.account"), "DE44 5001 0517 5407 3249 31");

  RawDb raw(path_);
  const std::string col = raw.Blob("SELECT sha256 FROM versions");
  EXPECT_EQ(col.size(), 32 + crypto::kSealedOverhead);
  EXPECT_EQ(col.find(std::string(8, '\x5a')), std::string::npos);
  const std::string snap = raw.Blob("SELECT xattrs FROM versions");
  EXPECT_EQ(snap.find("DE44"), std::string::npos);
  EXPECT_EQ(snap.find("user.account"), std::string::npos);  // the whole snapshot is sealed
  EXPECT_EQ(raw.Blob("SELECT value FROM xattrs").find("DE44"), std::string::npos);
  // Names stay visible (docs/encryption.md says so).
  EXPECT_EQ(raw.Blob("SELECT name FROM xattrs"), "user.account");
  EXPECT_EQ(raw.Blob("SELECT name FROM dentries WHERE ino = " + std::to_string(f.value)),
            "bank-statement.pdf");
}

TEST_F(EncryptedCatalogTest, LockedCatalogRefusesSealedColumnsButListsNames) {
  InodeId f = File("f");
  ASSERT_TRUE(cat_->SetXattr(f, "user.a", "b", 0).ok());
  ASSERT_TRUE(AddVersion(f, ShaOf(1)).ok());
  Reopen(false);
  EXPECT_EQ(cat_->GetVersion(f, VersionNo(1)).status().code(), Code::kWrongKey);
  EXPECT_EQ(cat_->GetXattrs(f).status().code(), Code::kWrongKey);
  EXPECT_EQ(AddVersion(f, ShaOf(2)).status().code(), Code::kWrongKey);
  EXPECT_EQ(cat_->SetXattr(f, "user.x", "y", 0).code(), Code::kWrongKey);
  EXPECT_TRUE(cat_->Lookup(kRootInode, "f").ok());
  EXPECT_EQ(cat_->GetAttr(f)->current_version, VersionNo(1));
  // A failed write changed nothing.
  cat_->Unlock(keys_.field);
  EXPECT_EQ(cat_->ListVersions(f)->size(), 1u);
  EXPECT_FALSE(cat_->GetXattrs(f)->count("user.x"));
}

TEST_F(EncryptedCatalogTest, SealedValuesMovedToOtherRowsDoNotOpen) {
  InodeId f = File("f"), g = File("g");
  ASSERT_TRUE(AddVersion(f, ShaOf(1)).ok());
  ASSERT_TRUE(AddVersion(g, ShaOf(2)).ok());
  cat_.reset();
  {
    RawDb raw(path_);
    raw.Exec("UPDATE versions SET sha256 = (SELECT sha256 FROM versions WHERE ino = " +
             std::to_string(g.value) + ") WHERE ino = " + std::to_string(f.value));
  }
  Reopen(true);
  auto r = cat_->GetVersion(f, VersionNo(1));
  EXPECT_EQ(r.status().code(), Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("SHA-256 of version 1 of inode"), std::string::npos);
  EXPECT_TRUE(cat_->GetVersion(g, VersionNo(1)).ok());
  // The wrong field key does not open anything either.
  cat_->Unlock(crypto::BucketKeys::Derive(crypto::Key::Random()).field);
  EXPECT_EQ(cat_->GetVersion(g, VersionNo(1)).status().code(), Code::kCorruption);
}

// Rename's editor pattern and restore copy sealed values between rows; they
// must be re-sealed for their new place, not copied.
TEST_F(EncryptedCatalogTest, EditorPatternReSealsForTheTarget) {
  InodeId target = File("doc"), tmp = File("doc.tmp");
  ASSERT_TRUE(AddVersion(target, ShaOf(1)).ok());
  ASSERT_TRUE(cat_->SetXattr(tmp, "user.k", "v", 0).ok());
  ASSERT_TRUE(AddVersion(tmp, ShaOf(2)).ok());
  auto r = cat_->Rename(kRootInode, "doc.tmp", kRootInode, "doc", 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->merged_into, target);
  Reopen(true);
  auto v2 = cat_->GetVersion(target, VersionNo(2));
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->sha256, ShaOf(2));
  EXPECT_EQ(v2->xattrs.at("user.k"), "v");
  EXPECT_EQ(cat_->GetXattrs(target)->at("user.k"), "v");
}

TEST_F(EncryptedCatalogTest, KeySlotsAddReplaceRemoveButNeverTheLast) {
  const std::string second =
      *crypto::WrapMasterKey(crypto::SlotKind::kPassphrase, "pw", {1024, 8, 1}, master_);
  auto id = cat_->AddKeySlot(second, "laptop");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 2u);
  auto slots = cat_->KeySlots();
  ASSERT_EQ(slots->size(), 2u);
  EXPECT_EQ((*slots)[1].label, "laptop");
  EXPECT_EQ((*slots)[1].blob, second);

  ASSERT_TRUE(cat_->ReplaceKeySlot(2, slot_).ok());
  EXPECT_EQ((*cat_->KeySlots())[1].blob, slot_);
  EXPECT_EQ(cat_->ReplaceKeySlot(9, slot_).code(), Code::kNotFound);

  ASSERT_TRUE(cat_->RemoveKeySlot(1).ok());
  EXPECT_EQ(cat_->RemoveKeySlot(1).code(), Code::kNotFound);
  Status last = cat_->RemoveKeySlot(2);
  EXPECT_EQ(last.code(), Code::kInvalidArgument);
  EXPECT_NE(last.message().find("last key slot"), std::string::npos);
  // Ids are never reused.
  EXPECT_EQ(*cat_->AddKeySlot(second, ""), 3u);
  // Slot changes are not history: no commit was recorded.
  EXPECT_EQ(cat_->CurrentSeq(), Seq(1));
}

}  // namespace
}  // namespace katamari

// Encrypted buckets end to end through bucket.h: round trips, keys and key
// slots, what the bucket directory reveals, and tampering.
#include <gtest/gtest.h>
#include <zlib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "store/bucket.h"
#include "store/sha256.h"
#include "tests/unit/stored_chunks.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using Code = Status::Code;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
void Spit(const std::string& path, const std::string& data, mode_t mode = 0600) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << data;
  }
  ::chmod(path.c_str(), mode);
}

// Deterministic, recognizable text: every line is unique.
std::string Statement(size_t lines, int salt) {
  std::string s;
  for (size_t i = 0; i < lines; ++i) {
    s += "2026-11-" + std::to_string(10 + i % 19) + " transfer #" +
         std::to_string(i * 7919 + salt) + " to ACME Corp, amount EUR " +
         std::to_string((i * 37 + salt) % 10000) + "." + std::to_string(i % 100) + "\n";
  }
  return s;
}
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}
std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}
std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Every byte of every file under `dir`.
std::vector<std::pair<std::string, std::string>> AllFiles(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.emplace_back(e.path().string(), Slurp(e.path().string()));
  }
  return out;
}
// The stored chunks (files and pack records).
std::vector<testing_util::StoredChunk> ChunkFiles(const std::string& dir) {
  return testing_util::StoredChunks(dir);
}
// Where in the bucket `needle` occurs ("" if nowhere).
std::string FindIn(const std::vector<std::pair<std::string, std::string>>& files,
                   const std::string& needle) {
  for (const auto& [path, bytes] : files) {
    if (bytes.find(needle) != std::string::npos) return path;
  }
  return "";
}

constexpr uint64_t kFastN = 1024;  // scrypt cost for tests

class EncryptedBucketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-encb-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/b";
    keyfile_ = root_ + "/bucket.key";
    ASSERT_TRUE(Bucket::CreateKeyFile(keyfile_).ok());
    BucketSettings set;
    set.compression = Codec::kNone;  // plaintext would show verbatim if not sealed
    Status st = Bucket::Create(dir_, set, BucketKey::KeyFile(keyfile_));
    ASSERT_TRUE(st.ok()) << st.ToString();
    Reopen();
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  Result<std::unique_ptr<Bucket>> Open(const BucketKey& key, bool read_only = false) {
    Bucket::OpenOptions o;
    o.key = key;
    o.read_only = read_only;
    return Bucket::Open(dir_, o);
  }
  void Reopen(const BucketKey& key) {
    b_.reset();
    auto r = Open(key);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  void Reopen() { Reopen(BucketKey::KeyFile(keyfile_)); }
  BucketKey Pass(const std::string& pw) {
    BucketKey k = BucketKey::Passphrase(pw);
    k.scrypt_n = kFastN;
    return k;
  }
  VersionInfo Put(const std::string& key, const std::string& data, PutOptions o = {}) {
    StringSource src(data);
    auto r = b_->Put(key, src, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  std::string Get(const std::string& key, VersionSelector sel = {}) {
    StringSink sink;
    Status st = b_->Get(key, sel, sink);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return sink.out;
  }

  // key_slots.slot of slot `id`, read with SQLite directly.
  std::string SlotBlob(int id) {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ + "/catalog.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* st = nullptr;
    std::string out;
    const std::string sql = "SELECT slot FROM key_slots WHERE id = " + std::to_string(id);
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out.assign(static_cast<const char*>(sqlite3_column_blob(st, 0)), sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  std::string root_, dir_, keyfile_;
  std::unique_ptr<Bucket> b_;
};

TEST_F(EncryptedBucketTest, CreateKeyFileMakesAPrivate32ByteFile) {
  struct stat st;
  ASSERT_EQ(::stat(keyfile_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_NE(Slurp(keyfile_), std::string(32, '\0'));
  EXPECT_EQ(Bucket::CreateKeyFile(keyfile_).code(), Code::kExists);
  EXPECT_TRUE(b_->encrypted());
  EXPECT_TRUE(b_->settings().encrypted);
  EXPECT_EQ(b_->unlocked_slot(), 1u);
}

TEST_F(EncryptedBucketTest, RoundTripsVersionsRestoreFsckGc) {
  std::vector<std::string> bodies = {"", "x", Statement(10, 1), Random(300000, 2),
                                     Statement(40000, 3)};
  for (size_t i = 0; i < bodies.size(); ++i) {
    VersionInfo v = Put("dir/f" + std::to_string(i), bodies[i]);
    EXPECT_EQ(v.size, bodies[i].size());
    EXPECT_EQ(v.sha256, Sha256Of(bodies[i]));  // the plain SHA-256, as sha256sum prints
  }
  PutOptions meta;
  meta.metadata = {{"user.account", "DE44 5001 0517 5407 3249 31"}};
  Put("v", "one\n", meta);
  Put("v", "two\n");
  Put("v", "three\n");
  Reopen();
  for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ(Get("dir/f" + std::to_string(i)), bodies[i]);
  auto versions = b_->Versions("v");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].sha256, Sha256Of("one\n"));
  EXPECT_EQ((*versions)[0].xattrs.at("user.account"), "DE44 5001 0517 5407 3249 31");
  EXPECT_EQ(Get("v", {VersionNo(2), {}}), "two\n");
  auto restored = b_->Restore("v", {VersionNo(1), {}});
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->sha256, Sha256Of("one\n"));
  EXPECT_EQ(Get("v"), "one\n");
  auto listing = b_->List("", false);
  ASSERT_TRUE(listing.ok());
  ASSERT_TRUE(b_->DeleteVersion("v", VersionNo(3)).ok());
  ASSERT_TRUE(b_->Purge("dir/f3").ok());
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  EXPECT_GT(fsck->bytes_checked, 0u);
  EXPECT_EQ(Get("dir/f4"), bodies[4]);
  // The random-access reader (the mount's read path) too.
  auto info = b_->Resolve("dir/f4", {});
  auto reader = b_->OpenVersion(info->ino, info->version);
  ASSERT_TRUE(reader.ok());
  std::string buf(1000, '\0');
  size_t got = 0;
  ASSERT_TRUE((*reader)->ReadAt(123456, buf.size(), buf.data(), &got).ok());
  EXPECT_EQ(buf.substr(0, got), bodies[4].substr(123456, 1000));
}

// The raw length of each chunk of every version, in order, from versions.chunks.
std::vector<uint32_t> ChunkLengths(const std::string& dir) {
  sqlite3* db = nullptr;
  sqlite3_open_v2((dir + "/catalog.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::vector<uint32_t> out;
  // Format 7: the records are in the segments (docs/catalog.md), in order
  // for a bucket of one single-segment version as here.
  sqlite3_prepare_v2(db, "SELECT chunks FROM segments ORDER BY id", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(st, 0));
    for (int off = 0; off + 40 <= sqlite3_column_bytes(st, 0); off += 40) {
      out.push_back(uint32_t{p[off + 32]} | uint32_t{p[off + 33]} << 8 |
                    uint32_t{p[off + 34]} << 16 | uint32_t{p[off + 35]} << 24);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

TEST_F(EncryptedBucketTest, EqualContentGetsDifferentChunkIdsInTwoBuckets) {
  const std::string data = Random(400000, 5);
  Put("same", data);
  const std::string dir2 = root_ + "/b2", plain = root_ + "/plain";
  BucketSettings set;
  set.compression = Codec::kNone;
  ASSERT_TRUE(Bucket::Create(dir2, set, BucketKey::KeyFile(keyfile_)).ok());
  ASSERT_TRUE(Bucket::Create(plain, set).ok());
  for (const std::string& d : {dir2, plain}) {
    Bucket::OpenOptions o;
    o.key = BucketKey::KeyFile(keyfile_);  // the same key file: still another master key
    auto b = Bucket::Open(d, o);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    StringSource src(data);
    ASSERT_TRUE((*b)->Put("same", src, {}).ok());
  }
  auto names = [](const std::string& d) {
    std::set<std::string> out;
    for (const auto& c : ChunkFiles(d)) out.insert(c.id_hex);
    return out;
  };
  const auto a = names(dir_), b = names(dir2), p = names(plain);
  ASSERT_FALSE(a.empty());
  // Boundaries are keyed too: the visible chunk lengths differ from the
  // public chunking of the same content, and between the two buckets.
  const std::vector<uint32_t> la = ChunkLengths(dir_), lb = ChunkLengths(dir2),
                              lp = ChunkLengths(plain);
  ASSERT_GT(lp.size(), 2u);
  EXPECT_NE(la, lp);
  EXPECT_NE(la, lb);
  for (const std::string& n : a) {
    EXPECT_FALSE(b.count(n)) << n;
    EXPECT_FALSE(p.count(n)) << n;  // and no id is the chunk's SHA-256
  }
}

// docs/semantics.md, Encryption: nothing in the bucket directory reveals file content or content
// hashes. Scans every byte of every file (catalog.db, its WAL, chunks),
// while the bucket is open and after it is closed.
TEST_F(EncryptedBucketTest, NoPlaintextLineOrPlainSha256AnywhereInTheBucket) {
  const std::string small = Statement(20, 11);     // one chunk: its SHA is the file's
  const std::string large = Statement(30000, 12);  // many chunks
  PutOptions meta;
  meta.metadata = {{"user.iban", "DE89 3704 0044 0532 0130 00"}};
  Put("statements/2026-11.txt", small, meta);
  Put("statements/2026-12.txt", large);
  // The SHA-256s a plain bucket would store: of each file, and of each chunk
  // (a plain bucket's chunk file names, with the same chunking).
  std::vector<std::string> hashes = {Sha256Of(small).Hex(), Sha256Of(large).Hex()};
  {
    BucketSettings set;
    set.compression = Codec::kNone;
    set.delta_chunks = false;  // both puts replace "x": no patches, plaintext as it is
    const std::string plain = root_ + "/plain";
    ASSERT_TRUE(Bucket::Create(plain, set).ok());
    auto pb = Bucket::Open(plain, {});
    ASSERT_TRUE(pb.ok());
    for (const std::string* d : {&small, &large}) {
      StringSource src(*d);
      ASSERT_TRUE((*pb)->Put("x", src, meta).ok());
    }
    for (const auto& c : ChunkFiles(plain)) hashes.push_back(c.id_hex);
    ASSERT_GT(hashes.size(), 4u);
    // The scanner finds all of it in the plain bucket (so it can fail).
    auto files = AllFiles(plain);
    EXPECT_NE(FindIn(files, Lines(large)[123]), "");
    EXPECT_NE(FindIn(files, "DE89 3704"), "");
    const Digest d = *Digest::FromHex(hashes[0]);
    EXPECT_NE(FindIn(files, std::string(reinterpret_cast<const char*>(d.bytes.data()), 32)), "");
  }
  auto scan = [&](const char* when) {
    SCOPED_TRACE(when);
    auto files = AllFiles(dir_);
    ASSERT_TRUE(std::any_of(files.begin(), files.end(),
                            [](auto& f) { return f.first.ends_with("catalog.db"); }));
    // Every line of the small file, every 50th of the large one (each line
    // is unique, and a chunk holds hundreds of them).
    for (const std::string* text : {&small, &large}) {
      const std::vector<std::string> lines = Lines(*text);
      const size_t step = text == &small ? 1 : 50;
      for (size_t i = 0; i < lines.size(); i += step) {
        ASSERT_EQ(FindIn(files, lines[i]), "") << "line '" << lines[i] << "'";
      }
    }
    EXPECT_EQ(FindIn(files, "DE89 3704"), "");
    for (const std::string& hex : hashes) {
      const Digest d = *Digest::FromHex(hex);
      const std::string raw(reinterpret_cast<const char*>(d.bytes.data()), 32);
      EXPECT_EQ(FindIn(files, raw), "") << hex;
      EXPECT_EQ(FindIn(files, hex), "") << hex;
      EXPECT_EQ(FindIn(files, Upper(hex)), "") << hex;
      EXPECT_EQ(FindIn(files, raw.substr(0, 12)), "") << hex;  // no prefix either
    }
  };
  scan("open, with the WAL");
  b_.reset();
  scan("closed");
}

TEST_F(EncryptedBucketTest, MissingWrongOrUnsafeKeysAreRefusedClearly) {
  Put("f", "data");
  b_.reset();
  auto none = Open(BucketKey());
  EXPECT_EQ(none.status().code(), Code::kWrongKey);
  EXPECT_NE(none.status().message().find("bucket " + dir_ +
                                         " is encrypted: pass --keyfile FILE "
                                         "or --passphrase-file FILE (or set KATAMARI_KEYFILE / "
                                         "KATAMARI_PASSPHRASE_FILE)"),
            std::string::npos)
      << none.status().ToString();

  const std::string other = root_ + "/other.key";
  ASSERT_TRUE(Bucket::CreateKeyFile(other).ok());
  auto wrong = Open(BucketKey::KeyFile(other));
  EXPECT_EQ(wrong.status().code(), Code::kWrongKey);
  EXPECT_NE(wrong.status().message().find("wrong key or passphrase for bucket " + dir_),
            std::string::npos)
      << wrong.status().ToString();
  EXPECT_EQ(wrong.status().message().find("corrupt"), std::string::npos);
  EXPECT_EQ(Open(BucketKey::KeyFile(other), /*read_only=*/true).status().code(), Code::kWrongKey);

  auto missing = Open(BucketKey::KeyFile(root_ + "/nope.key"));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("key file " + root_ + "/nope.key"), std::string::npos);

  ::chmod(keyfile_.c_str(), 0644);
  auto open_to_all = Open(BucketKey::KeyFile(keyfile_));
  EXPECT_EQ(open_to_all.status().code(), Code::kPermission);
  EXPECT_NE(open_to_all.status().message().find("chmod 600 " + keyfile_), std::string::npos)
      << open_to_all.status().ToString();
  ::chmod(keyfile_.c_str(), 0640);
  EXPECT_EQ(Open(BucketKey::KeyFile(keyfile_)).status().code(), Code::kPermission);
  ::chmod(keyfile_.c_str(), 0400);
  EXPECT_TRUE(Open(BucketKey::KeyFile(keyfile_)).ok());

  const std::string short_key = root_ + "/short.key";
  Spit(short_key, "0123456789abcdef0123456789abcdef\n");  // 33 bytes: hex or a newline
  auto bad_size = Open(BucketKey::KeyFile(short_key));
  EXPECT_EQ(bad_size.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad_size.status().message().find("exactly 32"), std::string::npos);

  auto kind = Open(Pass("a passphrase"));
  EXPECT_EQ(kind.status().code(), Code::kWrongKey);
  EXPECT_NE(kind.status().message().find("--keyfile FILE"), std::string::npos)
      << kind.status().ToString();
}

TEST_F(EncryptedBucketTest, PassphraseChangeKeepsDataAndRefusesTheOldOne) {
  Put("f", Statement(100, 4));
  const std::string pw_file = root_ + "/pw";
  Spit(pw_file, "old passphrase\n");
  BucketKey old_pw = BucketKey::PassphraseFile(pw_file);
  old_pw.scrypt_n = kFastN;
  auto id = b_->AddKeySlot(old_pw, "backup");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 2u);
  // The file's trailing newline is not part of the passphrase.
  Reopen(Pass("old passphrase"));
  EXPECT_EQ(b_->unlocked_slot(), 2u);
  auto slots = b_->ListKeySlots();
  ASSERT_TRUE(slots.ok());
  // What someone who learns the old passphrase would need: slot 2 as stored.
  const std::string old_blob = SlotBlob(2);
  ASSERT_EQ(old_blob.size(), 100u);
  ASSERT_NE(FindIn(AllFiles(dir_), old_blob), "");
  ASSERT_EQ(slots->size(), 2u);
  EXPECT_EQ((*slots)[1].kind, KeySlotInfo::Kind::kPassphrase);
  EXPECT_EQ((*slots)[1].scrypt_n, kFastN);
  EXPECT_EQ((*slots)[1].label, "backup");
  EXPECT_TRUE((*slots)[1].in_use);
  EXPECT_FALSE((*slots)[0].in_use);

  ASSERT_TRUE(b_->ChangeKeySlot(2, Pass("new passphrase")).ok());
  // The old wrapped key is gone from every file (secure_delete + WAL truncate).
  EXPECT_EQ(FindIn(AllFiles(dir_), old_blob), "");
  EXPECT_NE(SlotBlob(2), old_blob);
  Reopen(Pass("new passphrase"));
  EXPECT_EQ(Get("f"), Statement(100, 4));
  auto old = Open(Pass("old passphrase"));
  EXPECT_EQ(old.status().code(), Code::kWrongKey) << old.status().ToString();
  EXPECT_EQ(b_->ListKeySlots()->at(1).label, "backup");  // same slot, new key
  Reopen();                                              // the key file still opens it
  EXPECT_EQ(Get("f"), Statement(100, 4));
}

TEST_F(EncryptedBucketTest, SlotsAddRemoveNeverTheLastAndNeedWriteAccess) {
  ASSERT_TRUE(b_->AddKeySlot(Pass("second"), "laptop").ok());
  const std::string key2 = root_ + "/k2";
  ASSERT_TRUE(Bucket::CreateKeyFile(key2).ok());
  auto id3 = b_->AddKeySlot(BucketKey::KeyFile(key2));
  ASSERT_TRUE(id3.ok()) << id3.status().ToString();
  EXPECT_EQ(*id3, 3u);
  Reopen(BucketKey::KeyFile(key2));
  EXPECT_EQ(b_->unlocked_slot(), 3u);
  ASSERT_TRUE(b_->RemoveKeySlot(1).ok());
  EXPECT_EQ(Open(BucketKey::KeyFile(keyfile_)).status().code(), Code::kWrongKey);
  EXPECT_EQ(b_->RemoveKeySlot(1).code(), Code::kNotFound);
  ASSERT_TRUE(b_->RemoveKeySlot(2).ok());
  Status last = b_->RemoveKeySlot(3);
  EXPECT_EQ(last.code(), Code::kInvalidArgument);
  EXPECT_NE(last.message().find("last key slot"), std::string::npos);
  EXPECT_EQ(b_->ListKeySlots()->size(), 1u);

  b_.reset();
  auto ro = Open(BucketKey::KeyFile(key2), /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ((*ro)->ListKeySlots()->size(), 1u);
  EXPECT_EQ((*ro)->AddKeySlot(Pass("x")).status().code(), Code::kReadOnly);
  EXPECT_EQ((*ro)->ChangeKeySlot(3, Pass("x")).code(), Code::kReadOnly);
}

TEST_F(EncryptedBucketTest, PassphraseBucketAndPlainBucketRules) {
  const std::string pdir = root_ + "/p";
  ASSERT_TRUE(Bucket::Create(pdir, {}, Pass("hunter2")).ok());
  Bucket::OpenOptions o;
  o.key = Pass("hunter2");
  auto b = Bucket::Open(pdir, o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  StringSource src("hello\n");
  ASSERT_TRUE((*b)->Put("h", src, {}).ok());
  EXPECT_EQ((*b)->ListKeySlots()->at(0).kind, KeySlotInfo::Kind::kPassphrase);
  o.key = Pass("hunter3");
  EXPECT_EQ(Bucket::Open(pdir, o).status().code(), Code::kWrongKey);

  // A plain bucket ignores a key, and has no slots.
  const std::string plain = root_ + "/plain";
  ASSERT_TRUE(Bucket::Create(plain, {}).ok());
  o.key = BucketKey::KeyFile(root_ + "/does-not-matter");
  auto pb = Bucket::Open(plain, o);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  EXPECT_FALSE((*pb)->encrypted());
  EXPECT_TRUE((*pb)->ListKeySlots()->empty());
  EXPECT_EQ((*pb)->AddKeySlot(Pass("x")).status().code(), Code::kInvalidArgument);

  BucketSettings enc;
  enc.encrypted = true;
  EXPECT_EQ(Bucket::Create(root_ + "/e1", enc).code(), Code::kInvalidArgument);
  EXPECT_EQ(Bucket::Create(root_ + "/e2", {}, BucketKey()).code(), Code::kInvalidArgument);
  EXPECT_EQ(Bucket::Create(root_ + "/e3", {}, BucketKey::KeyFile(root_ + "/nope")).code(),
            Code::kNotFound);
  EXPECT_FALSE(fs::exists(root_ + "/e3"));  // nothing made for a bad key
}

TEST_F(EncryptedBucketTest, DamagedSlotIsReportedAndOthersStillOpen) {
  ASSERT_TRUE(b_->AddKeySlot(Pass("pw")).ok());
  Put("f", "data");
  b_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/catalog.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE key_slots SET slot = zeroblob(100) WHERE id = 2", nullptr,
                           nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto by_pass = Open(Pass("pw"));
  EXPECT_EQ(by_pass.status().code(), Code::kWrongKey);
  EXPECT_NE(by_pass.status().message().find("key slot 2 of bucket " + dir_ + " is malformed"),
            std::string::npos)
      << by_pass.status().ToString();
  Reopen();
  auto slots = b_->ListKeySlots();
  ASSERT_TRUE(slots.ok());
  EXPECT_TRUE((*slots)[0].problem.empty());
  EXPECT_NE((*slots)[1].problem.find("bad magic"), std::string::npos);
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  ASSERT_EQ(fsck->problems.size(), 1u);
  EXPECT_NE(fsck->problems[0].find("key slot 2"), std::string::npos);
  EXPECT_TRUE(b_->RemoveKeySlot(2).ok());
  EXPECT_TRUE(b_->Fsck()->ok());
}

class EncryptedTamperTest : public EncryptedBucketTest {
 protected:
  void ExpectDamaged(const std::string& key, int vno) {
    StringSink sink;
    Status st = b_->Get(key, {}, sink);
    EXPECT_EQ(st.code(), Code::kCorruption) << st.ToString();
    EXPECT_NE(st.message().find(key + "@" + std::to_string(vno)), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("chunk "), std::string::npos) << st.message();
    auto fsck = b_->Fsck();
    ASSERT_TRUE(fsck.ok());
    EXPECT_FALSE(fsck->ok());
    EXPECT_NE(
        std::find(fsck->damaged.begin(), fsck->damaged.end(), key + "@" + std::to_string(vno)),
        fsck->damaged.end());
  }
};

TEST_F(EncryptedTamperTest, FlippedBitIsCorruption) {
  Put("a", Random(100000, 1));
  ASSERT_FALSE(ChunkFiles(dir_).empty());
  testing_util::FlipByteOf(ChunkFiles(dir_).front());
  ExpectDamaged("a", 1);
}

TEST_F(EncryptedTamperTest, TruncatedChunkIsCorruption) {
  Put("a", Random(100000, 2));
  const auto chunks = ChunkFiles(dir_);
  ASSERT_FALSE(chunks.empty());
  const auto& last = chunks.back();  // its bytes end the file (a pack's last record)
  fs::resize_file(last.path, last.offset + last.length - 1);
  ExpectDamaged("a", 1);
}

// One chunk's sealed body put in place of another's, with the pack's framing
// (id, CRCs) made consistent, as someone who can write the pack could: the
// GCM tag (the id is in its AAD) refuses it.
TEST_F(EncryptedTamperTest, ChunkBodyMovedOverAnotherIsCorruption) {
  Put("a", Random(5000, 3));
  Put("b", Random(5000, 4));
  const auto files = ChunkFiles(dir_);
  ASSERT_EQ(files.size(), 2u);
  ASSERT_TRUE(files[0].in_pack && files[1].in_pack);
  ASSERT_EQ(files[0].path, files[1].path);
  ASSERT_EQ(files[0].length, files[1].length);  // same sizes: framing cannot tell
  std::string pack = Slurp(files[0].path);
  const std::string body0 = pack.substr(files[0].offset, files[0].length);
  pack.replace(files[1].offset, files[1].length, body0);
  char* hdr = pack.data() + files[1].offset - kPackRecordHeaderSize;
  auto put32 = [](char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
  };
  put32(hdr + 40, static_cast<uint32_t>(
                      crc32(0, reinterpret_cast<const Bytef*>(body0.data()), body0.size())));
  put32(hdr + 44, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(hdr), 44)));
  Spit(files[0].path, pack);
  StringSink a, b;
  Status sa = b_->Get("a", {}, a), sb = b_->Get("b", {}, b);
  // Which of the two was overwritten depends on the order they were stored.
  EXPECT_NE(sa.ok(), sb.ok()) << sa.ToString() << " / " << sb.ToString();
  const std::string msg = sa.message() + sb.message();
  EXPECT_NE(msg.find("authentication failed"), std::string::npos) << msg;
}

}  // namespace
}  // namespace katamari

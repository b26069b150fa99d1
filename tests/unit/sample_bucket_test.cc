// Sample buckets of released formats (tests/samples/, README.md there) still
// open with today's code and read back every file and version exactly.
//
// Each sample is copied to a temporary directory first (opening may migrate
// the catalog, and a git checkout keeps neither empty directories nor modes),
// then opened, walked and read. The expected content is the same for every
// sample: tests/samples/make_sample.sh writes the same files each time.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "store/bucket.h"
#include "store/catalog.h"
#include "store/sha256.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::TempDir;

struct Sample {
  const char* name;     // directory under tests/samples/
  const char* keyfile;  // under tests/samples/, or nullptr for a plain bucket
  bool holes;           // the format records holes as hole refs
  int format;           // its catalog format (meta.format_version)
};

std::ostream& operator<<(std::ostream& os, const Sample& s) { return os << s.name; }

struct ExpectedVersion {
  uint64_t size;
  const char* sha256;
};

// Files put with the CLI: every version, in order (make_sample.sh).
const std::map<std::string, std::vector<ExpectedVersion>>& CliFiles() {
  static const auto* files = new std::map<std::string, std::vector<ExpectedVersion>>{
      {"hello.txt",
       {{13, "853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020"},
        {16, "610370ec93a63f72d560b251a104bf5b2cef84fecf7f8ef6ddf745139fa9bfc9"},
        {28, "f937a94af3e73681b532d20044848df487d3155b0539121fdaa32d7f8c11e747"},
        {13, "853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020"}}},
      {"docs/notes.md",
       {{12400, "746a40d6897f6c3977a380dbeea1b1899d68db783bc1124d4d018ea44f14e8e1"},
        {12388, "77b7138ff2b5ab8365e019b2391561ef6518d1dc8e952f662109a6f64b8a55b4"}}},
      {"data/random.bin",
       {{5000, "8310cf7a9385bd2c2c3d09d7ad8540cedc6410270e789fda203efc4b00883c9f"}}},
      {"sparse.img",
       {{40960, "1f95d14f3a295991118bf0d566bf12bca06c759c45b7c270bf88c79c12d34acf"}}},
      {"gone.txt",
       {{6, "b640e840b19d378660b32fb51ae18d67dccb4a8596a29e7bd72c1b2ae5928f41"},
        {7, "480c2336b410f1ad5f8bf1b28944490255804b65350c527787e74ebdd511e3a4"}}},
  };
  return *files;
}

// Files written through the mount: the current version only (how many
// versions a shell command makes is the mount's business, and has changed).
const std::map<std::string, ExpectedVersion>& MountFiles() {
  static const auto* files = new std::map<std::string, ExpectedVersion>{
      {"deep/a/b/leaf.txt",
       {5, "26d0bac9f0c7a35b2f3322a0f4ad4517265f56b2c0f4b2ed7cb5cbd30c5868e2"}},
      {"mount-hole.bin",
       {102404, "640a6ae5e1c38d9037b324c3a1e996bc1ff73ab68741fb18c09db81d2dce41dd"}},
  };
  return *files;
}

// The whole live tree (gone.txt is deleted, so not in it).
const std::map<std::string, FileKind>& LiveTree() {
  static const auto* tree = new std::map<std::string, FileKind>{
      {"data", FileKind::kDirectory},
      {"data/random.bin", FileKind::kRegular},
      {"deep", FileKind::kDirectory},
      {"deep/a", FileKind::kDirectory},
      {"deep/a/b", FileKind::kDirectory},
      {"deep/a/b/leaf.txt", FileKind::kRegular},
      {"docs", FileKind::kDirectory},
      {"docs/notes.md", FileKind::kRegular},
      {"docs/up-link", FileKind::kSymlink},
      {"empty-dir", FileKind::kDirectory},
      {"hello.txt", FileKind::kRegular},
      {"link-to-hello", FileKind::kSymlink},
      {"mount-hole.bin", FileKind::kRegular},
      {"sparse.img", FileKind::kRegular},
  };
  return *tree;
}

// meta.format_version of the catalog in `dir`, read without writing
// anything (immutable: no -wal or -shm file is made); -1 if unreadable.
int CatalogFormat(const std::string& dir) {
  sqlite3* db = nullptr;
  const std::string uri = "file:" + dir + "/catalog.db?mode=ro&immutable=1";
  int format = -1;
  if (sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) ==
      SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format_version'", -1, &st,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      format = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return format;
}

std::string SamplesDir() {
  const char* dir = std::getenv("KATAMARI_SAMPLES_DIR");
  return dir ? dir : "tests/samples";
}

class SampleBucketTest : public ::testing::TestWithParam<Sample> {
 protected:
  void SetUp() override {
    const Sample& s = GetParam();
    const fs::path src = fs::path(SamplesDir()) / s.name;
    ASSERT_TRUE(fs::is_directory(src)) << src << " missing (set KATAMARI_SAMPLES_DIR)";
    bucket_dir_ = tmp_.path() + "/bucket";
    ASSERT_EQ(CatalogFormat(src.string()), s.format) << "the sample is not what it is named";
    fs::copy(src, bucket_dir_, fs::copy_options::recursive);
    Bucket::OpenOptions opts;
    if (s.keyfile) {
      const std::string key = tmp_.path() + "/key";
      fs::copy_file(fs::path(SamplesDir()) / s.keyfile, key);
      fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
      opts.key = BucketKey::KeyFile(key);
    }
    auto b = Bucket::Open(bucket_dir_, opts);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bucket_ = std::move(*b);
  }

  // Reads version `v` of `key` whole, by key (the CLI's path).
  std::string Read(const std::string& key, VersionNo v) {
    StringSink sink;
    VersionSelector sel;
    sel.version = v;
    Status st = bucket_->Get(key, sel, sink);
    EXPECT_TRUE(st.ok()) << key << "@" << v.value << ": " << st.ToString();
    return sink.out;
  }

  // Every version of `key` reads back to its recorded size and SHA-256.
  void ExpectEveryVersionIntact(const std::string& key) {
    auto versions = bucket_->Versions(key);
    ASSERT_TRUE(versions.ok()) << key << ": " << versions.status().ToString();
    ASSERT_FALSE(versions->empty()) << key;
    for (VersionInfo v : *versions) {
      const std::string data = Read(key, v.version);
      EXPECT_EQ(data.size(), v.size) << key << "@" << v.version.value;
      if (v.sha256_pending) {
        auto done = bucket_->CompleteSha256(v);
        ASSERT_TRUE(done.ok()) << done.status().ToString();
        v = *done;
      }
      EXPECT_EQ(Sha256Of(data), v.sha256) << key << "@" << v.version.value;
    }
  }

  TempDir tmp_{"sample"};
  std::string bucket_dir_;
  std::unique_ptr<Bucket> bucket_;
};

TEST_P(SampleBucketTest, EveryVersionOfEveryCliFileReadsBackExactly) {
  ASSERT_TRUE(bucket_);
  for (const auto& [key, expected] : CliFiles()) {
    auto versions = bucket_->Versions(key);
    ASSERT_TRUE(versions.ok()) << key << ": " << versions.status().ToString();
    ASSERT_EQ(versions->size(), expected.size()) << key;
    for (size_t i = 0; i < expected.size(); ++i) {
      const VersionInfo& v = (*versions)[i];
      EXPECT_EQ(v.version.value, i + 1) << key;
      const std::string data = Read(key, v.version);
      EXPECT_EQ(data.size(), expected[i].size) << key << "@" << i + 1;
      EXPECT_EQ(Sha256Of(data).Hex(), expected[i].sha256) << key << "@" << i + 1;
    }
  }
}

// An older catalog is migrated on open (the copy, never the sample).
TEST_P(SampleBucketTest, OpeningMigratesToTodaysFormat) {
  ASSERT_TRUE(bucket_);
  bucket_.reset();  // closing checkpoints the WAL into catalog.db
  EXPECT_EQ(CatalogFormat(bucket_dir_), Catalog::kFormatVersion);
  EXPECT_EQ(CatalogFormat((fs::path(SamplesDir()) / GetParam().name).string()),
            GetParam().format);
}

TEST_P(SampleBucketTest, FilesWrittenThroughTheMountReadBack) {
  ASSERT_TRUE(bucket_);
  for (const auto& [key, expected] : MountFiles()) {
    auto cur = bucket_->Resolve(key, VersionSelector{});
    ASSERT_TRUE(cur.ok()) << key << ": " << cur.status().ToString();
    const std::string data = Read(key, cur->version);
    EXPECT_EQ(data.size(), expected.size) << key;
    EXPECT_EQ(Sha256Of(data).Hex(), expected.sha256) << key;
  }
}

TEST_P(SampleBucketTest, EveryVersionMatchesItsRecordedSha256) {
  ASSERT_TRUE(bucket_);
  for (const auto& [key, unused] : CliFiles()) ExpectEveryVersionIntact(key);
  for (const auto& [key, unused] : MountFiles()) ExpectEveryVersionIntact(key);
}

// Walks the live tree from the root: exactly the expected names and kinds,
// the symlinks' targets, the directory left empty, the mode given at put.
TEST_P(SampleBucketTest, TheLiveTreeIsIntact) {
  ASSERT_TRUE(bucket_);
  std::map<std::string, FileKind> seen;
  std::map<std::string, InodeId> inos;
  std::vector<std::pair<std::string, InodeId>> todo{{"", kRootInode}};
  while (!todo.empty()) {
    auto [prefix, dir] = todo.back();
    todo.pop_back();
    auto entries = bucket_->ReadDir(dir);
    ASSERT_TRUE(entries.ok()) << prefix << ": " << entries.status().ToString();
    for (const DirEntry& e : *entries) {
      const std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
      seen[path] = e.kind;
      inos[path] = e.ino;
      if (e.kind == FileKind::kDirectory) todo.push_back({path, e.ino});
    }
  }
  EXPECT_EQ(seen, LiveTree());
  for (const auto& [path, target] : std::map<std::string, std::string>{
           {"link-to-hello", "hello.txt"}, {"docs/up-link", "../hello.txt"}}) {
    auto got = bucket_->ReadLink(inos[path]);
    ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
    EXPECT_EQ(*got, target) << path;
  }
  auto empty = bucket_->ReadDir(inos["empty-dir"]);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto attr = bucket_->GetAttr(inos["data/random.bin"]);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->mode, 0600u);
  EXPECT_EQ(attr->size, 5000u);
}

TEST_P(SampleBucketTest, TheDeletedFileKeepsItsHistory) {
  ASSERT_TRUE(bucket_);
  auto all = bucket_->List("", /*include_deleted=*/true);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  bool found = false;
  for (const FileListing& f : *all) {
    if (f.key != "gone.txt") continue;
    found = true;
    EXPECT_TRUE(f.deleted);
    EXPECT_EQ(f.version_count, 2u);
  }
  EXPECT_TRUE(found);
  auto live = bucket_->List("", /*include_deleted=*/false);
  ASSERT_TRUE(live.ok());
  for (const FileListing& f : *live) EXPECT_NE(f.key, "gone.txt");
}

// Holes stay holes (formats that record them): nothing stored for them.
TEST_P(SampleBucketTest, HolesAreHoles) {
  ASSERT_TRUE(bucket_);
  if (!GetParam().holes) GTEST_SKIP() << "this format stores holes as zero chunks";
  for (const auto& [key, offset] :
       std::map<std::string, uint64_t>{{"sparse.img", 20000}, {"mount-hole.bin", 50000}}) {
    auto cur = bucket_->Resolve(key, VersionSelector{});
    ASSERT_TRUE(cur.ok());
    auto reader = bucket_->OpenVersion(cur->ino, cur->version);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_TRUE((*reader)->ExtentAt(offset).hole) << key;
    EXPECT_FALSE((*reader)->ExtentAt(0).hole) << key;
  }
}

// Format 5 (the step from 4): the default exclude patterns, no retention
// policy (every version kept), and a policy set afterwards prunes the
// migrated history as it would a new one.
TEST_P(SampleBucketTest, MigratedBucketsGetTheDefaultExcludesAndAWorkingPolicy) {
  ASSERT_TRUE(bucket_);
  auto ex = bucket_->Excludes();
  ASSERT_TRUE(ex.ok()) << ex.status().ToString();
  EXPECT_EQ(*ex, DefaultExcludes());
  EXPECT_TRUE(bucket_->Policy()->empty());
  EXPECT_TRUE(bucket_->PolicyLog()->empty());
  PruneOptions dry;
  dry.dry_run = true;
  auto none = bucket_->Prune(dry);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->versions_removed, 0u);  // no policy: keep everything

  auto rules = RetentionRules::Parse({"keep-last=1"});
  ASSERT_TRUE(rules.ok());
  ASSERT_TRUE(bucket_->SetPolicy("hello.txt", *rules).ok());
  auto r = bucket_->Prune(PruneOptions{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->versions_removed, 3u);
  auto versions = bucket_->Versions("hello.txt");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 1u);
  EXPECT_EQ((*versions)[0].version.value, 4u);
  EXPECT_EQ(Sha256Of(Read("hello.txt", VersionNo(4))).Hex(),
            CliFiles().at("hello.txt")[3].sha256);
  ExpectEveryVersionIntact("docs/notes.md");  // untouched: another pattern
  EXPECT_EQ(bucket_->Versions("docs/notes.md")->size(), 2u);
  auto report = bucket_->Fsck();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
}

TEST_P(SampleBucketTest, FsckFindsNothingWrong) {
  ASSERT_TRUE(bucket_);
  auto report = bucket_->Fsck();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->orphan_chunks, 0u);
  EXPECT_GT(report->chunks_checked, 10u);
}

// Old chunks stay chunk files (read both); new ones go to packs. New
// versions (some sharing chunks with the old files), every old version, fsck
// and gc all work across a reopen, and gc frees an old file's chunk files
// once nothing references them.
TEST_P(SampleBucketTest, NewChunksGoToPacksAndOldOnesStayReadable) {
  ASSERT_TRUE(bucket_);
  const auto files = CliFiles();
  ASSERT_FALSE(files.empty());
  std::map<std::string, std::string> written;
  for (const auto& [key, unused] : files) {
    auto cur = bucket_->Resolve(key, VersionSelector{});
    if (!cur.ok()) continue;  // deleted in the sample
    // Old content plus new bytes: the old chunks dedup, the tail is new.
    std::string data = Read(key, cur->version) + testing_util::RandomBytes(150000, written.size() + 7);
    StringSource src(data);
    auto v = bucket_->Put(key, src, PutOptions{});
    ASSERT_TRUE(v.ok()) << key << ": " << v.status().ToString();
    written[key] = data;
  }
  ASSERT_FALSE(written.empty());
  const std::string fresh = testing_util::RandomBytes(400000, 99);
  {
    StringSource src(fresh);
    ASSERT_TRUE(bucket_->Put("brand-new.bin", src, PutOptions{}).ok());
  }
  bucket_.reset();
  size_t packs = 0;
  for (auto& e : fs::recursive_directory_iterator(bucket_dir_ + "/packs")) {
    if (e.is_regular_file()) ++packs;
  }
  EXPECT_GE(packs, 1u);
  Bucket::OpenOptions opts;
  if (GetParam().keyfile) opts.key = BucketKey::KeyFile(tmp_.path() + "/key");
  auto b = Bucket::Open(bucket_dir_, opts);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  bucket_ = std::move(*b);
  for (const auto& [key, data] : written) {
    auto cur = bucket_->Resolve(key, VersionSelector{});
    ASSERT_TRUE(cur.ok());
    EXPECT_TRUE(Read(key, cur->version) == data) << key;
  }
  EXPECT_TRUE(Read("brand-new.bin", VersionNo(1)) == fresh);
  for (const auto& [key, unused] : files) ExpectEveryVersionIntact(key);
  auto report = bucket_->Fsck();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->orphan_chunks, 0u);
  EXPECT_GE(report->packs, 1u);
  // Purging the old files frees their chunk files; the packs keep what the
  // remaining file uses.
  auto chunk_files = [&] {
    size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(bucket_dir_ + "/chunks")) {
      n += e.is_regular_file() && e.path().filename().string().size() == 64;
    }
    return n;
  };
  const size_t files_before = chunk_files();
  ASSERT_GT(files_before, 0u);
  for (const auto& [key, unused] : written) ASSERT_TRUE(bucket_->Purge(key).ok()) << key;
  auto gc = bucket_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_LT(chunk_files(), files_before);  // the purged files' old chunk files
  EXPECT_TRUE(Read("brand-new.bin", VersionNo(1)) == fresh);
  report = bucket_->Fsck();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->orphan_chunks, 0u);
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleBucketTest,
                         ::testing::Values(Sample{"format2-plain", nullptr, false, 2},
                                           Sample{"format2-encrypted",
                                                  "format2-encrypted.key", false, 2},
                                           Sample{"format4-plain", nullptr, true, 4},
                                           Sample{"format4-encrypted",
                                                  "format4-encrypted.key", true, 4}),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace katamari

// Whole trees: Catalog::ReadHistory and what Bucket::Space, Log, Diff and
// RestoreTree compute from it (store/catalog_history.cc, bucket_history.cc,
// bucket_tree_restore.cc; docs/semantics.md, Whole trees).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "store/catalog.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-history-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_TRUE(Bucket::Create(root_ + "/b", {}).ok());
    auto r = Bucket::Open(root_ + "/b", {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  VersionInfo Put(const std::string& key, const std::string& data, uint32_t mode = 0644) {
    StringSource src(data);
    PutOptions o;
    o.mode = mode;
    o.uid = 1000;
    o.gid = 100;
    auto v = b_->Put(key, src, o);
    EXPECT_TRUE(v.ok()) << key << ": " << v.status().ToString();
    return v.ok() ? *v : VersionInfo{};
  }
  std::string Get(const std::string& key) {
    StringSink out;
    Status st = b_->Get(key, {}, out);
    EXPECT_TRUE(st.ok()) << key << ": " << st.ToString();
    return out.out;
  }
  InodeId Ino(const std::string& key) {
    InodeId cur = kRootInode;
    size_t i = 0;
    while (i < key.size()) {
      size_t s = key.find('/', i);
      if (s == std::string::npos) s = key.size();
      auto a = b_->Lookup(cur, key.substr(i, s - i));
      if (!a.ok()) return InodeId();
      cur = a->ino;
      i = s + 1;
    }
    return cur;
  }
  // key -> content of every live file.
  std::map<std::string, std::string> Tree() {
    std::map<std::string, std::string> out;
    auto list = b_->List("", false);
    EXPECT_TRUE(list.ok());
    for (const FileListing& f : *list) out[f.key] = Get(f.key);
    return out;
  }
  const SpaceEntry* File(const SpaceReport& r, const std::string& path) {
    for (const SpaceEntry& e : r.files) {
      if (e.path == path) return &e;
    }
    return nullptr;
  }
  std::string root_;
  std::unique_ptr<Bucket> b_;
};

TEST_F(HistoryTest, ReadHistoryIsOneSnapshotOfEverything) {
  Put("d/a", "one");
  Put("d/a", "two");
  Put("d/b", "bee");
  ASSERT_TRUE(b_->Delete("d/b").ok());
  auto cat = Catalog::Open(root_ + "/b/catalog.db", /*read_only=*/true);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  auto h = (*cat)->ReadHistory(/*with_chunks=*/true);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->seq, (*cat)->CurrentSeq());
  EXPECT_EQ(h->versions.size(), 3u);
  EXPECT_EQ(h->inodes.size(), 4u);  // root, d, a, b
  size_t closed = 0;
  for (const auto& d : h->dentries) closed += d.seq_end.value != 0;
  EXPECT_EQ(closed, 1u);  // b's name
  EXPECT_EQ(h->chunks.size(), 3u);
  for (const auto& v : h->versions) {
    ASSERT_EQ(v.chunks.size(), 1u);
    EXPECT_EQ(h->chunks[v.chunks[0]].refs, 1u);
  }
  auto plain = (*cat)->ReadHistory(/*with_chunks=*/false);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->chunks.empty());
  EXPECT_TRUE(plain->versions[0].chunks.empty());
}

TEST_F(HistoryTest, SpaceCountsWhatOnlyHistoryHolds) {
  const std::string v1 = RandomBytes(200000, 1), v2 = RandomBytes(150000, 2);
  Put("logs/app.log", v1);
  Put("logs/app.log", v2);
  Put("logs/gone.tmp", RandomBytes(50000, 3));
  ASSERT_TRUE(b_->Delete("logs/gone.tmp").ok());
  Put("keep/copy", v2);  // shares the current content of app.log
  auto r = b_->Space("");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const SpaceEntry* app = File(*r, "logs/app.log");
  const SpaceEntry* gone = File(*r, "logs/gone.tmp");
  const SpaceEntry* copy = File(*r, "keep/copy");
  ASSERT_TRUE(app && gone && copy);
  EXPECT_EQ(app->versions, 2u);
  EXPECT_EQ(app->size, v2.size());
  EXPECT_EQ(app->all_versions_bytes, v1.size() + v2.size());
  // Random data does not compress: v1's chunks are about its size.
  EXPECT_GT(app->history_bytes, v1.size() * 9 / 10);
  EXPECT_LT(app->history_bytes, v1.size() * 11 / 10);
  EXPECT_GT(app->stored_bytes, app->history_bytes + v2.size() * 9 / 10);
  EXPECT_TRUE(gone->deleted);
  EXPECT_EQ(gone->size, 0u);
  EXPECT_GT(gone->history_bytes, 45000u);
  EXPECT_EQ(copy->history_bytes, 0u);
  EXPECT_EQ(r->deleted_files, 1u);
  EXPECT_EQ(r->total.files, 3u);
  EXPECT_EQ(r->total.history_bytes, app->history_bytes + gone->history_bytes);
  // Shared chunks count once in a subtree's total, in full for each file.
  auto stats = b_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(r->total.stored_bytes, stats->stored_bytes);
  EXPECT_LT(r->total.stored_bytes, app->stored_bytes + gone->stored_bytes + copy->stored_bytes);
  // du's directories: totals of their files.
  std::map<std::string, SpaceEntry> dirs;
  for (const SpaceEntry& d : r->dirs) dirs[d.path] = d;
  ASSERT_TRUE(dirs.contains("") && dirs.contains("logs") && dirs.contains("keep"));
  EXPECT_EQ(dirs["logs"].history_bytes, app->history_bytes + gone->history_bytes);
  EXPECT_EQ(dirs["logs"].versions, 3u);
  EXPECT_EQ(dirs["keep"].files, 1u);
  // A subtree, and one file.
  auto logs = b_->Space("/logs/");
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(logs->files.size(), 2u);
  auto one = b_->Space("logs/app.log");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->files.size(), 1u);
  EXPECT_EQ(one->total.kind, FileKind::kRegular);
  EXPECT_TRUE(one->dirs.empty());
  EXPECT_EQ(one->total.history_bytes, app->history_bytes);
  // Deleting the old version frees what history_bytes said.
  EXPECT_TRUE(b_->Space("nothing/here").status().IsNotFound());
  EXPECT_EQ(b_->Space("a/../b").status().code(), Status::Code::kInvalidArgument);
}

TEST_F(HistoryTest, LogListsVersionsRenamesDeletesAndRestoresNewestFirst) {
  Put("d/f", "12345");
  Put("d/f", "12");
  InodeId d = Ino("d");
  ASSERT_TRUE(b_->Rename(d, "f", d, "g", 0).ok());
  ASSERT_TRUE(b_->Restore("d/g", VersionSelector{VersionNo(1), std::nullopt}).ok());
  ASSERT_TRUE(b_->Delete("d/g").ok());
  Put("other", "x");
  auto log = b_->Log("d", 0);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  std::vector<LogEntry::Action> actions;
  for (const LogEntry& l : *log) actions.push_back(l.action);
  using A = LogEntry::Action;
  const std::vector<A> want = {A::kDelete, A::kRestore, A::kRename, A::kVersion, A::kVersion,
                               A::kCreate};
  ASSERT_EQ(actions, want);
  EXPECT_EQ((*log)[0].path, "d/g");
  EXPECT_EQ((*log)[1].version, VersionNo(3));
  EXPECT_EQ((*log)[1].restored_from, VersionNo(1));
  EXPECT_EQ((*log)[1].size_change, 3);
  EXPECT_EQ((*log)[2].old_path, "d/f");
  EXPECT_EQ((*log)[2].path, "d/g");
  EXPECT_EQ((*log)[3].size_change, -3);
  EXPECT_EQ((*log)[4].size_change, 5);
  EXPECT_EQ((*log)[5].path, "d");
  for (size_t i = 1; i < log->size(); ++i) EXPECT_GE((*log)[i - 1].seq, (*log)[i].seq);
  auto two = b_->Log("", 2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].path, "other");
  EXPECT_TRUE(b_->Log("nope", 0).status().IsNotFound());
}

TEST_F(HistoryTest, DiffNamesAddedRemovedAndChangedFiles) {
  Put("a", "same");
  Put("b", "old b");
  Put("c", "gone soon");
  const int64_t t1 = Put("x/keep", "k").commit_time_ns;
  Put("a", "same");  // a new version with the same content: no change
  Put("b", "new b");
  ASSERT_TRUE(b_->Delete("c").ok());
  const int64_t t2 = Put("x/new", "n").commit_time_ns;
  auto d = b_->Diff(t1, t2, "");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  std::vector<std::string> got;
  for (const DiffEntry& e : *d) got.push_back(std::string(1, e.status) + " " + e.path);
  EXPECT_EQ(got, (std::vector<std::string>{"M b", "D c", "A x/new"}));
  EXPECT_EQ((*d)[0].old_version, VersionNo(1));
  EXPECT_EQ((*d)[0].new_version, VersionNo(2));
  auto sub = b_->Diff(t1, t2, "x");
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->size(), 1u);
  EXPECT_EQ((*sub)[0].path, "x/new");
  auto back = b_->Diff(t2, t1, "");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[1].status, 'A');  // c, the other way round
  auto none = b_->Diff(t2, t2, "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(b_->Diff(t1, t2, "nope").status().IsNotFound());
}

TEST_F(HistoryTest, RestoreTreeInPlaceBringsBackTheTreeWithoutNewChunks) {
  Put("p/a.txt", "alpha", 0600);
  Put("p/sub/b.txt", RandomBytes(100000, 7), 0755);
  Put("p/del.txt", "deleted later");
  ASSERT_TRUE(b_->MakeNode(Ino("p"), "link", FileKind::kSymlink, 0777, 1000, 100, "a.txt").ok());
  const int64_t t = Put("p/sub/c.txt", "c").commit_time_ns;
  const auto before = Tree();
  Put("p/a.txt", "changed");
  ASSERT_TRUE(b_->SetAttr(Ino("p/a.txt"), Bucket::AttrChange{.mode = 0644}).ok());
  Put("p/new/made.txt", "after");
  ASSERT_TRUE(b_->Delete("p/del.txt").ok());
  ASSERT_TRUE(b_->Unlink(Ino("p"), "link").ok());
  ASSERT_TRUE(b_->MakeNode(Ino("p"), "link", FileKind::kSymlink, 0777, 0, 0, "elsewhere").ok());
  Put("outside", "not touched");
  auto chunks_before = b_->Stats();
  ASSERT_TRUE(chunks_before.ok());

  auto r = b_->RestoreTree(t, "p", "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_restored, 2u);  // a.txt, del.txt
  EXPECT_EQ(r->unchanged, 2u);       // b.txt, c.txt
  EXPECT_EQ(r->deleted, 1u);         // new/made.txt (the link is replaced, not counted)
  EXPECT_EQ(r->dirs_removed, 1u);    // new/
  EXPECT_EQ(r->links_created, 1u);
  auto after = Tree();
  auto expected = before;
  expected["outside"] = "not touched";
  EXPECT_EQ(after, expected);
  auto stats = b_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->chunks, chunks_before->chunks);  // no data copied
  auto a = b_->GetAttr(Ino("p/a.txt"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0600u);
  EXPECT_EQ(a->uid, 1000u);
  auto link = b_->ReadLink(Ino("p/link"));
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(*link, "a.txt");
  // History kept: the restored file has its versions, the deleted one too.
  auto va = b_->Versions("p/a.txt");
  ASSERT_TRUE(va.ok());
  ASSERT_EQ(va->size(), 3u);
  EXPECT_EQ(va->back().restored_from, VersionNo(1));
  auto vm = b_->Versions("p/new/made.txt");
  ASSERT_TRUE(vm.ok());
  EXPECT_EQ(vm->size(), 1u);
  // Running it again (as after a kill -9 half-way) changes nothing.
  auto again = b_->RestoreTree(t, "p", "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->files_restored, 0u);
  EXPECT_EQ(again->deleted, 0u);
  EXPECT_EQ(again->unchanged, 5u);  // four files and the link
  EXPECT_EQ(Tree(), expected);
}

TEST_F(HistoryTest, RestoreTreeToTargetBuildsACopyAndRefusesANonEmptyOne) {
  Put("src/a", "A");
  Put("src/d/b", "B");
  ASSERT_TRUE(b_->Link(Ino("src/a"), Ino("src/d"), "a-link").ok());  // a hard link
  const int64_t t = Put("src/d/c", "C").commit_time_ns;
  Put("src/a", "A2");
  ASSERT_TRUE(b_->Delete("src/d/c").ok());
  // What a killed run leaves behind is removed and built again.
  Put("back/.copy.katamari-restore/junk", "left by a killed run");
  auto r = b_->RestoreTree(t, "src", "back/copy");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_restored, 4u);
  EXPECT_EQ(r->target, "back/copy");
  EXPECT_EQ(Get("back/copy/a"), "A");
  EXPECT_EQ(Ino("back/copy/a"), Ino("back/copy/d/a-link"));  // linked again
  EXPECT_NE(Ino("back/copy/a"), Ino("src/a"));
  EXPECT_EQ(Get("back/copy/d/c"), "C");
  EXPECT_EQ(Get("src/a"), "A2");  // the source is left as it is
  EXPECT_FALSE(Ino("back/.copy.katamari-restore").value != 0);
  auto again = b_->RestoreTree(t, "src", "back/copy");
  EXPECT_EQ(again.status().code(), Status::Code::kNotEmpty) << again.status().ToString();
  Put("afile", "x");
  EXPECT_EQ(b_->RestoreTree(t, "src", "afile").status().code(), Status::Code::kExists);
  EXPECT_EQ(b_->RestoreTree(t, "src", "/").status().code(), Status::Code::kInvalidArgument);
  // An empty directory is a fine target.
  ASSERT_TRUE(b_->MakeNode(kRootInode, "empty", FileKind::kDirectory, 0755, 0, 0).ok());
  ASSERT_TRUE(b_->RestoreTree(t, "src/d", "empty").ok());
  EXPECT_EQ(Get("empty/b"), "B");
  EXPECT_TRUE(b_->RestoreTree(t, "nope", "x").status().IsNotFound());
  EXPECT_TRUE(b_->RestoreTree(0, "src", "y").status().IsNotFound());  // the bucket was empty
}

// Run by hand: KATAMARI_HISTORY_BENCH=1 unit_history --gtest_filter='*Bench*'. The whole-tree
// reads on a bucket of 10k files with 10 versions each (100k versions, 100k chunks).
TEST(HistoryBench, TenThousandFilesHundredThousandVersions) {
  if (!getenv("KATAMARI_HISTORY_BENCH")) GTEST_SKIP() << "set KATAMARI_HISTORY_BENCH=1";
  testing_util::TempDir dir("history-bench");
  ASSERT_TRUE(Bucket::Create(dir.path() + "/b", {}).ok());
  Bucket::OpenOptions o;
  o.sync_interval_ms = 60000;  // no fsync per commit while filling
  auto b = Bucket::Open(dir.path() + "/b", o);
  ASSERT_TRUE(b.ok());
  int64_t mid = 0;
  const int files = std::atoi(getenv("KATAMARI_HISTORY_BENCH")) > 1
                        ? std::atoi(getenv("KATAMARI_HISTORY_BENCH"))
                        : 10000;  // KATAMARI_HISTORY_BENCH=N: N files instead
  for (int v = 0; v < 10; ++v) {
    for (int f = 0; f < files; ++f) {
      std::string data = "file " + std::to_string(f) + " version " + std::to_string(v);
      StringSource src(data);
      auto r = (*b)->Put("d" + std::to_string(f % 100) + "/f" + std::to_string(f), src, {});
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (v == 5 && f == 0) mid = r->commit_time_ns;
    }
  }
  auto time = [](const char* what, auto fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0).count();
    std::printf("%s: %lld ms\n", what, static_cast<long long>(ms));
    std::fflush(stdout);
  };
  time("Space(\"\")", [&] {
    auto r = (*b)->Space("");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->total.versions, static_cast<uint64_t>(files) * 10);
  });
  time("Log(\"\", 20)", [&] { ASSERT_TRUE((*b)->Log("", 20).ok()); });
  time("Diff(mid, now)", [&] {
    auto d = (*b)->Diff(mid, INT64_MAX, "");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->size(), static_cast<uint64_t>(files));
  });
}

}  // namespace
}  // namespace katamari

// Bucket: the key API end to end on a temporary bucket (no FUSE).
#include "store/bucket.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <random>
#include <thread>

#include "store/sha256.h"
#include "tests/unit/stored_chunks.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;


int64_t NowForTest() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Chunks stored (files and pack records) and their bytes on disk.
size_t CountChunkFiles(const std::string& dir) { return testing_util::StoredChunks(dir).size(); }

uint64_t ChunkBytes(const std::string& dir) { return testing_util::StoredBytes(dir); }

class BucketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-bucket-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/b";
    BucketSettings set;
    ASSERT_TRUE(Bucket::Create(dir_, set).ok());
    Reopen();
  }
  void TearDown() override {
    b_.reset();
    fs::remove_all(root_);
  }
  void Reopen() {
    b_.reset();
    auto r = Bucket::Open(dir_, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    b_ = std::move(*r);
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

  std::string root_, dir_;
  std::unique_ptr<Bucket> b_;
};

TEST_F(BucketTest, CreatedWithMode0700AndRefusesSecondCreate) {
  struct stat st;
  ASSERT_EQ(stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(Bucket::Create(dir_, {}).code(), Status::Code::kExists);
}

TEST_F(BucketTest, OpenMissingBucketSaysHowToCreateOne) {
  auto r = Bucket::Open(root_ + "/nope", {});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound());
  EXPECT_NE(r.status().message().find("katamari -b"), std::string::npos);
}

TEST_F(BucketTest, PutGetRoundTripAndShaMatches) {
  for (size_t n : {0ul, 1ul, 4095ul, 100000ul, 9ul << 20}) {
    std::string data = RandomBytes(n, n);
    VersionInfo v = Put("dir/sub/f" + std::to_string(n), data);
    EXPECT_EQ(v.size, n);
    EXPECT_EQ(v.sha256, Sha256Of(data));
    EXPECT_EQ(Get("dir/sub/f" + std::to_string(n)), data);
  }
  Reopen();
  EXPECT_EQ(Get("dir/sub/f100000"), RandomBytes(100000, 100000));
}

TEST_F(BucketTest, VersionsNumberedAndNeverReused) {
  Put("a", "one");
  Put("a", "two");
  Put("a", "three");
  EXPECT_EQ(Get("a", {VersionNo(2), {}}), "two");
  ASSERT_TRUE(b_->DeleteVersion("a", VersionNo(3)).ok());
  EXPECT_EQ(Get("a"), "two");  // the previous one is current again
  VersionInfo v = Put("a", "four");
  EXPECT_EQ(v.version, VersionNo(4));
  ASSERT_TRUE(b_->Delete("a").ok());
  StringSink sink;
  EXPECT_TRUE(b_->Get("a", {}, sink).IsNotFound());
  EXPECT_EQ(Get("a", {VersionNo(4), {}}), "four");  // history kept after delete
  EXPECT_EQ(Put("a", "five").version, VersionNo(5));  // numbering continues
  auto versions = b_->Versions("a");
  ASSERT_TRUE(versions.ok());
  std::vector<uint64_t> nums;
  for (auto& x : *versions) nums.push_back(x.version.value);
  EXPECT_EQ(nums, (std::vector<uint64_t>{1, 2, 4, 5}));
}

TEST_F(BucketTest, GetAtTimeSeesThePast) {
  Put("k", "old");
  int64_t t1 = NowForTest();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Put("k", "new");
  Put("other", "x");
  EXPECT_EQ(Get("k", {{}, t1}), "old");
  StringSink sink;
  EXPECT_TRUE(b_->Get("other", {{}, t1}, sink).IsNotFound());
  ASSERT_TRUE(b_->Delete("k").ok());
  EXPECT_EQ(Get("k", {{}, t1}), "old");
}

TEST_F(BucketTest, RestoreAddsNoChunkBytes) {
  std::string big = RandomBytes(8 << 20, 7);
  Put("r", big);
  Put("r", "small");
  uint64_t before = ChunkBytes(dir_);
  auto r = b_->Restore("r", {VersionNo(1), {}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->version, VersionNo(3));
  ASSERT_TRUE(r->restored_from.has_value());
  EXPECT_EQ(*r->restored_from, VersionNo(1));
  EXPECT_EQ(ChunkBytes(dir_), before);
  EXPECT_EQ(Get("r"), big);
}

TEST_F(BucketTest, OneByteChangeTo64MiBAddsAboutOneChunk) {
  std::string data = RandomBytes(64 << 20, 42);
  Put("big", data);
  size_t files_before = CountChunkFiles(dir_);
  uint64_t bytes_before = ChunkBytes(dir_);
  data[data.size() / 2] ^= 0x5a;
  VersionInfo v = Put("big", data);
  size_t added = CountChunkFiles(dir_) - files_before;
  EXPECT_GE(added, 1u);
  EXPECT_LE(added, 2u);
  EXPECT_LE(ChunkBytes(dir_) - bytes_before, 2 * 256u * 1024 + 4096);
  EXPECT_LE(v.new_bytes, 2 * 256u * 1024 + 4096);
  EXPECT_EQ(Get("big"), data);
}

TEST_F(BucketTest, InsertionNearStartAddsAChunkOrTwo) {
  std::string data = RandomBytes(16 << 20, 43);
  Put("ins", data);
  uint64_t before = ChunkBytes(dir_);
  data.insert(1000, std::string(100, 'x'));
  Put("ins", data);
  EXPECT_LE(ChunkBytes(dir_) - before, 3 * 256u * 1024);
}

TEST_F(BucketTest, GcNeverDeletesReferencedChunks) {
  std::string shared = RandomBytes(2 << 20, 1);
  Put("x", shared);
  Put("y", shared + RandomBytes(1 << 20, 2));  // shares x's chunks
  Put("x", "replaced");
  ASSERT_TRUE(b_->Purge("x").ok());
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(Get("y"), shared + RandomBytes(1 << 20, 2));
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  ASSERT_TRUE(b_->Purge("y").ok());
  ASSERT_TRUE(b_->Gc().ok());
  EXPECT_EQ(CountChunkFiles(dir_), 0u);  // everything unreferenced is reclaimed
}

TEST_F(BucketTest, GcSweepsOrphansButFsckOnlyCountsThem) {
  Put("keep", RandomBytes(300000, 5));
  // An orphan: a valid chunk file no catalog row knows (a crashed put).
  std::string orphan_dir = dir_ + "/chunks/00";
  std::string name(64, '0');
  { FILE* f = fopen((orphan_dir + "/" + name).c_str(), "w"); fputs("junk", f); fclose(f); }
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok());
  EXPECT_EQ(fsck->orphan_chunks, 1u);
  auto gc = b_->Gc();
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->orphans_removed, 1u);
  EXPECT_EQ(Get("keep"), RandomBytes(300000, 5));
}

TEST_F(BucketTest, CorruptChunkIsReportedNeverReturned) {
  std::string data = RandomBytes(1 << 20, 9);
  Put("c", data);
  // Flip one byte in the middle of the largest chunk.
  testing_util::StoredChunk victim;
  for (const auto& c : testing_util::StoredChunks(dir_)) {
    if (c.length > victim.length) victim = c;
  }
  ASSERT_GT(victim.length, 0u);
  testing_util::FlipByteOf(victim);
  StringSink sink;
  Status st = b_->Get("c", {}, sink);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("c@1"), std::string::npos) << st.message();
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_FALSE(fsck->ok());
  ASSERT_EQ(fsck->damaged.size(), 1u);
  EXPECT_EQ(fsck->damaged[0], "c@1");
}

TEST_F(BucketTest, RandomAccessReader) {
  std::string data = RandomBytes(3 << 20, 11);
  VersionInfo v = Put("ra", data);
  auto r = b_->OpenVersion(v.ino, v.version);
  ASSERT_TRUE(r.ok());
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    uint64_t off = rng() % (data.size() + 10);
    size_t n = rng() % 300000;
    std::string buf(n, '\0');
    size_t got = 0;
    ASSERT_TRUE((*r)->ReadAt(off, n, buf.data(), &got).ok());
    size_t want = off >= data.size() ? 0 : std::min<size_t>(n, data.size() - off);
    ASSERT_EQ(got, want);
    EXPECT_EQ(buf.substr(0, got), data.substr(std::min<size_t>(off, data.size()), want));
  }
}

TEST_F(BucketTest, MetadataSnapshottedPerVersion) {
  PutOptions o;
  o.metadata["user.owner"] = "ann";
  Put("m", "1", o);
  o.metadata["user.owner"] = "bob";
  Put("m", "2", o);
  auto vs = b_->Versions("m");
  ASSERT_TRUE(vs.ok());
  ASSERT_EQ(vs->size(), 2u);
  EXPECT_EQ((*vs)[0].xattrs.at("user.owner"), "ann");
  EXPECT_EQ((*vs)[1].xattrs.at("user.owner"), "bob");
  PutOptions bad;
  bad.metadata["owner"] = "x";
  StringSource src("z");
  EXPECT_EQ(b_->Put("m", src, bad).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(BucketTest, BadKeysRefused) {
  for (const char* k : {"", "a//b", "a/../b", "./a", "a/"}) {
    StringSource src("x");
    EXPECT_EQ(b_->Put(k, src, {}).status().code(), Status::Code::kInvalidArgument) << k;
  }
}

TEST_F(BucketTest, ListShowsLiveAndDeleted) {
  Put("d/a", "1");
  Put("d/b", "2");
  Put("e", "3");
  ASSERT_TRUE(b_->Delete("d/b").ok());
  auto live = b_->List("d/", false);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].key, "d/a");
  auto all = b_->List("", true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].key, "d/b");
  EXPECT_TRUE((*all)[1].deleted);
}

// No POSIX call destroys a version: the target's history goes on with the
// source's content, the source's own history stays under its old name as a
// deleted file's, and re-creating that name continues it.
TEST_F(BucketTest, EditorPatternKeepsBothHistories) {
  Put("doc", "v1");
  auto tmp = b_->MakeNode(kRootInode, "doc.tmp", FileKind::kRegular, 0644, 0, 0);
  ASSERT_TRUE(tmp.ok());
  StringSource src("v2");
  ASSERT_TRUE(b_->CommitContent(tmp->ino, src, {}).ok());
  auto merged = b_->Rename(kRootInode, "doc.tmp", kRootInode, "doc", 0);
  ASSERT_TRUE(merged.ok()) << merged.status().ToString();
  ASSERT_TRUE(merged->has_value());
  EXPECT_EQ(Get("doc"), "v2");
  EXPECT_EQ(Get("doc", {VersionNo(1), {}}), "v1");
  EXPECT_EQ(Get("doc.tmp", {VersionNo(1), {}}), "v2");
  auto tmp_versions = b_->Versions("doc.tmp");
  ASSERT_TRUE(tmp_versions.ok()) << tmp_versions.status().ToString();
  EXPECT_EQ(tmp_versions->size(), 1u);
  auto deleted = b_->List("", true);
  ASSERT_TRUE(deleted.ok());
  ASSERT_EQ(deleted->size(), 2u);
  EXPECT_EQ((*deleted)[1].key, "doc.tmp");
  EXPECT_TRUE((*deleted)[1].deleted);
  auto again = b_->MakeNode(kRootInode, "doc.tmp", FileKind::kRegular, 0644, 0, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ino, tmp->ino);  // its history continues
}

// CommitContent's `replaces` amends the newest version in place of adding
// one, and only while it is the newest and current one.
TEST_F(BucketTest, CommitContentAmendsOnlyTheNewestVersion) {
  auto f = b_->MakeNode(kRootInode, "f", FileKind::kRegular, 0644, 0, 0);
  ASSERT_TRUE(f.ok());
  StringSource empty("");
  auto v1 = b_->CommitContent(f->ino, empty, {});
  ASSERT_TRUE(v1.ok());
  StringSource x("x");
  auto amended = b_->CommitContent(f->ino, x, {.replaces = v1->version});
  ASSERT_TRUE(amended.ok()) << amended.status().ToString();
  EXPECT_EQ(amended->version, v1->version);
  EXPECT_GT(amended->seq.value, v1->seq.value);
  EXPECT_EQ(Get("f"), "x");
  EXPECT_EQ(b_->Versions("f")->size(), 1u);
  StringSource y("y"), z("z");
  ASSERT_TRUE(b_->CommitContent(f->ino, y, {}).ok());
  auto kept = b_->CommitContent(f->ino, z, {.replaces = v1->version});  // no longer the newest
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->version.value, 3u);
  EXPECT_EQ(Get("f", {VersionNo(1), {}}), "x");
  EXPECT_EQ(b_->Versions("f")->size(), 3u);
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok());
}

TEST_F(BucketTest, NoVersioningKeepsOnlyTheLatest) {
  std::string d2 = root_ + "/nv";
  BucketSettings set;
  set.versioning = false;
  ASSERT_TRUE(Bucket::Create(d2, set).ok());
  auto b = Bucket::Open(d2, {});
  ASSERT_TRUE(b.ok());
  StringSource s1(RandomBytes(1 << 20, 1)), s2(RandomBytes(1 << 20, 2));
  ASSERT_TRUE((*b)->Put("f", s1, {}).ok());
  ASSERT_TRUE((*b)->Put("f", s2, {}).ok());
  auto vs = (*b)->Versions("f");
  ASSERT_TRUE(vs.ok());
  EXPECT_EQ(vs->size(), 1u);
  uint64_t bytes = ChunkBytes(d2);
  EXPECT_LT(bytes, (1u << 20) + (1u << 18));  // the old body was reclaimed
}

}  // namespace
}  // namespace katamari

// Crash order through the I/O seam: whatever step of a put fails, and
// whatever a power cut then drops, no catalog row points at a missing or
// damaged chunk, and every put that reported success is intact.
#include "tests/unit/fault_env.h"

namespace katamari {
namespace {

TEST(BucketCrashOrder, FailureAtEveryStepLeavesNoDanglingRow) {
  char tmpl[] = "/tmp/katamari-crash-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/b";
  FaultEnv env;
  Bucket::OpenOptions with_env;
  with_env.env = &env;
  ASSERT_TRUE(Bucket::Create(dir, {}, &env).ok());
  ASSERT_TRUE(env.SyncFilesystem(dir).ok());
  // Each round puts new content (new chunks plus some shared with the last).
  auto content = [](uint64_t round) {
    return RandomBytes(250000, 100 + round) + RandomBytes(150000, 7);
  };
  std::string current = content(0);
  uint64_t steps = 0;
  {
    auto b = Bucket::Open(dir, with_env);
    ASSERT_TRUE(b.ok());
    StringSource s0(current);
    ASSERT_TRUE((*b)->Put("f", s0, {}).ok());
    uint64_t before = env.mutation_count();  // dry run: count the steps of a put
    current = content(1);
    StringSource s1(current);
    ASSERT_TRUE((*b)->Put("f", s1, {}).ok());
    steps = env.mutation_count() - before;
  }
  ASSERT_GT(steps, 3u);
  for (uint64_t i = 1; i <= steps + 2; ++i) {
    const std::string next = content(i + 1);
    bool put_ok = false;
    {
      auto b = Bucket::Open(dir, with_env);
      ASSERT_TRUE(b.ok());
      env.FailNthMutation(i, i % 2 ? ENOSPC : EIO);
      StringSource src(next);
      auto r = (*b)->Put("f", src, {});
      put_ok = r.ok();
      if (!r.ok()) {
        EXPECT_TRUE(r.status().IsNoSpace() || r.status().code() == Status::Code::kIOError)
            << r.status().ToString();
      }
      env.ClearFaults();
    }
    ASSERT_TRUE(env.SimulatePowerCut().ok());
    if (put_ok) current = next;
    auto b = Bucket::Open(dir, with_env);
    ASSERT_TRUE(b.ok());
    auto fsck = (*b)->Fsck();
    ASSERT_TRUE(fsck.ok());
    EXPECT_TRUE(fsck->ok()) << "step " << i << ": " << fsck->problems.at(0);
    StringSink out;
    ASSERT_TRUE((*b)->Get("f", {}, out).ok()) << "step " << i;
    EXPECT_EQ(out.out, current) << "step " << i;
  }
  std::filesystem::remove_all(tmpl);
}


// ---- xattr edits with attribute changes (POSIX ACLs through the mount)

TEST_F(BucketTest, XattrEditsGoWithTheAttrChangeAndAclsRestampTheCurrentVersion) {
  const std::string acl_name = "system.posix_acl_access";
  Put("f", "one");
  auto cur = b_->Resolve("f", {});
  ASSERT_TRUE(cur.ok());
  InodeId ino = cur->ino;
  Bucket::AttrChange c;
  c.mode = 0640;
  c.xattrs[acl_name] = std::string("ACL1");
  c.xattrs["user.q"] = std::string("1");
  auto a = b_->SetAttr(ino, c);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->mode, 0640u);
  Xattrs live = *b_->GetXattrs(ino);
  EXPECT_EQ(live[acl_name], "ACL1");
  EXPECT_EQ(live["user.q"], "1");
  VersionInfo v1 = *b_->GetVersion(ino, VersionNo(1));
  EXPECT_EQ(v1.xattrs.count(acl_name), 1u);  // the ACL is restamped, as the mode
  EXPECT_EQ(v1.xattrs.count("user.q"), 0u);  // user.* stay as committed
  EXPECT_EQ(v1.mode, 0640u);

  // a put replaces the user.* names only; the new version records the ACL
  PutOptions o;
  o.metadata["user.k"] = "v";
  VersionInfo v2 = Put("f", "two", o);
  live = *b_->GetXattrs(ino);
  EXPECT_EQ(live.count(acl_name), 1u);
  EXPECT_EQ(live.count("user.q"), 0u);
  EXPECT_EQ(live["user.k"], "v");
  EXPECT_EQ(v2.xattrs.count(acl_name), 1u);

  Bucket::AttrChange rm;
  rm.xattrs[acl_name] = std::nullopt;
  ASSERT_TRUE(b_->SetAttr(ino, rm).ok());
  EXPECT_EQ(b_->GetXattrs(ino)->count(acl_name), 0u);
  EXPECT_EQ(b_->GetVersion(ino, VersionNo(2))->xattrs.count(acl_name), 0u);
  EXPECT_EQ(b_->GetVersion(ino, VersionNo(1))->xattrs.count(acl_name), 1u);  // not current

  Bucket::AttrChange too_big;
  too_big.xattrs[acl_name] = std::string(70000, 'x');
  EXPECT_EQ(b_->SetAttr(ino, too_big).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(BucketTest, MakeNodeWithXattrsAndCommitCtime) {
  auto n = b_->MakeNode(kRootInode, "n", FileKind::kRegular, 0644, 0, 0, {}, 0,
                        Xattrs{{"system.posix_acl_access", "A"}});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ((*b_->GetXattrs(n->ino))["system.posix_acl_access"], "A");

  // ctime 0: the commit leaves the inode's ctime; a later one is taken;
  // an earlier one never moves it back; nullopt: the commit's time.
  int64_t before = b_->GetAttr(n->ino)->ctime_ns;
  StringSource s1("x");
  ASSERT_TRUE(b_->CommitContent(n->ino, s1, {.mtime_ns = 5, .ctime_ns = 0}).ok());
  EXPECT_EQ(b_->GetAttr(n->ino)->ctime_ns, before);
  StringSource s2("y");
  ASSERT_TRUE(b_->CommitContent(n->ino, s2, {.mtime_ns = 5, .ctime_ns = before + 7}).ok());
  EXPECT_EQ(b_->GetAttr(n->ino)->ctime_ns, before + 7);
  Bucket::AttrChange back;
  back.ctime_ns = before;
  ASSERT_TRUE(b_->SetAttr(n->ino, back).ok());
  EXPECT_EQ(b_->GetAttr(n->ino)->ctime_ns, before + 7);
  StringSource s3("z");
  ASSERT_TRUE(b_->CommitContent(n->ino, s3, {.mtime_ns = 5}).ok());
  EXPECT_GT(b_->GetAttr(n->ino)->ctime_ns, before + 7);
}

// A commit's attribute changes are made as a SetAttr just before it would:
// the inode and the new version get them, the version that was current is
// restamped, and it all is one commit of the catalog.
TEST_F(BucketTest, ACommitMakesItsAttrChangesInItsTransaction) {
  auto n = b_->MakeNode(kRootInode, "n", FileKind::kRegular, 0644, 10, 20);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  StringSource one("one");
  auto v1 = b_->CommitContent(n->ino, one);
  ASSERT_TRUE(v1.ok());
  Bucket::AttrChange change;
  change.mode = 0751;
  change.uid = 30;
  change.gid = 40;
  change.atime_ns = 1234;
  const Seq before = b_->SeqAtTime(std::numeric_limits<int64_t>::max());
  StringSource two("two");
  auto v2 = b_->CommitContent(n->ino, two, {.mtime_ns = 99, .attrs = change});
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(b_->SeqAtTime(std::numeric_limits<int64_t>::max()).value, before.value + 1);
  EXPECT_EQ(v2->mode, 0751u);
  EXPECT_EQ(v2->uid, 30u);
  EXPECT_EQ(v2->gid, 40u);
  auto a = b_->GetAttr(n->ino);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->mode, 0751u);
  EXPECT_EQ(a->uid, 30u);
  EXPECT_EQ(a->gid, 40u);
  EXPECT_EQ(a->atime_ns, 1234);
  EXPECT_EQ(a->mtime_ns, 99);
  auto old = b_->GetVersion(n->ino, v1->version);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->mode, 0751u);  // restamped, as chmod before the commit does
  EXPECT_EQ(old->uid, 30u);
}

}  // namespace
}  // namespace katamari

namespace katamari {
namespace {

// The key API on special files (made by a mount through the inode API):
// listed with their kind and rdev, no content to get or restore, put does
// not turn one into a file, delete and fsck treat them as any entry.
TEST_F(BucketTest, SpecialFilesInTheKeyApi) {
  Put("d/f", "content");
  auto d = b_->Lookup(kRootInode, "d");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(b_->MakeNode(d->ino, "p", FileKind::kFifo, 0640, 0, 0).ok());
  auto c = b_->MakeNode(d->ino, "null", FileKind::kCharDevice, 0666, 0, 0, {}, makedev(1, 3));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto listed = b_->List("", false);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  EXPECT_EQ((*listed)[0].key, "d/f");
  EXPECT_EQ((*listed)[1].key, "d/null");
  EXPECT_EQ((*listed)[1].attr.kind, FileKind::kCharDevice);
  EXPECT_EQ((*listed)[1].attr.rdev, makedev(1, 3));
  EXPECT_EQ((*listed)[1].version_count, 0u);
  EXPECT_FALSE((*listed)[1].latest);
  EXPECT_EQ((*listed)[2].key, "d/p");
  EXPECT_EQ((*listed)[2].attr.kind, FileKind::kFifo);
  StringSink sink;
  Status got = b_->Get("d/p", {}, sink);
  EXPECT_TRUE(got.IsNotFound()) << got.ToString();
  EXPECT_NE(got.message().find("is a fifo, a special file without content"), std::string::npos)
      << got.message();
  EXPECT_TRUE(sink.out.empty());
  EXPECT_TRUE(b_->Restore("d/null", {}).status().IsNotFound());
  StringSource src("x");
  EXPECT_EQ(b_->Put("d/p", src, {}).status().code(), Status::Code::kIsDir);
  auto fsck = b_->Fsck();
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << (fsck->problems.empty() ? "" : fsck->problems[0]);
  ASSERT_TRUE(b_->Delete("d/null").ok());
  listed = b_->List("d/", false);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_TRUE(b_->Lookup(d->ino, "null").status().IsNotFound());
}

}  // namespace
}  // namespace katamari

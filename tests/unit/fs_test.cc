// fs/: the Filesystem object, write sessions and mount options, without a
// mount. Filesystem tests run on a real temporary bucket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "fs/filesystem.h"
#include "fs/interval_set.h"
#include "fs/mount_options.h"
#include "fs/read_ahead.h"
#include "fs/write_session.h"
#include "store/bucket.h"
#include "tests/unit/fs_test_fixture.h"
#include "tests/unit/test_util.h"

namespace katamari::fs {
namespace {

namespace stdfs = std::filesystem;
using testing_util::RandomBytes;
using testing_util::TempDir;



// ---------------------------------------------------------------- IntervalSet

TEST(IntervalSetTest, MergesAndCuts) {
  IntervalSet s;
  s.Add(10, 20);
  s.Add(30, 40);
  EXPECT_EQ(s.range_count(), 2u);
  s.Add(20, 30);  // touching both: one range
  EXPECT_EQ(s.range_count(), 1u);
  EXPECT_TRUE(s.Covers(10, 40));
  EXPECT_FALSE(s.Covers(9, 11));
  s.TruncateTo(25);
  EXPECT_TRUE(s.Covers(10, 25));
  EXPECT_FALSE(s.Covers(24, 26));
  s.Add(100, 110);
  std::vector<std::tuple<uint64_t, uint64_t, bool>> pieces;
  s.Walk(0, 120, [&](uint64_t a, uint64_t b, bool c) {
    pieces.emplace_back(a, b, c);
    return true;
  });
  std::vector<std::tuple<uint64_t, uint64_t, bool>> want = {
      {0, 10, false}, {10, 25, true}, {25, 100, false}, {100, 110, true}, {110, 120, false}};
  EXPECT_EQ(pieces, want);
}

// --------------------------------------------------------------- WriteSession

// A base version held in memory.
class StringReader : public VersionReader {
 public:
  explicit StringReader(std::string data) : data_(std::move(data)) {
    info_.size = data_.size();
    info_.version = VersionNo(1);
  }
  const VersionInfo& info() const override { return info_; }
  Status ReadAt(uint64_t off, size_t n, char* buf, size_t* got) override {
    *got = off >= data_.size() ? 0 : std::min<size_t>(n, data_.size() - off);
    if (*got) std::memcpy(buf, data_.data() + off, *got);
    return Status::OK();
  }

 private:
  std::string data_;
  VersionInfo info_;
};

// A bucket for write sessions to stage in: plain, or encrypted (sealed staging).
class SessionBucket {
 public:
  explicit SessionBucket(bool encrypted = false) {
    std::string dir = tmp_.path() + "/bucket";
    BucketSettings settings;
    Bucket::OpenOptions o;
    if (encrypted) {
      std::string key = tmp_.path() + "/bucket.key";
      EXPECT_TRUE(Bucket::CreateKeyFile(key).ok());
      o.key = BucketKey::KeyFile(key);
      EXPECT_TRUE(Bucket::Create(dir, settings, o.key).ok());
    } else {
      EXPECT_TRUE(Bucket::Create(dir, settings).ok());
    }
    auto b = Bucket::Open(dir, o);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    bucket_ = std::move(b).value();
  }
  Bucket& operator*() { return *bucket_; }
  Bucket* operator->() { return bucket_.get(); }

 private:
  TempDir tmp_;
  std::unique_ptr<Bucket> bucket_;
};

std::unique_ptr<WriteSession> SessionOver(SessionBucket& bucket, const std::string& base) {
  WriteSession::Base b;
  if (!base.empty()) {
    b.reader = std::make_unique<StringReader>(base);
    b.version = VersionNo(1);
  }
  b.size = base.size();
  return std::make_unique<WriteSession>(*bucket, "test file", std::move(b));
}

std::string ReadAll(WriteSession& s) {
  std::string out(s.size(), '\0');
  auto got = s.Read(0, out.size(), out.data());
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, out.size());
  return out;
}

// On a plain and on an encrypted bucket (sealed staging blocks).
class WriteSessionModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(WriteSessionModelTest, RandomOperationsMatchAModel) {
  SessionBucket bucket(GetParam());
  std::string model = RandomBytes(100000, 1);
  auto s = SessionOver(bucket, model);
  std::mt19937_64 rng(7);
  for (int step = 0; step < 400; ++step) {
    int op = static_cast<int>(rng() % 10);
    uint64_t off = rng() % 150000;
    if (op < 6) {
      std::string data = RandomBytes(1 + rng() % 9000, rng());
      ASSERT_TRUE(s->Write(off, data).ok());
      if (model.size() < off + data.size()) model.resize(off + data.size(), '\0');
      model.replace(off, data.size(), data);
    } else if (op < 8) {
      uint64_t size = rng() % 160000;
      ASSERT_TRUE(s->Truncate(size).ok());
      model.resize(size, '\0');
    } else {
      uint64_t len = rng() % 20000;
      ASSERT_TRUE(s->ZeroRange(off, len).ok());
      if (off < model.size()) {
        uint64_t end = std::min<uint64_t>(off + len, model.size());
        std::fill(model.begin() + off, model.begin() + end, '\0');
      }
    }
    ASSERT_EQ(s->size(), model.size()) << "step " << step;
    if (step % 20 == 0) {
      ASSERT_EQ(ReadAll(*s), model) << "step " << step;
    }
  }
  EXPECT_EQ(ReadAll(*s), model);
  EXPECT_TRUE(s->dirty());
}

INSTANTIATE_TEST_SUITE_P(PlainAndEncrypted, WriteSessionModelTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Plain"; });

TEST(WriteSessionTest, TruncateDownThenUpReadsZerosNotOldBase) {
  SessionBucket bucket;
  auto s = SessionOver(bucket, std::string(10000, 'x'));
  ASSERT_TRUE(s->Truncate(100).ok());
  ASSERT_TRUE(s->Truncate(10000).ok());
  std::string want = std::string(100, 'x') + std::string(9900, '\0');
  EXPECT_EQ(ReadAll(*s), want);
}

TEST(WriteSessionTest, SparseWriteFarBeyondEndStagesOnlyWhatWasWritten) {
  SessionBucket bucket;
  auto s = SessionOver(bucket, "abc");
  const uint64_t far = uint64_t{64} << 30;  // 64 GiB
  ASSERT_TRUE(s->Write(far, "tail").ok());
  EXPECT_EQ(s->size(), far + 4);
  EXPECT_LE(s->staged_bytes(), 2 * WriteSession::kBlock);
  char buf[8];
  auto got = s->Read(far - 2, sizeof(buf), buf);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(*got, 6u);
  EXPECT_EQ(std::string(buf, 6), std::string("\0\0tail", 6));
  got = s->Read(0, 3, buf);
  EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST(WriteSessionTest, MarkDirtyIsNotAWrite) {
  SessionBucket bucket;
  auto s = SessionOver(bucket, "");
  EXPECT_FALSE(s->dirty());
  s->MarkDirty();
  EXPECT_TRUE(s->dirty());
  EXPECT_FALSE(s->has_writes());
  ASSERT_TRUE(s->Truncate(0).ok());  // no change
  EXPECT_FALSE(s->has_writes());
  ASSERT_TRUE(s->Write(0, "x").ok());
  EXPECT_TRUE(s->has_writes());
}

TEST(WriteSessionTest, StagingFileIsUnlinkedAtOnce) {
  SessionBucket bucket;
  auto s = SessionOver(bucket, "");
  ASSERT_TRUE(s->Write(0, "data").ok());
  EXPECT_TRUE(stdfs::is_empty(bucket->StagingDir()));
}

// ------------------------------------------------------------------ ReadAhead

TEST(ReadAheadTest, SequentialRandomAndConcurrentReadsMatchTheVersion) {
  const std::string data = RandomBytes(9 * ReadAhead::kBlockSize + 12345, 11);
  ReadAheadPool pool(3, 16 << 20);
  std::atomic<int> opened{0};
  auto ra = ReadAhead::Create(std::make_unique<StringReader>(data),
                              [&]() -> Result<std::unique_ptr<VersionReader>> {
                                ++opened;
                                return std::unique_ptr<VersionReader>(new StringReader(data));
                              },
                              &pool);
  std::string out(data.size(), '\0');
  for (size_t off = 0; off < data.size(); off += 131072) {  // like the kernel
    auto got = ra->Read(off, 131072, out.data() + off);
    ASSERT_TRUE(got.ok());
  }
  EXPECT_EQ(out, data);
  // Whether helpers got to read ahead (opened > 0) depends on scheduling: on
  // a loaded machine the foreground may read everything itself. Only the
  // bytes are asserted.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    uint64_t off = rng() % (data.size() + 100);
    size_t n = rng() % 300000;
    std::string buf(n, '\0');
    auto got = ra->Read(off, n, buf.data());
    ASSERT_TRUE(got.ok());
    size_t want = off >= data.size() ? 0 : std::min<size_t>(n, data.size() - off);
    ASSERT_EQ(*got, want);
    ASSERT_EQ(buf.substr(0, want), data.substr(std::min<size_t>(off, data.size()), want));
  }
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      std::string mine(data.size(), '\0');
      for (size_t off = t * 65536; off < data.size(); off += 262144) {
        size_t n = std::min<size_t>(262144, data.size() - off);
        auto got = ra->Read(off, n, mine.data() + off);
        EXPECT_TRUE(got.ok());
        EXPECT_EQ(mine.substr(off, n), data.substr(off, n));
      }
    });
  }
  for (auto& t : readers) t.join();
}

TEST(ReadAheadTest, WorksWhenNoMoreReadersCanBeOpened) {
  const std::string data = RandomBytes(6 * ReadAhead::kBlockSize, 12);
  ReadAheadPool pool(2, 16 << 20);
  auto ra = ReadAhead::Create(std::make_unique<StringReader>(data),
                              []() -> Result<std::unique_ptr<VersionReader>> {
                                return Status::NotFound("version deleted");
                              },
                              &pool);
  std::string out(data.size(), '\0');
  for (size_t off = 0; off < data.size(); off += 131072) {
    ASSERT_TRUE(ra->Read(off, 131072, out.data() + off).ok());
  }
  EXPECT_EQ(out, data);
}

TEST(ReadAheadTest, PoolKeepsAFewBuffersForReuse) {
  ReadAheadPool pool(1, 16 << 20);
  std::vector<std::unique_ptr<char[]>> bufs;
  for (size_t i = 0; i < ReadAheadPool::kKeptBuffers + 3; ++i) bufs.push_back(pool.TakeBuffer());
  const char* first = bufs[0].get();
  EXPECT_EQ(pool.kept_buffers(), 0u);
  for (auto& b : bufs) pool.GiveBuffer(std::move(b));
  EXPECT_EQ(pool.kept_buffers(), ReadAheadPool::kKeptBuffers);  // the rest were freed
  std::set<const char*> again;
  for (size_t i = 0; i < ReadAheadPool::kKeptBuffers; ++i) again.insert(pool.TakeBuffer().get());
  EXPECT_TRUE(again.count(first));  // handed out again, not reallocated
  EXPECT_EQ(pool.kept_buffers(), 0u);
}

TEST(ReadAheadTest, ReusedBuffersNeverShowAnotherFilesBytes) {
  // Two versions read one after the other through one pool: the second's
  // blocks (its last one short) land in buffers the first filled.
  const std::string a = RandomBytes(5 * ReadAhead::kBlockSize, 21);
  const std::string b = RandomBytes(3 * ReadAhead::kBlockSize + 777, 22);
  ReadAheadPool pool(2, 16 << 20);
  for (const std::string* data : {&a, &b, &a}) {
    auto ra = ReadAhead::Create(std::make_unique<StringReader>(*data),
                                [data]() -> Result<std::unique_ptr<VersionReader>> {
                                  return std::unique_ptr<VersionReader>(new StringReader(*data));
                                },
                                &pool);
    std::string out(data->size() + 4096, 'x');
    for (size_t off = 0; off < data->size(); off += 131072) {
      auto got = ra->Read(off, 131072, out.data() + off);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, std::min<size_t>(131072, data->size() - off));
    }
    EXPECT_EQ(out.substr(0, data->size()), *data);
    EXPECT_EQ(out.substr(data->size()), std::string(4096, 'x'));  // nothing past the end
  }
  EXPECT_LE(pool.kept_buffers(), ReadAheadPool::kKeptBuffers);
}

// ----------------------------------------------------------------- Filesystem
// (fixture: fs_test_fixture.h; truncation and rename over a file: fs_rename_test.cc)

TEST_F(FilesystemTest, CreateWriteCloseMakesOneVersion) {
  uint64_t fh;
  Entry e = MustCreate("a.txt", &fh);
  MustWrite(fh, 0, "hello ");
  MustWrite(fh, 6, "world");
  EXPECT_EQ(ReadFh(fh), "hello world");
  // The empty first version is made with the name; the close amends it.
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Committed(e.node), "");
  Close(fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
  EXPECT_EQ(Committed(e.node), "hello world");
  auto attr = fs_->GetAttr(e.node);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->size, 11u);
  EXPECT_FALSE(fs_->HasSession(e.node));
}

// Sequential writes are streamed to the store while written; a write that
// goes back abandons the stream and the content comes from staging.
TEST_F(FilesystemTest, StreamedCommitAndItsFallbacks) {
  const size_t kBig = 6 << 20;  // above WriteSession::kStreamThreshold
  std::string big = RandomBytes(kBig, 9);
  uint64_t fh;
  Entry a = MustCreate("streamed", &fh);
  for (size_t off = 0; off < big.size(); off += 128 << 10) {
    MustWrite(fh, off, big.substr(off, 128 << 10));
  }
  int64_t mtime_while_open = fs_->GetAttr(a.node)->mtime_ns;
  Close(fh);
  EXPECT_EQ(Committed(a.node), big);
  EXPECT_EQ(fs_->GetAttr(a.node)->mtime_ns, mtime_while_open);  // no jump at close
  EXPECT_EQ(VersionCount(a.node), 1u);

  Entry b = MustCreate("rewound", &fh);
  MustWrite(fh, 0, big.substr(0, 5 << 20));
  MustWrite(fh, 5 << 20, big.substr(5 << 20));
  MustWrite(fh, 10, "HEADER");  // like a tool patching its header at the end
  Close(fh);
  std::string want = big;
  want.replace(10, 6, "HEADER");
  EXPECT_EQ(Committed(b.node), want);
  EXPECT_EQ(VersionCount(b.node), 1u);

  Entry c = MustCreate("cut", &fh);
  MustWrite(fh, 0, big);
  AttrUpdate up;
  up.size = 1000;
  ASSERT_TRUE(fs_->SetAttr(c.node, up, fh).ok());
  MustWrite(fh, 1000, "end");
  up = AttrUpdate();
  up.mtime_ns = 1234567890123456789;
  ASSERT_TRUE(fs_->SetAttr(c.node, up, fh).ok());
  Close(fh);
  EXPECT_EQ(Committed(c.node), big.substr(0, 1000) + "end");
  EXPECT_EQ(fs_->GetAttr(c.node)->mtime_ns, 1234567890123456789);

  Entry d = MustCreate("stamped", &fh);  // streamed, then futimens (cp -p)
  MustWrite(fh, 0, big);
  ASSERT_TRUE(fs_->SetAttr(d.node, up, fh).ok());
  Close(fh);
  EXPECT_EQ(Committed(d.node), big);
  EXPECT_EQ(fs_->GetAttr(d.node)->mtime_ns, 1234567890123456789);

  Entry e = MustCreate("gap", &fh);  // a hole (cp --sparse) is not an append
  MustWrite(fh, 0, big.substr(0, 5 << 20));
  MustWrite(fh, 6 << 20, "x");
  Close(fh);
  EXPECT_EQ(Committed(e.node), big.substr(0, 5 << 20) + std::string(1 << 20, '\0') + "x");
}

TEST_F(FilesystemTest, UnchangedCloseCommitsNothing) {
  uint64_t fh;
  Entry e = MustCreate("a", &fh);
  MustWrite(fh, 0, "v1");
  Close(fh);
  auto o = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ReadFh(o->fh), "v1");
  Close(o->fh);
  auto r = fs_->Open(e.node, O_RDONLY);
  ASSERT_TRUE(r.ok());
  Close(r->fh);
  EXPECT_EQ(VersionCount(e.node), 1u);
}

TEST_F(FilesystemTest, OTruncThenWriteMakesOneVersion) {
  uint64_t fh;
  Entry e = MustCreate("f", &fh);
  MustWrite(fh, 0, "first");
  Close(fh);
  auto o = fs_->Open(e.node, O_WRONLY | O_TRUNC);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fs_->Flush(o->fh).ok());  // shell redirection dance
  MustWrite(o->fh, 0, "second");
  Close(o->fh);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Committed(e.node), "second");
}

TEST_F(FilesystemTest, TwoHandlesShareOneSession) {
  uint64_t fh1;
  Entry e = MustCreate("shared", &fh1);
  auto o2 = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o2.ok());
  auto ro = fs_->Open(e.node, O_RDONLY);
  ASSERT_TRUE(ro.ok());
  MustWrite(fh1, 0, "aaaa");
  MustWrite(o2->fh, 2, "bb");
  EXPECT_EQ(ReadFh(fh1), "aabb");
  EXPECT_EQ(ReadFh(o2->fh), "aabb");
  EXPECT_EQ(ReadFh(ro->fh), "aabb");  // a reader sees the uncommitted writes
  Close(fh1);                         // commits what both wrote
  EXPECT_EQ(Committed(e.node), "aabb");
  MustWrite(o2->fh, 4, "c");
  Close(o2->fh);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(ReadFh(ro->fh), "aabbc");
  Close(ro->fh);
}

TEST_F(FilesystemTest, TruncateOfClosedFileCommitsAndOfOpenFileWaitsForClose) {
  uint64_t fh;
  Entry e = MustCreate("t", &fh);
  MustWrite(fh, 0, std::string(10000, 'z'));
  Close(fh);
  AttrUpdate up;
  up.size = 10;
  auto a = fs_->SetAttr(e.node, up, std::nullopt);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->size, 10u);
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(Committed(e.node), std::string(10, 'z'));

  auto o = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  up.size = 20;  // ftruncate up: zeros
  ASSERT_TRUE(fs_->SetAttr(e.node, up, o->fh).ok());
  EXPECT_EQ(VersionCount(e.node), 2u);
  EXPECT_EQ(fs_->GetAttr(e.node)->size, 20u);
  Close(o->fh);
  EXPECT_EQ(Committed(e.node), std::string(10, 'z') + std::string(10, '\0'));
}

TEST_F(FilesystemTest, SparseWriteFarBeyondEndCommitsTheHoleAsZeros) {
  uint64_t fh;
  Entry e = MustCreate("sparse", &fh);
  MustWrite(fh, 0, "head");
  MustWrite(fh, 8 << 20, "tail");
  Close(fh);
  auto attr = fs_->GetAttr(e.node);
  EXPECT_EQ(attr->size, (8u << 20) + 4);
  auto o = fs_->Open(e.node, O_RDONLY);
  EXPECT_EQ(ReadFh(o->fh, (8 << 20) - 2, 10), std::string("\0\0tail", 6));
  EXPECT_EQ(ReadFh(o->fh, 0, 6), std::string("head\0\0", 6));
  Close(o->fh);
}

TEST_F(FilesystemTest, SmallChangeToBigFileStagesOnlyTheChange) {
  uint64_t fh;
  Entry e = MustCreate("big", &fh);
  std::string data = RandomBytes(4 << 20, 3);
  MustWrite(fh, 0, data);
  Close(fh);
  auto o = fs_->Open(e.node, O_RDWR);
  MustWrite(o->fh, 1000000, "X");
  data[1000000] = 'X';
  EXPECT_EQ(ReadFh(o->fh, 999990, 20), data.substr(999990, 20));
  Close(o->fh);
  EXPECT_EQ(Committed(e.node), data);
  auto versions = bucket_->ListVersions(InodeId(e.node));
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_LT(versions->back().new_bytes, 512u * 1024);  // about one chunk, not 4 MiB
}

TEST_F(FilesystemTest, UnlinkWhileOpenKeepsDataUntilRelease) {
  uint64_t fh;
  Entry e = MustCreate("gone", &fh);
  MustWrite(fh, 0, "still here");
  Close(fh);
  auto o = fs_->Open(e.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fs_->Unlink(1, "gone").ok());
  EXPECT_TRUE(fs_->Lookup(1, "gone").status().IsNotFound());
  EXPECT_EQ(ReadFh(o->fh), "still here");
  MustWrite(o->fh, 0, "STILL");
  EXPECT_EQ(ReadFh(o->fh), "STILL here");
  auto attr = fs_->GetAttr(e.node);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->nlink, 0u);
  Close(o->fh);
  // The writes to the unlinked file are not committed as a version.
  EXPECT_EQ(VersionCount(e.node), 1u);
  fs_->Forget(e.node, 1);
  EXPECT_EQ(fs_->LookupCount(e.node), 0u);
}

TEST_F(FilesystemTest, UnlinkWhileOpenWithoutVersioning) {
  BucketSettings settings;
  settings.versioning = false;
  OpenBucket(settings);
  uint64_t fh;
  Entry e = MustCreate("tmp", &fh);
  MustWrite(fh, 0, "scratch data");
  Close(fh);
  auto o = fs_->Open(e.node, O_RDONLY);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fs_->Unlink(1, "tmp").ok());
  EXPECT_EQ(ReadFh(o->fh), "scratch data");
  EXPECT_TRUE(fs_->GetAttr(e.node).ok());
  Close(o->fh);
}

TEST_F(FilesystemTest, EditorPatternRoutesTheSourceNodeToTheTarget) {
  uint64_t fh;
  Entry target = MustCreate("doc", &fh);
  MustWrite(fh, 0, "old");
  Close(fh);
  Entry tmp = MustCreate("doc.tmp", &fh);
  MustWrite(fh, 0, "new");
  Close(fh);
  ASSERT_TRUE(fs_->Rename(1, "doc.tmp", 1, "doc", 0).ok());
  // The target keeps its catalog inode and history; the new content is its
  // next version. To POSIX `doc` is the source's inode: lookups give the
  // source's node id and st_ino.
  EXPECT_EQ(VersionCount(target.node), 2u);
  auto looked = fs_->Lookup(1, "doc");
  ASSERT_TRUE(looked.ok());
  EXPECT_EQ(looked->node, tmp.node);
  EXPECT_EQ(looked->attr.ino.value, tmp.node);
  auto attr = fs_->GetAttr(tmp.node);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->ino.value, tmp.node);
  EXPECT_EQ(attr->nlink, 1u);
  auto o = fs_->Open(tmp.node, O_RDWR);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ReadFh(o->fh), "new");
  MustWrite(o->fh, 3, "er");
  Close(o->fh);
  EXPECT_EQ(VersionCount(target.node), 3u);
  EXPECT_EQ(Committed(target.node), "newer");
  // Neither node's content changed behind the kernel: nothing to invalidate.
  EXPECT_TRUE(invalidated_.empty());
  // The replaced file is unlinked to the kernel.
  EXPECT_EQ(fs_->GetAttr(target.node)->nlink, 0u);
  // doc.tmp's own history stays readable as a deleted file's.
  auto tmp_versions = bucket_->Versions("doc.tmp");
  ASSERT_TRUE(tmp_versions.ok()) << tmp_versions.status().ToString();
  EXPECT_EQ(tmp_versions->size(), 1u);
}

// git's index.lock -> index: the lock file's name is created again after each
// merge. If the store revives the merged-away inode for it, the new file must
// get its own node id (the kernel still uses the old one for `index`).
TEST_F(FilesystemTest, RecreatedLockFileAfterMergeIsItsOwnFile) {
  uint64_t fh;
  Entry index = MustCreate("index", &fh);
  MustWrite(fh, 0, "v1");
  Close(fh);
  Entry lock1 = MustCreate("index.lock", &fh);
  MustWrite(fh, 0, "v2");
  Close(fh);
  ASSERT_TRUE(fs_->Rename(1, "index.lock", 1, "index", 0).ok());
  Entry lock2 = MustCreate("index.lock", &fh);
  EXPECT_NE(lock2.node, lock1.node);
  MustWrite(fh, 0, "v3-longer");
  Close(fh);
  // `index` (through either node id) still reads v2 until the next rename.
  auto o = fs_->Open(lock1.node, O_RDONLY);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(ReadFh(o->fh), "v2");
  Close(o->fh);
  o = fs_->Open(lock2.node, O_RDONLY);
  EXPECT_EQ(ReadFh(o->fh), "v3-longer");
  Close(o->fh);
  ASSERT_TRUE(fs_->Rename(1, "index.lock", 1, "index", 0).ok());
  auto looked = fs_->Lookup(1, "index");
  ASSERT_TRUE(looked.ok());
  o = fs_->Open(looked->node, O_RDONLY);
  EXPECT_EQ(ReadFh(o->fh), "v3-longer");
  Close(o->fh);
  o = fs_->Open(lock2.node, O_RDONLY);  // the kernel's name for `index` now
  EXPECT_EQ(ReadFh(o->fh), "v3-longer");
  Close(o->fh);
  if (looked->node == index.node) {
    EXPECT_EQ(VersionCount(index.node), 3u);
  }
}

TEST_F(FilesystemTest, RenameNoReplaceAndExchange) {
  uint64_t fh;
  Entry a = MustCreate("a", &fh);
  MustWrite(fh, 0, "A");
  Close(fh);
  Entry b = MustCreate("b", &fh);
  MustWrite(fh, 0, "B");
  Close(fh);
  EXPECT_EQ(fs_->Rename(1, "a", 1, "b", 1 /*NOREPLACE*/).code(), Status::Code::kExists);
  ASSERT_TRUE(fs_->Rename(1, "a", 1, "b", 2 /*EXCHANGE*/).ok());
  EXPECT_EQ(fs_->Lookup(1, "b")->node, a.node);
  EXPECT_EQ(fs_->Lookup(1, "a")->node, b.node);
}

TEST_F(FilesystemTest, LookupCountsAndForget) {
  auto d = fs_->MakeDir(1, "dir", 0755, Caller{});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(fs_->LookupCount(d->node), 1u);
  ASSERT_TRUE(fs_->Lookup(1, "dir").ok());
  EXPECT_EQ(fs_->LookupCount(d->node), 2u);
  fs_->Forget(d->node, 2);
  EXPECT_EQ(fs_->LookupCount(d->node), 0u);
  EXPECT_EQ(fs_->NodeCount(), 1u);  // only the root is left
  // Forgotten ids still name their inodes.
  EXPECT_TRUE(fs_->GetAttr(d->node).ok());
}

TEST_F(FilesystemTest, DirectoriesSymlinksLinksAndSetgid) {
  auto d = fs_->MakeDir(1, "d", 02775, Caller{1000, 50});
  ASSERT_TRUE(d.ok());
  auto sub = fs_->MakeDir(d->node, "sub", 0755, Caller{1001, 60});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->attr.gid, 50u);  // from the setgid parent
  EXPECT_TRUE(sub->attr.mode & S_ISGID);
  auto l = fs_->MakeSymlink(d->node, "link", "../target", Caller{});
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*fs_->ReadLink(l->node), "../target");
  uint64_t fh;
  Entry f = MustCreate("file", &fh, d->node);
  Close(fh);
  auto hard = fs_->Link(f.node, 1, "hard");
  ASSERT_TRUE(hard.ok());
  EXPECT_EQ(hard->node, f.node);
  EXPECT_EQ(hard->attr.nlink, 2u);
  auto dh = fs_->OpenDir(d->node);
  ASSERT_TRUE(dh.ok());
  auto entries = fs_->DirEntries(*dh, true);
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> names;
  for (const auto& e : **entries) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "file", "link", "sub"}));
  ASSERT_TRUE(fs_->ReleaseDir(*dh).ok());
  EXPECT_EQ(fs_->RemoveDir(1, "d").code(), Status::Code::kNotEmpty);
}

TEST_F(FilesystemTest, XattrsUserOnlyAndVersionFacts) {
  uint64_t fh;
  Entry e = MustCreate("x", &fh);
  MustWrite(fh, 0, "abc");
  Close(fh);
  ASSERT_TRUE(fs_->SetXattr(e.node, "user.color", "blue", 0).ok());
  EXPECT_EQ(*fs_->GetXattr(e.node, "user.color"), "blue");
  EXPECT_EQ(fs_->SetXattr(e.node, "trusted.x", "1", 0).code(), Status::Code::kNotSupported);
  EXPECT_TRUE(fs_->GetXattr(e.node, "security.capability").status().IsNotFound());
  EXPECT_EQ(*fs_->GetXattr(e.node, "user.katamari.sha256"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*fs_->GetXattr(e.node, "user.katamari.version"), "1");
  EXPECT_EQ(fs_->SetXattr(e.node, "user.katamari.version", "9", 0).code(),
            Status::Code::kPermission);
  std::string list = *fs_->ListXattr(e.node);
  EXPECT_EQ(list, std::string("user.color\0", 11));
  ASSERT_TRUE(fs_->RemoveXattr(e.node, "user.color").ok());
  EXPECT_TRUE(fs_->GetXattr(e.node, "user.color").status().IsNotFound());
}

TEST_F(FilesystemTest, FallocateModes) {
  uint64_t fh;
  Entry e = MustCreate("fa", &fh);
  MustWrite(fh, 0, std::string(20000, 'a'));
  ASSERT_TRUE(fs_->Fallocate(fh, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 10000).ok());
  ASSERT_TRUE(fs_->Fallocate(fh, FALLOC_FL_KEEP_SIZE, 0, 1 << 20).ok());
  EXPECT_EQ(fs_->GetAttr(e.node)->size, 20000u);
  ASSERT_TRUE(fs_->Fallocate(fh, 0, 0, 30000).ok());
  EXPECT_EQ(fs_->GetAttr(e.node)->size, 30000u);
  EXPECT_EQ(fs_->Fallocate(fh, FALLOC_FL_PUNCH_HOLE, 0, 1).code(), Status::Code::kNotSupported);
  Close(fh);
  std::string want = std::string(100, 'a') + std::string(10000, '\0') +
                     std::string(9900, 'a') + std::string(10000, '\0');
  EXPECT_EQ(Committed(e.node), want);
}

TEST_F(FilesystemTest, CreateOverExistingWithoutExclOpensIt) {
  uint64_t fh;
  Entry e = MustCreate("race", &fh);
  MustWrite(fh, 0, "keep");
  Close(fh);
  auto again = fs_->Create(1, "race", 0644, O_CREAT | O_RDWR, Caller{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->entry.node, e.node);
  EXPECT_EQ(ReadFh(again->fh), "keep");
  Close(again->fh);
  EXPECT_EQ(fs_->Create(1, "race", 0644, O_CREAT | O_EXCL | O_RDWR, Caller{}).status().code(),
            Status::Code::kExists);
}

TEST_F(FilesystemTest, CommitAllCommitsOpenSessions) {
  uint64_t fh;
  Entry e = MustCreate("open", &fh);
  MustWrite(fh, 0, "unsaved");
  ASSERT_TRUE(fs_->CommitAll().ok());
  EXPECT_EQ(Committed(e.node), "unsaved");
  ASSERT_TRUE(fs_->Release(fh).ok());
  EXPECT_EQ(VersionCount(e.node), 1u);
}

TEST_F(FilesystemTest, ConcurrentWritersToDifferentAndSameFiles) {
  std::vector<uint64_t> fhs(4);
  std::vector<Entry> entries;
  for (int i = 0; i < 4; ++i) entries.push_back(MustCreate("c" + std::to_string(i), &fhs[i]));
  auto shared = fs_->Open(entries[0].node, O_RDWR);
  ASSERT_TRUE(shared.ok());
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 64; ++k) {
        std::string block(4096, static_cast<char>('a' + i));
        EXPECT_TRUE(fs_->Write(fhs[i], uint64_t(k) * 4096, block).ok());
      }
    });
  }
  threads.emplace_back([&] {
    for (int k = 0; k < 64; ++k) {
      EXPECT_TRUE(fs_->Write(shared->fh, uint64_t(64 + k) * 4096, std::string(4096, 'z')).ok());
    }
  });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) Close(fhs[i]);
  Close(shared->fh);
  EXPECT_EQ(Committed(entries[0].node), std::string(64 * 4096, 'a') + std::string(64 * 4096, 'z'));
  EXPECT_EQ(Committed(entries[3].node), std::string(64 * 4096, 'd'));
}

TEST_F(FilesystemTest, InitEmptiesStaging) {
  std::string junk = bucket_->StagingDir() + "/leftover";
  { std::FILE* f = std::fopen(junk.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  ASSERT_TRUE(fs_->Init().ok());
  EXPECT_FALSE(stdfs::exists(junk));
}

// ---------------------------------------------------------------- options

TEST(MountOptionsTest, ParsesOursAndFuseOnes) {
  MountOptions o;
  ASSERT_TRUE(ParseMountOptions("allow_other,compression=zlib,level=6,ro,noatime,_netdev,"
                                "defaults,fsname=photos,x-systemd.automount",
                                &o)
                  .ok());
  EXPECT_TRUE(o.allow_other);
  EXPECT_TRUE(o.read_only);
  EXPECT_EQ(o.compression, Codec::kZlib);
  EXPECT_EQ(o.level, 6);
  std::string fuse = FuseOptionString(o);
  EXPECT_NE(fuse.find("default_permissions"), std::string::npos);
  EXPECT_NE(fuse.find("allow_other"), std::string::npos);
  EXPECT_NE(fuse.find("fsname=photos"), std::string::npos);
  EXPECT_NE(fuse.find(",ro"), std::string::npos);
  EXPECT_NE(fuse.find("noatime"), std::string::npos);
  EXPECT_EQ(fuse.find("compression"), std::string::npos);
}

TEST(MountOptionsTest, RefusesUnknownAndBadValuesByName) {
  MountOptions o;
  Status st = ParseMountOptions("allow_other,frobnicate", &o);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("frobnicate"), std::string::npos);
  st = ParseMountOptions("compression=lzma", &o);
  EXPECT_NE(st.message().find("compression=lzma"), std::string::npos);
  st = ParseMountOptions("level=abc", &o);
  EXPECT_NE(st.message().find("level=abc"), std::string::npos);
  MountOptions keyed;
  ASSERT_TRUE(ParseMountOptions("keyfile=/etc/k.key", &keyed).ok());
  EXPECT_EQ(keyed.keyfile, "/etc/k.key");
  st = ParseMountOptions("passphrase_file=/run/pw", &keyed);
  EXPECT_NE(st.message().find("not both"), std::string::npos);
}

}  // namespace
}  // namespace katamari::fs

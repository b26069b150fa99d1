// ChunkStore: round trips, verification on read, temp sweeping, and crash
// behaviour under injected faults and simulated power cuts (FaultEnv).
#include "store/chunk_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/sha256.h"
#include "tests/unit/fault_env.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::TempDir;

std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string Text(size_t n, int salt = 0) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) s += "line " + std::to_string(i * 31 + salt) + " of text\n";
  s.resize(n);
  return s;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}


// All tests of a suite share one bucket directory: rmdir costs milliseconds
// on some disks and a bucket has 257 directories. Tests therefore use content
// of their own and never assume the store holds only what they wrote.
class ChunkStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_dir_ = new TempDir; }
  static void TearDownTestSuite() {
    delete shared_dir_;
    shared_dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(store_.Init().ok()); }

  ChunkRef Put(ChunkStore& store, const std::string& data) {
    auto ref = store.Write(store.IdOf(data), data);
    EXPECT_TRUE(ref.ok()) << ref.status().ToString();
    return ref.ok() ? *ref : ChunkRef{};
  }
  ChunkRef Put(const std::string& data) { return Put(store_, data); }

  // Files under chunks/ whose names are temp names.
  std::vector<std::string> TempFiles() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path() + "/chunks")) {
      if (e.path().filename().string().find(".tmp.") != std::string::npos) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }

  static inline TempDir* shared_dir_ = nullptr;
  const TempDir& dir_ = *shared_dir_;
  ChunkStore store_{Env::Default(), dir_.path(), Codec::kZstd, 3};
};

TEST_F(ChunkStoreTest, RoundTripEveryCodec) {
  for (Codec codec : {Codec::kZstd, Codec::kZlib, Codec::kNone}) {
    store_.SetCodec(codec, 3);
    for (const std::string& data :
         {Text(100000, static_cast<int>(codec)), Random(70000, static_cast<int>(codec)),
          std::string(), std::string("x")}) {
      const ChunkRef ref = Put(data);
      EXPECT_EQ(ref.raw_len, data.size());
      EXPECT_EQ(ref.stored_len, fs::file_size(store_.PathOf(ref.id)));
      std::string out = "stale";
      Status st = store_.Read(ref, &out);
      ASSERT_TRUE(st.ok()) << CodecName(codec) << ": " << st.ToString();
      EXPECT_EQ(out, data);
    }
  }
}

TEST_F(ChunkStoreTest, FileFormatBytes) {
  const std::string text = Text(50000);
  const ChunkRef ref = Put(text);
  const std::string file = Slurp(store_.PathOf(ref.id));
  ASSERT_GE(file.size(), kChunkHeaderSize);
  EXPECT_EQ(file.substr(0, 4), "KTCH");
  EXPECT_EQ(file[4], 1);  // format version
  EXPECT_EQ(file[5], 1);  // zstd
  EXPECT_EQ(file[6], 0);  // no cipher
  EXPECT_EQ(file[7], 0);  // flags
  EXPECT_EQ(file.substr(8, 4), std::string("\x50\xc3\x00\x00", 4));  // 50000 LE
  EXPECT_EQ(file.substr(12, 12), std::string(12, '\0'));
  EXPECT_LT(file.size(), text.size() / 2);

  // Incompressible data is stored raw: codec byte 0, payload == plaintext.
  const std::string noise = Random(5000, 9);
  const std::string raw = Slurp(store_.PathOf(Put(noise).id));
  EXPECT_EQ(raw[5], 0);
  EXPECT_EQ(raw.substr(kChunkHeaderSize), noise);
}

TEST_F(ChunkStoreTest, LayoutAndPermissions) {
  const ChunkRef ref = Put(Text(1000));
  const std::string hex = ref.id.Hex();
  EXPECT_EQ(store_.PathOf(ref.id), dir_.path() + "/chunks/" + hex.substr(0, 2) + "/" + hex);
  EXPECT_EQ(ref.id, Sha256Of(Text(1000)));
  struct stat st;
  ASSERT_EQ(::stat(store_.PathOf(ref.id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_.path() + "/chunks/00").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(store_.Init().ok()) << "Init is idempotent";
}

TEST_F(ChunkStoreTest, SameContentSamePath) {
  const std::string data = Text(30000);
  const ChunkRef a = Put(data);
  struct stat st1, st2;
  ASSERT_EQ(::stat(store_.PathOf(a.id).c_str(), &st1), 0);
  const ChunkRef b = Put(data);
  ASSERT_EQ(::stat(store_.PathOf(b.id).c_str(), &st2), 0);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.stored_len, b.stored_len);
  EXPECT_EQ(st1.st_ino, st2.st_ino) << "a valid existing chunk is reused, not rewritten";
  EXPECT_TRUE(store_.Exists(a.id));
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(ChunkStoreTest, RewriteRepairsADamagedChunk) {
  const std::string data = Text(30000);
  const ChunkRef ref = Put(data);
  Spit(store_.PathOf(ref.id), "");  // e.g. a rename whose data a power cut lost
  std::string out;
  EXPECT_TRUE(store_.Read(ref, &out).IsCorruption());
  Put(data);
  ASSERT_TRUE(store_.Read(ref, &out).ok());
  EXPECT_EQ(out, data);
}

TEST_F(ChunkStoreTest, EveryFlippedBitIsCaught) {
  for (const std::string& data : {Text(20000), Random(3000, 2)}) {
    const ChunkRef ref = Put(data);
    const std::string path = store_.PathOf(ref.id);
    const std::string good = Slurp(path);
    // Every byte of the header and a spread of payload bytes, one bit each.
    std::vector<size_t> spots;
    for (size_t i = 0; i < kChunkHeaderSize; ++i) spots.push_back(i);
    for (size_t i = kChunkHeaderSize; i < good.size(); i += 97) spots.push_back(i);
    spots.push_back(good.size() - 1);
    for (size_t at : spots) {
      std::string bad = good;
      bad[at] ^= static_cast<char>(1 << (at % 8));
      Spit(path, bad);
      std::string out;
      Status st = store_.Read(ref, &out);
      ASSERT_FALSE(st.ok()) << "flip at byte " << at << " went unnoticed";
      EXPECT_TRUE(out.empty());
      EXPECT_TRUE(st.IsCorruption()) << "byte " << at << ": " << st.ToString();
      EXPECT_NE(st.message().find(ref.id.Hex()), std::string::npos) << st.message();
    }
    Spit(path, good);
  }
}

TEST_F(ChunkStoreTest, TruncatedFileIsCorruption) {
  const ChunkRef ref = Put(Text(20000));
  const std::string path = store_.PathOf(ref.id);
  const std::string good = Slurp(path);
  for (size_t len : {size_t{0}, size_t{10}, kChunkHeaderSize, good.size() / 2, good.size() - 1}) {
    Spit(path, good.substr(0, len));
    std::string out;
    Status st = store_.Read(ref, &out);
    EXPECT_TRUE(st.IsCorruption()) << "length " << len << ": " << st.ToString();
    EXPECT_NE(st.message().find(ref.id.Hex()), std::string::npos);
  }
  Spit(path, good + "trailing");
  std::string out;
  EXPECT_TRUE(store_.Read(ref, &out).IsCorruption());
}

TEST_F(ChunkStoreTest, MissingIsCorruption) {
  const ChunkRef ref = Put(Text(1000));
  ASSERT_TRUE(store_.Remove(ref.id).ok());
  EXPECT_FALSE(store_.Exists(ref.id));
  std::string out;
  Status st = store_.Read(ref, &out);
  ASSERT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_NE(st.message().find("chunk " + ref.id.Hex() + " is missing"), std::string::npos)
      << st.message();
}

TEST_F(ChunkStoreTest, WrongLengthOrIdIsCorruption) {
  const std::string data = Text(5000);
  ChunkRef ref = Put(data);
  std::string out;
  ChunkRef longer = ref;
  longer.raw_len += 1;
  EXPECT_TRUE(store_.Read(longer, &out).IsCorruption());
  // Another chunk's file under this id: right format, wrong content.
  const ChunkRef other = Put(Text(5000, 1));
  fs::copy_file(store_.PathOf(other.id), store_.PathOf(ref.id),
                fs::copy_options::overwrite_existing);
  Status st = store_.Read(ref, &out);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_TRUE(out.empty());
}

TEST_F(ChunkStoreTest, EncryptedChunkNeedsKey) {
  const ChunkRef ref = Put(Text(5000));
  std::string file = Slurp(store_.PathOf(ref.id));
  file[6] = 1;
  Spit(store_.PathOf(ref.id), file);
  std::string out;
  Status st = store_.Read(ref, &out);
  EXPECT_EQ(st.code(), Status::Code::kNotSupported);
  EXPECT_NE(st.message().find("encrypted chunk; needs key"), std::string::npos);
}

TEST_F(ChunkStoreTest, ListFindsChunksAndSweepsOldTemps) {
  std::vector<ChunkId> written;
  for (int i = 0; i < 40; ++i) written.push_back(Put(Text(2000 + i, i)).id);
  const std::string sub = dir_.path() + "/chunks/ab/";
  const std::string old_tmp = sub + std::string(64, 'a') + ".tmp.1234";
  const std::string new_tmp = sub + std::string(64, 'b') + ".tmp.5678";
  Spit(old_tmp, "partial");
  Spit(new_tmp, "in flight");
  Spit(sub + "README", "not a chunk");
  Spit(sub + "AB" + std::string(62, 'C'), "uppercase is not a chunk name");
  Spit(dir_.path() + "/chunks/cd/" + std::string(64, 'e'), "right name, wrong dir");
  struct timeval old_times[2] = {{::time(nullptr) - 7200, 0}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimes(old_tmp.c_str(), old_times), 0);

  auto listed = store_.List(3600);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::sort(listed->begin(), listed->end());
  for (const ChunkId& id : written) {
    EXPECT_TRUE(std::binary_search(listed->begin(), listed->end(), id)) << id.Hex();
  }
  for (const ChunkId& id : *listed) {
    EXPECT_TRUE(fs::exists(store_.PathOf(id))) << "only real chunk files are listed";
  }
  EXPECT_FALSE(fs::exists(old_tmp)) << "an hour-old temp is swept";
  EXPECT_TRUE(fs::exists(new_tmp)) << "a fresh temp may belong to a running Write";
  EXPECT_TRUE(fs::exists(sub + "README"));

  ASSERT_TRUE(store_.List(0).ok());
  EXPECT_FALSE(fs::exists(new_tmp));
}

TEST_F(ChunkStoreTest, ConcurrentWritersOfTheSameChunk) {
  const std::string data = Text(200000);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (!store_.Write(store_.IdOf(data), data).ok()) ++failures;
        std::string out;
        if (!store_.Read({store_.IdOf(data), uint32_t(data.size()), 0}, &out).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(TempFiles().empty());
}

// ---- The POSIX Env and the errno mapping underneath ------------------------

TEST(StatusTest, FromErrnoMapping) {
  const std::pair<int, Status::Code> cases[] = {
      {ENOENT, Status::Code::kNotFound},      {ENOSPC, Status::Code::kNoSpace},
      {EDQUOT, Status::Code::kNoSpace},       {EACCES, Status::Code::kPermission},
      {EPERM, Status::Code::kPermission},     {EROFS, Status::Code::kReadOnly},
      {EEXIST, Status::Code::kExists},        {ENOTEMPTY, Status::Code::kNotEmpty},
      {ENOTDIR, Status::Code::kNotDir},       {EISDIR, Status::Code::kIsDir},
      {ENAMETOOLONG, Status::Code::kNameTooLong}, {EIO, Status::Code::kIOError},
      {EBADF, Status::Code::kIOError},
  };
  for (auto [err, code] : cases) {
    EXPECT_EQ(Status::FromErrno(err, "x").code(), code) << err;
  }
  Status st = Status::FromErrno(ENOSPC, "write chunks/ab/ab12.tmp");
  EXPECT_EQ(st.ToString(), "NoSpace: write chunks/ab/ab12.tmp: No space left on device");
  EXPECT_EQ(Status().ToString(), "OK");
  EXPECT_STREQ(Status::CodeName(Status::Code::kCorruption), "Corruption");
}

TEST(PosixEnvTest, FilesAndDirectories) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string f = dir.path() + "/file";
  {
    auto w = env->NewWritableFile(f);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("hello ").ok());
    ASSERT_TRUE((*w)->Append(std::string(100000, 'w')).ok());
    ASSERT_TRUE((*w)->Sync().ok());
    ASSERT_TRUE((*w)->Close().ok());
    EXPECT_FALSE((*w)->Append("late").ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(*env->GetFileSize(f), 100006u);
  EXPECT_EQ(env->ReadFile(f)->substr(0, 7), "hello w");

  auto r = env->NewRandomAccessFile(f);
  ASSERT_TRUE(r.ok());
  char buf[16];
  size_t got = 0;
  ASSERT_TRUE((*r)->Read(100000, sizeof(buf), buf, &got).ok());
  EXPECT_EQ(got, 6u) << "short only at end of file";
  EXPECT_EQ(*(*r)->Size(), 100006u);

  { ASSERT_TRUE((*env->NewWritableFile(f))->Close().ok()); }  // truncates
  EXPECT_EQ(*env->GetFileSize(f), 0u);

  EXPECT_TRUE(env->CreateDir(dir.path() + "/d", 0750).ok());
  EXPECT_TRUE(env->CreateDir(dir.path() + "/d").ok()) << "existing directory is fine";
  EXPECT_EQ(env->CreateDir(f).code(), Status::Code::kNotDir);
  EXPECT_TRUE(env->SyncDir(dir.path()).ok());
  EXPECT_TRUE(env->SyncFilesystem(dir.path()).ok());

  ASSERT_TRUE(env->RenameFile(f, dir.path() + "/g").ok());
  EXPECT_FALSE(env->FileExists(f));
  auto names = env->GetChildren(dir.path());
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"d", "g"}));
  EXPECT_GT(*env->GetFileModificationTime(dir.path() + "/g"), 1600000000);

  EXPECT_TRUE(env->RemoveFile(f).IsNotFound());
  EXPECT_TRUE(env->ReadFile(f).status().IsNotFound());
  EXPECT_TRUE(env->GetChildren(f).status().IsNotFound());
  Status missing = env->NewRandomAccessFile(f).status();
  EXPECT_NE(missing.message().find(f), std::string::npos) << "errors name the path";
}

// ---- Faults and power cuts -------------------------------------------------

class ChunkStoreFaultTest : public ChunkStoreTest {
 protected:
  FaultEnv env_;
  ChunkStore faulty_{&env_, dir_.path(), Codec::kZstd, 3};

  // The crash invariant: a final-named chunk file is either absent or valid.
  void ExpectAbsentOrValid(const std::string& data) {
    const ChunkId id = Sha256Of(data);
    if (!fs::exists(store_.PathOf(id))) return;
    std::string out;
    Status st = store_.Read({id, static_cast<uint32_t>(data.size()), 0}, &out);
    EXPECT_TRUE(st.ok()) << "final-named chunk is unreadable: " << st.ToString();
  }
};

TEST_F(ChunkStoreFaultTest, FailingAnyStepLeavesNoBadChunk) {
  for (const std::string& data : {Text(40000), Random(40000, 3)}) {  // 1 and 2 appends
    const uint64_t before = env_.mutation_count();
    const ChunkRef ref = Put(faulty_, data);
    const uint64_t steps = env_.mutation_count() - before;
    ASSERT_GE(steps, 4u);  // create, append(s), close, rename
    for (int err : {ENOSPC, EIO}) {
      for (bool torn : {false, true}) {
        for (uint64_t i = 1; i <= steps; ++i) {
          SCOPED_TRACE("step " + std::to_string(i) + " errno " + std::to_string(err) +
                       (torn ? " torn" : ""));
          if (store_.Exists(ref.id)) {
            ASSERT_TRUE(store_.Remove(ref.id).ok());
          }
          env_.set_torn_appends(torn);
          env_.FailNthMutation(i, err);
          auto r = faulty_.Write(ref.id, data);
          env_.ClearFaults();
          ASSERT_FALSE(r.ok());
          EXPECT_EQ(r.status().code(),
                    err == ENOSPC ? Status::Code::kNoSpace : Status::Code::kIOError)
              << r.status().ToString();
          EXPECT_FALSE(fs::exists(store_.PathOf(ref.id)));
          ExpectAbsentOrValid(data);
          EXPECT_TRUE(TempFiles().empty()) << "failed write cleans its temp file";
        }
      }
    }
    // And it works again afterwards.
    Put(faulty_, data);
    ExpectAbsentOrValid(data);
  }
}

TEST_F(ChunkStoreFaultTest, FullDiskFailsCleanlyAndRecovers) {
  const std::string data = Text(30000, 77);
  env_.FailAllMutations(ENOSPC);
  auto r = faulty_.Write(faulty_.IdOf(data), data);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNoSpace()) << r.status().ToString();
  EXPECT_FALSE(faulty_.Exists(faulty_.IdOf(data)));
  EXPECT_TRUE(faulty_.SyncBatch().IsNoSpace());
  env_.ClearFaults();
  Put(faulty_, data);
  ExpectAbsentOrValid(data);
  EXPECT_TRUE(faulty_.Exists(faulty_.IdOf(data)));
}

TEST_F(ChunkStoreFaultTest, PowerCutKeepsSyncedChunksOnly) {
  const std::string a = Text(30000, 1), b = Random(20000, 2), c = Text(30000, 3);
  const ChunkRef ra = Put(faulty_, a), rb = Put(faulty_, b);
  ASSERT_TRUE(faulty_.SyncBatch().ok());
  EXPECT_EQ(env_.unsynced_count(), 0u);
  const ChunkRef rc = Put(faulty_, c);
  EXPECT_GT(env_.unsynced_count(), 0u);
  ASSERT_TRUE(env_.SimulatePowerCut().ok());

  std::string out;
  ASSERT_TRUE(faulty_.Read(ra, &out).ok());
  EXPECT_EQ(out, a);
  ASSERT_TRUE(faulty_.Read(rb, &out).ok());
  EXPECT_EQ(out, b);
  EXPECT_FALSE(faulty_.Exists(rc.id)) << "an unsynced chunk vanishes";
  EXPECT_TRUE(faulty_.Read(rc, &out).IsCorruption());
  auto listed = faulty_.List(0);
  ASSERT_TRUE(listed.ok());
  auto listed_has = [&](const ChunkId& id) {
    return std::find(listed->begin(), listed->end(), id) != listed->end();
  };
  EXPECT_TRUE(listed_has(ra.id));
  EXPECT_TRUE(listed_has(rb.id));
  EXPECT_FALSE(listed_has(rc.id));
  EXPECT_TRUE(TempFiles().empty());
}

TEST_F(ChunkStoreFaultTest, PowerCutDuringAWriteLeavesAbsentOrValid) {
  const std::string synced = Text(10000, 9);
  const ChunkRef rs = Put(faulty_, synced);
  ASSERT_TRUE(faulty_.SyncBatch().ok());
  const std::string data = Text(40000, 4);
  const uint64_t before = env_.mutation_count();
  Put(faulty_, data);
  const uint64_t steps = env_.mutation_count() - before;
  ASSERT_TRUE(env_.SimulatePowerCut().ok());
  for (uint64_t i = 1; i <= steps + 1; ++i) {
    SCOPED_TRACE("power cut at step " + std::to_string(i));
    env_.FailNthMutation(i, EIO, /*sticky=*/true);  // the machine stops here
    auto r = faulty_.Write(faulty_.IdOf(data), data);
    env_.ClearFaults();
    ASSERT_TRUE(env_.SimulatePowerCut().ok());
    ExpectAbsentOrValid(data);
    EXPECT_FALSE(faulty_.Exists(faulty_.IdOf(data))) << "nothing was synced";
    std::string out;
    ASSERT_TRUE(faulty_.Read(rs, &out).ok());
    EXPECT_EQ(out, synced);
  }
}

// ---- FaultEnv's own model (the catalog's crash tests rely on it) ---------

class FaultEnvTest : public ::testing::Test {
 protected:
  void Write(const std::string& path, const std::string& data, bool sync = false) {
    auto f = env_.NewWritableFile(path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->Append(data).ok());
    if (sync) {
      ASSERT_TRUE((*f)->Sync().ok());
    }
    ASSERT_TRUE((*f)->Close().ok());
  }
  std::string P(const std::string& name) const { return dir_.path() + "/" + name; }

  TempDir dir_;
  FaultEnv env_;
};

TEST_F(FaultEnvTest, UnsyncedDataIsCutAndNewNamesVanish) {
  Write(P("durable"), "old", /*sync=*/true);
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  auto f = env_.NewWritableFile(P("durable"));  // truncates durable content
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("new content").ok());
  Write(P("fresh"), "never synced");
  Write(P("synced-data"), "data synced, name not", /*sync=*/true);
  ASSERT_TRUE(env_.SimulatePowerCut().ok());
  EXPECT_EQ(Slurp(P("durable")), "old");
  EXPECT_FALSE(fs::exists(P("fresh")));
  EXPECT_FALSE(fs::exists(P("synced-data"))) << "fsync of a file does not sync its name";
  EXPECT_FALSE((*f)->Append("x").ok()) << "handles die with the power";
  (*f)->Close();
}

TEST_F(FaultEnvTest, PartialSyncTruncatesToSyncedSize) {
  auto f = env_.NewWritableFile(P("log"));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("first|").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  ASSERT_TRUE((*f)->Append("second").ok());
  ASSERT_TRUE(env_.SimulatePowerCut().ok());
  EXPECT_EQ(Slurp(P("log")), "first|");
}

TEST_F(FaultEnvTest, RenamesAndRemovesRevert) {
  Write(P("target"), "original");
  Write(P("victim"), "keep me");
  ASSERT_TRUE(env_.SyncFilesystem(dir_.path()).ok());
  Write(P("tmp"), "replacement", /*sync=*/true);
  ASSERT_TRUE(env_.RenameFile(P("tmp"), P("target")).ok());
  ASSERT_TRUE(env_.RemoveFile(P("victim")).ok());
  EXPECT_EQ(Slurp(P("target")), "replacement");
  auto names = env_.GetChildren(dir_.path());
  ASSERT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  EXPECT_EQ(*names, (std::vector<std::string>{"target"})) << "backups are hidden";
  ASSERT_TRUE(env_.SimulatePowerCut().ok());
  EXPECT_EQ(Slurp(P("target")), "original");
  EXPECT_EQ(Slurp(P("victim")), "keep me");
  EXPECT_FALSE(fs::exists(P("tmp")));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 2);
}

TEST_F(FaultEnvTest, SyncDirMakesNamesDurable) {
  Write(P("a"), "data", /*sync=*/true);
  ASSERT_TRUE(env_.RenameFile(P("a"), P("b")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  EXPECT_EQ(env_.unsynced_count(), 0u);
  ASSERT_TRUE(env_.SimulatePowerCut().ok());
  EXPECT_EQ(Slurp(P("b")), "data");
  EXPECT_FALSE(fs::exists(P("a")));
}

TEST_F(FaultEnvTest, CountsAndFailsMutations) {
  const uint64_t before = env_.mutation_count();
  Write(P("x"), "1");  // create, append, close
  EXPECT_EQ(env_.mutation_count() - before, 3u);
  EXPECT_TRUE(env_.FileExists(P("x")));  // reads are not counted
  EXPECT_EQ(env_.mutation_count() - before, 3u);
  env_.FailNthMutation(2, ENOSPC);
  EXPECT_TRUE(env_.CreateDir(P("d")).ok());
  Status st = env_.RenameFile(P("x"), P("y"));
  EXPECT_TRUE(st.IsNoSpace()) << st.ToString();
  EXPECT_TRUE(fs::exists(P("x"))) << "a failed call does nothing";
  EXPECT_TRUE(env_.RenameFile(P("x"), P("y")).ok()) << "not sticky";
  EXPECT_EQ(env_.injected_failures(), 1u);
}

}  // namespace
}  // namespace katamari

// Pack files (docs/pack-format.md): round trips, every field's corruption,
// torn tails at every byte, reopen after a crash, sealed footers, and the
// crash order under injected faults and simulated power cuts (FaultEnv).
#include "store/pack_file.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "store/chunk_store.h"
#include "store/sha256.h"
#include "tests/unit/fault_env.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;
using testing_util::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

ChunkId IdFor(int i) { return Sha256Of("chunk " + std::to_string(i)); }

struct Written {
  ChunkId id;
  std::string body;
  PackLocation loc;
};

class PackFileTest : public ::testing::Test {
 protected:
  std::string PathOf(const PackId& id) const { return dir_.path() + "/" + id.Hex(); }

  // A pack with `n` records of random bodies (sizes vary, one empty), synced.
  std::vector<Written> MakePack(Env* env, const PackId& id, int n, bool finish = false) {
    auto w = PackWriter::Create(env, PathOf(id), id, /*encrypted=*/false);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    std::vector<Written> out;
    for (int i = 0; i < n; ++i) {
      const size_t len = i == 1 ? 0 : 37 + static_cast<size_t>(i) * 101 % 3000;
      Written r{IdFor(i), RandomBytes(len, static_cast<uint64_t>(i)), {}};
      auto loc = (*w)->Append(r.id, r.body);
      EXPECT_TRUE(loc.ok()) << loc.status().ToString();
      r.loc = *loc;
      out.push_back(std::move(r));
    }
    EXPECT_TRUE((finish ? (*w)->Finish() : (*w)->Sync()).ok());
    return out;
  }

  std::unique_ptr<PackReader> Open(Env* env, const PackId& id) {
    auto r = PackReader::Open(env, PathOf(id), id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : nullptr;
  }

  void ExpectReadable(const PackReader& r, const std::vector<Written>& recs) {
    for (const Written& w : recs) {
      std::string got = "stale";
      Status st = r.ReadRecord(w.loc, w.id, &got);
      ASSERT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(got, w.body);
    }
  }

  static void ExpectListed(const PackScan& scan, const std::vector<Written>& recs) {
    ASSERT_EQ(scan.records.size(), recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      EXPECT_EQ(scan.records[i].id, recs[i].id) << i;
      EXPECT_EQ(scan.records[i].loc, recs[i].loc) << i;
    }
  }

  TempDir dir_{"pack"};
  Env* env_ = Env::Default();
};

TEST_F(PackFileTest, IdHexRoundTrip) {
  PackId id = PackId::Random();
  EXPECT_EQ(PackId::FromHex(id.Hex()), id);
  EXPECT_NE(PackId::Random(), id);
  EXPECT_FALSE(PackId::FromHex(id.Hex().substr(1)));
  EXPECT_FALSE(PackId::FromHex(std::string(32, 'A')));  // names are lowercase only
}

TEST_F(PackFileTest, RoundTripOfAChunkFileKeepsItsBytes) {
  // A record's body is a chunk file's bytes exactly (docs/pack-format.md).
  ChunkStore store(env_, dir_.path(), Codec::kZstd, 3);
  ASSERT_TRUE(store.Init().ok());
  const std::string text(5000, 'k');
  auto ref = store.Write(store.IdOf(text), text);
  ASSERT_TRUE(ref.ok());
  const std::string chunk_file = Slurp(store.PathOf(ref->id));
  ASSERT_EQ(chunk_file.size(), ref->stored_len);

  const PackId id = PackId::Random();
  auto w = PackWriter::Create(env_, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->size(), kPackHeaderSize);
  auto loc = (*w)->Append(ref->id, chunk_file);
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->offset, kPackHeaderSize);
  EXPECT_EQ(loc->length, ref->stored_len);
  EXPECT_EQ((*w)->size(), kPackHeaderSize + kPackRecordHeaderSize + chunk_file.size());
  ASSERT_TRUE((*w)->Sync().ok());

  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->encrypted());
  std::string got;
  ASSERT_TRUE(r->ReadRecord(*loc, ref->id, &got).ok());
  EXPECT_EQ(got, chunk_file);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->records.size(), 1u);
  EXPECT_EQ(scan->records[0].id, ref->id);
  EXPECT_EQ(scan->valid_end, scan->file_size);
  EXPECT_FALSE(scan->torn());
  EXPECT_FALSE(scan->sealed);
}

TEST_F(PackFileTest, EncryptedFlagIsRecorded) {
  const PackId id = PackId::Random();
  auto w = PackWriter::Create(env_, PathOf(id), id, /*encrypted=*/true);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Sync().ok());
  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->encrypted());
  // Reopening it as a plain bucket's pack is refused.
  auto re = PackWriter::Reopen(env_, PathOf(id), id, /*encrypted=*/false);
  EXPECT_TRUE(re.status().IsCorruption()) << re.status().ToString();
}

TEST_F(PackFileTest, CreateRefusesAnExistingPack) {
  const PackId id = PackId::Random();
  MakePack(env_, id, 2);
  const std::string before = Slurp(PathOf(id));
  auto w = PackWriter::Create(env_, PathOf(id), id, false);
  EXPECT_EQ(w.status().code(), Status::Exists("").code());
  EXPECT_EQ(Slurp(PathOf(id)), before);
}

TEST_F(PackFileTest, ManyRecordsReadInAnyOrderAndFromManyThreads) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 400);
  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  ExpectListed(*scan, recs);
  EXPECT_FALSE(scan->torn());

  std::vector<Written> shuffled = recs;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(7));
  ExpectReadable(*r, shuffled);

  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string got;
      for (size_t i = static_cast<size_t>(t); i < recs.size(); i += 4) {
        if (!r->ReadRecord(recs[i].loc, recs[i].id, &got).ok() || got != recs[i].body) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(PackFileTest, EveryByteOfARecordIsChecked) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 3);
  const std::string good = Slurp(PathOf(id));
  const Written& mid = recs[2];  // a record with a body, followed by nothing
  const uint64_t end = mid.loc.offset + kPackRecordHeaderSize + mid.loc.length;
  for (uint64_t at = mid.loc.offset; at < end; ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    Spit(PathOf(id), bad);
    auto r = Open(env_, id);
    ASSERT_TRUE(r);
    std::string got = "stale";
    Status st = r->ReadRecord(mid.loc, mid.id, &got);
    EXPECT_TRUE(st.IsCorruption()) << "byte " << at << ": " << st.ToString();
    EXPECT_TRUE(got.empty()) << at;
    ExpectReadable(*r, {recs[0], recs[1]});
    auto scan = r->Scan();
    ASSERT_TRUE(scan.ok());
    ExpectListed(*scan, {recs[0], recs[1]});
    EXPECT_EQ(scan->valid_end, mid.loc.offset) << at;
    EXPECT_FALSE(scan->stop_reason.empty());
  }
}

TEST_F(PackFileTest, WrongLocationOrIdIsCorruption) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 3);
  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  const Written& w = recs[2];
  std::string got;
  auto expect_bad = [&](PackLocation loc, const ChunkId& cid, const char* what) {
    got = "stale";
    Status st = r->ReadRecord(loc, cid, &got);
    EXPECT_TRUE(st.IsCorruption()) << what << ": " << st.ToString();
    EXPECT_TRUE(got.empty()) << what;
  };
  expect_bad(w.loc, recs[0].id, "another chunk's id");
  expect_bad({w.loc.offset, w.loc.length + 1}, w.id, "longer length");
  expect_bad({w.loc.offset, w.loc.length - 1}, w.id, "shorter length");
  expect_bad({w.loc.offset + 1, w.loc.length}, w.id, "offset off by one");
  expect_bad({0, w.loc.length}, w.id, "offset in the pack header");
  expect_bad({w.loc.offset + 1000000, w.loc.length}, w.id, "offset past the end");
  expect_bad(recs[0].loc, w.id, "another record");
}

TEST_F(PackFileTest, EveryByteOfThePackHeaderIsChecked) {
  const PackId id = PackId::Random();
  MakePack(env_, id, 1);
  const std::string good = Slurp(PathOf(id));
  for (size_t at = 0; at < kPackHeaderSize; ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x01);
    Spit(PathOf(id), bad);
    auto r = PackReader::Open(env_, PathOf(id), id);
    EXPECT_TRUE(r.status().IsCorruption()) << "byte " << at << ": " << r.status().ToString();
  }
  Spit(PathOf(id), good);
  // Under another pack's name, short, or missing: Corruption too.
  const PackId other = PackId::Random();
  fs::copy_file(PathOf(id), PathOf(other));
  EXPECT_TRUE(PackReader::Open(env_, PathOf(other), other).status().IsCorruption());
  Spit(PathOf(other), good.substr(0, kPackHeaderSize - 1));
  EXPECT_TRUE(PackReader::Open(env_, PathOf(other), other).status().IsCorruption());
  fs::remove(PathOf(other));
  auto missing = PackReader::Open(env_, PathOf(other), other);
  EXPECT_TRUE(missing.status().IsCorruption());
  EXPECT_NE(missing.status().ToString().find("missing"), std::string::npos);
}

TEST_F(PackFileTest, TornTailAtEveryByteStopsAtThePreviousRecord) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 4);
  const std::string good = Slurp(PathOf(id));
  const Written& last = recs.back();
  std::vector<Written> kept(recs.begin(), recs.end() - 1);
  for (uint64_t cut = last.loc.offset; cut < good.size(); ++cut) {
    Spit(PathOf(id), good.substr(0, cut));
    auto r = Open(env_, id);
    ASSERT_TRUE(r);
    auto scan = r->Scan();
    ASSERT_TRUE(scan.ok());
    ExpectListed(*scan, kept);
    EXPECT_EQ(scan->valid_end, last.loc.offset) << cut;
    EXPECT_EQ(scan->file_size, cut);
    EXPECT_EQ(scan->torn(), cut > last.loc.offset) << cut;
    ExpectReadable(*r, kept);
    std::string got = "stale";
    EXPECT_TRUE(r->ReadRecord(last.loc, last.id, &got).IsCorruption()) << cut;
    EXPECT_TRUE(got.empty());
  }
}

TEST_F(PackFileTest, ReopenCutsATornTailAndKeepsAppending) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 3);
  const std::string good = Slurp(PathOf(id));
  const Written& last = recs.back();
  // Cut 20 bytes into the last record's header: a torn header.
  Spit(PathOf(id), good.substr(0, last.loc.offset + 20));
  std::vector<Written> kept(recs.begin(), recs.end() - 1);

  // A caller whose catalog references the torn record learns of damage and
  // the file is left alone.
  auto refused = PackWriter::Reopen(env_, PathOf(id), id, false, last.loc.offset + 1);
  EXPECT_TRUE(refused.status().IsCorruption()) << refused.status().ToString();
  EXPECT_EQ(Slurp(PathOf(id)), good.substr(0, last.loc.offset + 20));

  auto w = PackWriter::Reopen(env_, PathOf(id), id, false, last.loc.offset);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->size(), last.loc.offset);
  EXPECT_EQ(fs::file_size(PathOf(id)), last.loc.offset);
  Written added{IdFor(99), RandomBytes(777, 99), {}};
  auto loc = (*w)->Append(added.id, added.body);
  ASSERT_TRUE(loc.ok());
  added.loc = *loc;
  EXPECT_EQ(added.loc.offset, last.loc.offset);
  ASSERT_TRUE((*w)->Sync().ok());
  kept.push_back(added);

  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  ExpectListed(*scan, kept);
  EXPECT_FALSE(scan->torn());
  ExpectReadable(*r, kept);
  // No temp file is left next to the pack.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST_F(PackFileTest, ReopenOfACleanPackAppendsAfterIt) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 5);
  auto w = PackWriter::Reopen(env_, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  Written added{IdFor(50), RandomBytes(100, 50), {}};
  added.loc = *(*w)->Append(added.id, added.body);
  ASSERT_TRUE((*w)->Finish().ok());  // the index covers old and new records
  recs.push_back(added);
  auto r = Open(env_, id);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->sealed);
  ExpectListed(*scan, recs);
  ExpectReadable(*r, recs);
}

TEST_F(PackFileTest, SealedPackScansFromItsIndexAndIsNeverReopened) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 30, /*finish=*/true);
  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->sealed);
  EXPECT_FALSE(scan->torn());
  EXPECT_EQ(scan->valid_end, fs::file_size(PathOf(id)));
  ExpectListed(*scan, recs);
  ExpectReadable(*r, recs);
  auto re = PackWriter::Reopen(env_, PathOf(id), id, false);
  EXPECT_EQ(re.status().code(), Status::InvalidArgument("").code()) << re.status().ToString();

  // A damaged index (any byte of entries or trailer) costs only speed: the
  // scan walks the records instead and finds the same ones.
  const std::string good = Slurp(PathOf(id));
  const uint64_t index_at = recs.back().loc.offset + kPackRecordHeaderSize +
                            recs.back().loc.length;
  for (uint64_t at : {index_at, index_at + 40, uint64_t{good.size() - 1},
                      uint64_t{good.size() - 10}, uint64_t{good.size() - 20}}) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x04);
    Spit(PathOf(id), bad);
    auto rr = Open(env_, id);
    auto s2 = rr->Scan();
    ASSERT_TRUE(s2.ok());
    EXPECT_FALSE(s2->sealed) << at;
    ExpectListed(*s2, recs);
    EXPECT_EQ(s2->valid_end, index_at);
  }
}

// A trailer whose CRC verifies but whose count and offset were forged so
// that their sum wraps around: never believed, never a huge allocation.
TEST_F(PackFileTest, ForgedTrailerFallsBackToWalking) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 3, /*finish=*/true);
  std::string data = Slurp(PathOf(id));
  char* t = data.data() + data.size() - kPackTrailerSize;
  const uint32_t count = 0xFFFFFFFFu;
  const uint64_t offset = uint64_t{data.size()} - kPackTrailerSize - uint64_t{count} * 44;
  std::memcpy(t + 4, &count, 4);    // little endian host (x86-64, as the format)
  std::memcpy(t + 8, &offset, 8);
  const uint32_t crc = static_cast<uint32_t>(crc32_z(0, reinterpret_cast<Bytef*>(t), 20));
  std::memcpy(t + 20, &crc, 4);
  Spit(PathOf(id), data);
  auto r = Open(env_, id);
  ASSERT_TRUE(r);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_FALSE(scan->sealed);
  ExpectListed(*scan, recs);
}

TEST_F(PackFileTest, AppendAfterFinishIsRefused) {
  const PackId id = PackId::Random();
  auto w = PackWriter::Create(env_, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Finish().ok());
  EXPECT_FALSE((*w)->Append(IdFor(1), "x").ok());
  auto r = Open(env_, id);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->sealed);
  EXPECT_TRUE(scan->records.empty());
}

// ---- crash order under FaultEnv ----

TEST_F(PackFileTest, PowerCutKeepsExactlyTheSyncedRecords) {
  FaultEnv env;
  const PackId id = PackId::Random();
  std::vector<Written> synced = MakePack(&env, id, 3);  // synced at the end
  auto w = PackWriter::Reopen(&env, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(IdFor(70), RandomBytes(500, 70)).ok());
  ASSERT_TRUE((*w)->Append(IdFor(71), RandomBytes(500, 71)).ok());
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto r = Open(&env, id);
  ASSERT_TRUE(r);
  auto scan = r->Scan();
  ASSERT_TRUE(scan.ok());
  ExpectListed(*scan, synced);
  EXPECT_FALSE(scan->torn());
  ExpectReadable(*r, synced);
  // The dead writer's file refuses work after the cut.
  EXPECT_FALSE((*w)->Sync().ok());
}

TEST_F(PackFileTest, PowerCutBeforeTheFirstSyncLosesTheWholePack) {
  FaultEnv env;
  const PackId id = PackId::Random();
  auto w = PackWriter::Create(&env, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(IdFor(1), "data").ok());
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  EXPECT_FALSE(fs::exists(PathOf(id)));
  EXPECT_TRUE(PackReader::Open(&env, PathOf(id), id).status().IsCorruption());
}

TEST_F(PackFileTest, FirstSyncMakesTheNameDurable) {
  FaultEnv env;
  const PackId id = PackId::Random();
  auto w = PackWriter::Create(&env, PathOf(id), id, false);
  ASSERT_TRUE(w.ok());
  auto loc = (*w)->Append(IdFor(1), "data");
  ASSERT_TRUE(loc.ok());
  ASSERT_TRUE((*w)->Sync().ok());
  EXPECT_EQ(env.unsynced_count(), 0u);
  ASSERT_TRUE(env.SimulatePowerCut().ok());
  auto r = Open(&env, id);
  ASSERT_TRUE(r);
  std::string got;
  ASSERT_TRUE(r->ReadRecord(*loc, IdFor(1), &got).ok());
  EXPECT_EQ(got, "data");
}

// Fails each mutating step of "create, append 4 records, sync" in turn (with
// torn appends), then cuts the power: whatever survives scans to a prefix of
// the records whose appends returned OK before a successful sync, and every
// listed record reads back intact.
TEST_F(PackFileTest, FailureAtEveryStepThenPowerCutLeavesAValidPrefix) {
  auto run = [&](FaultEnv* env, const PackId& id, std::vector<Written>* ok) -> Status {
    ASSIGN_OR_RETURN(auto w, PackWriter::Create(env, PathOf(id), id, false));
    Status first;
    for (int i = 0; i < 4; ++i) {
      Written r{IdFor(i), RandomBytes(300 + static_cast<size_t>(i), static_cast<uint64_t>(i)),
                {}};
      auto loc = w->Append(r.id, r.body);
      if (!loc.ok()) {
        if (first.ok()) first = loc.status();
        continue;  // later appends are refused; the sync still runs
      }
      r.loc = *loc;
      ok->push_back(r);
    }
    Status st = w->Sync();
    if (!st.ok()) ok->clear();  // nothing promised durable
    return first.ok() ? st : first;
  };
  uint64_t steps;
  {
    FaultEnv env;
    std::vector<Written> ok;
    const uint64_t before = env.mutation_count();
    ASSERT_TRUE(run(&env, PackId::Random(), &ok).ok());
    steps = env.mutation_count() - before;
  }
  ASSERT_EQ(steps, 9u);  // create, header, 4 appends, sync, dir sync, close
  for (uint64_t i = 1; i <= steps; ++i) {
    FaultEnv env;
    env.set_torn_appends(true);
    const PackId id = PackId::Random();
    std::vector<Written> durable;
    env.FailNthMutation(i, i % 2 ? ENOSPC : EIO);
    Status st = run(&env, id, &durable);
    // The last step is the writer's close in its destructor, after the sync:
    // its error changes nothing, so it is not reported.
    EXPECT_TRUE(!st.ok() || i == steps) << "step " << i;
    env.ClearFaults();
    ASSERT_TRUE(env.SimulatePowerCut().ok());
    if (!fs::exists(PathOf(id))) {
      EXPECT_TRUE(durable.empty()) << "step " << i;
      continue;
    }
    auto r = Open(&env, id);
    ASSERT_TRUE(r) << "step " << i;
    auto scan = r->Scan();
    ASSERT_TRUE(scan.ok());
    ASSERT_GE(scan->records.size(), durable.size()) << "step " << i;
    for (size_t k = 0; k < scan->records.size(); ++k) {
      EXPECT_EQ(scan->records[k].id, IdFor(static_cast<int>(k))) << "step " << i;
    }
    ExpectReadable(*r, durable);
  }
}

// Reopen's copy-and-rename under a failure at every step, then a power cut:
// the pack always scans to the same records as before.
TEST_F(PackFileTest, ReopenFailureAtEveryStepLeavesThePackAsItWas) {
  const PackId id = PackId::Random();
  std::vector<Written> recs = MakePack(env_, id, 3);
  const std::string good = Slurp(PathOf(id));
  const std::string torn = good.substr(0, recs.back().loc.offset + 30);
  std::vector<Written> kept(recs.begin(), recs.end() - 1);
  uint64_t steps;
  {
    Spit(PathOf(id), torn);
    FaultEnv env;
    const uint64_t before = env.mutation_count();
    ASSERT_TRUE(PackWriter::Reopen(&env, PathOf(id), id, false).ok());
    steps = env.mutation_count() - before;
  }
  ASSERT_GE(steps, 4u);  // create temp, append, sync, rename, dir sync
  for (uint64_t i = 1; i <= steps + 1; ++i) {
    Spit(PathOf(id), torn);
    FaultEnv env;
    env.set_torn_appends(true);
    env.FailNthMutation(i, EIO);
    auto w = PackWriter::Reopen(&env, PathOf(id), id, false);
    env.ClearFaults();
    ASSERT_TRUE(env.SimulatePowerCut().ok());
    auto r = Open(&env, id);
    ASSERT_TRUE(r) << "step " << i;
    auto scan = r->Scan();
    ASSERT_TRUE(scan.ok());
    ExpectListed(*scan, kept);
    ExpectReadable(*r, kept);
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      files += e.is_regular_file() && e.path().filename().string()[0] != '.';
    }
    // A failed Reopen removes its temp file; a power cut after it may leave
    // only what gc sweeps as an orphan (never the pack's name).
    EXPECT_LE(files, 2u) << "step " << i;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      if (e.path().filename() != id.Hex()) fs::remove(e.path());
    }
  }
}

}  // namespace
}  // namespace katamari

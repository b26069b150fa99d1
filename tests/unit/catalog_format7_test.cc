// Catalog format 7: chunk lists stored as shared, immutable segments
// (docs/catalog.md, "segments"; store/catalog_segments.h). Random edits
// against a model, the rows an edit adds, exact reference counts and
// garbage after deletes of versions that share segments, and the 6 -> 7
// migration reading back exactly.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/catalog.h"
#include "store/catalog_segments.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using catalog_aging::RawInt;

using catalog_aging::Schema;

using List = std::vector<ChunkRef>;

bool SameList(const List& a, const List& b, std::string* why) {
  if (a.size() != b.size()) {
    *why = "sizes " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].raw_len != b[i].raw_len || a[i].stored_len != b[i].stored_len) {
      *why = "ref " + std::to_string(i) + " differs";
      return false;
    }
  }
  return true;
}

class Format7Test : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/catalog.db";
    auto c = Catalog::Create(path_, BucketSettings{}, 1000, 1001);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  void Reopen() {
    cat_.reset();
    auto c = Catalog::Open(path_, false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cat_ = std::move(*c);
  }
  InodeId File(const std::string& name) {
    Catalog::NewNode n;
    n.kind = FileKind::kRegular;
    n.mode = 0644;
    auto a = cat_->CreateNode(kRootInode, name, n);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? a->ino : InodeId(0);
  }
  VersionInfo Add(InodeId ino, const List& chunks, std::optional<VersionNo> replaces = {}) {
    Catalog::NewVersion v;
    v.ino = ino;
    for (const ChunkRef& c : chunks) v.size += c.raw_len;
    v.chunks = chunks;
    v.replaces = replaces;
    auto r = cat_->AddVersion(v);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  // A fresh chunk: random id, its own lengths.
  ChunkRef Fresh() {
    ChunkRef r;
    std::string id = testing_util::RandomBytes(32, rng_());
    std::copy(id.begin(), id.end(), reinterpret_cast<char*>(r.id.bytes.data()));
    r.raw_len = 1000 + static_cast<uint32_t>(rng_() % 64000);
    r.stored_len = r.raw_len / 2 + 7;
    return testing_util::InPack(r);
  }
  List FreshList(size_t n) {
    List l;
    for (size_t i = 0; i < n; ++i) l.push_back(Fresh());
    return l;
  }
  int64_t Raw(const std::string& sql) { return RawInt(path_, sql); }
  int64_t Segments() { return Raw("SELECT count(*) FROM segments"); }
  void ExpectSound() {
    auto problems = cat_->CheckIntegrity();
    std::string all;
    for (const auto& p : problems) all += p + "\n";
    EXPECT_TRUE(problems.empty()) << all;
  }

  testing_util::TempDir dir_{"format7"};
  std::string path_;
  std::unique_ptr<Catalog> cat_;
  std::mt19937_64 rng_{77};
};

TEST_F(Format7Test, AOneChunkEditOfABigListAddsAboutOneSegment) {
  const InodeId f = File("big");
  List base = FreshList(16384);  // a 1 GiB file of 64 KiB chunks
  VersionInfo v1 = Add(f, base);
  const int64_t segs = Segments();
  EXPECT_GT(segs, 16384 / 1024);  // cut by the ids, not one blob
  EXPECT_LT(segs, 16384 / 16);
  const int64_t list_bytes = Raw("SELECT length(chunks) FROM versions WHERE vno = 1");
  EXPECT_EQ(list_bytes, segs * 8);  // the version row lists segments only
  const int64_t seg_bytes = Raw("SELECT sum(length(chunks)) FROM segments");
  EXPECT_EQ(seg_bytes, 16384 * 40);

  List edited = base;
  edited[8000] = Fresh();  // a 1-byte write changes one chunk
  VersionInfo v2 = Add(f, edited, std::nullopt);
  EXPECT_EQ(v2.chunk_count, 16384u);
  // One new segment (or two if the changed chunk moved a cut), nothing else.
  EXPECT_LE(Segments() - segs, 2);
  EXPECT_GE(Segments() - segs, 1);
  EXPECT_LE(Raw("SELECT sum(length(chunks)) FROM segments") - seg_bytes, 2 * 1024 * 40);
  EXPECT_EQ(Raw("SELECT count(*) FROM chunks"), 16385);
  EXPECT_EQ(v2.new_bytes, edited[8000].stored_len);
  // stored_size: the distinct chunks of the version, shared ones included.
  uint64_t stored = 0;
  for (const ChunkRef& c : edited) stored += c.stored_len;
  EXPECT_EQ(v2.stored_size, stored);
  // Segments shared by both versions count once in their chunks' refs:
  // only the chunks of the replaced segment are in two segments.
  EXPECT_EQ(Raw("SELECT max(refs) FROM segments"), 2);
  EXPECT_LE(Raw("SELECT count(*) FROM chunks WHERE refs > 1"), 2 * 1024);
  EXPECT_EQ(Raw("SELECT max(refs) FROM chunks"), 2);
  std::string why;
  auto back = cat_->VersionChunks(f, v2.version);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(SameList(*back, edited, &why)) << why;
  ExpectSound();

  // Deleting the base frees exactly the one chunk only it had.
  ASSERT_TRUE(cat_->DeleteVersion(f, v1.version).ok());
  auto garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  ASSERT_EQ(garbage->size(), 1u);
  EXPECT_EQ((*garbage)[0].id, base[8000].id);
  EXPECT_EQ(Raw("SELECT max(refs) FROM segments"), 1);
  ExpectSound();
  ASSERT_TRUE(cat_->DeleteVersion(f, v2.version).ok());
  garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->size(), 16384u);
  EXPECT_EQ(Segments(), 0);
  EXPECT_EQ(Raw("SELECT count(*) FROM chunks"), 0);
  ExpectSound();
}

TEST_F(Format7Test, RepeatsHolesAndCopiesShareSegments) {
  const InodeId a = File("a"), b = File("b");
  List part = FreshList(3000);
  List l = part;
  l.push_back(ChunkRef::Hole(kMaxHoleRef));
  l.push_back(ChunkRef::Hole(4096));
  l.insert(l.end(), part.begin(), part.end());  // the same run twice
  l.push_back(part[5]);
  VersionInfo va = Add(a, l);
  VersionInfo vb = Add(b, l);  // a copy (restore, cp of the same bytes)
  EXPECT_EQ(vb.new_bytes, 0u);
  std::string why;
  for (auto [ino, v] : {std::pair{a, va.version}, std::pair{b, vb.version}}) {
    auto back = cat_->VersionChunks(ino, v);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    List want = l;
    for (ChunkRef& c : want) {
      if (c.IsHole()) c.stored_len = 0;
    }
    EXPECT_TRUE(SameList(*back, want, &why)) << why;
  }
  // chunks.refs counts occurrences in segments: part[5] is in the repeated
  // run (maybe in two segments, if the cut before the repeat differs) and
  // once more at the end.
  ExpectSound();
  ASSERT_TRUE(cat_->PurgeHistory(a).ok());
  auto garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_TRUE(garbage->empty());  // b holds every segment
  ASSERT_TRUE(cat_->PurgeHistory(b).ok());
  garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->size(), 3000u);
  EXPECT_EQ(Segments(), 0);
  ExpectSound();
}

// Random edits, amends, deletes and purges against a model of every
// version's list: lists read back exactly, fsck recounts both levels of
// refs, garbage is exactly the chunks no live version holds, and the rows
// stored stay proportional to what the edits changed.
TEST_F(Format7Test, RandomEditsAgainstAModel) {
  std::map<std::pair<uint64_t, uint64_t>, List> model;  // (ino, vno) -> list
  std::vector<InodeId> files = {File("f0"), File("f1"), File("f2")};
  std::set<ChunkId> ever;
  auto add = [&](InodeId ino, const List& l, std::optional<VersionNo> replaces = {}) {
    VersionInfo v = Add(ino, l, replaces);
    ASSERT_NE(v.version.value, 0u);
    if (replaces && v.version == *replaces) model.erase({ino.value, replaces->value});
    model[{ino.value, v.version.value}] = l;
    for (const ChunkRef& c : l) {
      if (!c.IsHole()) ever.insert(c.id);
    }
  };
  for (InodeId f : files) add(f, FreshList(200 + rng_() % 2000));
  std::set<ChunkId> collected;
  for (int round = 0; round < 120; ++round) {
    const int op = static_cast<int>(rng_() % 10);
    auto it = model.begin();
    std::advance(it, static_cast<long>(rng_() % model.size()));
    const InodeId ino(it->first.first);
    if (op < 6) {  // an edit of some version: replace, insert, delete runs
      List l = it->second;
      const int edits = 1 + static_cast<int>(rng_() % 3);
      for (int k = 0; k < edits; ++k) {
        const size_t at = l.empty() ? 0 : rng_() % l.size();
        const int kind = static_cast<int>(rng_() % 4);
        if (kind == 0 && !l.empty()) {
          l[at] = Fresh();
        } else if (kind == 1) {
          List ins = FreshList(1 + rng_() % 300);
          l.insert(l.begin() + static_cast<long>(at), ins.begin(), ins.end());
        } else if (kind == 2 && !l.empty()) {
          l.erase(l.begin() + static_cast<long>(at),
                  l.begin() + static_cast<long>(std::min(l.size(), at + 1 + rng_() % 200)));
        } else {
          l.insert(l.begin() + static_cast<long>(at), ChunkRef::Hole(4096 + rng_() % 100000));
        }
      }
      // Model of what a stored ref says: holes store nothing.
      add(files[rng_() % files.size()], l);
    } else if (op < 7) {  // amend the newest version of a file
      auto newest = cat_->GetAttr(ino);
      ASSERT_TRUE(newest.ok());
      List l = it->second;
      if (!l.empty()) l.back() = Fresh();
      add(ino, l, newest->current_version);
    } else if (op < 9 && model.size() > 2) {  // rm of one version
      ASSERT_TRUE(cat_->DeleteVersion(ino, VersionNo(it->first.second)).ok());
      model.erase(it);
    } else if (model.size() > 4) {  // purge a whole file
      ASSERT_TRUE(cat_->PurgeHistory(ino).ok());
      for (auto m = model.begin(); m != model.end();) {
        m = m->first.first == ino.value ? model.erase(m) : std::next(m);
      }
      if (std::none_of(model.begin(), model.end(),
                       [&](const auto& m) { return m.first.first == ino.value; })) {
        files.erase(std::remove(files.begin(), files.end(), ino), files.end());
        files.push_back(File("g" + std::to_string(round)));
        add(files.back(), FreshList(50 + rng_() % 500));
      }
    }
    // The catalog's versions are exactly the model's, read back exactly.
    auto keys = cat_->AllVersions();
    ASSERT_TRUE(keys.ok());
    ASSERT_EQ(keys->size(), model.size()) << "round " << round;
    std::set<ChunkId> live;
    std::set<std::vector<uint8_t>> segment_keys;
    for (const auto& k : *keys) {
      auto m = model.find({k.ino.value, k.vno.value});
      ASSERT_NE(m, model.end()) << "round " << round;
      auto back = cat_->VersionChunks(k.ino, k.vno);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      List want = m->second;
      for (ChunkRef& c : want) {
        if (c.IsHole()) c.stored_len = 0;
      }
      std::string why;
      ASSERT_TRUE(SameList(*back, want, &why)) << "round " << round << ": " << why;
      for (const ChunkRef& c : want) {
        if (!c.IsHole()) live.insert(c.id);
      }
      for (auto [b, e] : catalog_segments::Split(want)) {
        Digest h = catalog_segments::SegmentHash(want.data() + b, e - b);
        segment_keys.insert(std::vector<uint8_t>(h.bytes.begin(), h.bytes.end()));
      }
    }
    // Exactly one row per distinct segment of the live lists: shared runs
    // are stored once.
    EXPECT_EQ(Segments(), static_cast<int64_t>(segment_keys.size())) << "round " << round;
    // Garbage is exactly what no live version holds.
    auto garbage = cat_->TakeGarbageChunks();
    ASSERT_TRUE(garbage.ok());
    for (const ChunkRef& g : *garbage) {
      EXPECT_EQ(live.count(g.id), 0u) << "round " << round << ": a live chunk was garbage";
      collected.insert(g.id);
    }
    for (const ChunkId& id : ever) {
      if (!live.count(id)) {
        EXPECT_EQ(collected.count(id), 1u) << "round " << round << ": a dead chunk was kept";
      }
    }
    EXPECT_EQ(Raw("SELECT count(*) FROM chunks"), static_cast<int64_t>(live.size()));
    if (round % 10 == 9) ExpectSound();
  }
  ExpectSound();
}

TEST_F(Format7Test, Format6MigratesToFormat7AndReadsBackExactly) {
  const InodeId a = File("a"), b = File("b"), c = File("c"), e = File("empty");
  List la = FreshList(5000);
  Add(a, la);
  List la2 = la;
  la2[2500] = Fresh();
  la2.insert(la2.begin() + 100, ChunkRef::Hole(1 << 20));
  Add(a, la2);
  List lb = la;  // shares every chunk of a's first version
  lb.push_back(la[7]);
  Add(b, lb);
  VersionInfo vc = Add(c, FreshList(30));
  Add(c, FreshList(10), vc.version);  // amended
  Add(e, {});
  ASSERT_TRUE(cat_->DeleteVersion(a, VersionNo(1)).ok());  // la's only in b now
  // What every version reads before.
  std::map<std::pair<uint64_t, uint64_t>, List> before;
  auto keys = cat_->AllVersions();
  ASSERT_TRUE(keys.ok());
  for (const auto& k : *keys) {
    auto l = cat_->VersionChunks(k.ino, k.vno);
    ASSERT_TRUE(l.ok());
    before[{k.ino.value, k.vno.value}] = *l;
  }
  auto versions_before = cat_->ListVersions(a);
  ASSERT_TRUE(versions_before.ok());
  ExpectSound();
  cat_.reset();
  const std::string fresh = Schema(path_);
  catalog_aging::SegmentsToFormat6(path_);
  ASSERT_EQ(Raw("SELECT value FROM meta WHERE key = 'format_version'"), 6);
  ASSERT_EQ(Raw("SELECT count(*) FROM sqlite_master WHERE name = 'segments'"), 0);
  // Format 6: 40 bytes per chunk in the version row, refs per occurrence.
  ASSERT_EQ(Raw("SELECT length(chunks) FROM versions WHERE ino = " + std::to_string(b.value)),
            static_cast<int64_t>(lb.size() * 40));
  ASSERT_EQ(Raw("SELECT max(refs) FROM chunks"), 3);  // la[7]: twice in b, once in a@2
  EXPECT_EQ(Catalog::Open(path_, true).status().code(), Status::Code::kReadOnly);
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(Raw("SELECT value FROM meta WHERE key = 'format_version'"), Catalog::kFormatVersion);
  EXPECT_EQ(Schema(path_), fresh);  // exactly a new catalog's schema
  keys = cat_->AllVersions();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), before.size());
  for (const auto& k : *keys) {
    auto l = cat_->VersionChunks(k.ino, k.vno);
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    std::string why;
    EXPECT_TRUE(SameList(*l, before[{k.ino.value, k.vno.value}], &why))
        << "inode " << k.ino.value << " version " << k.vno.value << ": " << why;
  }
  auto versions_after = cat_->ListVersions(a);
  ASSERT_TRUE(versions_after.ok());
  ASSERT_EQ(versions_after->size(), versions_before->size());
  for (size_t i = 0; i < versions_after->size(); ++i) {
    EXPECT_EQ((*versions_after)[i].chunk_count, (*versions_before)[i].chunk_count);
    EXPECT_EQ((*versions_after)[i].stored_size, (*versions_before)[i].stored_size);
    EXPECT_EQ((*versions_after)[i].size, (*versions_before)[i].size);
  }
  ExpectSound();
  // Everything goes with its versions.
  for (InodeId ino : {a, b, c, e}) ASSERT_TRUE(cat_->PurgeHistory(ino).ok());
  auto garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(Raw("SELECT count(*) FROM chunks"), 0);
  EXPECT_EQ(Segments(), 0);
  ExpectSound();
}

// A format-6 catalog whose counts are damaged (a chunk some version lists
// has too few refs, another has no row at all) migrates to exact counts:
// no chunk a version lists is left garbage for gc to delete.
TEST_F(Format7Test, MigrationRecountsDamagedReferences) {
  const InodeId a = File("a"), b = File("b");
  List shared = FreshList(40);
  Add(a, shared);
  Add(b, shared);
  cat_.reset();
  catalog_aging::SegmentsToFormat6(path_);
  ASSERT_EQ(Raw("SELECT max(refs) FROM chunks"), 2);
  catalog_aging::RawExec(path_, "UPDATE chunks SET refs = 1");  // too few: 2 versions list each
  catalog_aging::RawExec(path_, "DELETE FROM chunks WHERE id = (SELECT min(id) FROM chunks)");
  ASSERT_EQ(Raw("SELECT count(*) FROM chunks"), 39);
  Reopen();
  ASSERT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(Raw("SELECT count(*) FROM chunks"), 40) << "the missing row was not recreated";
  EXPECT_EQ(Raw("SELECT count(*) FROM chunks WHERE refs = 0"), 0);
  auto garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_TRUE(garbage->empty()) << garbage->size() << " listed chunks became garbage";
  ExpectSound();
  // Removing one file's version leaves the other's chunks referenced.
  ASSERT_TRUE(cat_->PurgeHistory(a).ok());
  garbage = cat_->TakeGarbageChunks();
  ASSERT_TRUE(garbage.ok());
  EXPECT_TRUE(garbage->empty());
  auto l = cat_->VersionChunks(b, VersionNo(1));
  ASSERT_TRUE(l.ok());
  std::string why;
  EXPECT_TRUE(SameList(*l, shared, &why)) << why;
}

}  // namespace
}  // namespace katamari

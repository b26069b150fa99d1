// Catalog format 6: chunk rows record where in a pack file a chunk lives
// (docs/catalog.md, "chunks"; docs/pack-format.md). Rows of older formats
// have no location (chunk files); the 5 -> 6 migration adds the columns and
// moves nothing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/catalog.h"
#include "store/catalog_testing.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using catalog_aging::RawExec;
using catalog_aging::RawInt;

using catalog_aging::Schema;

ChunkId D(uint8_t n) {
  ChunkId d;
  d.bytes.fill(n);
  return d;
}

ChunkLocation Loc(uint8_t pack, uint64_t offset, uint32_t length) {
  ChunkLocation l;
  l.pack.fill(pack);
  l.offset = offset;
  l.length = length;
  return l;
}

class Format6Test : public ::testing::Test {
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
  void Add(InodeId ino, std::vector<ChunkRef> chunks) {
    Catalog::NewVersion v;
    v.ino = ino;
    for (const ChunkRef& c : chunks) v.size += c.raw_len;
    v.chunks = std::move(chunks);
    auto r = cat_->AddVersion(v);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static ChunkRef Ref(uint8_t n, std::optional<ChunkLocation> loc = std::nullopt) {
    ChunkRef r{D(n), 1000, 600};
    r.loc = loc;
    return r;
  }

  testing_util::TempDir dir_{"format6"};
  std::string path_;
  std::unique_ptr<Catalog> cat_;
};

TEST_F(Format6Test, Format5MigratesToFormat6AndItsChunksStayFiles) {
  // Stored in packs today; aged to format 5 they are chunk files.
  Add(File("a"), {Ref(1, Loc(7, 32, 600)), Ref(2, Loc(7, 680, 600))});
  cat_.reset();
  const std::string fresh = Schema(path_);
  catalog_aging::SegmentsToFormat6(path_);
  RawExec(path_, catalog_aging::kChunksToFormat5);
  ASSERT_NE(Schema(path_), fresh);
  ASSERT_EQ(RawInt(path_, "SELECT count(*) FROM pragma_table_info('chunks') "
                          "WHERE name IN ('pack_id', 'pack_offset')"),
            0);
  EXPECT_EQ(Catalog::Open(path_, true).status().code(), Status::Code::kReadOnly);
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"),
            Catalog::kFormatVersion);
  EXPECT_EQ(Schema(path_), fresh);  // exactly a new catalog's schema
  for (uint8_t n : {1, 2}) {
    auto loc = cat_->ChunkLocationOf(D(n));
    ASSERT_TRUE(loc.ok()) << loc.status().ToString();
    EXPECT_FALSE(loc->has_value()) << "an old chunk is a chunk file";
  }
  EXPECT_EQ(cat_->ChunkLocationOf(D(9)).status().code(), Status::Code::kNotFound);
  auto usage = cat_->PackUsage();
  ASSERT_TRUE(usage.ok());
  EXPECT_TRUE(usage->empty());
}

TEST_F(Format6Test, AFailedMigrationLeavesFormat5Untouched) {
  Add(File("a"), {Ref(1, Loc(7, 32, 600))});
  cat_.reset();
  catalog_aging::SegmentsToFormat6(path_);
  RawExec(path_, catalog_aging::kChunksToFormat5);
  const std::string aged = Schema(path_);
  std::vector<catalog_format::MigrationStep> steps(catalog_format::MigrationSteps().begin(),
                                                   catalog_format::MigrationSteps().end());
  ASSERT_GE(steps.size(), 5u);
  auto real = steps[4].apply;  // 5 -> 6
  steps[4].apply = [real](sql::Db& db) -> Status {
    RETURN_IF_ERROR(real(db));
    return Status::IOError("injected failure");
  };
  {
    catalog_testing::ScopedMigrationSteps scoped(steps);
    auto c = Catalog::Open(path_, false);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("left at format 5"), std::string::npos)
        << c.status().message();
  }
  EXPECT_EQ(RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"), 5);
  EXPECT_EQ(Schema(path_), aged);
  Reopen();
  EXPECT_EQ(cat_->format_version(), Catalog::kFormatVersion);
}

TEST_F(Format6Test, NewRowsRecordTheirPackLocationAndDedupKeepsIt) {
  const InodeId a = File("a"), b = File("b");
  Add(a, {Ref(1, Loc(7, 32, 600)), Ref(2, Loc(7, 680, 600))});
  // Dedup (no location: the writer did not store it) keeps the row's.
  Add(b, {Ref(1)});
  auto l1 = cat_->ChunkLocationOf(D(1));
  ASSERT_TRUE(l1.ok() && l1->has_value());
  EXPECT_EQ(**l1, Loc(7, 32, 600));
  // A racing writer that stored the same chunk elsewhere does not move it.
  Add(b, {Ref(2, Loc(8, 32, 600))});
  EXPECT_EQ(**cat_->ChunkLocationOf(D(2)), Loc(7, 680, 600));
  // A chunk stored again because its copy was damaged does.
  ChunkRef again = Ref(2, Loc(9, 32, 610));
  again.stored_len = 610;
  again.replace = true;
  Add(b, {again});
  EXPECT_EQ(**cat_->ChunkLocationOf(D(2)), Loc(9, 32, 610));
  auto usage = cat_->PackUsage();
  ASSERT_TRUE(usage.ok());
  ASSERT_EQ(usage->size(), 2u);  // packs 7 (chunk 1) and 9 (chunk 2)
  auto in7 = cat_->ChunksInPack(Loc(7, 0, 0).pack);
  ASSERT_TRUE(in7.ok());
  ASSERT_EQ(in7->size(), 1u);
  EXPECT_EQ((*in7)[0].id, D(1));
  EXPECT_TRUE(*cat_->PackInUse(Loc(9, 0, 0).pack));
  EXPECT_FALSE(*cat_->PackInUse(Loc(8, 0, 0).pack));
  // Listings carry the location (gc, fsck).
  auto all = cat_->AllChunks();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE((*all)[0].loc.has_value());
}

// A chunk stored again (its copy damaged) and listed twice in the new
// version: the ref that says so wins wherever it sits in the list.
TEST_F(Format6Test, AChunkStoredAgainAndListedTwiceTakesItsNewLocation) {
  Add(File("a"), {Ref(1, Loc(7, 32, 600)), Ref(2, Loc(7, 680, 600))});
  ChunkRef again = Ref(2, Loc(9, 32, 610));
  again.stored_len = 610;
  again.replace = true;
  // The plain (deduplicated) ref first, the stored one second.
  Add(File("b"), {Ref(2), again});
  EXPECT_EQ(**cat_->ChunkLocationOf(D(2)), Loc(9, 32, 610));
  ChunkRef third = Ref(1, Loc(10, 32, 620));
  third.stored_len = 620;
  third.replace = true;
  Add(File("c"), {Ref(1), Ref(1), third, Ref(1)});
  EXPECT_EQ(**cat_->ChunkLocationOf(D(1)), Loc(10, 32, 620));
}

// The same: a segment (store/catalog_segments.h) listed twice whose second
// occurrence holds the stored-again ref, once as a recorded segment.
TEST_F(Format6Test, ASegmentListedTwiceTakesTheStoredAgainLocation) {
  std::vector<ChunkRef> seg;
  for (uint8_t n = 1; n < 16; ++n) seg.push_back(Ref(n, Loc(7, 32 + 700 * n, 600)));
  seg.push_back(Ref(128, Loc(7, 32, 600)));  // id byte 31 = 128: the segment ends here
  Add(File("a"), seg);  // recorded
  std::vector<ChunkRef> twice = seg;
  for (ChunkRef& c : twice) c.loc.reset();  // deduplicated
  std::vector<ChunkRef> copy = twice;
  copy[1] = Ref(2, Loc(9, 32, 610));
  copy[1].stored_len = 610;
  copy[1].replace = true;
  twice.insert(twice.end(), copy.begin(), copy.end());
  Add(File("b"), twice);
  EXPECT_EQ(**cat_->ChunkLocationOf(D(2)), Loc(9, 32, 610));
  EXPECT_EQ(**cat_->ChunkLocationOf(D(3)), Loc(7, 32 + 700 * 3, 600));
}

TEST_F(Format6Test, MoveChunksMovesOnlyRowsStillAtTheOldPlace) {
  Add(File("a"), {Ref(1, Loc(7, 32, 600)), Ref(2, Loc(7, 680, 600))});
  auto in7 = cat_->ChunksInPack(Loc(7, 0, 0).pack);
  ASSERT_TRUE(in7.ok());
  ASSERT_EQ(in7->size(), 2u);
  std::vector<ChunkRef> from = *in7;
  from[1].loc->offset = 999;  // stale: that row is elsewhere
  auto moved = cat_->MoveChunks(from, {Loc(5, 32, 600), Loc(5, 680, 600)});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 1u);
  EXPECT_EQ(**cat_->ChunkLocationOf(D(1)), Loc(5, 32, 600));
  EXPECT_EQ(**cat_->ChunkLocationOf(D(2)), Loc(7, 680, 600));
  // Forgetting a location only if it is still the one judged damaged.
  ASSERT_TRUE(cat_->ForgetChunkLocation(D(2), Loc(7, 1, 600)).ok());
  EXPECT_TRUE(cat_->ChunkLocationOf(D(2))->has_value());
  ASSERT_TRUE(cat_->ForgetChunkLocation(D(2), Loc(7, 680, 600)).ok());
  EXPECT_FALSE(cat_->ChunkLocationOf(D(2))->has_value());
  Reopen();
  EXPECT_EQ(**cat_->ChunkLocationOf(D(1)), Loc(5, 32, 600));
}

}  // namespace
}  // namespace katamari

// Bucket::ReadDirPlus: a directory's live entries with their attributes in
// one query give what ReadDir + GetAttr (+ HeldBytes) give one by one, for
// every kind of node, in pages (`from`, `limit`).
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store/bucket.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomBytes;

// `head`, a hole of `hole` bytes, `tail`.
class HoleySource : public ByteSource {
 public:
  HoleySource(std::string head, uint64_t hole, std::string tail)
      : parts_{std::move(head), std::move(tail)}, hole_(hole) {}
  Result<size_t> Read(char* buf, size_t n) override {
    if (part_ > 1 || (part_ == 1 && hole_left_ > 0)) return size_t{0};
    const std::string& p = parts_[part_];
    size_t k = std::min(n, p.size() - pos_);
    std::copy_n(p.data() + pos_, k, buf);
    pos_ += k;
    if (pos_ == p.size()) {
      ++part_;
      pos_ = 0;
      if (part_ == 1) hole_left_ = hole_;
    }
    return k;
  }
  Result<Extent> Next() override {
    if (part_ > 1) return Extent{false, 0};
    if (part_ == 1 && hole_left_ > 0) return Extent{true, hole_left_};
    return Extent{false, parts_[part_].size() - pos_};
  }
  Status SkipHole(uint64_t n) override {
    if (n != hole_left_) return Status::InvalidArgument("skip past the hole");
    hole_left_ = 0;
    return Status::OK();
  }

 private:
  std::string parts_[2];
  uint64_t hole_;
  size_t part_ = 0, pos_ = 0;
  uint64_t hole_left_ = 0;
};

class BucketListingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-listing-XXXXXX";
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
  Attr Make(InodeId dir, const std::string& name, FileKind kind, uint32_t mode,
            std::string_view target = {}, uint64_t rdev = 0) {
    auto a = b_->MakeNode(dir, name, kind, mode, 1000, 100, target, rdev);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    return a.ok() ? *a : Attr{};
  }
  // What a readdirplus answered one entry at a time before ReadDirPlus.
  Attr OneByOne(InodeId ino) {
    auto a = b_->GetAttr(ino);
    EXPECT_TRUE(a.ok());
    if (a->kind == FileKind::kRegular) {
      a->held_bytes = 0;
      if (a->current_version.value != 0) {
        auto held = b_->HeldBytes(ino, a->current_version);
        EXPECT_TRUE(held.ok());
        a->held_bytes = *held;
      }
    }
    return *a;
  }
  static void ExpectSameAttr(const Attr& got, const Attr& want, const std::string& name) {
    SCOPED_TRACE(name);
    EXPECT_EQ(got.ino, want.ino);
    EXPECT_EQ(got.kind, want.kind);
    EXPECT_EQ(got.mode, want.mode);
    EXPECT_EQ(got.uid, want.uid);
    EXPECT_EQ(got.gid, want.gid);
    EXPECT_EQ(got.nlink, want.nlink);
    EXPECT_EQ(got.size, want.size);
    EXPECT_EQ(got.rdev, want.rdev);
    EXPECT_EQ(got.atime_ns, want.atime_ns);
    EXPECT_EQ(got.mtime_ns, want.mtime_ns);
    EXPECT_EQ(got.ctime_ns, want.ctime_ns);
    EXPECT_EQ(got.current_version, want.current_version);
    EXPECT_EQ(got.held_bytes, want.held_bytes);
  }
  void ExpectListingMatches(InodeId dir) {
    auto names = b_->ReadDir(dir);
    ASSERT_TRUE(names.ok());
    auto plus = b_->ReadDirPlus(dir, "", SIZE_MAX);
    ASSERT_TRUE(plus.ok()) << plus.status().ToString();
    ASSERT_EQ(plus->size(), names->size());
    for (size_t i = 0; i < names->size(); ++i) {
      EXPECT_EQ((*plus)[i].name, (*names)[i].name);
      ExpectSameAttr((*plus)[i].attr, OneByOne((*names)[i].ino), (*names)[i].name);
    }
  }

  std::string root_;
  std::unique_ptr<Bucket> b_;
};

TEST_F(BucketListingTest, EveryKindMatchesTheLookupsOneByOne) {
  Attr sub = Make(kRootInode, "sub", FileKind::kDirectory, 0750);
  Make(sub.ino, "inner", FileKind::kDirectory, 0700);  // sub's nlink is 3
  Make(kRootInode, "empty", FileKind::kRegular, 0640);
  Attr data = Make(kRootInode, "data", FileKind::kRegular, 0644);
  std::string content = RandomBytes(300000, 7);
  StringSource src(content);
  ASSERT_TRUE(b_->CommitContent(data.ino, src).ok());
  Attr sparse = Make(kRootInode, "sparse", FileKind::kRegular, 0600);
  HoleySource holey(RandomBytes(70000, 8), uint64_t{1} << 30, RandomBytes(5000, 9));
  ASSERT_TRUE(b_->CommitContent(sparse.ino, holey).ok());
  ASSERT_TRUE(b_->Link(data.ino, sub.ino, "data-link").ok());  // data's nlink is 2
  Make(kRootInode, "link", FileKind::kSymlink, 0777, "some/where");
  Make(kRootInode, "fifo", FileKind::kFifo, 0644);
  Make(kRootInode, "sock", FileKind::kSocket, 0644);
  Make(kRootInode, "chr", FileKind::kCharDevice, 0600, {}, makedev(1, 3));
  Make(kRootInode, "blk", FileKind::kBlockDevice, 0600, {}, makedev(8, 1));
  Attr gone = Make(kRootInode, "gone", FileKind::kRegular, 0644);
  ASSERT_TRUE(b_->Unlink(kRootInode, "gone").ok());
  (void)gone;

  ExpectListingMatches(kRootInode);
  ExpectListingMatches(sub.ino);
  auto plus = b_->ReadDirPlus(kRootInode, "", SIZE_MAX);
  ASSERT_TRUE(plus.ok());
  std::map<std::string, Attr> by_name;
  for (const auto& e : *plus) by_name[e.name] = e.attr;
  EXPECT_EQ(by_name.count("gone"), 0u);  // only live names
  EXPECT_EQ(by_name["sub"].nlink, 3u);
  EXPECT_EQ(by_name["data"].nlink, 2u);
  EXPECT_EQ(by_name["data"].held_bytes, std::optional<uint64_t>(300000));
  EXPECT_EQ(by_name["sparse"].held_bytes, std::optional<uint64_t>(75000));  // the hole holds nothing
  EXPECT_EQ(by_name["sparse"].size, 75000 + (uint64_t{1} << 30));
  EXPECT_EQ(by_name["empty"].held_bytes, std::optional<uint64_t>(0));
  EXPECT_EQ(by_name["link"].size, 10u);
  EXPECT_FALSE(by_name["link"].held_bytes.has_value());
  EXPECT_EQ(by_name["chr"].rdev, makedev(1, 3));
}

TEST_F(BucketListingTest, PagesByNameAndLimit) {
  for (int i = 0; i < 10; ++i) Make(kRootInode, "f" + std::to_string(i), FileKind::kRegular, 0644);
  auto page = b_->ReadDirPlus(kRootInode, "f3", 4);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> names;
  for (const auto& e : *page) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"f3", "f4", "f5", "f6"}));
  auto rest = b_->ReadDirPlus(kRootInode, "f35", 100);  // from is a bound, not a name
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 6u);
  EXPECT_EQ(rest->front().name, "f4");
  auto none = b_->ReadDirPlus(kRootInode, "g", 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(BucketListingTest, NotADirectoryIsNotDir) {
  Attr f = Make(kRootInode, "f", FileKind::kRegular, 0644);
  auto r = b_->ReadDirPlus(f.ino, "", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotDir);
}

}  // namespace
}  // namespace katamari

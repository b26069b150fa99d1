// The ObjectStore contract, run over every implementation: the local directory
// always, S3 when $KATAMARI_TEST_S3_ENDPOINT names a server (the scale suite
// starts a radosgw for it; without one the S3 cases are skipped).
#include "store/object_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "tests/unit/object_store_test.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

using testing_util::RandomBytes;
using testing_util::TempDir;

class ObjectStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "local") {
      auto s = NewLocalObjectStore(dir_.path() + "/objects");
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(s).value();
    } else {
      if (testing_util::TestS3Endpoint().empty()) {
        GTEST_SKIP() << "no S3 server: KATAMARI_TEST_S3_ENDPOINT is not set "
                        "(meson test --suite scale starts one)";
      }
      store_ = testing_util::OpenTestS3(testing_util::TestS3Config());
      ASSERT_NE(store_, nullptr);
    }
  }
  TempDir dir_{"objstore"};
  std::unique_ptr<ObjectStore> store_;
};

TEST_P(ObjectStoreTest, PutGetHeadOverwrite) {
  std::string data = RandomBytes(100000, 1);
  ASSERT_TRUE(store_->Put("packs/ab/one", data).ok());
  auto got = store_->Get("packs/ab/one");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);
  auto size = store_->Head("packs/ab/one");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 100000u);
  ASSERT_TRUE(store_->Put("packs/ab/one", "short").ok());  // whole replacement
  EXPECT_EQ(*store_->Get("packs/ab/one"), "short");
  EXPECT_EQ(*store_->Head("packs/ab/one"), 5u);
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Head("empty"), 0u);
  EXPECT_EQ(*store_->Get("empty"), "");
}

TEST_P(ObjectStoreTest, RangedReads) {
  std::string data = RandomBytes(1 << 20, 2);
  ASSERT_TRUE(store_->Put("r", data).ok());
  EXPECT_EQ(*store_->Get("r", 0, 10), data.substr(0, 10));
  EXPECT_EQ(*store_->Get("r", 12345, 65536), data.substr(12345, 65536));
  EXPECT_EQ(*store_->Get("r", 1000000), data.substr(1000000));          // to the end
  EXPECT_EQ(*store_->Get("r", (1 << 20) - 3, 100), data.substr((1 << 20) - 3));  // short
  auto at_end = store_->Get("r", 1 << 20, 10);
  ASSERT_TRUE(at_end.ok()) << at_end.status().ToString();
  EXPECT_EQ(*at_end, "");
  auto past = store_->Get("r", 5 << 20, 10);
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_EQ(*past, "");
  auto none = store_->Get("r", 7, 0);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, "");
}

TEST_P(ObjectStoreTest, CreateOnlyPutRefusesAnExistingKey) {
  ASSERT_TRUE(store_->Put("c/k", "first", ObjectStore::PutMode::kCreateOnly).ok());
  Status st = store_->Put("c/k", "second", ObjectStore::PutMode::kCreateOnly);
  EXPECT_EQ(st.code(), Status::Code::kExists) << st.ToString();
  EXPECT_NE(st.message().find("c/k"), std::string::npos) << st.message();
  EXPECT_EQ(*store_->Get("c/k"), "first");
}

TEST_P(ObjectStoreTest, CreateOnlyRaceHasOneWinner) {
  constexpr int kThreads = 8;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      results[i] = store_->Put("race", "writer " + std::to_string(i),
                               ObjectStore::PutMode::kCreateOnly);
    });
  }
  for (auto& t : ts) t.join();
  int won = -1, exists = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(won, -1) << "two create-only puts of one key both succeeded";
      won = i;
    } else {
      EXPECT_EQ(results[i].code(), Status::Code::kExists) << results[i].ToString();
      ++exists;
    }
  }
  ASSERT_NE(won, -1);
  EXPECT_EQ(exists, kThreads - 1);
  EXPECT_EQ(*store_->Get("race"), "writer " + std::to_string(won));
}

TEST_P(ObjectStoreTest, MissingKeyIsNotFoundAndDeleteIsIdempotent) {
  EXPECT_EQ(store_->Get("no/such").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->Get("no/such", 5, 0).status().code(), Status::Code::kNotFound);
  auto h = store_->Head("no/such");
  EXPECT_EQ(h.status().code(), Status::Code::kNotFound) << h.status().ToString();
  EXPECT_NE(h.status().message().find("no/such"), std::string::npos) << h.status().message();
  EXPECT_TRUE(store_->Delete("no/such").ok());
  ASSERT_TRUE(store_->Put("d", "x").ok());
  EXPECT_TRUE(store_->Delete("d").ok());
  EXPECT_TRUE(store_->Delete("d").ok());
  EXPECT_EQ(store_->Head("d").status().code(), Status::Code::kNotFound);
}

TEST_P(ObjectStoreTest, BadKeysAreInvalidArgument) {
  for (const char* k : {"", "/a", "a/", "a//b", ".tmp/x", "a/../b", "a b", "a\\b", "ä"}) {
    EXPECT_EQ(store_->Put(k, "x").code(), Status::Code::kInvalidArgument) << "'" << k << "'";
    EXPECT_EQ(store_->Get(k).status().code(), Status::Code::kInvalidArgument) << k;
  }
  EXPECT_EQ(store_->Put(std::string(513, 'a'), "x").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->List("", "", 0).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->List("", "", 1001).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(ObjectStoreTest, ListPagesThroughAPrefixInOrder) {
  std::vector<std::string> want;
  for (int i = 0; i < 25; ++i) {
    char k[32];
    std::snprintf(k, sizeof k, "l/%02d/obj", (i * 7) % 25);  // put out of order
    ASSERT_TRUE(store_->Put(k, std::string(static_cast<size_t>(i), 'z')).ok());
    want.push_back(k);
  }
  ASSERT_TRUE(store_->Put("lx", "not under l/").ok());
  ASSERT_TRUE(store_->Put("m/other", "").ok());
  std::sort(want.begin(), want.end());
  std::vector<std::string> got;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->List("l/", token, 7);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->objects.size(), 7u);
    for (const ObjectInfo& o : page->objects) got.push_back(o.key);
    token = page->next_token;
    ASSERT_LT(++pages, 10) << "pagination does not end";
  } while (!token.empty());
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(got, want);
  auto all = store_->ListAll("l");  // a prefix need not end at a '/'
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 26u);
  EXPECT_EQ(all->back().key, "lx");
  EXPECT_EQ((*all)[0].size, *store_->Head((*all)[0].key));
  auto none = store_->ListAll("q/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(ObjectStoreTest, ListsMoreThanOneServerPage) {
  constexpr int kKeys = 1100, kThreads = 8;  // past S3's 1000 keys per reply
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < kKeys; i += kThreads) {
        if (!store_->Put("many/" + std::to_string(100000 + i), "v").ok()) failures++;
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_EQ(failures.load(), 0);
  auto all = store_->ListAll("many/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(kKeys));
  std::set<std::string> unique;
  for (const ObjectInfo& o : *all) unique.insert(o.key);
  EXPECT_EQ(unique.size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                             [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; }));
}

TEST_P(ObjectStoreTest, GetManyReadsRangesOfManyObjects) {
  std::vector<std::string> objs;
  for (int i = 0; i < 8; ++i) {
    objs.push_back(RandomBytes(200000, 10 + static_cast<uint64_t>(i)));
    ASSERT_TRUE(store_->Put("b/" + std::to_string(i), objs.back()).ok());
  }
  std::vector<ObjectRange> ranges;
  std::vector<std::string> want;
  for (int j = 0; j < 64; ++j) {
    int o = j % 8;
    uint64_t off = static_cast<uint64_t>(j) * 3001 % 190000;
    uint64_t len = 1000 + static_cast<uint64_t>(j) * 97;
    ranges.push_back({"b/" + std::to_string(o), off, len});
    want.push_back(objs[static_cast<size_t>(o)].substr(off, len));
  }
  ranges.push_back({"b/missing", 0, 10});
  ranges.push_back({"b/3", 0, ObjectStore::kToEnd});
  auto got = store_->GetMany(ranges);
  ASSERT_EQ(got.size(), ranges.size());
  for (size_t j = 0; j < want.size(); ++j) {
    ASSERT_TRUE(got[j].ok()) << j << ": " << got[j].status().ToString();
    EXPECT_EQ(*got[j], want[j]) << "range " << j;
  }
  EXPECT_EQ(got[64].status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(got[65].ok());
  EXPECT_EQ(*got[65], objs[3]);
}

std::string Name(const ::testing::TestParamInfo<std::string>& p) { return p.param; }

INSTANTIATE_TEST_SUITE_P(Backends, ObjectStoreTest, ::testing::Values("local", "s3"), Name);

// The local store: what a crashed Put leaves, and that it is never listed.
TEST(LocalObjectStoreTest, TempFilesAreHiddenAndOldOnesSwept) {
  TempDir dir("objlocal");
  std::string root = dir.path() + "/o";
  {
    auto s = NewLocalObjectStore(root);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Put("a/b", "x").ok());
  }
  // A Put that died between its write and its rename, long ago, and one just now.
  std::string old_tmp = root + "/.tmp/put-old", new_tmp = root + "/.tmp/put-new";
  std::ofstream(old_tmp) << "partial";
  std::ofstream(new_tmp) << "in flight";
  ASSERT_TRUE(std::filesystem::exists(old_tmp) && std::filesystem::exists(new_tmp));
  std::filesystem::last_write_time(old_tmp, std::filesystem::file_time_type::clock::now() -
                                                std::chrono::hours(2));
  auto s = NewLocalObjectStore(root);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(old_tmp));
  EXPECT_TRUE(std::filesystem::exists(new_tmp));
  auto all = (*s)->ListAll("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].key, "a/b");
}

}  // namespace
}  // namespace katamari

// Retention rules (store/retention.h) against hand-computed cases, and the
// bucket's policy, prune and exclude patterns (store/bucket_policy.cc) on a
// real bucket with a fake clock.
#include <gtest/gtest.h>

#include <ctime>
#include <map>

#include "store/bucket.h"
#include "store/catalog.h"
#include "store/catalog_testing.h"
#include "tests/unit/catalog_aging.h"
#include "tests/unit/test_util.h"

namespace katamari {
namespace {

constexpr int64_t kSec = 1000000000;
constexpr int64_t kHour = 3600 * kSec;
constexpr int64_t kDay = 24 * kHour;

// "2026-11-02 10:05" (UTC) in ns.
int64_t T(const char* text) {
  std::tm tm{};
  EXPECT_NE(strptime(text, "%Y-%m-%d %H:%M", &tm), nullptr) << text;
  return static_cast<int64_t>(timegm(&tm)) * kSec;
}

RetentionRules Rules(std::vector<std::string> words) {
  auto r = RetentionRules::Parse(words);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RetentionRules{};
}

std::vector<uint64_t> Kept(const std::vector<const char*>& times,
                           const std::vector<std::string>& rules, uint64_t current = 0) {
  std::vector<RetentionCandidate> c;
  for (size_t i = 0; i < times.size(); ++i) c.push_back({i + 1, T(times[i])});
  return SelectKept(c, Rules(rules), current);
}

using V = std::vector<uint64_t>;

// ---- durations and rule texts

TEST(Duration, ParsesEveryUnitAndCombinations) {
  EXPECT_EQ(*ParseDuration("30s"), 30 * kSec);
  EXPECT_EQ(*ParseDuration("30m"), 30 * 60 * kSec);
  EXPECT_EQ(*ParseDuration("12h"), 12 * kHour);
  EXPECT_EQ(*ParseDuration("7d"), 7 * kDay);
  EXPECT_EQ(*ParseDuration("2w"), 14 * kDay);
  EXPECT_EQ(*ParseDuration("6mo"), 180 * kDay);
  EXPECT_EQ(*ParseDuration("1y"), 365 * kDay);
  EXPECT_EQ(*ParseDuration("1d12h"), 36 * kHour);
  EXPECT_EQ(*ParseDuration("1mo1m"), 30 * kDay + 60 * kSec);
}

TEST(Duration, RefusesBadSpellingsWithTheGrammar) {
  for (const char* bad : {"", "7x", "7", "d", "0d", "7d3", "-1d", "1.5d", "7 d", "99999999999y"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("e.g. 30m, 12h, 7d"), std::string::npos)
        << r.status().message();
  }
}

TEST(Duration, FormatsBackToTheShortestSpelling) {
  EXPECT_EQ(FormatDuration(7 * kDay), "1w");
  EXPECT_EQ(FormatDuration(36 * kHour), "1d12h");
  EXPECT_EQ(FormatDuration(30 * kDay), "1mo");
  EXPECT_EQ(FormatDuration(90 * 60 * kSec), "1h30m");
}

TEST(Rules, ParseAndPrintCanonically) {
  RetentionRules r = Rules({"deleted-for=30d", "keep-daily=7", "keep-last=3", "keep-within=2w"});
  EXPECT_EQ(r.ToString(), "keep-last=3 keep-within=2w keep-daily=7 deleted-for=1mo");
  EXPECT_EQ(*r.keep_last, 3u);
  EXPECT_EQ(*r.keep_daily, 7u);
  EXPECT_EQ(*r.keep_within_ns, 14 * kDay);
  EXPECT_EQ(*r.deleted_for_ns, 30 * kDay);
  EXPECT_TRUE(r.has_keep_rule());
  EXPECT_FALSE(Rules({"deleted-for=1d"}).has_keep_rule());
}

TEST(Rules, RefuseUnknownRulesBadNumbersAndRepeats) {
  struct Case {
    std::vector<std::string> words;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {{}, "no rule given"},
           {{"keep-lots=3"}, "unknown rule 'keep-lots=3'"},
           {{"keep-last"}, "has no value"},
           {{"keep-last="}, "has no value"},
           {{"keep-last=0"}, "not a count"},
           {{"keep-last=-1"}, "not a count"},
           {{"keep-last=3x"}, "not a count"},
           {{"keep-last=2000000000"}, "not a count"},
           {{"keep-within=7x"}, "keep-within: duration '7x'"},
           {{"deleted-for=soon"}, "deleted-for: duration 'soon'"},
           {{"keep-last=1", "keep-last=2"}, "given twice"},
       }) {
    auto r = RetentionRules::Parse(c.words);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << r.status().message();
  }
}

// ---- the selection (restic's forget --keep-*)

TEST(SelectKept, KeepLastTakesTheNewest) {
  EXPECT_EQ(Kept({"2026-11-02 10:00", "2026-11-02 11:00", "2026-11-02 12:00"}, {"keep-last=2"}),
            (V{2, 3}));
  EXPECT_EQ(Kept({"2026-11-02 10:00"}, {"keep-last=5"}), (V{1}));
}

TEST(SelectKept, HourlyKeepsTheNewestOfEachHour) {
  const std::vector<const char*> t = {"2026-11-02 10:05", "2026-11-02 10:40", "2026-11-02 11:10",
                                      "2026-11-02 11:50", "2026-11-02 13:00"};
  EXPECT_EQ(Kept(t, {"keep-hourly=2"}), (V{4, 5}));
  // Hour 12 had no version: the third hour counted is 10.
  EXPECT_EQ(Kept(t, {"keep-hourly=3"}), (V{2, 4, 5}));
  EXPECT_EQ(Kept(t, {"keep-hourly=10"}), (V{2, 4, 5}));
}

TEST(SelectKept, DailyCountsDaysThatHaveAVersion) {
  const std::vector<const char*> t = {"2026-11-02 09:00", "2026-11-02 18:00", "2026-11-03 08:00",
                                      "2026-11-05 12:00", "2026-11-05 13:00"};
  EXPECT_EQ(Kept(t, {"keep-daily=1"}), (V{5}));
  EXPECT_EQ(Kept(t, {"keep-daily=3"}), (V{2, 3, 5}));
  // Days are UTC: 23:59 and 00:00 are two days.
  EXPECT_EQ(Kept({"2026-11-02 23:59", "2026-11-03 00:00"}, {"keep-daily=2"}), (V{1, 2}));
}

TEST(SelectKept, WeeklyUsesIsoWeeksStartingMonday) {
  // Sun 1 Nov (week 44), Mon 2 Nov and Sun 8 Nov (week 45), Mon 9 Nov (week 46).
  const std::vector<const char*> t = {"2026-11-01 12:00", "2026-11-02 12:00", "2026-11-08 12:00",
                                      "2026-11-09 12:00"};
  EXPECT_EQ(Kept(t, {"keep-weekly=2"}), (V{3, 4}));
  EXPECT_EQ(Kept(t, {"keep-weekly=3"}), (V{1, 3, 4}));
}

TEST(SelectKept, MonthlyAndYearlyUseCalendarPeriods) {
  const std::vector<const char*> t = {"2025-12-31 23:59", "2026-01-01 00:00", "2026-01-31 10:00",
                                      "2026-02-01 10:00"};
  EXPECT_EQ(Kept(t, {"keep-monthly=2"}), (V{3, 4}));
  EXPECT_EQ(Kept(t, {"keep-monthly=3"}), (V{1, 3, 4}));
  EXPECT_EQ(Kept(t, {"keep-yearly=2"}), (V{1, 4}));
  // Leap day belongs to February.
  EXPECT_EQ(Kept({"2028-02-29 10:00", "2028-03-01 10:00"}, {"keep-monthly=2"}), (V{1, 2}));
}

TEST(SelectKept, KeepWithinIsRelativeToTheNewestVersion) {
  const std::vector<const char*> t = {"2026-11-01 12:00", "2026-11-04 12:59", "2026-11-04 13:00",
                                      "2026-11-05 13:00"};
  // 1d before the newest (5 Nov 13:00) is 4 Nov 13:00, which is still within.
  EXPECT_EQ(Kept(t, {"keep-within=1d"}), (V{3, 4}));
  EXPECT_EQ(Kept(t, {"keep-within=5d"}), (V{1, 2, 3, 4}));
}

TEST(SelectKept, RulesCombineAVersionKeptByAnyIsKept) {
  const std::vector<const char*> t = {"2026-11-02 09:00", "2026-11-02 18:00", "2026-11-03 08:00",
                                      "2026-11-05 12:00", "2026-11-05 13:00"};
  EXPECT_EQ(Kept(t, {"keep-last=2", "keep-daily=3"}), (V{2, 3, 4, 5}));
  EXPECT_EQ(Kept(t, {"keep-within=1h", "keep-daily=2"}), (V{3, 4, 5}));
}

TEST(SelectKept, TheCurrentVersionIsNeverPruned) {
  // The newest was deleted back to version 1, or version 1 is what is current.
  const std::vector<const char*> t = {"2026-11-02 09:00", "2026-11-02 10:00", "2026-11-02 11:00"};
  EXPECT_EQ(Kept(t, {"keep-last=1"}, /*current=*/1), (V{1, 3}));
  EXPECT_EQ(Kept(t, {"keep-last=1"}, /*current=*/0), (V{3}));
}

TEST(SelectKept, NoKeepRuleKeepsEverything) {
  EXPECT_EQ(Kept({"2026-11-02 09:00", "2026-11-02 10:00"}, {"deleted-for=1d"}), (V{1, 2}));
}

// ---- patterns

TEST(Patterns, NameGlobsAndPathGlobs) {
  EXPECT_TRUE(PatternMatches("*.log", "var/app.log"));
  EXPECT_TRUE(PatternMatches("*.log", "app.log"));
  EXPECT_FALSE(PatternMatches("*.log", "app.log.1"));
  EXPECT_TRUE(PatternMatches("*.swp", "src/.main.c.swp"));  // a leading dot is any byte
  EXPECT_TRUE(PatternMatches("~$*", "docs/~$report.docx"));
  EXPECT_TRUE(PatternMatches("#*#", "#notes#"));
  EXPECT_TRUE(PatternMatches("logs/", "logs/a/b.txt"));
  EXPECT_TRUE(PatternMatches("/var/log", "var/log/syslog"));
  EXPECT_FALSE(PatternMatches("/var/log", "var/logs/syslog"));
  EXPECT_TRUE(PatternMatches("docs/*.md", "docs/a.md"));
  EXPECT_FALSE(PatternMatches("docs/*.md", "docs/sub/a.md"));  // '*' does not cross '/'
  EXPECT_FALSE(PatternMatches("logs", "logs/a.txt"));          // a name pattern: the name only
  EXPECT_FALSE(PatternMatches("/", "a"));
  EXPECT_FALSE(ValidatePattern("").ok());
  EXPECT_FALSE(ValidatePattern("//").ok());
  EXPECT_TRUE(ValidatePattern("*.log").ok());
}

// ---- on a bucket

class PolicyBucketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Bucket::Create(dir_.path() + "/b", {}).ok());
    auto b = Bucket::Open(dir_.path() + "/b", {});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    b_ = std::move(b).value();
  }
  VersionInfo Put(const std::string& key, const std::string& body, int64_t at) {
    now_ = at;
    StringSource src(body);
    auto r = b_->Put(key, src, {});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VersionInfo{};
  }
  V Versions(const std::string& key) {
    auto r = b_->Versions(key);
    V out;
    if (r.ok()) {
      for (const VersionInfo& v : *r) out.push_back(v.version.value);
    }
    return out;
  }
  std::string Get(const std::string& key, uint64_t v) {
    StringSink sink;
    VersionSelector sel;
    sel.version = VersionNo(v);
    EXPECT_TRUE(b_->Get(key, sel, sink).ok()) << key << "@" << v;
    return sink.out;
  }
  Result<PruneReport> Prune(bool dry_run, int64_t at, std::string path = "") {
    now_ = at;
    PruneOptions o;
    o.dry_run = dry_run;
    o.now_ns = at;
    o.path = std::move(path);
    return b_->Prune(o);
  }

  int64_t now_ = T("2026-11-02 09:00");
  catalog_testing::ScopedClock clock_{[this] { return now_; }};
  testing_util::TempDir dir_{"retention"};
  std::unique_ptr<Bucket> b_;
};

TEST_F(PolicyBucketTest, ANewBucketHasTheDefaultExcludesAndNoPolicy) {
  EXPECT_EQ(*b_->Excludes(), DefaultExcludes());
  EXPECT_TRUE(b_->Policy()->empty());
  EXPECT_TRUE(b_->PolicyLog()->empty());
}

TEST_F(PolicyBucketTest, PolicyRulesAreStoredInOrderWithTheDefaultLastAndLogged) {
  ASSERT_TRUE(b_->SetPolicy("", Rules({"keep-last=10"})).ok());
  ASSERT_TRUE(b_->SetPolicy("*.log", Rules({"keep-daily=7"})).ok());
  ASSERT_TRUE(b_->SetPolicy("tmp/", Rules({"keep-last=1"})).ok());
  ASSERT_TRUE(b_->SetPolicy("*.log", Rules({"keep-daily=3"})).ok());  // replaces, keeps its place
  auto p = b_->Policy();
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].pattern, "*.log");
  EXPECT_EQ((*p)[0].rules.ToString(), "keep-daily=3");
  EXPECT_EQ((*p)[1].pattern, "tmp/");
  EXPECT_EQ((*p)[2].pattern, "");
  // First matching pattern wins; the default for the rest.
  EXPECT_EQ(b_->PolicyFor(*p, "tmp/x.log")->pattern, "*.log");
  EXPECT_EQ(b_->PolicyFor(*p, "tmp/x.txt")->pattern, "tmp/");
  EXPECT_EQ(b_->PolicyFor(*p, "a.txt")->pattern, "");
  ASSERT_TRUE(b_->ClearPolicy("tmp/").ok());
  EXPECT_EQ(b_->ClearPolicy("tmp/").code(), Status::Code::kNotFound);
  EXPECT_EQ(b_->SetPolicy("", RetentionRules{}).code(), Status::Code::kInvalidArgument);
  auto log = b_->PolicyLog();
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->size(), 5u);
  EXPECT_EQ((*log)[3].action, "policy set");
  EXPECT_EQ((*log)[3].pattern, "*.log");
  EXPECT_EQ((*log)[3].rules, "keep-daily=3");
  EXPECT_EQ((*log)[4].action, "policy clear");
  EXPECT_EQ((*log)[4].pattern, "tmp/");
  EXPECT_EQ((*log)[4].time_ns, now_);
}

TEST_F(PolicyBucketTest, PruneRemovesWhatNoRuleKeepsAndKeepsTheRestExact) {
  for (int i = 1; i <= 5; ++i) Put("a.txt", "a" + std::to_string(i), T("2026-11-02 10:00") + i * kHour);
  Put("b.log", "b1", T("2026-11-02 10:00"));
  Put("b.log", "b2", T("2026-11-03 10:00"));
  Put("b.log", "b3", T("2026-11-03 11:00"));
  ASSERT_TRUE(b_->SetPolicy("", Rules({"keep-last=2"})).ok());
  ASSERT_TRUE(b_->SetPolicy("*.log", Rules({"keep-daily=2"})).ok());

  auto dry = Prune(true, T("2026-11-04 00:00"));
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_TRUE(dry->dry_run);
  EXPECT_EQ(dry->versions_removed, 4u);
  EXPECT_GT(dry->bytes_freed, 0u);
  EXPECT_EQ(Versions("a.txt"), (V{1, 2, 3, 4, 5}));  // a dry run changes nothing

  auto r = Prune(false, T("2026-11-04 00:00"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->versions_removed, 4u);
  EXPECT_EQ(r->bytes_freed, dry->bytes_freed);
  ASSERT_EQ(r->files.size(), 2u);
  std::map<std::string, PruneFile> by_key;
  for (const PruneFile& f : r->files) by_key[f.key] = f;
  EXPECT_EQ(by_key["a.txt"].removed, (V{1, 2, 3}));
  EXPECT_EQ(by_key["a.txt"].kept, 2u);
  EXPECT_EQ(by_key["b.log"].removed, (V{2}));
  EXPECT_EQ(by_key["b.log"].why, "*.log");
  EXPECT_EQ(Versions("a.txt"), (V{4, 5}));
  EXPECT_EQ(Versions("b.log"), (V{1, 3}));
  EXPECT_EQ(Get("a.txt", 4), "a4");
  EXPECT_EQ(Get("b.log", 1), "b1");
  // Pruned again: nothing left to do.
  auto again = Prune(false, T("2026-11-04 00:00"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->versions_removed, 0u);
  EXPECT_TRUE(b_->Fsck()->ok());
}

TEST_F(PolicyBucketTest, PruneFreesTheChunksOnlyRemovedVersionsHeld) {
  const std::string big1 = testing_util::RandomBytes(300000, 1);
  const std::string big2 = testing_util::RandomBytes(300000, 2);
  Put("f.bin", big1, T("2026-11-02 10:00"));
  Put("f.bin", big2, T("2026-11-02 11:00"));
  Put("copy.bin", big1, T("2026-11-02 12:00"));  // shares version 1's chunks
  // Version 3 replaces version 2's last 100 KB with other bytes (appending
  // to it would make version 3's tail a delta chunk holding version 2's).
  const std::string v3 = big2.substr(0, 200000) + testing_util::RandomBytes(100000, 3);
  Put("f.bin", v3, T("2026-11-02 13:00"));
  ASSERT_TRUE(b_->SetPolicy("f.bin", Rules({"keep-last=1"})).ok());
  auto before = b_->Stats();
  auto r = Prune(false, T("2026-11-03 00:00"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Versions("f.bin"), (V{3}));
  // Version 1's chunks live on in copy.bin; only version 2's unshared ones go.
  auto after = b_->Stats();
  EXPECT_GT(r->bytes_freed, 0u);
  EXPECT_LT(r->bytes_freed, 300000u);
  EXPECT_EQ(before->stored_bytes - after->stored_bytes, r->bytes_freed);
  EXPECT_EQ(Get("copy.bin", 1), big1);
  EXPECT_EQ(Get("f.bin", 3), v3);
}

TEST_F(PolicyBucketTest, PruneKeepsTheCurrentVersionAlsoARestoredOne) {
  Put("a.txt", "1", T("2026-11-02 10:00"));
  Put("a.txt", "2", T("2026-11-02 11:00"));
  Put("a.txt", "3", T("2026-11-02 12:00"));
  VersionSelector sel;
  sel.version = VersionNo(1);
  now_ = T("2026-11-02 13:00");
  auto restored = b_->Restore("a.txt", sel);  // version 4, the content of 1
  ASSERT_TRUE(restored.ok());
  ASSERT_TRUE(b_->SetPolicy("", Rules({"keep-last=1"})).ok());
  ASSERT_TRUE(Prune(false, T("2026-11-03 00:00")).ok());
  EXPECT_EQ(Versions("a.txt"), (V{4}));
  EXPECT_EQ(Get("a.txt", 4), "1");
  StringSink cur;
  ASSERT_TRUE(b_->Get("a.txt", {}, cur).ok());
  EXPECT_EQ(cur.out, "1");
}

TEST_F(PolicyBucketTest, PruneUnderAPathTouchesOnlyThatSubtree) {
  Put("docs/a.txt", "1", T("2026-11-02 10:00"));
  Put("docs/a.txt", "2", T("2026-11-02 11:00"));
  Put("docsx/b.txt", "1", T("2026-11-02 10:00"));
  Put("docsx/b.txt", "2", T("2026-11-02 11:00"));
  ASSERT_TRUE(b_->SetPolicy("", Rules({"keep-last=1"})).ok());
  auto r = Prune(false, T("2026-11-03 00:00"), "docs/");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->files_checked, 1u);
  EXPECT_EQ(Versions("docs/a.txt"), (V{2}));
  EXPECT_EQ(Versions("docsx/b.txt"), (V{1, 2}));
}

TEST_F(PolicyBucketTest, DeletedForRemovesTheWholeHistoryOfLongDeletedFiles) {
  Put("old.txt", "1", T("2026-11-02 10:00"));
  Put("old.txt", "2", T("2026-11-02 11:00"));
  Put("recent.txt", "1", T("2026-11-02 10:00"));
  now_ = T("2026-11-02 12:00");
  ASSERT_TRUE(b_->Delete("old.txt").ok());
  now_ = T("2026-11-04 12:00");
  ASSERT_TRUE(b_->Delete("recent.txt").ok());
  ASSERT_TRUE(b_->SetPolicy("", Rules({"deleted-for=1d"})).ok());
  auto r = Prune(false, T("2026-11-04 13:00"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->files.size(), 1u);
  EXPECT_EQ(r->files[0].key, "old.txt");
  EXPECT_TRUE(r->files[0].history_deleted);
  EXPECT_TRUE(r->files[0].deleted);
  EXPECT_EQ(r->files[0].removed, (V{1, 2}));
  EXPECT_EQ(b_->Versions("old.txt").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Versions("recent.txt"), (V{1}));
  // A deleted file keeps nothing special: keep-last applies to it too.
  EXPECT_TRUE(b_->Fsck()->ok());
}

TEST_F(PolicyBucketTest, ExcludedNamesKeepOnlyTheirCurrentContent) {
  Put("x.tmp", "1", T("2026-11-02 10:00"));
  Put("x.tmp", "2", T("2026-11-02 10:01"));
  Put("db-wal", "w1", T("2026-11-02 10:02"));
  Put("db-wal", "w2", T("2026-11-02 10:03"));
  EXPECT_EQ(Versions("x.tmp"), (V{2}));
  EXPECT_EQ(Versions("db-wal"), (V{2}));
  EXPECT_EQ(Get("x.tmp", 2), "2");
  ASSERT_TRUE(b_->RemoveExclude("*.tmp").ok());
  Put("x.tmp", "3", T("2026-11-02 10:04"));
  EXPECT_EQ(Versions("x.tmp"), (V{2, 3}));
  ASSERT_TRUE(b_->AddExclude("*.bak").ok());
  EXPECT_EQ(b_->AddExclude("*.bak").code(), Status::Code::kExists);
  EXPECT_EQ(b_->RemoveExclude("*.nope").code(), Status::Code::kNotFound);
  EXPECT_EQ(b_->AddExclude("a/*.bak").code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(b_->AddExclude("").code(), Status::Code::kInvalidArgument);
  Put("y.bak", "1", T("2026-11-02 10:05"));
  Put("y.bak", "2", T("2026-11-02 10:06"));
  EXPECT_EQ(Versions("y.bak"), (V{2}));
  ASSERT_TRUE(b_->ResetExcludes().ok());
  EXPECT_EQ(*b_->Excludes(), DefaultExcludes());
  EXPECT_EQ(b_->PolicyLog()->back().action, "exclude reset");
  // Made excluded after the fact: prune cuts it back to its current version.
  ASSERT_TRUE(b_->AddExclude("y.bak").ok());
  Put("keep.txt", "k", T("2026-11-02 10:07"));
  EXPECT_EQ(Versions("x.tmp"), (V{2, 3}));
  auto r = Prune(false, T("2026-11-03 00:00"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Versions("x.tmp"), (V{3}));
  EXPECT_EQ(r->files.at(0).why, "exclude");
}

// The editor pattern: content written as NAME.tmp (excluded) and renamed
// over NAME becomes NAME's next version; NAME's history is untouched.
TEST_F(PolicyBucketTest, AnAtomicSaveThroughAnExcludedTempKeepsTheTargetsHistory) {
  Put("doc.txt", "v1", T("2026-11-02 10:00"));
  Put("doc.txt", "v2", T("2026-11-02 10:01"));
  Put("doc.txt.tmp", "draft", T("2026-11-02 10:02"));
  Put("doc.txt.tmp", "v3", T("2026-11-02 10:03"));
  EXPECT_EQ(Versions("doc.txt.tmp"), (V{2}));
  now_ = T("2026-11-02 10:04");
  auto moved = b_->Rename(kRootInode, "doc.txt.tmp", kRootInode, "doc.txt", 0);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(Versions("doc.txt"), (V{1, 2, 3}));
  EXPECT_EQ(Get("doc.txt", 1), "v1");
  EXPECT_EQ(Get("doc.txt", 3), "v3");
  // The next commit of doc.txt adds a version as usual.
  Put("doc.txt", "v4", T("2026-11-02 10:05"));
  EXPECT_EQ(Versions("doc.txt"), (V{1, 2, 3, 4}));
}

// Emacs's first save renames doc to doc~ (excluded) and writes a new doc:
// the history doc had goes with the inode now named doc~ and must survive
// both the prune and the next commit of doc~, which drop only what was made
// under the excluded name.
TEST_F(PolicyBucketTest, AFileRenamedToAnExcludedNameKeepsTheHistoryItHad) {
  Put("doc", "v1", T("2026-11-02 10:00"));
  Put("doc", "v2", T("2026-11-02 10:01"));
  now_ = T("2026-11-02 10:02");
  ASSERT_TRUE(b_->Rename(kRootInode, "doc", kRootInode, "doc~", 0).ok());
  Put("doc", "v3", T("2026-11-02 10:03"));
  auto r = Prune(false, T("2026-11-03 00:00"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Versions("doc~"), (V{1, 2}));
  EXPECT_EQ(Get("doc~", 1), "v1");
  // Written under the excluded name: its versions made as doc~ are replaced,
  // those made as doc stay.
  Put("doc~", "b1", T("2026-11-02 10:04"));
  Put("doc~", "b2", T("2026-11-02 10:05"));
  EXPECT_EQ(Versions("doc~"), (V{1, 2, 4}));
  EXPECT_EQ(Get("doc~", 4), "b2");
  r = Prune(false, T("2026-11-03 00:00"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Versions("doc~"), (V{1, 2, 4}));
}

// A hard link with an excluded name (doc.tmp) does not make doc's commits
// replace its history: a name that keeps history wins.
TEST_F(PolicyBucketTest, AHardLinkWithAnExcludedNameDropsNoHistory) {
  VersionInfo first = Put("doc", "v1", T("2026-11-02 10:00"));
  Put("doc", "v2", T("2026-11-02 10:01"));
  now_ = T("2026-11-02 10:02");
  ASSERT_TRUE(b_->Link(first.ino, kRootInode, "doc.tmp").ok());
  Put("doc", "v3", T("2026-11-02 10:03"));
  EXPECT_EQ(Versions("doc"), (V{1, 2, 3}));
  auto r = Prune(false, T("2026-11-03 00:00"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Versions("doc"), (V{1, 2, 3}));
}

TEST_F(PolicyBucketTest, AReadOnlyBucketRefusesChangesButShowsThePolicy) {
  ASSERT_TRUE(b_->SetPolicy("", Rules({"keep-last=1"})).ok());
  Put("a", "1", T("2026-11-02 10:00"));
  Put("a", "2", T("2026-11-02 11:00"));
  Bucket::OpenOptions ro;
  ro.read_only = true;
  auto r = Bucket::Open(dir_.path() + "/b", ro);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Policy()->size(), 1u);
  EXPECT_EQ((*r)->SetPolicy("", Rules({"keep-last=2"})).code(), Status::Code::kReadOnly);
  EXPECT_EQ((*r)->AddExclude("*.x").code(), Status::Code::kReadOnly);
  PruneOptions o;
  EXPECT_EQ((*r)->Prune(o).status().code(), Status::Code::kReadOnly);
  o.dry_run = true;
  auto dry = (*r)->Prune(o);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->versions_removed, 1u);
}

// ---- the 4 -> 5 step on a catalog aged back to format 4

using catalog_aging::Schema;

class Migration5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = Catalog::Create(path_, {}, 0, 0);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    fresh_schema_ = Schema(path_);
    c->reset();
    catalog_aging::SegmentsToFormat6(path_);
    catalog_aging::RawExec(path_, catalog_aging::kChunksToFormat5);
    catalog_aging::RawExec(path_, catalog_aging::kPolicyToFormat4);
    ASSERT_EQ(catalog_aging::RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"),
              4);
    ASSERT_NE(Schema(path_), fresh_schema_);
  }
  testing_util::TempDir dir_{"migrate5"};
  std::string path_ = dir_.path() + "/catalog.db";
  std::string fresh_schema_;
};

TEST_F(Migration5Test, Format4GetsTheTablesAndTheDefaultExcludes) {
  EXPECT_EQ(Catalog::Open(path_, true).status().code(), Status::Code::kReadOnly);
  auto c = Catalog::Open(path_, false);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->format_version(), Catalog::kFormatVersion);
  EXPECT_EQ(*(*c)->Excludes(), DefaultExcludes());
  EXPECT_TRUE((*c)->PolicyRules()->empty());
  EXPECT_TRUE((*c)->PolicyLog()->empty());
  EXPECT_TRUE((*c)->CheckIntegrity().empty());
  c->reset();
  EXPECT_EQ(Schema(path_), fresh_schema_);  // exactly a new catalog's schema
}

TEST_F(Migration5Test, AFailedStepLeavesFormat4Untouched) {
  std::vector<catalog_format::MigrationStep> steps(catalog_format::MigrationSteps().begin(),
                                                   catalog_format::MigrationSteps().end());
  bool found = false;
  for (auto& step : steps) {
    if (step.from != 4) continue;
    found = true;
    auto real = step.apply;
    step.apply = [real](sql::Db& db) -> Status {
      RETURN_IF_ERROR(real(db));
      return Status::IOError("injected failure");
    };
  }
  ASSERT_TRUE(found);
  const std::string aged = Schema(path_);
  {
    catalog_testing::ScopedMigrationSteps scoped(steps);
    auto c = Catalog::Open(path_, false);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("left at format 4"), std::string::npos)
        << c.status().message();
  }
  EXPECT_EQ(catalog_aging::RawInt(path_, "SELECT value FROM meta WHERE key = 'format_version'"),
            4);
  EXPECT_EQ(Schema(path_), aged);
  auto c = Catalog::Open(path_, false);  // the next open migrates for real
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*(*c)->Excludes(), DefaultExcludes());
}

}  // namespace
}  // namespace katamari

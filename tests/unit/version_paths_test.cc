// fs/version_syntax and fs/version_paths through the Filesystem object,
// without a mount: what version paths name, their nodes and attributes,
// read-only-ness, deleting versions, and node bookkeeping.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fs/filesystem.h"
#include "fs/version_syntax.h"
#include "store/bucket.h"

namespace katamari::fs {
namespace {

// ------------------------------------------------------------------ syntax

TEST(VersionSyntaxTest, SplitsAtTheLastAt) {
  auto v = ParseVersionName("mail@host@3");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->base, "mail@host");
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kNumber);
  EXPECT_EQ(v->suffix.value, 3u);

  v = ParseVersionName("f@");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kHistory);
  v = ParseVersionName("f@-2");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kBack);
  EXPECT_EQ(v->suffix.value, 2u);
  v = ParseVersionName("@2026-11-25T10:00:00Z");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->base, "");
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kTime);

  v = ParseVersionName("f@2026-11-25T11:00+01:00");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kTime);
  EXPECT_EQ(v->suffix.time_ns, 1795600800LL * 1000000000);
  v = ParseVersionName("f@unix:1795600800");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->base, "f");
  EXPECT_EQ(v->suffix.kind, VersionSuffix::Kind::kTime);
  EXPECT_EQ(v->suffix.time_ns, 1795600800LL * 1000000000);

  for (const char* bad : {"plain", "f@0", "f@007", "f@-0", "f@-", "f@x", "a@b", "f@1.5",
                          "f@2026-11-25T10Z", "f@+1", "f@yesterday", "f@unix:", "f@unix:-1",
                          "f@2026-11-25T10:00"}) {
    EXPECT_FALSE(ParseVersionName(bad)) << bad;
  }
}

TEST(VersionSyntaxTest, ParsesUtcMoments) {
  const int64_t s = 1000000000;
  // 2026-11-25T10:00:00Z = 1795600800
  EXPECT_EQ(ParseUtcTime("2026-11-25T10:00:00Z"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T10:00Z"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T10:00:00.5Z"), 1795600800 * s + 500000000);
  // A bare date is the last nanosecond of that day.
  EXPECT_EQ(ParseUtcTime("2026-11-25"), (1795564800 + 86400) * s - 1);
  for (const char* bad : {"2026-02-30", "2026-13-01", "2026-11-25T24:00Z", "2026-11-25T10:00",
                          "2026-11-25T10:00:00.Z", "2026-11-25T10:00:00.1234567890Z", "26-11-25",
                          "2026-11-25 10:00Z", ""}) {
    EXPECT_FALSE(ParseUtcTime(bad)) << bad;
  }
  // Offsets from UTC: the same moment in other spellings.
  EXPECT_EQ(ParseUtcTime("2026-11-25T10:00+00:00"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T11:00:00+01:00"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T05:30-0430"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T12:00+02"), 1795600800 * s);
  EXPECT_EQ(ParseUtcTime("2026-11-25T10:00:00.5z"), 1795600800 * s + 500000000);
  EXPECT_EQ(ParseUtcTime("2026-11-25T01:00-09:00"), 1795600800 * s);
  for (const char* bad : {"2026-11-25T10:00+24:00", "2026-11-25T10:00+01:60", "2026-11-25T10:00+1",
                          "2026-11-25T10:00+01:0", "2026-11-25T10:00+01:00Z", "2026-11-25+01:00"}) {
    EXPECT_FALSE(ParseUtcTime(bad)) << bad;
  }
  EXPECT_EQ(ParseUnixTime("1795600800"), 1795600800 * s);
  EXPECT_EQ(ParseUnixTime("1795600800.25"), 1795600800 * s + 250000000);
  EXPECT_EQ(ParseTimeSpec("unix:1795600800"), 1795600800 * s);
  EXPECT_EQ(ParseTimeSpec("@1795600800"), 1795600800 * s);
  EXPECT_EQ(ParseTimeSpec("2026-11-25T11:00+01:00"), 1795600800 * s);
  for (const char* bad : {"", "-5", "+5", "1.", "12x", "unix:"}) {
    EXPECT_FALSE(ParseUnixTime(bad)) << bad;
  }
  EXPECT_EQ(ParseUtcTime("2999-01-01T00:00:00Z"), INT64_MAX);  // beyond int64 ns: latest
  EXPECT_EQ(FormatUtcTime(1795600800 * s), "2026-11-25T10:00:00Z");
  EXPECT_EQ(FormatUtcTime(1795600800 * s + 5), "2026-11-25T10:00:00.000000005Z");
  EXPECT_EQ(ParseUtcTime(FormatUtcTime(1795600800 * s + 5)), 1795600800 * s + 5);
}

// -------------------------------------------------------- through Filesystem

class VersionPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/katamari-vp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(Bucket::Create(dir_ + "/b", BucketSettings{}).ok());
    auto b = Bucket::Open(dir_ + "/b", {});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bucket_ = std::move(b).value();
    FilesystemOptions opts;
    opts.log = [](const std::string&) {};
    opts.invalidate = [this](uint64_t node) { invalidated_.push_back(node); };
    fs_ = std::make_unique<Filesystem>(*bucket_, opts);
    ASSERT_TRUE(fs_->Init().ok());
  }
  void TearDown() override {
    fs_.reset();
    bucket_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `data` as a new version of `name` in the root (create or O_TRUNC);
  // a new file gets `mode` and `who` as its owner.
  uint64_t Save(const std::string& name, const std::string& data, uint32_t mode = 0644,
                Caller who = Caller{}) {
    auto found = fs_->Lookup(1, name);
    Result<OpenedFile> o = found.ok() ? fs_->Open(found->node, O_WRONLY | O_TRUNC)
                                      : fs_->Create(1, name, mode, O_CREAT | O_WRONLY, who);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_TRUE(fs_->Write(o->fh, 0, data).ok());
    EXPECT_TRUE(fs_->Flush(o->fh).ok());
    EXPECT_TRUE(fs_->Release(o->fh).ok());
    return o->entry.node;
  }

  std::string ReadAll(uint64_t node) {
    auto o = fs_->Open(node, O_RDONLY);
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    if (!o.ok()) return "";
    std::string buf(1 << 16, '\0');
    auto r = fs_->Read(o->fh, 0, buf.size(), buf.data());
    EXPECT_TRUE(r.ok());
    buf.resize(r.ok() ? *r : 0);
    EXPECT_TRUE(fs_->Flush(o->fh).ok());
    EXPECT_TRUE(fs_->Release(o->fh).ok());
    return buf;
  }

  // Content at `path` below the root ("f@2", "f@/2", "@T/d/x"), looked up
  // and forgotten again.
  Result<std::string> Cat(const std::string& path) {
    std::vector<uint64_t> looked;
    uint64_t node = 1;
    size_t start = 0;
    while (start <= path.size()) {
      size_t slash = path.find('/', start);
      if (slash == std::string::npos) slash = path.size();
      auto e = fs_->Lookup(node, path.substr(start, slash - start));
      if (!e.ok()) {
        for (uint64_t n : looked) fs_->Forget(n, 1);
        return e.status();
      }
      looked.push_back(e->node);
      node = e->node;
      start = slash + 1;
    }
    std::string out = ReadAll(node);
    for (uint64_t n : looked) fs_->Forget(n, 1);
    return out;
  }

  std::vector<std::string> List(uint64_t dir_node) {
    auto fh = fs_->OpenDir(dir_node);
    EXPECT_TRUE(fh.ok()) << fh.status().ToString();
    std::vector<std::string> names;
    if (!fh.ok()) return names;
    auto entries = fs_->DirEntries(*fh, false);
    EXPECT_TRUE(entries.ok());
    for (const DirEntry& d : **entries) {
      if (d.name != "." && d.name != "..") names.push_back(d.name);
    }
    EXPECT_TRUE(fs_->ReleaseDir(*fh).ok());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::unique_ptr<Bucket> bucket_;
  std::unique_ptr<Filesystem> fs_;
  std::vector<uint64_t> invalidated_;
};

TEST_F(VersionPathsTest, VersionsByNumberBackAndHistory) {
  uint64_t f = Save("f", "one");
  Save("f", "two!");
  Save("f", "three");
  EXPECT_EQ(*Cat("f@1"), "one");
  EXPECT_EQ(*Cat("f@2"), "two!");
  EXPECT_EQ(*Cat("f@-1"), "two!");
  EXPECT_EQ(*Cat("f@-2"), "one");
  EXPECT_EQ(*Cat("f@/3"), "three");
  EXPECT_TRUE(Cat("f@4").status().IsNotFound());
  EXPECT_TRUE(Cat("f@-3").status().IsNotFound());
  EXPECT_TRUE(Cat("f@/x").status().IsNotFound());

  auto v2 = fs_->Lookup(1, "f@2");
  ASSERT_TRUE(v2.ok());
  EXPECT_TRUE(IsVirtualNode(v2->node));
  EXPECT_EQ(v2->attr.ino.value, v2->node);  // st_ino is its own, not the live file's
  EXPECT_NE(v2->attr.ino.value, f);
  EXPECT_EQ(v2->attr.size, 4u);
  EXPECT_EQ(v2->attr.mode, 0444u);
  EXPECT_EQ(v2->entry_timeout, 0.0);  // what names in live directories mean moves

  auto hist = fs_->Lookup(1, "f@");
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(hist->attr.kind, FileKind::kDirectory);
  EXPECT_EQ(hist->attr.mode, 0755u);  // r -> r-x, plus the file's own write bits
  EXPECT_EQ(List(hist->node), (std::vector<std::string>{"1", "2", "3"}));
  auto listed = fs_->OpenDir(hist->node);
  ASSERT_TRUE(listed.ok());
  auto entries = fs_->DirEntries(*listed, false);
  ASSERT_TRUE(entries.ok());
  auto e = fs_->ListingEntry((**entries)[3].ino);  // "2"
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->node, v2->node);  // the same version, the same node
  EXPECT_EQ(e->attr.size, 4u);
  ASSERT_TRUE(fs_->ReleaseDir(*listed).ok());

  // Not listed in the real directory.
  EXPECT_EQ(List(1), (std::vector<std::string>{"f"}));
}

TEST_F(VersionPathsTest, RealEntryWinsAndDeletedFilesKeepTheirPaths) {
  Save("me@2", "real");
  Save("me", "v1");
  Save("me", "v2");
  EXPECT_EQ(*Cat("me@2"), "real");
  EXPECT_EQ(*Cat("me@/2"), "v2");
  ASSERT_TRUE(fs_->Unlink(1, "me@2").ok());  // the real file
  EXPECT_EQ(*Cat("me@2"), "v2");
  ASSERT_TRUE(fs_->Unlink(1, "me").ok());
  EXPECT_EQ(*Cat("me@1"), "v1");  // history kept after rm
  Save("me", "v3");
  EXPECT_EQ(*Cat("me@3"), "v3");  // numbering continues
  Save("q", "q1");
  ASSERT_TRUE(fs_->Rename(1, "q", 1, "q2", 0).ok());
  EXPECT_TRUE(Cat("q@1").status().IsNotFound());  // renamed away: under its new name
  EXPECT_EQ(*Cat("q2@1"), "q1");
}

TEST_F(VersionPathsTest, TimeViewsAreOneSnapshot) {
  Save("keep", "k");
  ASSERT_TRUE(fs_->MakeDir(1, "d", 0755, Caller{}).ok());
  Save("f", "old");
  auto v1 = bucket_->GetVersion(InodeId(fs_->Lookup(1, "f")->node), VersionNo(1));
  ASSERT_TRUE(v1.ok());
  std::string t = FormatUtcTime(v1->commit_time_ns);  // exact: includes that commit
  Save("f", "new");
  Save("later", "l");
  ASSERT_TRUE(fs_->Unlink(1, "keep").ok());
  ASSERT_TRUE(fs_->RemoveDir(1, "d").ok());

  auto view = fs_->Lookup(1, "@" + t);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->attr.kind, FileKind::kDirectory);
  EXPECT_EQ(view->attr.mode, 0755u);  // the root's current mode, write bits kept
  EXPECT_EQ(List(view->node), (std::vector<std::string>{"d", "f", "keep"}));
  EXPECT_EQ(*Cat("@" + t + "/f"), "old");
  EXPECT_EQ(*Cat("@" + t + "/keep"), "k");
  EXPECT_EQ(*Cat("f@" + t), "old");
  EXPECT_TRUE(Cat("@" + t + "/f@-1").status().IsNotFound());  // no version before v1 then
  EXPECT_TRUE(Cat("@" + t + "/later").status().IsNotFound());
  auto d = fs_->Lookup(view->node, "d");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(IsVirtualNode(d->node));
  EXPECT_EQ(List(d->node), std::vector<std::string>{});
  EXPECT_TRUE(Cat("@2000-01-01/f").status().IsNotFound());
}

TEST_F(VersionPathsTest, AFileWhoseVersionsOfAMomentWereAllPrunedIsNotInItsView) {
  Save("other", "o");
  uint64_t f = Save("f", "old");
  auto v1 = bucket_->GetVersion(InodeId(f), VersionNo(1));
  ASSERT_TRUE(v1.ok());
  std::string t = FormatUtcTime(v1->commit_time_ns);
  Save("f", "new");
  EXPECT_EQ(*Cat("f@" + t), "old");
  ASSERT_TRUE(bucket_->DeleteVersion(InodeId(f), VersionNo(1)).ok());  // as prune does
  // No version of f is left from that moment: the view does not show it
  // (never as an empty file), the live file and later moments still do.
  EXPECT_TRUE(Cat("@" + t + "/f").status().IsNotFound());
  EXPECT_TRUE(Cat("f@" + t).status().IsNotFound());
  auto view = fs_->Lookup(1, "@" + t);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(List(view->node), (std::vector<std::string>{"other"}));
  EXPECT_EQ(*Cat("f"), "new");
  auto v2 = bucket_->GetVersion(InodeId(f), VersionNo(2));
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*Cat("f@" + FormatUtcTime(v2->commit_time_ns)), "new");
}

TEST_F(VersionPathsTest, EverythingButDeletingIsReadOnly) {
  Save("f", "one");
  Save("f", "two");
  auto v1 = fs_->Lookup(1, "f@1");
  auto hist = fs_->Lookup(1, "f@");
  ASSERT_TRUE(v1.ok() && hist.ok());
  auto code = [](const Status& st) { return st.code(); };
  const auto kRo = Status::Code::kReadOnly;
  EXPECT_EQ(code(fs_->Open(v1->node, O_WRONLY).status()), kRo);
  EXPECT_EQ(code(fs_->Open(v1->node, O_RDONLY | O_TRUNC).status()), kRo);
  AttrUpdate chmod;
  chmod.mode = 0600;
  EXPECT_EQ(code(fs_->SetAttr(v1->node, chmod, std::nullopt).status()), kRo);
  EXPECT_EQ(code(fs_->SetXattr(v1->node, "user.x", "1", 0)), kRo);
  EXPECT_EQ(code(fs_->RemoveXattr(v1->node, "user.x")), kRo);
  EXPECT_EQ(code(fs_->Create(hist->node, "new", 0644, O_CREAT | O_WRONLY, Caller{}).status()), kRo);
  EXPECT_EQ(code(fs_->MakeDir(hist->node, "d", 0755, Caller{}).status()), kRo);
  EXPECT_EQ(code(fs_->Link(v1->node, 1, "hard").status()), kRo);
  EXPECT_EQ(code(fs_->Rename(1, "f@1", 1, "g", 0)), kRo);
  Save("other", "o");
  EXPECT_EQ(code(fs_->Rename(1, "other", 1, "f@1", 0)), kRo);
  EXPECT_EQ(code(fs_->RemoveDir(1, "f@")), Status::Code::kNotEmpty);
  EXPECT_EQ(*Cat("f"), "two");
}

TEST_F(VersionPathsTest, DeletingVersionsAndWholeHistories) {
  uint64_t f = Save("f", "one");
  Save("f", "two");
  Save("f", "three");
  auto live = fs_->Lookup(1, "f");
  ASSERT_TRUE(live.ok());
  invalidated_.clear();
  ASSERT_TRUE(fs_->Unlink(1, "f@3").ok());  // the current one
  EXPECT_EQ(*Cat("f"), "two");
  EXPECT_NE(std::find(invalidated_.begin(), invalidated_.end(), f), invalidated_.end())
      << "the live file's cached content was not invalidated";
  auto hist = fs_->Lookup(1, "f@");
  ASSERT_TRUE(hist.ok());
  ASSERT_TRUE(fs_->Unlink(hist->node, "1").ok());
  EXPECT_EQ(List(hist->node), std::vector<std::string>{"2"});

  // rm -r of the history of a deleted file: entries, then the directory.
  Save("g", "g1");
  Save("g", "g2");
  ASSERT_TRUE(fs_->Unlink(1, "g").ok());
  auto gh = fs_->Lookup(1, "g@");
  ASSERT_TRUE(gh.ok());
  for (const std::string& n : List(gh->node)) ASSERT_TRUE(fs_->Unlink(gh->node, n).ok());
  auto again = fs_->Lookup(1, "g@");  // rm's rmdir looks it up once more
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->node, gh->node);
  ASSERT_TRUE(fs_->RemoveDir(1, "g@").ok());
  EXPECT_TRUE(fs_->Lookup(1, "g@").status().IsNotFound());
  fs_->Forget(gh->node, 2);
}

TEST_F(VersionPathsTest, XattrsOfVersions) {
  uint64_t f = Save("f", "one");
  ASSERT_TRUE(fs_->SetXattr(f, "user.color", "red", 0).ok());
  Save("f", "two");
  auto v1 = fs_->Lookup(1, "f@1");
  auto v2 = fs_->Lookup(1, "f@2");
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_TRUE(fs_->GetXattr(v1->node, "user.color").status().IsNotFound());
  EXPECT_EQ(*fs_->GetXattr(v2->node, "user.color"), "red");
  EXPECT_EQ(*fs_->ListXattr(v2->node), std::string("user.color\0", 11));
  auto info = bucket_->GetVersion(InodeId(f), VersionNo(1));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(*fs_->GetXattr(v1->node, "user.katamari.sha256"), info->sha256.Hex());
  EXPECT_EQ(*fs_->GetXattr(v1->node, "user.katamari.version"), "1");
  EXPECT_EQ(*fs_->GetXattr(v1->node, "user.katamari.mtime"), FormatUtcTime(info->mtime_ns));
  EXPECT_EQ(*fs_->GetXattr(v1->node, "user.katamari.stored_size"),
            std::to_string(info->stored_size));
}

TEST_F(VersionPathsTest, NodesGoWhenForgottenAndKeepTheirIds) {
  Save("f", "one");
  Save("f", "two");
  auto a = fs_->Lookup(1, "f@1");
  ASSERT_TRUE(a.ok());
  auto b = fs_->Lookup(1, "f@-1");  // the same version: the same node
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->node, b->node);
  auto hist = fs_->Lookup(1, "f@");
  ASSERT_TRUE(hist.ok());
  auto listed = fs_->OpenDir(hist->node);
  ASSERT_TRUE(listed.ok());
  auto entries = fs_->DirEntries(*listed, false);
  ASSERT_TRUE(entries.ok());
  fs_->AddLookup((**entries)[3].ino.value);  // readdirplus handed "2" out
  ASSERT_TRUE(fs_->ReleaseDir(*listed).ok());
  fs_->Forget(a->node, 2);
  fs_->Forget(hist->node, 1);
  fs_->Forget((**entries)[3].ino.value, 1);
  EXPECT_TRUE(fs_->GetAttr(a->node).status().IsNotFound());
  EXPECT_TRUE(fs_->GetAttr(hist->node).status().IsNotFound());
  EXPECT_TRUE(fs_->GetAttr((**entries)[3].ino.value).status().IsNotFound());  // "2"
  auto again = fs_->Lookup(1, "f@1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->node, a->node);  // a stable st_ino
}

// ------------------------------------------------------------- permissions

// Version nodes show the owner, group and mode recorded with each version
// (minus write bits); entries of time views show them with write bits, so
// `cp -a` of a view restores modes. Setuid/setgid are never shown.
TEST_F(VersionPathsTest, VersionNodesShowTheirRecordedOwnerAndMode) {
  uint64_t f = Save("f", "one", 0640, Caller{0, 0});
  auto v1 = bucket_->GetVersion(InodeId(f), VersionNo(1));
  ASSERT_TRUE(v1.ok());
  std::string t1 = FormatUtcTime(v1->commit_time_ns);
  Save("f", "two");
  AttrUpdate chown;  // restamps version 2, the current one, not version 1
  chown.mode = 04705;
  chown.uid = 1000;
  chown.gid = 1001;
  ASSERT_TRUE(fs_->SetAttr(f, chown, std::nullopt).ok());
  Save("f", "three");
  auto v2 = bucket_->GetVersion(InodeId(f), VersionNo(3));
  ASSERT_TRUE(v2.ok());

  auto attr_of = [&](const std::string& path) -> Attr {
    std::vector<uint64_t> looked;
    uint64_t node = 1;
    for (size_t start = 0; start <= path.size();) {
      size_t slash = std::min(path.find('/', start), path.size());
      auto e = fs_->Lookup(node, path.substr(start, slash - start));
      EXPECT_TRUE(e.ok()) << path << ": " << e.status().ToString();
      if (!e.ok()) break;
      looked.push_back(e->node);
      node = e->node;
      start = slash + 1;
    }
    auto a = fs_->GetAttr(node);
    EXPECT_TRUE(a.ok()) << path;
    for (uint64_t n : looked) fs_->Forget(n, 1);
    return a.ok() ? *a : Attr{};
  };
  for (const std::string& p : std::vector<std::string>{"f@1", "f@-2", "f@/1", "f@" + t1}) {
    Attr a = attr_of(p);
    EXPECT_EQ(a.uid, 0u) << p;
    EXPECT_EQ(a.gid, 0u) << p;
    EXPECT_EQ(a.mode, 0440u) << p;  // 0640 as recorded, minus w
  }
  for (const std::string& p : std::vector<std::string>{"f@2", "f@-1", "f@/2", "f@3"}) {
    Attr a = attr_of(p);
    EXPECT_EQ(a.uid, 1000u) << p;
    EXPECT_EQ(a.gid, 1001u) << p;
    EXPECT_EQ(a.mode, 0505u) << p;  // 04705 minus setuid and w
  }
  Attr in_view = attr_of("@" + t1 + "/f");
  EXPECT_EQ(in_view.uid, 0u);
  EXPECT_EQ(in_view.mode, 0640u);  // as it was then, write bits kept
  Attr now = attr_of("@" + FormatUtcTime(v2->commit_time_ns) + "/f");
  EXPECT_EQ(now.uid, 1000u);
  EXPECT_EQ(now.mode, 0705u);  // setuid is never shown

  // The listing of a view hands out the same attributes (readdirplus).
  auto view = fs_->Lookup(1, "@" + t1);
  ASSERT_TRUE(view.ok());
  auto fh = fs_->OpenDir(view->node);
  ASSERT_TRUE(fh.ok());
  auto entries = fs_->DirEntries(*fh, false);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ((*entries)->size(), 3u);
  auto e = fs_->ListingEntry((**entries)[2].ino);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->attr.mode, 0640u);
  EXPECT_EQ(e->attr.uid, 0u);
  ASSERT_TRUE(fs_->ReleaseDir(*fh).ok());
  fs_->Forget(view->node, 1);
}

// Reading a version needs read permission under its recorded owner/mode
// and the live file's current ones: a later owner of the name (revived or
// renamed over) never reads what was not theirs, tightening protects.
TEST_F(VersionPathsTest, ReadingAVersionNeedsPermissionUnderBothOwners) {
  const Caller root{0, 0};
  const Caller nobody{65534, 65534};
  Save("secret", "root's secret", 0600, root);
  ASSERT_TRUE(fs_->Unlink(1, "secret").ok());
  Save("secret", "mine", 0644, nobody);  // revives the history, owned by nobody
  auto v1 = fs_->Lookup(1, "secret@1");
  auto v2 = fs_->Lookup(1, "secret@2");
  ASSERT_TRUE(v1.ok() && v2.ok());
  EXPECT_EQ(v1->attr.uid, 0u);
  EXPECT_EQ(v1->attr.mode, 0400u);
  EXPECT_EQ(v2->attr.uid, 65534u);
  auto denied = fs_->Open(v1->node, O_RDONLY, nobody);
  EXPECT_EQ(denied.status().code(), Status::Code::kPermission) << denied.status().ToString();
  EXPECT_EQ(fs_->GetXattr(v1->node, "user.katamari.sha256", nobody).status().code(),
            Status::Code::kPermission);
  EXPECT_EQ(*Cat("secret@1"), "root's secret");  // root reads everything
  auto own = fs_->Open(v2->node, O_RDONLY, nobody);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  ASSERT_TRUE(fs_->Release(own->fh).ok());

  // Renaming a file of one's own over someone else's.
  Save("victim", "root's data", 0600, root);
  Save("mine", "x", 0644, nobody);
  ASSERT_TRUE(fs_->Rename(1, "mine", 1, "victim", 0).ok());
  auto old = fs_->Lookup(1, "victim@1");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->attr.uid, 0u);
  EXPECT_EQ(fs_->Open(old->node, O_RDONLY, nobody).status().code(), Status::Code::kPermission);
  EXPECT_EQ(*Cat("victim@1"), "root's data");

  // Tightening the live file protects versions recorded as readable.
  uint64_t g = Save("g", "public once", 0644, root);
  auto g1 = fs_->Lookup(1, "g@1");
  ASSERT_TRUE(g1.ok());
  auto open = fs_->Open(g1->node, O_RDONLY, nobody);
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(fs_->Release(open->fh).ok());
  AttrUpdate tighten;
  tighten.mode = 0600;
  ASSERT_TRUE(fs_->SetAttr(g, tighten, std::nullopt).ok());
  EXPECT_EQ(fs_->Open(g1->node, O_RDONLY, nobody).status().code(), Status::Code::kPermission);
  // ...also once the file is deleted (its last mode), and once someone else
  // revives the name (the history is narrowed to that last mode).
  ASSERT_TRUE(fs_->Unlink(1, "g").ok());
  EXPECT_EQ(fs_->Open(g1->node, O_RDONLY, nobody).status().code(), Status::Code::kPermission);
  Save("g", "nobody's now", 0644, nobody);
  auto g1_again = fs_->Lookup(1, "g@1");
  ASSERT_TRUE(g1_again.ok());
  EXPECT_EQ(g1_again->attr.mode, 0400u);  // not nobody's 0644
  EXPECT_EQ(fs_->Open(g1->node, O_RDONLY, nobody).status().code(), Status::Code::kPermission);
  EXPECT_EQ(*Cat("g@1"), "public once");

  // Group permission counts supplementary groups.
  uint64_t h = Save("h", "group", 0640, Caller{0, 4321});
  (void)h;
  auto h1 = fs_->Lookup(1, "h@1");
  ASSERT_TRUE(h1.ok());
  EXPECT_EQ(fs_->Open(h1->node, O_RDONLY, nobody).status().code(), Status::Code::kPermission);
  Caller member{65534, 65534, {27, 4321}};
  open = fs_->Open(h1->node, O_RDONLY, member);
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  ASSERT_TRUE(fs_->Release(open->fh).ok());
}

// Deleting a version needs write permission on the file, and on the version
// as recorded unless the caller recorded it: not only on the directory.
TEST_F(VersionPathsTest, DeletingAVersionNeedsWritePermissionOnTheFile) {
  const Caller root{0, 0};
  const Caller nobody{65534, 65534};
  Save("rootfile", "one", 0644, root);
  Save("rootfile", "two");
  auto code = [](const Status& st) { return st.code(); };
  EXPECT_EQ(code(fs_->Unlink(1, "rootfile@1", nobody)), Status::Code::kPermission);
  auto hist = fs_->Lookup(1, "rootfile@");
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(code(fs_->Unlink(hist->node, "1", nobody)), Status::Code::kPermission);
  EXPECT_EQ(List(hist->node), (std::vector<std::string>{"1", "2"}));

  // A revived name: nobody owns the file, but only its own versions.
  Save("secret", "root's", 0600, root);
  ASSERT_TRUE(fs_->Unlink(1, "secret").ok());
  Save("secret", "nobody's", 0644, nobody);
  EXPECT_EQ(code(fs_->Unlink(1, "secret@1", nobody)), Status::Code::kPermission);
  EXPECT_TRUE(fs_->Unlink(1, "secret@2", nobody).ok());
  EXPECT_EQ(*Cat("secret@1"), "root's");
  // A deleted file answers to its last owner and mode.
  ASSERT_TRUE(fs_->Unlink(1, "rootfile").ok());
  EXPECT_EQ(code(fs_->Unlink(1, "rootfile@2", nobody)), Status::Code::kPermission);
  EXPECT_TRUE(fs_->Unlink(1, "rootfile@2", root).ok());
  // The owner of a writable file deletes its history, rmdir included.
  Save("own", "a", 0644, nobody);
  Save("own", "b");
  auto oh = fs_->Lookup(1, "own@");
  ASSERT_TRUE(oh.ok());
  for (const std::string& n : List(oh->node)) {
    ASSERT_TRUE(fs_->Unlink(oh->node, n, nobody).ok()) << n;
  }
  EXPECT_TRUE(fs_->RemoveDir(1, "own@", nobody).ok());
  fs_->Forget(oh->node, 1);
  fs_->Forget(hist->node, 1);
}

}  // namespace
}  // namespace katamari::fs

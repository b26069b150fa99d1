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

  for (const char* bad : {"plain", "f@0", "f@007", "f@-0", "f@-", "f@x", "a@b", "f@1.5",
                          "f@2026-11-25T10Z", "f@+1"}) {
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

  // Writes `data` as a new version of `name` in the root (create or O_TRUNC).
  uint64_t Save(const std::string& name, const std::string& data) {
    auto found = fs_->Lookup(1, name);
    Result<OpenedFile> o = found.ok() ? fs_->Open(found->node, O_WRONLY | O_TRUNC)
                                      : fs_->Create(1, name, 0644, O_CREAT | O_WRONLY, Caller{});
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
  EXPECT_EQ(view->attr.mode, 0555u);
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

}  // namespace
}  // namespace katamari::fs

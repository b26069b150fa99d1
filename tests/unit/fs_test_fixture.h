// The Filesystem test fixture shared by fs_test.cc and fs_rename_test.cc: a
// Filesystem on a real temporary bucket, and helpers that drive it as the
// kernel would.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "fs/filesystem.h"
#include "store/bucket.h"
#include "tests/unit/test_util.h"

namespace katamari::fs {

class FilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenBucket(BucketSettings{}); }

  void OpenBucket(const BucketSettings& settings) {
    fs_.reset();
    bucket_.reset();
    std::string dir = tmp_.path() + "/b" + std::to_string(++buckets_);
    ASSERT_TRUE(Bucket::Create(dir, settings).ok());
    auto b = Bucket::Open(dir, {});
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    bucket_ = std::move(b).value();
    FilesystemOptions opts;
    opts.log = [](const std::string&) {};
    opts.invalidate = [this](uint64_t node) { invalidated_.push_back(node); };
    fs_ = std::make_unique<Filesystem>(*bucket_, opts);
    ASSERT_TRUE(fs_->Init().ok());
  }

  Entry MustCreate(const std::string& name, uint64_t* fh, uint64_t parent = 1) {
    auto o = fs_->Create(parent, name, 0644, O_CREAT | O_RDWR, Caller{});
    EXPECT_TRUE(o.ok()) << o.status().ToString();
    *fh = o->fh;
    return o->entry;
  }

  void MustWrite(uint64_t fh, uint64_t off, const std::string& data) {
    auto w = fs_->Write(fh, off, data);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_EQ(*w, data.size());
  }

  std::string ReadFh(uint64_t fh, uint64_t off = 0, size_t n = 1 << 20) {
    std::string buf(n, '\0');
    auto r = fs_->Read(fh, off, n, buf.data());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    buf.resize(r.ok() ? *r : 0);
    return buf;
  }

  void Close(uint64_t fh) {
    ASSERT_TRUE(fs_->Flush(fh).ok());
    ASSERT_TRUE(fs_->Release(fh).ok());
  }

  size_t VersionCount(uint64_t ino) {
    auto v = bucket_->ListVersions(InodeId(ino));
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v->size() : 0;
  }

  std::string Committed(uint64_t ino) {
    auto attr = bucket_->GetAttr(InodeId(ino));
    EXPECT_TRUE(attr.ok());
    if (!attr.ok() || attr->current_version.value == 0) return "";
    auto r = bucket_->OpenVersion(InodeId(ino), attr->current_version);
    EXPECT_TRUE(r.ok());
    std::string out(attr->size, '\0');
    size_t got = 0;
    EXPECT_TRUE((*r)->ReadAt(0, out.size(), out.data(), &got).ok());
    out.resize(got);
    return out;
  }

  testing_util::TempDir tmp_;
  int buckets_ = 0;
  std::unique_ptr<Bucket> bucket_;
  std::unique_ptr<Filesystem> fs_;
  std::vector<uint64_t> invalidated_;
};

}  // namespace katamari::fs

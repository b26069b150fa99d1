// HistoryModel: Catalog::History indexed in memory for the whole-tree
// commands (bucket_history.cc, bucket_tree_restore.cc). Private to store/.
//
// Paths: a key as the CLI takes it ("docs/a.txt"); "" is the root. An
// inode's path is the one its live name gives, else the one its last closed
// name gave (a deleted file), with its directories' paths found the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/catalog.h"

namespace katamari {

// "/a/b/", "a/b", "./a/b" -> "a/b"; "", "/", "." -> "". InvalidArgument for
// empty, "." or ".." components inside.
Result<std::string> NormalizeTreePath(std::string_view path);
// `path` is `under` or inside it ("" contains everything).
bool PathIsUnder(std::string_view path, std::string_view under);

class HistoryModel {
 public:
  explicit HistoryModel(Catalog::History h);

  const Catalog::History& history() const { return h_; }
  Seq seq() const { return h_.seq; }
  const Catalog::HistoryInode* Inode(InodeId ino) const;
  // The versions of `ino`, oldest first.
  std::pair<const Catalog::HistoryVersion*, const Catalog::HistoryVersion*> Versions(
      InodeId ino) const;
  // The version current at `at`: the newest existing one with seq <= at.
  const Catalog::HistoryVersion* VersionAt(InodeId ino, Seq at) const;
  bool Live(InodeId ino) const;  // has a live name (the root always)
  const std::string& PathOf(InodeId ino);  // see the file comment
  // Entries of `dir` visible at `at` (docs/catalog.md, dentries: seq_start
  // <= at < seq_end), by name.
  std::vector<const Catalog::HistoryDentry*> Children(InodeId dir, Seq at) const;
  // The inode `path` names at `at`, if any.
  std::optional<InodeId> ResolveAt(std::string_view path, Seq at) const;

 private:
  Catalog::History h_;
  std::unordered_map<uint64_t, size_t> inode_index_;
  std::unordered_map<uint64_t, std::pair<size_t, size_t>> version_range_;
  std::unordered_map<uint64_t, std::vector<size_t>> names_of_;     // ino -> dentries
  std::unordered_map<uint64_t, std::vector<size_t>> children_of_;  // parent -> dentries
  std::unordered_map<uint64_t, std::string> path_memo_;
};

}  // namespace katamari

// Private parts of VersionPaths shared by version_paths.cc (names) and
// version_nodes.cc (the node table, attributes, reads, listings, xattrs).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fs/version_paths.h"

namespace katamari::fs {

struct VersionPaths::Node {
  explicit Node(const Key& k) : key(k) {}
  const Key key;
  uint64_t nlookup = 0;  // kernel lookups not yet forgotten
  uint32_t opens = 0;    // open file and directory handles on it
  uint32_t pins = 0;     // open listings naming it (their entries carry its id)
  // kHistory: the name it was reached by, and whether its last version was
  // deleted through it so that the file is gone from the catalog. Such a
  // node keeps answering NAME@ (empty) until its rmdir, which `rm -r` does
  // right after emptying it.
  std::string base;
  bool emptied = false;
  Attr last;  // attributes served last (what an emptied history shows)
};

struct VersionPaths::Target {
  Key key;
  std::string base;
  bool tombstone = false;  // an emptied history (see Node::emptied)
};

// A reader of one version, shared by nothing: VersionReader is
// thread-compatible, hence the mutex.
struct VersionPaths::FileHandle {
  uint64_t node = 0;
  std::mutex mu;
  std::unique_ptr<VersionReader> reader;  // nullptr: no version, empty
};

struct VersionPaths::DirHandle {
  uint64_t node = 0;
  std::shared_ptr<const std::vector<DirEntry>> entries;  // guarded by VersionPaths::mu_
  std::vector<uint64_t> pinned;                          // guarded by VersionPaths::mu_
  bool consumed = false;                                 // guarded by VersionPaths::mu_
};

}  // namespace katamari::fs

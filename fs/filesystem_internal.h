// Private parts of Filesystem shared by filesystem.cc, file_ops.cc and
// dir_ops.cc. Not for use outside fs/.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fs/filesystem.h"
#include "fs/read_ahead.h"
#include "fs/write_session.h"

namespace katamari::fs {

// The reader of one committed version, shared by the handles of a node that
// read without a session (fs/read_ahead.h; thread-safe).
struct Filesystem::ReaderSlot {
  std::shared_ptr<ReadAhead> reader;  // nullptr: the version is empty (no version yet)
  VersionNo version;
};

// One node id the kernel knows (see the header comment of filesystem.h).
struct Filesystem::Node {
  explicit Node(uint64_t id) : id(id), target(id) {}
  Node(uint64_t id, InodeId target) : id(id), target(target) {}
  const uint64_t id;
  // Held while a commit resolves `target` and commits this node's session,
  // and while a rename merges this node's inode away or over it (at most two
  // nodes, in address order). Before Filesystem::mu_ in the lock order.
  std::mutex commit_mu;
  // Guarded by Filesystem::mu_:
  InodeId target;        // catalog inode behind this node id
  uint64_t nlookup = 0;  // kernel lookups not yet forgotten
  uint32_t opens = 0;    // open file and directory handles
  // Replaced by a rename merge: `target` now holds another file's content
  // (the renamed one, presented by another node). This node is the old file
  // the kernel considers unlinked: it serves `last_attr` and the version it
  // showed (pinned) until its descriptors close, and is never a lookup's
  // answer again.
  bool detached = false;

  std::mutex mu;  // guards everything below
  bool orphaned = false;  // lost its last name: sessions are discarded
  // Last attributes seen (served once the catalog forgot it, and always by a
  // detached node, whose readers read last_attr.current_version).
  Attr last_attr;
  // last_attr is what the catalog says with this node's changes on top:
  // set by Overlay, cleared by changes of the inode in the catalog that do
  // not refresh it (xattrs, unlink, rename). Filesystem::NewFileAttr
  // answers from last_attr only while set.
  bool attr_current = false;
  std::shared_ptr<WriteSession> session;  // while open for writing
  uint32_t writers = 0;                   // handles sharing `session`
  // The last writer is committing `session` (ReleaseSession): a new opener
  // waits for it instead of joining a session that is being committed.
  bool releasing = false;
  std::condition_variable released;  // notified when `releasing` goes false
  // Counts sessions that ended (committed and dropped, or discarded): an
  // opener that read the catalog before one ended would base a new session
  // on a version older than that session's commit (AcquireSession).
  uint64_t sessions_ended = 0;
  std::shared_ptr<ReaderSlot> reader;     // current version, for reads without a session
  VersionNo kernel_version;               // the content the kernel's page cache holds
};

struct Filesystem::FileHandle {
  std::shared_ptr<Node> node;
  std::shared_ptr<WriteSession> session;  // set for handles open for writing
  int flags = 0;
};

struct Filesystem::DirHandle {
  std::shared_ptr<Node> node;
  std::shared_ptr<const std::vector<DirEntry>> entries;  // guarded by Filesystem::mu_
  bool consumed = false;  // a listing was handed out; guarded by Filesystem::mu_
};

}  // namespace katamari::fs

// Mount options of katamarifs (`-o a,b=c,...`, mount(8) conventions, docs/semantics.md, The command
// line).
//
// FUSE and kernel mount flags are checked here and handed to libfuse; the
// bucket's own options (compression=, level=, keyfile=, passphrase_file=)
// are ours. fstab-only words
// (defaults, _netdev, nofail, auto, noauto, user, users, x-*, comment=) are
// accepted and ignored, as mount(8) helpers do. Anything else is refused,
// naming the option.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/status.h"
#include "store/types.h"

namespace katamari::fs {

struct MountOptions {
  bool read_only = false;
  bool allow_other = false;
  bool debug = false;
  std::string fsname;                     // default: the bucket directory
  std::string subtype = "katamari";
  std::vector<std::string> kernel_flags;  // ro/rw/nosuid/noatime/... in order given
  bool auto_unmount = false;
  std::optional<Codec> compression;
  std::optional<int> level;
  std::string keyfile;          // encrypted buckets: a 32-byte key file, or
  std::string passphrase_file;  // a file holding the passphrase (not both)
};

// Parses one comma-separated list into *opts (later options win). Returns
// InvalidArgument naming the first unknown option or bad value.
Status ParseMountOptions(std::string_view list, MountOptions* opts);

// The comma list for libfuse's -o (always with default_permissions).
std::string FuseOptionString(const MountOptions& opts);

}  // namespace katamari::fs

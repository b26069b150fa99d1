// The single place where a Status becomes an errno (STYLE §7): called only at
// the FUSE boundary (fs/fuse_ops.cc).
#pragma once

#include "store/status.h"

namespace katamari::fs {

// OK -> 0; otherwise a positive errno (NotFound -> ENOENT, NoSpace -> ENOSPC,
// Corruption -> EIO, ...).
int StatusToErrno(const Status& status);

}  // namespace katamari::fs

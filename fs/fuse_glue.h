// Private to fs/: the libfuse low-level operation table and attribute
// conversion shared by fuse_ops.cc and fuse_server.cc. The only place the
// FUSE API version is chosen.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "fs/fuse_server.h"

namespace katamari::fs {

// The handlers; their userdata is the FuseServer.
const fuse_lowlevel_ops& LowLevelOps();

void ToStat(const Attr& attr, struct stat* st);

}  // namespace katamari::fs

// Test hooks of the catalog. Only tests include this header. The overrides
// are process-wide and not thread-safe: install them before opening a catalog
// and keep them alive while it is used.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "store/catalog_format.h"

namespace katamari::catalog_testing {

// While alive, Catalog::Open migrates with `steps` instead of the built-in
// chain (a fake step 0 -> 1 lets a test exercise the machinery honestly).
class ScopedMigrationSteps {
 public:
  explicit ScopedMigrationSteps(std::vector<catalog_format::MigrationStep> steps);
  ~ScopedMigrationSteps();
  ScopedMigrationSteps(const ScopedMigrationSteps&) = delete;
  ScopedMigrationSteps& operator=(const ScopedMigrationSteps&) = delete;
};

// While alive, the catalog reads wall-clock time from `now_ns` (commit times
// are still made strictly increasing, as in production).
class ScopedClock {
 public:
  explicit ScopedClock(std::function<int64_t()> now_ns);
  ~ScopedClock();
  ScopedClock(const ScopedClock&) = delete;
  ScopedClock& operator=(const ScopedClock&) = delete;
};

// While alive, runs `hook` on every catalog connection right after its
// pragmas, e.g. a small max_page_count to make SQLite report a full disk, or
// a short busy timeout.
class ScopedConnectionHook {
 public:
  explicit ScopedConnectionHook(std::function<void(sql::Db&)> hook);
  ~ScopedConnectionHook();
  ScopedConnectionHook(const ScopedConnectionHook&) = delete;
  ScopedConnectionHook& operator=(const ScopedConnectionHook&) = delete;
};

}  // namespace katamari::catalog_testing

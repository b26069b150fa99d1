#!/usr/bin/env bash
# The one command that runs every test: installs what is missing (Debian 12),
# configures and builds in ./build, runs the unit, CLI, mount, service and scale suites
# (scale: a throwaway Ceph radosgw and PostgreSQL on 127.0.0.1, tests/scale/).
# Usage: scripts/test.sh [meson test args...]   e.g. scripts/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" "${KATAMARI_TEST_PKGS[@]}" \
  "${KATAMARI_SCALE_PKGS[@]}"

if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  rm -rf build
  meson setup build >/dev/null
fi
ninja -C build

rc=0
rm -f build/meson-logs/testlog.json
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?

# One plain summary line ("N passed, N failed, N skipped") from meson's log.
python3 - build/meson-logs/testlog.json <<'PY' || true
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0, "EXPECTEDFAIL": 0,
          "UNEXPECTEDPASS": 0}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        r = json.loads(line).get("result", "ERROR")
        counts[r] = counts.get(r, 0) + 1
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["ERROR"] + counts["UNEXPECTEDPASS"]
print(f"{counts['OK'] + counts['EXPECTEDFAIL']} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit "$rc"

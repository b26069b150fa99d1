#!/usr/bin/env bash
# Mount tests: runs every tests/mount/t_*.sh against the real daemon.
#
#   mount_test.sh KATAMARIFS KATAMARI [TEST...]
#
# Each test mounts its own temporary bucket and always unmounts. Needs root
# (or a usable /dev/fuse). KATAMARI_TEST_BIG_MB sets the size of the large
# file test (default 256; the issue's 2 GiB check is KATAMARI_TEST_BIG_MB=2048).
# Exit: 0 all passed, 1 a test failed, 77 all skipped (no FUSE).
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 KATAMARIFS KATAMARI [TEST...]" >&2
  exit 2
fi
KATAMARIFS=$(realpath "$1")
KATAMARI=$(realpath "$2")
# Tags this run's temporary directories, so the stale-mount check below looks
# only at mounts of this run (others may run the suite at the same time).
KATAMARI_TEST_RUN="run$$"
export KATAMARIFS KATAMARI KATAMARI_TEST_RUN
shift 2
here=$(cd "$(dirname "$0")" && pwd)

if [ $# -gt 0 ]; then
  tests=()
  for t in "$@"; do tests+=("$here/${t%.sh}.sh"); done
else
  tests=("$here"/t_*.sh)
fi

passed=0 failed=0 skipped=0 failures=()
for t in "${tests[@]}"; do
  name=$(basename "$t" .sh)
  start=$(date +%s)
  bash "$t"
  rc=$?
  secs=$(($(date +%s) - start))
  case $rc in
    0) passed=$((passed + 1)); echo "PASS $name (${secs}s)" ;;
    77) skipped=$((skipped + 1)); echo "SKIP $name" ;;
    *) failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (exit $rc, ${secs}s)" ;;
  esac
done

if grep -q "katamari-$KATAMARI_TEST_RUN-" /proc/mounts; then
  echo "stale katamari test mounts left behind:" >&2
  grep "katamari-$KATAMARI_TEST_RUN-" /proc/mounts >&2
  failed=$((failed + 1))
  failures+=("stale-mounts")
fi

echo "mount tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] || { echo "failed: ${failures[*]}"; exit 1; }
[ $passed -gt 0 ] || exit 77
exit 0

#!/usr/bin/env bash
# CLI tests: the real `katamari` binary on temporary buckets.
#
#   tests/cli/cli_test.sh PATH/TO/katamari [TEST_NAME_REGEX]
#
# Runs every t_* function from the *_tests.sh files next to this script
# (basic_tests.sh, failure_tests.sh, encryption_tests.sh, history_tests.sh; or those matching the
# regex, e.g. '^t_enc_'), each in a fresh work dir. The encryption tests use
# on_terminal.py to type passphrases on a pseudo-terminal. Tests that need root
# (read-only bucket as another user, disk full on a tmpfs) skip with a message
# when not root. KATAMARI_CLI_BIG_MIB sets the size of the big round trip
# (default 128; 0 skips it). Exit 0 only if every test passed.
# shellcheck disable=SC1090,SC1091,SC2034  # the test files are sourced; they use these
set -uo pipefail

KATAMARI=$(realpath "${1:?usage: cli_test.sh PATH/TO/katamari [TEST_REGEX]}")
FILTER=${2:-.}
HERE=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C
# The caller's bucket and keys must not leak into the tests.
unset KATAMARI_BUCKET KATAMARI_KEYFILE KATAMARI_PASSPHRASE_FILE

TMP=$(mktemp -d /tmp/katamari-cli.XXXXXX)
MOUNTS=()
cleanup() {
  local m
  for m in "${MOUNTS[@]+"${MOUNTS[@]}"}"; do umount -l "$m" 2>/dev/null; done
  chmod -R u+w "$TMP" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

source "$HERE/lib.sh"
for f in "$HERE"/*_tests.sh; do source "$f"; done

failed=()
passed=0
for t in $(declare -F | awk '{print $3}' | grep '^t_' | grep -E -- "$FILTER"); do
  CURRENT=${t#t_}
  TEST_FAILED=0
  W="$TMP/$CURRENT"
  B="$W/bucket"
  mkdir -p "$W"
  start=$(date +%s.%N)
  "$t"
  secs=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  if [ "$TEST_FAILED" -eq 0 ]; then
    echo "ok   $CURRENT (${secs}s)"
    passed=$((passed + 1))
  else
    echo "FAIL $CURRENT (${secs}s)"
    failed+=("$CURRENT")
  fi
done

echo "$passed passed, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]

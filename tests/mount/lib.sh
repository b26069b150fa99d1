# Helpers for the mount tests; sourced by each t_*.sh.
#
# Environment (set by mount_test.sh): KATAMARIFS, KATAMARI (paths of the
# binaries). Each test gets a fresh $WORK with a bucket ($BUCKET) and a
# mountpoint ($MNT). Everything is unmounted and removed on exit, also on
# failure. Exit codes: 0 pass, 1 fail, 77 skip (no usable /dev/fuse).

set -euo pipefail

: "${KATAMARIFS:?set KATAMARIFS to the katamarifs binary}"
: "${KATAMARI:?set KATAMARI to the katamari binary}"

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/katamari-${KATAMARI_TEST_RUN:-solo}-$TEST_NAME.XXXXXX")
chmod 755 "$WORK"
BUCKET="$WORK/bucket"
MNT="$WORK/mnt"
LOG="$WORK/daemon.log"
mkdir -p "$MNT"
DAEMON_PID=""
EXTRA_CLEANUP=""  # shell code run by cleanup after the FUSE unmount

log() { echo "[$TEST_NAME] $*"; }

# The unprivileged user the permission tests act as (root switches to it;
# no supplementary groups, as a login of nobody would have none).
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
as_nobody() { setpriv --reuid="$NOBODY_UID" --regid="$NOBODY_GID" --clear-groups -- "$@"; }

show_daemon_log() {
  if [ -s "$LOG" ]; then
    echo "---- daemon log (last 30 lines) ----"
    tail -n 30 "$LOG"
    echo "------------------------------------"
  fi
}

fail() {
  echo "[$TEST_NAME] FAIL: $*" >&2
  show_daemon_log >&2
  exit 1
}

is_mounted() { grep -q " $1 fuse" /proc/mounts; }

cleanup() {
  local rc=$?
  set +e
  if is_mounted "$MNT"; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
  fi
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_PID" 2>/dev/null
  fi
  [ -n "$DAEMON_PID" ] && wait "$DAEMON_PID" 2>/dev/null
  if is_mounted "$MNT"; then fusermount3 -u -z "$MNT" 2>/dev/null; fi
  [ -z "$EXTRA_CLEANUP" ] || eval "$EXTRA_CLEANUP"
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

skip_unless_fuse() {
  if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    log "SKIP: /dev/fuse or fusermount3 missing"
    exit 77
  fi
  if ! (exec 3<>/dev/fuse) 2>/dev/null; then
    log "SKIP: /dev/fuse is not usable by $(id -un)"
    exit 77
  fi
}

# The encrypted run of the suite (KATAMARI_TEST_ENCRYPT=1; meson's
# 'mount-encrypted' test): every bucket init_bucket makes is encrypted with a
# key file, the CLI finds the key through $KATAMARI_KEYFILE and every mount_fs
# (and a test's own daemon start, via KEY_OPTS) gets -o keyfile=.
KEY_OPTS=()
if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ]; then
  export KATAMARI_KEYFILE="$WORK/matrix.key"
  KEY_OPTS=(-o "keyfile=$KATAMARI_KEYFILE")
fi

# init_bucket [katamari init options...]
init_bucket() {
  if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ] && [[ " $* " != *" --encrypt "* ]]; then
    "$KATAMARI" -b "$BUCKET" init --encrypt --keyfile "$KATAMARI_KEYFILE" "$@" >/dev/null
  else
    "$KATAMARI" -b "$BUCKET" init "$@" >/dev/null
  fi
}

# mount_fs [katamarifs options...]: starts the daemon in the foreground (in
# the background of this shell) and waits until the mount serves.
mount_fs() {
  "$KATAMARIFS" -f "${KEY_OPTS[@]}" "$@" "$BUCKET" "$MNT" 2>>"$LOG" &
  DAEMON_PID=$!
  for _ in $(seq 200); do
    if is_mounted "$MNT" && stat "$MNT" >/dev/null 2>&1; then return 0; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "katamarifs exited during start-up"
    sleep 0.05
  done
  fail "mount did not come up within 10 s"
}

# unmount_fs: clean unmount, then wait for the daemon to exit 0.
# A fresh bucket mounted as scripts/run.sh lays it out (./storage/my_bucket at
# ./mnt, under $WORK), with `katamari` on PATH: for the documents' examples
# (tests/mount/console_walk.py).
mount_as_run_sh() {
  BUCKET="$WORK/storage/my_bucket"
  init_bucket
  mount_fs
  mkdir "$WORK/bin"
  ln -s "$KATAMARI" "$WORK/bin/katamari"
  PATH="$WORK/bin:$PATH"
}

unmount_fs() {
  fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=""
  [ "$rc" = 0 ] || fail "katamarifs exited with $rc after unmount"
}

# versions KEY: number of versions the catalog holds for KEY.
versions() {
  "$KATAMARI" -b "$BUCKET" versions "$1" --json |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

expect_eq() {  # expect_eq WHAT ACTUAL EXPECTED
  [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Fails unless the command fails with the given errno name in its message.
expect_fail() {  # expect_fail WHAT PATTERN CMD...
  local what=$1 pattern=$2
  shift 2
  local out
  if out=$("$@" 2>&1); then fail "$what: succeeded, expected failure ($pattern)"; fi
  echo "$out" | grep -qi -- "$pattern" || fail "$what: failed with '$out', expected '$pattern'"
}

#!/usr/bin/env bash
# A file open for writing in the mount keeps the version it is based on
# (docs/semantics.md, Retention and excludes): the write session reads the
# unchanged bytes from that version's chunks at close, so `katamari prune`,
# `katamari rm NAME@N` / `--version N` and `rm --purge` run beside the mount
# must not delete it. The writer edits the middle of a file whose base is
# no longer current (a `katamari put` made a newer version meanwhile), the
# CLI tries to remove that base, and the close still commits exactly the
# base with the edit. After kill -9 of the daemon the pins it held are stale
# and no longer keep anything.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

head -c 1000000 /dev/urandom >"$WORK/base"
cp "$WORK/base" "$MNT/f"
expect_eq "versions of f after cp" "$(versions f)" 1

# writer PATH OFF DATA TAG: a process that opens PATH for writing, writes
# DATA at OFF, says so ($WORK/TAG.ready) and keeps the file open (no close,
# so nothing is committed) until $WORK/TAG.close appears; then it closes.
writer() {
  python3 - "$@" "$WORK" 2>"$WORK/$4.err" <<'PY' &
import os, sys, time
path, off, data, tag, work = sys.argv[1:6]
fd = os.open(path, os.O_RDWR)
os.pwrite(fd, data.encode(), int(off))
open(os.path.join(work, tag + ".ready"), "w").close()
while not os.path.exists(os.path.join(work, tag + ".close")):
    time.sleep(0.05)
os.close(fd)
PY
  WRITER_PID=$!
  for _ in $(seq 200); do [ -e "$WORK/$4.ready" ] && return 0; sleep 0.05; done
  fail "the writer of $1 did not start"
}

# The session's base is v1 (what cp committed); the edit stays uncommitted.
base_v=$(K versions f --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["version"])')
writer "$MNT/f" 500000 MIDDLE f
# A newer version from the CLI: the open session's base is no longer current.
echo other | K put f - >/dev/null || fail "katamari put f while f is open in the mount"

expect_fail "rm f@$base_v while its file is open for writing" "open for writing" \
  K rm "f@$base_v"
expect_fail "rm --version $base_v" "open for writing" K rm f --version "$base_v"
set +e
K rm f --version "$base_v" >/dev/null 2>&1
rc=$?
set -e
expect_eq "exit status of rm of a pinned version" "$rc" 1
expect_fail "rm --purge of a file open for writing" "open for writing" K rm --purge --yes f
K ls f | grep -q '^f ' || fail "rm --purge that was refused still removed the name f"
K policy set keep-last=1 >/dev/null || fail "policy set"
out=$(K prune) || fail "katamari prune beside the open file"
echo "$out" | grep -q "kept 1 version for now: in use by a file open in a mount" ||
  fail "prune did not say it kept the open file's base: $out"
K gc >/dev/null || fail "gc beside the open file"
K versions f --json | python3 -c "
import json, sys
vs = [v['version'] for v in json.load(sys.stdin)]
sys.exit(0 if $base_v in vs else 1)" || fail "version $base_v of f went while f was open"

touch "$WORK/f.close"  # the close commits base + MIDDLE
wait "$WRITER_PID" || fail "the writer's close failed (its edit would be lost)"
python3 - "$WORK/base" "$WORK/want" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[500000:500006] = b"MIDDLE"
open(sys.argv[2], "wb").write(data)
PY
cmp "$MNT/f" "$WORK/want" || fail "f after the close is not the base with the edit"
K get f | cmp - "$WORK/want" || fail "katamari get f after the close is not base + edit"
new_v=$(K versions f --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["version"])')
[ "$new_v" -gt "$base_v" ] || fail "the close made no new version ($new_v)"
if grep -qi "EIO\|input/output" "$LOG"; then fail "the daemon logged an I/O error"; fi

# Closed: the base is no longer held, the next prune removes it.
K prune >/dev/null || fail "prune after the close"
K versions f --json | python3 -c "
import json, sys
vs = [v['version'] for v in json.load(sys.stdin)]
sys.exit(0 if vs == [$new_v] else 1)" || fail "prune after the close left $(K versions f --json)"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck"; }

# kill -9 of the daemon with a file open for writing: its pin is stale.
K policy clear >/dev/null
echo one >"$MNT/g"
echo two >"$MNT/g"
writer "$MNT/g" 0 X g
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
touch "$WORK/g.close"
wait "$WRITER_PID" 2>/dev/null || true  # its close fails: the daemon is gone
fusermount3 -u -z "$MNT" 2>/dev/null || true
[ -n "$(ls -A "$BUCKET/pins" 2>/dev/null)" ] || fail "the killed daemon left no pin owner file"
K rm g@2 >/dev/null || fail "rm g@2 after kill -9 of the daemon that pinned it"
expect_eq "pins left after the stale one was met" "$(ls -A "$BUCKET/pins")" ""
mount_fs
expect_eq "g after remount" "$(cat "$MNT/g")" one
unmount_fs
log "ok"

#!/usr/bin/env bash
# On a bucket without versioning, a file that loses its last name is deleted
# at once, except the version a file open in the mount reads
# (docs/semantics.md, Retention and excludes): `katamari rm NAME`, a rename
# over the file in the mount, and `gc` beside the mount leave the open
# descriptor reading every byte, the close commits nothing that points at
# removed data, and the kept version goes once the file is closed.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket --no-versioning
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

head -c 1000000 /dev/urandom >"$WORK/base"
# Stored by the CLI: its pack is closed, so a gc that finds no row pointing
# into it deletes it.
K put f "$WORK/base" >/dev/null || fail "katamari put f"
python3 - "$WORK/base" "$WORK/want" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[500000:500006] = b"MIDDLE"
open(sys.argv[2], "wb").write(data)
PY

# editor PATH TAG: opens PATH for writing, writes MIDDLE at 500000, says so
# ($WORK/TAG.ready), waits for $WORK/TAG.read, reads the whole file through
# its descriptor into $WORK/TAG.got, waits for $WORK/TAG.close and closes.
editor() {
  python3 - "$1" "$2" "$WORK" 2>"$WORK/$2.err" <<'PY' &
import os, sys, time
path, tag, work = sys.argv[1:4]
def wait(name):
    while not os.path.exists(os.path.join(work, tag + name)):
        time.sleep(0.05)
# What the CLI just committed shows in the mount within the attribute
# timeout (docs/semantics.md, The command line beside a mount): a lookup
# right after `katamari put` may still miss it, so wait for it (5 s cap).
t0 = time.time()
while True:
    try:
        fd = os.open(path, os.O_RDWR)
        break
    except FileNotFoundError:
        if time.time() - t0 > 5:
            raise
        time.sleep(0.01)
os.pwrite(fd, b"MIDDLE", 500000)
open(os.path.join(work, tag + ".ready"), "w").close()
wait(".read")
data = b""
while True:
    piece = os.pread(fd, 1 << 20, len(data))
    if not piece:
        break
    data += piece
open(os.path.join(work, tag + ".got"), "wb").write(data)
open(os.path.join(work, tag + ".done"), "w").close()
wait(".close")
os.close(fd)
PY
  EDITOR_PID=$!
  for _ in $(seq 200); do [ -e "$WORK/$2.ready" ] && return 0; sleep 0.05; done
  cat "$WORK/$2.err" >&2
  fail "the editor of $1 did not start"
}
wait_for() { for _ in $(seq 400); do [ -e "$1" ] && return 0; sleep 0.05; done; fail "$2"; }

# ---- katamari rm NAME while the file is open for writing
editor "$MNT/f" f
K rm f >/dev/null || fail "katamari rm f beside the mount"
K gc >/dev/null || fail "gc after rm"
touch "$WORK/f.read"
wait_for "$WORK/f.done" "the editor did not read f back"
cmp "$WORK/f.got" "$WORK/want" || fail "the open descriptor of f does not read base + edit"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck while f is open"; }
touch "$WORK/f.close"
wait "$EDITOR_PID" || { cat "$WORK/f.err"; fail "the close of the removed f failed"; }
# The base's pin goes at the RELEASE, which can come a moment after the
# close returned: gc until nothing is left (at most 30 s).
chunks_left() { K stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])'; }
for _ in $(seq 300); do
  K gc >/dev/null || fail "gc after the close"
  [ "$(chunks_left)" = 0 ] && break
  sleep 0.1
done
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after the close of the removed f"; }
[ ! -e "$MNT/f" ] || fail "f is back after its close"
expect_eq "chunks left after the removed f was closed" "$(chunks_left)" 0

# ---- a rename over the file (in the mount) while it is open for writing
K put f "$WORK/base" >/dev/null || fail "katamari put f (again)"
echo other >"$WORK/other"
K put g "$WORK/other" >/dev/null || fail "katamari put g"
rm -f "$WORK"/f.*
editor "$MNT/f" f
mv "$MNT/g" "$MNT/f" || fail "mv g f over the open f in the mount"
K gc >/dev/null || fail "gc after mv"
touch "$WORK/f.read"
wait_for "$WORK/f.done" "the editor did not read f back"
cmp "$WORK/f.got" "$WORK/want" || fail "the open descriptor of the replaced f does not read base + edit"
touch "$WORK/f.close"
wait "$EDITOR_PID" || { cat "$WORK/f.err"; fail "the close of the replaced f failed"; }
K gc >/dev/null || fail "gc after the close"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after the close of the replaced f"; }
expect_eq "f after the rename over it" "$(cat "$MNT/f")" other
if grep -qi "EIO\|input/output" "$LOG"; then fail "the daemon logged an I/O error"; fi
unmount_fs
log "ok"

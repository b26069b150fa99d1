#!/usr/bin/env bash
# Sparse files (docs/semantics.md, The live tree): a size past the largest a
# bucket supports is EFBIG at once, as ext4 answers; a truncate to any size
# allowed is instant and its hole costs nothing, also at the commit (close);
# st_blocks counts what the file holds; SEEK_DATA/SEEK_HOLE find the holes;
# `katamari get` and the SHA-256 facts give the right bytes. And SIGTERM
# stops the daemon within seconds while a long commit is busy, leaving the
# previous version whole. Every step that would hash or store a hole would
# take minutes (1 TiB, 8 TiB); each runs under a generous `timeout`, so a
# regression fails instead of hanging.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
REF=$(mktemp -d /var/tmp/katamari-sparse-ref.XXXXXX)
EXTRA_CLEANUP="rm -rf '$REF'"
TB=$((1 << 40))

# errno name of a call on PATH: truncate SIZE | pwrite OFF | fallocate OFF LEN
errno_of() {
  timeout 60 python3 - "$@" <<'EOF'
import errno, os, sys
op, path, args = sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
try:
    if op == "truncate":
        os.truncate(path, args[0])
    elif op == "ftruncate":
        os.ftruncate(fd, args[0])
    elif op == "pwrite":
        print("wrote", os.pwrite(fd, b"y" * args[1], args[0]), end=" ")
    elif op == "fallocate":
        os.posix_fallocate(fd, args[0], args[1])
    os.close(fd)
    fd = -1
    print("ok")
except OSError as e:
    print(errno.errorcode[e.errno])
finally:
    if fd >= 0:
        os.close(fd)
EOF
}

# ---- EFBIG at once, as on ext4
for call in "truncate 999999999999999" "ftruncate 999999999999999" "pwrite $((16 * TB)) 1" \
            "fallocate $((16 * TB)) 4096"; do
  set -- $call
  want=$(errno_of "$1" "$REF/big" "${@:2}")
  rm -f "$REF/big"
  got=$(errno_of "$1" "$MNT/big" "${@:2}") || fail "$call on the mount did not return within 60 s"
  expect_eq "$call on the mount (ext4 says $want)" "$got" "$want"
  rm -f "$MNT/big"
done
expect_eq "ext4's answer to the huge truncate" "$(errno_of truncate "$REF/big" 999999999999999)" EFBIG
rm -f "$REF/big"

# ---- truncate to 8 TiB: instant, size right, zeros, no blocks
timeout 60 truncate -s 8T "$MNT/s8" || fail "truncate -s 8T did not finish within 60 s"
expect_eq "size of s8" "$(stat -c %s "$MNT/s8")" $((8 * TB))
expect_eq "st_blocks of s8" "$(stat -c %b "$MNT/s8")" 0
expect_eq "4 KiB of zeros read at 5 TiB" "$(timeout 60 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
b = os.pread(fd, 4096, 5 << 40)
print(len(b), b.count(0))' "$MNT/s8")" "4096 4096"
# (counted through the mount: `katamari versions` would complete the SHA-256, hashing 8 TiB)
expect_eq "versions of s8" "$(ls "$MNT/s8@" | wc -l)" 1

# ---- 1 TiB hole, then a 1-byte write at its end and close: quick and right
timeout 60 truncate -s 1T "$MNT/t1" || fail "truncate -s 1T did not finish within 60 s"
printf Z | timeout 120 dd of="$MNT/t1" bs=1 seek=$((TB - 1)) conv=notrunc status=none ||
  fail "1-byte write + close at the end of a 1 TiB hole did not finish within 120 s"
expect_eq "size of t1" "$(stat -c %s "$MNT/t1")" "$TB"
expect_eq "last byte of t1" "$(timeout 60 tail -c 1 "$MNT/t1")" Z
expect_eq "last byte of t1@2" "$(timeout 60 tail -c 1 "$MNT/t1@2")" Z
expect_eq "versions of t1" "$(ls "$MNT/t1@" | wc -l)" 2
truncate -s 1T "$REF/t1"
printf Z | dd of="$REF/t1" bs=1 seek=$((TB - 1)) conv=notrunc status=none
expect_eq "st_blocks of t1 (as on ext4)" "$(stat -c %b "$MNT/t1")" "$(stat -c %b "$REF/t1")"
expect_eq "du of t1 (as on ext4)" "$(du -B1 "$MNT/t1" | cut -f1)" "$(du -B1 "$REF/t1" | cut -f1)"
rm -f "$REF/t1"
# and the same while the file is open (st_blocks of a session)
timeout 120 python3 - "$MNT/t1" <<'EOF' || fail "st_blocks of an open sparse file"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.pwrite(fd, b"q" * 8192, 1 << 30)
blocks = os.fstat(fd).st_blocks
assert 16 <= blocks <= 64, blocks   # 4 KiB at the end + 8 KiB at 1 GiB
os.close(fd)
EOF

# ---- a modest sparse file: get, sha256 facts and tools match ext4's copy
head -c $((1 << 20)) /dev/urandom >"$WORK/middle"
for dir in "$REF" "$MNT"; do
  truncate -s 64M "$dir/m"
  dd if="$WORK/middle" of="$dir/m" bs=1M seek=32 conv=notrunc status=none
done
want=$(sha "$REF/m")
expect_eq "sha256sum through the mount" "$(sha "$MNT/m")" "$want"
expect_eq "st_blocks of m (as on ext4)" "$(stat -c %b "$MNT/m")" "$(stat -c %b "$REF/m")"
expect_eq "user.katamari.sha256 of m" \
  "$(getfattr --absolute-names --only-values -n user.katamari.sha256 "$MNT/m")" "$want"
expect_eq "user.katamari.sha256 of m@2 (after the truncate, m@1)" \
  "$(getfattr --absolute-names --only-values -n user.katamari.sha256 "$MNT/m@2")" "$want"
"$KATAMARI" -b "$BUCKET" get m -o "$WORK/got" || fail "katamari get m"
expect_eq "katamari get of the sparse version" "$(sha "$WORK/got")" "$want"
expect_eq "katamari versions sha256" "$("$KATAMARI" -b "$BUCKET" versions m --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["sha256"])')" "$want"
expect_eq "katamari ls sha256" "$("$KATAMARI" -b "$BUCKET" ls m --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["sha256"])')" "$want"
python3 - "$MNT/m" <<'EOF' || fail "SEEK_DATA / SEEK_HOLE on m"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
assert os.lseek(fd, 0, os.SEEK_DATA) == 32 << 20, os.lseek(fd, 0, os.SEEK_DATA)
assert os.lseek(fd, 32 << 20, os.SEEK_HOLE) == 33 << 20
assert os.lseek(fd, 40 << 20, os.SEEK_HOLE) == 40 << 20
try:
    os.lseek(fd, 40 << 20, os.SEEK_DATA)
    raise SystemExit("SEEK_DATA found data after the last data")
except OSError as e:
    assert e.errno == 6, e  # ENXIO
EOF
cp --sparse=auto "$MNT/m" "$WORK/copy"
expect_eq "cp --sparse=auto copy" "$(sha "$WORK/copy")" "$want"
[ "$(stat -c %b "$WORK/copy")" -le $((4 << 20 >> 9)) ] ||
  fail "cp --sparse=auto from the mount made a full copy ($(stat -c %b "$WORK/copy") blocks)"
# put of a sparse file: holes kept, SHA-256 inline
"$KATAMARI" -b "$BUCKET" put pm "$REF/m" >/dev/null || fail "katamari put of a sparse file"
expect_eq "put's sha256" "$("$KATAMARI" -b "$BUCKET" versions pm --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["sha256"])')" "$want"
expect_eq "put's content through the mount" "$(sha "$MNT/pm")" "$want"
expect_eq "st_blocks of the put (its holes kept)" "$(stat -c %b "$MNT/pm")" "$(stat -c %b "$REF/m")"

# the huge sparse files are not needed beyond here (fsck would hash them)
rm -f "$MNT/s8" "$MNT/t1"
"$KATAMARI" -b "$BUCKET" rm --purge --yes s8 >/dev/null
"$KATAMARI" -b "$BUCKET" rm --purge --yes t1 >/dev/null
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck"; }

# stop_within_15s WHAT: SIGTERM to the daemon, which must exit within 15 s
# (its stop deadline is 3 s) while busy with WHAT.
stop_within_15s() {
  kill -TERM "$DAEMON_PID"
  local stopped=0
  for _ in $(seq 150); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { stopped=1; break; }
    sleep 0.1
  done
  [ "$stopped" = 1 ] || fail "the daemon did not stop within 15 s of SIGTERM during $1"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
}

# ---- SIGTERM while a request is busy for hours: the first request for the
# SHA-256 of an 8 TiB sparse file hashes its zeros
timeout 60 truncate -s 8T "$MNT/huge" || fail "truncate -s 8T did not finish within 60 s"
getfattr --absolute-names --only-values -n user.katamari.sha256 "$MNT/huge" \
  >"$WORK/huge.sha" 2>&1 &
hasher=$!
# busy: the daemon burns CPU on it (utime+stime in /proc/PID/stat grow)
cpu() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
start=$(cpu)
for _ in $(seq 600); do
  [ $(($(cpu) - start)) -gt 50 ] && break
  sleep 0.05
done
kill -0 "$hasher" 2>/dev/null || fail "the SHA-256 of 8 TiB of zeros came back at once: $(cat "$WORK/huge.sha")"
stop_within_15s "a busy getxattr"
wait "$hasher" 2>/dev/null || true
fusermount3 -u -z "$MNT" 2>/dev/null || true
mount_fs
rm -f "$MNT/huge"
"$KATAMARI" -b "$BUCKET" rm --purge --yes huge >/dev/null

# ---- SIGTERM during a long commit: stops within seconds, nothing torn
mb=${KATAMARI_TEST_SIGTERM_MB:-1024}
# Written out of order (no streamed commit): its close commits from staging.
timeout 600 python3 - "$MNT/long" "$mb" <<'EOF' || fail "writing the long file"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(int(sys.argv[2]) - 1, -1, -1):
    os.pwrite(fd, os.urandom(1 << 20), i << 20)
os.close(fd)
EOF
old=$(sha "$MNT/long")
# A change at both ends: this close re-reads and re-chunks every byte (the
# storage engine's later work makes it cost what changed), far longer than
# the stop deadline. It is still busy when SIGTERM comes.
python3 - "$MNT/long" "$mb" >"$WORK/closer.out" 2>&1 <<'EOF' &
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"changed", 0)
os.pwrite(fd, b"changed", (int(sys.argv[2]) << 20) - 7)
try:
    os.close(fd)
    print("closed")
except OSError as e:
    print("close failed, errno", e.errno)
EOF
closer=$!
# Wait until the daemon reads the version's chunks for the commit (its read
# counter moves by 64 MiB), then stop it.
rchar() { awk '/^rchar/ {print $2}' "/proc/$DAEMON_PID/io"; }
start=$(rchar)
for _ in $(seq 1200); do
  [ $(($(rchar) - start)) -gt $((64 << 20)) ] && break
  sleep 0.05
done
stop_within_15s "a commit"  # 15 s: less than the commit would take
wait "$closer" 2>/dev/null || true
fusermount3 -u -z "$MNT" 2>/dev/null || true
log "closer: $(cat "$WORK/closer.out"); daemon: $(grep -c abandoned "$LOG") abandoned commit(s)"
mount_fs
now=$(sha "$MNT/long")
if grep -q "abandoned the commit of" "$LOG"; then
  # rolled back: the previous version is current, whole
  expect_eq "content after the abandoned commit" "$now" "$old"
  expect_eq "versions after the abandoned commit" "$(versions long)" 1
else
  log "the commit finished before the stop deadline"
  expect_eq "the finished commit's data" "$(head -c 7 "$MNT/long")" changed
fi
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after SIGTERM"; }
unmount_fs

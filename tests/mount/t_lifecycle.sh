#!/usr/bin/env bash
# The daemon's life: data survives unmount/remount, SIGTERM commits open
# files, kill -9 mid-write loses nothing closed and shows nothing torn,
# read-only mounts, buckets without versioning, sd_notify.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
H="python3 $(dirname "$0")/helpers.py"
init_bucket

# ---- remount keeps data, metadata and history
mount_fs -o compression=zlib,level=6
mkdir -p "$MNT/keep/sub"
for i in $(seq 1 20); do head -c $((i * 7919)) /dev/urandom >"$MNT/keep/sub/f$i"; done
(cd "$MNT/keep" && sha256sum sub/*) >"$WORK/keep.sha"
echo v1 >"$MNT/keep/hist"
echo v2 >"$MNT/keep/hist"
chmod 604 "$MNT/keep/sub/f3"
chown 77:88 "$MNT/keep/sub/f4"
ln -s sub/f1 "$MNT/keep/link"
setfattr -n user.note -v kept "$MNT/keep/sub/f5"
unmount_fs
mount_fs
(cd "$MNT/keep" && sha256sum -c --quiet "$WORK/keep.sha") || fail "content after remount"
expect_eq "history after remount" "$(versions keep/hist)" 2
expect_eq "mode after remount" "$(stat -c %a "$MNT/keep/sub/f3")" 604
expect_eq "owner after remount" "$(stat -c %u:%g "$MNT/keep/sub/f4")" 77:88
expect_eq "symlink after remount" "$(readlink "$MNT/keep/link")" sub/f1
expect_eq "xattr after remount" "$(getfattr --absolute-names --only-values -n user.note "$MNT/keep/sub/f5")" kept

# ---- SIGTERM while a file is open for writing: its data is committed
$H hold-open "$MNT/open-at-stop" 3000000 >"$WORK/held.sha" &
writer=$!
for _ in $(seq 100); do [ -s "$WORK/held.sha" ] && break; sleep 0.1; done
[ -s "$WORK/held.sha" ] || fail "writer did not start"
kill -TERM "$DAEMON_PID"
rc=0; wait "$DAEMON_PID" || rc=$?
DAEMON_PID=""
expect_eq "exit code after SIGTERM" "$rc" 0
kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null || true
is_mounted "$MNT" && fusermount3 -u -z "$MNT"
mount_fs
expect_eq "file open at SIGTERM was committed" "$(sha "$MNT/open-at-stop")" "$(cat "$WORK/held.sha")"

# ---- kill -9 in the middle of writes
for i in $(seq 1 10); do head -c $((i * 100000)) /dev/urandom >"$MNT/closed$i"; done
(cd "$MNT" && sha256sum closed*) >"$WORK/closed.sha"
head -c 1000000 /dev/urandom >"$MNT/rewritten"
old_sha=$(sha "$MNT/rewritten")
dd if=/dev/urandom of="$MNT/inflight" bs=1M count=100000 status=none 2>/dev/null &
dd1=$!
dd if=/dev/urandom of="$MNT/rewritten" bs=64k count=100000 status=none 2>/dev/null &
dd2=$!
sleep 1
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
wait "$dd1" 2>/dev/null || true
wait "$dd2" 2>/dev/null || true
# Mounting again over the dead mount says what it is and how to clear it.
rc=0
"$KATAMARIFS" -f "${KEY_OPTS[@]}" "$BUCKET" "$MNT" >"$WORK/stale.out" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "mounting over a stale mount succeeded"
grep -q "is a stale mount" "$WORK/stale.out" || { cat "$WORK/stale.out"; fail "no stale-mount message"; }
grep -q "fusermount3 -u $MNT" "$WORK/stale.out" || fail "the stale-mount message names no fix"
fusermount3 -u -z "$MNT" || fail "lazy unmount of the dead mount"
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after kill -9"; }
mount_fs
(cd "$MNT" && sha256sum -c --quiet "$WORK/closed.sha") || fail "files closed before kill -9"
# dd opens its output with O_TRUNC and closes a dup of it before writing, as
# shells do: that close committed the truncation (an empty version, which
# the writes' close would have amended). The old content is never lost or
# torn: it is the current version or, after that empty one, the previous.
case "$(stat -c %s "$MNT/rewritten")" in
  0) expect_eq "file being rewritten at kill -9: the version before the empty one" \
       "$(sha "$MNT/rewritten@-1")" "$old_sha" ;;
  *) expect_eq "file being rewritten at kill -9 keeps its last version" \
       "$(sha "$MNT/rewritten")" "$old_sha" ;;
esac
expect_eq "file being written at kill -9 shows no torn content" "$(stat -c %s "$MNT/inflight")" 0
[ -z "$(ls -A "$BUCKET/staging")" ] || fail "staging not empty after mount"
unmount_fs

# ---- version and start-up errors
"$KATAMARIFS" --version | grep -q "^katamarifs [0-9]\+\.[0-9]\+\.[0-9]\+$" || fail "katamarifs --version"
"$KATAMARIFS" -V | grep -q "^katamarifs [0-9]" || fail "katamarifs -V"
# A mountpoint that is not a directory is refused at start.
touch "$WORK/plainfile"
for mode in -f ""; do
  rc=0
  "$KATAMARIFS" $mode "${KEY_OPTS[@]}" "$BUCKET" "$WORK/plainfile" >"$WORK/file-mp.out" 2>&1 || rc=$?
  [ "$rc" != 0 ] || { fusermount3 -u "$WORK/plainfile" 2>/dev/null; fail "mount on a regular file exited 0 ($mode)"; }
  grep -q "is not a directory" "$WORK/file-mp.out" || { cat "$WORK/file-mp.out"; fail "no clear error for a file mountpoint"; }
done
! grep -q " $WORK/plainfile fuse" /proc/mounts || fail "a regular file got mounted"
rc=0
"$KATAMARIFS" -f "${KEY_OPTS[@]}" "$BUCKET" "$WORK/nowhere" >"$WORK/missing-mp.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "does not exist; create it with" "$WORK/missing-mp.out" ||
  { cat "$WORK/missing-mp.out"; fail "a missing mountpoint"; }

# ---- read-only mount
mount_fs -o ro
expect_eq "read on a ro mount" "$(cat "$MNT/keep/hist")" v2
expect_fail "write on a ro mount" "read-only" sh -c "echo x >'$MNT/keep/hist'"
expect_fail "mkdir on a ro mount" "read-only" mkdir "$MNT/newdir"
unmount_fs

# ---- sd_notify: READY=1 once serving, STOPPING=1 at stop
$H notify-listen "$WORK/notify.sock" 30 >"$WORK/notify.out" &
listener=$!
for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$WORK/notify.sock" mount_fs
for _ in $(seq 50); do grep -q READY=1 "$WORK/notify.out" && break; sleep 0.1; done
grep -q READY=1 "$WORK/notify.out" || fail "no READY=1 on NOTIFY_SOCKET"
unmount_fs
wait "$listener" || true
grep -q STOPPING=1 "$WORK/notify.out" || fail "no STOPPING=1 on NOTIFY_SOCKET"

# ---- a bucket without versioning
BUCKET="$WORK/bucket-nover"
init_bucket --no-versioning
mount_fs
echo a >"$MNT/f"
echo b >"$MNT/f"
expect_eq "content without versioning" "$(cat "$MNT/f")" b
expect_eq "no history without versioning" "$(versions f)" 1
$H unlink-open "$MNT/unlinked" || fail "unlink while open without versioning"
rm "$MNT/f"
[ ! -e "$MNT/f" ] || fail "rm without versioning"
unmount_fs
log "ok"

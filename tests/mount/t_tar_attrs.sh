#!/usr/bin/env bash
# tar x sets the owner, mode and times of each file it creates before closing
# it; the mount holds them for the file's first commit (docs/semantics.md,
# When a version is made), so each file gets exactly one version, recording
# them, and the catalog has them when close() returns. A chmod or chown after
# the close, or of a file that already had a version, goes to the catalog at
# once and restamps the current version, as before.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

src="$WORK/src"
mkdir -p "$src/d"
printf 'one\n' >"$src/a"
head -c 200000 /dev/urandom >"$src/d/b"
: >"$src/d/empty"
printf 'exec\n' >"$src/x"
chown 1234:5678 "$src/a" "$src/x"  # before chmod: a chown clears the setuid bit
chown 4321:8765 "$src/d/b"
chmod 0600 "$src/a"
chmod 0640 "$src/d/b"
chmod 0604 "$src/d/empty"
chmod 4751 "$src/x"
touch -d '2021-03-04 05:06:07' "$src/a"
touch -d '2019-01-02 03:04:05' "$src/d/b"
touch -d '2000-02-29 12:00:00' "$src/d/empty" "$src/x"
tar -C "$src" -cf "$WORK/t.tar" a d x
mkdir "$MNT/t"
tar -C "$MNT/t" -xpf "$WORK/t.tar" || fail "tar x into the mount"

# fact KEY FIELD: the field of the newest version of KEY
fact() {
  K versions "$1" --json | python3 -c "import json,sys; print(json.load(sys.stdin)[-1]['$2'])"
}
for f in a d/b d/empty x; do
  want_mode=$(stat -c %04a "$src/$f")
  expect_eq "versions of t/$f after tar x" "$(versions "t/$f")" 1
  expect_eq "mode of t/$f in the mount" "$(stat -c %04a "$MNT/t/$f")" "$want_mode"
  expect_eq "owner of t/$f in the mount" "$(stat -c %u:%g "$MNT/t/$f")" "$(stat -c %u:%g "$src/$f")"
  expect_eq "mtime of t/$f in the mount" "$(stat -c %Y "$MNT/t/$f")" "$(stat -c %Y "$src/$f")"
  expect_eq "recorded mode of t/$f" "$(fact "t/$f" mode)" "$want_mode"
  expect_eq "recorded uid of t/$f" "$(fact "t/$f" uid)" "$(stat -c %u "$src/$f")"
  expect_eq "recorded gid of t/$f" "$(fact "t/$f" gid)" "$(stat -c %g "$src/$f")"
  expect_eq "recorded mtime of t/$f" "$(($(fact "t/$f" mtime_ns) / 1000000000))" \
    "$(stat -c %Y "$src/$f")"
  cmp "$src/$f" "$MNT/t/$f" || fail "t/$f differs after tar x"
done
# The version paths show the recorded owner and mode (without write bits).
expect_eq "mode of t/a@1" "$(stat -c %04a "$MNT/t/a@1")" 0400
expect_eq "owner of t/a@1" "$(stat -c %u:%g "$MNT/t/a@1")" 1234:5678

# Long after the close: at once in the catalog, restamping version 1.
chmod 0755 "$MNT/t/d/b"
chown 42:43 "$MNT/t/d/b"
expect_eq "versions of t/d/b after chmod" "$(versions t/d/b)" 1
expect_eq "recorded mode after chmod" "$(fact t/d/b mode)" 0755
expect_eq "recorded owner after chown" "$(fact t/d/b uid):$(fact t/d/b gid)" 42:43

# A file that has a version, open and written: a chmod through its open
# descriptor is in the catalog before the close.
python3 - "$MNT/t/a" "$WORK" <<'PY' &
import os, sys, time
path, work = sys.argv[1:3]
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
os.write(fd, b"two\n")
os.fchmod(fd, 0o620)
open(os.path.join(work, "chmod.done"), "w").close()
while not os.path.exists(os.path.join(work, "close")):
    time.sleep(0.05)
os.close(fd)
PY
writer=$!
for _ in $(seq 200); do [ -e "$WORK/chmod.done" ] && break; sleep 0.05; done
[ -e "$WORK/chmod.done" ] || fail "the writer of t/a did not start"
mode=$(K ls t/a --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["versions"])')
expect_eq "versions of t/a while open" "$mode" 1
expect_eq "recorded mode of t/a while open (restamped at once)" "$(fact t/a mode)" 0620
touch "$WORK/close"
wait "$writer" || fail "the writer of t/a failed"
expect_eq "versions of t/a after the close" "$(versions t/a)" 2
expect_eq "mode of t/a's new version" "$(fact t/a mode)" 0620
expect_eq "t/a after the append" "$(cat "$MNT/t/a")" "$(printf 'one\ntwo')"

# Everything survives a remount as recorded.
unmount_fs
mount_fs
expect_eq "mode of t/x after remount" "$(stat -c %04a "$MNT/t/x")" 4751
expect_eq "owner of t/x after remount" "$(stat -c %u:%g "$MNT/t/x")" 1234:5678
expect_eq "mtime of t/d/empty after remount" "$(stat -c %Y "$MNT/t/d/empty")" \
  "$(stat -c %Y "$src/d/empty")"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck"; }
unmount_fs
log "ok"

#!/usr/bin/env bash
# Truncation is a change like any other: open(O_TRUNC) or ftruncate(0) (or a
# create) and close() without a write commit the empty version before close()
# returns — listed in NAME@ at once, surviving kill -9 of the daemon, with
# the mtime the writer set (rsync -a of empty files) — while the shell's
# `echo x > f` still makes one version, not an empty one more.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
H="python3 $(dirname "$0")/helpers.py"
listing() { ls "$1" | tr '\n' ' '; }

# ---- listed at once
$H truncate-then-list "$MNT/t" 20 || fail "truncation not a version at close"

# ---- the shell's redirection: one version per `echo x > f`
echo x >"$MNT/e"
echo y >"$MNT/e"
expect_eq "two echo > f, two versions" "$(listing "$MNT/e@")" "1 2 "
expect_eq "e@1" "$(cat "$MNT/e@1")" x
expect_eq "e" "$(cat "$MNT/e")" y
: >"$MNT/e"
expect_eq ": > f is a version of its own" "$(listing "$MNT/e@")" "1 2 3 "
expect_eq "e empty" "$(stat -c %s "$MNT/e")" 0

# ---- rsync -a of empty files keeps their mtimes
mkdir -p "$WORK/src/sub"
for i in $(seq 1 25); do
  : >"$WORK/src/empty$i"
  : >"$WORK/src/sub/empty$i"
  touch -d "2020-01-02 03:04:$((i + 10))" "$WORK/src/empty$i" "$WORK/src/sub/empty$i"
done
echo data >"$WORK/src/full"
touch -d "2019-05-06 07:08:09" "$WORK/src/full"
rsync -a "$WORK/src/" "$MNT/dst/"
for f in full $(cd "$WORK/src" && ls empty*) $(cd "$WORK/src" && ls sub/empty* ); do
  expect_eq "mtime of $f after rsync -a" "$(stat -c %Y "$MNT/dst/$f")" "$(stat -c %Y "$WORK/src/$f")"
done
# an update: rsync writes a temporary file and renames it over the old one;
# the new version records the mtime rsync set, as the live file does
echo changed >"$WORK/src/full"
touch -d "2018-03-04 05:06:07" "$WORK/src/full"
rsync -a "$WORK/src/" "$MNT/dst/"
expect_eq "content after the update" "$(cat "$MNT/dst/full")" changed
expect_eq "mtime after the update" "$(stat -c %Y "$MNT/dst/full")" "$(stat -c %Y "$WORK/src/full")"
expect_eq "mtime of the new version" "$(stat -c %Y "$MNT/dst/full@2")" "$(stat -c %Y "$WORK/src/full")"


# ---- kill -9 right after close(): the empty versions are there
for round in 1 2 3; do
  for i in $(seq 0 9); do echo "content $round $i" >"$MNT/k$i"; done
  $H truncate-then-kill "$MNT/k" 10 "$DAEMON_PID" || fail "truncate k*"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=""
  fusermount3 -u -z "$MNT" 2>/dev/null || true
  mount_fs
  for i in $(seq 0 9); do
    expect_eq "k$i empty after kill -9 (round $round)" "$(stat -c %s "$MNT/k$i")" 0
  done
done
unmount_fs
log "ok"

#!/usr/bin/env bash
# rename(A, B) over an existing B: POSIX first (B names A's inode; open
# descriptors of the old B read it whole), history kept on both sides (B's
# continues with A's content, A's stays readable as a deleted file's, time
# views before the rename show both as they were), and no write racing the
# rename is lost (a close's commit and the rename's merge never interleave).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
H="python3 $(dirname "$0")/helpers.py"
cd "$MNT"
listing() { ls "$1" | tr '\n' ' '; }

# ---- POSIX: inode number and old descriptors
mkdir posix
$H rename-over-reader posix || fail "rename over an open file"

# ---- history on both sides, and time views before the rename
echo a1 >A
echo a2 >A
echo a3 >A
echo b1 >B
s0=$(date +%s)
while [ "$(date +%s)" = "$s0" ]; do sleep 0.05; done
T=$(date -u -d "@$((s0 + 1))" +%Y-%m-%dT%H:%M:%SZ)  # after every write, before the rename
mv A B
expect_eq "B continues its history" "$(listing B@)" "1 2 "
expect_eq "B@1 is the old B" "$(cat B@1)" b1
expect_eq "B@2 is A's content" "$(cat B@2)" a3
expect_eq "B reads A's content" "$(cat B)" a3
[ ! -e A ] || fail "A still there after mv A B"
expect_eq "A's history stays readable" "$(listing A@)" "1 2 3 "
expect_eq "A@1 after mv A B" "$(cat A@1)" a1
expect_eq "A@-1 after mv A B" "$(cat A@2)" a2
expect_eq "B@TIME before the rename" "$(cat "B@$T")" b1
expect_eq "A@TIME before the rename" "$(cat "A@$T")" a3
expect_eq "time view of the root before the rename" "$(cat "@$T/A") $(cat "@$T/B")" "a3 b1"
echo a4 >A  # re-creating A continues A's history
expect_eq "re-created A continues its numbering" "$(listing A@)" "1 2 3 4 "
expect_eq "B untouched by the new A" "$(cat B)" a3

# ---- the race: a file made without writing, renamed over B, appended to
mkdir race
$H rename-race race create 100 || fail "append after mv of a created file"
$H rename-race race trunc 100 || fail "append after mv of a truncated file"

cd /
unmount_fs
expect_eq "katamari versions A" "$(versions A)" 4
expect_eq "katamari versions B" "$(versions B)" 2
for i in $(seq 0 99); do
  expect_eq "race/b$i after unmount" "$("$KATAMARI" -b "$BUCKET" get "race/b$i")" "appended $i"
done
mount_fs
for i in 0 50 99; do
  expect_eq "race/b$i after remount" "$(cat "$MNT/race/b$i")" "appended $i"
done
unmount_fs
log "ok"

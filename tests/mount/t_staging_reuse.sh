#!/usr/bin/env bash
# Write sessions reuse the emptied staging files of ended sessions (store
# StagingPool): a session never sees what an earlier one staged (its holes and
# unwritten ranges read as zeros), every changed close is still one version,
# the staging directory stays empty and the daemon keeps a bounded number of
# them open however many sessions ran.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs

# An earlier session stages 1 MiB of non-zero bytes, then ends.
head -c 1048576 /dev/zero | tr '\0' 'A' >"$WORK/a.src"
cp "$WORK/a.src" "$MNT/a"
cmp "$WORK/a.src" "$MNT/a" || fail "a reads back wrong"

# Later sessions write past a gap, or grow a file by truncation: the gap is zeros.
for i in $(seq 1 8); do
  printf x | dd of="$MNT/b$i" bs=1 seek=$((200000 + i)) status=none
  expect_eq "size of b$i" "$(stat -c %s "$MNT/b$i")" $((200001 + i))
  expect_eq "zeros before the byte of b$i" \
    "$(head -c $((200000 + i)) "$MNT/b$i" | tr -d '\0' | wc -c)" 0
  expect_eq "the byte of b$i" "$(tail -c 1 "$MNT/b$i")" x
  truncate -s 300000 "$MNT/c$i"
  expect_eq "zeros of c$i" "$(tr -d '\0' <"$MNT/c$i" | wc -c)" 0
done
# An edit of a through a session reused from those: a keeps its bytes.
printf B | dd of="$MNT/a" bs=1 seek=5000 conv=notrunc status=none
expect_eq "a after an edit" "$(tr -d 'A' <"$MNT/a")" B
expect_eq "versions of a" "$(versions a)" 2

# Appends with close: one version each, content whole.
for i in $(seq 1 100); do echo "line $i" >>"$MNT/log"; done
expect_eq "lines of log" "$(wc -l <"$MNT/log")" 100
expect_eq "last line" "$(tail -n 1 "$MNT/log")" "line 100"
expect_eq "versions of log" "$(versions log)" 100
expect_eq "log@50" "$(tail -n 1 "$MNT/log@50")" "line 50"
# An unchanged close makes none.
exec 3>>"$MNT/log"
exec 3>&-
expect_eq "versions of log after an unchanged close" "$(versions log)" 100

# Several open at once, each its own file.
exec 4>"$MNT/p" 5>"$MNT/q"
echo p >&4
echo q >&5
exec 4>&- 5>&-
expect_eq "p" "$(cat "$MNT/p")" p
expect_eq "q" "$(cat "$MNT/q")" q

expect_eq "staging directory" "$(ls -A "$BUCKET/staging" | wc -l)" 0
kept=$(find "/proc/$DAEMON_PID/fd" -lname "$BUCKET/staging/*" 2>/dev/null | wc -l)
[ "$kept" -le 32 ] || fail "the daemon holds $kept staging files open (at most 32 are kept)"

unmount_fs
log "ok"

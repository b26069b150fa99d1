#!/usr/bin/env bash
# The CLI beside a mount, on one bucket. First the reproduction from the
# issue: a periodic catalog sync used to drop the daemon's SQLite locks, so
# a CLI command then checkpointed and deleted the WAL the daemon still
# wrote, and `katamari gc` collected the chunks of a file copied in after.
# Then a soak (cli_soak.py): mount writes, appends, fsyncs, mv over files
# and the daemon's periodic sync, concurrently with katamari put, rm,
# restore, gc twice, fsck, ls and get; what the CLI writes must show in the
# mount, nothing may be lost. After unmount: fsck clean, SQLite's integrity
# check ok, and after a remount every file and key reads as recorded.
# KATAMARI_SOAK_SECS sets the soak's duration (default 40).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
SOAK="python3 $(dirname "$0")/cli_soak.py"
K() { "$KATAMARI" -b "$BUCKET" "$@"; }
integrity() { sqlite3 "$BUCKET/catalog.db" 'PRAGMA integrity_check'; }
init_bucket
mount_fs

# ---- the reproduction
echo one >"$MNT/f1"
# The daemon syncs the catalog every 5 s (katamarifs.cc kSyncInterval) and
# shows nothing when it does: waiting out the interval is the condition.
sleep 6
echo key | K put key - >/dev/null || fail "katamari put key - while mounted"
head -c $((3 << 20)) /dev/urandom >"$WORK/big3"
cp "$WORK/big3" "$MNT/big3" || fail "cp of a 3 MB file into the mount"
gc=$(K gc --json) || fail "katamari gc while mounted"
orphans=$(echo "$gc" | python3 -c 'import json,sys; print(json.load(sys.stdin)["orphans_removed"])')
expect_eq "orphan files gc removed while mounted" "$orphans" 0
K get big3 | cmp - "$WORK/big3" || fail "big3 differs (katamari get) after gc"
cmp "$MNT/big3" "$WORK/big3" || fail "big3 differs through the mount after gc"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after the reproduction"; }
expect_eq "f1 through the mount" "$(cat "$MNT/f1")" one
expect_eq "key through the mount" "$(cat "$MNT/key")" key

# ---- the soak
$SOAK run "$MNT" "$BUCKET" "$KATAMARI" "$WORK" "${KATAMARI_SOAK_SECS:-40}" "$WORK/model.json" ||
  fail "the soak failed"
unmount_fs
if grep -i "failed" "$LOG"; then fail "the daemon logged failures"; fi
[ ! -e "$BUCKET/catalog.db-wal" ] || [ ! -s "$BUCKET/catalog.db-wal" ] ||
  fail "the catalog's WAL was not checkpointed at unmount"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after the soak"; }
expect_eq "integrity check after the soak" "$(integrity 2>&1)" ok
cmp <(K get big3) "$WORK/big3" || fail "big3 differs after the soak"

mount_fs
$SOAK verify "$MNT" "$BUCKET" "$KATAMARI" "$WORK/model.json" || fail "content after remount"
cmp "$MNT/big3" "$WORK/big3" || fail "big3 differs after remount"
expect_eq "f1 after remount" "$(cat "$MNT/f1")" one
unmount_fs
expect_eq "integrity check after remount" "$(integrity 2>&1)" ok
log "ok"

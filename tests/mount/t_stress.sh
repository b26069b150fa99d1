#!/usr/bin/env bash
# Several processes hammer a few shared names with random creates, writes,
# renames (also over open files), links, unlinks, truncates and fsyncs. The
# daemon must neither crash nor hang, no close() may fail, and the bucket
# must check clean afterwards. KATAMARI_TEST_STRESS_SECS sets the duration.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
H="python3 $(dirname "$0")/helpers.py"
init_bucket
mount_fs
secs=${KATAMARI_TEST_STRESS_SECS:-10}
pids=()
for i in 1 2 3 4 5 6; do
  $H stress "$MNT" "$i" "$secs" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a stress process failed"; done
ls -lR "$MNT" >/dev/null || fail "listing after stress"
grep -q "failed" "$LOG" && fail "the daemon logged failures under stress"
unmount_fs
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after stress"; }
log "ok"

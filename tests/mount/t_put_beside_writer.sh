#!/usr/bin/env bash
# `katamari put` beside the mount while the mount appends to the same file,
# on a bucket without versioning (each put drops the version it replaces):
# every open for writing in the mount succeeds, from the file's current
# version, and nothing is damaged (docs/semantics.md, "The command line beside a mount").
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket --no-versioning
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

echo start >"$WORK/start"
K put log "$WORK/start" >/dev/null || fail "katamari put log"
for _ in $(seq 200); do [ -e "$MNT/log" ] && break; sleep 0.05; done

# The CLI replaces the file 30 times while the mount appends to it 300 times.
(
  for i in $(seq 30); do
    echo "put $i" >"$WORK/put"
    K put log "$WORK/put" >/dev/null 2>>"$WORK/put.err" || { echo "put $i failed" >>"$WORK/put.err"; exit 1; }
  done
) &
PUTTER=$!
appended=0
for i in $(seq 300); do
  if ! echo "line $i" >>"$MNT/log" 2>>"$WORK/append.err"; then
    echo "append $i failed" >>"$WORK/append.err"
  else
    appended=$((appended + 1))
  fi
done
wait "$PUTTER" || { cat "$WORK/put.err"; fail "a katamari put beside the mount failed"; }
if [ -s "$WORK/append.err" ]; then
  cat "$WORK/append.err" >&2
  show_daemon_log
  fail "an append in the mount failed while the CLI replaced the file"
fi
expect_eq "appends that succeeded" "$appended" 300
# What the file holds now is the last put or appends after it, whole lines only.
tail -n +1 "$MNT/log" | grep -qvE '^(put [0-9]+|line [0-9]+|start)$' && fail "log holds a torn line"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after the puts and appends"; }
if grep -qi "input/output\|could not be pinned" "$LOG"; then
  show_daemon_log
  fail "the daemon logged a failed open or an I/O error"
fi
unmount_fs
log "ok"

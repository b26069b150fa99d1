#!/usr/bin/env bash
# Runs the README's time-travel walk-through (the console block after
# "<!-- walkthrough: time travel -->") in a fresh mount laid out as
# scripts/run.sh does (./storage/my_bucket mounted at ./mnt) and checks every
# command's output against the README (tests/mount/console_walk.py).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
README="$(cd "$(dirname "$0")/../.." && pwd)/README.md"
mount_as_run_sh

python3 "$(dirname "$0")/console_walk.py" "$README" "<!-- walkthrough: time travel -->" "$WORK" ||
  fail "the README walk-through does not run as documented"

unmount_fs
log "ok"

#!/usr/bin/env bash
# Runs every example of docs/semantics.md (each console block after a line
# "<!-- example: ... -->") in a fresh mount laid out as scripts/run.sh does
# (./storage/my_bucket mounted at ./mnt) and checks each command's output
# against the document (tests/mount/console_walk.py).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
DOC="$(cd "$(dirname "$0")/../.." && pwd)/docs/semantics.md"
mount_as_run_sh

mapfile -t markers < <(grep -E '^<!-- example: .* -->$' "$DOC")
[ "${#markers[@]}" -ge 2 ] || fail "docs/semantics.md has no examples (found ${#markers[@]})"
for m in "${markers[@]}"; do
  python3 "$(dirname "$0")/console_walk.py" "$DOC" "$m" "$WORK" ||
    fail "the example $m of docs/semantics.md does not run as documented"
done
unmount_fs
log "ok (${#markers[@]} examples)"

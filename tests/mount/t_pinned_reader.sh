#!/usr/bin/env bash
# An old version open for reading in the mount (`NAME@N`, a time view) is
# held as a write session's base is (docs/semantics.md, Retention and
# excludes): `katamari rm --version N` and `rm NAME@N` are refused while it
# is open (exit 1 / EBUSY), `katamari prune` keeps it and says so, and the
# reader reads every byte of it back; once it is closed they remove it.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

head -c 2000000 /dev/urandom >"$WORK/v1"
# Stored by the CLI (a closed pack: gc deletes it once nothing points in).
K put f "$WORK/v1" >/dev/null || fail "katamari put f"
echo second >"$MNT/f"
expect_eq "versions of f" "$(versions f)" 2

exec 3<"$MNT/f@1"
head -c 100000 <&3 >"$WORK/part1"

set +e
out=$(K rm f --version 1 2>&1)
rc=$?
set -e
expect_eq "exit status of rm --version of a version open for reading" "$rc" 1
echo "$out" | grep -q "in use" || fail "rm --version 1 said: $out"
expect_fail "rm f@1 in the mount while it is open" "busy" rm "$MNT/f@1"
K policy set keep-last=1 >/dev/null || fail "policy set"
out=$(K prune) || fail "katamari prune beside the open f@1"
echo "$out" | grep -q "kept 1 version for now: in use by a file open in a mount" ||
  fail "prune did not say it kept the open version: $out"
K gc >/dev/null || fail "gc beside the open f@1"
expect_eq "versions of f while f@1 is open" "$(versions f)" 2

cat <&3 >"$WORK/part2" || fail "reading the rest of f@1 failed"
exec 3<&-
cat "$WORK/part1" "$WORK/part2" | cmp - "$WORK/v1" || fail "f@1 read back is not version 1"

# Closed: the next prune removes it. The pin goes when the daemon gets the
# RELEASE of the last descriptor, which can be a moment after close returns:
# prune until it removed it (at most 30 s).
for _ in $(seq 300); do
  K prune >/dev/null || fail "prune after the close"
  [ "$(versions f)" = 1 ] && break
  sleep 0.1
done
expect_eq "versions of f after the close and prune" "$(versions f)" 1
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck"; }
if grep -qi "input/output" "$LOG"; then fail "the daemon logged an I/O error"; fi
unmount_fs
log "ok"

#!/usr/bin/env bash
# Pending SHA-256s (docs/semantics.md, Files, versions and history): closing
# a sparse file commits it without its SHA-256; the daemon completes and
# stores it in the background, with no request for it (the catalog row shows
# it stored while the mount runs), and not held up by a sparse file too large
# to hash in the background; a SIGTERM while it hashes a large one stops the
# daemon within seconds. `katamari ls` and `versions` show the right value
# while mounted and after. And the CLI stores what it computes: a
# version made pending again (its sha256 column emptied, as a commit leaves
# it) is stored by `katamari ls`, `versions` and `get` with no daemon.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
K() { "$KATAMARI" -b "$BUCKET" "$@"; }
Q() { sqlite3 "$BUCKET/catalog.db" "$1"; }
# The catalog inode of root entry NAME, and the length of its newest
# version's sha256 column (0: pending).
ino_of() { Q "SELECT ino FROM dentries WHERE parent = 1 AND name = CAST('$1' AS BLOB) AND seq_end IS NULL"; }
sha_len() { Q "SELECT length(sha256) FROM versions WHERE ino = $(ino_of "$1") ORDER BY vno DESC LIMIT 1"; }
# wait_stored NAME: until its newest version's SHA-256 is stored (3 minutes at
# most: the daemon hashes at nice 19, on a loaded machine it waits its turn).
wait_stored() {
  for _ in $(seq 1800); do
    [ "$(sha_len "$1")" -gt 0 ] && return 0
    sleep 0.1
  done
  return 1
}
ls_sha() { K ls "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["sha256"])'; }
versions_sha() {
  K versions "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["sha256"])'
}
# sparse PATH: 48 MiB with data at 1 MiB and at the end, holes elsewhere.
sparse() {
  python3 - "$1" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b"head" * 5000, 1 << 20)
os.pwrite(fd, b"tail" * 300, (48 << 20) - 1200)
os.close(fd)
EOF
}

init_bucket
mount_fs
# Past the background's bound (64 GiB): left to the first request, and
# ahead of nothing (smallest first).
timeout 60 truncate -s 100G "$MNT/zbig" || fail "truncate -s 100G did not finish within 3 minutes"
sparse "$MNT/sp"
sparse "$WORK/ref"
want=$(sha "$WORK/ref")
expect_eq "sha256 column of zbig (pending)" "$(sha_len zbig)" 0
wait_stored sp || fail "the daemon did not store the SHA-256 of sp within 3 minutes"
expect_eq "katamari ls sha256 while mounted" "$(ls_sha sp)" "$want"
expect_eq "katamari versions sha256 while mounted" "$(versions_sha sp)" "$want"
expect_eq "user.katamari.sha256 of sp" \
  "$(getfattr --absolute-names --only-values -n user.katamari.sha256 "$MNT/sp")" "$want"
expect_eq "sha256sum through the mount" "$(sha "$MNT/sp")" "$want"
# A later edit of the same file: a new pending version, completed too.
printf 'edit' | dd of="$MNT/sp" bs=1 seek=$((20 << 20)) conv=notrunc status=none
printf 'edit' | dd of="$WORK/ref" bs=1 seek=$((20 << 20)) conv=notrunc status=none
want=$(sha "$WORK/ref")
# (counted through the mount: `katamari versions` would complete it itself)
expect_eq "versions of sp" "$(ls "$MNT/sp@" | wc -l)" 2
wait_stored sp || fail "the daemon did not store the SHA-256 of sp@2 within 3 minutes"
expect_eq "katamari versions sha256 of sp@2" "$(versions_sha sp)" "$want"
# Beside the mount, the CLI stores what it computes (a version made pending
# again: no commit, so the daemon's worker has no reason to look).
Q "UPDATE versions SET sha256 = x'' WHERE ino = $(ino_of sp)" || fail "emptying sp's sha256"
expect_eq "katamari ls beside the mount, sp pending" "$(ls_sha sp)" "$want"
[ "$(sha_len sp)" -gt 0 ] || fail "katamari ls beside the mount did not store the SHA-256"
expect_eq "sha256sum through the mount after" "$(sha "$MNT/sp")" "$want"
rm -f "$MNT/zbig"

# ---- SIGTERM while the background hashes a large sparse version (32 GiB of
# zeros: half a minute of a core at best): the daemon still stops within
# seconds (its stop deadline is 3 s), abandoning the hash.
timeout 60 truncate -s 32G "$MNT/zz" || fail "truncate -s 32G did not finish within 60 s"
cpu() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
start=$(cpu)
for _ in $(seq 1800); do
  [ $(($(cpu) - start)) -gt 50 ] && break
  sleep 0.1
done
[ $(($(cpu) - start)) -gt 50 ] || fail "the daemon did not start hashing zz within 3 minutes"
kill -TERM "$DAEMON_PID"
stopped=0
for _ in $(seq 150); do
  kill -0 "$DAEMON_PID" 2>/dev/null || { stopped=1; break; }
  sleep 0.1
done
[ "$stopped" = 1 ] || fail "the daemon did not stop within 15 s of SIGTERM while hashing zz"
rc=0
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=""
expect_eq "exit status of the daemon after SIGTERM" "$rc" 0
fusermount3 -u -z "$MNT" 2>/dev/null || true
K rm --purge --yes zbig >/dev/null || fail "katamari rm --purge zbig"
K rm --purge --yes zz >/dev/null || fail "katamari rm --purge zz"

# ---- after the daemon: the stored values, and the CLI storing
expect_eq "katamari ls sha256 after unmount" "$(ls_sha sp)" "$want"
ino=$(ino_of sp)
Q "UPDATE versions SET sha256 = x'' WHERE ino = $ino" || fail "emptying sp's sha256 column"
expect_eq "sha256 column of sp (pending again)" "$(sha_len sp)" 0
expect_eq "katamari ls sha256 of the pending version" "$(ls_sha sp)" "$want"
[ "$(sha_len sp)" -gt 0 ] || fail "katamari ls did not store the SHA-256 it computed"
Q "UPDATE versions SET sha256 = x'' WHERE ino = $ino" || fail "emptying sp's sha256 column"
expect_eq "katamari versions sha256 of the pending version" "$(versions_sha sp)" "$want"
expect_eq "pending versions after katamari versions" \
  "$(Q "SELECT count(*) FROM versions WHERE ino = $ino AND length(sha256) = 0")" 0
Q "UPDATE versions SET sha256 = x'' WHERE ino = $ino" || fail "emptying sp's sha256 column"
expect_eq "katamari get of the pending version" "$(K get sp | sha256sum | cut -d' ' -f1)" "$want"
[ "$(sha_len sp)" -gt 0 ] || fail "katamari get did not store the SHA-256 on the way"
expect_eq "katamari versions sha256 after get" "$(versions_sha sp)" "$want"
# A user who may not write the bucket still gets the right value, stores
# nothing. (Plain buckets: a key file others may read is refused.)
if [ "${KATAMARI_TEST_ENCRYPT:-0}" != 1 ]; then
  Q "UPDATE versions SET sha256 = x'' WHERE ino = $ino" || fail "emptying sp's sha256 column"
  chmod -R a+rX "$BUCKET"
  got=$(as_nobody "$KATAMARI" -b "$BUCKET" versions sp --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["sha256"])') ||
    fail "katamari versions as nobody failed"
  expect_eq "katamari versions as a reader who may not write" "$got" "$want"
  expect_eq "sha256 column after a reader who may not write" "$(sha_len sp)" 0
fi
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck at the end"; }

#!/usr/bin/env bash
# Edits of a big file in quick succession (docs/semantics.md, When a version
# is made; Files, versions and history): each close commits only what
# changed, with its SHA-256 pending; the daemon's background hasher leaves a
# version that a newer one superseded to its first request. Whatever it did,
# every version reads back right and shows the right SHA-256 through
# `user.katamari.sha256` of NAME@N, `katamari versions` and `ls`, during the
# mount and after; the edits that cross segments, end the file, extend it
# and cut it inside a segment included. fsck passes at the end.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
K() { "$KATAMARI" -b "$BUCKET" "$@"; }
Q() { sqlite3 "$BUCKET/catalog.db" "$1"; }
ino_of() { Q "SELECT ino FROM dentries WHERE parent = 1 AND name = CAST('$1' AS BLOB) AND seq_end IS NULL"; }
newest_sha_len() {
  Q "SELECT length(sha256) FROM versions WHERE ino = $(ino_of "$1") ORDER BY vno DESC LIMIT 1"
}
xsha() { getfattr --absolute-names --only-values -n user.katamari.sha256 "$1"; }

init_bucket
mount_fs
python3 - "$WORK/ref" <<'EOF'
import random, sys
random.seed(5)
with open(sys.argv[1], "wb") as f:
    f.write(random.randbytes(24 << 20))
EOF
cp "$WORK/ref" "$MNT/f"
declare -a want=("" "$(sha "$WORK/ref")")
# edit OFFSET BYTES [truncate SIZE]: the same change to the mount and the reference.
edit() {
  printf '%s' "$2" | dd of="$MNT/f" bs=1 seek="$1" conv=notrunc status=none
  printf '%s' "$2" | dd of="$WORK/ref" bs=1 seek="$1" conv=notrunc status=none
  want+=("$(sha "$WORK/ref")")
}
cut_to() {
  truncate -s "$1" "$MNT/f"
  truncate -s "$1" "$WORK/ref"
  want+=("$(sha "$WORK/ref")")
}
size=$((24 << 20))
edit $((12 << 20)) "x"             # v2, the middle
edit $((12 << 20 + 1)) "yy"        # v3, right after: v2 superseded at once
edit $((size - 1)) "z"             # v4, the last byte
edit "$size" "tail-of-the-file"    # v5, extended
size=$((size + 16))
cut_to $((17 << 20 + 12345))       # v6, cut inside a segment
edit 4096 "head"                   # v7
n=${#want[@]}
n=$((n - 1))
expect_eq "versions of f" "$(ls "$MNT/f@" | wc -l)" "$n"
for v in $(seq 1 "$n"); do
  expect_eq "user.katamari.sha256 of f@$v" "$(xsha "$MNT/f@$v")" "${want[$v]}"
done
expect_eq "sha256sum of f" "$(sha "$MNT/f")" "${want[$n]}"
expect_eq "sha256sum of f@3" "$(sha "$MNT/f@3")" "${want[3]}"
# The newest is the background's to complete: stored with no request.
for _ in $(seq 1800); do
  [ "$(newest_sha_len f)" -gt 0 ] && break
  sleep 0.1
done
[ "$(newest_sha_len f)" -gt 0 ] || fail "the daemon did not store the SHA-256 of f@$n in 3 minutes"
K versions f --json >"$WORK/versions.json" || fail "katamari versions f"
python3 - "$WORK/versions.json" "${want[@]:1}" <<'EOF' || fail "katamari versions sha256s"
import json, sys
got = [v["sha256"] for v in json.load(open(sys.argv[1]))]
want = sys.argv[2:]
if got != want:
    sys.exit("versions sha256: got %s, want %s" % (got, want))
EOF
unmount_fs
expect_eq "katamari ls sha256 after unmount" \
  "$(K ls f --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["sha256"])')" \
  "${want[$n]}"
expect_eq "katamari get f@3" "$(K get f@3 | sha256sum | cut -d' ' -f1)" "${want[3]}"
K fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck at the end"; }

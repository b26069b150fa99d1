#!/usr/bin/env bash
# The storage engine through the mount (docs/semantics.md, When a version is
# made; Consistency, durability, integrity): an edit of a big file stores
# about one chunk and reads back exactly, its SHA-256 (completed after the
# commit) is right everywhere; kill -9 in the middle of a storm of small
# writes loses nothing whose close() returned, shows nothing torn, and the
# restart rolls nothing back (the page cache had everything).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
stored() { "$KATAMARI" -b "$BUCKET" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }

# ---- a 1-byte edit of a 48 MiB file
head -c $((48 << 20)) /dev/urandom >"$WORK/big"
cp "$WORK/big" "$MNT/big"
before=$(stored)
printf 'K' | dd of="$WORK/big" bs=1 seek=$((30 << 20)) conv=notrunc status=none
printf 'K' | dd of="$MNT/big" bs=1 seek=$((30 << 20)) conv=notrunc status=none
after=$(stored)
added=$((after - before))
[ "$added" -gt 0 ] && [ "$added" -le $((1 << 20)) ] ||
  fail "a 1-byte edit of 48 MiB stored $added bytes (expected one or two chunks)"
expect_eq "big after the edit" "$(sha "$MNT/big")" "$(sha "$WORK/big")"
expect_eq "two versions" "$(ls "$MNT/big@" | tr '\n' ' ')" "1 2 "
expect_eq "user.katamari.sha256 of the edit" \
  "$(getfattr --only-values -n user.katamari.sha256 "$MNT/big" 2>/dev/null)" "$(sha "$WORK/big")"
"$KATAMARI" -b "$BUCKET" versions big --json >"$WORK/versions.json"
expect_eq "katamari versions: the edit's SHA-256" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[-1]["sha256"])' "$WORK/versions.json")" \
  "$(sha "$WORK/big")"
# an edit in the middle and an append in one session, then read back
python3 - "$MNT/big" "$WORK/big" <<'PY'
import sys
for path in sys.argv[1:]:
    with open(path, "r+b") as f:
        f.seek(7 << 20); f.write(b"middle" * 1000)
        f.seek(0, 2); f.write(b"tail" * 5000)
PY
expect_eq "big after edit + append" "$(sha "$MNT/big")" "$(sha "$WORK/big")"
expect_eq "big@2 unchanged" "$(cmp -s "$MNT/big@2" "$MNT/big@3"; echo $?)" 1

# ---- kill -9 in the middle of a write storm
mkdir -p "$MNT/storm"
# (close() errors count: bash ignores those of a builtin's redirection.)
for w in 1 2 3 4; do
  python3 - "$MNT/storm" "$WORK/closed.$w" "$w" 2>/dev/null <<'PY' &
import os, sys
d, closed, w = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    for i in range(1, 401):
        with open(f"{d}/w{w}-{i}", "w") as f:
            f.write("writer %s file %d %0500d" % (w, i, i))
        with open(closed, "a") as c:  # only once close() has returned
            c.write(f"w{w}-{i}\n")
        with open(f"{d}/log{w}", "a") as f:
            f.write(f"line {i}\n")
except OSError:
    pass
PY
done
# Wait until the storm is under way (a condition, not a time).
for _ in $(seq 600); do
  n=$( (cat "$WORK"/closed.* 2>/dev/null || true) | wc -l)
  [ "$n" -ge 200 ] && break
  sleep 0.05
done
[ "$n" -ge 200 ] || fail "the storm did not get going"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
wait 2>/dev/null || true
fusermount3 -u -z "$MNT" || fail "lazy unmount of the dead mount"
"$KATAMARI" -b "$BUCKET" fsck >"$WORK/fsck.out" 2>&1 || { cat "$WORK/fsck.out"; fail "fsck after kill -9"; }
mount_fs
for f in $(cat "$WORK"/closed.*); do
  w=${f%%-*}; w=${w#w}; i=${f#*-}
  expect_eq "storm/$f (closed before kill -9)" "$(cat "$MNT/storm/$f")" \
    "$(printf 'writer %s file %s %0500d' "$w" "$i" "$i")"
done
for f in "$MNT"/storm/w*; do  # not yet listed as closed: whole or empty, never torn
  c=$(cat "$f"); n=${f##*/}; w=${n%%-*}; w=${w#w}; i=${n#*-}
  [ -z "$c" ] || [ "$c" = "$(printf 'writer %s file %s %0500d' "$w" "$i" "$i")" ] ||
    fail "storm/$n is torn after kill -9"
done
grep -q "recovery:" "$LOG" && fail "kill -9 made the restart roll back versions: $(grep recovery: "$LOG")"
unmount_fs
log ok

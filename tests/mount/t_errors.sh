#!/usr/bin/env bash
# Failures reach the writer as the right errno: a damaged chunk reads as EIO
# (and is logged naming the file), a full disk is ENOSPC and the bucket works
# again once space is freed.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket

# ---- a damaged chunk: EIO, never wrong bytes, and a log line naming the file
mount_fs
head -c 300000 /dev/urandom >"$WORK/victim"
cp "$WORK/victim" "$MNT/victim"
echo fine >"$MNT/bystander"
unmount_fs
# The largest stored chunk: a pack record's body (docs/pack-format.md), or a
# chunk file; four bytes in its middle garbled.
python3 - "$BUCKET" <<'EOF' || fail "no chunk found to damage"
import os, struct, sys
best = None
for root, dirs, files in os.walk(os.path.join(sys.argv[1], "packs")):
    for f in files:
        p = os.path.join(root, f)
        data = open(p, "rb").read()
        pos = 32
        while pos + 48 <= len(data) and data[pos:pos + 4] == b"KTPR":
            n = struct.unpack_from("<I", data, pos + 4)[0]
            if best is None or n > best[2]:
                best = (p, pos + 48, n)
            pos += 48 + n
for root, dirs, files in os.walk(os.path.join(sys.argv[1], "chunks")):
    for f in files:
        p = os.path.join(root, f)
        if len(f) == 64 and (best is None or os.path.getsize(p) > best[2]):
            best = (p, 0, os.path.getsize(p))
if best is None:
    sys.exit(1)
p, off, n = best
b = bytearray(open(p, "rb").read())
b[off + n // 2:off + n // 2 + 4] = b"\xff\xfe\xfd\xfc"
open(p, "wb").write(bytes(b))
EOF
mount_fs
expect_fail "read of a damaged file" "input/output error" sh -c "cat '$MNT/victim' >/dev/null"
grep -q "victim" "$LOG" || fail "no log line names the damaged file"
expect_eq "other files still read" "$(cat "$MNT/bystander")" fine
# Writing the same bytes again stores the damaged chunk anew (dedup does not
# trust the catalog row alone), and then the damaged file reads again too.
cp "$WORK/victim" "$MNT/victim.again" || fail "write of the same bytes"
cmp -s "$WORK/victim" "$MNT/victim.again" || fail "the new copy reads back"
# The copy's version commits when the kernel releases the file (after close).
for _ in $(seq 100); do cmp -s "$WORK/victim" "$MNT/victim" && break; sleep 0.1; done
cmp -s "$WORK/victim" "$MNT/victim" || fail "the damaged file still does not read after a rewrite"
unmount_fs
"$KATAMARI" -b "$BUCKET" fsck >/dev/null 2>&1 || fail "fsck after the damaged chunk was stored again"

# ---- out of space: ENOSPC to the writer, catalog consistent, usable after rm
[ "$(id -u)" = 0 ] || { log "ok (ENOSPC part skipped: needs root for a small tmpfs)"; exit 0; }
small="$WORK/small"
mkdir "$small"
mount -t tmpfs -o size=48m tmpfs "$small" || { log "ok (no tmpfs: ENOSPC part skipped)"; exit 0; }
EXTRA_CLEANUP='umount -l "$small" 2>/dev/null'
BUCKET="$small/bucket"
init_bucket --compression none
mount_fs
head -c 8M /dev/urandom >"$MNT/keep"
keep_sha=$(sha "$MNT/keep")
expect_fail "writing more than fits" "no space" sh -c "head -c 100M /dev/urandom >'$MNT/huge'"
expect_eq "earlier file intact after ENOSPC" "$(sha "$MNT/keep")" "$keep_sha"
# The failed writer's staging space is given back when the kernel releases
# its file (asynchronously after close), so retry briefly.
for _ in $(seq 50); do rm -f "$MNT/huge" 2>/dev/null && break; sleep 0.1; done
[ ! -e "$MNT/huge" ] || fail "cannot remove the file that hit ENOSPC"
"$KATAMARI" -b "$BUCKET" gc >/dev/null || fail "gc while mounted after ENOSPC"
head -c 4M /dev/urandom >"$WORK/after"
cp "$WORK/after" "$MNT/after" || fail "write after space was freed"
cmp "$WORK/after" "$MNT/after" || fail "content written after ENOSPC"
unmount_fs
"$KATAMARI" -b "$BUCKET" fsck >/dev/null 2>&1 || fail "fsck after ENOSPC"
log "ok"

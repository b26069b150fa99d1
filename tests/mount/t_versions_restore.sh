#!/usr/bin/env bash
# `katamari restore` on a mounted bucket: making a 1 GiB version current
# again adds a version that shares its chunks (no chunk bytes written) and
# takes well under a second; the mount then serves it. Also --at TIME,
# restoring a deleted file, and cp NAME@N NAME through the mount.
# KATAMARI_TEST_RESTORE_MB sets the size (default 1024).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
MB=${KATAMARI_TEST_RESTORE_MB:-1024}
SIZE=$((MB * 1024 * 1024))
K() { "$KATAMARI" -b "$BUCKET" "$@"; }
xattr() { getfattr --absolute-names --only-values -n "$1" "$2"; }
chunk_bytes() { du -sbc "$BUCKET/chunks" "$BUCKET/packs" 2>/dev/null | tail -1 | cut -f1; }
# field VERSION NAME: a field of `katamari versions big --json`
field() {
  K versions big --json | python3 -c "import json,sys
v = [x for x in json.load(sys.stdin) if x['version'] == $1][0]
print(v['$2'])"
}
# restore_ms ARGS...: runs `katamari restore big ARGS`, prints milliseconds
restore_ms() {
  local t0 t1
  t0=$(date +%s%N)
  K restore big "$@" >/dev/null || fail "katamari restore big $*"
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}

# version 1: MB MiB of one repeated byte (quick to make; it dedups to one chunk,
# so "no new chunk bytes" below is measured against a tiny store)
sha1=$(head -c "$SIZE" /dev/zero | tr '\0' k | K put big -)
sleep 1.1
T1=$(date -u +%Y-%m-%dT%H:%M:%SZ)
mount_fs
echo small >"$MNT/big"
expect_eq "version 2 through the mount" "$(cat "$MNT/big")" small

before=$(chunk_bytes)
ms=$(restore_ms --version 1)
log "restore of a $MB MiB version took $ms ms"
# The time is logged, not asserted (a busy machine is slow); that restore
# copies no data is asserted through the chunk bytes below.
expect_eq "restore wrote no chunk bytes" "$(chunk_bytes)" "$before"
expect_eq "restored version records its source" "$(field 3 restored_from)" 1
expect_eq "restored version added no bytes" "$(field 3 new_bytes)" 0
expect_eq "restored version's sha256" "$(field 3 sha256)" "$sha1"

sleep 1.1  # the kernel's attribute cache (1 s) of a file changed behind the mount
expect_eq "size through the mount" "$(stat -c %s "$MNT/big")" "$SIZE"
expect_eq "sha256 fact through the mount" "$(xattr user.katamari.sha256 "$MNT/big")" "$sha1"
expect_eq "version fact" "$(xattr user.katamari.version "$MNT/big")" 3
expect_eq "history" "$(ls "$MNT/big@" | tr '\n' ' ')" "1 2 3 "
expect_eq "big@3 sha256 fact" "$(xattr user.katamari.sha256 "$MNT/big@3")" "$sha1"
cmp "$MNT/big" "$MNT/big@1" || fail "restored content differs from version 1"

# --at TIME: the version current at T1 (version 1)
before=$(chunk_bytes)
ms=$(restore_ms --at "$T1")
log "restore --at took $ms ms"
expect_eq "restore --at wrote no chunk bytes" "$(chunk_bytes)" "$before"
expect_eq "restore --at picks the version of that moment" "$(field 4 restored_from)" 1

# restoring a deleted file brings the name back with its history
rm "$MNT/big"
K restore big --version 2 >/dev/null || fail "restore of a deleted file"
sleep 1.1
expect_eq "restored deleted file" "$(cat "$MNT/big")" small
expect_eq "its history goes on" "$(ls "$MNT/big@" | tr '\n' ' ')" "1 2 3 4 5 "

# cp NAME@N NAME through the mount
cp "$MNT/big@2" "$MNT/big"
echo other >"$MNT/big"
cp "$MNT/big@5" "$MNT/big"
expect_eq "cp big@5 big" "$(cat "$MNT/big")" small
expect_eq "cp made version 8" "$(xattr user.katamari.version "$MNT/big")" 8

unmount_fs
log "ok"

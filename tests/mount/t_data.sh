#!/usr/bin/env bash
# File content through the mount: large files, random writes against a model,
# truncate, sparse files, fallocate, mmap, O_APPEND, unlink while open and
# concurrent writers.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
H="python3 $(dirname "$0")/helpers.py"
BIG_MB=${KATAMARI_TEST_BIG_MB:-256}
mount_fs

# large file: one cp, one version, same bytes (text-like and random halves)
big="$WORK/big.src"
{ head -c $((BIG_MB / 2))M /dev/urandom; head -c $((BIG_MB / 2))M < <(yes "katamari test line $RANDOM"); } >"$big"
cp "$big" "$MNT/big"
cmp "$big" "$MNT/big" || fail "cp/cmp of a ${BIG_MB} MiB file"
expect_eq "large cp makes one version" "$(versions big)" 1
expect_eq "size" "$(stat -c %s "$MNT/big")" "$(stat -c %s "$big")"
# a one-byte change in the middle stores about one chunk
printf 'Z' | dd of="$MNT/big" bs=1 seek=$((BIG_MB * 524288)) conv=notrunc status=none
new_bytes=$("$KATAMARI" -b "$BUCKET" versions big --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["new_bytes"])')
[ "$new_bytes" -lt $((1024 * 1024)) ] || fail "one-byte change stored $new_bytes new bytes"
printf 'Z' | dd of="$big" bs=1 seek=$((BIG_MB * 524288)) conv=notrunc status=none
cmp "$big" "$MNT/big" || fail "content after one-byte change"
rm -f "$big"

# random pwrites and truncates against a model file
$H random-pwrites "$MNT/random" "$WORK/random.model" 300 42 || fail "random pwrites"
cmp "$MNT/random" "$WORK/random.model" || fail "random pwrites after close"

# truncate up and down
printf 'abcdefghij' >"$MNT/trunc"
truncate -s 4 "$MNT/trunc"
expect_eq "truncate down" "$(cat "$MNT/trunc")" abcd
truncate -s 8 "$MNT/trunc"
expect_eq "truncate up reads zeros" "$(od -An -c "$MNT/trunc" | tr -s ' ')" " a b c d \0 \0 \0 \0"
truncate -s 0 "$MNT/trunc"
expect_eq "truncate to zero" "$(stat -c %s "$MNT/trunc")" 0

# sparse file: a hole of 1 GiB costs nothing
printf 'start' >"$MNT/sparse"
printf 'end' | dd of="$MNT/sparse" bs=1 seek=$((1 << 30)) conv=notrunc status=none
expect_eq "sparse size" "$(stat -c %s "$MNT/sparse")" $(((1 << 30) + 3))
expect_eq "sparse tail" "$(tail -c 3 "$MNT/sparse")" end
expect_eq "hole reads zeros" "$(dd if="$MNT/sparse" bs=1 skip=12345678 count=4 status=none | od -An -tx1 | tr -d ' ')" 00000000

# fallocate: allocate, keep-size, punch hole
fallocate -l 100000 "$MNT/falloc"
expect_eq "fallocate -l" "$(stat -c %s "$MNT/falloc")" 100000
fallocate -n -o 0 -l 1000000 "$MNT/falloc"
expect_eq "fallocate -n keeps size" "$(stat -c %s "$MNT/falloc")" 100000
head -c 65536 /dev/urandom >"$WORK/punch.model"
cp "$WORK/punch.model" "$MNT/punch"
fallocate -p -o 5000 -l 20000 "$MNT/punch"
fallocate -p -o 5000 -l 20000 "$WORK/punch.model"
cmp "$MNT/punch" "$WORK/punch.model" || fail "punch hole"

# mmap writes and reads
$H mmap-write "$MNT/mapped" 1048576 || fail "mmap write"
expect_eq "mmap write made a version" "$(versions mapped)" 2  # truncate-create, then the mapping

# O_APPEND from several descriptors, and from the shell
$H append "$MNT/appended" 4 200 || fail "O_APPEND"
echo tail >>"$MNT/appended"
expect_eq "shell append" "$(tail -n 1 "$MNT/appended")" tail

# unlink while open
$H unlink-open "$MNT/unlinked" || fail "unlink while open"

# concurrent writers: several processes on different files, threads on one file
pids=()
for i in 1 2 3 4; do
  (head -c 8M /dev/urandom >"$WORK/c$i" && cp "$WORK/c$i" "$MNT/c$i") &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "concurrent writer failed"; done
for i in 1 2 3 4; do cmp "$WORK/c$i" "$MNT/c$i" || fail "concurrent cp $i"; done
$H same-file-writers "$MNT/same" 4 16 || fail "processes writing one file"

unmount_fs
mount_fs
cmp "$WORK/random.model" "$MNT/random" || fail "random file after remount"
expect_eq "sparse tail after remount" "$(tail -c 3 "$MNT/sparse")" end
unmount_fs

# 1 MiB per WRITE request (max_write, max_pages): the kernel's requests, as
# libfuse's debug output names them, carry 1 MiB of data, and it lands
# (buffered and O_DIRECT; 16 MiB, each MiB different).
mount_fs -d
head -c 16M /dev/urandom >"$WORK/mib.src"
dd if="$WORK/mib.src" of="$MNT/mib" bs=1M status=none || fail "dd bs=1M"
dd if="$WORK/mib.src" of="$MNT/mib-direct" bs=1M oflag=direct status=none || fail "dd bs=1M direct"
cmp "$WORK/mib.src" "$MNT/mib" || fail "content of 1 MiB writes"
cmp "$WORK/mib.src" "$MNT/mib-direct" || fail "content of 1 MiB O_DIRECT writes"
unmount_fs
# insize = the 80-byte request header + the data
big_writes=$(grep -c "opcode: WRITE (16), .*insize: $((80 + 1048576))," "$LOG" || true)
[ "$big_writes" -ge 32 ] || fail "expected 32 WRITE requests of 1 MiB, the log shows $big_writes"
mount_fs
cmp "$WORK/mib.src" "$MNT/mib" || fail "1 MiB writes after remount"
unmount_fs
log "ok"

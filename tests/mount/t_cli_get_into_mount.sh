#!/usr/bin/env bash
# `katamari get -o` into a hard-linked file on a FUSE mount: the scratch copy
# cannot be made in the target's directory there (no O_TMPFILE), so it lives
# on another file system and copy_file_range fails with EXDEV. The copy must
# fall back to read/write and never leave the target emptied.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
SRC="$WORK/source"
"$KATAMARI" -b "$SRC" init >/dev/null || fail "init of the source bucket"
head -c 300000 /dev/urandom >"$WORK/want"
"$KATAMARI" -b "$SRC" put k "$WORK/want" >/dev/null || fail "put into the source bucket"
echo "old content" >"$MNT/t"
ln "$MNT/t" "$MNT/t2" || fail "hard link in the mount"
"$KATAMARI" -b "$SRC" get k -o "$MNT/t" || fail "get -o into the mount"
cmp "$MNT/t2" "$WORK/want" || fail "the other hard link does not have the new content"
expect_eq "links kept" "$(stat -c %h "$MNT/t")" 2
unmount_fs
log ok

#!/usr/bin/env bash
# Permissions are enforced (default_permissions) for a non-root user, and the
# mount is closed to other users unless allow_other is given.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
[ "$(id -u)" = 0 ] || { log "SKIP: needs root to switch users"; exit 77; }
init_bucket

# without allow_other nobody else may even look
mount_fs
echo hello >"$MNT/hello"
chmod 644 "$MNT/hello"
expect_fail "other user without allow_other" "denied" as_nobody cat "$MNT/hello"
unmount_fs

mount_fs -o allow_other
expect_eq "allow_other lets others read" "$(as_nobody cat "$MNT/hello")" hello
echo secret >"$MNT/secret"
chmod 600 "$MNT/secret"
expect_fail "read of a 0600 root file" "denied" as_nobody cat "$MNT/secret"
expect_fail "create in a 0755 root directory" "denied" as_nobody touch "$MNT/newfile"
expect_fail "write to a 0644 root file" "denied" as_nobody sh -c "echo x >>'$MNT/hello'"
expect_fail "chmod of a root file" "not permitted" as_nobody chmod 666 "$MNT/hello"

mkdir "$MNT/pub"
chmod 1777 "$MNT/pub"
as_nobody sh -c "echo mine >'$MNT/pub/mine'" || fail "nobody cannot create in a 1777 directory"
expect_eq "owner of a file nobody created" "$(stat -c %u:%g "$MNT/pub/mine")" "$NOBODY_UID:$NOBODY_GID"
expect_eq "nobody reads back" "$(as_nobody cat "$MNT/pub/mine")" mine
as_nobody chmod 600 "$MNT/pub/mine" || fail "owner chmod"
expect_eq "owner chmod applied" "$(stat -c %a "$MNT/pub/mine")" 600
as_nobody touch -d "2001-02-03 04:05:06 UTC" "$MNT/pub/mine" || fail "owner utimens"
expect_eq "owner utimens applied" "$(stat -c %Y "$MNT/pub/mine")" 981173106
expect_fail "give a file away" "not permitted" as_nobody chown 0 "$MNT/pub/mine"
echo root >"$MNT/pub/rootfile"
expect_fail "delete someone else's file in a sticky directory" "not permitted" \
  as_nobody rm -f "$MNT/pub/rootfile"
as_nobody mkdir "$MNT/pub/dir" || fail "nobody mkdir"
expect_eq "owner of a directory nobody made" "$(stat -c %u "$MNT/pub/dir")" "$NOBODY_UID"
as_nobody rmdir "$MNT/pub/dir" || fail "nobody rmdir"

# setgid directory: new entries take its group
mkdir "$MNT/pub/sg"
chgrp 4321 "$MNT/pub/sg"
chmod 2777 "$MNT/pub/sg"
as_nobody touch "$MNT/pub/sg/f" || fail "create in setgid directory"
expect_eq "group from the setgid directory" "$(stat -c %g "$MNT/pub/sg/f")" 4321
as_nobody mkdir "$MNT/pub/sg/d"
[ -g "$MNT/pub/sg/d" ] || fail "subdirectory of a setgid directory lacks the setgid bit"

# root reads everything, tightening a mode protects the file
chmod 000 "$MNT/pub/mine"
expect_fail "read after chmod 000" "denied" as_nobody cat "$MNT/pub/mine"
expect_eq "root still reads" "$(cat "$MNT/pub/mine")" mine

unmount_fs
log "ok"

#!/usr/bin/env bash
# POSIX ACLs (docs/semantics.md, The live tree): setfacl/getfacl, the mode
# kept in step (setfacl, chmod), default ACLs inherited by new entries,
# enforcement by the kernel, rsync -aHAX, ACLs in NAME@N and DIR@TIME views
# and after a remount. Every result is compared with the same steps on an
# ext4 directory in /var/tmp: the kernel's own file system is the reference.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
[ "$(id -u)" = 0 ] || { log "SKIP: needs root to switch users"; exit 77; }
command -v setfacl >/dev/null || fail "setfacl missing (Debian package acl)"
init_bucket
REF=$(mktemp -d /var/tmp/katamari-acl-ref.XXXXXX)
chmod 755 "$REF"
EXTRA_CLEANUP="rm -rf '$REF'"

# The same steps in DIR (a fresh directory).
acl_steps() (
  cd "$1"
  umask 022
  echo data >f
  chmod 640 f
  setfacl -m u:nobody:r f
  mkdir d
  setfacl -d -m u:nobody:rwx,g::r-x d
  touch d/newfile
  mkdir d/newdir
  echo x >d/newdir/deep
  (umask 077 && touch d/masked && mkdir d/maskeddir)  # the default ACL, not the umask
  echo y >g
  setfacl -m u:nobody:rw,g::r g
  chmod 604 g  # the mask follows the group bits
  echo z >h
  setfacl -m u:nobody:r h
  setfacl -b h  # back to the mode alone
  echo w >i
  setfacl -m u::rw,g::r,o::- i  # says no more than a mode: no ACL kept
  mkdir e
  setfacl -m d:u:nobody:r e
  setfacl -k e
  mkdir p
  chmod 700 p
  setfacl -m u:nobody:rx p
  echo inside >p/in
  chmod 644 p/in
)
# getfacl of every entry in name order (directory order differs), and modes.
facls() (
  cd "$1"
  find . | LC_ALL=C sort | while read -r p; do getfacl -p "$p" 2>&1; done
  find . -printf '%p %M\n' | LC_ALL=C sort
)

acl_steps "$REF"
facls "$REF" >"$WORK/ref.acl"
grep -q 'user:nobody:r--' "$WORK/ref.acl" || fail "the reference run made no ACLs (setfacl on $REF)"

mount_fs -o allow_other
mkdir "$MNT/t"
acl_steps "$MNT/t" || fail "the ACL steps failed on the mount"
facls "$MNT/t" >"$WORK/mnt.acl"
diff -u "$WORK/ref.acl" "$WORK/mnt.acl" || fail "getfacl/modes on the mount differ from ext4's"

# enforcement: the kernel applies the ACL
expect_eq "nobody reads a 0640 root file through u:nobody:r" "$(as_nobody cat "$MNT/t/f")" data
expect_eq "nobody enters a 0700 directory through u:nobody:rx" "$(as_nobody cat "$MNT/t/p/in")" inside
expect_fail "nobody writes with u:nobody:r only" "denied" as_nobody sh -c "echo x >>'$MNT/t/f'"
as_nobody sh -c "echo more >>'$MNT/t/d/newfile'" || fail "inherited u:nobody:rwx does not let nobody write"
setfacl -x u:nobody "$MNT/t/f"
expect_fail "nobody reads after setfacl -x" "denied" as_nobody cat "$MNT/t/f"
setfacl -m u:nobody:r "$MNT/t/f"
expect_eq "nobody reads again" "$(as_nobody cat "$MNT/t/f")" data
# a default ACL on a file (setfacl refuses by itself; the call, as ext4)
default_on_file() {
  python3 -c 'import errno,os,sys
try:
    os.setxattr(sys.argv[1] + "/f", "system.posix_acl_default",
                os.getxattr(sys.argv[1] + "/d", "system.posix_acl_default"))
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}
expect_eq "a default ACL on a file (ext4: $(default_on_file "$REF"))" "$(default_on_file "$MNT/t")" \
  "$(default_on_file "$REF")"
expect_fail "trusted.* is not stored" "not supported" setfattr -n trusted.x -v 1 "$MNT/t/f"

# rsync -aHAX from the ext4 tree
rsync -aHAX "$REF/" "$MNT/copy/" || fail "rsync -aHAX into the mount exited $?"
facls "$MNT/copy" >"$WORK/copy.acl"
diff -u "$WORK/ref.acl" "$WORK/copy.acl" || fail "getfacl after rsync -aHAX differs from the source"

# views: the version's ACL (write bits dropped, as in its mode) and the
# directory's current ACL in time views
getfacl -p "$MNT/t/f@1" >"$WORK/f1.acl" 2>&1 || fail "getfacl f@1: $(cat "$WORK/f1.acl")"
grep -qx 'user:nobody:r--' "$WORK/f1.acl" || fail "f@1 shows no u:nobody:r: $(cat "$WORK/f1.acl")"
grep -qx 'user::r--' "$WORK/f1.acl" || fail "f@1 keeps a write bit: $(cat "$WORK/f1.acl")"
# A view names a whole second: take one that begins after the commits above
# (floor(now + 1.1 s) is later than now whatever the fraction).
sleep 1.1
T=$(date -u +%Y-%m-%dT%H:%M:%SZ)
(cd "$MNT/t" && getfacl -p "d@$T/newfile" "d@$T/newdir") >"$WORK/view.acl" 2>&1 ||
  fail "getfacl in d@$T: $(cat "$WORK/view.acl")"
(cd "$MNT/t" && getfacl -p "d/newfile" "d/newdir") | sed "s|^# file: d/|# file: d@$T/|" \
  >"$WORK/live.acl"
diff -u "$WORK/live.acl" "$WORK/view.acl" || fail "ACLs in the view d@$T differ from the tree"
expect_eq "nobody reads a view's file" "$(as_nobody cat "$MNT/t/d@$T/newfile")" more
expect_eq "nobody reads f@1 through the ACL" "$(as_nobody cat "$MNT/t/f@1")" data
# g: u:nobody:rw, mask --- after chmod 604: the kernel skips ACLs without group bits
ref_g=$(as_nobody cat "$REF/g" 2>&1 || true)
expect_eq "nobody reads g@1 as ext4's g" "$(as_nobody cat "$MNT/t/g@1" 2>&1 || true)" "$ref_g"
expect_fail "setfacl on a version" "read-only" setfacl -m u:nobody:rw "$MNT/t/f@1"

# survives a remount
unmount_fs
mount_fs -o allow_other
facls "$MNT/t" >"$WORK/remount.acl"
diff -u "$WORK/ref.acl" "$WORK/remount.acl" || fail "ACLs differ after a remount"
expect_eq "nobody still reads through the ACL" "$(as_nobody cat "$MNT/t/f")" data
unmount_fs
log "PASS"

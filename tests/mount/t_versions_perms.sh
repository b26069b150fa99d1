#!/usr/bin/env bash
# History permissions with allow_other, attacked as user nobody: versions
# keep the owner and mode they were committed with; reading one needs
# permission under both that and the file's current owner/mode, so a later
# owner of the name (revived after rm, or renamed over) never reads what was
# not theirs; deleting a version needs write permission on the file; and a
# time view shows every entry as it was, so `cp -a DIR@TIME/` restores modes.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
[ "$(id -u)" = 0 ] || { log "SKIP: needs root to switch users"; exit 77; }
init_bucket
DENIED="denied\|not permitted"

# expect_secret_kept WHAT CMD...: CMD fails (EACCES/EPERM) and prints nothing
# of root's secrets.
expect_secret_kept() {
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then fail "$what: succeeded (printed '$out'), expected a denial"; fi
  case "$out" in *"root's"*) fail "$what: leaked '$out'" ;; esac
  echo "$out" | grep -qi -- "$DENIED" || fail "$what: failed with '$out', not a denial"
}

mount_fs -o allow_other
umask 022

# ---- rm in a sticky directory, then nobody re-creates the name
mkdir "$MNT/tmp"
chmod 1777 "$MNT/tmp"
echo "root's secret" >"$MNT/tmp/secret"  # committed 0644 (umask), then tightened
chmod 600 "$MNT/tmp/secret"
expect_secret_kept "nobody reads secret@1 of a 0600 file" as_nobody cat "$MNT/tmp/secret@1"
rm "$MNT/tmp/secret"
expect_secret_kept "nobody reads secret@1 after rm" as_nobody cat "$MNT/tmp/secret@1"
as_nobody sh -c "echo mine >'$MNT/tmp/secret'" || fail "nobody cannot create in a 1777 directory"
expect_eq "the history was revived" "$(ls "$MNT/tmp/secret@" | tr '\n' ' ')" "1 2 "
expect_eq "secret@1 keeps root as its owner" "$(stat -c %u "$MNT/tmp/secret@1")" 0
expect_eq "secret@2 is nobody's" "$(stat -c %u "$MNT/tmp/secret@2")" "$NOBODY_UID"
expect_secret_kept "nobody reads secret@1 after re-creating the name" \
  as_nobody cat "$MNT/tmp/secret@1"
expect_secret_kept "nobody reads secret@/1" as_nobody cat "$MNT/tmp/secret@/1"
expect_secret_kept "nobody reads secret@-1" as_nobody cat "$MNT/tmp/secret@-1"
expect_secret_kept "nobody reads the sha256 of secret@1" \
  as_nobody getfattr --only-values -n user.katamari.sha256 "$MNT/tmp/secret@1"
expect_eq "nobody reads its own version" "$(as_nobody cat "$MNT/tmp/secret@2")" mine
expect_eq "root reads everything" "$(cat "$MNT/tmp/secret@1")" "root's secret"
expect_fail "nobody deletes root's version (sticky)" "$DENIED" as_nobody rm -f "$MNT/tmp/secret@1"

# ---- mv of one's own file over root's file in a 0777 directory
mkdir "$MNT/open"
chmod 0777 "$MNT/open"
(umask 077 && echo "root's data" >"$MNT/open/victim")
as_nobody sh -c "echo mine >'$MNT/open/mine'" || fail "nobody cannot create in a 0777 directory"
as_nobody mv "$MNT/open/mine" "$MNT/open/victim" || fail "nobody cannot rename in a 0777 directory"
expect_eq "victim is nobody's now" "$(as_nobody cat "$MNT/open/victim")" mine
expect_secret_kept "nobody reads victim@1" as_nobody cat "$MNT/open/victim@1"
expect_eq "root still reads victim@1" "$(cat "$MNT/open/victim@1")" "root's data"

# ---- tightening a file protects versions recorded as readable
echo "root's old" >"$MNT/open/tight"
echo "root's new" >"$MNT/open/tight"
chmod 600 "$MNT/open/tight"
expect_eq "tight@1 was committed readable" "$(stat -c %a "$MNT/open/tight@1")" 444
expect_secret_kept "nobody reads tight@1 of a file now 0600" as_nobody cat "$MNT/open/tight@1"

# ---- the names of a version's xattrs are its metadata too
umask_old=$(umask); umask 077
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT, 0o600)
os.setxattr(fd, "user.client", b"acme"); os.write(fd, b"x"); os.close(fd)' "$MNT/open/tagged" ||
  fail "making a 0600 file with an xattr"
umask "$umask_old"
names=$(python3 -c 'import os,sys; print(os.listxattr(sys.argv[1]))' "$MNT/open/tagged@1")
expect_eq "root lists tagged@1's xattrs" "$names" "['user.client']"
names=$(as_nobody /usr/bin/python3 -c 'import os,sys
try: print(os.listxattr(sys.argv[1]))
except OSError as e: print("denied", e.errno)' "$MNT/open/tagged@1")
case $names in denied*) ;; *) fail "nobody lists the xattrs of root's 0600 tagged@1: $names" ;; esac

# ---- deleting versions needs write permission on the file (0777, no sticky bit)
echo one >"$MNT/open/rootfile"
echo two >"$MNT/open/rootfile"
expect_fail "nobody rm rootfile@1" "$DENIED" as_nobody rm -f "$MNT/open/rootfile@1"
expect_fail "nobody rm rootfile@-1" "$DENIED" as_nobody rm -f "$MNT/open/rootfile@-1"
expect_fail "nobody rm rootfile@/1" "$DENIED" as_nobody rm -f "$MNT/open/rootfile@/1"
expect_fail "nobody rm -r rootfile@" "$DENIED" as_nobody rm -rf "$MNT/open/rootfile@"
expect_eq "root's versions are all there" "$(ls "$MNT/open/rootfile@" | tr '\n' ' ')" "1 2 "
expect_eq "rootfile@1 intact" "$(cat "$MNT/open/rootfile@1")" one
expect_fail "nobody rm a version of the revived secret that was root's" "$DENIED" \
  as_nobody rm -f "$MNT/tmp/secret@1"
as_nobody sh -c "echo a >'$MNT/open/own' && echo b >'$MNT/open/own'"
as_nobody rm "$MNT/open/own@1" || fail "the owner cannot delete a version of its file"
expect_eq "own@1 gone" "$(ls "$MNT/open/own@" | tr '\n' ' ')" "2 "
rm "$MNT/open/rootfile@1" || fail "root cannot delete a version"

# ---- cp -a of a time view restores owners and modes
D="$MNT/docs"
mkdir "$D" "$D/sub"
chgrp 4321 "$D"
chmod 2750 "$D"
chmod 700 "$D/sub"
echo pub >"$D/pub"
(umask 077 && echo priv >"$D/priv")
echo run >"$D/run.sh"
chmod 755 "$D/run.sh"  # chmod after the write: still this version's mode
echo theirs >"$D/theirs"
chown 1234:5678 "$D/theirs"
echo deep >"$D/sub/deep"
chmod 640 "$D/sub/deep"
T=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
# later changes the view must not show
echo changed >"$D/pub"
chmod 600 "$D/pub"
echo newer >"$D/run.sh"
chmod 644 "$D/run.sh"
rm "$D/sub/deep"
expect_eq "a view entry keeps its write bits" "$(stat -c %a "$MNT/docs@$T/pub")" 644
expect_fail "writing into a view" "read-only" sh -c "echo x >>'$MNT/docs@$T/pub'"
cp -a "$MNT/docs@$T/" "$WORK/restored" || fail "cp -a of a time view failed"
got=$(cd "$WORK/restored" && find . | LC_ALL=C sort | while IFS= read -r p; do
  stat -c '%n %a %u:%g' "$p"
done | tr '\n' ';')
# (files made in the setgid directory took its group)
want=". 2750 0:4321;./priv 600 0:4321;./pub 644 0:4321;./run.sh 755 0:4321;./sub 700 0:0;"
want+="./sub/deep 640 0:0;./theirs 644 1234:5678;"
expect_eq "modes and owners restored by cp -a" "$got" "$want"
expect_eq "content restored" "$(cat "$WORK/restored/pub") $(cat "$WORK/restored/run.sh")" "pub run"

unmount_fs
log "ok"

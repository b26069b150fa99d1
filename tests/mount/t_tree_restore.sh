#!/usr/bin/env bash
# `katamari restore --at TIME DIR` on a mounted bucket (docs/semantics.md,
# Whole trees): a tree of files, directories, a symlink and a fifo, with
# modes and owners, is copied aside at TIME, then changed through the mount
# (content, chmod, chown, new files and directories, a delete, a replaced
# symlink). The restore, run while mounted, brings it back: the mount shows
# it as soon as the kernel's attribute cache lets it (diff -r against the
# copy, modes and owners by stat); what was made after TIME keeps its
# history (NAME@). Also `restore --to`, and `ls -v NAME@` in natural order.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K() { "$KATAMARI" -b "$BUCKET" "$@"; }

# wait_until WHAT CMD...: CMD succeeds within 10 s (polled), else fail
# showing its last output.
wait_until() {
  local what=$1
  shift
  for _ in $(seq 100); do
    if "$@" >"$WORK/wait.out" 2>&1; then return 0; fi
    sleep 0.1
  done
  fail "$what: not within 10 s: $(head -c 2000 "$WORK/wait.out")"
}
# attrs DIR: "path mode uid gid type" of every entry, sorted.
attrs() { (cd "$1" && find . -mindepth 1 -printf '%p %m %U %G %y\n' | LC_ALL=C sort); }
# committed N: the catalog holds N versions under tree/ (every close committed).
committed() {
  [ "$(K du tree --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["versions"])')" = "$1" ]
}

T="$MNT/tree"
mkdir -p "$T/docs/deep" "$T/bin"
echo "report v1" >"$T/docs/report.txt"
chown "$NOBODY_UID:$NOBODY_GID" "$T/docs/report.txt"
head -c 300000 /dev/urandom >"$T/docs/deep/data.bin"
printf '#!/bin/sh\necho hi\n' >"$T/bin/run.sh"
chmod 755 "$T/bin/run.sh"
chmod 750 "$T/docs/deep"
echo secret >"$T/docs/private"
chmod 600 "$T/docs/private"
chown "$NOBODY_UID:$NOBODY_GID" "$T/docs/private"
ln -s docs/report.txt "$T/link"
mkfifo "$T/pipe"
wait_until "first versions committed" committed 4
cp -a "$T" "$WORK/copy"
TIME=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
sleep 0.05  # the changes below commit strictly after TIME

echo "report v2" >"$T/docs/report.txt"
chown root:root "$T/docs/report.txt"
head -c 1000 /dev/urandom >>"$T/docs/deep/data.bin"
# A chmod or chown records itself on the current version (docs/catalog.md,
# versions), so these follow a write: the versions current at TIME keep theirs.
echo "# more" >>"$T/bin/run.sh"
chmod 700 "$T/bin/run.sh"
echo changed >"$T/docs/private"
rm "$T/docs/private"
echo made later >"$T/docs/new.txt"
mkdir -p "$T/later/sub"
echo x >"$T/later/sub/x"
rm "$T/link"
ln -s elsewhere "$T/link"
wait_until "changes committed" committed 10
diff -r "$WORK/copy" "$T" >/dev/null 2>&1 && fail "the changes did not change the tree"
chunk_bytes() { du -sb "$BUCKET/chunks" | cut -f1; }
before=$(chunk_bytes)

K restore --at "$TIME" tree >"$WORK/out" || fail "katamari restore --at TIME tree: $(cat "$WORK/out")"
log "$(cat "$WORK/out")"
grep -q "in place: 4 files restored" "$WORK/out" || fail "restore counts: $(cat "$WORK/out")"
grep -q "deleted 2 files and 2 directories made after that time" "$WORK/out" ||
  fail "restore deletions: $(cat "$WORK/out")"
expect_eq "restore wrote no chunk data" "$(chunk_bytes)" "$before"

# The mount shows it at once (the kernel may cache attributes for up to 1 s).
same_tree() { diff -r --no-dereference -x pipe "$WORK/copy" "$T" && diff <(attrs "$WORK/copy") <(attrs "$T"); }
wait_until "the mount shows the restored tree (diff -r, modes, owners)" same_tree
expect_eq "private's owner" "$(stat -c '%a %u %g' "$T/docs/private")" "600 $NOBODY_UID $NOBODY_GID"
expect_eq "report's owner" "$(stat -c '%u %g' "$T/docs/report.txt")" "$NOBODY_UID $NOBODY_GID"
expect_eq "run.sh's mode" "$(stat -c %a "$T/bin/run.sh")" 755
expect_eq "deep's mode" "$(stat -c %a "$T/docs/deep")" 750
expect_eq "link target" "$(readlink "$T/link")" docs/report.txt
[ -p "$T/pipe" ] || fail "the fifo is not a fifo"
cmp "$T/docs/deep/data.bin" "$WORK/copy/docs/deep/data.bin" || fail "data.bin differs"
# Made after TIME: gone from the tree, history kept.
# (a name the kernel looked up stays in its dentry cache for up to 1 s)
wait_until "new.txt is gone" test ! -e "$T/docs/new.txt"
expect_eq "new.txt's history" "$(cat "$T/docs/new.txt@/1")" "made later"
expect_eq "report's history" "$(ls "$T/docs/report.txt@" | tr '\n' ' ')" "1 2 3 "
expect_eq "report now" "$(cat "$T/docs/report.txt")" "report v1"

# --to: a copy of the tree as it was, while mounted, beside the original.
K restore --at "$TIME" tree --to copies/tree >"$WORK/out" || fail "restore --to: $(cat "$WORK/out")"
wait_until "the mount shows the restored copy" diff -r --no-dereference -x pipe "$WORK/copy" "$MNT/copies/tree"
same_attrs() { diff <(attrs "$WORK/copy") <(attrs "$1"); }
wait_until "the copy's modes and owners" same_attrs "$MNT/copies/tree"
ls -a "$MNT/copies" | grep -q katamari-restore && fail "a temporary directory was left"

# ls sorts NAME@ entries as names; ls -v in version order (docs/semantics.md, Version paths).
for i in $(seq 12); do echo "$i" >"$MNT/many"; done
wait_until "12 versions of many" test "$(versions many)" = 12
expect_eq "ls -v many@" "$(ls -v "$MNT/many@" | tr '\n' ' ')" "1 2 3 4 5 6 7 8 9 10 11 12 "
expect_eq "plain ls many@" "$(ls "$MNT/many@" | tr '\n' ' ')" "1 10 11 12 2 3 4 5 6 7 8 9 "
unmount_fs
log "ok"

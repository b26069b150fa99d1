#!/usr/bin/env bash
# Ordinary programs on the mount: tar, rsync -aX, git, sqlite3.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs

# tar: extract a real tree, re-create it, compare
src=/usr/include
[ -d "$src" ] || fail "$src missing"
tar -C "$(dirname "$src")" -cf "$WORK/tree.tar" "$(basename "$src")"
mkdir "$MNT/tar"
tar -C "$MNT/tar" -xf "$WORK/tree.tar" || fail "tar x into the mount"
diff -r --no-dereference "$src" "$MNT/tar/include" >/dev/null || fail "diff -r after tar x"
tar -C "$MNT/tar" -cf "$WORK/again.tar" include || fail "tar c from the mount"
mkdir "$WORK/untar"
tar -C "$WORK/untar" -xf "$WORK/again.tar"
diff -r --no-dereference "$src" "$WORK/untar/include" >/dev/null || fail "tree re-created from the mount differs"
n_src=$(find "$src" | wc -l)
n_mnt=$(find "$MNT/tar/include" | wc -l)
expect_eq "entries after tar x" "$n_mnt" "$n_src"
rm -rf "$WORK/untar" "$WORK/again.tar" "$WORK/tree.tar"

# rsync -aX in and out, with xattrs, modes, times, symlinks and hard links
mkdir -p "$WORK/rs/sub"
echo one >"$WORK/rs/one"
head -c 300000 /dev/urandom >"$WORK/rs/sub/bin"
ln -s one "$WORK/rs/link"
ln "$WORK/rs/one" "$WORK/rs/hard"
chmod 600 "$WORK/rs/sub/bin"
touch -d "2019-05-05 05:05:05" "$WORK/rs/one"
setfattr -n user.tag -v rsync "$WORK/rs/one"
rsync -aHX "$WORK/rs/" "$MNT/rs/" || fail "rsync -aHX into the mount"
expect_eq "xattr after rsync in" "$(getfattr --absolute-names --only-values -n user.tag "$MNT/rs/one")" rsync
expect_eq "mode after rsync in" "$(stat -c %a "$MNT/rs/sub/bin")" 600
expect_eq "mtime after rsync in" "$(stat -c %Y "$MNT/rs/one")" "$(stat -c %Y "$WORK/rs/one")"
expect_eq "hard link after rsync in" "$(stat -c %h "$MNT/rs/hard")" 2
rsync -aHX "$MNT/rs/" "$WORK/rs-out/" || fail "rsync -aHX out of the mount"
diff -r --no-dereference "$WORK/rs" "$WORK/rs-out" || fail "rsync round trip differs"
expect_eq "xattr after rsync out" "$(getfattr --absolute-names --only-values -n user.tag "$WORK/rs-out/one")" rsync
# a second rsync of unchanged files transfers nothing and makes no version
before=$(versions rs/sub/bin)
rsync -aHX "$WORK/rs/" "$MNT/rs/"
expect_eq "unchanged rsync adds no version" "$(versions rs/sub/bin)" "$before"

# git
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
git init -q "$MNT/repo" || fail "git init"
cp -r "$src/linux" "$MNT/repo/linux"
git -C "$MNT/repo" add -A || fail "git add"
git -C "$MNT/repo" commit -qm first || fail "git commit"
echo change >>"$MNT/repo/linux/types.h"
git -C "$MNT/repo" commit -qam second || fail "git commit -a"
expect_eq "git log" "$(git -C "$MNT/repo" log --format=%s | tr '\n' ' ')" "second first "
git -C "$MNT/repo" fsck --strict 2>&1 | grep -qiE "error|missing|corrupt" && fail "git fsck found problems"
git -C "$MNT/repo" gc -q || fail "git gc"
git -C "$MNT/repo" fsck --strict >/dev/null 2>&1 || fail "git fsck after gc"
git clone -q "$MNT/repo" "$WORK/clone" || fail "git clone from the mount"
cmp "$MNT/repo/linux/types.h" "$WORK/clone/linux/types.h" || fail "clone differs"

# sqlite3 (journal and WAL modes)
db="$MNT/test.db"
sqlite3 "$db" "create table t(k integer primary key, v text);" || fail "sqlite create"
for i in $(seq 1 50); do echo "insert into t(v) values('row $i');"; done | sqlite3 "$db"
sqlite3 "$db" "begin; $(for i in $(seq 51 2000); do printf "insert into t(v) values('row %d');" "$i"; done) commit;"
expect_eq "sqlite rows" "$(sqlite3 "$db" 'select count(*) from t;')" 2000
expect_eq "sqlite integrity" "$(sqlite3 "$db" 'pragma integrity_check;')" ok
wal="$MNT/wal.db"
sqlite3 "$wal" "pragma journal_mode=wal; create table t(x); insert into t values(1),(2),(3);" >/dev/null
sqlite3 "$wal" "insert into t select x+3 from t; insert into t select x+6 from t;"
expect_eq "sqlite wal rows" "$(sqlite3 "$wal" 'select count(*) from t;')" 12
expect_eq "sqlite wal integrity" "$(sqlite3 "$wal" 'pragma integrity_check;')" ok

unmount_fs
mount_fs
diff -r --no-dereference "$src" "$MNT/tar/include" >/dev/null || fail "tree differs after remount"
expect_eq "sqlite rows after remount" "$(sqlite3 "$db" 'select count(*) from t;')" 2000
git -C "$MNT/repo" fsck --strict >/dev/null 2>&1 || fail "git fsck after remount"
unmount_fs
log "ok"

#!/usr/bin/env bash
# Time views through the mount (docs/semantics.md, Version paths): @TIME at the root, DIR@TIME and
# NAME@TIME are exactly what was committed at TIME. A script of creates,
# writes, renames, deletes and mkdirs runs in phases a second apart; after
# each phase a manifest (paths + sha256) and a copy of the live tree are
# taken, and at the end every @TIME view must match them, including files
# deleted since and without files created since.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
cd "$MNT"

# manifest DIR: one line per entry, sorted: "path/" for directories,
# "path -> target" for symlinks, "path sha256 mode" for files.
manifest() {
  (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
    if [ -L "$p" ]; then
      echo "$p -> $(readlink "$p")"
    elif [ -d "$p" ]; then
      echo "$p/"
    else
      echo "$p $(sha256sum <"$p" | cut -d' ' -f1)"
    fi
  done)
}

PHASES=0
declare -a WHEN
# end_phase: records the live tree of this phase, then waits until a new
# second has begun so that TIME (whole seconds) falls after this phase's
# commits and before the next phase's.
end_phase() {
  PHASES=$((PHASES + 1))
  manifest "$MNT" >"$WORK/manifest.$PHASES"
  cp -a "$MNT" "$WORK/copy.$PHASES"
  sleep 1.1
  WHEN[$PHASES]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
}

# phase 1: creates and mkdirs
mkdir -p a/b
echo hello >a/x
echo top1 >top
printf 'keep\n' >keep
ln -s top link
head -c 300000 /dev/urandom >a/b/blob
end_phase
# phase 2: writes, a rename, a name with '@', a deleted symlink
echo top2 >>top
mv a/x a/b/y
echo at >z@1
rm link
head -c 1000 /dev/urandom | dd of=a/b/blob bs=1000 seek=17 conv=notrunc status=none
end_phase
# phase 3: editor pattern, a delete, a new directory
echo top3 >top.tmp && mv top.tmp top
rm a/b/y
mkdir c
echo new >c/new
end_phase
# phase 4: a whole subtree goes, another directory takes its name, a file
# is deleted and re-created
rm -r a
mv c a
rm top
echo reborn >top
end_phase

for i in $(seq 1 $PHASES); do
  T=${WHEN[$i]}
  [ -d "@$T" ] || fail "@$T is not a directory"
  manifest "@$T" >"$WORK/view.$i"
  diff -u "$WORK/manifest.$i" "$WORK/view.$i" || fail "@$T differs from the tree after phase $i"
  diff -r --no-dereference "$WORK/copy.$i" "@$T" || fail "diff -r of @$T with a copy of phase $i"
  cp -r "@$T" "$WORK/restored.$i"
  diff -r --no-dereference "$WORK/copy.$i" "$WORK/restored.$i" || fail "cp -r of @$T"
done

# DIR@TIME and NAME@TIME, also for names deleted or replaced since
T1=${WHEN[1]} T2=${WHEN[2]} T3=${WHEN[3]} T4=${WHEN[4]}
expect_eq "a@T1 is the old directory" "$(cat "a@$T1/x")" hello
expect_eq "a@T2/b/y" "$(cat "a@$T2/b/y")" hello
expect_eq "a@T4 is the new directory" "$(ls "a@$T4")" new
[ ! -e "a@$T4/b" ] || fail "a@T4 shows the removed subtree"
expect_eq "top@T1" "$(cat "top@$T1")" top1
expect_eq "top@T2" "$(cat "top@$T2")" "$(printf 'top1\ntop2')"
expect_eq "top@T3" "$(cat "top@$T3")" top3
expect_eq "link@T1 is a symlink" "$(readlink "link@$T1")" top
[ ! -e "link@$T2" ] || fail "link@T2 exists after its deletion"
expect_eq "z@1@T2 (a real name with @, at T2)" "$(cat "z@1@$T2")" at
[ ! -e "z@1@$T1" ] || fail "z@1 existed before it was created"
expect_eq "version path inside a view" "$(cat "@$T3/top@1")" top1
expect_eq "NAME@-1 inside a view counts from the view" "$(cat "@$T2/top@-1")" top1
expect_eq "history inside a view" "$(ls "@$T3/top@" | tr '\n' ' ')" "1 2 3 4 "
expect_eq "@TIME of a subdirectory view" "$(cat "@$T2/a/b/y")" hello
cmp "@$T1/a/b/blob" "$WORK/copy.1/a/b/blob" || fail "blob at T1"
cmp "@$T2/a/b/blob" "$WORK/copy.2/a/b/blob" || fail "blob at T2"

# other spellings of a moment
day=$(date -u +%Y-%m-%d)
manifest "$MNT" >"$WORK/manifest.now"
manifest "@$day" >"$WORK/view.day"
diff -u "$WORK/manifest.now" "$WORK/view.day" || fail "a bare date is the end of that day"
manifest "@2999-01-01T00:00:00Z" >"$WORK/view.future"
diff -u "$WORK/manifest.now" "$WORK/view.future" || fail "a future moment is now"
expect_eq "before the first commit" "$(ls -A "@2000-01-01T00:00:00Z" | wc -l)" 0
minute=${T1%:??Z}Z
manifest "@$minute" >"$WORK/view.minute"
manifest "@${minute%Z}:00Z" >"$WORK/view.minute0"
diff -u "$WORK/view.minute0" "$WORK/view.minute" || fail "…T10:00Z is …T10:00:00Z"
# T2 - 0.05 s: phase 2 committed at least 0.1 s before T2, phase 3 after it
frac=$(date -u -d "$T2 - 1 second" +%Y-%m-%dT%H:%M:%S).95Z
expect_eq "fractions of a second" "$(cat "top@$frac")" "$(cat "top@$T2")"
[ ! -e "@2026-02-30T00:00:00Z" ] || fail "an impossible date resolves"
[ ! -e "top@yesterday" ] || fail "a malformed time resolves"
# An offset from UTC and a Unix time name the same moment as T2.
t2_secs=$(date -u -d "$T2" +%s)
east=$(TZ=Etc/GMT-2 date -d "@$t2_secs" +%Y-%m-%dT%H:%M:%S+02:00)
west=$(TZ=Etc/GMT+5 date -d "@$t2_secs" +%Y-%m-%dT%H:%M:%S-0500)
top2=$(printf 'top1\ntop2')
expect_eq "an offset east of UTC" "$(cat "top@$east")" "$top2"
expect_eq "an offset west of UTC" "$(cat "top@$west")" "$top2"
expect_eq "unix:SECONDS" "$(cat "top@unix:$t2_secs")" "$top2"
manifest "@unix:$t2_secs" >"$WORK/view.unix"
diff -u "$WORK/manifest.2" "$WORK/view.unix" || fail "@unix:SECONDS is the view at T2"
[ ! -e "top@${T2%Z}" ] || fail "a time without a zone resolves"
[ ! -e "top@$t2_secs" ] || fail "a bare number is a version number, not a time"
# The daemon says what it accepts when NAME exists and the suffix is not a version.
grep -q "'top@yesterday' is not a version path" "$LOG" || fail "no hint in the daemon log for top@yesterday"

# views are read-only
ro() { expect_fail "$1" "read-only" "${@:2}"; }
V="@$T2"
ro "write a file in a view" sh -c "echo x >'$V/top'"
ro "create in a view" touch "$V/new"
ro "mkdir in a view" mkdir "$V/d"
ro "rm in a view" rm "$V/top"
ro "rmdir in a view" rmdir "$V/a/b"
ro "rename in a view" mv "$V/top" "$V/top2"
ro "chmod in a view" chmod 600 "$V/top"
ro "chmod of a view" chmod 700 "$V"
ro "touch of a view" touch "$V"
ro "setfattr in a view" setfattr -n user.x -v 1 "$V/top"
ro "symlink in a view" ln -s x "$V/l"
ro "truncate in a view" truncate -s 0 "$V/top"
ro "mkdir in DIR@TIME" mkdir "a@$T2/d"
ro "rm -r of a view" rm -r "$V/a"
expect_eq "view unchanged" "$(manifest "$V")" "$(cat "$WORK/manifest.2")"
expect_eq "view mode: the directory's, write bits kept" "$(stat -c %a "$V")" "$(stat -c %a "$MNT")"
expect_eq "file in a view: its mode then, write bits kept" "$(stat -c %a "$V/top")" \
  "$(stat -c %a top)"
expect_eq "NAME@TIME: no write bits" "$(stat -c %a "top@$T2")" \
  "$(printf '%o' $((0$(stat -c %a top) & 0555)))"

cd /
unmount_fs
log "ok"

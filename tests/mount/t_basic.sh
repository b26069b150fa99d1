#!/usr/bin/env bash
# The daemon's command line and the namespace through the mount: options,
# bucket lock, daemon mode, versions at close, names, links, attributes,
# xattrs, renames, statfs.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
H="python3 $(dirname "$0")/helpers.py"

# ---- command line
rc=0; out=$("$KATAMARIFS" -o allow_other,frobnicate "$BUCKET" "$MNT" 2>&1) || rc=$?
expect_eq "unknown option exit code" "$rc" 2
echo "$out" | grep -q frobnicate || fail "unknown option not named: $out"
rc=0; out=$("$KATAMARIFS" -o compression=lzma "$BUCKET" "$MNT" 2>&1) || rc=$?
expect_eq "bad value exit code" "$rc" 2
echo "$out" | grep -q "compression=lzma" || fail "bad value not named: $out"
rc=0; "$KATAMARIFS" "$BUCKET" >/dev/null 2>&1 || rc=$?
expect_eq "missing mountpoint exit code" "$rc" 2
rc=0; out=$("$KATAMARIFS" -f "$WORK/nobucket" "$MNT" 2>&1) || rc=$?
expect_eq "missing bucket exit code" "$rc" 1
echo "$out" | grep -qi "init" || fail "missing bucket message does not say how to create one: $out"
is_mounted "$MNT" && fail "a refused start left a mount"

# ---- daemon mode: returns only once the mount serves; second daemon refused
"$KATAMARIFS" "${KEY_OPTS[@]}" -o fsname=kt-basic "$BUCKET" "$MNT" 2>>"$LOG" || fail "daemon mode start failed"
is_mounted "$MNT" || fail "daemon mode returned before the mount was there"
grep -q "^kt-basic $MNT fuse.katamari" /proc/mounts || fail "fsname/subtype not applied"
ls "$MNT" >/dev/null || fail "mount does not serve"
pid=$(tr -dc 0-9 <"$BUCKET/daemon.lock")
kill -0 "$pid" || fail "pid in daemon.lock ($pid) is not running"
mkdir -p "$WORK/mnt2"
rc=0; out=$("$KATAMARIFS" -f "${KEY_OPTS[@]}" "$BUCKET" "$WORK/mnt2" 2>&1) || rc=$?
expect_eq "second daemon exit code" "$rc" 1
echo "$out" | grep -q "already mounted by pid $pid" || fail "second daemon message: $out"
echo data >"$MNT/daemon-mode"
fusermount3 -u "$MNT" || fail "unmount of daemon mode mount"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon $pid still running after fusermount3 -u"
# (Once daemonized the log goes to syslog, not to $LOG: t_daemon_log.sh checks it.)

# ---- foreground mount for the rest
mount_fs
expect_eq "file written in daemon mode" "$(cat "$MNT/daemon-mode")" data

# versions at close
echo hi >"$MNT/a"
echo bye >"$MNT/a"
expect_eq "content" "$(cat "$MNT/a")" bye
expect_eq "two closes, two versions" "$(versions a)" 2
cat "$MNT/a" >/dev/null
python3 -c "import os; os.close(os.open('$MNT/a', os.O_RDWR))"
expect_eq "unchanged closes add no version" "$(versions a)" 2
cp /etc/services "$MNT/services"
cmp /etc/services "$MNT/services" || fail "cp/cmp of a small file"
expect_eq "one cp, one version" "$(versions services)" 1
echo more >>"$MNT/a"
expect_eq "append" "$(cat "$MNT/a")" "$(printf 'bye\nmore')"
touch "$MNT/empty"
for _ in $(seq 50); do [ "$(versions empty)" = 1 ] && break; sleep 0.1; done
expect_eq "touch makes one empty version" "$(versions empty)" 1
[ ! -s "$MNT/empty" ] || fail "touched file not empty"

# names
echo at >"$MNT/me@2"
expect_eq "name with @" "$(cat "$MNT/me@2")" at
u="$MNT/ünïcødé-日本語 ✓.txt"
echo utf8 >"$u"
expect_eq "UTF-8 name" "$(cat "$u")" utf8
ls "$MNT" | grep -q "日本語" || fail "UTF-8 name not listed"
n255=$(printf 'n%.0s' $(seq 255))
echo long >"$MNT/$n255"
expect_eq "255-byte name" "$(cat "$MNT/$n255")" long
expect_fail "256-byte name" "too long" touch "$MNT/${n255}x"

# directories
mkdir -p "$MNT/d/e/f"
echo x >"$MNT/d/e/f/file"
expect_fail "rmdir of a non-empty directory" "not empty" rmdir "$MNT/d/e"
mv "$MNT/d/e" "$MNT/d/renamed"
expect_eq "file in renamed directory" "$(cat "$MNT/d/renamed/f/file")" x
rm -r "$MNT/d"
[ ! -e "$MNT/d" ] || fail "rm -r left the directory"

# symlinks and hard links
ln -s services "$MNT/link"
expect_eq "readlink" "$(readlink "$MNT/link")" services
cmp /etc/services "$MNT/link" || fail "read through a symlink"
echo data >"$MNT/h1"
ln "$MNT/h1" "$MNT/h2"
expect_eq "link count" "$(stat -c %h "$MNT/h1")" 2
echo more >>"$MNT/h2"
expect_eq "write through the other link" "$(cat "$MNT/h1")" "$(printf 'data\nmore')"
rm "$MNT/h1"
expect_eq "link count after rm" "$(stat -c %h "$MNT/h2")" 1
expect_eq "data after removing one link" "$(cat "$MNT/h2")" "$(printf 'data\nmore')"

# attributes
echo m >"$MNT/attr"
chmod 640 "$MNT/attr"
expect_eq "chmod" "$(stat -c %a "$MNT/attr")" 640
chown 1234:5678 "$MNT/attr"
expect_eq "chown" "$(stat -c %u:%g "$MNT/attr")" 1234:5678
touch -m -d "2020-01-02 03:04:05 UTC" "$MNT/attr"
touch -a -d "2021-06-07 08:09:10 UTC" "$MNT/attr"
expect_eq "mtime alone" "$(stat -c %Y "$MNT/attr")" 1577934245
expect_eq "atime alone" "$(stat -c %X "$MNT/attr")" 1623053350
cp -p "$MNT/attr" "$MNT/attr-copy"
expect_eq "cp -p keeps mtime" "$(stat -c %Y "$MNT/attr-copy")" 1577934245

# renames
echo one >"$MNT/r1"
echo two >"$MNT/r2"
mv "$MNT/r1" "$MNT/r2"
expect_eq "rename over a file" "$(cat "$MNT/r2")" one
[ ! -e "$MNT/r1" ] || fail "source still there after rename"
echo v1 >"$MNT/doc"
echo v2 >"$MNT/doc.tmp"
mv "$MNT/doc.tmp" "$MNT/doc"
expect_eq "editor pattern content" "$(cat "$MNT/doc")" v2
expect_eq "editor pattern keeps history" "$(versions doc)" 2
echo x >"$MNT/nr1"
echo y >"$MNT/nr2"
expect_eq "RENAME_NOREPLACE" "$($H renameat2 "$MNT/nr1" "$MNT/nr2" noreplace)" EEXIST
expect_eq "RENAME_EXCHANGE" "$($H renameat2 "$MNT/nr1" "$MNT/nr2" exchange)" OK
expect_eq "exchanged 1" "$(cat "$MNT/nr1")" y
expect_eq "exchanged 2" "$(cat "$MNT/nr2")" x

# xattrs
setfattr -n user.color -v blue "$MNT/services"
expect_eq "getfattr" "$(getfattr --absolute-names --only-values -n user.color "$MNT/services")" blue
getfattr --absolute-names -d "$MNT/services" | grep -q 'user.color="blue"' || fail "user xattr not listed"
getfattr --absolute-names -d -m - "$MNT/services" | grep -q "user.katamari" && fail "version facts must not be listed"
expect_eq "user.katamari.sha256" \
  "$(getfattr --absolute-names --only-values -n user.katamari.sha256 "$MNT/services")" "$(sha /etc/services)"
setfattr -x user.color "$MNT/services"
getfattr --absolute-names -d "$MNT/services" | grep -q color && fail "removed xattr still listed"
expect_fail "trusted xattr" "not supported" setfattr -n trusted.x -v 1 "$MNT/services"

# locks (kept by the kernel): flock and fcntl
touch "$MNT/lockfile"
flock "$MNT/lockfile" sleep 2 &
locker=$!
sleep 0.5
expect_fail "flock held by another process" "" flock -n "$MNT/lockfile" true
wait "$locker"
flock -n "$MNT/lockfile" true || fail "flock after release"
python3 - "$MNT/lockfile" <<'PY' || fail "fcntl locks"
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
if os.fork() == 0:
    fd2 = os.open(sys.argv[1], os.O_RDWR)
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        os._exit(1)  # should have been refused
    except OSError:
        os._exit(0)
_, status = os.wait()
sys.exit(os.waitstatus_to_exitcode(status))
PY

# statfs
blocks=$(stat -f -c %b "$MNT")
[ "$blocks" -gt 0 ] || fail "statfs reports no blocks"
expect_eq "namemax" "$(stat -f -c %l "$MNT")" 255

unmount_fs
log "ok"

#!/usr/bin/env bash
# Special files (docs/semantics.md, The live tree): fifos, Unix sockets and
# device nodes are entries without content, made, changed, linked, renamed
# and removed as on ext4 (the same steps run in a directory on /var/tmp and
# every result is compared); data passes through a fifo in the mount and a
# socket bound in it accepts a connection; devices need CAP_MKNOD; time views
# and a remount keep them; a symlink's st_size is its target's length. The
# CLI lists them, refuses to get content from them, checks and removes them.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
[ "$(id -u)" = 0 ] || { log "SKIP: needs root (device nodes, switching users)"; exit 77; }
PY=/usr/bin/python3
k() { "$KATAMARI" -b "$BUCKET" "$@"; }

REF=$(mktemp -d /var/tmp/katamari-special-ref.XXXXXX)
chmod 755 "$REF"
EXTRA_CLEANUP='rm -rf "$REF"'
init_bucket
mount_fs -o allow_other
mkdir "$MNT/t"
mkdir "$REF/t"

# bind SOCKET [TEXT]: binds a Unix socket at SOCKET and, with TEXT, has a
# client connect through the path and exchange TEXT both ways.
bind_socket() {
  "$PY" - "$@" <<'PY'
import os, socket, sys, threading
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
if len(sys.argv) > 2:
    text = sys.argv[2].encode()
    got = {}
    def serve():
        conn, _ = srv.accept()
        got["server"] = conn.recv(100)
        conn.sendall(b"re:" + got["server"])
        conn.close()
    t = threading.Thread(target=serve)
    t.start()
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cli.settimeout(10)
    cli.connect(path)
    cli.sendall(text)
    reply = cli.recv(100)
    t.join(10)
    assert got.get("server") == text, got
    assert reply == b"re:" + text, reply
    print("exchanged", reply.decode())
srv.close()
PY
}

# The same steps in DIR (the mount, then the ext4 reference).
make_specials() {
  local d=$1
  mkfifo -m 0640 "$d/fifo"
  mknod -m 0660 "$d/null" c 1 3
  mknod -m 0640 "$d/blk" b 7 200
  bind_socket "$d/sock" >/dev/null
  ln -s some/target/path "$d/link"
  ln -s "$(printf 'caf\xc3\xa9/\xe2\x82\xac')" "$d/link8"
}
change_specials() {
  local d=$1 f
  for f in fifo null blk sock; do
    chmod 0604 "$d/$f"
    chown 1234:5678 "$d/$f"
  done
  for f in fifo null blk sock link; do touch -h -d "2001-02-03 04:05:06 UTC" "$d/$f"; done
  ln "$d/fifo" "$d/fifo.hard"
  ln "$d/null" "$d/null.hard"
  mv "$d/blk" "$d/blk.moved"
  mv "$d/sock" "$d/sock.moved"
  rm "$d/null.hard"
}
# One line per entry: name, type, major/minor (hex), mode, owner, links,
# size, mtime; the time only where the steps set it.
describe() {
  (cd "$1" && for f in $(ls -A | LC_ALL=C sort); do
    stat -c '%n|%F|%t|%T|%a|%u:%g|%h|%s' -- "$f"
  done)
}
describe_times() {
  (cd "$1" && stat -c '%n %Y' -- fifo fifo.hard null blk.moved sock.moved link)
}
# d_type of each entry as readdir(3) reports it (not stat).
dtypes() {
  "$PY" - "$1" <<'PY'
import ctypes, sys
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_uint64), ("d_off", ctypes.c_int64),
                ("d_reclen", ctypes.c_ushort), ("d_type", ctypes.c_ubyte),
                ("d_name", ctypes.c_char * 256)]
libc = ctypes.CDLL(None, use_errno=True)
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
d = libc.opendir(sys.argv[1].encode())
assert d, ctypes.get_errno()
out = []
while True:
    e = libc.readdir(d)
    if not e:
        break
    name = e.contents.d_name
    if name not in (b".", b".."):
        out.append((name, e.contents.d_type))
libc.closedir(d)
for name, t in sorted(out):
    print(name.decode(errors="replace"), t)
PY
}
compare() {  # compare WHAT: the mount's t/ against the reference's
  local got want
  got=$(describe "$MNT/t") want=$(describe "$REF/t")
  [ "$got" = "$want" ] || fail "$1: the mount shows
$got
where ext4 shows
$want"
  got=$(dtypes "$MNT/t") want=$(dtypes "$REF/t")
  [ "$got" = "$want" ] || fail "$1: readdir d_type in the mount
$got
on ext4
$want"
}

# ---- make them: fifo, character and block device, socket, symlinks
make_specials "$MNT/t" || fail "making special files in the mount"
make_specials "$REF/t"
expect_eq "stat of the fifo" "$(stat -c '%F %t %T %a' "$MNT/t/fifo")" "fifo 0 0 640"
expect_eq "stat of the char device vs ext4" "$(stat -c '%F %t %T %a' "$MNT/t/null")" \
  "$(stat -c '%F %t %T %a' "$REF/t/null")"
expect_eq "stat of the block device" "$(stat -c '%F %t %T %a' "$MNT/t/blk")" \
  "block special file 7 c8 640"
expect_eq "stat of the socket" "$(stat -c '%F' "$MNT/t/sock")" socket
expect_eq "symlink size vs ext4" "$(stat -c %s "$MNT/t/link8")" "$(stat -c %s "$REF/t/link8")"
expect_eq "symlink size" "$(stat -c %s "$MNT/t/link")" 16
expect_eq "readlink of a sized symlink" "$(readlink "$MNT/t/link8")" "$(readlink "$REF/t/link8")"
expect_eq "ls -l of a symlink" "$(ls -l "$MNT/t/link" | awk '{print $5}')" 16
expect_eq "find -size of symlinks" "$(find "$MNT/t" -type l -size 16c -printf '%f\n')" link
compare "after making them"

# ---- data through a fifo in the mount (the kernel's pipe; we never see it)
head -c 1048576 /dev/urandom >"$WORK/blob"
# The opens block until both ends are there: bounded by timeout(1), which
# also covers the open of each redirection.
timeout 30 sh -c 'cat "$1" >"$2"' _ "$WORK/blob" "$MNT/t/fifo" &
writer=$!
got=$(timeout 30 sh -c 'sha256sum <"$1"' _ "$MNT/t/fifo" | cut -d' ' -f1) ||
  fail "reading the fifo"
wait "$writer" || fail "writing the fifo"
expect_eq "bytes through the fifo" "$got" "$(sha "$WORK/blob")"
expect_eq "a fifo keeps no content" "$(stat -c %s "$MNT/t/fifo")" 0

# ---- a socket bound in the mount accepts a connection
out=$(bind_socket "$MNT/t/live.sock" hello 2>&1) || fail "socket in the mount: $out"
expect_eq "socket exchange" "$out" "exchanged re:hello"
bind_socket "$REF/t/live.sock" hello >/dev/null
expect_fail "bind over an existing socket" "in use" bind_socket "$MNT/t/live.sock"

# ---- chmod, chown, touch, hard link, rename, unlink on each
change_specials "$MNT/t" || fail "changing special files in the mount"
change_specials "$REF/t"
compare "after chmod/chown/touch/ln/mv/rm"
expect_eq "times after touch -h -d" "$(describe_times "$MNT/t")" "$(describe_times "$REF/t")"
expect_eq "hard link is the same inode" "$(stat -c %i "$MNT/t/fifo.hard")" \
  "$(stat -c %i "$MNT/t/fifo")"

# ---- who may make what: devices need CAP_MKNOD, fifos and sockets do not
mkdir -m 1777 "$MNT/pub" "$REF/pub"
for d in "$MNT/pub" "$REF/pub"; do
  expect_fail "mknod c by nobody in $d" "not permitted" as_nobody mknod "$d/dev" c 1 3
  expect_fail "mknod b by nobody in $d" "not permitted" as_nobody mknod "$d/dev" b 7 0
  as_nobody mkfifo "$d/p" || fail "mkfifo by nobody in $d"
  as_nobody "$PY" -c "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" \
    "$d/s" || fail "bind by nobody in $d"
  expect_eq "owner of nobody's fifo in $d" "$(stat -c %u:%g "$d/p")" "$NOBODY_UID:$NOBODY_GID"
done
expect_eq "nobody's entries vs ext4" "$(describe "$MNT/pub")" "$(describe "$REF/pub")"

# ---- the CLI beside the mount
k ls >"$WORK/ls" || fail "katamari ls"
grep -q "^t/fifo .* fifo " "$WORK/ls" || fail "ls does not show the fifo: $(cat "$WORK/ls")"
grep -q "^t/null .* char device 1,3 " "$WORK/ls" || fail "ls of the char device: $(cat "$WORK/ls")"
grep -q "^t/blk.moved .* block device 7,200 " "$WORK/ls" || fail "ls of the block device"
grep -q "^t/sock.moved .* socket " "$WORK/ls" || fail "ls of the socket"
k ls --json >"$WORK/ls.json" || fail "katamari ls --json"
"$PY" - "$WORK/ls.json" <<'PY' || fail "ls --json of special files"
import json, sys
d = {e["key"]: e for e in json.load(open(sys.argv[1]))}
assert d["t/fifo"]["type"] == "fifo" and d["t/fifo"]["versions"] == 0, d["t/fifo"]
assert d["t/null"]["type"] == "char" and (d["t/null"]["rdev_major"], d["t/null"]["rdev_minor"]) == (1, 3)
assert d["t/blk.moved"]["type"] == "block" and d["t/blk.moved"]["rdev_minor"] == 200
assert d["t/sock.moved"]["type"] == "socket"
PY
if k get t/fifo >"$WORK/get.out" 2>"$WORK/get.err"; then fail "katamari get of a fifo succeeded"; fi
grep -q "fifo, a special file without content" "$WORK/get.err" ||
  fail "katamari get of a fifo: $(cat "$WORK/get.err")"
[ ! -s "$WORK/get.out" ] || fail "katamari get of a fifo printed something"
# versions of a special file or symlink: a usage error naming its kind, not an empty table.
for pair in "t/fifo:a fifo" "t/null:a character device" "t/blk.moved:a block device" \
  "t/sock.moved:a socket" "t/link:a symbolic link"; do
  key=${pair%%:*} kind=${pair#*:}
  set +e
  k versions "$key" >"$WORK/v.out" 2>"$WORK/v.err"
  rc=$?
  set -e
  expect_eq "exit status of versions $key" "$rc" 2
  grep -q "'$key' is $kind, which keeps no versions" "$WORK/v.err" ||
    fail "versions $key: $(cat "$WORK/v.err")"
  [ ! -s "$WORK/v.out" ] || fail "versions $key printed a table: $(cat "$WORK/v.out")"
done
k fsck >"$WORK/fsck" 2>&1 || fail "fsck with special files: $(cat "$WORK/fsck")"

# ---- time view: as they were before they were removed
sync_time=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
k rm t/null || fail "katamari rm of a device node"
k ls >"$WORK/ls" && ! grep -q "^t/null " "$WORK/ls" || fail "katamari rm left t/null listed"
for _ in $(seq 100); do [ -e "$MNT/t/null" ] || break; sleep 0.1; done
[ ! -e "$MNT/t/null" ] || fail "t/null removed with the CLI still shows in the mount"
rm "$MNT/t/fifo" "$MNT/t/fifo.hard" "$MNT/t/blk.moved" "$MNT/t/sock.moved" "$MNT/t/link"
view="$MNT/t@$sync_time"
expect_eq "view: the fifo" "$(stat -c '%F %a %u:%g %h' "$view/fifo")" "fifo 604 1234:5678 1"
expect_eq "view: the char device" "$(stat -c '%F %t %T %a' "$view/null")" \
  "$(stat -c '%F %t %T %a' "$REF/t/null")"
expect_eq "view: the block device" "$(stat -c '%F %t %T %a' "$view/blk.moved")" \
  "block special file 7 c8 604"
expect_eq "view: the socket" "$(stat -c '%F %a' "$view/sock.moved")" "socket 604"
expect_eq "view: the symlink size" "$(stat -c %s "$view/link")" 16
expect_eq "view: d_types" "$(dtypes "$view" | grep -v live.sock)" \
  "$(dtypes "$REF/t" | grep -v live.sock)"
expect_fail "a view stays read-only" "read-only" chmod 600 "$view/fifo"

# ---- a remount keeps what is left, as it was
unmount_fs
mount_fs -o allow_other
rm "$REF/t/fifo" "$REF/t/fifo.hard" "$REF/t/blk.moved" "$REF/t/sock.moved" "$REF/t/link" \
  "$REF/t/null"
compare "after a remount"
expect_eq "readlink after a remount" "$(readlink "$MNT/t/link8")" "$(readlink "$REF/t/link8")"
expect_eq "after a remount: nobody's" "$(describe "$MNT/pub")" "$(describe "$REF/pub")"
expect_eq "after a remount: view" "$(stat -c '%F %t %T' "$MNT/t@$sync_time/blk.moved")" \
  "block special file 7 c8"
# A socket file outlives its server: connecting is refused, as on ext4.
expect_fail "connect to a dead socket" "refused" "$PY" -c \
  "import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])" "$MNT/t/live.sock"
rm "$MNT/t/live.sock" "$MNT/pub/p" "$MNT/pub/s"

# ---- a device node opens its device, unless the mount is nodev (the default)
mknod -m 0666 "$MNT/t/zero" c 1 5
grep -q " $MNT fuse[^ ]* [^ ]*nodev" /proc/mounts || fail "a FUSE mount is not nodev by default"
expect_fail "open of a device on a nodev mount" "denied" head -c 1 "$MNT/t/zero"
unmount_fs
mount_fs -o dev
expect_eq "16 bytes from the mount's /dev/zero" "$(head -c 16 "$MNT/t/zero" | od -An -tx1 | tr -d ' ')" \
  00000000000000000000000000000000
rm "$MNT/t/zero"
k fsck >"$WORK/fsck" 2>&1 || fail "fsck after removing them: $(cat "$WORK/fsck")"
unmount_fs
log "ok"

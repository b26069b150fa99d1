#!/usr/bin/env bash
# Encrypted buckets through the mount: keyfile= and passphrase_file=, a
# missing or wrong key refused at mount with a clear message, no plaintext in
# the bucket directory, nor in the staging file of a file kept open.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ]; then
  log "SKIP: this test makes its own encrypted buckets; it runs in the plain suite"
  exit 77
fi

marker="katamari-plaintext-marker-$RANDOM$RANDOM"

# Prints how many bytes of the daemon's open staging files (unlinked: reached
# through /proc/PID/fd) are lines holding $marker; fails if none is open.
staged_marker_lines() {
  local fd target files=()
  for fd in /proc/"$DAEMON_PID"/fd/*; do
    target=$(readlink "$fd" 2>/dev/null) || continue
    [[ $target == "$BUCKET/staging/session-"* ]] && files+=("$fd")
  done
  [ ${#files[@]} -gt 0 ] || fail "no open staging file in /proc/$DAEMON_PID/fd"
  cat "${files[@]}" | grep -ac "$marker" || true
}

# A file kept open stages its blocks (no commit before close): on a plain
# bucket the staging file holds the marker (so the scan below can see it), on
# an encrypted one its blocks are sealed and hold no plaintext. A helper
# process writes and keeps the file open until its stdin closes (a shell
# redirection would close a duplicate descriptor, and that flush commits).
start_marker_writer() {
  coproc HOLDER { python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
line = sys.argv[2].encode() + b"\n"
for _ in range(3000):
    os.write(fd, line)
os.write(fd, b"partial block " + line)
print("written", flush=True)
sys.stdin.read()
try:
    os.close(fd)
except OSError as e:  # the mount is gone: a failing test already unmounted it
    sys.exit("close: %s" % e)
' "$MNT/open-file" "$marker"; }
  local reply=""
  read -r -u "${HOLDER[0]}" reply || true
  [ "$reply" = written ] || fail "the writer of the open file did not finish"
}
stop_marker_writer() {
  local pid=$HOLDER_PID
  eval "exec ${HOLDER[1]}>&-"
  wait "$pid" || fail "the writer of the open file failed"
}
init_bucket
mount_fs
start_marker_writer
n=$(staged_marker_lines)
[ "$n" -gt 1000 ] || fail "plain bucket: marker in staging $n times (the scan must see it)"
stop_marker_writer
unmount_fs
BUCKET="$WORK/vault"

key="$WORK/vault.key"
init_bucket --encrypt --keyfile "$key"
[ -s "$key" ] || fail "katamari init --encrypt did not make the key file"

mount_fs -o keyfile="$key"
start_marker_writer
expect_eq "encrypted bucket: marker lines in the open staging file" "$(staged_marker_lines)" 0
if grep -rqa "$marker" "$BUCKET"; then fail "plaintext in the bucket directory while open"; fi
stop_marker_writer
expect_eq "file written while open" "$(grep -c "$marker" "$MNT/open-file")" 3001
{ for _ in $(seq 2000); do echo "$marker"; done; head -c 3M /dev/urandom; } >"$WORK/secret"
cp "$WORK/secret" "$MNT/secret"
cmp "$WORK/secret" "$MNT/secret" || fail "read back through an encrypted mount"
echo v2 >>"$MNT/secret"
expect_eq "versions on an encrypted mount" "$(KATAMARI_KEYFILE="$key" versions secret)" 2
unmount_fs
if grep -rqa "$marker" "$BUCKET"; then fail "plaintext found in the bucket directory"; fi

rc=0; out=$("$KATAMARIFS" -f "$BUCKET" "$MNT" 2>&1) || rc=$?
expect_eq "mount without a key" "$rc" 1
echo "$out" | grep -q "keyfile=" || fail "mount without a key does not say how to give one: $out"
head -c 32 /dev/urandom >"$WORK/wrong.key"
chmod 600 "$WORK/wrong.key"
rc=0; out=$("$KATAMARIFS" -f -o keyfile="$WORK/wrong.key" "$BUCKET" "$MNT" 2>&1) || rc=$?
expect_eq "mount with a wrong key" "$rc" 1
echo "$out" | grep -qi "key" || fail "wrong key message does not name the key: $out"
is_mounted "$MNT" && fail "a refused key left a mount"

mount_fs -o keyfile="$key"
tail -n 1 "$MNT/secret" | grep -q v2 || fail "content after remount with the key"
unmount_fs

# passphrase file
BUCKET="$WORK/bucket-pw"
printf 'correct horse battery staple\n' >"$WORK/pw"
chmod 600 "$WORK/pw"
init_bucket --encrypt --passphrase-file "$WORK/pw"
mount_fs -o passphrase_file="$WORK/pw"
echo hello >"$MNT/greeting"
unmount_fs
mount_fs -o passphrase_file="$WORK/pw"
expect_eq "passphrase bucket after remount" "$(cat "$MNT/greeting")" hello
unmount_fs
log "ok"

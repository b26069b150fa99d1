#!/usr/bin/env bash
# Encrypted buckets through the mount: keyfile= and passphrase_file=, a
# missing or wrong key refused at mount with a clear message, no plaintext in
# the bucket directory.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ]; then
  log "SKIP: this test makes its own encrypted buckets; it runs in the plain suite"
  exit 77
fi

key="$WORK/vault.key"
init_bucket --encrypt --keyfile "$key"
[ -s "$key" ] || fail "katamari init --encrypt did not make the key file"
marker="katamari-plaintext-marker-$RANDOM$RANDOM"

mount_fs -o keyfile="$key"
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

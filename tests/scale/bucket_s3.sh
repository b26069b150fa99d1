# shellcheck shell=bash
# A bucket whose data is on the scale suite's radosgw (docs/object-store.md), through the
# CLI and a real mount: init --data s3://, files and old versions byte-exact, everything on
# radosgw after the unmount (packs/ empty), read back with the local cache dropped, gc
# deleting objects, radosgw stopped mid-read (EIO, bounded) and started again (reads work).
# Sourced by scale_test.sh after scale_start_rgw; uses its fail().
# Usage: bucket_s3_test KATAMARI KATAMARIFS

# s3_list PREFIX: radosgw's ListObjectsV2 reply for katamari-scale/PREFIX (one page).
s3_list() {
  local key secret
  key=$(sed -n 's/^access_key_id = //p' "$KATAMARI_TEST_S3_CREDENTIALS")
  secret=$(sed -n 's/^secret_access_key = //p' "$KATAMARI_TEST_S3_CREDENTIALS")
  # curl 7.88 signs only with an x-amz-content-sha256 header (docs/object-store.md);
  # the query is signed as sent (so percent-encoded); the secret goes through a config
  # on stdin, not argv.
  printf 'user = "%s:%s"\n' "$key" "$secret" |
    curl -s --config - --aws-sigv4 "aws:amz:us-east-1:s3" \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      "$KATAMARI_TEST_S3_ENDPOINT/katamari-scale?list-type=2&prefix=${1//\//%2F}"
}
s3_count_objects() { s3_list "$1" | grep -o '<Key>' | wc -l; }
s3_object_bytes() {
  s3_list "$1" | grep -o '<Size>[0-9]*' | sed 's/<Size>//' | awk '{n += $1} END {print n + 0}'
}

bucket_s3_test() {
  local k=$1 kfs=$2 d="$SCALE_DIR/s3bucket" pid="" t0 out rc
  local b="$d/bucket" mnt="$d/mnt" url="s3://${KATAMARI_TEST_S3_ENDPOINT#http://}/katamari-scale/b1"
  mkdir -p "$mnt"
  t0=$(date +%s.%N)
  mount_b() {
    "$kfs" -f "$b" "$mnt" 2>>"$d/daemon.log" &
    pid=$!
    for _ in $(seq 200); do
      grep -q " $mnt fuse" /proc/mounts && stat "$mnt" >/dev/null 2>&1 && return 0
      kill -0 "$pid" 2>/dev/null || { fail "katamarifs exited at start: $(tail -3 "$d/daemon.log")"; return 1; }
      sleep 0.05
    done
    fail "the mount did not come up in 10 s"
    return 1
  }
  unmount_b() {
    fusermount3 -u "$mnt" || { fail "fusermount3 -u $mnt"; fusermount3 -u -z "$mnt"; }
    wait "$pid" || fail "katamarifs exited with $? after unmount: $(tail -3 "$d/daemon.log")"
    pid=""
  }
  # Never leave the mount behind, whatever fails below.
  trap 'if grep -q " $mnt fuse" /proc/mounts; then fusermount3 -u -z "$mnt"; fi; [ -n "$pid" ] && wait "$pid"; scale_stop_all' EXIT

  out=$("$k" -b "$b" init --data "$url" --data-credentials "$KATAMARI_TEST_S3_CREDENTIALS" 2>&1) ||
    { fail "init --data $url: $out"; return; }
  case $out in *"data on $url"*) ;; *) fail "init does not say where the data is: $out" ;; esac
  # The same prefix for a second bucket is refused (exit 1), and says what to do.
  out=$("$k" -b "$d/other" init --data "$url" --data-credentials "$KATAMARI_TEST_S3_CREDENTIALS" 2>&1)
  rc=$?
  [ "$rc" = 1 ] && [[ $out == *"another prefix"* ]] ||
    fail "a second bucket on $url: exit $rc, $out"

  head -c 6000000 /dev/urandom >"$d/big"
  mount_b || return
  cp "$d/big" "$mnt/big"
  echo one >"$mnt/f"
  echo two >"$mnt/f"
  mkdir "$mnt/dir"
  for i in $(seq 20); do echo "small $i" >"$mnt/dir/s$i"; done
  cmp -s "$d/big" "$mnt/big" || fail "big read back through the mount differs"
  unmount_b
  out=$(find "$b/packs" -type f -name '????????????????????????????????' | wc -l)
  [ "$out" = 0 ] || fail "$out packs still only local after the unmount"
  [ "$(s3_count_objects b1/packs/)" -gt 0 ] || fail "no pack objects on radosgw"

  rm -rf "$b/cache"
  mount_b || return
  cmp -s "$d/big" "$mnt/big" || fail "big from radosgw (cache dropped) differs"
  [ "$(cat "$mnt/f@1")" = one ] || fail "f@1 from radosgw: $(cat "$mnt/f@1")"
  [ "$(cat "$mnt/f")" = two ] || fail "f from radosgw: $(cat "$mnt/f")"
  [ "$(cat "$mnt/dir/s17")" = "small 17" ] || fail "dir/s17 from radosgw"
  unmount_b
  echo "ok - a bucket on radosgw: init, mount, write, read back from radosgw with the cache dropped ($(scale_since "$t0") s)"

  # radosgw away mid-read: EIO within a bounded time, never wrong bytes; back: reads work.
  t0=$(date +%s.%N)
  rm -rf "$b/cache"
  mount_b || return
  $KATAMARI_TEST_S3_STOP || fail "could not stop radosgw"
  local t1 secs
  t1=$(date +%s)
  out=$(cat "$mnt/big" 2>&1 >/dev/null)
  rc=$?
  secs=$(($(date +%s) - t1))
  [ "$rc" != 0 ] && [[ $out == *"Input/output error"* ]] ||
    fail "reading with radosgw stopped: exit $rc, $out"
  [ "$secs" -le 30 ] || fail "the read took $secs s to fail"
  $KATAMARI_TEST_S3_START || fail "could not start radosgw again"
  cmp -s "$d/big" "$mnt/big" || fail "big after radosgw came back differs"
  unmount_b
  echo "ok - radosgw stopped mid-read: EIO after $secs s; started again: the same mount reads ($(scale_since "$t0") s)"

  # gc deletes (or rewrites) the objects of what is gone.
  t0=$(date +%s.%N)
  local before after
  before=$(s3_object_bytes b1/packs/)
  "$k" -b "$b" rm --purge -y big >/dev/null || fail "rm --purge big"
  "$k" -b "$b" gc >/dev/null || fail "gc"
  after=$(s3_object_bytes b1/packs/)
  [ "$after" -lt $((before - 5000000)) ] || fail "gc left $after of $before bytes of packs"
  out=$("$k" -b "$b" fsck 2>&1) || fail "fsck after gc: $out"
  [ "$("$k" -b "$b" get f --version 1)" = one ] || fail "f@1 after gc"
  echo "ok - gc on radosgw: $before bytes of pack objects -> $after, fsck clean ($(scale_since "$t0") s)"
  trap scale_stop_all EXIT
}

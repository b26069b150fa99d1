# shellcheck shell=bash
# CLI tests of a bucket whose data is on an object store (docs/object-store.md), here the
# local-directory one (file://); the scale suite does the same against a real radosgw.

t_data_file_store() {
  ok k init --data "file://$W/objects" || return
  expect_grep "data on file://$W/objects" "$W/out" "init says where the data is"
  text_file "$W/a" 300000 1
  ok k put a "$W/a" || return
  echo two >"$W/b1" && echo three >"$W/b2"
  ok k put b "$W/b1" && ok k put b "$W/b2"
  # Each command's pack is sealed and uploaded when it ends.
  expect_eq "$(find "$B/packs" -type f | wc -l)" 0 "no pack left only local"
  expect_eq "$(find "$W/objects/packs" -type f | wc -l)" 3 "three packs on the store"
  rm -rf "$B/cache"
  ok k get a -o "$W/a.out" && expect_same_file "$W/a" "$W/a.out" "a from the store"
  ok k get b --version 1 && expect_eq "$(cat "$W/out")" two "b@1 from the store"
  ok k fsck
  ok k rm --purge -y a && ok k gc
  # a's pack deleted; b's two small ones merged into one.
  expect_eq "$(find "$W/objects/packs" -type f | wc -l)" 1 "pack objects after gc"
  rm -rf "$B/cache"
  ok k get b && expect_eq "$(cat "$W/out")" three "b after gc"
}

t_data_bad_input() {
  expect_rc 2 k init --data ftp://host/x
  expect_grep "^katamari: --data ftp://host/x: unknown kind of store: use s3://" "$W/err" \
    "an unknown URL scheme"
  expect_rc 2 k init --data s3://host/bucket
  expect_grep "no port after the host: write s3://HOST:PORT/BUCKET/PREFIX" "$W/err" \
    "an s3 URL without a port"
  expect_rc 2 k init --data s3://AKIAKEY:s3cr3tSECRET@127.0.0.1:7480/bucket/p
  expect_grep "holds credentials.*--data-credentials FILE" "$W/err" "keys in an s3 URL"
  ! grep -q s3cr3tSECRET "$W/err" || fail "the secret in the URL was printed"
  [ ! -e "$B/catalog.db" ] || fail "an init with keys in the URL left a catalog"
  expect_rc 2 k init --data-credentials "$W/c"
  expect_grep "given without --data" "$W/err" "--data-credentials alone"
  expect_rc 1 k init --data s3://127.0.0.1:9/bucket/p --data-credentials "$W/no-such-file"
  expect_grep "no-such-file.*give the file of access_key_id and secret_access_key" "$W/err" \
    "a missing credentials file"
  [ ! -e "$B/catalog.db" ] || fail "a failed init left a catalog"
  # A prefix another bucket uses is refused.
  ok "$KATAMARI" -b "$W/first" init --data "file://$W/objects" || return
  expect_rc 1 k init --data "file://$W/objects"
  expect_grep "already holds a bucket's data; give --data another prefix" "$W/err" \
    "a second bucket on one prefix"
  # The store gone (the directory replaced by a file): commands that need it fail clearly.
  text_file "$W/a" 1000 2
  ok "$KATAMARI" -b "$W/first" put a "$W/a" || return
  rm -rf "$W/objects" "$W/first/cache" && echo x >"$W/objects"
  expect_rc 1 "$KATAMARI" -b "$W/first" get a
}

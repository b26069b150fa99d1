#!/usr/bin/env bash
# The scale suite: starts a throwaway Ceph radosgw and PostgreSQL 15 on 127.0.0.1
# (tests/scale/servers.sh), runs the object-store tests against the radosgw, checks the
# PostgreSQL server takes connections, and stops both by pid on exit, also on failure.
# With KATAMARI and KATAMARIFS also a bucket whose data is on the radosgw (bucket_s3.sh;
# the mount part needs root and /dev/fuse).
# Usage: scale_test.sh UNIT_OBJECT_STORE_BINARY [KATAMARI KATAMARIFS]
set -uo pipefail
here=$(dirname "$(readlink -f "$0")")
unit=${1:?usage: scale_test.sh UNIT_OBJECT_STORE_BINARY [KATAMARI KATAMARIFS]}
katamari=${2:-}
katamarifs=${3:-}
# shellcheck source=tests/scale/servers.sh
source "$here/servers.sh"
# shellcheck source=tests/scale/bucket_s3.sh
source "$here/bucket_s3.sh"

failed=0
fail() { echo "FAIL [scale]: $*" >&2; failed=1; }

t0=$(date +%s.%N)
scale_install || { echo "FAIL [scale]: could not install the servers' packages" >&2; exit 1; }
scale_begin
scale_start_rgw || { fail "radosgw did not start (logs: $SCALE_DIR/log)"; exit 1; }
scale_start_pg || { fail "PostgreSQL did not start (logs: $SCALE_DIR/pg)"; exit 1; }
echo "scale: servers up in $(scale_since "$t0") s"

# PostgreSQL: the harness's server takes a connection and answers with its version.
ver=$(psql "$KATAMARI_TEST_PG_URL" -X -At -v ON_ERROR_STOP=1 -c 'SHOW server_version_num' 2>&1)
case $ver in
  15*) echo "ok - PostgreSQL $ver at $KATAMARI_TEST_PG_URL" ;;
  *) fail "psql to $KATAMARI_TEST_PG_URL: $ver" ;;
esac
out=$(psql "$KATAMARI_TEST_PG_URL" -X -At -v ON_ERROR_STOP=1 \
  -c 'CREATE TABLE t (k int PRIMARY KEY)' -c 'INSERT INTO t VALUES (1), (2)' \
  -c 'SELECT sum(k) FROM t' 2>&1 | tail -1)
if [ "$out" = 3 ]; then
  echo "ok - PostgreSQL stores and reads a table"
else
  fail "PostgreSQL table round trip: $out"
fi

# The object-store contract and the S3 client against the real radosgw.
t1=$(date +%s.%N)
json="$SCALE_DIR/unit_object_store.json"
if "$unit" --gtest_brief=1 --gtest_output="json:$json"; then
  echo "ok - unit_object_store against $KATAMARI_TEST_S3_ENDPOINT ($(scale_since "$t1") s)"
else
  fail "unit_object_store against $KATAMARI_TEST_S3_ENDPOINT"
fi
# Every S3 case must really have run: a skip here means the harness did not reach it.
skipped=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(t["classname"] + "." + t["name"] for s in d["testsuites"] for t in s["testsuite"]
               if t.get("result") == "SKIPPED"))' "$json" 2>&1)
[ -z "$skipped" ] || fail "skipped although a server is up: $skipped"

# A bucket with its data on the radosgw, through the CLI and a mount.
if [ -n "$katamari" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  bucket_s3_test "$katamari" "$katamarifs"
elif [ -n "$katamari" ]; then
  fail "a bucket on radosgw needs /dev/fuse and fusermount3"
fi

t2=$(date +%s.%N)
( exit "$failed" )
scale_stop_all  # keeps the server logs if something failed
trap - EXIT
echo "scale: servers stopped in $(scale_since "$t2") s; whole suite $(scale_since "$t0") s"
exit "$failed"

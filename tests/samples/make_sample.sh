#!/bin/bash
# Makes one sample bucket for tests/samples/ (see README.md there).
#
#   make_sample.sh KATAMARI KATAMARIFS OUT_DIR [KEYFILE]
#
# With KEYFILE the bucket is encrypted with that key file (made if missing).
# Needs root (or fuse access) for the mount part: the empty directory, the
# symlinks and the file written through the mount. The content is the same on
# every run (only ids of an encrypted bucket, nonces and times differ), so the
# expected sizes and SHA-256s in tests/unit/sample_bucket_test.cc hold for
# every sample made with this script.
set -euo pipefail

KATAMARI=$(realpath "$1")
KATAMARIFS=$(realpath "$2")
OUT=$3
KEYFILE=${4:-}
[ ! -e "$OUT" ] || { echo "make_sample: $OUT exists; remove it first" >&2; exit 1; }

WORK=$(mktemp -d /tmp/katamari-sample-XXXXXX)
MNT="$WORK/mnt"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then
    fusermount3 -u "$MNT" 2>/dev/null || true
    wait "$DAEMON_PID" || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$(dirname "$OUT")" "$MNT"
KEY_OPTS=()
if [ -n "$KEYFILE" ]; then
  "$KATAMARI" -b "$OUT" init --encrypt --keyfile "$KEYFILE" \
    --chunk-min 256 --chunk-avg 1K --chunk-max 4K >/dev/null
  KATAMARI_KEYFILE=$(realpath "$KEYFILE")
  export KATAMARI_KEYFILE
  KEY_OPTS=(-o "keyfile=$KATAMARI_KEYFILE")
else
  "$KATAMARI" -b "$OUT" init --chunk-min 256 --chunk-avg 1K --chunk-max 4K >/dev/null
fi
k() { "$KATAMARI" -b "$OUT" "$@" >/dev/null; }

# hello.txt: three versions, then version 1 restored as version 4.
printf 'hello, world\n' >"$WORK/h1"
printf 'hello, katamari\n' >"$WORK/h2"
printf 'hello, katamari\nsecond line\n' >"$WORK/h3"
k put hello.txt "$WORK/h1"
k put hello.txt "$WORK/h2"
k put hello.txt "$WORK/h3"
k restore hello.txt --version 1

# docs/notes.md: ~12 KB of text (several chunks), then one line changed
# (the unchanged chunks are shared between the two versions).
python3 -c '
for i in range(400): print(f"note {i:04d}: the quick brown fox")' >"$WORK/n1"
sed 's/^note 0200: .*/note 0200: CHANGED/' "$WORK/n1" >"$WORK/n2"
k put docs/notes.md "$WORK/n1"
k put docs/notes.md "$WORK/n2"

# data/random.bin: 5,000 incompressible bytes (stored raw), mode 0600.
python3 -c '
import random, sys
r = random.Random(1)
sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(5000)))' >"$WORK/r1"
k put data/random.bin "$WORK/r1" --mode 600

# sparse.img: 40 KiB with a hole between "start" and "end" (a hole ref).
printf 'start' >"$WORK/s1"
truncate -s 40960 "$WORK/s1"
printf 'end\n' | dd of="$WORK/s1" bs=1 seek=36864 conv=notrunc status=none
k put sparse.img "$WORK/s1"

# gone.txt: two versions, then deleted (history kept).
printf 'first\n' >"$WORK/g1"
printf 'second\n' >"$WORK/g2"
k put gone.txt "$WORK/g1"
k put gone.txt "$WORK/g2"
k rm gone.txt

# Through the mount: an empty directory, two symlinks, a nested file and a
# file with a hole written by the mount (its own write path).
"$KATAMARIFS" -f "${KEY_OPTS[@]}" "$OUT" "$MNT" 2>"$WORK/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 200); do
  if mountpoint -q "$MNT"; then break; fi
  sleep 0.05
done
mountpoint -q "$MNT" || { cat "$WORK/daemon.log" >&2; exit 1; }
mkdir "$MNT/empty-dir"
ln -s hello.txt "$MNT/link-to-hello"
ln -s ../hello.txt "$MNT/docs/up-link"
mkdir -p "$MNT/deep/a/b"
printf 'leaf\n' >"$MNT/deep/a/b/leaf.txt"
printf 'head' >"$MNT/mount-hole.bin"
truncate -s 102400 "$MNT/mount-hole.bin"
printf 'tail' | dd of="$MNT/mount-hole.bin" bs=1 seek=102400 conv=notrunc status=none
fusermount3 -u "$MNT"
wait "$DAEMON_PID"
DAEMON_PID=""

# fsck on a copy: it opens the catalog read-only, which leaves an empty
# -wal and a -shm file behind.
cp -a "$OUT" "$WORK/check"
"$KATAMARI" -b "$WORK/check" fsck >/dev/null

# Every process has closed the catalog, so SQLite has checkpointed and
# removed its -wal file; make sure, since the sample must be one file.
for f in "$OUT"/*-wal "$OUT"/*-shm; do
  [ -e "$f" ] || continue
  echo "make_sample: $f left behind" >&2
  exit 1
done
echo "made $OUT"

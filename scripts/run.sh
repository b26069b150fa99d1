#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a mounted bucket (README.md, Quick start):
# installs what is missing, builds in ./build, creates ./storage/my_bucket
# (zstd) if there is none, and mounts it at ./mnt (or MOUNTPOINT) with
# katamarifs. Prints what to try and how to unmount. Running it again while
# mounted just says so.
#
# Usage: scripts/run.sh [MOUNTPOINT]
#   KATAMARI_BUCKET=DIR scripts/run.sh     use another bucket directory
#   KATAMARI_BUILD_DIR=DIR scripts/run.sh  build in (or use) DIR instead of ./build
# Each step says what it does ("run.sh: building ..."); the build shows ninja's own
# progress ([12/80] ...), so a first build of a few minutes is never silent.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "run.sh: $*"; }
source scripts/deps.sh
say "checking the build tools (apt-get installs what is missing)"
katamari_install "${KATAMARI_BUILD_PKGS[@]}"

BUILD=${KATAMARI_BUILD_DIR:-build}
if [ ! -d "$BUILD" ]; then
  say "configuring the build in $BUILD (meson setup)"
  setup_log=$(mktemp)
  meson setup "$BUILD" >"$setup_log" 2>&1 || {
    cat "$setup_log" >&2
    rm -f "$setup_log"
    echo "run.sh: meson setup $BUILD failed (above)" >&2
    exit 1
  }
  rm -f "$setup_log"
fi
say "building in $BUILD (ninja; the first build takes a few minutes)"
ninja -C "$BUILD" || { echo "run.sh: the build failed; see 'ninja -C $BUILD'" >&2; exit 1; }

KATAMARI=$BUILD/daemon/katamari
KATAMARIFS=$BUILD/daemon/katamarifs
BUCKET=${KATAMARI_BUCKET:-./storage/my_bucket}
MNT=${1:-./mnt}

if [ ! -e "$BUCKET/catalog.db" ]; then
  say "creating the bucket $BUCKET"
  "$KATAMARI" -b "$BUCKET" init --compression zstd
fi

mounted() { mountpoint -q "$MNT" 2>/dev/null; }
unmount_hint() {
  if [ "$(id -u)" -eq 0 ]; then echo "umount $MNT"; else echo "fusermount3 -u $MNT"; fi
}

print_cli_usage() {
  cat <<EOF
The bucket is at $BUCKET. Use it with the CLI:
  $KATAMARI -b $BUCKET put notes.txt README.md      # prints the sha256
  $KATAMARI -b $BUCKET put notes.txt README.md --meta author=me
  $KATAMARI -b $BUCKET ls
  $KATAMARI -b $BUCKET versions notes.txt
  $KATAMARI -b $BUCKET get notes.txt --version 1
  $KATAMARI -b $BUCKET --help
EOF
}

if mounted; then
  echo "$BUCKET is already mounted at $MNT (unmount with: $(unmount_hint))"
  exit 0
fi

# The mount daemon arrives in its own issue: use it only once it really mounts.
if [ -x "$KATAMARIFS" ] && [ -e /dev/fuse ]; then
  katamari_install fuse3
  made_mnt=0
  [ -d "$MNT" ] || { mkdir -p "$MNT"; made_mnt=1; }
  say "mounting $BUCKET at $MNT (katamarifs)"
  if timeout 60 "$KATAMARIFS" "$BUCKET" "$MNT" >"$BUILD/katamarifs-run.log" 2>&1 && mounted; then
    cat <<EOF
Mounted $BUCKET at $MNT. Try:
  echo hello > $MNT/hello.txt; echo world >> $MNT/hello.txt
  ls -l $MNT/hello.txt@              # one entry per version
  cat $MNT/hello.txt@1               # the first version
  getfattr -n user.katamari.sha256 $MNT/hello.txt
  $KATAMARI -b $BUCKET versions hello.txt
Unmount with: $(unmount_hint)
EOF
    exit 0
  fi
  echo "katamarifs did not mount $MNT yet (log: $BUILD/katamarifs-run.log)."
  [ "$made_mnt" -eq 0 ] || rmdir "$MNT" 2>/dev/null || true
elif [ ! -e /dev/fuse ]; then
  echo "no /dev/fuse on this machine: the bucket cannot be mounted here."
fi
print_cli_usage

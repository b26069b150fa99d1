#!/usr/bin/env bash
# Mount benchmark (issue 3): katamarifs vs gocryptfs (an encrypting FUSE
# filesystem, our nearest peer in per-byte work) vs a plain directory, all in
# the same run. Prints each figure and the ratio katamarifs/gocryptfs
# (throughput: higher is better, >= 1.0 is the aim; times: lower is better).
#
# Usage: scripts/bench_mount.sh     (root, /dev/fuse; work dir $KATAMARI_BENCH_DIR or /var/tmp,
#                                   which must be a short path)
#   KATAMARI_BENCH_MIB=256 ...   smaller sequential files (default 1024)
#   KATAMARI_BENCH_BIG_MIB=4096  the file written while sampling daemon RSS
#   KATAMARI_BENCH_RUNS=3        runs per sequential figure (median)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" "${KATAMARI_BENCH_PKGS[@]}" python3

[ -d build ] || meson setup build >/dev/null
ninja -C build daemon/katamari daemon/katamarifs >/dev/null
KATAMARI="$ROOT/build/daemon/katamari"
KATAMARIFS="$ROOT/build/daemon/katamarifs"
MIB=${KATAMARI_BENCH_MIB:-1024}
BIG_MIB=${KATAMARI_BENCH_BIG_MIB:-4096}
RUNS=${KATAMARI_BENCH_RUNS:-3}

# Short paths: fs_mark refuses directory names of 40 bytes or more.
WORK=$(mktemp -d "${KATAMARI_BENCH_DIR:-/var/tmp}/kb.XXXXXX")
KMNT="$WORK/k.mnt" GMNT="$WORK/g.mnt" PLAIN="$WORK/plain"
mkdir -p "$KMNT" "$GMNT" "$PLAIN"
cleanup() {
  set +e
  for m in "$KMNT" "$GMNT"; do
    grep -q " $m fuse" /proc/mounts && { fusermount3 -u "$m" || fusermount3 -u -z "$m"; }
  done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

mount_k() {
  [ -d "$WORK/k.bucket" ] || "$KATAMARI" -b "$WORK/k.bucket" init >/dev/null
  "$KATAMARIFS" "$WORK/k.bucket" "$KMNT" 2>>"$WORK/k.log"
}
mount_g() {
  if [ ! -d "$WORK/g.cipher" ]; then
    mkdir -p "$WORK/g.cipher"
    echo benchpass >"$WORK/g.pass"
    gocryptfs -q -init -passfile "$WORK/g.pass" "$WORK/g.cipher" >/dev/null
  fi
  gocryptfs -q -nosyslog -passfile "$WORK/g.pass" "$WORK/g.cipher" "$GMNT"
}
umount_all() {
  for m in "$KMNT" "$GMNT"; do
    grep -q " $m fuse" /proc/mounts && fusermount3 -u "$m"
  done
  for _ in $(seq 100); do grep -qE " ($KMNT|$GMNT) fuse" /proc/mounts || break; sleep 0.1; done
}
remount() { umount_all; mount_k; mount_g; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

echo "preparing inputs (${MIB} MiB text, ${MIB} MiB random, /usr/include tarball)..."
python3 scripts/textgen.py make "$WORK/text.src" $((MIB * 1024 * 1024)) --seed 3
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$WORK/rand.src"
tar cf "$WORK/include.tar" -C /usr include
ENTRIES=$(tar tf "$WORK/include.tar" | wc -l)
mount_k
mount_g

declare -A R  # results: R[figure,target] = value
seq_bench() {  # seq_bench NAME SRC
  local name=$1 src=$2 t dir w=() r=()
  for target in k g p; do
    w=() r=()
    for _ in $(seq "$RUNS"); do
      case $target in k) dir=$KMNT ;; g) dir=$GMNT ;; p) dir=$PLAIN ;; esac
      rm -f "$dir/$name"
      drop_caches
      t=$(now)
      dd if="$src" of="$dir/$name" bs=1M status=none conv=fsync
      w+=("$(python3 -c "print($MIB * 1.048576 / ($(now) - $t))")")
      remount
      drop_caches
      t=$(now)
      dd if="$dir/$name" of=/dev/null bs=1M status=none
      r+=("$(python3 -c "print($MIB * 1.048576 / ($(now) - $t))")")
      cmp -s "$src" "$dir/$name" || { echo "MISMATCH reading back $name from $target" >&2; exit 1; }
      rm -f "$dir/$name"
    done
    R["$name write MB/s,$target"]=$(median "${w[@]}")
    R["$name read MB/s,$target"]=$(median "${r[@]}")
  done
}
seq_bench text "$WORK/text.src"
seq_bench random "$WORK/rand.src"

for target in k g p; do
  case $target in k) dir=$KMNT ;; g) dir=$GMNT ;; p) dir=$PLAIN ;; esac
  mkdir -p "$dir/fm"
  out=$(fs_mark -n 2000 -s 4096 -d "$dir/fm" -l "$WORK/fs_mark.$target.log" 2>&1)
  R["fs_mark files/s,$target"]=$(echo "$out" | awk '/^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+/ {print $4; exit}')
  rm -rf "$dir/fm"
  mkdir -p "$dir/tree"
  drop_caches
  t=$(now); tar xf "$WORK/include.tar" -C "$dir/tree"; R["tar x s,$target"]=$(python3 -c "print($(now) - $t)")
  ls -lR "$dir/tree" >/dev/null  # warm up
  t=$(now); ls -lR "$dir/tree" >/dev/null; R["warm ls -lR s,$target"]=$(python3 -c "print($(now) - $t)")
  t=$(now); find "$dir/tree" >/dev/null; R["warm find s,$target"]=$(python3 -c "print($(now) - $t)")
done

# Peak RSS of the katamarifs daemon while a big file is written through it.
PID=$(pgrep -f "katamarifs $WORK/k.bucket" | head -1)
dd if=/dev/zero bs=1M count="$BIG_MIB" status=none | tr '\0' 'k' >"$KMNT/big" &
DD=$!
PEAK=0
while kill -0 "$DD" 2>/dev/null; do
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$PEAK" ] && PEAK=$rss
  sleep 0.5
done
wait "$DD"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
[ "${rss:-0}" -gt "$PEAK" ] && PEAK=$rss

echo
printf "%-24s %12s %12s %12s %10s\n" figure katamarifs gocryptfs plain-dir "k/gocrypt"
for fig in "text write MB/s" "text read MB/s" "random write MB/s" "random read MB/s" \
           "fs_mark files/s" "tar x s" "warm ls -lR s" "warm find s"; do
  python3 - "$fig" "${R[$fig,k]:-0}" "${R[$fig,g]:-0}" "${R[$fig,p]:-0}" <<'PY'
import sys
fig, k, g, p = sys.argv[1], *map(float, sys.argv[2:])
# For times lower is better: the ratio is gocryptfs/katamarifs so >= 1.0 means "as fast or faster".
ratio = (k / g if g else 0) if not fig.endswith(" s") else (g / k if k else 0)
print(f"{fig:<24} {k:12.2f} {g:12.2f} {p:12.2f} {ratio:9.2f}x")
PY
done
echo "(tar of /usr/include: $ENTRIES entries; ratio >= 1.0 means katamarifs is at least as fast)"
echo "katamarifs peak RSS while writing ${BIG_MIB} MiB: $((PEAK / 1024)) MiB (aim < 256 MiB)"

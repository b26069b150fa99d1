#!/usr/bin/env bash
# Times `katamari put` and `katamari get` of a 1 GiB text-like file against
# `zstd -T1` at the bucket's level (compress, decompress) on the same file in
# the same run. Medians of 3 runs; each put goes into a fresh bucket. Prints
# the time ratios (aim: put <= 1.0x zstd, get <= 1.2x zstd -d), the
# compression ratios, and the CLI's peak RSS (aim: well under 200 MiB), and
# checks that the file round-trips byte for byte. The same put and get on an
# encrypted bucket (init --encrypt, a key file) give the encrypted line (aim:
# within 10% of the plain figures, docs/semantics.md, Encryption).
#
# Usage: scripts/bench.sh [store|mount|all]   (default: all)
#   store: this file's CLI benchmark; mount: scripts/bench_mount.sh (katamarifs
#   vs gocryptfs vs a plain directory, needs root and /dev/fuse).
#   Work dir: $KATAMARI_BENCH_DIR or /tmp
#   KATAMARI_BENCH_MIB=256 scripts/bench.sh     a smaller file
#   KATAMARI_BENCH_RUNS=5 ...                   more runs
#   KATAMARI_INIT_ARGS="--level 1" ...          extra `katamari init` options
#   KATAMARI_BUILD_DIR=DIR ...                  the build to measure [build]
#   KATAMARI_BENCH_NINJA=0 ...                  use its binaries as they are
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECTION=${1:-all}
case $SECTION in
  store | all) ;;
  mount) exec scripts/bench_mount.sh ;;
  *) echo "usage: scripts/bench.sh [store|mount|all]" >&2; exit 2 ;;
esac
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" python3 zstd time

# The same build knobs as scripts/bench_mount.sh.
BUILD=${KATAMARI_BUILD_DIR:-build}
if [ "${KATAMARI_BENCH_NINJA:-1}" != 0 ]; then
  [ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
  ninja -C "$BUILD" daemon/katamari >/dev/null
fi
KATAMARI="$(cd "$BUILD" && pwd)/daemon/katamari"
MIB=${KATAMARI_BENCH_MIB:-1024}
RUNS=${KATAMARI_BENCH_RUNS:-3}

WORK=$(mktemp -d "${KATAMARI_BENCH_DIR:-/tmp}/katamari-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/big.txt"

echo "generating a ${MIB} MiB text file..."
python3 scripts/textgen.py make "$FILE" $((MIB * 1024 * 1024)) --seed 7
SIZE=$(stat -c %s "$FILE")

# timed OUT CMD...: runs CMD with stdout to OUT; prints "seconds max_rss_kib".
timed() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$out"
  cat "$WORK/time"
}
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

# shellcheck disable=SC2086
"$KATAMARI" -b "$WORK/probe" init ${KATAMARI_INIT_ARGS:-} >/dev/null
LEVEL=$("$KATAMARI" -b "$WORK/probe" stats --json |
  python3 -c 'import json,sys; s=json.load(sys.stdin)["settings"]; print(s["level"])')
CODEC=$("$KATAMARI" -b "$WORK/probe" stats --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["settings"]["compression"])')
rm -rf "$WORK/probe"
[ "$CODEC" = zstd ] || echo "note: the bucket uses $CODEC; zstd is still the yardstick"
echo "katamari ($CODEC level $LEVEL) vs zstd -T1 -$LEVEL, ${MIB} MiB, median of $RUNS runs"

put_t=() get_t=() zc_t=() zd_t=() eput_t=() eget_t=() put_rss=0 get_rss=0
ENC=(-b "$WORK/enc" --keyfile "$WORK/bench.key")  # the key file is made by the first init
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/bucket" "$WORK/enc" "$WORK/big.zst"
  # shellcheck disable=SC2086
  "$KATAMARI" -b "$WORK/bucket" init ${KATAMARI_INIT_ARGS:-} >/dev/null
  read -r t rss < <(timed /dev/null "$KATAMARI" -b "$WORK/bucket" put big "$FILE")
  put_t+=("$t"); put_rss=$((rss > put_rss ? rss : put_rss))
  read -r t rss < <(timed /dev/null "$KATAMARI" -b "$WORK/bucket" get big)
  get_t+=("$t"); get_rss=$((rss > get_rss ? rss : get_rss))
  # shellcheck disable=SC2086
  "$KATAMARI" "${ENC[@]}" init --encrypt ${KATAMARI_INIT_ARGS:-} >/dev/null
  read -r t rss < <(timed /dev/null "$KATAMARI" "${ENC[@]}" put big "$FILE")
  eput_t+=("$t"); put_rss=$((rss > put_rss ? rss : put_rss))
  read -r t rss < <(timed /dev/null "$KATAMARI" "${ENC[@]}" get big)
  eget_t+=("$t"); get_rss=$((rss > get_rss ? rss : get_rss))
  read -r t _ < <(timed /dev/null zstd -q -T1 "-$LEVEL" -f "$FILE" -o "$WORK/big.zst")
  zc_t+=("$t")
  read -r t _ < <(timed /dev/null zstd -q -T1 -d -c "$WORK/big.zst")
  zd_t+=("$t")
  echo "  run $run: put ${put_t[-1]}s get ${get_t[-1]}s | encrypted put ${eput_t[-1]}s" \
    "get ${eget_t[-1]}s | zstd ${zc_t[-1]}s zstd -d ${zd_t[-1]}s"
done

STORED=$(du -sb "$WORK/bucket" | cut -f1)
ZSIZE=$(stat -c %s "$WORK/big.zst")
"$KATAMARI" -b "$WORK/bucket" get big -o "$WORK/back.txt"
cmp "$WORK/back.txt" "$FILE" && ROUNDTRIP=ok || ROUNDTRIP=FAILED
"$KATAMARI" "${ENC[@]}" get big -o "$WORK/back.txt"
cmp "$WORK/back.txt" "$FILE" && ENC_ROUNDTRIP=ok || ENC_ROUNDTRIP=FAILED
ENC_STORED=$(du -sb "$WORK/enc" | cut -f1)

python3 - "$(median "${put_t[@]}")" "$(median "${get_t[@]}")" "$(median "${zc_t[@]}")" \
  "$(median "${zd_t[@]}")" "$SIZE" "$STORED" "$ZSIZE" "$put_rss" "$get_rss" "$ROUNDTRIP" \
  "$(median "${eput_t[@]}")" "$(median "${eget_t[@]}")" "$ENC_STORED" "$ENC_ROUNDTRIP" <<'EOF'
import sys
put, get, zc, zd = map(float, sys.argv[1:5])
size, stored, zsize, put_rss, get_rss = map(int, sys.argv[5:10])
eput, eget = map(float, sys.argv[11:13])
estored = int(sys.argv[13])
mb = size / 1e6
print(f"katamari put    {put:7.2f} s  {mb / put:7.1f} MB/s   zstd -T1   {zc:7.2f} s  {mb / zc:7.1f} MB/s"
      f"   put/zstd = {put / zc:.2f}  (aim <= 1.0)")
print(f"katamari get    {get:7.2f} s  {mb / get:7.1f} MB/s   zstd -d    {zd:7.2f} s  {mb / zd:7.1f} MB/s"
      f"   get/zstd -d = {get / zd:.2f}  (aim <= 1.2)")
print(f"encrypted put   {eput:7.2f} s  {mb / eput:7.1f} MB/s   encrypted get {eget:7.2f} s  {mb / eget:7.1f} MB/s"
      f"   vs plain: put {eput / put:.2f}, get {eget / get:.2f}  (aim <= 1.10)")
print(f"compression     katamari {size / stored:.2f}x (bucket dir {stored} B)   zstd {size / zsize:.2f}x"
      f"   encrypted {size / estored:.2f}x")
print(f"peak RSS        put {put_rss // 1024} MiB, get {get_rss // 1024} MiB, plain or encrypted"
      f"  (aim well under 200 MiB)")
print(f"round trip      {sys.argv[10]}, encrypted {sys.argv[14]}")
EOF
[ "$ROUNDTRIP" = ok ] && [ "$ENC_ROUNDTRIP" = ok ]
if [ "$SECTION" = all ]; then
  echo
  exec scripts/bench_mount.sh
fi

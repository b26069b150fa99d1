#!/usr/bin/env bash
# The backup workload of issue 2, katamari against restic in the same run:
#   v1       a 256 MiB text-like file (scripts/textgen.py, ~3x with zstd)
#   v2..v11  each overwrites ~1% of the previous one in ~100 scattered places
#   v12      100 bytes inserted near the start
# All twelve are put into a fresh bucket (katamari put) and backed up with
# restic (each version of the same path); prints both stored sizes (du -sb),
# their ratio, and what the insertion version added to each.
# Aim: katamari <= 0.5x restic, and the insertion adding < 2 MiB.
# The same versions also go into a bucket made with `init --no-delta` (every
# changed chunk stored whole), so both figures come from the same run.
# Then the space history costs: 1,000 appends of a ~50-byte log line to a
# 69 KB log, each a `katamari put` (a new version), with and without delta
# chunks; prints pack and catalog bytes added per version (aim <= 2 KiB).
#   KATAMARI_BENCH_APPENDS=200 ...   fewer appends, for a quick look
# Usage: scripts/backup_bench.sh           (work dir: $KATAMARI_BENCH_DIR or /tmp)
#   KATAMARI_BENCH_MIB=64 scripts/backup_bench.sh   a smaller file, for a quick look
#   KATAMARI_INIT_ARGS="--chunk-avg 32K" ...        extra `katamari init` options
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" python3 restic

[ -d build ] || meson setup build >/dev/null
ninja -C build daemon/katamari >/dev/null
KATAMARI="$ROOT/build/daemon/katamari"
MIB=${KATAMARI_BENCH_MIB:-256}

WORK=$(mktemp -d "${KATAMARI_BENCH_DIR:-/tmp}/katamari-backup-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FILE="$WORK/data/big.txt"
BUCKET="$WORK/bucket"
NODELTA="$WORK/bucket-nodelta"
REPO="$WORK/restic"
mkdir -p "$WORK/data"
export RESTIC_PASSWORD=katamari-bench RESTIC_CACHE_DIR="$WORK/restic-cache"

size_of() { du -sb "$1" | cut -f1; }
mib() { python3 -c "print(f'{$1 / 1048576:.2f}')"; }
now() { date +%s.%N; }

echo "generating a ${MIB} MiB text file..."
python3 scripts/textgen.py make "$FILE" $((MIB * 1024 * 1024)) --seed 1
# shellcheck disable=SC2086
"$KATAMARI" -b "$BUCKET" init ${KATAMARI_INIT_ARGS:-} >/dev/null
# shellcheck disable=SC2086
"$KATAMARI" -b "$NODELTA" init --no-delta ${KATAMARI_INIT_ARGS:-} >/dev/null
restic init --repo "$REPO" -q >/dev/null
echo "katamari $("$KATAMARI" -b "$BUCKET" stats --json | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["settings"])')"
restic version

k_time=0 r_time=0
backup_version() {  # backup_version N
  local t0 t1 t2
  t0=$(now)
  "$KATAMARI" -b "$BUCKET" put big.txt "$FILE" >/dev/null
  t1=$(now)
  "$KATAMARI" -b "$NODELTA" put big.txt "$FILE" >/dev/null
  t1b=$(now)
  restic backup --repo "$REPO" -q "$FILE" >/dev/null
  t2=$(now)
  k_time=$(python3 -c "print($k_time + $t1 - $t0)")
  r_time=$(python3 -c "print($r_time + $t2 - $t1b)")
  printf '  v%-2s katamari %8s MiB   --no-delta %8s MiB   restic %8s MiB\n' "$1" \
    "$(mib "$(size_of "$BUCKET")")" "$(mib "$(size_of "$NODELTA")")" \
    "$(mib "$(size_of "$REPO")")"
}

backup_version 1
for v in $(seq 2 11); do
  python3 scripts/textgen.py edit "$FILE" --seed "$v" --fraction 0.01 --places 100
  backup_version "$v"
done
k_before=$(size_of "$BUCKET")
n_before=$(size_of "$NODELTA")
r_before=$(size_of "$REPO")
python3 scripts/textgen.py insert "$FILE" --seed 12 --offset 4096 --bytes 100
backup_version 12
k_after=$(size_of "$BUCKET")
n_after=$(size_of "$NODELTA")
r_after=$(size_of "$REPO")

# The last version must come back intact.
"$KATAMARI" -b "$BUCKET" get big.txt | cmp - "$FILE" || { echo "round trip FAILED"; exit 1; }

echo
echo "twelve versions of a ${MIB} MiB file:"
echo "  katamari bucket: $(mib "$k_after") MiB  ($(printf '%.1f' "$k_time") s of put)"
echo "  --no-delta:      $(mib "$n_after") MiB  (insertion version added" \
  "$(mib $((n_after - n_before))) MiB)"
echo "  restic repo:     $(mib "$r_after") MiB  ($(printf '%.1f' "$r_time") s of backup)"
python3 - "$k_after" "$r_after" "$k_before" "$r_before" <<'EOF'
import sys
k, r, kb, rb = map(int, sys.argv[1:])
print(f"  ratio katamari/restic: {k / r:.3f}   (aim <= 0.5)")
print(f"  insertion version added: katamari {(k - kb) / 1048576:.2f} MiB (aim < 2 MiB), "
      f"restic {(r - rb) / 1048576:.2f} MiB")
EOF

# ---- The space history costs: appends to a log, each one a version.
APPENDS=${KATAMARI_BENCH_APPENDS:-1000}
LOGDIR="$WORK/log"
mkdir -p "$LOGDIR"
python3 - "$LOGDIR" "$APPENDS" <<'EOF'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
def line():
    return (f"12-02 03:{rng.randrange(60):02}:{rng.randrange(60):02} w{rng.randrange(32):02} "
            f"GET /api/{rng.getrandbits(24):06x} {200 + rng.randrange(300)} "
            f"{rng.randrange(999)}ms\n")
log = ""
while len(log) < 69 * 1024:
    log += line()
open(f"{d}/app.log", "w").write(log)
with open(f"{d}/lines", "w") as f:
    for _ in range(n):
        f.write(line())
EOF
# Bytes of the pack files (du -sb would add the fan-out directories' own 4 KiB
# each, many of them for 1,000 small packs, one per put until gc merges them).
packs_of() {
  find "$1/packs" -type f -printf '%s\n' 2>/dev/null | awk '{n += $1} END {print n + 0}'
}
catalog_of() { cat "$1"/catalog.db* 2>/dev/null | wc -c; }
log_space() {  # log_space LABEL INIT_ARGS...
  local label=$1 b p0 c0 p1 c1 t0 t1
  b="$WORK/log-bucket-$1"
  shift
  "$KATAMARI" -b "$b" init "$@" >/dev/null
  cp "$LOGDIR/app.log" "$LOGDIR/$label.log"
  "$KATAMARI" -b "$b" put app.log "$LOGDIR/$label.log" >/dev/null
  p0=$(packs_of "$b") c0=$(catalog_of "$b") t0=$(now)
  while IFS= read -r l; do
    printf '%s\n' "$l" >>"$LOGDIR/$label.log"
    "$KATAMARI" -b "$b" put app.log "$LOGDIR/$label.log" >/dev/null
  done <"$LOGDIR/lines"
  t1=$(now)
  p1=$(packs_of "$b") c1=$(catalog_of "$b")
  # The last version and the first come back exactly.
  "$KATAMARI" -b "$b" get app.log | cmp - "$LOGDIR/$label.log" ||
    { echo "log round trip FAILED"; exit 1; }
  "$KATAMARI" -b "$b" get app.log --version 1 | cmp - "$LOGDIR/app.log" ||
    { echo "log version 1 FAILED"; exit 1; }
  python3 - "$label" "$APPENDS" "$p0" "$p1" "$c0" "$c1" "$t0" "$t1" <<'EOF'
import sys
label, n = sys.argv[1], int(sys.argv[2])
p0, p1, c0, c1 = map(int, sys.argv[3:7])
t0, t1 = map(float, sys.argv[7:9])
pk, ct = (p1 - p0) / n, (c1 - c0) / n
print(f"  {label:<9} {pk:7.0f} B pack + {ct:5.0f} B catalog = {pk + ct:7.0f} B per version"
      f"   ({(t1 - t0) * 1000 / n:.0f} ms per put)")
EOF
}
echo
echo "$APPENDS appends of a ~50-byte line to a 69 KB log, one version each (aim <= 2048 B per version):"
log_space delta
log_space no-delta --no-delta

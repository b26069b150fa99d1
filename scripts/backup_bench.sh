#!/usr/bin/env bash
# The backup workload of issue 2, katamari against restic in the same run:
#   v1       a 256 MiB text-like file (scripts/textgen.py, ~3x with zstd)
#   v2..v11  each overwrites ~1% of the previous one in ~100 scattered places
#   v12      100 bytes inserted near the start
# All twelve are put into a fresh bucket (katamari put) and backed up with
# restic (each version of the same path); prints both stored sizes (du -sb),
# their ratio, and what the insertion version added to each.
# Aim: katamari <= 0.5x restic, and the insertion adding < 2 MiB.
#
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
  restic backup --repo "$REPO" -q "$FILE" >/dev/null
  t2=$(now)
  k_time=$(python3 -c "print($k_time + $t1 - $t0)")
  r_time=$(python3 -c "print($r_time + $t2 - $t1)")
  printf '  v%-2s katamari %8s MiB   restic %8s MiB\n' "$1" \
    "$(mib "$(size_of "$BUCKET")")" "$(mib "$(size_of "$REPO")")"
}

backup_version 1
for v in $(seq 2 11); do
  python3 scripts/textgen.py edit "$FILE" --seed "$v" --fraction 0.01 --places 100
  backup_version "$v"
done
k_before=$(size_of "$BUCKET")
r_before=$(size_of "$REPO")
python3 scripts/textgen.py insert "$FILE" --seed 12 --offset 4096 --bytes 100
backup_version 12
k_after=$(size_of "$BUCKET")
r_after=$(size_of "$REPO")

# The last version must come back intact.
"$KATAMARI" -b "$BUCKET" get big.txt | cmp - "$FILE" || { echo "round trip FAILED"; exit 1; }

echo
echo "twelve versions of a ${MIB} MiB file:"
echo "  katamari bucket: $(mib "$k_after") MiB  ($(printf '%.1f' "$k_time") s of put)"
echo "  restic repo:     $(mib "$r_after") MiB  ($(printf '%.1f' "$r_time") s of backup)"
python3 - "$k_after" "$r_after" "$k_before" "$r_before" <<'EOF'
import sys
k, r, kb, rb = map(int, sys.argv[1:])
print(f"  ratio katamari/restic: {k / r:.3f}   (aim <= 0.5)")
print(f"  insertion version added: katamari {(k - kb) / 1048576:.2f} MiB (aim < 2 MiB), "
      f"restic {(r - rb) / 1048576:.2f} MiB")
EOF

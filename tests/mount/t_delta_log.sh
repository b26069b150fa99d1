#!/usr/bin/env bash
# Delta chunks through the mount (docs/chunk-format.md, "Delta chunks"): a log
# appended to with >> (each close a version) stores its growing tail chunk as
# patches against the one it replaces, so 200 appends add a few hundred bytes
# each; every old version (NAME@N) reads back byte-exact, while mounted and
# after a remount; fsck and gc agree, and deleting the old versions keeps
# what the newest one needs.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
mount_fs
K=("$KATAMARI" -b "$BUCKET")
pack_bytes() { du -sb "$BUCKET/packs" | cut -f1; }
N=200

python3 - "$WORK/lines" "$N" "$WORK/log.0" <<'PY'
import random, sys
rng = random.Random(3)
def line():
    return (f"12-02 03:{rng.randrange(60):02}:{rng.randrange(60):02} w{rng.randrange(32):02} "
            f"GET /api/{rng.getrandbits(24):06x} {200 + rng.randrange(300)}\n")
log = ""
while len(log) < 69 * 1024:
    log += line()
open(sys.argv[3], "w").write(log)
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):
        f.write(line())
PY
cp "$WORK/log.0" "$MNT/app.log"
cp "$WORK/log.0" "$WORK/cur"
# The catalog's share too, measured with the daemon stopped (its WAL folded in).
catalog_bytes() {
  local n=0 f
  for f in "$BUCKET"/catalog.db "$BUCKET"/catalog.db-wal; do
    [ -e "$f" ] && n=$((n + $(stat -c %s "$f")))
  done
  echo "$n"
}
unmount_fs
catalog_before=$(catalog_bytes)
mount_fs
before=$(pack_bytes)
i=0
while IFS= read -r l; do
  i=$((i + 1))
  printf '%s\n' "$l" >>"$MNT/app.log"
  printf '%s\n' "$l" >>"$WORK/cur"
  case $i in 1 | 9 | 10 | 50 | 123 | "$N") cp "$WORK/cur" "$WORK/log.$i" ;; esac
done <"$WORK/lines"
expect_eq "versions" "$(versions app.log)" $((N + 1))
cmp -s "$MNT/app.log" "$WORK/cur" || fail "the live log differs"
check_versions() {
  cmp -s "$MNT/app.log@1" "$WORK/log.0" || fail "$1: app.log@1 differs"
  for v in 1 9 10 50 123 "$N"; do
    cmp -s "$MNT/app.log@$((v + 1))" "$WORK/log.$v" || fail "$1: app.log@$((v + 1)) differs"
  done
}
check_versions "mounted"
per=$(( ($(pack_bytes) - before) / N ))
log "pack bytes per appended version: $per"
[ "$per" -lt 1000 ] || fail "appends cost $per pack bytes per version (a whole tail chunk each?)"

unmount_fs
total=$(( ($(pack_bytes) - before + $(catalog_bytes) - catalog_before) / N ))
log "bytes per appended version, packs and catalog: $total"
# docs/semantics.md, Retention and excludes: at most 2 KiB per version.
[ "$total" -le 2048 ] || fail "appends cost $total bytes per version, packs and catalog"
mount_fs
check_versions "after a remount"
"${K[@]}" fsck >/dev/null || fail "fsck with delta chunks"

# The old versions go; the newest keeps the bases its chunks need.
for v in $(seq 1 $N); do "${K[@]}" rm app.log --version "$v" >/dev/null; done
"${K[@]}" gc >/dev/null || fail "gc"
cmp -s "$MNT/app.log" "$WORK/cur" || fail "the live log differs after the old versions went"
cmp -s "$MNT/app.log@$((N + 1))" "$WORK/log.$N" || fail "app.log@$((N + 1)) after gc"
"${K[@]}" fsck >/dev/null || fail "fsck after gc"
unmount_fs

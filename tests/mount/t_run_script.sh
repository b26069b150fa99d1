#!/usr/bin/env bash
# scripts/run.sh says what it is doing at each step (checking the tools,
# building, creating the bucket, mounting) instead of minutes of silence, and
# ends with a mounted bucket. Runs it on this build (KATAMARI_BUILD_DIR) with
# a fresh bucket and mountpoint; skipped when the build is not up to date (the
# script would rebuild the binaries under test).
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="$(cd "$(dirname "$KATAMARIFS")/.." && pwd)"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log "SKIP: $KATAMARIFS is not in a meson build directory"
  exit 77
fi
if ! ninja -C "$BUILD_DIR" -n 2>/dev/null | grep -q "no work to do"; then
  log "SKIP: $BUILD_DIR is not fully built (run.sh would build it)"
  exit 77
fi
if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ]; then
  log "SKIP: run.sh makes a plain bucket; this test runs in the plain suite"
  exit 77
fi
rc=0
KATAMARI_BUILD_DIR="$BUILD_DIR" KATAMARI_BUCKET="$BUCKET" timeout 300 \
  bash "$ROOT/scripts/run.sh" "$MNT" >"$WORK/run.out" 2>&1 || rc=$?
expect_eq "run.sh exit code ($(cat "$WORK/run.out"))" "$rc" 0
for step in "run.sh: checking the build tools" "run.sh: building in $BUILD_DIR" \
  "run.sh: creating the bucket $BUCKET" "run.sh: mounting $BUCKET at $MNT" "Mounted $BUCKET at $MNT"; do
  grep -qF "$step" "$WORK/run.out" || fail "run.sh did not say '$step': $(cat "$WORK/run.out")"
done
# The steps come in order, and ninja's own output is shown, not swallowed.
order=$(grep -n "^run.sh: " "$WORK/run.out" | cut -d: -f3 | cut -c2-10 | tr '\n' ,)
expect_eq "order of the steps" "$order" "checking ,building ,creating ,mounting ,"
grep -q "ninja: " "$WORK/run.out" || fail "ninja's output not shown: $(cat "$WORK/run.out")"
is_mounted "$MNT" || fail "run.sh did not mount $MNT"
echo hi >"$MNT/hello.txt"
expect_eq "the mount serves" "$(cat "$MNT/hello.txt")" hi
pid=$(tr -dc 0-9 <"$BUCKET/daemon.lock")
# Again while mounted: it says so and changes nothing.
rc=0
KATAMARI_BUILD_DIR="$BUILD_DIR" KATAMARI_BUCKET="$BUCKET" bash "$ROOT/scripts/run.sh" "$MNT" \
  >"$WORK/run2.out" 2>&1 || rc=$?
expect_eq "run.sh again exit code" "$rc" 0
grep -q "is already mounted at $MNT" "$WORK/run2.out" || fail "second run: $(cat "$WORK/run2.out")"
grep -q "creating the bucket" "$WORK/run2.out" && fail "second run made the bucket again"
fusermount3 -u "$MNT" || fail "unmount"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "daemon $pid still running after unmount"
log "ok"

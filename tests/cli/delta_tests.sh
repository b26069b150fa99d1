# shellcheck shell=bash
# Delta chunks (docs/chunk-format.md, "Delta chunks"): `init --no-delta`, the
# setting in stats, and what appends to a log cost with and without them.

# log_versions BUCKET N: puts a 69 KB log and N appends of one line to it.
log_versions() {
  local b=$1 n=$2 i
  python3 -c '
import random
r = random.Random(1)
print("".join(f"line {i} {r.getrandbits(64):x} GET /x {r.randrange(999)}\n" for i in range(1900)), end="")
' >"$W/log"
  "$KATAMARI" -b "$b" put app.log "$W/log" >/dev/null || fail "put app.log"
  for i in $(seq "$n"); do
    echo "appended line $i $RANDOM$RANDOM" >>"$W/log"
    "$KATAMARI" -b "$b" put app.log "$W/log" >/dev/null || fail "put app.log #$i"
  done
}

t_init_no_delta() {
  ok k init --no-delta || return
  expect_grep "no delta chunks" "$W/out" "init says so"
  ok k stats --json
  expect_eq "$(pyjson "$W/out" 'd["settings"]["delta_chunks"]')" False "setting stored"
  ok k stats
  expect_grep "delta chunks off" "$W/out" "stats says so"
  ok "$KATAMARI" -b "$W/other" init
  ok "$KATAMARI" -b "$W/other" stats --json
  expect_eq "$(pyjson "$W/out" 'd["settings"]["delta_chunks"]')" True "on by default"
}

t_delta_chunks_make_appends_cheap() {
  ok k init || return
  ok "$KATAMARI" -b "$W/plain" init --no-delta
  log_versions "$B" 30
  cp "$W/log" "$W/log.delta"
  log_versions "$W/plain" 30
  ok k get app.log && expect_same_file "$W/out" "$W/log.delta" "the newest version"
  ok k get app.log --version 1
  head -c "$(stat -c %s "$W/out")" "$W/log.delta" >"$W/expect1"
  expect_same_file "$W/out" "$W/expect1" "version 1"
  ok k get app.log --version 17
  expect_eq "$(tail -n 1 "$W/out" | cut -d' ' -f1-3)" "appended line 16" "version 17"
  local with without
  with=$(du -sb "$B/packs" | cut -f1)
  without=$(du -sb "$W/plain/packs" | cut -f1)
  [ $((with * 3)) -lt "$without" ] ||
    fail "delta chunks stored $with pack bytes, --no-delta $without (expected < 1/3)"
  ok k fsck
  ok k gc
  ok k get app.log && expect_same_file "$W/out" "$W/log.delta" "after gc"
}

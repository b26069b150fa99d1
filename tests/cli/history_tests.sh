# shellcheck shell=bash
# CLI tests of the whole-tree commands (docs/semantics.md, Whole trees):
# stats PATH, du, log, diff, restore --at TIME DIR [--to TARGET], and their errors.

# committed_at KEY [VERSION]: the commit time (full precision) of a version (default: latest).
committed_at() {
  k versions "$1" --json >"$W/v.json" || return
  pyjson "$W/v.json" "[v for v in d if v['version'] == ${2:-d[-1]['version']}][0]['committed']"
}

# A small tree with history: logs/app.log (2 versions, the first 200 KB of
# random bytes held only by history), a deleted file, a file in keep/.
make_history() {
  ok k init || return
  head -c 200000 /dev/urandom >"$W/v1"
  head -c 1000 /dev/urandom >"$W/v2"
  echo tmp >"$W/tmp"
  ok k put logs/app.log "$W/v1"
  ok k put logs/app.log "$W/v2"
  ok k put logs/x.tmp "$W/tmp"
  ok k rm logs/x.tmp
  ok k put keep/note "$W/tmp"
}

t_hist_du() {
  make_history || return
  ok k du || return
  expect_grep '^ *SIZE +STORED +HISTORY +VERSIONS +PATH' "$W/out" "du header"
  expect_grep ' logs/$' "$W/out" "du lists logs/"
  expect_grep ' /$' "$W/out" "du lists the root"
  expect_no_grep 'app.log' "$W/out" "du without -a lists only directories"
  # Human units by default, exact with --bytes.
  expect_grep '^ *1000 +19[0-9]K +19[0-9]K +3 +logs/$' "$W/out" "du -h style units"
  ok k du -a --sort history --bytes || return
  local first
  first=$(sed -n 2p "$W/out")
  [[ $first =~ ^\ *1[0-9]{3}\ +2[0-9]{5}\ +(2[0-9]{5}|19[0-9]{4})\ +4\ +/$ ]] ||
    fail "du --sort history --bytes: first row '$first'"
  expect_grep ' logs/app\.log$' "$W/out" "du -a lists files"
  expect_grep ' logs/x\.tmp \(deleted\)$' "$W/out" "du -a marks deleted files"
  ok k du logs --json || return
  expect_eq "$(pyjson "$W/out" 'd["total"]["files"]')" 2 "du logs: files"
  expect_eq "$(pyjson "$W/out" 'd["total"]["versions"]')" 3 "du logs: versions"
  local hist
  hist=$(pyjson "$W/out" 'd["total"]["history_bytes"]')
  [ "$hist" -ge 180000 ] && [ "$hist" -le 220000 ] || fail "history bytes of logs: $hist"
  expect_eq "$(pyjson "$W/out" '[e["path"] for e in d["entries"]]')" "['logs']" "du logs entries"
  ok k du logs/app.log --json || return
  expect_eq "$(pyjson "$W/out" 'd["entries"][0]["path"]')" "logs/app.log" "du of one file"
  expect_rc 1 k du nope
  expect_grep "nothing is or was ever at 'nope'" "$W/err" "du of a missing path"
  expect_rc 2 k du --sort biggest
  expect_grep "sort" "$W/err" "du --sort with a bad order"
  expect_rc 2 k du a/../b
  expect_grep "'\.' and '\.\.' are not allowed" "$W/err" "du of a path with .."
}

t_hist_stats_path() {
  make_history || return
  ok k stats || return
  expect_grep '^files: +3$' "$W/out" "stats without PATH keeps its output"
  expect_grep '^dedup ratio:' "$W/out" "stats without PATH: dedup ratio"
  ok k stats logs || return
  expect_grep '^path: +logs/$' "$W/out" "stats PATH: path"
  expect_grep '^files: +2 \(1 deleted, history kept\)$' "$W/out" "stats PATH: files"
  expect_grep '^versions: +3$' "$W/out" "stats PATH: versions"
  expect_grep '^held by history: +19[0-9]K ' "$W/out" "stats PATH: history in K"
  ok k stats logs --bytes || return
  expect_grep '^size: +1000 ' "$W/out" "stats PATH --bytes: exact size"
  ok k stats / --json || return
  expect_eq "$(pyjson "$W/out" 'd["files"]')" 3 "stats / --json: files"
  expect_eq "$(pyjson "$W/out" 'd["deleted_files"]')" 1 "stats / --json: deleted files"
  expect_rc 1 k stats nope
  expect_grep "nothing is or was ever at 'nope'" "$W/err" "stats of a missing path"
}

t_hist_log() {
  make_history || return
  ok k log || return
  expect_grep '^TIME +ACTION +VERSION +SIZE +CHANGE +PATH' "$W/out" "log header"
  expect_eq "$(sed -n 2p "$W/out" | awk '{print $2, $NF}')" "version keep/note" "newest first"
  ok k log logs/app.log --bytes || return
  expect_eq "$(wc -l <"$W/out")" 3 "log of one file: header + 2 versions"
  expect_grep ' 2 +1000 +-199000 +logs/app\.log$' "$W/out" "size change of version 2"
  expect_grep ' 1 +200000 +\+200000 +logs/app\.log$' "$W/out" "size change of version 1"
  ok k log logs -n 1 --json || return
  expect_eq "$(pyjson "$W/out" 'len(d)')" 1 "log -n 1"
  expect_eq "$(pyjson "$W/out" 'd[0]["action"]')" delete "the delete of x.tmp"
  expect_eq "$(pyjson "$W/out" 'd[0]["path"]')" logs/x.tmp "the delete's path"
  # restore and rename are shown too
  ok k restore logs/app.log --version 1
  ok k log logs/app.log -n 1 || return
  expect_grep 'restore of 1 +3 ' "$W/out" "log shows a restore"
  expect_rc 1 k log nope
  expect_grep "nothing is or was ever at 'nope'" "$W/err" "log of a missing path"
  expect_rc 2 k log -n 0
  expect_rc 2 k log -n x
}

t_hist_diff() {
  ok k init || return
  echo a >"$W/a"
  echo b >"$W/b"
  ok k put a "$W/a"
  ok k put b "$W/b"
  ok k put gone "$W/b"
  local t1 t2
  t1=$(committed_at gone)
  ok k put a "$W/a"  # same content again: not a change
  ok k put b "$W/a"
  ok k rm gone
  ok k put d/new "$W/a"
  t2=$(committed_at d/new)
  ok k diff "$t1" "$t2" || return
  expect_eq "$(cat "$W/out")" "$(printf 'M\tb\nA\td/new\nD\tgone')" "diff --name-status lines"
  ok k diff "$t1" now d || return
  expect_eq "$(cat "$W/out")" "$(printf 'A\td/new')" "diff under a path"
  ok k diff "$t2" "$t1" --json || return
  expect_eq "$(pyjson "$W/out" '[(e["status"], e["path"]) for e in d]')" \
    "[('M', 'b'), ('D', 'd/new'), ('A', 'gone')]" "diff the other way round, JSON"
  expect_eq "$(pyjson "$W/out" 'd[0]["old_version"], d[0]["new_version"]')" "(2, 1)" \
    "diff JSON versions"
  ok k diff "$t2" "$t2"
  expect_eq "$(cat "$W/out")" "" "no change between a time and itself"
  expect_rc 2 k diff yesterday now
  expect_grep "diff TIME1: cannot read time 'yesterday'" "$W/err" "bad TIME1"
  expect_rc 2 k diff now
  expect_rc 1 k diff "$t1" "$t2" nope
  expect_grep "'nope' existed at neither time" "$W/err" "diff of a missing path"
}

t_hist_restore_tree() {
  ok k init || return
  echo one >"$W/one"
  echo two >"$W/two"
  ok k put p/a "$W/one" --mode 600
  ok k put p/sub/b "$W/two" --mode 755
  ok k put p/old "$W/one"
  local t
  t=$(committed_at p/old)
  ok k put p/a "$W/two"
  ok k rm p/old
  ok k put p/later/c "$W/two"
  ok k put other "$W/two"
  ok k ls p --json
  k ls --json >"$W/before.json"
  local chunks
  chunks=$(k stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')
  ok k restore --at "$t" p || return
  expect_grep '^restored p as it was at .* in place: 2 files restored, 1 unchanged, .*deleted 1 files and 1 directories made after that time \(history kept\)$' \
    "$W/out" "restore in place says what it did"
  ok k get p/a && expect_eq "$(cat "$W/out")" one "p/a is back"
  ok k get p/old && expect_eq "$(cat "$W/out")" one "p/old is back"
  expect_rc 1 k get p/later/c
  ok k versions p/later/c && expect_grep '^ +1 ' "$W/out" "history of a file made later is kept"
  ok k get other && expect_eq "$(cat "$W/out")" two "outside the tree: untouched"
  ok k versions p/a --json
  expect_eq "$(pyjson "$W/out" 'd[-1]["mode"], d[-1]["restored_from"]')" "('0600', 1)" \
    "restored version: mode and source"
  expect_eq "$(k stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])')" \
    "$chunks" "no chunk data copied"
  # Again: nothing left to do (what a re-run after kill -9 does).
  ok k restore --at "$t" p/
  expect_grep ': 0 files restored, 3 unchanged' "$W/out" "a second run changes nothing"
  # --to
  ok k restore --at "$t" p --to copies/p || return
  expect_grep 'into copies/p: 3 files restored' "$W/out" "restore --to says what it did"
  ok k get copies/p/sub/b && expect_eq "$(cat "$W/out")" two "copy has p/sub/b"
  ok k ls copies --deleted
  expect_no_grep 'katamari-restore' "$W/out" "no temporary directory left"
  ok k restore --at "$t" p --to copies2/p --json || return
  expect_eq "$(pyjson "$W/out" '(d["path"], d["target"], d["in_place"], d["files_restored"], d["unchanged"], d["deleted"])')" \
    "('p', 'copies2/p', False, 3, 0, 0)" "restore --at --to --json: what it did"
  ok k restore --at "$t" p --json
  expect_eq "$(pyjson "$W/out" '(d["in_place"], d["files_restored"], d["unchanged"])')" \
    "(True, 0, 3)" "restore --at in place --json"
  expect_rc 1 k restore --at "$t" p --to copies/p
  expect_grep "restore target 'copies/p' exists and is not empty" "$W/err" "non-empty target"
  expect_rc 1 k restore --at "$t" p --to other
  expect_grep "restore target 'other' exists and is not a directory" "$W/err" "file target"
  expect_rc 1 k restore --at "$t" nope --to x
  expect_grep "'nope' did not exist at" "$W/err" "missing source"
  expect_rc 1 k restore --at 2001-01-01 p --to y
  expect_grep "the bucket was empty at" "$W/err" "a time before the bucket"
  expect_rc 2 k restore p --to z
  expect_grep "as it was when\?.*pass --at TIME" "$W/err" "--to without --at"
  expect_rc 2 k restore --version 1 p --to z
  expect_grep "restore a tree as it was at a time with --at TIME" "$W/err" "--to with --version"
  expect_rc 2 k restore --at soon p
  expect_grep "cannot read time 'soon'" "$W/err" "bad --at"
  expect_rc 2 k restore --at "$t" p --to /
  expect_grep "--to names the bucket's root" "$W/err" "--to /"
  # The whole bucket in place.
  ok k restore --at "$t" / || return
  expect_rc 1 k get other
  expect_rc 1 k get copies/p/a
  ok k get p/a && expect_eq "$(cat "$W/out")" one "whole-bucket restore"
}

t_hist_restore_versioning_off() {
  ok k init --no-versioning || return
  echo x >"$W/x"
  ok k put d/x "$W/x"
  local t
  t=$(committed_at d/x)
  expect_rc 2 k restore --at "$t" d
  expect_grep "keeps no history \(versioning is off\)" "$W/err" "in-place restore refused"
  ok k restore --at "$t" d --to d2
  ok k get d2/x && expect_eq "$(cat "$W/out")" x "restore --to works without versioning"
}

# kill -9 during an in-place restore leaves some files restored and the rest
# as they were; the same command again finishes it (docs/semantics.md, Whole trees).
t_hist_restore_killed() {
  ok k init || return
  local i t n
  for i in $(seq 150); do echo "old $i" | k put "p/f$i" >/dev/null || fail "put p/f$i"; done
  t=$(committed_at p/f150)
  for i in $(seq 150); do echo "new $i" | k put "p/f$i" >/dev/null || fail "put p/f$i again"; done
  # Not through k (a function: its subshell would be killed, not katamari).
  "$KATAMARI" -b "$B" restore --at "$t" p >"$W/restore.out" 2>&1 &
  local pid=$!
  # Kill it once it has restored something (it may also finish first).
  for _ in $(seq 2000); do
    k log p -n 1 2>/dev/null | grep -q ' restore of 1 ' && break
    kill -0 "$pid" 2>/dev/null || break
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  n=$(k ls p --json | python3 -c 'import json,sys; print(sum(1 for f in json.load(sys.stdin) if f["versions"] == 3))')
  [ "$n" -lt 150 ] || skip "the restore finished before kill -9 (checked the re-run only)"
  ok k fsck
  # Every file is either restored or as it was: never anything else.
  for i in 1 75 150; do
    ok k get "p/f$i"
    [ "$(cat "$W/out")" = "old $i" ] || [ "$(cat "$W/out")" = "new $i" ] || fail "p/f$i after kill -9: $(cat "$W/out")"
  done
  ok k restore --at "$t" p
  expect_grep ": $((150 - n)) files restored, $n unchanged" "$W/out" "the re-run finishes the rest"
  for i in 1 75 150; do
    ok k get "p/f$i" && expect_eq "$(cat "$W/out")" "old $i" "p/f$i restored"
  done
}

# shellcheck shell=bash
# CLI tests of `katamari policy`, `prune` and `exclude` (docs/semantics.md, Retention and
# excludes; sourced by cli_test.sh, see lib.sh).

# put_versions KEY N: N versions of KEY with the bodies "KEY 1", "KEY 2", ...
put_versions() {
  local i
  for i in $(seq 1 "$2"); do
    echo "$1 $i" | k put "$1" - >/dev/null || fail "put $1 #$i"
  done
}

# versions_of KEY: the version numbers of KEY, space-separated.
versions_of() {
  k versions "$1" --json >"$W/v.json" 2>/dev/null || { echo "none"; return; }
  pyjson "$W/v.json" '" ".join(str(v["version"]) for v in d)'
}

t_policy_set_show_clear_log() {
  ok k init || return
  ok k policy show
  expect_grep "no retention policy: every version is kept" "$W/out" "empty policy"
  ok k policy show --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 0 "empty policy json"
  ok k policy set keep-daily=7 keep-last=10
  expect_grep "retention for every other file: keep-last=10 keep-daily=7" "$W/out" "set default"
  ok k policy set --path '*.log' keep-within=2w deleted-for=30d
  expect_grep "retention for \*\.log: keep-within=2w deleted-for=1mo" "$W/out" "set pattern"
  ok k policy set --path 'tmp/' keep-last=1
  ok k policy show
  expect_grep "^PATTERN +RULES" "$W/out" "show header"
  # First match first, the default last.
  expect_eq "$(sed -n 2p "$W/out" | awk '{print $1}')" '*.log' "first row"
  expect_eq "$(sed -n 3p "$W/out" | awk '{print $1}')" 'tmp/' "second row"
  expect_grep "^\(default\) +keep-last=10 keep-daily=7$" "$W/out" "default row"
  ok k policy show --json
  expect_eq "$(pyjson "$W/out" 'd[0]["pattern"]')" '*.log' "json pattern"
  expect_eq "$(pyjson "$W/out" 'd[0]["rules"]["keep-within"]')" 2w "json duration"
  expect_eq "$(pyjson "$W/out" 'd[2]["default"]')" True "json default"
  expect_eq "$(pyjson "$W/out" 'd[2]["rules"]["keep-last"]')" 10 "json count"
  # Setting a pattern again replaces its rules.
  ok k policy set --path 'tmp/' keep-hourly=3
  ok k policy show --json
  expect_eq "$(pyjson "$W/out" 'd[1]["text"]')" keep-hourly=3 "replaced rules"
  ok k policy clear --path 'tmp/'
  expect_grep "cleared the retention rules of tmp/" "$W/out" "clear message"
  ok k policy clear
  ok k policy show --json && expect_eq "$(pyjson "$W/out" '[e["pattern"] for e in d]')" \
    "['*.log']" "after clear"
  # Every change is recorded.
  ok k policy log --json
  expect_eq "$(pyjson "$W/out" '[e["action"] for e in d]')" \
    "['policy set', 'policy set', 'policy set', 'policy set', 'policy clear', 'policy clear']" \
    "log actions"
  expect_eq "$(pyjson "$W/out" 'd[3]["rules"]')" keep-hourly=3 "log rules"
  expect_grep '^20[0-9-]+T' <(pyjson "$W/out" 'd[0]["time"]') "log time"
  ok k policy log
  expect_grep "policy clear +\(default\)" "$W/out" "log table"
}

t_policy_errors() {
  ok k init || return
  expect_rc 2 k policy set keep-lots=3
  expect_grep "unknown rule 'keep-lots=3'; the rules are keep-last, keep-within" "$W/err" \
    "unknown rule"
  expect_rc 2 k policy set keep-last=abc
  expect_grep "keep-last=abc: not a count; write a whole number" "$W/err" "bad number"
  expect_rc 2 k policy set keep-last=0
  expect_grep "not a count" "$W/err" "zero"
  expect_rc 2 k policy set keep-within=7x
  expect_grep "keep-within: duration '7x' has an unknown unit 'x'.*e\.g\. 30m, 12h, 7d" \
    "$W/err" "bad duration"
  expect_rc 2 k policy set deleted-for=
  expect_grep "has no value" "$W/err" "no value"
  expect_rc 2 k policy set keep-last=1 keep-last=2
  expect_grep "given twice" "$W/err" "twice"
  expect_rc 2 k policy set --path '' keep-last=1
  expect_grep "policy set --path: the pattern is empty.*leave --path out" "$W/err" \
    "empty pattern"
  expect_rc 2 k policy set --path / keep-last=1
  expect_grep "names no file" "$W/err" "slash pattern"
  expect_rc 2 k policy set
  expect_grep "policy set: no rule given; name at least one of keep-last, .*, e\.g\. keep-last=10" \
    "$W/err" "no rules"
  expect_rc 2 k policy set --path '*.log'
  expect_grep "no rule given" "$W/err" "no rules for a pattern"
  expect_rc 2 k policy
  expect_rc 2 k policy clear --path ''
  expect_rc 1 k policy clear --path '*.nope'
  expect_grep "pattern '\*\.nope' has no retention rules; .katamari policy show." "$W/err" \
    "clear missing"
  expect_rc 1 k policy clear
  expect_grep "there are no default retention rules; .katamari policy show." "$W/err" \
    "clear missing default"
  # Nothing was stored by the failures.
  ok k policy log --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 0 "no change logged"
  # No bucket: the usual not-found error.
  B="$W/nobucket" expect_rc 1 k policy show
  expect_grep "no bucket at .*nobucket: create one with 'katamari -b .* init'" "$W/err" \
    "missing bucket"
}

t_prune_keep_last_dry_run_and_json() {
  ok k init || return
  put_versions a.txt 5
  put_versions docs/b.txt 3
  head -c 400000 /dev/urandom >"$W/big1"
  head -c 400000 /dev/urandom >"$W/big2"
  ok k put big.bin "$W/big1"
  ok k put big.bin "$W/big2"
  ok k put big.bin "$W/big1"  # version 3 shares version 1's chunks
  # No policy: prune keeps everything.
  ok k prune
  expect_grep "pruned 0 versions" "$W/out" "no policy"
  ok k policy set keep-last=2
  ok k prune --dry-run
  expect_grep "^a\.txt: would remove 3 versions \(1-3\), kept 2$" "$W/out" "dry-run line"
  expect_grep "^dry run: would remove 5 versions of 3 files" "$W/out" "dry-run total"
  expect_eq "$(versions_of a.txt)" "1 2 3 4 5" "dry run changes nothing"
  ok k prune --dry-run --json
  expect_eq "$(pyjson "$W/out" 'd["dry_run"]')" True "json dry_run"
  expect_eq "$(pyjson "$W/out" 'd["versions_removed"]')" 5 "json count"
  expect_eq "$(pyjson "$W/out" 'sorted((f["key"], f["removed"]) for f in d["files"])')" \
    "[('a.txt', [1, 2, 3]), ('big.bin', [1]), ('docs/b.txt', [1])]" "json files"
  local freed before after
  freed=$(pyjson "$W/out" 'd["bytes_freed"]')
  # Version 1 of big.bin shares its chunks with version 3: nothing of it is freed.
  [ "$freed" -lt 1000 ] || fail "bytes_freed $freed counts shared chunks"
  before=$(chunk_count "$B")
  ok k prune --json
  expect_eq "$(pyjson "$W/out" 'd["dry_run"]')" False "json not dry"
  expect_eq "$(pyjson "$W/out" 'd["bytes_freed"]')" "$freed" "prune frees what dry-run said"
  after=$(chunk_count "$B")
  [ "$after" -le "$before" ] || fail "chunk files grew: $before -> $after"
  expect_eq "$(versions_of a.txt)" "4 5" "a.txt pruned"
  expect_eq "$(versions_of docs/b.txt)" "2 3" "b.txt pruned"
  ok k get a.txt --version 4 && expect_eq "$(cat "$W/out")" "a.txt 4" "kept version exact"
  ok k get big.bin --version 2 -o "$W/back2" && expect_same_file "$W/back2" "$W/big2" "big v2"
  ok k get big.bin -o "$W/back3" && expect_same_file "$W/back3" "$W/big1" "big v3"
  expect_rc 1 k get a.txt --version 2
  ok k fsck
}

t_prune_frees_space() {
  ok k init || return
  local i
  for i in 1 2 3 4; do
    head -c 300000 /dev/urandom >"$W/r$i"
    ok k put r.bin "$W/r$i"
  done
  ok k policy set --path r.bin keep-last=1
  local before after
  before=$(du -sbc "$B/chunks" "$B/packs" | tail -1 | cut -f1)
  ok k prune
  expect_grep "^r\.bin: removed 3 versions \(1-3\), kept 1$" "$W/out" "prune line"
  expect_grep "freeing [0-9.]+ (KiB|MiB)" "$W/out" "freed bytes shown"
  after=$(du -sbc "$B/chunks" "$B/packs" | tail -1 | cut -f1)
  [ "$after" -lt $((before - 800000)) ] || fail "chunks/ and packs/ did not shrink: $before -> $after"
  ok k gc
  ok k get r.bin -o "$W/back" && expect_same_file "$W/back" "$W/r4" "current kept"
}

t_prune_path_and_patterns() {
  ok k init || return
  put_versions docs/a.txt 3
  put_versions docsx/b.txt 3
  put_versions logs/app.log 4
  ok k policy set --path '*.log' keep-last=1
  ok k policy set keep-last=2
  ok k prune docs
  expect_eq "$(versions_of docs/a.txt)" "2 3" "under PATH"
  expect_eq "$(versions_of docsx/b.txt)" "1 2 3" "a sibling with the same prefix"
  expect_eq "$(versions_of logs/app.log)" "1 2 3 4" "outside PATH"
  ok k prune --json logs/
  expect_eq "$(pyjson "$W/out" 'd["files"][0]["rule"]')" '*.log' "first matching pattern"
  expect_eq "$(versions_of logs/app.log)" "4" "pattern rules"
  expect_rc 1 k prune nope/
  expect_grep "prune nope/: no file at or under that path" "$W/err" "missing PATH"
}

t_prune_deleted_for() {
  ok k init || return
  put_versions old.txt 2
  put_versions kept.txt 2
  ok k rm old.txt
  ok k policy set deleted-for=1s
  # Wait until old.txt was deleted more than a second ago (commit times are wall clock).
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt 3 ]; do sleep 0.5; done
  ok k prune --dry-run
  expect_grep "^old\.txt \(deleted\): would remove its whole history \(2 versions, deleted-for\)" \
    "$W/out" "dry-run deleted-for"
  ok k prune
  expect_rc 1 k versions old.txt
  ok k ls --deleted
  expect_no_grep "old\.txt" "$W/out" "history gone"
  expect_eq "$(versions_of kept.txt)" "1 2" "live file untouched (no keep rule)"
}

t_exclude_commands() {
  ok k init || return
  ok k exclude list
  expect_eq "$(tr '\n' ' ' <"$W/out")" \
    '.*.swp *.swp *.swo *~ #*# *.tmp *.lock .~lock.*# *-journal *-wal *-shm ~$* ' "defaults"
  ok k exclude list --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 12 "json list"
  put_versions work.tmp 3
  expect_eq "$(versions_of work.tmp)" "3" "excluded: one version"
  ok k get work.tmp && expect_eq "$(cat "$W/out")" "work.tmp 3" "current content"
  put_versions db.sqlite-wal 2
  expect_eq "$(versions_of db.sqlite-wal)" "2" "-wal excluded"
  ok k exclude remove '*.tmp'
  expect_grep "no longer excluded: '\*\.tmp'" "$W/out" "remove message"
  put_versions work.tmp 2
  expect_eq "$(versions_of work.tmp)" "3 4 5" "kept again"
  ok k exclude add '*.bak'
  expect_grep "excluded '\*\.bak'" "$W/out" "add message"
  put_versions notes.bak 2
  expect_eq "$(versions_of notes.bak)" "2" "added pattern"
  ok k exclude reset
  expect_grep "reset to the defaults: \.\*\.swp" "$W/out" "reset message"
  ok k exclude list --json && expect_eq "$(pyjson "$W/out" '"*.bak" in d')" False "reset drops"
  # work.tmp is excluded again: prune cuts its history back to the current version.
  ok k prune
  expect_eq "$(versions_of work.tmp)" "5" "prune trims an excluded file"
  ok k policy log --json
  expect_eq "$(pyjson "$W/out" '[e["action"] for e in d]')" \
    "['exclude remove', 'exclude add', 'exclude reset']" "exclude changes logged"
}

t_exclude_errors() {
  ok k init || return
  expect_rc 2 k exclude add ''
  expect_grep "exclude add: the pattern is empty" "$W/err" "empty"
  expect_rc 2 k exclude add 'logs/*.tmp'
  expect_grep "holds a '/'; exclude patterns match file names only" "$W/err" "slash"
  expect_rc 1 k exclude add '*.tmp'
  expect_grep "exclude pattern '\*\.tmp' is already listed" "$W/err" "duplicate"
  expect_rc 1 k exclude remove '*.nope'
  expect_grep "exclude pattern '\*\.nope' is not listed; .katamari exclude list." "$W/err" \
    "missing"
  expect_rc 2 k exclude
  expect_rc 2 k exclude add
}

# The timer's service (katamari-gc@.service runs `katamari-service gc CONF`) prunes, then
# collects garbage.
t_policy_service_runs_prune() {
  ok k init || return
  put_versions a.txt 3
  ok k policy set keep-last=1
  mkdir -p "$W/mnt"
  printf 'BUCKET=%s\nMOUNTPOINT=%s\n' "$B" "$W/mnt" >"$W/b.conf"
  local script="$HERE/../../systemd/katamari-service.in"
  ok env KATAMARI="$KATAMARI" bash "$script" gc "$W/b.conf"
  expect_grep "^pruned 2 versions of 1 file " "$W/out" "prune ran"
  expect_grep "chunks" "$W/out" "then gc ran"
  expect_eq "$(versions_of a.txt)" "3" "pruned by the service"
}

t_prune_lists_version_ranges() {
  ok k init || return
  put_versions f 6
  ok k rm f --version 2
  ok k policy set keep-last=1
  ok k prune
  expect_grep "^f: removed 4 versions \(1, 3-5\), kept 1$" "$W/out" "ranges"
  expect_eq "$(versions_of f)" "6" "newest kept"
}

# An encrypted bucket: the policy and excludes work the same (patterns are stored in the
# clear, like names; docs/catalog.md); prune needs the key like every command.
t_policy_encrypted() {
  ok k init --encrypt --keyfile "$W/key" || return
  export KATAMARI_KEYFILE="$W/key"
  put_versions secret.txt 4
  put_versions scratch.tmp 2
  expect_eq "$(versions_of scratch.tmp)" "2" "excluded on an encrypted bucket"
  ok k policy set keep-last=1
  ok k prune --json
  expect_eq "$(pyjson "$W/out" 'd["versions_removed"]')" 3 "pruned"
  expect_eq "$(versions_of secret.txt)" "4" "kept the newest"
  ok k get secret.txt && expect_eq "$(cat "$W/out")" "secret.txt 4" "content exact"
  ok k fsck
  unset KATAMARI_KEYFILE
  expect_rc 1 k prune
  expect_grep "encrypted: pass --keyfile FILE" "$W/err" "prune needs the key"
}

# shellcheck shell=bash
# CLI tests of bad input and failing storage (sourced by cli_test.sh; see lib.sh).

t_usage_errors() {
  ok k init || return
  echo x >"$W/x"
  expect_rc 2 k ls --no-such-option
  expect_grep "^katamari: .*no-such-option" "$W/err" "unknown option named"
  expect_rc 2 k frobnicate
  expect_grep "^katamari: unknown command 'frobnicate': the commands are init, put, " "$W/err" \
    "an unknown command is named, with the list"
  expect_rc 2 k forget --dry-run
  expect_grep "unknown command 'forget'" "$W/err" "unknown command with options after it"
  expect_rc 2 "$KATAMARI" -b "$B" --keyfile /nonexistent frobnicate
  expect_grep "unknown command 'frobnicate'" "$W/err" "unknown command after global options"
  ok k --version && expect_grep "^katamari [0-9]+\.[0-9]+\.[0-9]+$" "$W/out" "katamari --version"
  ok k -V && expect_grep "^katamari [0-9]" "$W/out" "katamari -V"
  expect_rc 2 "$KATAMARI"
  expect_grep "^katamari: no command given: the commands are init, " "$W/err" "no command"
  expect_rc 2 k put
  expect_rc 2 k get
  expect_rc 2 k get x --version 0
  expect_rc 2 k get x --version two
  expect_rc 2 k get x --version 1 --at 2026-01-01
  expect_rc 2 k get x --at yesterday
  expect_grep "^katamari: --at: cannot read time 'yesterday': use " "$W/err" "bad --at message"
  expect_rc 2 k get x --at 2026-02-30
  expect_rc 2 k init --compression lz4
  expect_rc 2 k init --chunk-avg 12Q
  expect_rc 2 k put x "$W/x" --mode 999
  expect_rc 2 k init --encrypt </dev/null
  expect_grep "init --encrypt needs a key: pass --keyfile FILE .*--passphrase-file FILE" "$W/err" \
    "--encrypt without a key or a terminal"
  ok k --help && expect_grep "put" "$W/out" "help lists commands"
  ok k put --help && expect_grep "--meta" "$W/out" "command help"
  expect_rc 1 k put x "$W/no-such-file"
  expect_grep "^katamari: cannot open .*no-such-file" "$W/err" "missing input file"
  expect_rc 1 k put x "$W"
  expect_grep "directory" "$W/err" "directory as input"
  expect_rc 1 k get nosuch
  expect_grep "^katamari: get nosuch: " "$W/err" "missing key message"
  expect_eq "$(stat -c %s "$W/out")" 0 "nothing on stdout for a missing key"
  expect_rc 1 k get nosuch -o "$W/never"
  [ -e "$W/never" ] && fail "get -o of a missing key created the file"
  true
}

t_missing_bucket() {
  expect_rc 1 k ls
  expect_grep "^katamari: no bucket at $B: create one with 'katamari -b $B init' or pass -b" \
    "$W/err" "missing bucket message"
  mkdir -p "$W/cwd"
  (cd "$W/cwd" && "$KATAMARI" put x - </dev/null) >"$W/out" 2>"$W/err"
  expect_eq "$?" 1 "default bucket missing"
  expect_grep "no bucket at ./storage/my_bucket: create one with 'katamari -b ./storage/my_bucket init'" \
    "$W/err" "default bucket message"
  [ -e "$W/cwd/storage" ] && fail "a failed command created the bucket directory"
  true
}

t_newer_format() {
  ok k init || return
  echo x >"$W/x"
  ok k put x "$W/x"
  command -v sqlite3 >/dev/null || { skip "sqlite3 not installed"; return; }
  # docs/catalog.md: the format version is meta.format_version (an integer).
  sqlite3 "$B/catalog.db" "UPDATE meta SET value = 99 WHERE key = 'format_version'" ||
    { fail "cannot set the format version"; return; }
  expect_rc 1 k ls
  expect_grep "^katamari: .*newer" "$W/err" "newer format refused"
  expect_rc 1 k put y "$W/x"
  expect_eq "$(sqlite3 "$B/catalog.db" "SELECT value FROM meta WHERE key = 'format_version'")" 99 \
    "a refused bucket is left alone"
}

t_corrupt_chunk() {
  ok k init || return
  head -c 3000000 /dev/urandom >"$W/victim"
  text_file "$W/healthy" 1000000 3
  ok k put victim "$W/victim"
  chunk_files "$B" >"$W/victim.chunks"
  ok k put healthy "$W/healthy"
  ok k fsck || return
  # Flip one byte in the middle of one of the victim's chunks.
  local chunk
  chunk=$(sed -n '3p' "$W/victim.chunks")
  [ -n "$chunk" ] || chunk=$(head -1 "$W/victim.chunks")
  chunk_edit flip "$chunk"
  expect_rc 1 k fsck
  expect_grep "victim@1" "$W/out" "fsck names KEY@VERSION"
  expect_no_grep "healthy@" "$W/out" "fsck blames only the damaged file"
  expect_rc 1 k fsck --json
  expect_eq "$(pyjson "$W/out" '(d["ok"], d["damaged"])')" "(False, ['victim@1'])" "fsck --json"
  run k get victim
  [ "$RC" -ne 0 ] || fail "get of a corrupt version exited 0"
  cmp -s "$W/out" "$W/victim" && fail "get of a corrupt version printed the whole file"
  # What did come out is a correct prefix, never wrong bytes.
  cmp -s "$W/out" <(head -c "$(stat -c %s "$W/out")" "$W/victim") ||
    fail "get of a corrupt version wrote wrong bytes"
  expect_grep "^katamari: get victim@1: .*fsck" "$W/err" "corruption message"
  expect_rc 1 k get victim -o "$W/victim.out"
  [ -e "$W/victim.out" ] && fail "get -o left a partial file"
  # A failed get (damaged chunk, or a key that is not there) leaves an
  # existing file, hard-linked or not, exactly as it was and no temporary.
  echo "old content" >"$W/keep"
  chmod 600 "$W/keep"
  echo "old linked" >"$W/linked"
  ln "$W/linked" "$W/linked2"
  expect_rc 1 k get victim -o "$W/keep"
  expect_eq "$(cat "$W/keep")" "old content" "a failed get -o kept the old file"
  expect_eq "$(stat -c %a "$W/keep")" 600 "a failed get -o kept the old mode"
  expect_rc 1 k get victim -o "$W/linked"
  expect_eq "$(cat "$W/linked2")" "old linked" "a failed get -o kept a hard-linked file"
  expect_rc 1 k get no-such-key -o "$W/keep"
  expect_eq "$(cat "$W/keep")" "old content" "get -o of a missing key kept the old file"
  compgen -G "$W/.*katamari-*" >/dev/null && fail "a failed get -o left a temporary file"
  ok k get healthy && expect_same_file "$W/out" "$W/healthy" "other files still readable"
  true
}

# A damaged or missing chunk is stored again by the next put of the same bytes,
# and then the old version reads again too.
t_damaged_chunk_repaired_by_put() {
  ok k init || return
  head -c 3000000 /dev/urandom >"$W/data"
  ok k put old "$W/data"
  local chunks
  mapfile -t chunks < <(chunk_files "$B")
  [ "${#chunks[@]}" -ge 3 ] || { fail "want 3+ chunks, got ${#chunks[@]}"; return; }
  chunk_edit flip "${chunks[1]}"
  chunk_edit remove "${chunks[2]}"
  expect_rc 1 k fsck
  expect_grep "old@1" "$W/out" "fsck names the damaged version"
  [ -n "$(ls -A "$B/chunks/damaged" 2>/dev/null)" ] || fail "fsck kept no evidence in chunks/damaged"
  ok k put new "$W/data"
  ok k get new && expect_same_file "$W/out" "$W/data" "the new put reads back"
  ok k get old && expect_same_file "$W/out" "$W/data" "the damaged version reads again"
  ok k fsck
  ok k gc
  [ -n "$(ls -A "$B/chunks/damaged" 2>/dev/null)" ] || fail "gc removed the evidence"
  ok k get old && expect_same_file "$W/out" "$W/data" "still readable after gc"
}

# fsck runs SQLite's integrity check: junk in any page of catalog.db fails it.
t_fsck_junk_catalog_pages() {
  ok k init || return
  local i
  for i in $(seq 1 40); do
    printf 'file %s\n' "$i" >"$W/f$i"
    ok k put "d$((i % 5))/f$i" "$W/f$i" --meta "n=$i" || return
  done
  ok k fsck || return
  [ ! -s "$B/catalog.db-wal" ] || { fail "catalog.db-wal not checkpointed"; return; }
  cp "$B/catalog.db" "$W/pristine.db"
  local pages
  pages=$(($(stat -c %s "$W/pristine.db") / 4096))
  [ "$pages" -ge 6 ] || { fail "catalog has only $pages pages"; return; }
  local p passed=""
  for p in $(seq 2 "$pages"); do
    cp "$W/pristine.db" "$B/catalog.db"
    rm -f "$B/catalog.db-shm" "$B/catalog.db-wal"
    python3 - "$B/catalog.db" "$p" <<'EOF'
import random, sys
path, page = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek((page - 1) * 4096)
    f.write(random.Random(page).randbytes(4096))
EOF
    run k fsck
    if [ "$RC" -eq 0 ]; then
      passed="$passed $p"
    elif ! grep -Eiq "catalog" "$W/out" "$W/err"; then
      fail "page $p: fsck failed without naming the catalog: $(head -c 300 "$W/err")"
    fi
  done
  [ -z "$passed" ] || fail "fsck exited 0 with junk in page(s)$passed of $pages"
  cp "$W/pristine.db" "$B/catalog.db"
  rm -f "$B/catalog.db-shm"
  ok k fsck
}

t_readonly_bucket() {
  is_root || { skip "needs root to run as another user"; return; }
  command -v setpriv >/dev/null || { skip "no setpriv"; return; }
  local as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  chmod 755 "$TMP" "$W"
  mkdir "$W/home" && chown nobody "$W/home"
  B="$W/home/bucket"
  echo data >"$W/home/f" && chmod 644 "$W/home/f"
  "${as_nobody[@]}" "$KATAMARI" -b "$B" init >/dev/null 2>&1 || { fail "init as nobody"; return; }
  "${as_nobody[@]}" "$KATAMARI" -b "$B" put f "$W/home/f" >/dev/null 2>&1 || fail "put as nobody"
  chmod -R a-w "$B"
  expect_rc 1 "${as_nobody[@]}" "$KATAMARI" -b "$B" put g "$W/home/f"
  expect_grep "^katamari: .*(permission|read-only|readonly)" "$W/err" "read-only put message"
  expect_grep "bucket|catalog" "$W/err" "message names the bucket"
  # Reading needs no write access (a bucket on read-only media, a backup copy).
  ok "${as_nobody[@]}" "$KATAMARI" -b "$B" get f && \
    expect_same_file "$W/out" "$W/home/f" "get from a read-only bucket"
  ok "${as_nobody[@]}" "$KATAMARI" -b "$B" ls && expect_grep "^f " "$W/out" "ls read-only"
  ok "${as_nobody[@]}" "$KATAMARI" -b "$B" fsck
  chmod -R u+w "$B"
  ok "${as_nobody[@]}" "$KATAMARI" -b "$B" put g "$W/home/f"
}

t_disk_full() {
  is_root || { skip "needs root to mount a small tmpfs"; return; }
  mkdir "$W/mnt"
  mount -t tmpfs -o size=4m tmpfs "$W/mnt" || { skip "cannot mount tmpfs here"; return; }
  MOUNTS+=("$W/mnt")
  B="$W/mnt/bucket"
  ok k init || return
  text_file "$W/small" 100000 4
  head -c 8388608 /dev/urandom >"$W/big"
  ok k put small "$W/small"
  local chunks_before
  chunks_before=$(chunk_count "$B")
  expect_rc 1 k put big "$W/big"
  expect_grep "^katamari: put big: .*no space" "$W/err" "disk full message"
  expect_grep "gc|free" "$W/err" "disk full message says what to do"
  ok k get small && expect_same_file "$W/out" "$W/small" "bucket readable after ENOSPC"
  ok k fsck
  ok k ls && expect_no_grep "^big" "$W/out" "no half-stored file listed"
  ok k gc --json
  expect_eq "$(chunk_count "$B")" "$chunks_before" "gc removed what the failed put left"
  ok k put small2 "$W/small" && ok k get small2 && expect_same_file "$W/out" "$W/small" \
    "bucket writable again once space is freed"
  umount "$W/mnt" && MOUNTS=()
}

t_big_roundtrip() {
  local mib=${KATAMARI_CLI_BIG_MIB:-128}
  [ "$mib" -gt 0 ] || { skip "KATAMARI_CLI_BIG_MIB=0"; return; }
  ok k init || return
  # Random, base64 text and zeros: raw, compressed and duplicate chunks.
  local quarter=$((mib * 256 * 1024))
  { head -c $((2 * quarter)) /dev/urandom
    head -c $((quarter * 3 / 4)) /dev/urandom | base64 -w 76
    head -c "$quarter" /dev/zero; } >"$W/big"
  local timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f '%M' -o "$W/rss")
  ok "${timer[@]}" "$KATAMARI" -b "$B" put big "$W/big"
  expect_eq "$(cat "$W/out")" "$(sha_of "$W/big")" "big put sha"
  [ -n "${timer[*]}" ] && check_rss "put"
  ok "${timer[@]}" "$KATAMARI" -b "$B" get big -o "$W/big.back"
  expect_same_file "$W/big.back" "$W/big" "big round trip"
  [ -n "${timer[*]}" ] && check_rss "get"
  rm -f "$W/big" "$W/big.back"
}

check_rss() {  # peak RSS of the last timed command, in KiB, must stay under 200 MiB
  local kib
  kib=$(tail -1 "$W/rss")
  [ "$kib" -lt $((200 * 1024)) ] || fail "$1 peak RSS ${kib} KiB >= 200 MiB"
  echo "  $1 peak RSS: $((kib / 1024)) MiB"
}

# kill -9 of a put after it appended chunks to its pack but before its catalog
# row: the pack is dead space, counted by fsck, never read, and deleted by gc.
t_killed_put_leaves_a_dead_pack_gc_deletes() {
  ok k init || return
  text_file "$W/keep" 300000 7
  ok k put keep "$W/keep"
  local packs_before pid
  packs_before=$(find "$B/packs" -type f | wc -l)
  # A put from a pipe that is never closed: once its first 30 MB are in a pack
  # of its own it is killed mid-way, before any row (no timing guesses).
  mkfifo "$W/fifo"
  "$KATAMARI" -b "$B" put big - <"$W/fifo" >/dev/null 2>&1 &
  pid=$!
  exec 7>"$W/fifo"
  head -c 30000000 /dev/urandom >&7
  for _ in $(seq 600); do
    [ "$(find "$B/packs" -type f -size +1M | wc -l)" -gt 0 ] &&
      [ "$(find "$B/packs" -type f | wc -l)" -gt "$packs_before" ] && break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  exec 7>&-
  [ "$(find "$B/packs" -type f | wc -l)" -gt "$packs_before" ] || { fail "the killed put left no pack"; return 1; }
  expect_rc 1 k versions big  # no row: the put never committed
  ok k fsck || return
  expect_grep "unreferenced in [0-9]+ packs \('katamari gc' reclaims it\)" "$W/out" "fsck counts the dead pack"
  ok k fsck --json
  expect_eq "$(pyjson "$W/out" 'd["dead_pack_bytes"] > 0')" True "fsck --json dead_pack_bytes"
  ok k gc || return
  expect_grep "deleted 1, rewrote 0 and merged 0 packs" "$W/out" "gc deletes the dead pack"
  expect_eq "$(find "$B/packs" -type f | wc -l)" "$packs_before" "only the live pack is left"
  ok k fsck --json
  expect_eq "$(pyjson "$W/out" 'd["dead_pack_bytes"]')" 0 "no dead space after gc"
  ok k get keep && expect_same_file "$W/out" "$W/keep" "the live file reads back"
}

# shellcheck shell=bash
# CLI tests of the everyday commands (sourced by cli_test.sh; see lib.sh).

t_roundtrip() {
  ok k init || return
  head -c 3000000 /dev/urandom >"$W/rand"
  text_file "$W/text" 2000000 1
  touch -d '2024-05-06 07:08:09.123456789 UTC' "$W/text"
  local f sha
  for f in rand text; do
    ok k put "docs/$f" "$W/$f" || continue
    sha=$(cat "$W/out")
    expect_eq "$sha" "$(sha_of "$W/$f")" "put $f prints what sha256sum prints"
    ok k get "docs/$f"
    expect_same_file "$W/out" "$W/$f" "get $f to stdout"
    ok k get "docs/$f" -o "$W/$f.back"
    expect_same_file "$W/$f.back" "$W/$f" "get $f -o"
  done
  # put keeps the file's mtime; get -o gives it back.
  ok k versions docs/text --json
  expect_eq "$(pyjson "$W/out" 'd[0]["mtime_ns"]')" "1714979289123456789" "mtime_ns kept"
  expect_eq "$(pyjson "$W/out" 'd[0]["mtime"]')" "2024-05-06T07:08:09.123456789Z" "mtime ISO"
  expect_eq "$(stat -c %Y "$W/text.back")" "$(stat -c %Y "$W/text")" "get -o sets mtime"
  compgen -G "$W/.*katamari-*" >/dev/null && fail "get -o left a temporary file"
  # An empty file round-trips too.
  : >"$W/empty"
  ok k put empty "$W/empty" && expect_eq "$(cat "$W/out")" "$(sha_of "$W/empty")" "empty sha"
  ok k get empty && expect_eq "$(stat -c %s "$W/out")" 0 "empty get"
  # ls shows the keys with their sizes and sha256.
  ok k ls
  expect_grep "^docs/rand +3000000 +1 +1 +$(sha_of "$W/rand")" "$W/out" "ls row of docs/rand"
  ok k ls docs/t
  expect_grep "docs/text" "$W/out" "ls prefix"
  expect_no_grep "docs/rand" "$W/out" "ls prefix filters"
}

t_stdin() {
  ok k init --compression zlib || return
  text_file "$W/in" 500000 2
  ok k put from/stdin - <"$W/in" && expect_eq "$(cat "$W/out")" "$(sha_of "$W/in")" "stdin sha"
  # FILE defaults to stdin, also from a pipe.
  python3 -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read())' "$W/in" |
    k put from/pipe >"$W/out" 2>"$W/err" || fail "put from a pipe: $(cat "$W/err")"
  expect_eq "$(cat "$W/out")" "$(sha_of "$W/in")" "pipe sha"
  ok k get from/pipe && expect_same_file "$W/out" "$W/in" "get of piped put"
  ok k stats --json && expect_eq "$(pyjson "$W/out" 'd["settings"]["compression"]')" zlib \
    "init --compression zlib"
}

t_metadata() {
  ok k init || return
  echo hello >"$W/f"
  ok k put m.txt "$W/f" --meta author=ann --meta "note=two words" --meta empty= || return
  ok k ls --json
  expect_eq "$(pyjson "$W/out" 'd[0]["metadata"]')" \
    "{'author': 'ann', 'empty': '', 'note': 'two words'}" "metadata in ls --json"
  ok k ls && expect_grep "author=ann" "$W/out" "metadata in ls"
  # A put replaces the set, and each version keeps its own snapshot.
  ok k put m.txt "$W/f" --meta author=bob
  ok k versions m.txt --json
  expect_eq "$(pyjson "$W/out" '[v["metadata"].get("author") for v in d]')" "['ann', 'bob']" \
    "metadata snapshot per version"
  expect_rc 2 k put m.txt "$W/f" --meta novalue
  expect_grep "katamari: --meta 'novalue'" "$W/err" "bad --meta message"
}

t_versions() {
  ok k init || return
  local i
  for i in 1 2 3; do
    echo "content $i" >"$W/v$i"
    ok k put f "$W/v$i"
    sleep 0.05
  done
  ok k versions f --json || return
  cp "$W/out" "$W/versions.json"
  expect_eq "$(pyjson "$W/versions.json" '[v["version"] for v in d]')" "[1, 2, 3]" "numbering"
  expect_eq "$(pyjson "$W/versions.json" 'd[1]["sha256"]')" "$(sha_of "$W/v2")" "v2 sha"
  ok k versions f && expect_grep "^ +2 +10 " "$W/out" "versions table row"
  ok k get f --version 2 && expect_same_file "$W/out" "$W/v2" "get --version 2"
  ok k get f && expect_same_file "$W/out" "$W/v3" "get current"
  expect_rc 1 k get f --version 4
  # --at: the commit time of v2, as printed in JSON and as @unix-time, names v2.
  local at_iso at_ns
  at_iso=$(pyjson "$W/versions.json" 'd[1]["committed"]')
  at_ns=$(pyjson "$W/versions.json" 'd[1]["committed_ns"]')
  ok k get f --at "$at_iso" && expect_same_file "$W/out" "$W/v2" "get --at ISO"
  ok k get f --at "@${at_ns:0:-9}.${at_ns: -9}" && expect_same_file "$W/out" "$W/v2" "--at @unix"
  ok k get f --at "unix:${at_ns:0:-9}.${at_ns: -9}" && expect_same_file "$W/out" "$W/v2" "--at unix:"
  ok k get f --at "$(TZ=Etc/GMT-3 date -d "@${at_ns:0:-9}" +%Y-%m-%dT%H:%M:%S).${at_ns: -9}+03:00" && \
    expect_same_file "$W/out" "$W/v2" "--at with an offset from UTC"
  ok k get f --at "@$((${at_ns:0:-9} + 100))" && expect_same_file "$W/out" "$W/v3" "--at later"
  ok k get f --at "$(date -u +%Y-%m-%d)" && expect_same_file "$W/out" "$W/v3" "--at bare date"
  ok k get f --at "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%MZ)" && \
    expect_same_file "$W/out" "$W/v3" "--at minutes"
  expect_rc 1 k get f --at 2001-01-01T00:00:00Z
  expect_grep "katamari: get f@2001-01-01T00:00:00Z" "$W/err" "--at before history"
}

t_rm_marker() {
  ok k init || return
  echo one >"$W/1"; echo two >"$W/2"; echo three >"$W/3"
  ok k put a "$W/1"; ok k put a "$W/2"; ok k put b "$W/1"
  ok k rm a || return
  ok k ls && expect_no_grep "^a " "$W/out" "deleted key hidden from ls"
  ok k ls --deleted && expect_grep "^a .* deleted" "$W/out" "ls --deleted shows it"
  ok k ls --deleted --json
  expect_eq "$(pyjson "$W/out" '[(f["key"], f["deleted"]) for f in d]')" \
    "[('a', True), ('b', False)]" "ls --deleted --json"
  expect_rc 1 k get a
  ok k get a --version 1 && expect_same_file "$W/out" "$W/1" "history kept after rm"
  ok k put a "$W/3"
  ok k versions a --json
  expect_eq "$(pyjson "$W/out" '[v["version"] for v in d]')" "[1, 2, 3]" "numbering continues"
  expect_rc 1 k rm nosuchkey
  expect_grep "katamari: rm nosuchkey" "$W/err" "rm of a missing key"
}

t_rm_version() {
  ok k init || return
  local i
  for i in 1 2 3; do echo "v$i" >"$W/$i"; ok k put f "$W/$i"; done
  ok k rm f --version 2 || return
  ok k versions f --json
  expect_eq "$(pyjson "$W/out" '[v["version"] for v in d]')" "[1, 3]" "v2 gone"
  expect_rc 1 k get f --version 2
  ok k rm f --version 3
  ok k get f && expect_same_file "$W/out" "$W/1" "deleting the newest makes v1 current"
  ok k put f "$W/2"
  ok k versions f --json
  expect_eq "$(pyjson "$W/out" '[v["version"] for v in d]')" "[1, 4]" "numbers never reused"
  expect_rc 2 k rm f --version 1 --purge
  expect_rc 2 k rm f --version 0
}

t_purge_gc() {
  ok k init || return
  head -c 2000000 /dev/urandom >"$W/r1"
  head -c 2000000 /dev/urandom >"$W/r2"
  ok k put keep "$W/r1"
  local before
  before=$(chunk_count "$B")
  ok k put gone "$W/r2"; ok k put gone "$W/r1"
  [ "$(chunk_count "$B")" -gt "$before" ] || fail "put of new data added no chunk files"
  ok k rm gone --purge --yes || return
  expect_rc 1 k versions gone
  ok k ls --deleted && expect_no_grep "gone" "$W/out" "purged key not in ls --deleted"
  # Purge may free the chunks itself or leave them to gc; after both they are gone.
  ok k gc --json || return
  expect_eq "$(chunk_count "$B")" "$before" "purge + gc freed the purged file's chunk files"
  ok k get keep && expect_same_file "$W/out" "$W/r1" "shared chunks survive gc"
  ok k fsck
  ok k gc && expect_grep "removed 0 chunks" "$W/out" "second gc finds nothing"
}

t_restore() {
  ok k init || return
  echo old >"$W/1"; echo new >"$W/2"
  ok k put f "$W/1"; ok k put f "$W/2"
  local stored_before
  stored_before=$(stored_bytes "$B")
  ok k restore f --version 1 || return
  expect_grep "restored f version 1 as version 3" "$W/out" "restore message"
  ok k get f && expect_same_file "$W/out" "$W/1" "restored content current"
  ok k versions f --json
  expect_eq "$(pyjson "$W/out" '[(v["version"], v["restored_from"]) for v in d]')" \
    "[(1, None), (2, None), (3, 1)]" "restored_from"
  expect_eq "$(pyjson "$W/out" 'd[2]["sha256"] == d[0]["sha256"]')" True "restored sha"
  expect_eq "$(stored_bytes "$B")" "$stored_before" "restore copies no data"
  expect_rc 2 k restore f
  expect_rc 1 k restore f --version 9
  ok k restore f@2 --json || return
  expect_eq "$(pyjson "$W/out" '(d["key"], d["restored_from"], d["version"], d["size"])')" \
    "('f', 2, 4, 4)" "restore --json: what was restored as what"
  expect_eq "$(pyjson "$W/out" 'd["sha256"]')" "$(sha_of "$W/2")" "restore --json: sha256"
  expect_grep '"committed": "20' "$W/out" "restore --json: commit time"
  ok k put m "$W/1" --mode 0640 && ok k versions m --json
  expect_eq "$(pyjson "$W/out" '[(v["mode"], v["uid"]) for v in d]')" \
    "[('0640', $(id -u))]" "versions --json: the recorded mode and owner"
}

t_json() {
  ok k init || return
  echo x >"$W/x"
  ok k put d/x "$W/x" --meta k=v
  local cmd
  for cmd in "ls" "ls --deleted" "versions d/x" "fsck" "gc" "stats"; do
    # shellcheck disable=SC2086
    ok k $cmd --json || continue
    python3 -m json.tool "$W/out" >/dev/null 2>&1 || fail "$cmd --json is not JSON: $(cat "$W/out")"
  done
  ok k ls --json
  expect_eq "$(pyjson "$W/out" 'sorted(d[0].keys())')" \
    "['committed', 'committed_ns', 'deleted', 'key', 'latest_version', 'metadata', 'mtime', 'mtime_ns', 'sha256', 'size', 'type', 'versions']" \
    "ls --json fields"
  ok k stats --json
  expect_eq "$(pyjson "$W/out" '(d["files"], d["versions"], d["logical_bytes"])')" "(1, 1, 2)" \
    "stats figures"
}

t_init_options() {
  ok k init --compression none --no-versioning --chunk-min 4K --chunk-avg 16k --chunk-max 64KiB \
    || return
  ok k stats --json
  expect_eq "$(pyjson "$W/out" 'd["settings"]')" \
    "{'chunk_avg': 16384, 'chunk_max': 65536, 'chunk_min': 4096, 'compression': 'none', 'delta_chunks': True, 'encrypted': False, 'level': 0, 'versioning': False}" \
    "init settings stored"
  expect_rc 1 k init
  expect_grep "already exists" "$W/err" "second init"
  echo 1 >"$W/1"; echo 2 >"$W/2"
  ok k put f "$W/1"; ok k put f "$W/2"
  ok k versions f --json
  expect_eq "$(pyjson "$W/out" 'len(d)')" 1 "no versioning keeps one version"
}

t_default_bucket() {
  mkdir -p "$W/cwd"
  (cd "$W/cwd" && "$KATAMARI" init >/dev/null 2>&1) || fail "init of the default bucket"
  [ -f "$W/cwd/storage/my_bucket/catalog.db" ] || fail "default bucket not ./storage/my_bucket"
  expect_eq "$(stat -c %a "$W/cwd/storage/my_bucket")" 700 "bucket mode"
  echo env >"$W/e"
  KATAMARI_BUCKET="$W/envb" "$KATAMARI" init >/dev/null 2>&1 || fail "init via KATAMARI_BUCKET"
  KATAMARI_BUCKET="$W/envb" "$KATAMARI" put e "$W/e" >/dev/null 2>&1 || fail "put via env"
  ok "$KATAMARI" -b "$W/envb" get e && expect_same_file "$W/out" "$W/e" "env bucket used"
  # -b also works after the command name.
  ok "$KATAMARI" get e -b "$W/envb" && expect_same_file "$W/out" "$W/e" "-b after command"
}

t_quiet_when_not_a_terminal() {
  ok k init || return
  head -c 20000000 /dev/urandom >"$W/big"
  ok k put big "$W/big"
  expect_eq "$(stat -c %s "$W/err")" 0 "put writes nothing on stderr when not a terminal"
  ok k get big
  expect_eq "$(stat -c %s "$W/err")" 0 "get writes nothing on stderr"
  ok k fsck
  expect_eq "$(stat -c %s "$W/err")" 0 "fsck writes nothing on stderr"
  if ! command -v script >/dev/null; then
    skip "no 'script' to give katamari a terminal"
    return
  fi
  # On a terminal, a progress line that is redrawn with \r and cleared.
  script -qec "'$KATAMARI' -b '$B' put big2 '$W/big' >/dev/null" "$W/typescript" >/dev/null
  expect_grep $'\r'"put big2: " "$W/typescript" "progress line on a terminal"
}

t_man_page_options() {
  # Every option `katamari ... --help` shows is described in katamari(1).
  local man="$HERE/../../docs/man/katamari.1" cmd opt
  [ -f "$man" ] || { fail "no $man"; return; }
  sed 's/\\-/-/g' "$man" >"$W/man"
  for cmd in "" init put get rm restore ls versions fsck gc stats key "key list" "key add" \
    "key change" "key remove"; do
    # shellcheck disable=SC2086
    ok "$KATAMARI" $cmd --help || continue
    for opt in $(grep -oE -- '--[a-z][a-z-]+' "$W/out" | sort -u); do
      grep -qF -- "$opt" "$W/man" || fail "katamari $cmd --help shows $opt; katamari.1 lacks it"
    done
  done
}

# get -o writes the way cp(1) does: a device or fifo is written into, a
# symlink followed, hard links keep sharing the content, a single-linked
# file is replaced atomically keeping its mode.
t_get_output_like_cp() {
  ok k init || return
  text_file "$W/v1" 50000 1
  ok k put doc "$W/v1" || return
  if is_root; then
    # A private copy of /dev/null first: the old behaviour replaced the device.
    mknod -m 666 "$W/null" c 1 3
    ok k get doc -o "$W/null"
    [ -c "$W/null" ] || fail "-o a character device replaced it with a $(stat -c %F "$W/null")"
  fi
  if ! is_root || [ -c "$W/null" ]; then
    ok k get doc -o /dev/null
    [ -c /dev/null ] || fail "-o /dev/null: /dev/null is no longer a character device"
  fi

  echo old >"$W/target.txt"
  ln -s target.txt "$W/link"
  mkdir "$W/d" && ln -s ../link "$W/d/link2"  # a chain, relative to each link
  ok k get doc -o "$W/d/link2"
  [ -L "$W/link" ] && [ -L "$W/d/link2" ] || fail "-o a symlink replaced the link"
  expect_same_file "$W/target.txt" "$W/v1" "-o a symlink writes its target"
  ln -s created.txt "$W/dangling"
  ok k get doc -o "$W/dangling"
  [ -L "$W/dangling" ] || fail "-o a dangling symlink replaced the link"
  expect_same_file "$W/created.txt" "$W/v1" "-o a dangling symlink creates its target"

  echo old >"$W/h1"
  ln "$W/h1" "$W/h2"
  ok k get doc -o "$W/h1"
  expect_same_file "$W/h2" "$W/v1" "the other hard link shares the new content"
  expect_eq "$(stat -c %h "$W/h1")" 2 "link count after -o a hard-linked file"

  echo old >"$W/private"
  chmod 640 "$W/private"
  ok k get doc -o "$W/private"
  expect_same_file "$W/private" "$W/v1" "-o an existing file"
  expect_eq "$(stat -c %a "$W/private")" 640 "a replaced file keeps its mode"
  (umask 027 && k get doc -o "$W/new") || fail "get -o a new file"
  expect_eq "$(stat -c %a "$W/new")" 640 "a new file gets 0666 & ~umask"

  mkfifo "$W/fifo"
  timeout 60 cat "$W/fifo" >"$W/fifo.out" &
  local reader=$!
  ok k get doc -o "$W/fifo"
  if [ -p "$W/fifo" ]; then
    wait "$reader" || fail "the reader of the fifo failed"
    expect_same_file "$W/fifo.out" "$W/v1" "-o a fifo writes into it"
  else
    fail "-o a fifo replaced it with a $(stat -c %F "$W/fifo")"
    kill "$reader" 2>/dev/null
    wait "$reader" 2>/dev/null
  fi
  # A link to /proc/self/fd/1 (as /dev/stdout is) names a pipe here, which
  # has no path: written into. (A private link: the old behaviour, run as
  # root, replaced the link, and must not replace the real /dev/stdout.)
  ln -s /proc/self/fd/1 "$W/stdout"
  "$KATAMARI" -b "$B" get doc -o "$W/stdout" | cat >"$W/piped" || fail "get -o a link to stdout"
  expect_same_file "$W/piped" "$W/v1" "-o a link to stdout (a pipe)"
  [ -L "$W/stdout" ] || fail "-o a link to stdout replaced the link"
  compgen -G "$W/.*katamari-*" >/dev/null && fail "get -o left a temporary file"
  compgen -G "$W/d/.*katamari-*" >/dev/null && fail "get -o left a temporary file in d/"
  true
}

# ls on a terminal quotes names with control bytes or bytes that are not UTF-8
# as GNU ls does there (shell-escape); into a pipe names stay raw; --json is
# exact (base64 beside a name that is not UTF-8).
t_ls_quotes_names_on_a_terminal() {
  ok k init || return
  echo x >"$W/x"
  local nl esc bad
  nl=$(printf 'a\nb')
  esc=$(printf '\033[2Jred')
  bad=$(printf 'caf\xe9')
  for key in "$nl" "$esc" "$bad" "it's" "café" plain; do
    ok k put "$key" "$W/x" || return
  done
  python3 "$HERE/on_terminal.py" -- "$KATAMARI" -b "$B" ls >"$W/tty" 2>&1 ||
    fail "ls on a terminal failed: $(cat "$W/tty")"
  grep -qF -- "'a'\$'\\n''b'" "$W/tty" || fail "ls on a terminal: newline not quoted: $(cat -A "$W/tty")"
  grep -qF -- "''\$'\\033''[2Jred'" "$W/tty" || fail "ls on a terminal: escape not quoted"
  grep -qF -- "'caf'\$'\\351'" "$W/tty" || fail "ls on a terminal: bad UTF-8 not quoted"
  grep -q $'\033' "$W/tty" && fail "ls on a terminal printed a raw escape byte"
  grep -q "^it's " "$W/tty" || fail "ls on a terminal quoted a name without control bytes"
  grep -q "^café " "$W/tty" || fail "ls on a terminal quoted a printable UTF-8 name"
  # The quoted form is what a shell reads back as the name.
  local quoted
  quoted=$(grep -oF -- "'a'\$'\\n''b'" "$W/tty" | head -1)
  expect_eq "$(eval "printf %s $quoted")" "$nl" "the quoted name read back by the shell"

  ok k ls
  grep -qF "$esc" "$W/out" || fail "ls into a pipe must print names as they are"
  grep -q "^caf"$'\xe9'" " "$W/out" || fail "ls into a pipe changed the bytes of a name"
  ok k ls --json
  python3 - "$W/out" "$nl" "$esc" <<'PY' || fail "ls --json is not exact"
import base64, json, sys
d = json.load(open(sys.argv[1]))
keys = {e["key"]: e for e in d}
assert sys.argv[2] in keys and sys.argv[3] in keys, keys.keys()
bad = [e for e in d if "key_base64" in e]
assert len(bad) == 1 and base64.b64decode(bad[0]["key_base64"]) == b"caf\xe9", bad
assert bad[0]["key"] == "caf\ufffd", bad
assert not any("key_base64" in e for e in d if e["key"] != "caf\ufffd")
PY
  # Key slot labels are names too.
  head -c 32 /dev/urandom >"$W/key" && chmod 600 "$W/key"
  head -c 32 /dev/urandom >"$W/key2" && chmod 600 "$W/key2"
  ok "$KATAMARI" -b "$W/vault" --keyfile "$W/key" init --encrypt || return
  ok "$KATAMARI" -b "$W/vault" --keyfile "$W/key" key add --new-keyfile "$W/key2" --label "$esc"
  python3 "$HERE/on_terminal.py" -- "$KATAMARI" -b "$W/vault" --keyfile "$W/key" key list \
    >"$W/tty" 2>&1 || fail "key list on a terminal failed: $(cat "$W/tty")"
  grep -qF -- "''\$'\\033''[2Jred'" "$W/tty" || fail "key list on a terminal: label not quoted"
  grep -q $'\033' "$W/tty" && fail "key list on a terminal printed a raw escape byte"
  true
}

# shellcheck shell=bash
# CLI tests of the rough edges a new user hit (sourced by cli_test.sh; see
# lib.sh): the mount's KEY@N spellings, clear errors for numbers and --meta,
# what rm says (and --purge's question), versions/ls of a directory, and the
# progress line on a terminal.

EDGE_ON_TERMINAL="$HERE/on_terminal.py"

t_edge_at_syntax() {
  ok k init || return
  echo one >"$W/v1"
  echo two >"$W/v2"
  ok k put a/b "$W/v1" && ok k put a/b "$W/v2" || return
  ok k get a/b@1 && expect_eq "$(cat "$W/out")" one "get KEY@N"
  ok k get a/b@2 && expect_eq "$(cat "$W/out")" two "get KEY@2"
  ok k get a/b@-1 && expect_eq "$(cat "$W/out")" one "get KEY@-1 (the one before)"
  ok k versions a/b --json || return
  cp "$W/out" "$W/versions.json"
  local t1
  t1=$(pyjson "$W/versions.json" 'd[0]["committed"]')
  ok k get "a/b@$t1" && expect_eq "$(cat "$W/out")" one "get KEY@TIME"
  ok k get "a/b@unix:$(pyjson "$W/versions.json" 'd[1]["committed_ns"] // 1000000000 + 1')"
  expect_eq "$(cat "$W/out")" two "get KEY@unix:SECONDS"
  ok k get a/b@1 -o "$W/got" && expect_eq "$(cat "$W/got")" one "get KEY@N -o FILE"
  # Both '@N' and --version / --at: refused, naming both.
  expect_rc 2 k get a/b@1 --version 2
  expect_grep "both '@1' and --version 2 name a version" "$W/err" "@N with --version"
  expect_rc 2 k get a/b@1 --at 2026-01-01
  expect_grep "both '@1' and --at 2026-01-01" "$W/err" "@N with --at"
  expect_rc 2 k get a/b@
  expect_grep "names the whole history.*a/b@N" "$W/err" "get KEY@"
  expect_rc 1 k get a/b@9
  expect_grep "no version 9|version 9" "$W/err" "get of a missing version"
  expect_rc 1 k get a/b@-2
  expect_grep "'a/b' has only 2 versions" "$W/err" "KEY@-K past the first"
  expect_rc 1 k get nokey@1
  expect_grep "no such key" "$W/err" "KEY@N of a missing key"
  # versions takes KEY@ (the mount's history directory), nothing else after '@'.
  ok k versions a/b@ && expect_grep "^ +2 " "$W/out" "versions KEY@"
  expect_rc 2 k versions a/b@1
  expect_grep "drop '@1': katamari versions a/b" "$W/err" "versions KEY@N"
  # restore and rm take it too.
  ok k restore a/b@1 && expect_grep "restored a/b version 1 as version 3" "$W/out" "restore KEY@N"
  ok k get a/b && expect_eq "$(cat "$W/out")" one "restored content"
  expect_rc 2 k rm "a/b@$t1"
  expect_grep "named by its number" "$W/err" "rm KEY@TIME"
  expect_rc 2 k rm a/b@2 --purge
  expect_grep "names one version, --purge all of them" "$W/err" "rm KEY@N --purge"
  ok k rm a/b@2 && expect_grep "deleted version 2 of a/b" "$W/out" "rm KEY@N"
  ok k versions a/b --json && expect_eq "$(pyjson "$W/out" '[v["version"] for v in d]')" \
    "[1, 3]" "rm KEY@N deleted that version only"
}

# A key whose own name holds '@' wins, as in the mount; its versions are
# reached with --version / --at.
t_edge_at_literal_key() {
  ok k init || return
  echo literal1 >"$W/l1"
  echo literal2 >"$W/l2"
  echo plain >"$W/p"
  ok k put 'x@1' "$W/l1" && ok k put 'x@1' "$W/l2" && ok k put x "$W/p" || return
  ok k get 'x@1' && expect_eq "$(cat "$W/out")" literal2 "a real key x@1 wins over x's version 1"
  ok k get 'x@1' --version 1 && expect_eq "$(cat "$W/out")" literal1 "x@1 --version 1"
  ok k get x --version 1 && expect_eq "$(cat "$W/out")" plain "x --version 1"
  ok k versions 'x@1' --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 2 "versions of x@1"
  ok k rm 'x@1' --version 1 && expect_grep "deleted version 1 of x@1" "$W/out" "rm x@1 --version 1"
  ok k get x && expect_eq "$(cat "$W/out")" plain "x untouched"
}

t_edge_numbers() {
  ok k init || return
  echo a >"$W/f"
  ok k put f "$W/f" || return
  local cmd
  for cmd in "get f" "restore f" "rm f"; do
    # shellcheck disable=SC2086  # cmd is two words on purpose
    expect_rc 2 k $cmd --version 0
    expect_grep "0 is not allowed; versions are numbered from 1" "$W/err" "$cmd --version 0"
    expect_no_grep "0\.000000|not in range" "$W/err" "$cmd --version 0: no CLI11 range text"
    # shellcheck disable=SC2086
    expect_rc 2 k $cmd --version 99999999999999999999
    expect_grep "99999999999999999999 is too large \(at most 18446744073709551615\)" "$W/err" \
      "$cmd --version overflow"
    # shellcheck disable=SC2086
    expect_rc 2 k $cmd --version 1x
    expect_grep "'1x' is not a whole number" "$W/err" "$cmd --version 1x"
  done
  expect_rc 2 k get f --version -3
  expect_grep "'-3' is not a whole number|-3" "$W/err" "--version -3"
  expect_rc 1 k get f --version 18446744073709551615
  expect_grep "version 18446744073709551615" "$W/err" "the largest number is a real (missing) version"
  expect_rc 2 k key remove 0
  expect_grep "slots are numbered from 1" "$W/err" "key remove 0"
  expect_rc 2 k key remove 4294967296
  expect_grep "too large \(at most 4294967295\)" "$W/err" "key remove past uint32"
  expect_rc 2 "$KATAMARI" -b "$W/b2" init --level abc
  expect_grep "--level: 'abc' is not a whole number; give the compression level" "$W/err" \
    "init --level abc"
  expect_rc 2 "$KATAMARI" -b "$W/b2" init --level 99
  expect_grep "level 99" "$W/err" "init --level 99"
  expect_rc 2 "$KATAMARI" -b "$W/b2" init --chunk-min 0
  expect_grep "--chunk-min '0': not a size" "$W/err" "--chunk-min 0"
  expect_rc 2 k put g "$W/f" --mode 9999
  expect_grep "not an octal mode" "$W/err" "--mode 9999"
}

t_edge_meta() {
  ok k init || return
  echo a >"$W/f"
  expect_rc 2 k put f "$W/f" --meta k
  expect_grep "--meta 'k': no '=': expected NAME=VALUE: write it as --meta k=VALUE" "$W/err" \
    "--meta k"
  expect_rc 2 k put f "$W/f" --meta =v
  expect_grep "the name before '=' is empty" "$W/err" "--meta =v"
  expect_rc 2 k put f "$W/f" --meta user.=v
  expect_grep "--meta 'user.=v': the name before '=' is empty" "$W/err" "--meta user.=v"
  expect_rc 2 k put f "$W/f" --meta user.
  expect_grep "no '='" "$W/err" "--meta user."
  local long250 long251
  long250=$(printf 'n%.0s' $(seq 250))
  long251="${long250}n"
  expect_rc 2 k put f "$W/f" --meta "$long251=v"
  expect_grep "the name is 256 bytes with its 'user.' prefix: use a name of at most 250 bytes" \
    "$W/err" "--meta name too long"
  expect_rc 2 k put f "$W/f" --meta "big=$(head -c 65537 /dev/zero | tr '\0' x)"
  expect_grep "the value is 65537 bytes: keep a value within 64 KiB" "$W/err" "--meta value too big"
  run k ls
  expect_no_grep "^f " "$W/out" "refused puts stored nothing"
  # The limits themselves are fine.
  ok k put f "$W/f" --meta "$long250=v" --meta "big=$(head -c 65536 /dev/zero | tr '\0' x)"
  ok k ls --json && expect_eq "$(pyjson "$W/out" 'len(d[0]["metadata"]["big"])')" 65536 \
    "a 64 KiB value is kept"
}

t_edge_rm_says() {
  ok k init || return
  head -c 3000 /dev/zero >"$W/f3"
  head -c 5000 /dev/zero >"$W/f5"
  ok k put f "$W/f3" && ok k put f "$W/f5" && ok k put g "$W/f3" || return
  ok k rm f
  expect_grep "^deleted f; its 2 versions \(7\.8 KiB\) are kept: 'katamari restore f --version 2' brings it back, 'katamari rm f --purge' deletes them$" \
    "$W/out" "rm KEY says the history is kept"
  ok k rm f --version 1
  expect_grep "^deleted version 1 of f \(2\.9 KiB\) for good; 1 version kept; 'katamari gc' frees" \
    "$W/out" "rm --version says what went"
  # --purge without a terminal: refused unless --yes.
  expect_rc 2 k rm f --purge </dev/null
  expect_grep "rm --purge f would delete f and its 1 version \(4\.9 KiB\) for good: pass --yes" \
    "$W/err" "--purge without a terminal"
  ok k versions f --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 1 "refused purge kept f"
  ok k rm f --purge --yes
  expect_grep "^purged f: 1 version \(4\.9 KiB\) deleted for good; 'katamari gc' frees" "$W/out" \
    "rm --purge --yes says what went"
  expect_rc 1 k versions f
  ok k rm g -y --purge </dev/null && expect_grep "^purged g" "$W/out" "-y"
  # Versioning off: nothing is kept, and rm says so.
  ok "$KATAMARI" -b "$W/nv" init --no-versioning || return
  ok "$KATAMARI" -b "$W/nv" put h "$W/f3"
  ok "$KATAMARI" -b "$W/nv" rm h
  expect_grep "^deleted h \(no history kept: versioning is off\)$" "$W/out" "rm without versioning"
}

# rm --purge asks on a terminal: only "y"/"yes" deletes.
t_edge_rm_purge_asks() {
  ok k init || return
  echo data >"$W/f"
  ok k put f "$W/f" && ok k put f "$W/f" || return
  local ans
  for ans in n "" nope; do
    expect_rc 1 "$EDGE_ON_TERMINAL" --answer "$ans" -- "$KATAMARI" -b "$B" rm f --purge
    expect_grep "Delete f and its 2 versions \(10 B\) for good\? \[y/N\]: " "$W/out" \
      "the question ('$ans')"
    expect_grep "not confirmed, nothing deleted" "$W/out" "answer '$ans' deletes nothing"
    ok k versions f --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 2 "f kept after '$ans'"
  done
  expect_rc 1 "$EDGE_ON_TERMINAL" -- "$KATAMARI" -b "$B" rm f --purge  # Ctrl-D at the question
  expect_grep "not confirmed" "$W/out" "Ctrl-D deletes nothing"
  ok k versions f --json && expect_eq "$(pyjson "$W/out" 'len(d)')" 2 "f kept after Ctrl-D"
  ok "$EDGE_ON_TERMINAL" --answer YES -- "$KATAMARI" -b "$B" rm f --purge
  expect_grep "purged f: 2 versions" "$W/out" "answer YES purges"
  expect_rc 1 k versions f
  # --yes does not ask, also on a terminal.
  ok k put f "$W/f"
  ok "$EDGE_ON_TERMINAL" -- "$KATAMARI" -b "$B" rm f --purge --yes
  expect_no_grep "\[y/N\]" "$W/out" "--yes on a terminal does not ask"
  expect_grep "purged f" "$W/out" "--yes purges"
}

t_edge_dir_args() {
  ok k init || return
  echo x >"$W/f"
  ok k put zlib/a "$W/f" && ok k put zlib-restored/b "$W/f" && ok k put zlibx "$W/f" || return
  expect_rc 2 k versions zlib
  expect_grep "versions zlib: 'zlib' is a directory.*'katamari ls zlib/'" "$W/err" "versions DIR"
  expect_rc 2 k versions zlib/
  expect_grep "is a directory" "$W/err" "versions DIR/"
  # A PREFIX that names a directory means that directory.
  ok k ls zlib
  expect_grep "^zlib/a " "$W/out" "ls DIR lists it"
  expect_no_grep "zlib-restored|zlibx" "$W/out" "ls DIR lists only it"
  ok k ls zlib --json && expect_eq "$(pyjson "$W/out" '[f["key"] for f in d]')" "['zlib/a']" \
    "ls DIR --json"
  # Any other PREFIX is a prefix of keys.
  ok k ls zlib-
  expect_grep "^zlib-restored/b " "$W/out" "ls PREFIX"
  expect_no_grep "^zlib/a|zlibx" "$W/out" "ls PREFIX filters"
  ok k ls zl
  expect_eq "$(grep -c '^zlib' "$W/out")" 3 "ls zl: a prefix of all three"
}

# Progress on a terminal: done of total, rate and time left; nothing in pipes.
# zstd level 19 makes the put last seconds; the store reports each 4 MiB block
# as it is handed to the workers, so the file is well past their window.
t_edge_progress() {
  ok k init --level 19 || return
  head -c $((40 * 1024 * 1024)) /dev/urandom >"$W/big"
  local start end
  start=$(date +%s.%N)
  ok "$EDGE_ON_TERMINAL" -- "$KATAMARI" -b "$B" put big "$W/big" || return
  end=$(date +%s.%N)
  tr '\r' '\n' <"$W/out" >"$W/lines"
  expect_grep "^put big: [0-9.]+ (B|KiB|MiB) of 40\.0 MiB \([0-9]+%\)" "$W/lines" \
    "put shows done of total"
  if python3 -c "import sys; sys.exit(0 if $end - $start > 3 else 1)"; then
    expect_grep "^put big: .* of 40\.0 MiB \([0-9]+%\), [0-9.]+ (B|KiB|MiB)/s, [0-9]+ (s|min [0-9]+ s) left" \
      "$W/lines" "put shows rate and time left"
  else
    skip "the put took under 3 s: rate and time left not checked"
  fi
  expect_grep "$(sha_of "$W/big")" "$W/lines" "the sha256 after the progress line"
  ok "$EDGE_ON_TERMINAL" -- "$KATAMARI" -b "$B" get big -o "$W/back"
  expect_same_file "$W/back" "$W/big" "get -o on a terminal"
  # fsck's total is every version's size (one here), known before it starts.
  ok "$EDGE_ON_TERMINAL" -- "$KATAMARI" -b "$B" fsck
  tr '\r' '\n' <"$W/out" >"$W/lines"
  expect_grep "^fsck: [0-9.]+ (B|KiB|MiB) of 40\.0 MiB \([0-9]+%\)" "$W/lines" "fsck shows its total"
  # Nothing of it in pipes and files (a default-level bucket: a quick put).
  local b2="$W/b2"
  ok "$KATAMARI" -b "$b2" init || return
  ok "$KATAMARI" -b "$b2" put big "$W/big"
  expect_eq "$(cat "$W/err")" "" "put into a pipe is quiet"
  ok k get big -o "$W/back2"
  expect_eq "$(cat "$W/err")" "" "get into a pipe is quiet"
  ok k fsck
  expect_eq "$(cat "$W/err")" "" "fsck into a pipe is quiet"
  ok k gc
  expect_eq "$(cat "$W/err")" "" "gc into a pipe is quiet"
}

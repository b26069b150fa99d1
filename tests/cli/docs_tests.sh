# shellcheck shell=bash
# The man pages and README keep up with the binaries: every command and
# option that `--help` lists is documented (tests/cli/man_check.py).

t_docs_man_pages() {
  local top=$HERE/../.. fs
  expect_rc 0 python3 "$HERE/man_check.py" "$KATAMARI" "$top/docs/man/katamari.1" ||
    fail "katamari(1) lags --help: $(cat "$W/out" "$W/err")"
  fs=$(dirname "$KATAMARI")/katamarifs
  if [ -x "$fs" ]; then
    expect_rc 0 python3 "$HERE/man_check.py" --flat "$fs" "$top/docs/man/katamarifs.8" ||
      fail "katamarifs(8) lags --help: $(cat "$W/out" "$W/err")"
  else
    skip "no katamarifs next to $KATAMARI"
  fi
  # README: every command, as 'katamari COMMAND'.
  local c
  for c in $("$KATAMARI" --help | awk '/^Subcommands:/ {on = 1; next} on && NF {print $1}'); do
    grep -qE "katamari $c( |\$|\`)" "$top/README.md" || fail "README.md never shows 'katamari $c'"
  done
  # The check itself finds gaps: a page without the text of prune and du's SYNOPSIS entry.
  sed -e '/^\\fBprune\\fR/,/^\.TP$/d' -e 's/^\.B katamari du$/.B katamari du-gone/' \
    "$top/docs/man/katamari.1" >"$W/gappy.1"
  expect_rc 1 python3 "$HERE/man_check.py" "$KATAMARI" "$W/gappy.1"
  expect_grep "'prune': option --dry-run not in its COMMANDS entry" "$W/out" \
    "an undocumented option is found"
  expect_grep "'du' has no SYNOPSIS entry" "$W/out" "a missing SYNOPSIS entry is found"
}

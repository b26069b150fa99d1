# shellcheck shell=bash
# shellcheck disable=SC2034  # CURRENT and TEST_FAILED are read by cli_test.sh
# Helpers for the CLI tests (sourced by cli_test.sh).
#
# Each test is a function t_NAME that runs in its own work dir $W with a
# bucket path $B (not yet created). `k ARGS` runs katamari on $B. A failed
# check prints FAIL and marks the test failed; the test keeps going so one
# run shows every problem.

CURRENT=""
TEST_FAILED=0

fail() {
  echo "FAIL [$CURRENT]: $*" >&2
  TEST_FAILED=1
}

skip() {
  echo "SKIP [$CURRENT]: $*"
}

k() { "$KATAMARI" -b "$B" "$@"; }

# run CMD...: runs with stdout in $W/out, stderr in $W/err; sets RC.
run() {
  "$@" >"$W/out" 2>"$W/err"
  RC=$?
}

# expect_rc CODE CMD...: runs CMD (see run) and checks its exit code.
expect_rc() {
  local want=$1
  shift
  run "$@"
  if [ "$RC" -ne "$want" ]; then
    fail "'$*' exited $RC, want $want; stderr: $(head -c 600 "$W/err")"
    return 1
  fi
  return 0
}

# ok CMD...: the command must succeed.
ok() { expect_rc 0 "$@"; }

expect_eq() {  # expect_eq GOT WANT WHAT
  if [ "$1" != "$2" ]; then
    fail "$3: got '$1', want '$2'"
    return 1
  fi
}

# expect_grep PATTERN FILE WHAT: FILE must match the extended regexp (case-insensitive).
expect_grep() {
  if ! grep -Eiq -- "$1" "$2"; then
    fail "$3: /$1/ not in: $(head -c 600 "$2")"
    return 1
  fi
}

expect_no_grep() {
  if grep -Eiq -- "$1" "$2"; then
    fail "$3: /$1/ unexpectedly in: $(head -c 600 "$2")"
    return 1
  fi
}

expect_same_file() {  # expect_same_file A B WHAT
  if ! cmp -s "$1" "$2"; then
    fail "$3: $1 and $2 differ"
    return 1
  fi
}

# pyjson FILE EXPR: evaluates the Python expression EXPR with d = the JSON in FILE.
pyjson() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# text_file PATH BYTES SEED: deterministic text-like content.
text_file() {
  python3 - "$1" "$2" "$3" <<'EOF'
import random, sys
path, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
words = ["alpha", "bucket", "version", "chunk", "river", "stone", "seven", "light",
         "table", "window", "paper", "garden", "orange", "silver", "north", "quiet"]
out, n = [], 0
while n < size:
    line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + "\n"
    out.append(line)
    n += len(line)
open(path, "w").write("".join(out)[:size])
EOF
}

# Chunk files in the fan-out directories (not those moved to chunks/damaged/).
chunk_files() {
  find "$1/chunks" -path "$1/chunks/damaged" -prune -o -type f -print 2>/dev/null | sort
}
chunk_count() { chunk_files "$1" | wc -l; }

is_root() { [ "$(id -u)" -eq 0 ]; }

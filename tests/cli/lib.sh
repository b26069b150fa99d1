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

# The stored chunks of bucket $1, one "PATH:OFFSET:LENGTH" line each, sorted:
# chunk files (offset 0, the whole file; not those moved to chunks/damaged/)
# and every complete record of every pack (docs/pack-format.md: its body).
chunk_files() {
  python3 - "$1" "${2:-}" <<'EOF'
import os, struct, sys
b = sys.argv[1]
ids = sys.argv[2] == "ids"
out = []
for root, dirs, files in os.walk(os.path.join(b, "chunks")):
    if os.path.basename(root) == "damaged":
        continue
    for f in files:
        if len(f) == 64:
            p = os.path.join(root, f)
            out.append(f if ids else "%s:0:%d" % (p, os.path.getsize(p)))
for root, dirs, files in os.walk(os.path.join(b, "packs")):
    for f in files:
        if len(f) != 32:
            continue
        p = os.path.join(root, f)
        data = open(p, "rb").read()
        pos = 32
        while pos + 48 <= len(data) and data[pos:pos + 4] == b"KTPR":
            n = struct.unpack_from("<I", data, pos + 4)[0]
            if pos + 48 + n > len(data):
                break
            out.append(data[pos + 8:pos + 40].hex() if ids else "%s:%d:%d" % (p, pos + 48, n))
            pos += 48 + n
if out:
    print("\n".join(sorted(out)))
EOF
}
chunk_count() { chunk_files "$1" | grep -c .; }
# The ids (hex) of the chunks chunk_files lists.
chunk_ids() { chunk_files "$1" ids; }
# Bytes of chunk files and packs in bucket $1.
stored_bytes() { du -sbc "$1/chunks" "$1/packs" 2>/dev/null | tail -1 | cut -f1; }

# chunk_edit OP CHUNK [CHUNK2]: damages one stored chunk (a chunk_files line).
#   flip       flips a bit of its middle byte
#   cut N      cuts N bytes off its end (a pack: the file ends there)
#   remove     removes its file, or breaks its pack record's header
#   copy-over  copies CHUNK's bytes over CHUNK2's (as many as fit)
#   swap       exchanges two chunks: files renamed, or the ids of two pack
#              records (their header CRCs made consistent again)
chunk_edit() {
  python3 - "$@" <<'EOF'
import os, struct, sys, zlib
op = sys.argv[1]
def parse(s):
    p, off, n = s.rsplit(":", 2)
    return p, int(off), int(n)
p, off, n = parse(sys.argv[2])
os.chmod(p, 0o600)
whole = off == 0
def rw(path):
    return bytearray(open(path, "rb").read())
def save(path, b):
    open(path, "wb").write(bytes(b))
if op == "flip":
    b = rw(p); b[off + n // 2] ^= 0x55; save(p, b)
elif op == "cut":
    os.truncate(p, off + n - int(sys.argv[3]))
elif op == "remove":
    if whole:
        os.remove(p)
    else:
        b = rw(p); b[off - 48:off - 44] = b"XXXX"; save(p, b)
elif op == "copy-over":
    q, qoff, qn = parse(sys.argv[3])
    os.chmod(q, 0o600)
    src = open(p, "rb").read()[off:off + n]
    b = rw(q)
    k = min(len(src), qn)
    b[qoff:qoff + k] = src[:k]
    save(q, b)
elif op == "swap":
    q, qoff, qn = parse(sys.argv[3])
    os.chmod(q, 0o600)
    if whole:
        tmp = p + ".swap"
        os.rename(p, tmp); os.rename(q, p); os.rename(tmp, q)
    else:
        assert p == q, "swap: both records must be in one pack"
        b = rw(p)
        ha, hb = off - 48, qoff - 48
        ida, idb = bytes(b[ha + 8:ha + 40]), bytes(b[hb + 8:hb + 40])
        b[ha + 8:ha + 40], b[hb + 8:hb + 40] = idb, ida
        for h in (ha, hb):
            struct.pack_into("<I", b, h + 44, zlib.crc32(bytes(b[h:h + 44])))
        save(p, b)
else:
    sys.exit("chunk_edit: unknown op " + op)
EOF
}

is_root() { [ "$(id -u)" -eq 0 ]; }

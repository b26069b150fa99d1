# shellcheck shell=bash
# CLI tests of encrypted buckets (docs/semantics.md, Encryption, docs/encryption.md; sourced by
# cli_test.sh, see lib.sh). Passphrase slots are made with the hidden
# --scrypt-n 1024 so that unlocking takes milliseconds, not 0.25 s.

ON_TERMINAL="$HERE/on_terminal.py"

# ke ARGS: katamari on $B with the key file $W/key.
ke() { k --keyfile "$W/key" "$@"; }
# kp FILE ARGS: katamari on $B with the passphrase file FILE.
kp() {
  local pw=$1
  shift
  k --passphrase-file "$pw" "$@"
}

# secret_file PATH TEXT: a passphrase file, mode 0600.
secret_file() {
  printf '%s\n' "$2" >"$1"
  chmod 600 "$1"
}

# wrong_key_refused WHAT: the last command was refused for its key: exit 1, a
# message that says the key is wrong, nothing about damage, nothing on stdout.
wrong_key_refused() {
  if [ "$RC" -ne 1 ]; then
    fail "$1: exited $RC, want 1; stderr: $(head -c 400 "$W/err")"
    return
  fi
  expect_grep "^katamari: cannot open bucket .*wrong (key|kind of key)" "$W/err" "$1: message"
  expect_no_grep "corrupt|damaged|fsck" "$W/err" "$1: a wrong key is not damage"
  expect_eq "$(stat -c %s "$W/out")" 0 "$1: nothing on stdout"
}

# bucket_digest: one hash over every file of the bucket (names and bytes),
# except SQLite's shared-memory index and an empty WAL, which any read-only
# open leaves behind.
bucket_digest() {
  (cd "$B" && find . -type f ! -name catalog.db-shm ! \( -name catalog.db-wal -empty \) |
    sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
}

# flip_byte FILE: xors the middle byte of FILE with 0x01 (one bit).
flip_byte() { chunk_edit flip "$1"; }

# enc_victim: an encrypted bucket ($W/key) with two files, "victim" (random,
# several chunks, listed in $W/victim.chunks) and "healthy" (text).
enc_victim() {
  ok k init --encrypt --keyfile "$W/key" || return 1
  head -c 1500000 /dev/urandom >"$W/victim"
  text_file "$W/healthy" 300000 5
  ok ke put victim "$W/victim" || return 1
  chunk_files "$B" >"$W/victim.chunks"
  ok ke put healthy "$W/healthy" || return 1
  chunk_files "$B" | comm -13 "$W/victim.chunks" - >"$W/healthy.chunks"
  [ "$(wc -l <"$W/victim.chunks")" -ge 3 ] || { fail "victim has < 3 chunks"; return 1; }
  [ -s "$W/healthy.chunks" ] || { fail "healthy has no chunk of its own"; return 1; }
  ok ke fsck
}

# damaged_victim_checks WHAT: after damage to victim's chunks, get fails
# cleanly and fsck names victim@1 (and not healthy).
damaged_victim_checks() {
  run ke get victim
  [ "$RC" -eq 1 ] || fail "$1: get of a damaged version exited $RC, want 1"
  cmp -s "$W/out" <(head -c "$(stat -c %s "$W/out")" "$W/victim") ||
    fail "$1: get wrote bytes that are not a prefix of the file"
  cmp -s "$W/out" "$W/victim" && fail "$1: get printed the whole file"
  expect_grep "^katamari: get victim@1: .*fsck" "$W/err" "$1: get message"
  expect_no_grep "wrong key" "$W/err" "$1: damage is not a wrong key"
  expect_rc 1 ke get victim -o "$W/victim.out"
  [ -e "$W/victim.out" ] && fail "$1: get -o left a partial file"
  expect_rc 1 ke fsck
  expect_grep "^damaged: victim@1$" "$W/out" "$1: fsck names KEY@VERSION"
  expect_no_grep "healthy@" "$W/out" "$1: fsck blames only the damaged file"
  ok ke get healthy && expect_same_file "$W/out" "$W/healthy" "$1: other files still readable"
}

t_enc_keyfile_roundtrip() {
  ok k init --encrypt --keyfile "$W/key" || return
  expect_grep "^created key file $W/key \(32 random bytes, mode 0600\)" "$W/out" "key file made"
  expect_grep "encrypted; key slot 1: key file $W/key" "$W/out" "init says encrypted"
  expect_eq "$(stat -c '%a %s' "$W/key")" "600 32" "key file mode and size"
  text_file "$W/a1" 200000 1
  text_file "$W/a2" 200000 2
  ok ke put docs/a "$W/a1" --meta owner=ann && expect_eq "$(cat "$W/out")" "$(sha_of "$W/a1")" \
    "put prints the plain sha256"
  # The key option also works after the command, like -b.
  ok "$KATAMARI" put docs/a "$W/a2" -b "$B" --keyfile "$W/key"
  ok ke get docs/a && expect_same_file "$W/out" "$W/a2" "get current"
  ok ke get docs/a --version 1 -o "$W/a1.back" && expect_same_file "$W/a1.back" "$W/a1" "get v1"
  ok ke versions docs/a --json
  expect_eq "$(pyjson "$W/out" '[(v["version"], v["sha256"], v["metadata"]) for v in d]')" \
    "[(1, '$(sha_of "$W/a1")', {'owner': 'ann'}), (2, '$(sha_of "$W/a2")', {})]" \
    "versions show plain sha256s and metadata"
  ok ke restore docs/a --version 1 && expect_grep "as version 3" "$W/out" "restore"
  ok ke get docs/a && expect_same_file "$W/out" "$W/a1" "restored content"
  ok ke ls && expect_grep "^docs/a .* $(sha_of "$W/a1") " "$W/out" "ls"
  ok ke rm docs/a && ok ke ls --deleted && expect_grep "deleted" "$W/out" "rm marker"
  ok ke fsck && expect_grep "^ok$" "$W/out" "fsck"
  ok ke gc
  ok ke stats && expect_grep "^encryption: +AES-256-GCM, 1 key slot \(opened with slot 1\)" \
    "$W/out" "stats says encrypted"
  ok ke stats --json
  expect_eq "$(pyjson "$W/out" '(d["settings"]["encrypted"], d["key_slots"])')" "(True, 1)" \
    "stats --json"
  # A plain bucket says so, and ignores a key.
  ok "$KATAMARI" -b "$W/plain" init && ok "$KATAMARI" -b "$W/plain" --keyfile "$W/key" stats
  expect_grep "^encryption: +none" "$W/out" "plain bucket stats"
  # An existing key file is used as it is, not replaced.
  local before
  before=$(sha_of "$W/key")
  ok "$KATAMARI" -b "$W/second" --keyfile "$W/key" init --encrypt
  expect_no_grep "created key file" "$W/out" "existing key file not remade"
  expect_eq "$(sha_of "$W/key")" "$before" "existing key file unchanged"
  # init fails (a bucket exists there): a key file it made is removed again.
  expect_rc 1 k init --encrypt --keyfile "$W/stray.key"
  [ -e "$W/stray.key" ] && fail "a failed init left its new key file behind"
  true
}

t_enc_passphrase_file() {
  secret_file "$W/pw" "correct horse battery staple"
  ok k --scrypt-n 1024 init --encrypt --passphrase-file "$W/pw" || return
  expect_grep "key slot 1: passphrase file $W/pw" "$W/out" "init names the passphrase file"
  text_file "$W/f" 100000 3
  ok kp "$W/pw" put f "$W/f"
  ok kp "$W/pw" get f && expect_same_file "$W/out" "$W/f" "passphrase file round trip"
  ok kp "$W/pw" key list --json
  expect_eq "$(pyjson "$W/out" \
    '[(s["slot"], s["kind"], [s["scrypt"][x] for x in "nrp"], s["in_use"], s["label"]) for s in d]')" \
    "[(1, 'passphrase', [1024, 8, 1], True, '')]" "key list of a passphrase bucket"
  # The trailing newline of the file is not part of the passphrase; a pipe works too.
  printf 'correct horse battery staple' | k --passphrase-file /dev/stdin ls >"$W/out" 2>"$W/err" ||
    fail "passphrase from a pipe: $(cat "$W/err")"
  expect_grep "^f " "$W/out" "passphrase from a pipe"
  # A key file cannot open a passphrase-only bucket: says which kind would.
  head -c 32 /dev/urandom >"$W/key" && chmod 600 "$W/key"
  run ke ls
  wrong_key_refused "key file on a passphrase bucket"
  expect_grep "no keyfile key slot.*pass --passphrase-file FILE instead" "$W/err" "wrong kind"
}

t_enc_env_keys() {
  head -c 32 /dev/urandom >"$W/key" && chmod 600 "$W/key"
  secret_file "$W/pw" "env pass phrase"
  echo data >"$W/f"
  KATAMARI_KEYFILE="$W/key" ok k init --encrypt || return
  KATAMARI_KEYFILE="$W/key" ok k put f "$W/f"
  KATAMARI_KEYFILE="$W/key" ok k get f && expect_same_file "$W/out" "$W/f" "key from env"
  # The command line beats the environment.
  head -c 32 /dev/urandom >"$W/other" && chmod 600 "$W/other"
  KATAMARI_KEYFILE="$W/other" ok ke get f && expect_same_file "$W/out" "$W/f" "option over env"
  KATAMARI_KEYFILE="$W/other" run k get f
  wrong_key_refused "wrong key from env"
  expect_grep "key from \\\$KATAMARI_KEYFILE" "$W/err" "message names the env variable"
  # A passphrase file from the environment.
  ok ke --scrypt-n 1024 key add --new-passphrase-file "$W/pw"
  KATAMARI_PASSPHRASE_FILE="$W/pw" ok k get f && expect_same_file "$W/out" "$W/f" \
    "passphrase from env"
  KATAMARI_PASSPHRASE_FILE="$W/pw" KATAMARI_KEYFILE="$W/key" expect_rc 2 k ls
  expect_grep "both .KATAMARI_KEYFILE and .KATAMARI_PASSPHRASE_FILE are set" "$W/err" "both set"
  # Plain buckets ignore a key from the environment, even a missing one.
  KATAMARI_KEYFILE="$W/no-such-key" ok "$KATAMARI" -b "$W/plain" init
  KATAMARI_KEYFILE="$W/no-such-key" ok "$KATAMARI" -b "$W/plain" put f "$W/f"
  expect_no_grep "encrypted" "$W/err" "env key ignored by a plain bucket"
  # ... but a key on init's command line without --encrypt is a mistake.
  expect_rc 2 "$KATAMARI" -b "$W/plain2" --keyfile "$W/key" init
  expect_grep "keyfile given without --encrypt" "$W/err" "--keyfile without --encrypt"
  [ -e "$W/plain2" ] && fail "init without --encrypt but with a key made a bucket"
  true
}

t_enc_wrong_or_missing_key() {
  ok k init --encrypt --keyfile "$W/key" || return
  echo data >"$W/f"
  ok ke put f "$W/f"
  local digest cmd
  digest=$(bucket_digest)
  head -c 32 /dev/urandom >"$W/bad" && chmod 600 "$W/bad"
  for cmd in "ls" "get f" "put g $W/f" "versions f" "rm f" "restore f --version 1" "fsck" "gc" \
    "stats" "key list"; do
    # shellcheck disable=SC2086
    run k --keyfile "$W/bad" $cmd </dev/null
    wrong_key_refused "$cmd with a wrong key"
  done
  expect_grep "wrong key or passphrase for bucket $B" "$W/err" "wrong key message"
  secret_file "$W/pw" "not the key"
  run kp "$W/pw" ls
  wrong_key_refused "a passphrase on a key-file bucket"
  expect_eq "$(bucket_digest)" "$digest" "a wrong key changes nothing in the bucket"
  # No key at all, no terminal: says how to pass one.
  expect_rc 1 k ls </dev/null
  expect_grep "is encrypted: pass --keyfile FILE or --passphrase-file FILE \(or set KATAMARI_KEYFILE" \
    "$W/err" "missing key message"
  expect_no_grep "corrupt" "$W/err" "missing key is not corruption"
  expect_rc 1 k --keyfile "$W/no-such-key" ls
  expect_grep "^katamari: cannot open bucket .*key file $W/no-such-key does not exist" "$W/err" \
    "missing key file message"
  expect_no_grep "no bucket at" "$W/err" "a missing key file is not a missing bucket"
  # init --encrypt without any key and no terminal: a usage error naming the options.
  expect_rc 2 "$KATAMARI" -b "$W/new" init --encrypt </dev/null
  expect_grep "needs a key: pass --keyfile FILE .*--passphrase-file FILE" "$W/err" "init no key"
  [ -e "$W/new" ] && fail "init --encrypt without a key made a bucket"
  true
}

t_enc_key_file_checks() {
  ok k init --encrypt --keyfile "$W/key" || return
  chmod 644 "$W/key"
  expect_rc 1 ke ls
  expect_grep "key file $W/key is readable by group or others \(mode 0644\); run .chmod 600 $W/key" \
    "$W/err" "too open key file"
  chmod 640 "$W/key"
  expect_rc 1 ke ls && expect_grep "chmod 600" "$W/err" "group-readable key file"
  chmod 600 "$W/key"
  ok ke ls
  secret_file "$W/pw" "open passphrase"
  chmod 604 "$W/pw"
  expect_rc 1 "$KATAMARI" -b "$W/b2" --scrypt-n 1024 --passphrase-file "$W/pw" init --encrypt
  expect_grep "passphrase file $W/pw is readable .* run .chmod 600 $W/pw" "$W/err" \
    "too open passphrase file at init"
  [ -e "$W/b2/catalog.db" ] && fail "init with a too-open passphrase file made a bucket"
  { cat "$W/key"; echo; } >"$W/key33" && chmod 600 "$W/key33"
  expect_rc 1 k --keyfile "$W/key33" ls
  expect_grep "holds 33 bytes; a key file holds exactly 32 random bytes" "$W/err" "wrong size"
}

t_enc_no_plaintext() {
  # Distinctive lines, stored uncompressed so that only encryption hides them.
  python3 - "$W/secret.txt" <<'EOF'
import sys
lines = [f"ACCOUNT {i:04d} IBAN DE89 3704 0044 0532 0130 {i:02d} balance {i * 1117} EUR zebra-quartz"
         for i in range(4000)]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
  printf 'PIN of the bank vault: 8241-quokka-7730\n' >"$W/small.txt"
  local init=(init --compression none --chunk-min 4K --chunk-avg 16K --chunk-max 64K)
  # Control: a plain bucket of the same data shows all of it, so the scan can fail.
  ok "$KATAMARI" -b "$W/plain" "${init[@]}" || return
  ok "$KATAMARI" -b "$W/plain" put bank/statement.txt "$W/secret.txt"
  ok "$KATAMARI" -b "$W/plain" put small.txt "$W/small.txt" --meta note=vault-meta-quokka
  ok k --keyfile "$W/key" "${init[@]}" --encrypt || return
  ok ke put bank/statement.txt "$W/secret.txt"
  ok ke put small.txt "$W/small.txt" --meta note=vault-meta-quokka
  # Plain chunk ids are the chunks' SHA-256s: collect them, and the files' SHA-256s.
  { sha_of "$W/secret.txt"; sha_of "$W/small.txt"
    chunk_ids "$W/plain"; } | sort -u >"$W/hashes"
  [ "$(wc -l <"$W/hashes")" -ge 5 ] || fail "too few hashes to look for"
  sed -n '1p;777p;4000p' "$W/secret.txt" >"$W/needles"
  printf 'PIN of the bank vault: 8241-quokka-7730\nvault-meta-quokka\n' >>"$W/needles"
  # For each needle and each hash (as lower/upper hex or raw 32 bytes): is it
  # in any file's bytes or name? "plain-missing X": the control bucket lacks X
  # in every form; "FOUND X": the encrypted bucket has X in some form.
  python3 - "$W/plain" "$B" "$W/needles" "$W/hashes" >"$W/scan" <<'EOF'
import os, sys
plain, enc, needles_path, hashes_path = sys.argv[1:]
items = {l: [l.encode()] for l in open(needles_path).read().splitlines()}
for h in open(hashes_path).read().split():
    items[h] = [h.encode(), h.upper().encode(), bytes.fromhex(h)]
def blobs(root):
    for d, _, files in os.walk(root):
        for f in files:
            yield f.encode()
            yield open(os.path.join(d, f), "rb").read()
def found(root):
    data = list(blobs(root))
    return {k for k, forms in items.items() if any(p in b for p in forms for b in data)}
p, e = found(plain), found(enc)
for k in sorted(set(items) - p):
    print(f"plain-missing {k}")
for k in sorted(e):
    print(f"FOUND {k}")
print(f"checked {len(items)}")
EOF
  # Every line and every hash is in the plain bucket (so the scan works) ...
  expect_no_grep "^plain-missing" "$W/scan" "control: the plain bucket shows everything"
  expect_grep "^checked ([7-9]|[1-9][0-9]+)$" "$W/scan" "enough needles and hashes"
  # ... and none of them is in the encrypted one, in its bytes or file names.
  expect_no_grep "^FOUND" "$W/scan" "plaintext or plain SHA-256 in the encrypted bucket"
  grep -r -a -F -f "$W/needles" "$B" >/dev/null && fail "grep -r -a finds plaintext in the bucket"
  grep -r -a -i -F -f "$W/hashes" "$B" >/dev/null && fail "grep -r -a finds a plain sha256 hex"
  if command -v strings >/dev/null; then
    find "$B" -type f -exec strings -a {} + >"$W/strings"
    grep -F -f "$W/needles" "$W/strings" >/dev/null && fail "strings finds plaintext"
    grep -i -F -f "$W/hashes" "$W/strings" >/dev/null && fail "strings finds a plain sha256"
    find "$W/plain" -type f -exec strings -a {} + >"$W/plain.strings"
    grep -q -F -f "$W/needles" "$W/plain.strings" ||
      fail "control: strings finds nothing in the plain bucket"
  else
    skip "no strings(1) (binutils)"
  fi
  # The key holder still sees the plain values.
  ok ke get bank/statement.txt && expect_same_file "$W/out" "$W/secret.txt" "round trip"
  ok ke ls --json
  expect_eq "$(pyjson "$W/out" '[(f["key"], f["sha256"], f["metadata"]) for f in d]')" \
    "[('bank/statement.txt', '$(sha_of "$W/secret.txt")', {}), ('small.txt', '$(sha_of "$W/small.txt")', {'note': 'vault-meta-quokka'})]" \
    "ls shows plain sha256s and metadata to the key holder"
}

t_enc_key_slots() {
  secret_file "$W/pw1" "first passphrase"
  secret_file "$W/pw2" "second passphrase"
  secret_file "$W/pw3" "third passphrase"
  local sk=(--scrypt-n 1024)
  ok k "${sk[@]}" init --encrypt --passphrase-file "$W/pw1" || return
  text_file "$W/f" 150000 9
  ok kp "$W/pw1" put f "$W/f"
  ok kp "$W/pw1" "${sk[@]}" key add --new-passphrase-file "$W/pw2" --label recovery
  expect_grep "^added key slot 2: passphrase file $W/pw2 now opens bucket .*label 'recovery'" \
    "$W/out" "key add message"
  ok kp "$W/pw2" get f && expect_same_file "$W/out" "$W/f" "the added passphrase opens it"
  ok kp "$W/pw2" key list
  expect_grep "^ +1 +passphrase .* N=1024,r=8,p=1 +- +-$" "$W/out" "key list slot 1"
  expect_grep "^ +2 +passphrase .* N=1024,r=8,p=1 +yes +recovery$" "$W/out" "key list slot 2"
  # change: the slot that opened the bucket (1, by pw1) now opens with pw3.
  ok kp "$W/pw1" "${sk[@]}" key change --new-passphrase-file "$W/pw3"
  expect_grep "^changed key slot 1: it now opens with passphrase file $W/pw3" "$W/out" "change"
  run kp "$W/pw1" ls
  wrong_key_refused "the old passphrase after key change"
  ok kp "$W/pw3" get f && expect_same_file "$W/out" "$W/f" "the new passphrase opens it"
  ok kp "$W/pw2" get f && expect_same_file "$W/out" "$W/f" "other slots unaffected by change"
  # remove: slot 2 (pw2) stops working; data stays readable.
  ok kp "$W/pw3" key remove 2 && expect_grep "^removed key slot 2" "$W/out" "remove message"
  run kp "$W/pw2" ls
  wrong_key_refused "a removed passphrase"
  ok kp "$W/pw3" get f && expect_same_file "$W/out" "$W/f" "data readable after remove"
  expect_rc 1 kp "$W/pw3" key remove 2
  expect_grep "no key slot 2" "$W/err" "removing a missing slot"
  # The last slot is refused, and still works afterwards.
  expect_rc 1 kp "$W/pw3" key remove 1
  expect_grep "last key slot.*katamari key add" "$W/err" "last slot refused"
  ok kp "$W/pw3" ls
  # A key file slot (made by key add), then change the passphrase slot into a key file.
  ok kp "$W/pw3" key add --new-keyfile "$W/key"
  expect_grep "^created key file $W/key" "$W/out" "key add makes a missing key file"
  expect_eq "$(stat -c '%a %s' "$W/key")" "600 32" "new key file"
  ok ke get f && expect_same_file "$W/out" "$W/f" "key file slot opens it"
  ok kp "$W/pw3" key change --new-keyfile "$W/key2"
  run kp "$W/pw3" ls
  wrong_key_refused "passphrase after changing its slot to a key file"
  ok k --keyfile "$W/key2" key list --json
  expect_eq "$(pyjson "$W/out" '[(s["slot"], s["kind"], s["in_use"]) for s in d]')" \
    "[(1, 'keyfile', True), (3, 'keyfile', False)]" "slots after the changes (ids never reused)"
  ok k --keyfile "$W/key2" fsck
  # Without a new key and no terminal: a usage error; on a plain bucket: not encrypted.
  expect_rc 2 ke key add </dev/null
  expect_grep "key add needs a key: pass --new-keyfile FILE or --new-passphrase-file FILE" \
    "$W/err" "key add without a key"
  expect_rc 2 ke key add --new-keyfile "$W/x" --new-passphrase-file "$W/pw1"
  ok "$KATAMARI" -b "$W/plain" init
  expect_rc 1 "$KATAMARI" -b "$W/plain" key list
  expect_grep "not encrypted, so it has no key slots" "$W/err" "key list on a plain bucket"
  expect_rc 1 "$KATAMARI" -b "$W/plain" key add --new-keyfile "$W/k4"
  [ -e "$W/k4" ] && fail "key add on a plain bucket made a key file"
  true
}

t_enc_terminal() {
  [ -x "$ON_TERMINAL" ] || { fail "$ON_TERMINAL missing"; return; }
  local t=(python3 "$ON_TERMINAL")
  # init asks twice; a mismatch changes nothing.
  expect_rc 1 "${t[@]}" --answer one-pass --answer other-pass -- "$KATAMARI" -b "$B" init --encrypt
  expect_grep "passphrases differ" "$W/out" "mismatch"
  [ -e "$B/catalog.db" ] && fail "a mismatched passphrase made a bucket"
  ok "${t[@]}" --answer 'tty secret phrase' --answer 'tty secret phrase' -- \
    "$KATAMARI" -b "$B" --scrypt-n 1024 init --encrypt || return
  expect_grep "New passphrase for $B: " "$W/out" "init prompt"
  expect_grep "Repeat it: " "$W/out" "init asks twice"
  expect_grep "key slot 1: a passphrase typed on the terminal" "$W/out" "init message"
  echo "typed data" >"$W/f"
  ok "${t[@]}" --answer 'tty secret phrase' -- "$KATAMARI" -b "$B" put f "$W/f"
  expect_grep "^Passphrase for $B: " "$W/out" "prompt on the terminal"
  expect_no_grep "tty secret phrase" "$W/out" "the passphrase is not echoed"
  expect_grep "^\[terminal echo on\]" "$W/out" "echo back on after the prompt"
  # A typo, then the right one.
  ok "${t[@]}" --answer typo --answer 'tty secret phrase' -- "$KATAMARI" -b "$B" get f
  expect_grep "wrong passphrase, try again" "$W/out" "retry message"
  expect_grep "^typed data" "$W/out" "get after a retry"
  # Three wrong answers: refused as a wrong key.
  expect_rc 1 "${t[@]}" --answer a --answer b --answer c -- "$KATAMARI" -b "$B" ls
  expect_grep "wrong key or passphrase for bucket" "$W/out" "three wrong answers"
  # End of input instead of an answer.
  expect_rc 1 "${t[@]}" -- "$KATAMARI" -b "$B" ls
  expect_grep "no passphrase entered" "$W/out" "Ctrl-D at the prompt"
  expect_no_grep "dmesg|storage device" "$W/out" "Ctrl-D is not a storage problem"
  # Ctrl-C at the prompt (echo is off then) leaves the terminal echoing.
  run "${t[@]}" --answer '^C' -- "$KATAMARI" -b "$B" ls
  [ "$RC" -ne 0 ] || fail "Ctrl-C at the prompt exited 0"
  expect_grep "^\[terminal echo on\]" "$W/out" "echo restored after Ctrl-C"
  expect_no_grep "^KEY " "$W/out" "Ctrl-C at the prompt stops the command"
  # stdin not a terminal: no prompt, even with a terminal around.
  expect_rc 1 "${t[@]}" -- sh -c "'$KATAMARI' -b '$B' ls </dev/null"
  expect_no_grep "Passphrase for" "$W/out" "no prompt when stdin is not a terminal"
  # key change with a typed new passphrase.
  ok "${t[@]}" --answer 'tty secret phrase' --answer 'new phrase' --answer 'new phrase' -- \
    "$KATAMARI" -b "$B" --scrypt-n 1024 key change
  expect_grep "New passphrase for $B: " "$W/out" "key change asks for the new passphrase"
  ok "${t[@]}" --answer 'new phrase' -- "$KATAMARI" -b "$B" get f
  expect_grep "^typed data" "$W/out" "new typed passphrase works"
  expect_rc 1 "${t[@]}" --answer 'tty secret phrase' --answer x --answer y -- \
    "$KATAMARI" -b "$B" ls
}

t_enc_flipped_bit() {
  enc_victim || return
  flip_byte "$(sed -n '2p' "$W/victim.chunks")"
  damaged_victim_checks "flipped bit"
}

t_enc_truncated_chunk() {
  enc_victim || return
  local chunk
  chunk=$(sed -n '2p' "$W/victim.chunks")
  chunk_edit cut "$chunk" 100
  damaged_victim_checks "truncated chunk"
  chunk_edit cut "$chunk" $((${chunk##*:} - 10))
  expect_rc 1 ke fsck && expect_grep "^damaged: victim@1$" "$W/out" "chunk cut to its header"
}

t_enc_swapped_chunks() {
  enc_victim || return
  # Two chunks of the victim trade places: each is a valid sealed chunk, just
  # not the one its name (the AAD) says.
  local a b
  a=$(sed -n '1p' "$W/victim.chunks")
  b=$(sed -n '2p' "$W/victim.chunks")
  chunk_edit swap "$a" "$b"
  damaged_victim_checks "swapped chunks"
  # fsck moved both to chunks/damaged/; the same bytes put again store them anew.
  ok ke put victim.again "$W/victim" || return
  ok ke fsck || return
  # A chunk of another file copied over one of the victim's.
  chunk_edit copy-over "$(head -1 "$W/healthy.chunks")" "$(sed -n '3p' "$W/victim.chunks")"
  damaged_victim_checks "chunk copied from another file"
}

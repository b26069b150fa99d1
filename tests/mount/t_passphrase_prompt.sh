#!/usr/bin/env bash
# katamarifs on an encrypted bucket without keyfile=/passphrase_file=: on a
# terminal it asks for the passphrase (no echo, three tries) before it
# daemonizes; without a terminal, or under systemd, it never asks and says
# which options to pass.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
if [ "${KATAMARI_TEST_ENCRYPT:-0}" = 1 ]; then
  log "SKIP: this test makes its own encrypted bucket; it runs in the plain suite"
  exit 77
fi
ON_TERMINAL="$(dirname "$0")/../cli/on_terminal.py"
PW="typed-secret-$RANDOM"
printf '%s\n' "$PW" >"$WORK/pw"
chmod 600 "$WORK/pw"
"$KATAMARI" -b "$BUCKET" --scrypt-n 1024 --passphrase-file "$WORK/pw" init --encrypt >/dev/null
echo hello | "$KATAMARI" -b "$BUCKET" --passphrase-file "$WORK/pw" put greeting - >/dev/null

# Wait for the daemon named in daemon.lock to exit after an unmount.
wait_daemon_gone() {
  local pid
  pid=$(tr -dc 0-9 <"$BUCKET/daemon.lock")
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  fail "daemon $pid still running after unmount"
}

# A wrong answer, then the right one: mounted, serving, the secret never echoed.
rc=0
python3 "$ON_TERMINAL" --answer wrong --answer "$PW" -- "$KATAMARIFS" "$BUCKET" "$MNT" \
  >"$WORK/term.out" || rc=$?
expect_eq "daemon start from a terminal exit code ($(cat "$WORK/term.out"))" "$rc" 0
grep -q "Passphrase for $BUCKET: " "$WORK/term.out" || fail "no prompt: $(cat "$WORK/term.out")"
grep -q "wrong passphrase, try again" "$WORK/term.out" || fail "no retry: $(cat "$WORK/term.out")"
tr -d '\r' <"$WORK/term.out" | grep -q "$PW\|^wrong$" && fail "the passphrase was echoed: $(cat "$WORK/term.out")"
grep -q "\[terminal echo on\]" "$WORK/term.out" || fail "echo left off"
grep -q "katamarifs\[" "$WORK/term.out" && fail "daemon log lines on the terminal: $(cat "$WORK/term.out")"
is_mounted "$MNT" || fail "not mounted after the typed passphrase"
expect_eq "content through the mount" "$(cat "$MNT/greeting")" hello
fusermount3 -u "$MNT" || fail "unmount"
wait_daemon_gone

# Three wrong answers: refused, nothing mounted.
rc=0
python3 "$ON_TERMINAL" --answer a --answer b --answer c -- "$KATAMARIFS" "$BUCKET" "$MNT" \
  >"$WORK/term.out" || rc=$?
expect_eq "three wrong passphrases exit code" "$rc" 1
grep -q "wrong passphrase for $BUCKET (3 tries)" "$WORK/term.out" ||
  fail "three wrong tries: $(cat "$WORK/term.out")"
is_mounted "$MNT" && fail "mounted after three wrong passphrases"

# No terminal: never asks; the error names the options.
rc=0
"$KATAMARIFS" "$BUCKET" "$MNT" </dev/null >"$WORK/out" 2>&1 || rc=$?
expect_eq "no terminal exit code" "$rc" 1
grep -q "mount it with -o keyfile=FILE or -o passphrase_file=FILE" "$WORK/out" ||
  fail "no-terminal message: $(cat "$WORK/out")"
grep -q "Passphrase for" "$WORK/out" && fail "asked without a terminal"

# Under systemd (INVOCATION_ID set by it), not even on a terminal.
rc=0
INVOCATION_ID=0123456789abcdef python3 "$ON_TERMINAL" --answer "$PW" -- \
  "$KATAMARIFS" -f "$BUCKET" "$MNT" >"$WORK/term.out" || rc=$?
expect_eq "under systemd exit code" "$rc" 1
grep -q "Passphrase for" "$WORK/term.out" && fail "asked under systemd: $(cat "$WORK/term.out")"
grep -q "never under systemd" "$WORK/term.out" || fail "systemd message: $(cat "$WORK/term.out")"
is_mounted "$MNT" && fail "mounted under systemd without a key"

# A key option given: no question either (as before).
mount_fs -o passphrase_file="$WORK/pw"
expect_eq "passphrase_file= still works" "$(cat "$MNT/greeting")" hello
unmount_fs
log "ok"

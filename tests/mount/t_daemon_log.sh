#!/usr/bin/env bash
# A daemonized katamarifs (no -f) logs to syslog(3), never to the terminal or
# file that started it; -f keeps the log on stderr. Without a syslog socket the
# start says that the log is lost (the mount still serves).
#
# Where /dev/log is absent (containers, CI), this test listens there itself for
# the duration of the test, and removes it again; where a syslog daemon or the
# journal owns it, only "nothing on stderr" is checked.
source "$(dirname "$0")/lib.sh"
skip_unless_fuse
init_bucket
echo hello >"$WORK/hello"
"$KATAMARI" -b "$BUCKET" put hello "$WORK/hello" >/dev/null

daemon_pid() { tr -dc 0-9 <"$BUCKET/daemon.lock"; }
wait_gone() {  # wait_gone PID
  for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  fail "daemon $1 still running after unmount"
}

# /dev/log is the machine's: another run of this test (the encrypted suite runs
# beside the plain one, and two checkouts may test at once) would see our
# listener come and go. One at a time, for the whole test.
exec 9>/tmp/katamari-test-dev-log.lock
flock 9

OWN_LOG=0
LISTENER_PID=""
if [ ! -e /dev/log ] && [ "$(id -u)" -eq 0 ]; then
  python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
print("listening", flush=True)
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b"\n")
' "$WORK/syslog.txt" >"$WORK/listener.out" &
  LISTENER_PID=$!
  OWN_LOG=1
  EXTRA_CLEANUP='kill "$LISTENER_PID" 2>/dev/null; [ "$OWN_LOG" = 1 ] && rm -f /dev/log'
  for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
  [ -S /dev/log ] || fail "could not listen on /dev/log"
fi

# Daemon mode, stderr a file: not one line reaches it, from start to stop.
"$KATAMARIFS" "${KEY_OPTS[@]}" "$BUCKET" "$MNT" >"$WORK/start.out" 2>"$WORK/start.err" ||
  fail "daemon mode start: $(cat "$WORK/start.err")"
pid=$(daemon_pid)
expect_eq "content" "$(cat "$MNT/hello")" hello
echo more >"$MNT/new"  # a commit while the daemon runs
fusermount3 -u "$MNT" || fail "unmount"
wait_gone "$pid"
[ -s "$WORK/start.err" ] && fail "the daemon wrote to the stderr that started it: $(cat "$WORK/start.err")"
[ -s "$WORK/start.out" ] && fail "the daemon wrote to the stdout that started it: $(cat "$WORK/start.out")"
if [ "$OWN_LOG" = 1 ]; then
  # Its lines went to syslog instead, tagged with its name and pid.
  for _ in $(seq 100); do grep -q "katamarifs\[$pid\]: stopped" "$WORK/syslog.txt" && break; sleep 0.05; done
  grep -q "katamarifs\[$pid\]: mounted $BUCKET at $MNT" "$WORK/syslog.txt" ||
    fail "no 'mounted' line in syslog: $(cat "$WORK/syslog.txt")"
  grep -q "katamarifs\[$pid\]: stopped" "$WORK/syslog.txt" ||
    fail "no 'stopped' line in syslog: $(cat "$WORK/syslog.txt")"

  # Without a syslog socket: the start says the log is lost, and nothing else.
  kill "$LISTENER_PID"
  wait "$LISTENER_PID" 2>/dev/null || true
  rm -f /dev/log
  OWN_LOG=0
  "$KATAMARIFS" "${KEY_OPTS[@]}" "$BUCKET" "$MNT" 2>"$WORK/start.err" ||
    fail "daemon mode start without syslog: $(cat "$WORK/start.err")"
  pid=$(daemon_pid)
  grep -q "^katamarifs: warning: nothing listens on /dev/log (no syslog or journal): the daemon's log lines, errors included, are lost; mount with -f to keep them on stderr$" \
    "$WORK/start.err" || fail "no warning without syslog: $(cat "$WORK/start.err")"
  expect_eq "content without syslog" "$(cat "$MNT/new")" more
  fusermount3 -u "$MNT" || fail "unmount"
  wait_gone "$pid"
  expect_eq "lines on stderr without syslog" "$(wc -l <"$WORK/start.err")" 1
else
  log "note: /dev/log belongs to the system; its contents are not checked"
fi

# -f: the log stays on stderr.
mount_fs
unmount_fs
grep -q "katamarifs\[[0-9]*\]: mounted $BUCKET at $MNT" "$LOG" || fail "-f: no log on stderr"
grep -q "katamarifs\[[0-9]*\]: stopped" "$LOG" || fail "-f: no 'stopped' on stderr"
log "ok"

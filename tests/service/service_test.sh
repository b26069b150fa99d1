#!/usr/bin/env bash
# Service tests (issue 6): what `meson install` puts in place, systemd-analyze verify on
# every unit, katamari-service's config checks, mount.katamari's option filtering, the
# sd_notify readiness protocol with a real mount, and mount(8) through the helper.
#
#   service_test.sh KATAMARIFS KATAMARI BUILD_DIR
#
# Needs root and /dev/fuse (else exit 77 = skipped). Installs into a temporary DESTDIR;
# mount(8) only looks for helpers in /sbin, so /sbin/mount.katamari is put there for the
# mount(8) cases and removed (or the one found there restored) on exit. Every mount made
# here is unmounted on exit, also on failure.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 KATAMARIFS KATAMARI BUILD_DIR" >&2
  exit 2
fi
KATAMARIFS_BIN=$(realpath "$1")
KATAMARI_BIN=$(realpath "$2")
BUILD_DIR=$(realpath "$3")
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -ne 0 ]; then echo "SKIP: service tests need root"; exit 77; fi
if [ ! -c /dev/fuse ]; then echo "SKIP: no /dev/fuse"; exit 77; fi
for tool in systemd-analyze python3 findmnt mount umount meson setpriv flock; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/deps.sh installs it)"; exit 1; }
done

TMP=$(mktemp -d /tmp/katamari-service-test.XXXXXX)
HELPER=/sbin/mount.katamari
HELPER_BACKUP=""
HELPER_INSTALLED=0
LISTENER_PID=""
SERVICE_PID=""
FAILURES=0

# Pids of processes whose command line has MOUNTPOINT as one argument: the daemons we
# started for it (also those mount(8) started through the helper).
daemon_pids() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" != $$ ] || continue
    { tr '\0' '\n' <"$dir/cmdline"; } 2>/dev/null | grep -qxF -- "$1" && echo "$pid"
  done
  return 0
}

is_mounted() { findmnt -n --mountpoint "$1" >/dev/null 2>&1; }

# Waits up to 20 s for every daemon serving MOUNTPOINT to exit (after an unmount).
wait_daemons_gone() {
  local i
  for i in $(seq 200); do
    [ -z "$(daemon_pids "$1")" ] && return 0
    sleep 0.1
  done
  return 1
}

cleanup() {
  local mnt pid
  set +e  # clean up as much as possible, whatever fails
  exec 9>&-
  for pid in $SERVICE_PID $LISTENER_PID; do kill "$pid" 2>/dev/null || true; done
  # Daemons first (SIGTERM commits and unmounts), then whatever is still mounted under
  # $TMP -- dead mounts too, which `[ -d ]` would not even see.
  for mnt in "$TMP/mnt" "$TMP/mnt2"; do
    for pid in $(daemon_pids "$mnt"); do kill -TERM "$pid" 2>/dev/null || true; done
    wait_daemons_gone "$mnt" || for pid in $(daemon_pids "$mnt"); do kill -KILL "$pid"; done
  done
  findmnt -rn -o TARGET | grep -F "$TMP/" | sort -r | while read -r mnt; do
    umount -l "$mnt" || echo "cleanup: cannot unmount $mnt" >&2
  done
  if [ "$HELPER_INSTALLED" = 1 ]; then
    rm -f "$HELPER"
    [ -z "$HELPER_BACKUP" ] || mv "$HELPER_BACKUP" "$HELPER"
  fi
  if findmnt -rn -o TARGET | grep -qF "$TMP/"; then
    echo "cleanup: mounts remain under $TMP; not deleting it" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # meson's timeout sends SIGTERM: clean up then too

fail() { echo "FAIL: $*"; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*"; }

# expect_fail CODE SUBSTRING CMD...: CMD must exit with CODE and say SUBSTRING on stderr.
expect_fail() {
  local want="$1" text="$2" rc=0
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$* exited $rc, expected $want; stderr: $(cat "$TMP/err")"
  elif ! grep -qF -- "$text" "$TMP/err"; then
    fail "$* did not say '$text'; stderr: $(cat "$TMP/err")"
  else
    pass "$* -> $rc: $(head -n 1 "$TMP/err")"
  fi
}

# --- meson install into a DESTDIR -------------------------------------------------
DEST="$TMP/dest"
meson install -C "$BUILD_DIR" --no-rebuild --destdir "$DEST" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log"; fail "meson install --destdir failed"; exit 1; }
PREFIX=$(meson introspect "$BUILD_DIR" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
UNIT_DIR=$(dirname "$(find "$DEST" -name 'katamari@.service' | head -n 1)")
SERVICE_SCRIPT=$(find "$DEST" -name katamari-service -type f | head -n 1)
for f in "$DEST/sbin/mount.katamari" "$SERVICE_SCRIPT" "$DEST$PREFIX/bin/katamari" \
         "$DEST$PREFIX/bin/katamarifs"; do
  [ -n "$f" ] && [ -x "$f" ] || fail "not installed or not executable: ${f:-katamari-service}"
done
for f in "$UNIT_DIR/katamari@.service" "$UNIT_DIR/katamari-gc@.service" \
         "$UNIT_DIR/katamari-gc@.timer" "$DEST$PREFIX/share/man/man1/katamari.1" \
         "$DEST$PREFIX/share/man/man8/katamarifs.8" "$DEST$PREFIX/share/man/man8/mount.katamari.8"; do
  [ -f "$f" ] || fail "not installed: $f"
done
case "$UNIT_DIR" in
  "$DEST"/lib/systemd/system | "$DEST"/usr/lib/systemd/system) pass "units in ${UNIT_DIR#"$DEST"}" ;;
  *) fail "units installed in ${UNIT_DIR#"$DEST"}, not a systemd unit directory" ;;
esac
grep -qxF "ExecStart=$PREFIX/libexec/katamari-service start /etc/katamari/%i.conf" \
  "$UNIT_DIR/katamari@.service" || fail "katamari@.service does not run the installed katamari-service"
grep -qF "$PREFIX/bin/katamarifs" "$DEST/sbin/mount.katamari" ||
  fail "mount.katamari does not name the installed katamarifs"
pass "meson install: binaries, /sbin/mount.katamari, units, man pages"

# --- systemd-analyze verify ---------------------------------------------------------
# The units name installed paths; verify copies whose Exec lines point into DESTDIR,
# with the installed man pages on MANPATH so Documentation= resolves too.
UNITS="$TMP/units"
mkdir -p "$UNITS"
for f in "$UNIT_DIR"/katamari*; do
  sed -E "s#^(Exec[A-Za-z]+=-?)/#\\1$DEST/#" "$f" >"$UNITS/$(basename "$f")"
done
# Without man(1) (minimal images lack man-db), Documentation= cannot be checked.
man_check=--man=yes
command -v man >/dev/null || { man_check=--man=no; echo "note: no man(1), Documentation= not checked"; }
verify() {  # verify UNIT...: run in $UNITS so instances find their templates
  (cd "$UNITS" && MANPATH="$DEST$PREFIX/share/man" SYSTEMD_LOG_LEVEL=notice \
    systemd-analyze verify "$man_check" "$@") >"$TMP/verify.log" 2>&1
}
if verify katamari@photos.service katamari-gc@photos.service katamari-gc@photos.timer &&
   [ ! -s "$TMP/verify.log" ]; then
  pass "systemd-analyze verify: katamari@.service, katamari-gc@.service, katamari-gc@.timer"
else
  fail "systemd-analyze verify: $(cat "$TMP/verify.log")"
fi
# The check itself must be able to fail: a misspelt key is reported.
sed 's/^Type=notify/Tpye=notify/' "$UNITS/katamari@.service" >"$UNITS/broken@.service"
verify broken@x.service || true
grep -q "Tpye" "$TMP/verify.log" && pass "systemd-analyze verify reports a broken unit" ||
  fail "systemd-analyze verify did not notice a misspelt key"
rm -f "$UNITS/broken@.service"

# A FUSE mount made inside a private mount namespace is invisible to the rest of the
# system, so katamari@.service must not use any setting that creates one.
ns_settings='PrivateTmp|PrivateDevices|PrivateMounts|PrivateUsers|PrivateNetwork|PrivateIPC'
ns_settings+='|ProtectSystem|ProtectHome|ProtectKernelTunables|ProtectKernelModules'
ns_settings+='|ProtectKernelLogs|ProtectControlGroups|ProtectProc|ProcSubset|ProtectHostname'
ns_settings+='|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ExecPaths|NoExecPaths'
ns_settings+='|TemporaryFileSystem|BindPaths|BindReadOnlyPaths|MountFlags|RootDirectory|RootImage'
ns_settings+='|DynamicUser|NetworkNamespacePath|IPCNamespacePath'
if grep -nE "^($ns_settings)=" "$UNIT_DIR/katamari@.service" >"$TMP/ns.log"; then
  fail "katamari@.service would get a private mount namespace: $(cat "$TMP/ns.log")"
else
  pass "katamari@.service has no setting that hides its mount in a private namespace"
fi

# --- katamari-service: config file checks -----------------------------------------
svc() { KATAMARIFS="$KATAMARIFS_BIN" KATAMARI="$KATAMARI_BIN" "$SERVICE_SCRIPT" "$@"; }
BUCKET="$TMP/bucket"
MNT="$TMP/mnt"
mkdir -p "$MNT" "$TMP/notbucket"
"$KATAMARI_BIN" -b "$BUCKET" init >/dev/null
conf() {  # conf NAME LINE...: writes $TMP/NAME.conf
  local name="$1"
  shift
  printf '%s\n' "$@" >"$TMP/$name.conf"
}
conf good "# photos" "" "BUCKET = \"$BUCKET\"" "  MOUNTPOINT=$MNT  " "OPTIONS=ro"
rc=0
svc check "$TMP/good.conf" >"$TMP/out" 2>&1 || rc=$?
grep -qF -- "$KATAMARIFS_BIN -f -o ro $BUCKET $MNT" "$TMP/out" && [ $rc = 0 ] &&
  pass "check good.conf: $(cat "$TMP/out")" || fail "check good.conf ($rc): $(cat "$TMP/out")"
expect_fail 78 "no such file" svc start "$TMP/missing.conf"
conf unknown "BUCKET=$BUCKET" "MOUNTPOINT=$MNT" "COMPRESSION=zstd"
expect_fail 78 "unknown.conf:3: unknown key 'COMPRESSION'" svc start "$TMP/unknown.conf"
conf garbage "BUCKET=$BUCKET" "mount it please"
expect_fail 78 "garbage.conf:2: expected KEY=VALUE" svc start "$TMP/garbage.conf"
conf nomnt "BUCKET=$BUCKET"
expect_fail 78 "MOUNTPOINT is not set" svc start "$TMP/nomnt.conf"
conf relative "BUCKET=bucket" "MOUNTPOINT=$MNT"
expect_fail 78 "not an absolute path" svc start "$TMP/relative.conf"
conf twice "BUCKET=$BUCKET" "BUCKET=$BUCKET" "MOUNTPOINT=$MNT"
expect_fail 78 "BUCKET is set twice" svc start "$TMP/twice.conf"
conf blanks "BUCKET=$BUCKET" "MOUNTPOINT=$MNT" "OPTIONS=ro, allow_other"
expect_fail 78 "contains blanks" svc start "$TMP/blanks.conf"
conf nobucket "BUCKET=$TMP/no-such-bucket" "MOUNTPOINT=$MNT"
expect_fail 66 "create it with 'katamari -b $TMP/no-such-bucket init'" svc start "$TMP/nobucket.conf"
conf notbucket "BUCKET=$TMP/notbucket" "MOUNTPOINT=$MNT"
expect_fail 66 "is not a katamari bucket" svc start "$TMP/notbucket.conf"
conf nomntdir "BUCKET=$BUCKET" "MOUNTPOINT=$TMP/no-such-dir"
expect_fail 66 "mkdir -p $TMP/no-such-dir" svc start "$TMP/nomntdir.conf"
expect_fail 66 "does not exist" svc gc "$TMP/nobucket.conf"
# OPTIONS= is checked by katamarifs's own parser (katamarifs --check-options): a misspelt
# option or a bad value is a config error (78, no restart), for check and start alike.
conf badopt "BUCKET=$BUCKET" "MOUNTPOINT=$MNT" "OPTIONS=allow_other,compresion=zstd"
expect_fail 78 "mount option 'compresion=zstd'" svc check "$TMP/badopt.conf"
expect_fail 78 "OPTIONS=allow_other,compresion=zstd" svc start "$TMP/badopt.conf"
conf badlevel "BUCKET=$BUCKET" "MOUNTPOINT=$MNT" "OPTIONS=compression=zstd,level=ninety"
expect_fail 78 "level" svc check "$TMP/badlevel.conf"
conf okopts "BUCKET=$BUCKET" "MOUNTPOINT=$MNT" "OPTIONS=allow_other,compression=zlib,level=9,noatime"
rc=0
svc check "$TMP/okopts.conf" >"$TMP/out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "check accepts options katamarifs accepts" ||
  fail "check okopts.conf ($rc): $(cat "$TMP/out")"
# katamarifs --check-options itself: 0 and 2, as a mount would refuse.
rc=0; "$KATAMARIFS_BIN" --check-options -o ro,compression=none >"$TMP/out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "katamarifs --check-options accepts good options" ||
  fail "katamarifs --check-options -o ro,compression=none: $rc $(cat "$TMP/out")"
expect_fail 2 "compresion" "$KATAMARIFS_BIN" --check-options -o compresion=zstd
# The unit does not restart on a usage error (2) nor on the wrapper's 66 and 78.
grep -qx 'RestartPreventExitStatus=2 66 78' "$UNIT_DIR/katamari@.service" &&
  pass "katamari@.service does not restart on exit 2, 66 or 78" ||
  fail "katamari@.service: $(grep RestartPrevent "$UNIT_DIR/katamari@.service")"
expect_fail 64 "usage" svc start
expect_fail 64 "unknown command 'stop'" svc stop "$TMP/good.conf"
# unit_setpriv_args UNIT_FILE: sets setpriv_args to the unit's CapabilityBoundingSet=
# and NoNewPrivileges=, so a command runs with the privileges systemd would give it.
unit_setpriv_args() {
  local bset="-all" cap
  for cap in $(sed -n 's/^CapabilityBoundingSet=//p' "$1"); do
    cap=${cap#CAP_}
    bset+=",+${cap,,}"
  done
  setpriv_args=(--bounding-set "$bset" --inh-caps=-all)
  if grep -qx 'NoNewPrivileges=yes' "$1"; then setpriv_args+=(--no-new-privs); fi
}
conf gc "BUCKET=$BUCKET" "MOUNTPOINT=$MNT"
unit_setpriv_args "$UNIT_DIR/katamari-gc@.service"
KATAMARI="$KATAMARI_BIN" setpriv "${setpriv_args[@]}" -- "$SERVICE_SCRIPT" gc "$TMP/gc.conf" \
  >"$TMP/out" 2>&1 && pass "gc under katamari-gc@.service's privileges: $(head -n 1 "$TMP/out")" ||
  fail "katamari-service gc: $(cat "$TMP/out")"

# --- mount.katamari option filtering (fake mode) -----------------------------------
helper() { KATAMARIFS="$KATAMARIFS_BIN" "$DEST/sbin/mount.katamari" "$@"; }
expect_cmd() {  # expect_cmd WANTED_OPTS ARGS...: what the helper would run, with -f -v
  local want="$1" out
  shift
  out=$(helper "$@" -f -v 2>&1) || { fail "mount.katamari $* failed: $out"; return; }
  if [ "$out" = "mount.katamari: $KATAMARIFS_BIN ${want:+-o $want }$BUCKET $MNT" ]; then
    pass "mount.katamari $* -> ${want:-no options}"
  else
    fail "mount.katamari $*: got '$out', wanted options '$want'"
  fi
}
expect_cmd "" "$BUCKET" "$MNT" -o defaults
expect_cmd "" "$BUCKET" "$MNT" -o rw,defaults,auto,noauto,_netdev,nofail,user,users,nouser,owner,group
expect_cmd "compression=zstd,allow_other" "$BUCKET" "$MNT" \
  -o defaults,_netdev,x-systemd.automount,x-systemd.requires=a.service,X-mount.mkdir,comment=x,compression=zstd,allow_other
expect_cmd "ro,level=5" "$BUCKET" "$MNT" -o level=5,ro
expect_cmd "ro" "$BUCKET" "$MNT" -r
expect_cmd "" "$BUCKET" "$MNT" -o ro,rw
expect_cmd "ro,nosuid,nodev,noexec" -t katamari "$BUCKET" "$MNT" -s -n -o ro -onosuid,nodev,noexec
cd "$TMP"
expect_cmd "" bucket mnt
cd - >/dev/null
expect_fail 1 "usage" helper "$BUCKET"
expect_fail 1 "unknown flag" helper "$BUCKET" "$MNT" -q
is_mounted "$MNT" && fail "fake mode mounted something"

# --- readiness: READY=1 only once the mount serves; STOPPING=1 and data on SIGTERM ---
SOCK="$TMP/notify.sock"
EVENTS="$TMP/events"
: >"$EVENTS"
python3 "$HERE/notify_listen.py" "$SOCK" "$MNT" "$EVENTS" 30 &
LISTENER_PID=$!
for i in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
conf service "BUCKET=$BUCKET" "MOUNTPOINT=$MNT"
# What katamari@.service runs, with $NOTIFY_SOCKET as systemd sets it, and the unit's
# NoNewPrivileges=, CapabilityBoundingSet= and UMask= applied as systemd would (setpriv).
# The wrapper execs katamarifs, so the notifications must come from this very pid
# (NotifyAccess=main).
unit_setpriv_args "$UNIT_DIR/katamari@.service"
umask_value=$(sed -n 's/^UMask=//p' "$UNIT_DIR/katamari@.service")
(
  umask "${umask_value:-0022}"
  export NOTIFY_SOCKET="$SOCK" KATAMARIFS="$KATAMARIFS_BIN"
  exec setpriv "${setpriv_args[@]}" -- "$SERVICE_SCRIPT" start "$TMP/service.conf"
) 2>"$TMP/service.err" &
SERVICE_PID=$!
echo "started katamari-service as pid $SERVICE_PID under setpriv ${setpriv_args[*]}"
for i in $(seq 200); do
  grep -q '^READY' "$EVENTS" && break
  kill -0 "$SERVICE_PID" 2>/dev/null || break
  sleep 0.1
done
# Exactly one READY=1, and the first one already found the mount serving.
if [ "$(grep '^READY' "$EVENTS" | head -n 1)" = "READY pid=$SERVICE_PID mounted=1 probe=1" ] &&
   [ "$(grep -c '^READY' "$EVENTS")" = 1 ]; then
  pass "READY=1 from the main pid, and at that moment $MNT was a FUSE mount that served a write"
else
  fail "readiness: events '$(cat "$EVENTS")', daemon stderr '$(cat "$TMP/service.err")'"
fi
if is_mounted "$MNT"; then
  (echo "closed before stop" >"$MNT/closed.txt") || fail "write closed.txt"
  if exec 9>"$MNT/open.txt"; then
    echo "still open at stop" >&9 || fail "write open.txt"
  else
    fail "open open.txt"
  fi
  main_pid=$SERVICE_PID
  kill -TERM "$SERVICE_PID"
  rc=0
  wait "$SERVICE_PID" || rc=$?
  SERVICE_PID=""
  exec 9>&-
  [ "$rc" = 0 ] && pass "SIGTERM: katamarifs exited 0" || fail "SIGTERM: katamarifs exited $rc: $(cat "$TMP/service.err")"
  wait "$LISTENER_PID" || fail "listener: no STOPPING=1 (events: $(cat "$EVENTS"))"
  LISTENER_PID=""
  grep -qx "STOPPING pid=$main_pid" "$EVENTS" && pass "STOPPING=1 from the main pid on SIGTERM" ||
    fail "no STOPPING=1 from pid $main_pid: $(cat "$EVENTS")"
  is_mounted "$MNT" && fail "$MNT still mounted after SIGTERM" || pass "unmounted on SIGTERM"
  for key in closed.txt open.txt ready-probe.txt; do
    got=$("$KATAMARI_BIN" -b "$BUCKET" get "$key" 2>&1) || got="(get failed: $got)"
    case "$key" in
      closed.txt) want="closed before stop" ;;
      open.txt) want="still open at stop" ;;
      *) want="ready" ;;
    esac
    [ "$got" = "$want" ] && pass "committed by the stop: $key" || fail "$key after stop: '$got'"
  done
fi
if [ -n "$LISTENER_PID" ]; then kill "$LISTENER_PID" 2>/dev/null || true; LISTENER_PID=""; fi
# A stale dead mount is what `cleanup` is for; with none it is a no-op.
svc cleanup "$TMP/service.conf" && pass "cleanup without a dead mount" || fail "cleanup failed"

# --- crashes: a dead mount is detached by ExecStopPost (cleanup) and by the next start --
wait_mounted() {  # wait_mounted MOUNTPOINT: up to 20 s
  local i
  for i in $(seq 200); do is_mounted "$1" && return 0; sleep 0.1; done
  return 1
}
# start_service CONF: what katamari@.service's ExecStart runs, in the background.
start_service() {
  # exec all the way down, so $! is katamarifs's pid, as MAINPID would be.
  (
    export KATAMARIFS="$KATAMARIFS_BIN"
    exec "$SERVICE_SCRIPT" start "$1"
  ) 2>>"$TMP/service.err" &
  SERVICE_PID=$!
}
crash_service() {  # SIGKILL: no commit, no unmount -- the kernel keeps a dead mount
  kill -KILL "$SERVICE_PID"
  wait "$SERVICE_PID" 2>/dev/null || true
  SERVICE_PID=""
}
start_service "$TMP/service.conf"
if wait_mounted "$MNT"; then
  # A second daemon on the same bucket is refused, naming the holder.
  mkdir -p "$TMP/mnt2"
  conf second "BUCKET=$BUCKET" "MOUNTPOINT=$TMP/mnt2"
  expect_fail 1 "already mounted by pid $SERVICE_PID" svc start "$TMP/second.conf"
  # And a second start on a live mountpoint is refused before katamarifs runs.
  conf other "BUCKET=$TMP/other-bucket" "MOUNTPOINT=$MNT"
  "$KATAMARI_BIN" -b "$TMP/other-bucket" init >/dev/null
  expect_fail 1 "$MNT is already mounted ($BUCKET, type fuse.katamari)" svc start "$TMP/other.conf"
  crash_service
  if ! stat --cached=never "$MNT/." >/dev/null 2>&1 && is_mounted "$MNT"; then
    svc cleanup "$TMP/service.conf" 2>"$TMP/err" || fail "cleanup: $(cat "$TMP/err")"
    is_mounted "$MNT" && fail "cleanup left the dead mount at $MNT" ||
      pass "cleanup detached the dead mount left by a crash"
  else
    fail "after SIGKILL, expected a dead mount at $MNT"
  fi
  # Restart= after a crash: start itself also detaches a dead mount, then mounts.
  start_service "$TMP/service.conf"
  wait_mounted "$MNT" || fail "no mount after restart"
  crash_service
  start_service "$TMP/service.conf"
  for i in $(seq 200); do
    stat --cached=never "$MNT/." >/dev/null 2>&1 &&
      [ "$(findmnt -n --mountpoint "$MNT" | wc -l)" = 1 ] && break
    sleep 0.1
  done
  if grep -q "holds a dead FUSE mount" "$TMP/service.err" && echo again >"$MNT/again.txt"; then
    pass "start after a crash detached the dead mount and mounted again"
  else
    fail "start after a crash: $(cat "$TMP/service.err")"
  fi
  kill -TERM "$SERVICE_PID"
  wait "$SERVICE_PID" || fail "katamarifs exited $? on SIGTERM after the restart"
  SERVICE_PID=""
  got=$("$KATAMARI_BIN" -b "$BUCKET" get again.txt 2>&1) || true
  [ "$got" = again ] && pass "bucket fine after two crashes" || fail "again.txt: '$got'"
else
  fail "katamari-service start did not mount: $(cat "$TMP/service.err")"
fi

# --- mount(8) through /sbin/mount.katamari -------------------------------------------
# /sbin/mount.katamari is one per machine: a second run of this suite at the same time
# would swap or remove it under our mounts. Take turns; fd 8 stays open (the lock held)
# until this shell exits, after cleanup has put back what it found.
LOCK_DIR=/run/lock
[ -d "$LOCK_DIR" ] || LOCK_DIR=/tmp
exec 8>"$LOCK_DIR/katamari-service-test.lock"
if ! flock -w 900 8; then
  echo "FAIL: another service test has held $HELPER for 15 minutes"; exit 1
fi
if [ -e "$HELPER" ]; then
  HELPER_BACKUP="$TMP/mount.katamari.orig"
  cp -a "$HELPER" "$HELPER_BACKUP"
fi
HELPER_INSTALLED=1
sed "s#$PREFIX/bin/katamarifs#$KATAMARIFS_BIN#g" "$DEST/sbin/mount.katamari" >"$HELPER.tmp"
chmod 755 "$HELPER.tmp"
mv "$HELPER.tmp" "$HELPER"

# mount_case NAME MOUNT_ARGS...: mount, check it serves at once, write, umount, check.
mount_case() {
  local name="$1" rc=0
  shift
  mount "$@" >"$TMP/out" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then fail "$name: mount $* exited $rc: $(cat "$TMP/out")"; return; fi
  if ! findmnt -n -o FSTYPE --mountpoint "$MNT" | grep -q '^fuse'; then
    fail "$name: mount returned but $MNT is not a FUSE mount"; return
  fi
  (echo "$name" >"$MNT/$name.txt") 2>"$TMP/err" || fail "$name: write: $(cat "$TMP/err")"
  umount "$MNT" || fail "$name: umount $MNT failed"
  wait_daemons_gone "$MNT" || fail "$name: the daemon is still running after umount"
  got=$("$KATAMARI_BIN" -b "$BUCKET" get "$name.txt" 2>&1) || true
  [ "$got" = "$name" ] && pass "$name: mount $*; write; umount" || fail "$name: got '$got'"
}
mount_case mount-t -t katamari -o defaults,compression=zlib "$BUCKET" "$MNT"
printf '%s %s katamari defaults,_netdev,nofail,x-systemd.device-timeout=5s,compression=zstd 0 0\n' \
  "$BUCKET" "$MNT" >"$TMP/fstab"
mount_case mount-fstab --fstab "$TMP/fstab" "$MNT"

# systemd's fstab generator turns the line into a .mount unit; mount it with exactly the
# command systemd runs for it (mount WHAT WHERE -t TYPE -o OPTIONS).
GEN=/lib/systemd/system-generators/systemd-fstab-generator
[ -x "$GEN" ] || GEN=/usr/lib/systemd/system-generators/systemd-fstab-generator
mkdir -p "$TMP/gen/normal" "$TMP/gen/early" "$TMP/gen/late"
if SYSTEMD_FSTAB="$TMP/fstab" SYSTEMD_LOG_LEVEL=err \
     "$GEN" "$TMP/gen/normal" "$TMP/gen/early" "$TMP/gen/late" 2>"$TMP/err"; then
  unit=$(systemd-escape -p --suffix=mount "$MNT")
  generated="$TMP/gen/normal/$unit"
  if [ -f "$generated" ] && [ -L "$TMP/gen/normal/remote-fs.target.wants/$unit" ]; then
    pass "fstab generator: $unit, pulled in by remote-fs.target (_netdev)"
    (cd "$TMP/gen/normal" && systemd-analyze verify --man=no "$unit") >"$TMP/verify.log" 2>&1 &&
      [ ! -s "$TMP/verify.log" ] && pass "systemd-analyze verify $unit" ||
      fail "verify $unit: $(cat "$TMP/verify.log")"
    key() { sed -n "s/^$1=//p" "$generated"; }
    mount_case fstab-generator "$(key What)" "$(key Where)" -t "$(key Type)" -o "$(key Options)"
  else
    fail "fstab generator made no $unit wanted by remote-fs.target: $(ls -R "$TMP/gen")"
  fi
else
  fail "systemd-fstab-generator: $(cat "$TMP/err")"
fi

# mount -a twice must not stack a second mount on the first.
mount -a --fstab "$TMP/fstab" 2>"$TMP/err" && mount -a --fstab "$TMP/fstab" 2>"$TMP/err" ||
  fail "mount -a --fstab: $(cat "$TMP/err")"
n=$({ findmnt -n --mountpoint "$MNT" || true; } | wc -l)
[ "$n" = 1 ] && pass "mount -a twice: one mount" || fail "mount -a twice: $n mounts at $MNT"
while is_mounted "$MNT"; do umount "$MNT" || break; done
wait_daemons_gone "$MNT" || fail "daemon still running after umount (mount -a)"

# ro passes through: writes fail with EROFS.
if mount -t katamari -o ro "$BUCKET" "$MNT" 2>"$TMP/err"; then
  if (echo x >"$MNT/ro.txt") 2>"$TMP/err"; then fail "ro mount accepted a write"
  else grep -q "Read-only" "$TMP/err" && pass "mount -o ro: write refused: $(cat "$TMP/err")" ||
    fail "ro write failed oddly: $(cat "$TMP/err")"
  fi
  umount "$MNT" || fail "umount of the ro mount failed"
  wait_daemons_gone "$MNT" || fail "daemon still running after umount (ro)"
else
  fail "mount -t katamari -o ro: $(cat "$TMP/err")"
fi

# Errors reach the caller: a missing bucket, an unknown option.
rc=0
mount -t katamari "$TMP/no-such-bucket" "$MNT" 2>"$TMP/err" || rc=$?
[ "$rc" != 0 ] && ! is_mounted "$MNT" && pass "missing bucket: mount exited $rc: $(head -n 1 "$TMP/err")" ||
  fail "missing bucket: mount exited $rc, mounted: $(findmnt -n "$MNT")"
rc=0
mount -t katamari -o no_such_option "$BUCKET" "$MNT" 2>"$TMP/err" || rc=$?
[ "$rc" != 0 ] && ! is_mounted "$MNT" && pass "unknown option: mount exited $rc: $(head -n 1 "$TMP/err")" ||
  fail "unknown option: mount exited $rc"

if [ "$FAILURES" -ne 0 ]; then
  echo "$FAILURES check(s) failed"
  exit 1
fi
echo "all service checks passed"

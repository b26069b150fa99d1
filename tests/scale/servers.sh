# shellcheck shell=bash
# Throwaway servers for the scale tests: a one-node Ceph radosgw (memstore OSD, no auth)
# and a PostgreSQL 15, both on 127.0.0.1, on free ports, under one temporary directory.
#
# Sourced:   source tests/scale/servers.sh
#            scale_install                 # apt-get what is missing (idempotent)
#            scale_begin                   # makes $SCALE_DIR, sets the EXIT trap
#            scale_start_rgw               # exports KATAMARI_TEST_S3_*
#            scale_start_pg                # exports KATAMARI_TEST_PG_*
#            ... tests ...                 # scale_stop_all runs on exit, also on failure
# Executed:  servers.sh rgw-stop DIR | rgw-start DIR   (what a test calls to take radosgw
#            away mid-way and bring it back; pids stay in DIR/pids so the trap stops them)
#
# Every daemon's pid is kept in $SCALE_DIR/pids/NAME; scale_stop_all sends SIGTERM by pid,
# waits for each to exit and sends SIGKILL after a deadline. Nothing is found by name.
#
# Two runs at once: each has its own directory, fsid, ports, admin sockets and pid files,
# so two clusters start and run side by side (tried here: two scale suites started together,
# no lock, both passed; each radosgw took 22 s to serve instead of 16 s alone). Nothing is
# serialized.

SCALE_SERVERS_SH=$(readlink -f "${BASH_SOURCE[0]}")
SCALE_PG_BIN=/usr/lib/postgresql/15/bin

scale_log() { echo "scale: $*" >&2; }

# The packages are listed once, in scripts/deps.sh (sourced in a subshell: it sets -euo).
scale_install() {
  (
    # shellcheck source=scripts/deps.sh
    source "$(dirname "$SCALE_SERVERS_SH")/../../scripts/deps.sh"
    katamari_install "${KATAMARI_SCALE_PKGS[@]}"
  )
}

# A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick).
scale_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# scale_wait SECONDS WHAT CMD...: polls CMD every 0.2 s until it succeeds; fails naming
# WHAT after SECONDS.
scale_wait() {
  local secs=$1 what=$2 end
  shift 2
  end=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$end" ]; then
      scale_log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

scale_begin() {
  SCALE_DIR=$(mktemp -d /tmp/katamari-scale.XXXXXX)
  chmod 755 "$SCALE_DIR"  # the postgres user must reach its data directory below it
  mkdir -p "$SCALE_DIR/pids"
  export SCALE_DIR
  trap 'scale_stop_all' EXIT
  trap 'exit 130' INT TERM
}

# scale_spawn NAME CMD...: starts CMD in the background (output in
# $SCALE_DIR/log/NAME.out) and records its pid.
scale_spawn() {
  local name=$1
  shift
  mkdir -p "$SCALE_DIR/log"
  "$@" >>"$SCALE_DIR/log/$name.out" 2>&1 </dev/null &
  echo $! >"$SCALE_DIR/pids/$name"
}

# scale_stop_pid NAME: SIGTERM to the recorded pid, wait up to 20 s, then SIGKILL.
scale_stop_pid() {
  local f="$SCALE_DIR/pids/$1" pid end
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    end=$(($(date +%s) + 20))
    while kill -0 "$pid" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$end" ]; then
        scale_log "$1 (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
      fi
      sleep 0.1
    done
  fi
  rm -f "$f"
}

scale_stop_all() {
  local rc=$?
  [ -n "${SCALE_DIR:-}" ] && [ -d "$SCALE_DIR" ] || return "$rc"
  [ -f "$SCALE_DIR/pids/radosgw" ] && scale_stop_pid radosgw
  [ -f "$SCALE_DIR/pids/osd" ] && scale_stop_pid osd
  [ -f "$SCALE_DIR/pids/mon" ] && scale_stop_pid mon
  if [ -f "$SCALE_DIR/pg/data/postmaster.pid" ]; then
    scale_as_pg "$SCALE_PG_BIN/pg_ctl" -D "$SCALE_DIR/pg/data" -m fast -w stop >/dev/null 2>&1 ||
      scale_stop_pid postgres
  fi
  if [ "$rc" -ne 0 ] && [ -d "$SCALE_DIR/log" ]; then
    scale_log "failed (rc $rc); server logs kept in $SCALE_DIR/log"
  else
    rm -rf "$SCALE_DIR"
  fi
  return "$rc"
}

# ---------------------------------------------------------------- Ceph radosgw
scale_ceph() { timeout 30 ceph -c "$SCALE_DIR/ceph/ceph.conf" --connect-timeout 10 "$@"; }

scale_rgw_conf() {
  local d=$1 fsid=$2 mon_port=$3 rgw_port=$4
  cat >"$d/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
ms bind msgr1 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool delete = true
run dir = $d/run
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
keyring = $d/keyring
[mon]
mon data = $d/mon/\$cluster-\$id
[osd]
osd objectstore = memstore
osd data = $d/osd/\$cluster-\$id
memstore device bytes = 4294967296
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $d/rgw
rgw dns name = 127.0.0.1
EOF
}

# Starts mon, osd and radosgw; creates a user; exports
#   KATAMARI_TEST_S3_ENDPOINT     http://127.0.0.1:PORT
#   KATAMARI_TEST_S3_CREDENTIALS  a mode-600 credentials file (see docs/object-store.md)
#   KATAMARI_TEST_S3_STOP / _START commands that take radosgw away and bring it back
scale_start_rgw() {
  local d="$SCALE_DIR/ceph" fsid mon_port rgw_port osd_uuid t0
  t0=$(date +%s.%N)
  mkdir -p "$d"/{run,log,mon,osd/ceph-0,rgw}
  fsid=$(uuidgen)
  mon_port=$(scale_free_port)
  rgw_port=$(scale_free_port)
  scale_rgw_conf "$d" "$fsid" "$mon_port" "$rgw_port"
  ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null ||
    return 1
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$d/monmap" \
    >/dev/null || return 1
  ceph-mon -c "$d/ceph.conf" --mkfs -i a --monmap "$d/monmap" >"$d/log/mkfs-mon.out" 2>&1 ||
    { scale_log "ceph-mon --mkfs failed: $(tail -3 "$d/log/mkfs-mon.out")"; return 1; }
  scale_spawn mon ceph-mon -c "$d/ceph.conf" -i a -f
  scale_wait 60 "the Ceph monitor on 127.0.0.1:$mon_port" scale_ceph mon stat || return 1
  osd_uuid=$(uuidgen)
  scale_ceph osd new "$osd_uuid" 0 >/dev/null || return 1
  ceph-osd -c "$d/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$d/log/mkfs-osd.out" 2>&1 ||
    { scale_log "ceph-osd --mkfs failed: $(tail -3 "$d/log/mkfs-osd.out")"; return 1; }
  scale_spawn osd ceph-osd -c "$d/ceph.conf" -i 0 -f
  scale_wait 60 "the OSD to be up" scale_osd_up || return 1
  scale_spawn radosgw radosgw -c "$d/ceph.conf" -n client.rgw.a -f
  scale_wait 120 "radosgw on 127.0.0.1:$rgw_port" scale_rgw_serving "$rgw_port" || return 1
  local key secret
  key=KT$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  secret=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
  radosgw-admin -c "$d/ceph.conf" -n client.rgw.a user create --uid katamari-test \
    --display-name "katamari test" --access-key "$key" --secret "$secret" \
    >"$d/log/user-create.out" 2>&1 ||
    { scale_log "radosgw-admin user create failed: $(tail -3 "$d/log/user-create.out")"; return 1; }
  (umask 077 && printf 'access_key_id = %s\nsecret_access_key = %s\n' "$key" "$secret" \
    >"$SCALE_DIR/s3.credentials")
  export KATAMARI_TEST_S3_ENDPOINT="http://127.0.0.1:$rgw_port"
  export KATAMARI_TEST_S3_CREDENTIALS="$SCALE_DIR/s3.credentials"
  export KATAMARI_TEST_S3_STOP="bash $SCALE_SERVERS_SH rgw-stop $SCALE_DIR"
  export KATAMARI_TEST_S3_START="bash $SCALE_SERVERS_SH rgw-start $SCALE_DIR"
  scale_log "radosgw serving on $KATAMARI_TEST_S3_ENDPOINT after $(scale_since "$t0") s"
}

scale_since() { python3 -c "import time,sys; print(f'{time.time()-float(sys.argv[1]):.1f}')" "$1"; }

scale_osd_up() {
  scale_ceph osd dump -f json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["osds"] and d["osds"][0]["up"]==1 else 1)'
}

# Any HTTP answer from radosgw (an anonymous GET / gives 200 with an empty bucket list).
scale_rgw_serving() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/")
  [ "$code" = 200 ]
}

# ---------------------------------------------------------------- PostgreSQL 15
scale_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts a PostgreSQL 15 with trust auth on 127.0.0.1 and a database; exports
#   KATAMARI_TEST_PG_URL   postgresql://USER@127.0.0.1:PORT/katamari_test
scale_start_pg() {
  local d="$SCALE_DIR/pg" port user t0
  t0=$(date +%s.%N)
  mkdir -p "$d"
  user=$(id -un)
  [ "$(id -u)" -eq 0 ] && { chown postgres: "$d"; user=postgres; }
  port=$(scale_free_port)
  scale_as_pg "$SCALE_PG_BIN/initdb" -D "$d/data" --auth=trust --no-sync -U "$user" \
    >"$d/initdb.out" 2>&1 || { scale_log "initdb failed: $(tail -3 "$d/initdb.out")"; return 1; }
  scale_as_pg "$SCALE_PG_BIN/pg_ctl" -w -t 60 -D "$d/data" -l "$d/server.log" -o \
    "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$d -c fsync=off" \
    start >"$d/pg_ctl.out" 2>&1 ||
    { scale_log "pg_ctl start failed: $(tail -3 "$d/server.log")"; return 1; }
  head -1 "$d/data/postmaster.pid" >"$SCALE_DIR/pids/postgres"
  scale_as_pg "$SCALE_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$user" katamari_test ||
    return 1
  export KATAMARI_TEST_PG_URL="postgresql://$user@127.0.0.1:$port/katamari_test"
  scale_log "PostgreSQL serving on 127.0.0.1:$port after $(scale_since "$t0") s"
}

# Subcommands for tests that take radosgw away and bring it back.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -u
  SCALE_DIR=${2:?usage: servers.sh rgw-stop|rgw-start DIR}
  case $1 in
    rgw-stop) scale_stop_pid radosgw ;;
    rgw-start)
      d="$SCALE_DIR/ceph"
      port=$(sed -n 's/.*endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$d/ceph.conf")
      scale_spawn radosgw radosgw -c "$d/ceph.conf" -n client.rgw.a -f
      scale_wait 60 "radosgw on 127.0.0.1:$port" scale_rgw_serving "$port"
      ;;
    *) echo "usage: servers.sh rgw-stop|rgw-start DIR" >&2; exit 2 ;;
  esac
fi

#!/usr/bin/env bash
# Mount benchmark (issues 3 and 11): katamarifs vs gocryptfs (an encrypting FUSE
# filesystem, our nearest peer in per-byte work) vs a plain directory on the same
# disk, all in the same run, each figure the median of KATAMARI_BENCH_RUNS runs.
# Every row checks what it wrote (counts, sizes, sums, sqlite's count) and stops
# with MISMATCH if the data is wrong. The table prints, per row:
#   k/gocrypt  katamarifs speed / gocryptfs speed: >= 1.0 means katamarifs is as
#              fast or faster (higher is better)
#   k/plain    katamarifs time / plain-dir time: how many times slower than the
#              plain directory (lower is better; 1.0 is the plain directory's speed)
#   aim        the target of issue 11 for that row
#   k RSS      the peak RSS of the katamarifs daemon during the row (each row starts
#              with fresh mounts: VmHWM at its end and VmRSS sampled every 0.2 s)
#
# Usage: scripts/bench_mount.sh     (root, /dev/fuse; run by `scripts/bench.sh mount`)
# Rows, KATAMARI_BENCH_ROWS=a,b,... (default all; "old" and "new" name the groups):
#   old: seq     1 GiB sequential write (fsync) and cold read, text and random (MB/s)
#        fsmark  fs_mark 2,000 x 4 KiB files (files/s)
#        tar     tar x of /usr/include, then warm ls -lR and find (s)
#        bigrss  the daemon's VmHWM while a big file is written through it
#   new: small   N x `echo $i > f$i` in one directory, a bash loop (s)
#        sqlite  sqlite3 CLI, PRAGMA journal_mode=WAL, rows in transactions (s)
#        rsync   rsync -a of a directory tree, /usr/share/doc by default (s)
#        append  N x `echo line >> log`, each append opens and closes the file (s)
#        edit    1-byte write + close in the middle of a 1 GiB file vs a 1 MiB file (ms/op)
#        stress  4 parallel workers (python, one syscall per op) of create/write/
#                append/rename/chmod/mkdir/read/unlink/rmdir/readdir, each in its own
#                directory (s)
# Knobs (defaults in brackets; KATAMARI_BENCH_QUICK=1 gives the second value):
#   KATAMARI_BUILD_DIR           build dir with daemon/katamari{,fs} [build], relative to the repo
#   KATAMARI_BENCH_NINJA=0       use the binaries as they are (no meson setup / ninja)
#   KATAMARI_BENCH_DIR           work dir, a short path on the disk to measure [/var/tmp]
#   KATAMARI_BENCH_QUICK=1       small sizes and one run, to check the script quickly
#   KATAMARI_BENCH_RUNS          runs per figure, median [3 / 1]
#   KATAMARI_BENCH_MIB           sequential file size [1024 / 64]
#   KATAMARI_BENCH_BIG_MIB       the file written while reading VmHWM [4096 / 256]
#   KATAMARI_BENCH_SMALL_N       small files [10000 / 1000]
#   KATAMARI_BENCH_SQLITE_ROWS   sqlite rows [100000 / 10000]
#   KATAMARI_BENCH_SQLITE_TX     sqlite transactions [100 / 10]
#   KATAMARI_BENCH_RSYNC_SRC     rsync source tree [/usr/share/doc / /usr/share/zoneinfo]
#   KATAMARI_BENCH_APPENDS       appends [1000 / 200]
#   KATAMARI_BENCH_EDIT_MIB      the big file of the edit row [1024 / 64]
#   KATAMARI_BENCH_EDIT_OPS      1-byte edits per file, median per op [20 / 5]
#   KATAMARI_BENCH_STRESS_N      iterations per stress worker [500 / 50]
#   KATAMARI_BENCH_STRESS_PROCS  stress workers [4]
#   e.g. KATAMARI_BENCH_QUICK=1 KATAMARI_BENCH_ROWS=small,sqlite scripts/bench.sh mount
# shellcheck disable=SC2317  # the row functions are called through run_row
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" "${KATAMARI_BENCH_PKGS[@]}" python3

QUICK=${KATAMARI_BENCH_QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }  # q FULL QUICK
RUNS=${KATAMARI_BENCH_RUNS:-$(q 3 1)}
MIB=${KATAMARI_BENCH_MIB:-$(q 1024 64)}
BIG_MIB=${KATAMARI_BENCH_BIG_MIB:-$(q 4096 256)}
SMALL_N=${KATAMARI_BENCH_SMALL_N:-$(q 10000 1000)}
SQLITE_ROWS=${KATAMARI_BENCH_SQLITE_ROWS:-$(q 100000 10000)}
SQLITE_TX=${KATAMARI_BENCH_SQLITE_TX:-$(q 100 10)}
RSYNC_SRC=${KATAMARI_BENCH_RSYNC_SRC:-$(q /usr/share/doc /usr/share/zoneinfo)}
APPENDS=${KATAMARI_BENCH_APPENDS:-$(q 1000 200)}
EDIT_MIB=${KATAMARI_BENCH_EDIT_MIB:-$(q 1024 64)}
EDIT_OPS=${KATAMARI_BENCH_EDIT_OPS:-$(q 20 5)}
STRESS_N=${KATAMARI_BENCH_STRESS_N:-$(q 500 50)}
STRESS_PROCS=${KATAMARI_BENCH_STRESS_PROCS:-4}
ROWS=,${KATAMARI_BENCH_ROWS:-all},
ROWS=${ROWS//,old,/,seq,fsmark,tar,bigrss,}
ROWS=${ROWS//,new,/,small,sqlite,rsync,append,edit,stress,}
[[ $ROWS == *,all,* ]] && ROWS=,seq,fsmark,tar,small,sqlite,rsync,append,edit,stress,bigrss,
for r in ${ROWS//,/ }; do
  case $r in
    seq | fsmark | tar | bigrss | small | sqlite | rsync | append | edit | stress) ;;
    *) echo "KATAMARI_BENCH_ROWS: unknown row '$r' (see the header of $0)" >&2; exit 2 ;;
  esac
done
want() { [[ $ROWS == *,$1,* ]]; }

BUILD=${KATAMARI_BUILD_DIR:-build}
[[ $BUILD == /* ]] || BUILD="$ROOT/$BUILD"
if [ "${KATAMARI_BENCH_NINJA:-1}" != 0 ]; then
  [ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
  ninja -C "$BUILD" daemon/katamari daemon/katamarifs >/dev/null
fi
KATAMARI="$BUILD/daemon/katamari"
KATAMARIFS="$BUILD/daemon/katamarifs"
for b in "$KATAMARI" "$KATAMARIFS"; do
  [ -x "$b" ] || { echo "no binary $b (set KATAMARI_BUILD_DIR)" >&2; exit 2; }
done

# Short paths: fs_mark refuses directory names of 40 bytes or more.
WORK=$(mktemp -d "${KATAMARI_BENCH_DIR:-/var/tmp}/kb.XXXXXX")
KMNT="$WORK/k.mnt" GMNT="$WORK/g.mnt" PLAIN="$WORK/plain"
mkdir -p "$KMNT" "$GMNT" "$PLAIN"
RSS_PID=
cleanup() {
  set +e
  [ -n "$RSS_PID" ] && kill "$RSS_PID" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  for m in "$KMNT" "$GMNT"; do
    grep -q " $m fuse" /proc/mounts && { fusermount3 -u "$m" || fusermount3 -u -z "$m"; }
  done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # so that the EXIT trap unmounts

fail() { echo "MISMATCH: $*" >&2; exit 1; }
mount_k() {
  [ -d "$WORK/k.bucket" ] || "$KATAMARI" -b "$WORK/k.bucket" init >/dev/null
  "$KATAMARIFS" "$WORK/k.bucket" "$KMNT" 2>>"$WORK/k.log" ||
    { cat "$WORK/k.log" >&2; echo "katamarifs did not mount" >&2; exit 1; }
  pgrep -n -f "katamarifs $WORK/k.bucket" >"$WORK/k.pid"  # read by the RSS sampler
}
mount_g() {
  if [ ! -d "$WORK/g.cipher" ]; then
    mkdir -p "$WORK/g.cipher"
    echo benchpass >"$WORK/g.pass"
    gocryptfs -q -init -passfile "$WORK/g.pass" "$WORK/g.cipher" >/dev/null
  fi
  gocryptfs -q -nosyslog -passfile "$WORK/g.pass" "$WORK/g.cipher" "$GMNT"
}
umount_all() {
  for m in "$KMNT" "$GMNT"; do
    grep -q " $m fuse" /proc/mounts && fusermount3 -u "$m"
  done
  for _ in $(seq 100); do grep -qE " ($KMNT|$GMNT) fuse" /proc/mounts || break; sleep 0.1; done
  # The daemon exits after the unmount returns; the next one needs its bucket lock.
  local pid
  read -r pid 2>/dev/null <"$WORK/k.pid" || return 0
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "katamarifs (pid $pid) still runs 60 s after its unmount" >&2
  exit 1
}
remount() { umount_all; mount_k; mount_g; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
now() { date +%s.%N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }
median_ms() { python3 -c 'import statistics,sys; print(statistics.median(map(int, sys.argv[1:])) / 1000)' "$@"; }
dir_of() { case $1 in k) echo "$KMNT" ;; g) echo "$GMNT" ;; p) echo "$PLAIN" ;; esac; }

# The daemon's peak RSS during a row. Each row starts with fresh mounts, so
# memory an earlier row left in the daemon does not count; the peak is the
# larger of the daemon's VmHWM at the row's end and VmRSS sampled every 0.2 s
# (the sampler follows remounts within a row through k.pid).
rss_begin() {
  remount
  (
    set +e
    peak=0
    trap 'echo "$peak" >"$WORK/rss.peak"; exit 0' TERM
    while :; do
      pid=
      read -r pid 2>/dev/null <"$WORK/k.pid"
      while read -r key val _; do
        [ "$key" = VmRSS: ] && { [ "$val" -gt "$peak" ] && peak=$val; break; }
      done 2>/dev/null <"/proc/${pid:-0}/status"
      sleep 0.2
    done
  ) &
  RSS_PID=$!
}
rss_end() {  # rss_end FIGURE...: the peak in KiB goes to RSS[FIGURE]
  local pid hwm= peak f
  read -r pid 2>/dev/null <"$WORK/k.pid" &&
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  kill "$RSS_PID"
  wait "$RSS_PID" || true
  RSS_PID=
  read -r peak <"$WORK/rss.peak"
  [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
  for f in "$@"; do RSS[$f]=$peak; done
}

declare -A R RSS KIND AIM  # R[figure,target] = value; KIND rate|time; AIM text
FIGS=()
figure() {  # figure NAME rate|time AIM
  FIGS+=("$1"); KIND[$1]=$2; AIM[$1]=$3
}
progress() {
  echo "  $1: katamarifs ${R[$1,k]:-?} gocryptfs ${R[$1,g]:-?} plain ${R[$1,p]:-?}" \
    "(k RSS $(( ${RSS[$1]:-0} / 1024 )) MiB)"
}
text_src() {  # text_src MIB: a text file of MIB MiB (made once)
  local f="$WORK/text.$1.src"
  [ -f "$f" ] || python3 scripts/textgen.py make "$f" $(($1 * 1024 * 1024)) --seed 3 >&2
  echo "$f"
}

# run_row FIGURE FN: for each target, RUNS times: a fresh DIR, FN_setup DIR if
# defined, sync, time FN_run DIR, FN_check DIR (must fail loudly), remove DIR.
run_row() {
  local fig=$1 fn=$2 target dir t0 us times
  rss_begin
  for target in k g p; do
    dir="$(dir_of $target)/$fn"
    times=()
    for _ in $(seq "$RUNS"); do
      rm -rf "$dir"
      mkdir -p "$dir"
      if declare -F "${fn}_setup" >/dev/null; then "${fn}_setup" "$dir"; fi
      sync
      t0=${EPOCHREALTIME//[!0-9]/}  # microseconds, no fork
      "${fn}_run" "$dir"
      us=$((${EPOCHREALTIME//[!0-9]/} - t0))
      "${fn}_check" "$dir" "$target"
      times+=("$(printf '%d.%06d' $((us / 1000000)) $((us % 1000000)))")
      rm -rf "$dir"
    done
    R[$fig,$target]=$(median "${times[@]}")
  done
  rss_end "$fig"
  progress "$fig"
}

# ---- old rows -------------------------------------------------------------
seq_bench() {  # seq_bench NAME SRC
  local name=$1 src=$2 t dir w=() r=()
  figure "$name write MB/s" rate "g>=1.0"
  figure "$name read MB/s" rate "g>=1.0"
  rss_begin
  for target in k g p; do
    w=() r=()
    for _ in $(seq "$RUNS"); do
      dir=$(dir_of $target)
      rm -f "$dir/$name"
      drop_caches
      t=$(now)
      dd if="$src" of="$dir/$name" bs=1M status=none conv=fsync
      w+=("$(python3 -c "print($MIB * 1.048576 / ($(now) - $t))")")
      remount
      drop_caches
      t=$(now)
      dd if="$dir/$name" of=/dev/null bs=1M status=none
      r+=("$(python3 -c "print($MIB * 1.048576 / ($(now) - $t))")")
      cmp -s "$src" "$dir/$name" || fail "reading back $name from $target"
      rm -f "$dir/$name"
    done
    R["$name write MB/s,$target"]=$(median "${w[@]}")
    R["$name read MB/s,$target"]=$(median "${r[@]}")
  done
  rss_end "$name write MB/s" "$name read MB/s"
  progress "$name write MB/s"
  progress "$name read MB/s"
}

fsmark_row() {
  local target dir out
  figure "fs_mark files/s" rate "g>=1.0"
  rss_begin
  for target in k g p; do
    dir=$(dir_of $target)
    mkdir -p "$dir/fm"
    out=$(fs_mark -n 2000 -s 4096 -d "$dir/fm" -l "$WORK/fs_mark.$target.log" 2>&1)
    R["fs_mark files/s,$target"]=$(echo "$out" |
      awk '/^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+/ {print $4; exit}')
    [ -n "${R["fs_mark files/s,$target"]}" ] || fail "fs_mark on $target printed no figure: $out"
    rm -rf "$dir/fm"
  done
  rss_end "fs_mark files/s"
  progress "fs_mark files/s"
}

tar_rows() {
  local target dir t n
  tar cf "$WORK/include.tar" -C /usr include
  ENTRIES=$(tar tf "$WORK/include.tar" | wc -l)
  figure "tar x s" time "g>=1.0"
  figure "warm ls -lR s" time "g>=1.0"
  figure "warm find s" time "g>=1.0"
  rss_begin
  for target in k g p; do
    dir=$(dir_of $target)
    mkdir -p "$dir/tree"
    drop_caches
    t=$(now); tar xf "$WORK/include.tar" -C "$dir/tree"; R["tar x s,$target"]=$(python3 -c "print($(now) - $t)")
    n=$(find "$dir/tree/include" | wc -l)
    [ "$n" = "$ENTRIES" ] || fail "tar x on $target: $n entries, the tarball has $ENTRIES"
  done
  rss_end "tar x s"
  rss_begin
  for target in k g p; do
    dir=$(dir_of $target)
    ls -lR "$dir/tree" >/dev/null  # warm up
    t=$(now); ls -lR "$dir/tree" >/dev/null; R["warm ls -lR s,$target"]=$(python3 -c "print($(now) - $t)")
    t=$(now); find "$dir/tree" >/dev/null; R["warm find s,$target"]=$(python3 -c "print($(now) - $t)")
    rm -rf "$dir/tree"
  done
  rss_end "warm ls -lR s" "warm find s"
  progress "tar x s"
  progress "warm ls -lR s"
  progress "warm find s"
}

# Peak RSS (VmHWM) of a fresh katamarifs daemon while a big file is written through it.
bigrss_row() {
  local pid rss size
  remount  # a new daemon: VmHWM covers this write only
  read -r pid <"$WORK/k.pid"
  dd if=/dev/zero bs=1M count="$BIG_MIB" status=none | tr '\0' 'k' >"$KMNT/big" &
  local dd_pid=$!
  PEAK=0
  while kill -0 "$dd_pid" 2>/dev/null; do
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$PEAK" ] && PEAK=$rss
    sleep 0.5
  done
  wait "$dd_pid"
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$PEAK" ] && PEAK=$rss
  size=$(stat -c %s "$KMNT/big")
  [ "$size" = $((BIG_MIB * 1024 * 1024)) ] || fail "big file on katamarifs is $size bytes"
  rm -f "$KMNT/big"
}

# ---- new rows (issue 11) ----------------------------------------------------
small_run() { (cd "$1" && for ((i = 1; i <= SMALL_N; i++)); do echo "$i" >"f$i"; done); }
small_check() {
  local n sum
  n=$(find "$1" -type f | wc -l)
  [ "$n" = "$SMALL_N" ] || fail "small files on $2: $n files, wrote $SMALL_N"
  sum=$(cd "$1" && find . -type f -exec cat {} + | awk '{s += $1} END {print s}')
  [ "$sum" = $((SMALL_N * (SMALL_N + 1) / 2)) ] || fail "small files on $2: contents sum to $sum"
}

sqlite_script() {
  python3 - "$SQLITE_ROWS" "$SQLITE_TX" >"$WORK/sqlite.sql" <<'PY'
import sys
rows, tx = map(int, sys.argv[1:])
print("PRAGMA journal_mode=WAL;")
print("CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL);")
i = 0
for t in range(tx):
    print("BEGIN;")
    for _ in range(rows // tx + (1 if t < rows % tx else 0)):
        i += 1
        print(f"INSERT INTO t(id, k, v) VALUES({i}, 'key-{i:08d}', "
              f"'value {i * 2654435761 % 1000003} of row {i}, some text to fill a page');")
    print("COMMIT;")
PY
}
sqlite_run() { sqlite3 -bail "$1/db" <"$WORK/sqlite.sql" >"$WORK/sqlite.out"; }
sqlite_check() {
  local got want
  got=$(sqlite3 "$1/db" 'PRAGMA journal_mode; PRAGMA integrity_check; SELECT count(*), sum(id) FROM t;' |
    tr '\n' ' ')
  want="wal ok $SQLITE_ROWS|$((SQLITE_ROWS * (SQLITE_ROWS + 1) / 2)) "
  [ "$got" = "$want" ] || fail "sqlite on $2: got '$got', want '$want'"
  grep -qx wal "$WORK/sqlite.out" || fail "sqlite on $2 did not switch to WAL: $(cat "$WORK/sqlite.out")"
}

manifest() {  # what rsync -a must reproduce: types, sizes, link targets, modes, names
  (cd "$1" && find . \( -type l -printf 'l %l %P\n' \) -o \( -type f -printf 'f %s %m %P\n' \) \
    -o \( -type d -printf 'd %m %P\n' \) | LC_ALL=C sort | md5sum)
}
rsync_run() { rsync -a "$RSYNC_SRC/" "$1/doc/"; }
rsync_check() {
  [ "$(manifest "$1/doc")" = "$RSYNC_MANIFEST" ] || fail "rsync to $2: the copy differs from $RSYNC_SRC"
}

append_run() { (cd "$1" && for ((i = 0; i < APPENDS; i++)); do echo line >>log; done); }
append_check() {
  local n
  n=$(wc -l <"$1/log")
  [ "$n" = "$APPENDS" ] || fail "appends on $2: $n lines, appended $APPENDS"
  [ "$(sort -u "$1/log")" = line ] || fail "appends on $2: a line is not 'line'"
}

# A stress worker makes syscalls, not processes, so the row measures the
# filesystem rather than fork+exec: every op kind, half the files stay. The
# workers start (python takes a while under load), say they are ready, and
# all begin when the go file appears; the clock runs from go to the last exit.
STRESS_PY='
import os, sys, time
d, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open(f"{work}/ready.{os.getpid()}", "w").close()
while not os.path.exists(f"{work}/go"):
    time.sleep(0.005)
os.mkdir(d)
os.chdir(d)
for i in range(n):
    a, b, sub = f"a.{i}", f"b.{i}", f"d.{i}"
    with open(a, "w") as f:
        f.write(f"data {i}\n")
    with open(a, "a") as f:
        f.write("more\n")
    os.rename(a, b)
    os.chmod(b, 0o600)
    os.mkdir(sub)
    with open(f"{sub}/f", "w") as f:
        f.write(f"{i}\n")
    with open(f"{sub}/f") as f:
        if f.read() != f"{i}\n":
            sys.exit(f"{d}/{sub}/f reads wrong")
    os.unlink(f"{sub}/f")
    os.rmdir(sub)
    if i % 2:
        os.unlink(b)
    if i % 50 == 0:
        os.listdir(".")
'
STRESS_PIDS=()
stress_setup() {
  local w
  rm -f "$WORK/go" "$WORK"/ready.*
  STRESS_PIDS=()
  for ((w = 0; w < STRESS_PROCS; w++)); do
    python3 -c "$STRESS_PY" "$1/w$w" "$STRESS_N" "$WORK" &
    STRESS_PIDS+=($!)
  done
  for _ in $(seq 1200); do
    [ "$(find "$WORK" -maxdepth 1 -name 'ready.*' | wc -l)" = "$STRESS_PROCS" ] && return 0
    sleep 0.1
  done
  fail "the stress workers did not start within 120 s"
}
stress_run() {
  local p rc=0
  : >"$WORK/go"
  for p in "${STRESS_PIDS[@]}"; do wait "$p" || rc=1; done
  [ "$rc" = 0 ] || fail "a stress worker failed"
}
stress_check() {
  local w n d i keep=$(((STRESS_N + 1) / 2))
  for ((w = 0; w < STRESS_PROCS; w++)); do
    d="$1/w$w"
    n=$(find "$d" -mindepth 1 | wc -l)
    [ "$n" = "$keep" ] || fail "stress on $2: $d has $n entries, want $keep"
    n=$(find "$d" -type f -name 'b.*' -perm 600 | wc -l)
    [ "$n" = "$keep" ] || fail "stress on $2: $d has $n mode-600 b.* files, want $keep"
    for i in 0 $(((keep - 1) * 2)); do
      [ "$(cat "$d/b.$i")" = "$(printf 'data %d\nmore' "$i")" ] || fail "stress on $2: $d/b.$i"
    done
  done
}

# 1-byte write + close in the middle of a big and a 1 MiB file, interleaved so
# that load from elsewhere hits both alike; the median per op, in ms.
edit_rows() {
  local big small target dir f which i t0 us want got tb ts
  local chars=abcdefghijklmnopqrstuvwxyz0123456789
  big=$(text_src "$EDIT_MIB")
  small="$WORK/edit.1m.src"
  head -c 1048576 "$big" >"$small"
  declare -A size=([big]=$(stat -c %s "$big") [small]=1048576)
  figure "edit ${EDIT_MIB}MiB ms/op" time "-"
  figure "edit 1MiB ms/op" time "-"
  rss_begin
  for target in k g p; do
    dir="$(dir_of $target)/edit"
    mkdir -p "$dir"
    cp "$big" "$dir/big"
    cp "$small" "$dir/small"
    sync
    tb=() ts=() want=
    for ((i = 0; i < EDIT_OPS; i++)); do
      want+=${chars:i%36:1}
      for which in big small; do
        t0=${EPOCHREALTIME//[!0-9]/}
        dd of="$dir/$which" bs=1 count=1 seek=$((size[$which] / 2 + i)) conv=notrunc \
          status=none <<<"${chars:i%36:1}"
        us=$((${EPOCHREALTIME//[!0-9]/} - t0))
        if [ $which = big ]; then tb+=("$us"); else ts+=("$us"); fi
      done
    done
    for which in big small; do
      f="$dir/$which"
      got=$(dd if="$f" bs=1 skip=$((size[$which] / 2)) count="$EDIT_OPS" status=none)
      [ "$got" = "$want" ] || fail "edit on $target: $which reads '$got' at the middle, wrote '$want'"
      [ "$(stat -c %s "$f")" = "${size[$which]}" ] || fail "edit on $target: $which changed size"
    done
    R["edit ${EDIT_MIB}MiB ms/op,$target"]=$(median_ms "${tb[@]}")
    R["edit 1MiB ms/op,$target"]=$(median_ms "${ts[@]}")
    rm -rf "$dir"
  done
  rss_end "edit ${EDIT_MIB}MiB ms/op" "edit 1MiB ms/op"
  progress "edit ${EDIT_MIB}MiB ms/op"
  progress "edit 1MiB ms/op"
}

# ---- the run --------------------------------------------------------------
echo "katamarifs ($KATAMARIFS) vs gocryptfs vs a plain directory in $WORK," \
  "median of $RUNS run(s); rows:${ROWS//,/ }"
mount_k
mount_g
if want seq; then
  echo "seq: preparing ${MIB} MiB text and ${MIB} MiB random..."
  head -c $((MIB * 1024 * 1024)) /dev/urandom >"$WORK/rand.src"
  seq_bench text "$(text_src "$MIB")"
  seq_bench random "$WORK/rand.src"
fi
want fsmark && fsmark_row
want tar && tar_rows
if want small; then
  figure "small files ${SMALL_N} s" time "p<=2.5"
  run_row "small files ${SMALL_N} s" small
fi
if want sqlite; then
  sqlite_script
  figure "sqlite ${SQLITE_ROWS}/${SQLITE_TX}tx s" time "p<=3.0"
  run_row "sqlite ${SQLITE_ROWS}/${SQLITE_TX}tx s" sqlite
fi
if want rsync; then
  RSYNC_MANIFEST=$(manifest "$RSYNC_SRC")
  RSYNC_MB=$(du -s --apparent-size -B1M "$RSYNC_SRC" | cut -f1)
  RSYNC_FILES=$(find "$RSYNC_SRC" | wc -l)
  figure "rsync -a ${RSYNC_MB}MB s" time "p<=2.5"
  run_row "rsync -a ${RSYNC_MB}MB s" rsync
fi
if want append; then
  figure "append+close ${APPENDS} s" time "p<=10"
  run_row "append+close ${APPENDS} s" append
fi
want edit && edit_rows
if want stress; then
  figure "stress ${STRESS_PROCS}x${STRESS_N} s" time "-"
  run_row "stress ${STRESS_PROCS}x${STRESS_N} s" stress
fi
want bigrss && bigrss_row

echo
for fig in "${FIGS[@]}"; do
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$fig" "${KIND[$fig]}" "${R[$fig,k]:-0}" \
    "${R[$fig,g]:-0}" "${R[$fig,p]:-0}" "${AIM[$fig]}" "${RSS[$fig]:-0}"
done >"$WORK/table.tsv"
python3 - "$WORK/table.tsv" <<'PY'
import sys
print(f"{'figure':<26} {'katamarifs':>11} {'gocryptfs':>11} {'plain-dir':>11}"
      f" {'k/gocrypt':>10} {'k/plain':>8} {'aim':>7} {'k RSS MiB':>10}")
for line in open(sys.argv[1]):
    fig, kind, k, g, p, aim, rss = line.rstrip("\n").split("\t")
    k, g, p = float(k), float(g), float(p)
    if kind == "rate":  # higher is better
        vs_g, vs_p = (k / g if g else 0), (p / k if k else 0)
    else:               # a time: lower is better
        vs_g, vs_p = (g / k if k else 0), (k / p if p else 0)
    print(f"{fig:<26} {k:11.3f} {g:11.3f} {p:11.3f} {vs_g:9.2f}x {vs_p:7.2f}x {aim:>7}"
          f" {int(rss) // 1024:10d}")
PY
echo "k/gocrypt: katamarifs speed / gocryptfs speed, >= 1.0 means katamarifs is as fast or faster."
echo "k/plain: katamarifs time / plain-dir time, how many times slower than the plain directory"
echo "  (lower is better). aim: g>=1.0 is k/gocrypt's target, p<=N is k/plain's (issue 11)."
echo "k RSS: the peak RSS of a fresh daemon during the row (VmHWM, and VmRSS sampled every 0.2 s"
echo "  across remounts; aim < 256 MiB)."
want tar && echo "tar of /usr/include: $ENTRIES entries."
want rsync && echo "rsync source: $RSYNC_SRC, $RSYNC_MB MB apparent, $RSYNC_FILES entries."
if want edit; then
  python3 - "${R["edit ${EDIT_MIB}MiB ms/op,k"]}" "${R["edit 1MiB ms/op,k"]}" \
    "${R["edit ${EDIT_MIB}MiB ms/op,g"]}" "${R["edit 1MiB ms/op,g"]}" \
    "${R["edit ${EDIT_MIB}MiB ms/op,p"]}" "${R["edit 1MiB ms/op,p"]}" "$EDIT_MIB" "$EDIT_OPS" <<'PY'
import sys
kb, ks, gb, gs, pb, ps = map(float, sys.argv[1:7])
r = lambda b, s: b / s if s else 0
print(f"1-byte write + close, {sys.argv[7]} MiB file / 1 MiB file (median of {sys.argv[8]} ops each;"
      f" lower is better, aim <= 2.0 for katamarifs):")
print(f"  katamarifs {kb:.2f} / {ks:.2f} ms = {r(kb, ks):.2f}x   gocryptfs {gb:.2f} / {gs:.2f} ms"
      f" = {r(gb, gs):.2f}x   plain {pb:.2f} / {ps:.2f} ms = {r(pb, ps):.2f}x")
PY
fi
want bigrss && echo "katamarifs peak RSS (VmHWM) while writing ${BIG_MIB} MiB: $((PEAK / 1024)) MiB (aim < 256 MiB)"
exit 0

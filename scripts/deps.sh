#!/usr/bin/env bash
# Installs the Debian 12 packages katamarifs needs to build, test and
# benchmark -- only those missing. Sourced or run by run.sh, test.sh, bench.sh.
set -euo pipefail

KATAMARI_BUILD_PKGS=(
  g++ meson ninja-build pkg-config
  libsqlite3-dev libzstd-dev zlib1g-dev libssl-dev libfuse3-dev fuse3
  libgtest-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
  libcurl4-openssl-dev libexpat1-dev
)
# Tools the tests drive as a user would.
KATAMARI_TEST_PKGS=(
  attr acl rsync sqlite3 git zstd binutils xxd util-linux coreutils findutils diffutils tar
  systemd python3 time bsdutils
)
# The scale suite's throwaway servers (tests/scale/servers.sh): a one-node Ceph radosgw
# (about 90 packages, 280 MB, a minute to install) and PostgreSQL 15.
KATAMARI_SCALE_PKGS=(
  ceph-mon ceph-osd radosgw postgresql-15 postgresql-client-15 curl uuid-runtime procps
)
KATAMARI_BENCH_PKGS=(restic gocryptfs fsmark time hyperfine sqlite3 rsync procps)

katamari_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    "${missing[@]}" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  katamari_install "${KATAMARI_BUILD_PKGS[@]}" "${KATAMARI_TEST_PKGS[@]}"
fi

#!/usr/bin/env bash
# The one command that runs every test: installs what is missing (Debian 12),
# configures and builds in ./build, runs unit, CLI and mount suites.
# Usage: scripts/test.sh [meson test args...]   e.g. scripts/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
katamari_install "${KATAMARI_BUILD_PKGS[@]}" "${KATAMARI_TEST_PKGS[@]}"

if [ -d build ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build >/dev/null
fi
ninja -C build
meson test -C build --print-errorlogs --num-processes 2 "$@"

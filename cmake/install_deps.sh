#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Installs the Debian/Ubuntu packages wsx needs that are missing.
#   cmake/install_deps.sh [build|test]    (default: build)
# build: what compiling wsx and its examples needs.
# test:  also what the test suite drives (a second compiler, peers' clients).
set -euo pipefail

packages=(cmake ninja-build g++ libasio-dev libsimdjson-dev libssl-dev zlib1g-dev libhiredis-dev libnghttp2-dev)
if [ "${1:-build}" = test ]; then
    packages+=(catch2 clang libclang-rt-14-dev python3 python3-websockets chromium pkg-config
               redis-server prometheus python3-h2 nghttp2-client openssl)  # prometheus: promtool checks GET /metrics
    # Node.js runs the npm ws and browser interop tests; keep an existing one.
    command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "== installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null

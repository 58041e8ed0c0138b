#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Installs what is missing, builds an example and starts it.
#   examples/run.sh [example] [example options...]
#   examples/run.sh                          # the broadcast example on port 9001
#   examples/run.sh echo_server --port 9002
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-broadcast_server}
shift || true
bash cmake/install_deps.sh build
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target "$example"
exec "./build/release/examples/$example" "$@"

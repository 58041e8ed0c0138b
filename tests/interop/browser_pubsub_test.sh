#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Interop: headless Chromium (playwright-core) on the page examples/pubsub_server
# serves: the connection is killed with DELETE /api/connections/{id} in the
# middle of a stream of orders, the page's wsx-pubsub.js reconnects and resumes,
# and the feed it shows has no gap and no duplicate (browser_pubsub_test.js).
#
# Usage: browser_pubsub_test.sh <pubsub_server> [node dir] [screenshot dir]
# Skips (77) like browser_test.sh when chromium or node is missing (a failure
# under CI=true).
set -euo pipefail

usage="usage: browser_pubsub_test.sh <pubsub_server> [node dir] [screenshot dir]"
server_bin=$(realpath "${1:?$usage}")
bin_dir=$(dirname "$server_bin")
node_dir=${2:-$bin_dir/../node}
shot_dir=${3:-$bin_dir/../interop}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

skip() {
    if [[ ${CI:-} == true ]]; then
        echo "FAIL: $1, and CI=true: the CI installs it (cmake/install_deps.sh)"
        exit 1
    fi
    echo "SKIP: $1"
    exit 77
}
chromium_bin=${WSX_CHROMIUM:-$(command -v chromium || true)}
[[ -n $chromium_bin && -x $chromium_bin ]] || skip "chromium is not installed (apt-get install -y chromium)"
command -v node >/dev/null || skip "node is not installed (apt-get install -y nodejs npm)"

mkdir -p "$node_dir" "$shot_dir"
node_dir=$(realpath "$node_dir")
shot_dir=$(realpath "$shot_dir")
if [[ ! -f $node_dir/node_modules/playwright-core/package.json ]]; then
    command -v npm >/dev/null || { echo "FAIL: playwright-core is not in $node_dir and npm is not installed"; exit 1; }
    # The same pins as browser_test.sh (1.49.1 for Debian 12's Node 18).
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    version=1.65.1
    ((node_major >= 20)) || version=1.49.1
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "playwright-core@$version"
fi

work=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$server_bin" --host 127.0.0.1 --port 0 >"$work/server.out" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
    port=$(grep -o '://127\.0\.0\.1:[0-9]*' "$work/server.out" | head -1 | sed 's/.*://' || true)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL: pubsub_server exited early:"; cat "$work/server.out"; exit 1; }
    sleep 0.05
done
[[ -n $port ]] || { echo "FAIL: pubsub_server did not print its port:"; cat "$work/server.out"; exit 1; }
echo "pubsub_server on port $port (pid $pid)"

status=0
WSX_CHROMIUM=$chromium_bin WSX_NODE_DIR=$node_dir WSX_SHOT_DIR=$shot_dir WSX_PROFILE_DIR=$work/profile \
    timeout 120 node "$here/browser_pubsub_test.js" "http://127.0.0.1:$port/" || status=$?

kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
server_status=0
wait "$pid" || server_status=$?
pid=
if ((server_status != 0)) || grep -qE 'Sanitizer|runtime error' "$work/server.out"; then
    echo "FAIL: pubsub_server exited with status $server_status:"; cat "$work/server.out"
    status=1
else
    echo "ok   pubsub_server stops on SIGTERM with status 0"
fi
exit $status

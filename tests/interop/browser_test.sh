#!/usr/bin/env bash
# Interop: headless Chromium against wsx's broadcast example, the page it serves
# at "/" in two tabs (chat between them, the live connection list from the REST
# hook), driven with the npm package playwright-core.
#
# Usage: browser_test.sh <path to broadcast_server> [node dir] [screenshot dir]
#   node dir        where playwright-core is (or gets) installed with
#                   `npm install --prefix <node dir> playwright-core`;
#                   default: <dir of the binary>/../node
#   screenshot dir  where the PNGs go; default: <dir of the binary>/../interop
#
# Exits 0 with "SKIP: ..." only when chromium or node is not installed
# (apt-get install -y chromium nodejs npm); any other problem is a failure.
set -euo pipefail

server_bin=${1:?usage: browser_test.sh <path to broadcast_server> [node dir] [screenshot dir]}
server_bin=$(realpath "$server_bin")
bin_dir=$(dirname "$server_bin")
node_dir=${2:-$bin_dir/../node}
shot_dir=${3:-$bin_dir/../interop}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

chromium_bin=${WSX_CHROMIUM:-$(command -v chromium || true)}
if [[ -z $chromium_bin || ! -x $chromium_bin ]]; then
    echo "SKIP: chromium is not installed (apt-get install -y chromium)"
    exit 0
fi
if ! command -v node >/dev/null; then
    echo "SKIP: node is not installed (apt-get install -y nodejs npm)"
    exit 0
fi

mkdir -p "$node_dir" "$shot_dir"
node_dir=$(realpath "$node_dir")
shot_dir=$(realpath "$shot_dir")
if [[ ! -f $node_dir/node_modules/playwright-core/package.json ]]; then
    if ! command -v npm >/dev/null; then
        echo "FAIL: playwright-core is not in $node_dir and npm is not installed to fetch it (apt-get install -y npm)"
        exit 1
    fi
    # playwright-core downloads no browser: it drives the system chromium.
    # Pinned: 1.65.1 is what this test was written against (it needs Node 20);
    # 1.49.1 is the newest that supports Debian 12's Node 18.
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    version=1.65.1
    ((node_major >= 20)) || version=1.49.1
    echo "installing playwright-core@$version into $node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "playwright-core@$version"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and prints it.
"$server_bin" --host 127.0.0.1 --port 0 >"$work/server.out" 2>&1 &
server_pid=$!
port=
for _ in $(seq 100); do
    port=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.out" | head -1 | sed 's/.*://' || true)
    [[ -n $port ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "FAIL: broadcast_server exited early:"; cat "$work/server.out"; exit 1
    fi
    sleep 0.05
done
if [[ -z $port ]]; then
    echo "FAIL: broadcast_server did not print its port:"; cat "$work/server.out"; exit 1
fi
echo "broadcast_server on port $port (pid $server_pid)"

status=0
WSX_CHROMIUM=$chromium_bin WSX_NODE_DIR=$node_dir WSX_SHOT_DIR=$shot_dir WSX_PROFILE_DIR=$work/profile \
    timeout 120 node "$here/browser_test.js" "http://127.0.0.1:$port/" || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL: broadcast_server died during the test:"; cat "$work/server.out"
    exit 1
fi
# SIGTERM stops the server gracefully: it must exit 0, in time, with no
# sanitizer report (when built with WSX_SANITIZE).
kill -TERM "$server_pid"
server_status=0
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL: broadcast_server did not stop within 10 s of SIGTERM"
    status=1
else
    wait "$server_pid" || server_status=$?
    server_pid=
    if ((server_status != 0)) || grep -qE 'Sanitizer|runtime error' "$work/server.out"; then
        echo "FAIL: broadcast_server exited with status $server_status:"; cat "$work/server.out"
        status=1
    else
        echo "ok   broadcast_server stops on SIGTERM with status 0"
    fi
fi
exit $status

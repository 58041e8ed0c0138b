#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Interop: headless Chromium, driven with the npm package playwright-core,
#  - against wsx's broadcast example: the page it serves at "/" in two tabs (chat
#    between them, the live connection list from the REST hook; browser_test.js);
#  - against wsx's echo example: the browser's own WebSocket from a blank page
#    (text, binary, large, ordered messages, close codes; browser_echo_test.js).
#  With --h2 instead: the broadcast example over https:// with --http2 (a
#  self-signed certificate made here with the openssl CLI), the same two tabs,
#  their pages and WebSockets (RFC 8441) on one HTTP/2 connection.
#
# Usage: browser_test.sh <broadcast_server> <echo_server> [node dir] [screenshot dir]
#        browser_test.sh --h2 <broadcast_server> [node dir] [screenshot dir]
#   node dir        where playwright-core is (or gets) installed with
#                   `npm install --prefix <node dir> playwright-core`;
#                   default: <dir of the binary>/../node
#   screenshot dir  where the PNGs go; default: <dir of the binary>/../interop
#
# Exits 77 (CTest's SKIP_RETURN_CODE for this test) with "SKIP: ..." when
# chromium or node is not installed (apt-get install -y chromium nodejs npm).
# Under CI (CI=true; tests/run_all.sh installs both) that is a failure, exit 1.
# Any other problem is a failure too.
set -euo pipefail

usage="usage: browser_test.sh [--h2 <broadcast_server> | <broadcast_server> <echo_server>] [node dir] [screenshot dir]"
h2=
if [[ ${1:-} == --h2 ]]; then
    h2=1
    broadcast_bin=$(realpath "${2:?$usage}")
    shift 2
else
    broadcast_bin=$(realpath "${1:?$usage}")
    echo_bin=$(realpath "${2:?$usage}")
    shift 2
fi
bin_dir=$(dirname "$broadcast_bin")
node_dir=${1:-$bin_dir/../node}
shot_dir=${2:-$bin_dir/../interop}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# skip REASON: nothing to run this test with. A skip, not a pass; under CI,
# where the dependencies are installed first, a failure.
skip() {
    if [[ ${CI:-} == true ]]; then
        echo "FAIL: $1, and CI=true: the CI installs it (cmake/install_deps.sh)"
        exit 1
    fi
    echo "SKIP: $1"
    exit 77
}

chromium_bin=${WSX_CHROMIUM:-$(command -v chromium || true)}
if [[ -z $chromium_bin || ! -x $chromium_bin ]]; then
    skip "chromium is not installed (apt-get install -y chromium)"
fi
if ! command -v node >/dev/null; then
    skip "node is not installed (apt-get install -y nodejs npm)"
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
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_server NAME BINARY [ARGS...]: starts it on port 0 (it picks a free
# port and prints its URL); sets $port and $pid.
start_server() {
    local name=$1 binary=$2
    shift 2
    "$binary" --host 127.0.0.1 --port 0 "$@" >"$work/$name.out" 2>&1 &
    pid=$!
    pids+=("$pid")
    port=
    for _ in $(seq 100); do
        port=$(grep -o '://127\.0\.0\.1:[0-9]*' "$work/$name.out" | head -1 | sed 's/.*://' || true)
        [[ -n $port ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: $name exited early:"; cat "$work/$name.out"; exit 1
        fi
        sleep 0.05
    done
    if [[ -z $port ]]; then
        echo "FAIL: $name did not print its port:"; cat "$work/$name.out"; exit 1
    fi
    echo "$name on port $port (pid $pid)"
}

# stop_server NAME PID [signalled]: SIGTERM stops the server gracefully: it
# must exit 0, in time, with no sanitizer report (when built with
# WSX_SANITIZE). Returns non-zero otherwise. With "signalled" the test has
# already sent SIGTERM, so we only wait: a second SIGTERM that lands after
# run() has returned (the signal handler is gone, ASan's exit checks are slow)
# would take the default action and end the process with 143.
stop_server() {
    local name=$1 pid=$2 signalled=${3:-} server_status=0
    [[ $signalled == signalled ]] || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "FAIL: $name did not stop within 10 s of SIGTERM"
        return 1
    fi
    wait "$pid" || server_status=$?
    if ((server_status != 0)) || grep -qE 'Sanitizer|runtime error' "$work/$name.out"; then
        echo "FAIL: $name exited with status $server_status:"; cat "$work/$name.out"
        return 1
    fi
    echo "ok   $name stops on SIGTERM with status 0"
}

export WSX_CHROMIUM=$chromium_bin WSX_NODE_DIR=$node_dir WSX_SHOT_DIR=$shot_dir
status=0

if [[ -n $h2 ]]; then
    echo "== the broadcast page in two tabs, over https:// and HTTP/2"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    start_server broadcast_server "$broadcast_bin" --http2 --cert "$work/cert.pem" --key "$work/key.pem"
    WSX_PROFILE_DIR=$work/profile-h2 timeout 60 node "$here/browser_test.js" "https://127.0.0.1:$port/" || status=$?
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "FAIL: broadcast_server died during the test:"; cat "$work/broadcast_server.out"
        status=1
    fi
    stop_server broadcast_server "$pid" || status=1
    exit $status
fi

echo "== the broadcast page in two tabs"
start_server broadcast_server "$broadcast_bin"
broadcast_pid=$pid
WSX_PROFILE_DIR=$work/profile-broadcast timeout 120 node "$here/browser_test.js" "http://127.0.0.1:$port/" || status=$?
if ! kill -0 "$broadcast_pid" 2>/dev/null; then
    echo "FAIL: broadcast_server died during the test:"; cat "$work/broadcast_server.out"
    status=1
fi
stop_server broadcast_server "$broadcast_pid" || status=1

echo "== the browser's WebSocket against the echo server"
start_server echo_server "$echo_bin"
echo_status=0
WSX_PROFILE_DIR=$work/profile-echo timeout 120 node "$here/browser_echo_test.js" "ws://127.0.0.1:$port/" "$pid" || echo_status=$?
# The page test ends by sending SIGTERM itself; if it failed early it may not have.
if ((echo_status == 0)); then
    stop_server echo_server "$pid" signalled || status=1
else
    status=$echo_status
    stop_server echo_server "$pid" || status=1
fi
exit $status

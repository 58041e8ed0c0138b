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
#  With --wss: the browser's WebSocket against the TLS echo example over
#  wss:// (HTTP/1.1 chosen by ALPN), Chromium's TLS stack against our record
#  driver (browser_echo_test.js).
#
# Usage: browser_test.sh <broadcast_server> <echo_server> [node dir] [screenshot dir]
#        browser_test.sh --h2 <broadcast_server> [node dir] [screenshot dir]
#        browser_test.sh --wss <tls_echo_server> [node dir] [screenshot dir]
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

usage="usage: browser_test.sh [--h2 <broadcast_server> | --wss <tls_echo_server> | <broadcast_server> <echo_server>] [node dir] [screenshot dir]"
mode=plain
if [[ ${1:-} == --h2 || ${1:-} == --wss ]]; then
    mode=${1#--}
    server_bin=$(realpath "${2:?$usage}")
    shift 2
else
    server_bin=$(realpath "${1:?$usage}")
    echo_bin=$(realpath "${2:?$usage}")
    shift 2
fi
bin_dir=$(dirname "$server_bin")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/browser_env.sh"
browser_env "${1:-$bin_dir/../node}" "${2:-$bin_dir/../interop}"
status=0

# echo_page NAME URL: browser_echo_test.js against the server started last
# ($pid); the page test ends by sending SIGTERM itself.
echo_page() {
    local name=$1 url=$2 echo_status=0
    WSX_PROFILE_DIR=$work/profile-$name timeout 120 node "$here/browser_echo_test.js" "$url" "$pid" || echo_status=$?
    if ((echo_status == 0)); then
        stop_server "$name" "$pid" signalled || status=1
    else
        status=$echo_status
        stop_server "$name" "$pid" || status=1
    fi
}

if [[ $mode == h2 ]]; then
    echo "== the broadcast page in two tabs, over https:// and HTTP/2"
    make_self_signed
    start_server broadcast_server "$server_bin" --http2 --cert "$work/cert.pem" --key "$work/key.pem"
    WSX_PROFILE_DIR=$work/profile-h2 timeout 60 node "$here/browser_test.js" "https://127.0.0.1:$port/" || status=$?
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "FAIL: broadcast_server died during the test:"; cat "$work/broadcast_server.out"
        status=1
    fi
    stop_server broadcast_server "$pid" || status=1
    exit $status
fi

if [[ $mode == wss ]]; then
    echo "== the browser's WebSocket against the TLS echo server, over wss://"
    make_self_signed
    start_server tls_echo_server "$server_bin" --cert "$work/cert.pem" --key "$work/key.pem"
    echo_page tls_echo_server "wss://127.0.0.1:$port/"
    exit $status
fi

echo "== the broadcast page in two tabs"
start_server broadcast_server "$server_bin"
broadcast_pid=$pid
WSX_PROFILE_DIR=$work/profile-broadcast timeout 120 node "$here/browser_test.js" "http://127.0.0.1:$port/" || status=$?
if ! kill -0 "$broadcast_pid" 2>/dev/null; then
    echo "FAIL: broadcast_server died during the test:"; cat "$work/broadcast_server.out"
    status=1
fi
stop_server broadcast_server "$broadcast_pid" || status=1

echo "== the browser's WebSocket against the echo server"
start_server echo_server "$echo_bin"
echo_page echo_server "ws://127.0.0.1:$port/"
exit $status

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
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/browser_env.sh"
browser_env "${2:-$bin_dir/../node}" "${3:-$bin_dir/../interop}"

start_server pubsub_server "$server_bin"
status=0
WSX_PROFILE_DIR=$work/profile timeout 120 node "$here/browser_pubsub_test.js" "http://127.0.0.1:$port/" || status=$?
stop_server pubsub_server "$pid" || status=1
exit $status

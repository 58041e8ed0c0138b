# SPDX-License-Identifier: BSL-1.0
# Sourced by the headless-Chromium tests (browser_test.sh,
# browser_pubsub_test.sh): what each of them needs before its page runs.
#   browser_env NODE_DIR SHOT_DIR   checks chromium and node (a skip, exit 77,
#                                   when missing; a failure under CI=true),
#                                   installs playwright-core into NODE_DIR, makes
#                                   $work (removed on exit) and exports what the
#                                   .js tests read: WSX_CHROMIUM, WSX_NODE_DIR,
#                                   WSX_SHOT_DIR
#   start_server NAME BINARY [ARGS...]   sets $port and $pid
#   stop_server NAME PID [signalled]     non-zero unless it exits 0 on SIGTERM
#                                        with no sanitizer report

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

pids=()
work=
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    [[ -z $work ]] || rm -rf "$work"
}

browser_env() {
    local node_dir=$1 shot_dir=$2
    local chromium_bin=${WSX_CHROMIUM:-$(command -v chromium || true)}
    [[ -n $chromium_bin && -x $chromium_bin ]] || skip "chromium is not installed (apt-get install -y chromium)"
    command -v node >/dev/null || skip "node is not installed (apt-get install -y nodejs npm)"

    mkdir -p "$node_dir" "$shot_dir"
    node_dir=$(realpath "$node_dir")
    shot_dir=$(realpath "$shot_dir")
    if [[ ! -f $node_dir/node_modules/playwright-core/package.json ]]; then
        if ! command -v npm >/dev/null; then
            echo "FAIL: playwright-core is not in $node_dir and npm is not installed to fetch it (apt-get install -y npm)"
            exit 1
        fi
        # playwright-core downloads no browser: it drives the system chromium.
        # Pinned: 1.65.1 is what these tests were written against (it needs
        # Node 20); 1.49.1 is the newest that supports Debian 12's Node 18.
        local node_major version=1.65.1
        node_major=$(node -p 'process.versions.node.split(".")[0]')
        ((node_major >= 20)) || version=1.49.1
        echo "installing playwright-core@$version into $node_dir"
        npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error "playwright-core@$version"
    fi
    work=$(mktemp -d)
    trap cleanup EXIT
    export WSX_CHROMIUM=$chromium_bin WSX_NODE_DIR=$node_dir WSX_SHOT_DIR=$shot_dir
}

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

# A self-signed certificate for localhost and 127.0.0.1 in $work (cert.pem,
# key.pem): the pages run with ignoreHTTPSErrors.
make_self_signed() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
}

#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# The wsx benchmark suite, in one command: builds everything (Release), pins
# each echo server to one core and the load generator to another, runs
# interleaved rounds of every scenario against wsx, Boost.Beast, websocketpp
# and a raw TCP epoll echo (and uWebSockets when its sources are found, plain
# and wss://), and prints a markdown table of medians and ratios
# (with the CPU use of both processes next to every figure), then the codec
# micro-benchmarks and the callgrind instruction counts per echoed message.
#
#   benchmarks/run.sh                 full suite (~15 min on 2 cores)
#   benchmarks/run.sh --smoke         every scenario at tiny sizes, a few
#                                     seconds each; exits non-zero if a server
#                                     or the load generator breaks (CI)
# Options:
#   --rounds N        interleaved rounds (default 5; smoke 1)
#   --duration S      measured seconds per throughput cell (default 2)
#   --only LIST       comma-separated scenarios (see `scenarios` below), or
#                     "codec" / "callgrind"
#   --servers LIST    comma-separated subset of: wsx,uws,beast,wspp,raw,wsx_uring (uws: when
#                     the uWebSockets sources are found, see BENCHMARKS.md;
#                     wsx_uring: wsx on Asio's io_uring backend, when liburing is found,
#                     only when named here)
#   --no-codec        skip the Google Benchmark codec run
#   --no-callgrind    skip the callgrind instruction counts
#   --out DIR         where results and logs go (default build-bench/results/DATE)
# Environment: WSX_BENCH_BUILD (build dir, default <repo>/build-bench),
# WSX_BENCH_PORT (first port to try, default random in 20000-29999), WSX_BENCH_SERVER_CPU (0),
# WSX_BENCH_LOADGEN_CPU (1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

smoke=0
rounds=""
duration=""
only=""
servers_opt=""
codec=1
callgrind=1
out=""
while (($#)); do
    case "$1" in
    --smoke) smoke=1 ;;
    --rounds) rounds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --only) only=$2; shift ;;
    --servers) servers_opt=$2; shift ;;
    --no-codec) codec=0 ;;
    --no-callgrind) callgrind=0 ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# ---- dependencies (Debian packages), installed when missing ------------------
install_missing() {
    local packages=(cmake ninja-build g++ libasio-dev libsimdjson-dev libboost1.81-dev
                    libwebsocketpp-dev libbenchmark-dev valgrind python3)
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "== installing: ${missing[*]}"
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
        echo "run.sh: could not install ${missing[*]}; peers that need them are skipped" >&2
    fi
}
if command -v dpkg-query >/dev/null; then install_missing; fi

# ---- build -------------------------------------------------------------------
build=${WSX_BENCH_BUILD:-$root/build-bench}
echo "== build (Release) in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_BUILD_BENCHMARKS=ON \
    -DWSX_BUILD_TESTS=OFF -DWSX_BUILD_EXAMPLES=OFF >/dev/null
targets=(wsx_loadgen wsx_bench_server raw_echo_server)
cmake --build "$build" --target help | grep -q '^uws_bench_server:' && targets+=(uws_bench_server)
cmake --build "$build" --target help | grep -q '^uws_bench_server_tls:' && targets+=(uws_bench_server_tls)
# The io_uring build (its own compiled Asio) only when --servers asks for it.
case ",$servers_opt," in *,wsx_uring,*)
    cmake --build "$build" --target help | grep -q '^wsx_bench_server_uring:' && targets+=(wsx_bench_server_uring) ;;
esac
cmake --build "$build" --target help | grep -q beast_echo_server && targets+=(beast_echo_server)
cmake --build "$build" --target help | grep -q wspp_echo_server && targets+=(wspp_echo_server)
cmake --build "$build" --target help | grep -q wsx_codec_bench && targets+=(wsx_codec_bench)
# WebSockets over HTTP/2 (issue #17): when wsx::http2 is built (nghttp2 found).
cmake --build "$build" --target help | grep -q '^wsx_h2_loadgen:' && targets+=(wsx_h2_loadgen)
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
bin=$build/benchmarks

# ---- machine -------------------------------------------------------------------
# 10,000 clients need 10,000 descriptors in each process: go to the hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)
ncpu=$(nproc)
server_cpu=${WSX_BENCH_SERVER_CPU:-0}
loadgen_cpu=${WSX_BENCH_LOADGEN_CPU:-1}
if ((ncpu < 2)); then loadgen_cpu=$server_cpu; fi
port_base=${WSX_BENCH_PORT:-$((20000 + RANDOM % 10000))}

if ((smoke)); then
    rounds=${rounds:-1}
    duration=${duration:-0.3}
    warmup=0.1
    big=200   # broadcast / idle client count
    bcast_small=50
    conns=10
    rate=2000
    timeout_s=30
else
    rounds=${rounds:-5}
    duration=${duration:-2}
    warmup=0.5
    big=10000
    bcast_small=1000
    conns=100
    rate=10000
    timeout_s=120
fi
# Keep clear of the descriptor limit (each process also has a few of its own).
if ((big + 100 > fd_limit)); then
    echo "run.sh: open-file limit $fd_limit is below $big connections; using $((fd_limit - 200))" >&2
    big=$((fd_limit - 200))
fi

suffix=""
((smoke)) && suffix=-smoke
out=${out:-$build/results/$(date +%Y%m%d-%H%M%S)$suffix}
mkdir -p "$out"
results=$out/results.txt
: >"$results"
logs=$out/logs
mkdir -p "$logs"

# ---- servers -------------------------------------------------------------------
declare -A server_bin=([wsx]=wsx_bench_server [uws]=uws_bench_server [beast]=beast_echo_server [wspp]=wspp_echo_server [raw]=raw_echo_server [wsx_uring]=wsx_bench_server_uring)
# Other people's servers may run on this machine: take ports nobody listens on
# (below the ephemeral range), and check after each start that our server is
# the one that answered.
declare -A server_port=()
next_port=$port_base
free_port() {
    while ss -Hltn "( sport = :$next_port )" 2>/dev/null | grep -q .; do next_port=$((next_port + 1)); done
    echo "$next_port"
    next_port=$((next_port + 1))
}
for s in wsx uws beast wspp raw wsx_uring; do server_port[$s]=$(free_port); next_port=$((server_port[$s] + 1)); done
servers=()
for s in wsx uws beast wspp raw wsx_uring; do
    if [ -n "$servers_opt" ] && [[ ",$servers_opt," != *",$s,"* ]]; then continue; fi
    # The io_uring build only when asked for (--servers ...,wsx_uring).
    if [ -z "$servers_opt" ] && [ "$s" = wsx_uring ]; then continue; fi
    if [ -x "$bin/${server_bin[$s]}" ]; then servers+=("$s"); else echo "run.sh: no ${server_bin[$s]} built: $s skipped" >&2; fi
done

failures=0
server_pid=""


raw_flag() { [ "$1" = raw ] && echo --raw || true; }

# wss:// (the tls_* scenarios): a throw-away certificate, the servers that
# serve TLS, and a load generator built with OpenSSL.
declare -A server_bin_tls=([wsx]=wsx_bench_server [uws]=uws_bench_server_tls)
tls_ok=0
tls_dir=$out/tls
if command -v openssl >/dev/null && mkdir -p "$tls_dir" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" >/dev/null 2>&1 &&
    ! "$bin/wsx_loadgen" probe --tls --port 1 --timeout 0 2>&1 | grep -q "without OpenSSL"; then
    tls_ok=1
else
    echo "run.sh: no openssl command or a load generator without OpenSSL: wss:// rows skipped" >&2
fi
tls_scenario() { [[ $1 == tls_* ]]; }
# server tls -> the binary and its TLS arguments (nothing when it has no TLS build)
server_cmd() {
    local s=$1 tls=$2
    if ((tls)); then
        [ -n "${server_bin_tls[$s]:-}" ] && [ -x "$bin/${server_bin_tls[$s]}" ] || return 1
        echo "$bin/${server_bin_tls[$s]} --cert $tls_dir/cert.pem --key $tls_dir/key.pem"
    else
        echo "$bin/${server_bin[$s]}"
    fi
}

start_server() { # server mode [tls]
    local s=$1 mode=$2 tls=${3:-0} cmd
    cmd=$(server_cmd "$s" "$tls") || return 1
    local tls_flag=()
    ((tls)) && tls_flag=(--tls)
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" $cmd --port "${server_port[$s]}" --mode "$mode" \
        >>"$logs/$s.log" 2>&1 &
    server_pid=$!
    # Readiness and warm-up: one handshake and one echo (broadcast echoes to the only client).
    if ! timeout 30 "$bin/wsx_loadgen" probe --port "${server_port[$s]}" --timeout 10 $(raw_flag "$s") "${tls_flag[@]}" \
        >/dev/null 2>>"$logs/loadgen.log"; then
        echo "run.sh: $s ($mode) did not come up" >&2
        return 1
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: $s ($mode) exited at start (port ${server_port[$s]} taken?)" >&2
        return 1
    fi
}

stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap stop_server EXIT

# Runs one cell: scenario on one server; appends its RESULT line (or FAIL).
run_cell() { # round scenario server mode loadgen-args...
    local round=$1 scenario=$2 s=$3 mode=$4
    shift 4
    local tag="round=$round scenario=$scenario server=$s"
    local tls=0 tls_flag=()
    if tls_scenario "$scenario"; then tls=1 tls_flag=(--tls); fi
    if ! start_server "$s" "$mode" "$tls"; then
        echo "$tag FAIL server did not start" >>"$results"
        failures=$((failures + 1))
        stop_server
        return 0
    fi
    local line rc=0 loadgen=$bin/wsx_loadgen
    # h2echo: the HTTP/2 load generator (WebSocket streams over h2c).
    [ "$1" = h2echo ] && loadgen=$bin/wsx_h2_loadgen
    line=$(timeout "$timeout_s" taskset -c "$loadgen_cpu" "$loadgen" "$@" --port "${server_port[$s]}" \
        --server-pid "$server_pid" $(raw_flag "$s") "${tls_flag[@]}" 2>>"$logs/loadgen.log") || rc=$?
    if ((rc != 0)) || ! kill -0 "$server_pid" 2>/dev/null; then
        local why="load generator exit $rc"
        kill -0 "$server_pid" 2>/dev/null || why="server died"
        echo "$tag FAIL $why" >>"$results"
        echo "run.sh: FAIL $scenario on $s: $why (see $logs/)" >&2
        failures=$((failures + 1))
    else
        echo "$tag ${line#RESULT }" >>"$results"
        printf '  %-12s %-6s %s\n' "$scenario" "$s" "${line#RESULT }"
    fi
    stop_server
}

# name | server mode | load generator arguments | servers (default: all)
scenarios=(
    "echo_20_1|echo|echo --conns $conns --inflight 1 --size 20"
    "echo_20_32|echo|echo --conns $conns --inflight 32 --size 20"
    "echo_16k_1|echo|echo --conns $conns --inflight 1 --size 16384 --binary"
    "echo_16k_32|echo|echo --conns $conns --inflight 32 --size 16384 --binary"
    "echo_1m|echo|echo --conns $((smoke ? 2 : 10)) --inflight 1 --size 1048576 --binary"
    "bcast_small|broadcast|broadcast --conns $bcast_small --size 100 --rounds 20 --window 32"
    "bcast_big|broadcast|broadcast --conns $big --size 100 --rounds $((smoke ? 5 : 20)) --window 32"
    "bcast_small_list|broadcast-list|broadcast --conns $bcast_small --size 100 --rounds 20 --window 32|wsx"
    "bcast_big_list|broadcast-list|broadcast --conns $big --size 100 --rounds $((smoke ? 5 : 20)) --window 32|wsx"
    "churn|echo|churn --concurrency 32"
    "latency|echo|latency --conns $conns --rate $rate --size 20"
    "idle|echo|idle --conns $big --size 20"
    "cross_thread|cross-thread|feed --conns $conns --size 64 --path /feed|wsx"
    # wss:// (issue #15): the servers with a TLS build
    "tls_20_1|echo|echo --conns $conns --inflight 1 --size 20|wsx,uws"
    "tls_16k_1|echo|echo --conns $conns --inflight 1 --size 16384 --binary|wsx,uws"
    "tls_256k_1|echo|echo --conns $((smoke ? 2 : 10)) --inflight 1 --size 262144 --binary|wsx,uws"
    "tls_idle|echo|idle --conns $((smoke ? 50 : 2000)) --size 20|wsx,uws"
)
# WebSockets over HTTP/2 (RFC 8441, issue #17), wsx only, one server serving
# both: 20 B echo, 1 in flight per WebSocket, over HTTP/1.1 (100 connections),
# over one h2c connection carrying 100 streams, over 100 h2c connections.
if [ -x "$bin/wsx_h2_loadgen" ]; then
    scenarios+=(
        "h2_h1_100|echo-h2|echo --conns $conns --inflight 1 --size 20|wsx"
        "h2_streams_100|echo-h2|h2echo --conns 1 --streams $conns --inflight 1 --size 20|wsx"
        "h2_conns_100|echo-h2|h2echo --conns $conns --streams 1 --inflight 1 --size 20|wsx"
    )
else
    echo "run.sh: no wsx_h2_loadgen (wsx::http2 not built: nghttp2 missing): HTTP/2 rows skipped" >&2
fi

wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

echo "== machine: $ncpu cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), server on CPU $server_cpu, load generator on CPU $loadgen_cpu, open-file limit $fd_limit"
echo "== $rounds round(s), ${duration}s per cell; servers: ${servers[*]}; results in $out"
{
    echo "machine=\"$ncpu cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)\""
    echo "settings=\"rounds=$rounds duration=${duration}s warmup=${warmup}s conns=$conns big=$big bcast_small=$bcast_small rate=$rate server_cpu=$server_cpu loadgen_cpu=$loadgen_cpu\""
} >"$out/meta.txt"

for ((round = 1; round <= rounds; round++)); do
    echo "== round $round/$rounds"
    for entry in "${scenarios[@]}"; do
        IFS='|' read -r name mode args only_servers <<<"$entry"
        wanted "$name" || continue
        if tls_scenario "$name" && ((!tls_ok)); then continue; fi
        common=(--duration "$duration" --warmup "$warmup" --timeout "$((timeout_s / 2))")
        ((smoke)) && [[ $name == echo_* ]] && common+=(--verify)
        # Rotate the order of the servers from round to round.
        n=${#servers[@]}
        for ((k = 0; k < n; k++)); do
            s=${servers[$(((k + round - 1) % n))]}
            if [ -n "$only_servers" ] && [[ ",$only_servers," != *",$s,"* ]]; then continue; fi
            if tls_scenario "$name" && ! server_cmd "$s" 1 >/dev/null; then continue; fi
            # shellcheck disable=SC2086
            run_cell "$round" "$name" "$s" "$mode" $args "${common[@]}"
        done
    done
done

# ---- codec micro-benchmarks -------------------------------------------------------
if ((codec)) && [ -x "$bin/wsx_codec_bench" ] && { [ -z "$only" ] || wanted codec; }; then
    echo "== codec micro-benchmarks (Google Benchmark, on CPU $server_cpu)"
    if ((smoke)); then bench_args=(--benchmark_min_time=0.01); else bench_args=(--benchmark_min_time=0.2 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true); fi
    if ! taskset -c "$server_cpu" "$bin/wsx_codec_bench" "${bench_args[@]}" \
        --benchmark_out="$out/codec.json" --benchmark_out_format=json >"$logs/codec.txt" 2>&1; then
        echo "run.sh: FAIL codec benchmarks (see $logs/codec.txt)" >&2
        failures=$((failures + 1))
    fi
fi

# ---- callgrind: instructions per echoed message --------------------------------------
# Two runs per server, N1 and N2 messages over the same 10 connections; the
# difference divided by N2 - N1 cancels start-up, handshakes and shutdown.
callgrind_run() { # server inflight messages -> prints the instruction total
    local s=$1 inflight=$2 messages=$3
    local cg=$out/callgrind.$s.$inflight.$messages.out
    taskset -c "$server_cpu" valgrind --tool=callgrind --callgrind-out-file="$cg" \
        "$bin/${server_bin[$s]}" --port "${server_port[$s]}" --mode echo >>"$logs/callgrind.log" 2>&1 &
    server_pid=$!
    if ! timeout 120 "$bin/wsx_loadgen" probe --port "${server_port[$s]}" --timeout 60 $(raw_flag "$s") >/dev/null 2>>"$logs/loadgen.log" ||
        ! timeout 300 taskset -c "$loadgen_cpu" "$bin/wsx_loadgen" echo --conns 10 --inflight "$inflight" --size 20 \
            --messages "$messages" --timeout 240 --port "${server_port[$s]}" $(raw_flag "$s") >/dev/null 2>>"$logs/loadgen.log"; then
        stop_server
        return 1
    fi
    stop_server
    grep -E '^(summary|totals):' "$cg" | head -1 | awk '{print $2}'
}
if ((callgrind)) && command -v valgrind >/dev/null && { [ -z "$only" ] || wanted callgrind; }; then
    echo "== callgrind: instructions per echoed 20 B message"
    if ((smoke)); then n1=200 n2=1200 cg_servers=(wsx); else n1=2000 n2=22000 cg_servers=("${servers[@]}"); fi
    for s in "${cg_servers[@]}"; do
        for inflight in 1 32; do
            if a=$(callgrind_run "$s" "$inflight" "$n1") && b=$(callgrind_run "$s" "$inflight" "$n2") && [ -n "$a" ] && [ -n "$b" ]; then
                per=$(((b - a) / (n2 - n1)))
                echo "round=1 scenario=callgrind_$inflight server=$s ir_per_msg=$per ir_n1=$a ir_n2=$b n1=$n1 n2=$n2" >>"$results"
                printf '  callgrind %-6s %2d in flight: %s instructions per message\n' "$s" "$inflight" "$per"
            else
                echo "round=1 scenario=callgrind_$inflight server=$s FAIL callgrind run" >>"$results"
                echo "run.sh: FAIL callgrind on $s (see $logs/callgrind.log)" >&2
                failures=$((failures + 1))
            fi
        done
    done
fi

# ---- the table ------------------------------------------------------------------
python3 "$here/report.py" "$out" | tee "$out/table.md"
echo
echo "results: $results; table: $out/table.md; logs: $logs/"
if ((failures)); then
    echo "run.sh: $failures failure(s)" >&2
    exit 1
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Builds the wsx libFuzzer targets with clang in build-fuzz and runs each one on its seed
# corpus for the given number of seconds (default 60). Exits non-zero if any target
# crashes, leaks, times out or fails an invariant. Crash inputs land in
# build-fuzz/artifacts/<target>/; new corpus entries in build-fuzz/corpus/<target>/
# (the checked-in seeds are never modified).
#
#   tests/fuzz/run_fuzzers.sh [seconds] [target...]
# WSX_FUZZ_PARALLEL (default: the number of cores) targets run at once.
set -u
seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build-fuzz"
jobs="${WSX_FUZZ_BUILD_JOBS:-2}"

# Configure from the top level when it knows WSX_BUILD_FUZZERS, else on tests/fuzz alone.
if grep -q WSX_BUILD_FUZZERS "$root/CMakeLists.txt"; then
    src="$root"
    extra=(-DWSX_BUILD_FUZZERS=ON -DWSX_BUILD_TESTS=OFF -DWSX_BUILD_EXAMPLES=OFF
           -DWSX_BUILD_BENCHMARKS=OFF -DWSX_INSTALL=OFF)
    bindir="$build/tests/fuzz"
else
    src="$here"
    extra=()
    bindir="$build"
fi
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "CMAKE_HOME_DIRECTORY:INTERNAL=$src\$" "$build/CMakeCache.txt"; then
    echo "run_fuzzers: $build was configured from another source directory; remove it" >&2
    exit 2
fi
cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" -DCMAKE_BUILD_TYPE= \
    "${extra[@]}" >/dev/null || exit 2
cmake --build "$build" --target wsx_fuzzers -j "$jobs" || exit 2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(fuzz_message_assembler fuzz_message_assembler_deflate fuzz_http_request
             fuzz_close_payload fuzz_rest_json fuzz_backplane_envelope fuzz_http2_session)
fi

dict_for() {
    case "$1" in
        fuzz_http_request) echo "$here/http.dict" ;;
        fuzz_message_assembler*|fuzz_close_payload) echo "$here/frame.dict" ;;
        *) echo "" ;;
    esac
}

# run_one TARGET: fuzzes it for $seconds; writes one summary line to
# $build/TARGET.result and exits non-zero on any finding.
run_one() {
    local t=$1 exe="$bindir/$1" result="$build/$1.result"
    if [ ! -x "$exe" ]; then
        echo "$t: not built (wsx::deflate needs zlib?), skipped" >"$result"
        return 0
    fi
    local work="$build/corpus/$t" art="$build/artifacts/$t/"
    mkdir -p "$work" "$art"
    local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096
                -print_final_stats=1 -artifact_prefix="$art" -detect_leaks=1)
    local dict
    dict="$(dict_for "$t")"
    [ -n "$dict" ] && args+=(-dict="$dict")
    local log="$build/$t.log"
    echo "== $t (${seconds}s)"
    # A fresh working corpus dir first, the checked-in seeds read-only second.
    ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
        "$exe" "${args[@]}" "$work" "$here/corpus/$t" >"$log" 2>&1
    local rc=$?
    local last execs
    last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
    execs="$(grep -E 'stat::average_exec_per_sec' "$log" | awk '{print $2}')"
    if [ $rc -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' "$log"; then
        {
            echo "$t: FAILED (exit $rc); log: $log"
            grep -E 'ERROR:|runtime error:|invariant failed|Test unit written' "$log" | head -5
        } >"$result"
        return 1
    fi
    echo "$t: ok, ${execs:-?} exec/s, $last" >"$result"
}

parallel="${WSX_FUZZ_PARALLEL:-$(nproc)}"
status=0
running=0
for t in "${targets[@]}"; do
    if [ "$running" -ge "$parallel" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
    run_one "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
summary=()
for t in "${targets[@]}"; do summary+=("$(cat "$build/$t.result")"); done
echo
printf '%s\n' "${summary[@]}"
exit $status

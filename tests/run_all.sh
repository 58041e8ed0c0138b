#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Installs what is missing (Debian/Ubuntu), builds wsx with every test, and
# runs them under AddressSanitizer and UndefinedBehaviorSanitizer; then the
# packaging tests, the libFuzzer targets for a bounded time
# (WSX_FUZZ_SECONDS each, default 30), the concurrency tests under
# ThreadSanitizer and a benchmark smoke run. Exits non-zero on the first failure.
#
#   tests/run_all.sh            # from the repository root, as root or with sudo
set -euo pipefail
cd "$(dirname "$0")/.."

bash cmake/install_deps.sh test

jobs=$(nproc)

# Each stage says when it starts, in seconds since the run began, so a slow
# CI run shows which stage grew.
stage() { echo "== [$(printf '%4d' "$SECONDS") s] $*"; }

# Every test runs once, in the build that can say the most about it: under
# ASan+UBSan. Building the whole suite a second time without sanitizers took
# 13 of the 41 minutes a run had grown to; optimised code is still exercised
# by the benchmark smoke run at the end (a Release build whose echo rows
# verify every reply).
stage "build and test under AddressSanitizer + UndefinedBehaviorSanitizer"
# -g1: line tables for the sanitizers' reports, without full debug info (a
# quicker build and link of every test).
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
      -DWSX_SANITIZE=address,undefined
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build/asan --output-on-failure -j "$jobs"

# The packaging tests configure, install and build consumer projects of their
# own; they need a configured tree without sanitizers, not a built one.
stage "packaging tests (install, find_package, add_subdirectory, pkg-config, vcpkg and Conan ports)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSX_CHECK_HEADERS=OFF \
      -DWSX_BUILD_EXAMPLES=OFF
ctest --test-dir build/ci --output-on-failure -j "$jobs" -L packaging

# 7 targets, two at a time: 30 s each keeps the whole run under 30 minutes on 2 cores.
fuzz_seconds=${WSX_FUZZ_SECONDS:-30}
stage "libFuzzer: each target for ${fuzz_seconds} s from its seed corpus (clang; any crash, leak or timeout fails)"
bash tests/fuzz/run_fuzzers.sh "$fuzz_seconds"

stage "concurrency tests under ThreadSanitizer"
concurrent='registry_test|connection_test|server_test|rest_test|backplane_redis_test|backpressure_test|coroutine_endpoint_test|pubsub_topics_test'
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DWSX_SANITIZE=thread \
      -DWSX_BUILD_EXAMPLES=OFF
cmake --build build/tsan -j "$jobs" --target registry_test connection_test server_test rest_test backpressure_test \
      coroutine_endpoint_test pubsub_topics_test \
      $(cmake --build build/tsan --target help | grep -o '^backplane_redis_test' || true)
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan --output-on-failure -R "^(${concurrent})\$"

stage "benchmark smoke run (every scenario at tiny sizes; the full run is benchmarks/run.sh)"
bash benchmarks/run.sh --smoke
stage "all stages passed"

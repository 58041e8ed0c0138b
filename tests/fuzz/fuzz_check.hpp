// SPDX-License-Identifier: BSL-1.0
#pragma once
// FUZZ_CHECK(cond): an invariant of a fuzz target. A violation prints the
// condition and aborts, which libFuzzer reports as a crash and saves the input
// (run_fuzzers.sh also looks for "invariant failed" in the log).
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
            std::abort();                                                                         \
        }                                                                                         \
    } while (0)

// SPDX-License-Identifier: BSL-1.0
// Reconnection backoff (include/wsx/backplane/backoff.hpp): exponential,
// capped, jittered within [base/2, base], reset after a success.
#include <wsx/backplane/backoff.hpp>

#include <chrono>
#include <random>
#include <set>

#include "catch.hpp"

using wsx::backplane::backoff;
using ms = std::chrono::milliseconds;

TEST_CASE("the base doubles from the initial delay up to the cap") {
    backoff b{ms{100}, ms{1000}};
    std::mt19937 rng(1);
    const ms expected_bases[] = {ms{100}, ms{200}, ms{400}, ms{800}, ms{1000}, ms{1000}, ms{1000}};
    for (const ms base : expected_bases) {
        CHECK(b.base_delay() == base);
        const ms d = b.next(rng);
        CHECK(d >= base / 2);
        CHECK(d <= base);
    }
    CHECK(b.failures() == 7);
}

TEST_CASE("delays are jittered, never below half the base") {
    std::mt19937 rng(7);
    std::set<ms::rep> seen;
    for (int i = 0; i < 200; ++i) {
        backoff b{ms{400}, ms{400}};
        const ms d = b.next(rng);
        CHECK(d >= ms{200});
        CHECK(d <= ms{400});
        seen.insert(d.count());
    }
    CHECK(seen.size() > 50);  // spread out, not one value
}

TEST_CASE("a success starts again from the initial delay") {
    backoff b{ms{50}, ms{5000}};
    std::mt19937 rng(3);
    for (int i = 0; i < 10; ++i) b.next(rng);
    CHECK(b.base_delay() == ms{5000});
    b.reset();
    CHECK(b.failures() == 0);
    CHECK(b.base_delay() == ms{50});
    CHECK(b.next(rng) <= ms{50});
}

TEST_CASE("many failures do not overflow") {
    backoff b{ms{1}, ms{60000}};
    std::mt19937 rng(5);
    for (int i = 0; i < 1000; ++i) {
        const ms d = b.next(rng);
        CHECK(d >= ms{0});
        CHECK(d <= ms{60000});
    }
    CHECK(b.base_delay() == ms{60000});
}

TEST_CASE("nonsense settings are made usable") {
    backoff zero{ms{0}, ms{0}};
    std::mt19937 rng(9);
    CHECK(zero.initial() == ms{1});
    CHECK(zero.max() >= zero.initial());
    CHECK(zero.next(rng) <= ms{1});
    backoff inverted{ms{500}, ms{100}};
    CHECK(inverted.max() == ms{500});  // the cap is never below the first delay
}

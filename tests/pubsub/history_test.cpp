// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/history.hpp>

#include <string>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;
using wsx::pubsub::plan_resume;
using wsx::pubsub::position;
using history = wsx::pubsub::topic_history<std::string>;

namespace {
std::vector<std::uint64_t> offsets(const history& h, std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> out;
    h.for_each(from, to, [&](std::uint64_t o, const std::string& v) {
        CHECK(v == "m" + std::to_string(o));
        out.push_back(o);
    });
    return out;
}
} // namespace

TEST_CASE("offsets start at 1 and grow by 1; the count bound drops the oldest") {
    history h({.max_messages = 3, .max_age = 0ms});
    const auto t0 = history::clock::time_point{};
    CHECK(h.newest() == 0);
    CHECK(h.oldest_held() == 1);
    for (std::uint64_t i = 1; i <= 5; ++i) CHECK(h.append("m" + std::to_string(i), t0) == i);
    CHECK(h.newest() == 5);
    CHECK(h.size() == 3);
    CHECK(h.oldest_held() == 3);
    CHECK(offsets(h, 1, 5) == std::vector<std::uint64_t>{3, 4, 5});
    CHECK(offsets(h, 4, 5) == std::vector<std::uint64_t>{4, 5});
    CHECK(offsets(h, 4, 4) == std::vector<std::uint64_t>{4});
    CHECK(offsets(h, 6, 5).empty());
}

TEST_CASE("the age bound drops what is older than max_age, and offsets keep growing") {
    history h({.max_messages = 0, .max_age = 10s});
    const auto t0 = history::clock::time_point{} + 1h;
    h.append("m1", t0);
    h.append("m2", t0 + 5s);
    h.trim(t0 + 10s);
    CHECK(h.size() == 2);
    h.trim(t0 + 11s);
    CHECK(h.size() == 1);
    CHECK(h.oldest_held() == 2);
    h.trim(t0 + 16s);
    CHECK(h.empty());
    CHECK(h.oldest_held() == 3);  // nothing held: the next offset
    CHECK(h.append("m3", t0 + 16s) == 3);
}

TEST_CASE("plan_resume: recovered only in the same epoch with nothing missing") {
    const position newest{"E", 150};
    // Everything after 50 is held (oldest 1): replay 51..150.
    auto p = plan_resume({"E", 50}, newest, 1);
    CHECK(p.recovered);
    CHECK(p.replay_from == 51);
    CHECK(p.replay_to == 150);
    // The oldest held is exactly the next one: still complete.
    p = plan_resume({"E", 50}, newest, 51);
    CHECK(p.recovered);
    CHECK(p.replay_from == 51);
    // One missing: a gap, so no replay at all.
    CHECK_FALSE(plan_resume({"E", 50}, newest, 52).recovered);
    // Up to date: recovered, nothing to send, even with an empty history.
    p = plan_resume({"E", 150}, newest, 151);
    CHECK(p.recovered);
    CHECK(p.replay_from > p.replay_to);
    // Another epoch, or an offset the topic never reached.
    CHECK_FALSE(plan_resume({"F", 50}, newest, 1).recovered);
    CHECK_FALSE(plan_resume({"E", 151}, newest, 1).recovered);
    // A fresh topic, resumed from 0 in its epoch: recovered.
    CHECK(plan_resume({"E", 0}, {"E", 0}, 1).recovered);
    CHECK(plan_resume({"E", 0}, {"E", 3}, 1).replay_from == 1);
}

// SPDX-License-Identifier: BSL-1.0
// What an instance knows of its peers (include/wsx/backplane/peer_table.hpp):
// sequence gaps counted as missed, restarts, liveness by heartbeats, the
// cluster-wide connection count, and forgetting old origins.
#include <wsx/backplane/peer_table.hpp>

#include <chrono>

#include "catch.hpp"

using wsx::backplane::peer_table;
using namespace std::chrono_literals;

namespace {
const peer_table::clock::time_point t0{};
}

TEST_CASE("consecutive sequence numbers miss nothing; gaps are counted") {
    peer_table t{3s, 60s};
    CHECK(t.on_envelope("a", 10, t0) == 0);  // first heard: its history is unknown
    CHECK(t.on_envelope("a", 11, t0) == 0);
    CHECK(t.on_envelope("a", 12, t0) == 0);
    CHECK(t.on_envelope("a", 16, t0) == 3);
    CHECK(t.on_envelope("a", 17, t0) == 0);
    // Another origin has its own numbering.
    CHECK(t.on_envelope("b", 1, t0) == 0);
    CHECK(t.on_envelope("b", 3, t0) == 1);
    CHECK(t.on_envelope("a", 18, t0) == 0);
}

TEST_CASE("a sequence that does not grow is a restart, not a loss") {
    peer_table t{3s, 60s};
    t.on_envelope("a", 500, t0);
    CHECK(t.on_envelope("a", 1, t0) == 0);
    CHECK(t.on_envelope("a", 2, t0) == 0);
    CHECK(t.on_envelope("a", 2, t0) == 0);
    CHECK(t.on_envelope("a", 4, t0) == 1);
}

TEST_CASE("peers are alive for the alive window; counts come from heartbeats") {
    peer_table t{3s, 60s};
    CHECK(t.alive(t0) == 0);
    t.on_envelope("a", 1, t0);
    t.on_heartbeat("a", 5, t0);
    t.on_envelope("b", 1, t0 + 1s);
    t.on_heartbeat("b", 7, t0 + 1s);
    t.on_envelope("c", 1, t0 + 1s);  // a message, no heartbeat yet: alive, count unknown
    CHECK(t.alive(t0 + 2s) == 3);
    CHECK(t.connections(t0 + 2s) == 12);
    CHECK(t.alive(t0 + 3500ms) == 2);  // a: silent for more than 3 s
    CHECK(t.connections(t0 + 3500ms) == 7);
    t.on_envelope("a", 2, t0 + 3600ms);
    t.on_heartbeat("a", 6, t0 + 3600ms);
    CHECK(t.connections(t0 + 3600ms) == 13);
}

TEST_CASE("silent origins are forgotten after the forget window, but not before") {
    peer_table t{3s, 60s};
    t.on_envelope("a", 1, t0);
    t.on_envelope("b", 1, t0 + 30s);
    t.expire(t0 + 40s);
    CHECK(t.known() == 2);
    // Still remembered while silent: an outage of our own shows as a gap.
    CHECK(t.alive(t0 + 40s) == 0);
    CHECK(t.on_envelope("a", 5, t0 + 40s) == 3);
    t.expire(t0 + 95s);
    CHECK(t.known() == 1);  // b (last heard at 30 s) is gone; a (40 s) is not
    CHECK(t.on_envelope("b", 9, t0 + 95s) == 0);  // a stranger again
    CHECK(t.on_envelope("a", 7, t0 + 95s) == 1);
}

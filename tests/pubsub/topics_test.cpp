// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/topics.hpp>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "catch.hpp"
#include "memory_connection.hpp"

using wsx::pubsub::position;
using wsx::test::memory_hub;
using wsx::test::memory_peer;

namespace {
struct received {
    std::string op, topic, epoch;
    std::uint64_t offset = 0;
    std::string data;
    std::optional<bool> recovered;
};

received parse(const std::string& json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(json);
    received r;
    r.op = std::string{std::string_view(doc["op"])};
    r.topic = std::string{std::string_view(doc["topic"])};
    std::string_view epoch;
    if (!doc["epoch"].get(epoch)) r.epoch = epoch;
    std::uint64_t offset = 0;
    if (!doc["offset"].get(offset)) r.offset = offset;
    simdjson::dom::element data;
    if (!doc["data"].get(data)) r.data = simdjson::minify(data);
    bool recovered = false;
    if (!doc["recovered"].get(recovered)) r.recovered = recovered;
    return r;
}

std::vector<received> take(memory_peer& p) {
    std::vector<received> out;
    for (const auto& m : p.messages()) out.push_back(parse(m));
    return out;
}

// A registered connection, as the endpoint makes them.
memory_peer& open(memory_hub& hub, wsx::registry& reg, const wsx::endpoint& ep) {
    auto& p = hub.connect(ep);
    reg.add(*p.conn);
    return p;
}
} // namespace

TEST_CASE("publish assigns offsets 1, 2, ... and delivers to the subscribers only") {
    wsx::registry reg;
    wsx::pubsub::topics topics(reg);
    const wsx::endpoint ep{};
    memory_hub hub;
    auto& a = open(hub, reg, ep);
    auto& b = open(hub, reg, ep);

    const auto s = topics.subscribe(*a.conn, "orders", std::nullopt);
    CHECK(s.newest.offset == 0);
    CHECK_FALSE(s.recovered);
    CHECK(s.newest.epoch.size() == 16);
    CHECK(topics.subscribers("orders") == 1);

    const auto p1 = topics.publish("orders", R"({"id":1})");
    const auto p2 = topics.publish("orders", R"("two")");
    CHECK(p1.pos == position{s.newest.epoch, 1});
    CHECK(p2.pos == position{s.newest.epoch, 2});
    CHECK(p1.delivered == 1);
    CHECK(topics.publish("other", "3").pos.offset == 1);  // offsets are per topic
    hub.poll();
    const auto got = take(a);
    REQUIRE(got.size() == 3);
    CHECK(got[0].op == "subscribed");
    CHECK_FALSE(got[0].recovered);
    CHECK(got[1].op == "message");
    CHECK(got[1].offset == 1);
    CHECK(got[1].data == R"({"id":1})");
    CHECK(got[2].offset == 2);
    CHECK(got[2].data == R"("two")");
    CHECK(b.messages().empty());

    CHECK_THROWS_AS(topics.publish("orders", "{not json"), std::invalid_argument);
    CHECK_THROWS_AS(topics.publish("", "1"), std::invalid_argument);
    CHECK_THROWS_AS(topics.publish("\xff", "1"), std::invalid_argument);
    CHECK(topics.newest("orders")->offset == 2);
}

TEST_CASE("subscribe with since replays what was missed, then live; a gap or another epoch is recovered:false") {
    wsx::registry reg;
    wsx::pubsub::topics topics(reg, {.history = {.max_messages = 100, .max_age = std::chrono::minutes(1)}});
    const wsx::endpoint ep{};
    memory_hub hub;
    for (int i = 1; i <= 150; ++i) topics.publish("t", std::to_string(i));
    const std::string epoch = topics.newest("t")->epoch;

    auto& a = open(hub, reg, ep);
    auto r = topics.subscribe(*a.conn, "t", position{epoch, 120});
    CHECK(r.recovered == true);
    CHECK(r.replayed == 30);
    topics.publish("t", "151");
    hub.poll();
    auto got = take(a);
    REQUIRE(got.size() == 32);
    for (int i = 0; i < 30; ++i) {
        CHECK(got[i].op == "message");
        CHECK(got[i].offset == 121u + i);
        CHECK(got[i].data == std::to_string(121 + i));
    }
    CHECK(got[30].op == "subscribed");
    CHECK(got[30].recovered == true);
    CHECK(got[30].offset == 150);
    CHECK(got[31].offset == 151);

    // Offset 50 fell out of the 100 held (51..150 is held, 52.. after the 151st).
    auto& b = open(hub, reg, ep);
    r = topics.subscribe(*b.conn, "t", position{epoch, 50});
    CHECK(r.recovered == false);
    CHECK(r.replayed == 0);
    hub.poll();
    got = take(b);
    REQUIRE(got.size() == 1);
    CHECK(got[0].recovered == false);
    CHECK(got[0].offset == 151);
    CHECK(got[0].epoch == epoch);

    auto& c = open(hub, reg, ep);
    CHECK(topics.subscribe(*c.conn, "t", position{"another", 150}).recovered == false);
    CHECK(topics.subscribe(*c.conn, "t", position{epoch, 999}).recovered == false);
    hub.poll();
    got = take(c);
    REQUIRE(got.size() == 2);
    CHECK(got[0].recovered == false);
    CHECK(got[1].recovered == false);
}

TEST_CASE("a topic nobody uses any more is forgotten, and comes back with a new epoch") {
    wsx::registry reg;
    wsx::pubsub::topics topics(reg, {.history = {.max_messages = 10, .max_age = std::chrono::milliseconds(1)}});
    const wsx::endpoint ep{};
    memory_hub hub;
    auto& a = open(hub, reg, ep);
    const auto first = topics.subscribe(*a.conn, "t", std::nullopt).newest;
    topics.publish("t", "1");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the message ages out
    CHECK(topics.unsubscribe(*a.conn, "t"));
    CHECK_FALSE(topics.unsubscribe(*a.conn, "t"));
    CHECK_FALSE(topics.newest("t"));
    CHECK(topics.list().empty());
    const auto again = topics.publish("t", "2").pos;
    CHECK(again.offset == 1);
    CHECK(again.epoch != first.epoch);  // never the same offsets for other messages in one epoch
}

TEST_CASE("publishes from several threads while clients subscribe: each sees every offset once, in order") {
    wsx::registry reg;
    wsx::pubsub::topics topics(reg);
    const wsx::endpoint ep{};
    memory_hub hub;
    constexpr int per_thread = 500;
    std::vector<memory_peer*> peers;
    std::atomic<bool> go{false};
    std::vector<std::thread> publishers;
    for (int t = 0; t < 2; ++t)
        publishers.emplace_back([&] {
            while (!go) std::this_thread::yield();
            for (int i = 0; i < per_thread; ++i) topics.publish("t", "0");
        });
    const std::string epoch = topics.subscribe(*open(hub, reg, ep).conn, "t", std::nullopt).newest.epoch;
    go = true;
    for (int i = 0; i < 20; ++i) {
        auto& p = open(hub, reg, ep);
        topics.subscribe(*p.conn, "t", position{epoch, 0});  // replay from the start, then live
        peers.push_back(&p);
        hub.poll();
    }
    for (auto& t : publishers) t.join();
    hub.poll();
    for (auto* p : peers) {
        std::uint64_t expect = 1;
        bool subscribed = false;
        for (const auto& m : take(*p)) {
            if (m.op == "subscribed") {
                CHECK(m.recovered == true);
                CHECK(m.offset == expect - 1);
                subscribed = true;
                continue;
            }
            REQUIRE(m.offset == expect);
            ++expect;
        }
        CHECK(subscribed);
        CHECK(expect == 2 * per_thread + 1);
    }
}

// SPDX-License-Identifier: BSL-1.0
// Resumable topics across instances: two servers in this process, each with
// its own registry, topics and Redis store, over one real redis-server.
#include <wsx/backplane/redis_topics.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include <wsx/pubsub/endpoint.hpp>
#include <wsx/pubsub/rest.hpp>
#include <wsx/server.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"
#include "pubsub_client.hpp"
#include "redis_process.hpp"
#include "rest_client.hpp"

using namespace std::chrono_literals;
using wsx::test::loopback_client;
using wsx::test::redis_process;
using wsx::test::rest_client;
using wsx::test::ws_event;
using kind = ws_event::kind;

namespace {

struct instance {
    wsx::registry reg;
    wsx::pubsub::topics topics{reg};
    std::shared_ptr<wsx::backplane::redis_topics> store;
    wsx::server srv{wsx::server_options{.host = "127.0.0.1", .port = 0, .stop_timeout = 500ms}};

    instance(std::uint16_t redis_port, wsx::pubsub::history_limits history = {}) {
        store = wsx::backplane::redis_topics::start(
            topics, {.port = redis_port, .history = history, .timeout = 1000ms, .presence_interval = 200ms,
                     .retry_delay = 50ms});
        srv.websocket("/pubsub", wsx::endpoints::pubsub(topics));
        wsx::pubsub::mount_rest(srv, topics);
        srv.start(1);
    }
    ~instance() {
        srv.stop();
        srv.join();
        store->stop();
    }
    std::uint16_t port() const { return srv.port(); }
};

using client = wsx::test::pubsub_client;
using wsx::test::rest_publish;

} // namespace

TEST_CASE("two instances: interleaved publishes get one gap-free sequence, and a client resumes on the other instance") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    redis.start();
    instance one(redis.port()), two(redis.port());
    REQUIRE(one.store->live());
    REQUIRE(two.store->live());
    rest_client rest1(one.port()), rest2(two.port());

    client a(one.port()), b(two.port());
    const auto sa = a.subscribe("orders");
    CHECK(sa.op == "subscribed");
    CHECK(sa.offset == 0);
    const auto sb = b.subscribe("orders");
    CHECK(sb.epoch == sa.epoch);  // one epoch for the cluster

    // Publishes alternate between the instances: one sequence, no offset twice.
    for (std::uint64_t i = 1; i <= 100; ++i)
        CHECK(rest_publish(i % 2 ? rest1 : rest2, "orders", std::to_string(i)) == i);
    for (std::uint64_t i = 1; i <= 100; ++i) {
        const auto ma = a.next();
        REQUIRE(ma.offset == i);
        CHECK(ma.data == std::to_string(i));
        CHECK(ma.epoch == sa.epoch);
        REQUIRE(b.next().offset == i);
    }
    // Presence: both instances' subscribers (each reports every 200 ms).
    CHECK(wsx::test::wait_until([&] { return one.topics.subscribers("orders") == 2; }));
    CHECK(two.topics.subscribers("orders") == 2);

    // a saw 100, drops; 50 more are published; it comes back on instance two.
    a.c->close();
    for (int i = 101; i <= 150; ++i) rest_publish(rest1, "orders", std::to_string(i));
    client a2(two.port());
    auto m = a2.subscribe("orders", wsx::pubsub::position{sa.epoch, 100});
    for (std::uint64_t i = 101; i <= 150; ++i) {
        REQUIRE(m.op == "message");
        REQUIRE(m.offset == i);
        m = a2.next();
    }
    CHECK(m.op == "subscribed");
    CHECK(m.recovered == true);
    CHECK(m.offset == 150);
    CHECK(rest_publish(rest2, "orders", R"("live")") == 151);
    CHECK(a2.next().offset == 151);
    CHECK(a2.c->read_event(100ms).what == kind::timeout);  // no duplicate

    // The listing comes from Redis: the same on both instances.
    const auto list = two.topics.list();
    REQUIRE(list.size() == 1);
    CHECK(list[0].name == "orders");
    CHECK(list[0].newest == wsx::pubsub::position{sa.epoch, 151});
    CHECK(list[0].held == 151);
}

TEST_CASE("the history bound, another epoch, and a Redis restart: recovered:false, never a silent gap") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    redis.start();
    instance one(redis.port(), {.max_messages = 10, .max_age = 1min});
    rest_client rest(one.port());
    for (int i = 1; i <= 30; ++i) rest_publish(rest, "t", std::to_string(i));
    const auto epoch = one.topics.newest("t")->epoch;

    client a(one.port());
    auto s = a.subscribe("t", wsx::pubsub::position{epoch, 19});  // 21..30 held
    CHECK(s.recovered == false);
    CHECK(s.offset == 30);
    s = a.subscribe("t", wsx::pubsub::position{"other", 29});
    CHECK(s.recovered == false);
    s = a.subscribe("t", wsx::pubsub::position{epoch, 20});
    for (std::uint64_t i = 21; i <= 30; ++i) {
        REQUIRE(s.offset == i);
        s = a.next();
    }
    CHECK(s.recovered == true);

    // Redis restarts without persistence: the instance closes its clients
    // (live messages may have been lost), they resume and learn the truth.
    redis.kill();
    const ws_event ev = a.c->read_until_close(3s);
    CHECK(ev.what == kind::close);
    CHECK(ev.code == wsx::close_code::service_restart);
    redis.start();
    REQUIRE(wsx::test::wait_until([&] { return one.store->live(); }, 5s));
    client b(one.port());
    s = b.subscribe("t", wsx::pubsub::position{epoch, 30});
    CHECK(s.op == "subscribed");
    CHECK(s.recovered == false);
    CHECK(s.epoch != epoch);
    CHECK(s.offset == 0);
    CHECK(rest_publish(rest, "t", "\"new\"") == 1);  // offsets start again, in the new epoch
    const auto m = b.next();
    CHECK(m.offset == 1);
    CHECK(m.epoch == s.epoch);
}

// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/client.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <wsx/pubsub/endpoint.hpp>
#include <wsx/server.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"

using namespace std::chrono_literals;

TEST_CASE("resuming_client: the server drops it twice mid-stream; it delivers offsets 1..300 once, in order") {
    wsx::registry reg;
    wsx::pubsub::topics topics(reg);
    wsx::server srv(wsx::server_options{.host = "127.0.0.1", .port = 0, .stop_timeout = 500ms});
    srv.websocket("/pubsub", wsx::endpoints::pubsub(topics));
    srv.start(1);

    std::mutex mutex;
    std::vector<std::uint64_t> offsets;
    std::vector<std::string> statuses;
    asio::io_context io;
    wsx::pubsub::resuming_client feed(
        io, "ws://127.0.0.1:" + std::to_string(srv.port()) + "/pubsub",
        {.on_message = [&](std::string_view topic, const wsx::pubsub::position& p, std::string_view json) {
             std::lock_guard lock(mutex);
             CHECK(topic == "orders");
             CHECK(json == std::to_string(p.offset));
             offsets.push_back(p.offset);
         },
         .on_reset = [&](std::string_view, const wsx::pubsub::position&) { FAIL("no reset expected"); },
         .on_status = [&](std::string_view s) {
             std::lock_guard lock(mutex);
             statuses.emplace_back(s);
         }},
        {.min_delay = 20ms, .max_delay = 100ms});
    feed.subscribe("orders");
    feed.start();
    std::thread runner([&io] {
        auto guard = asio::make_work_guard(io);
        io.run();
    });
    const auto seen = [&] {
        std::lock_guard lock(mutex);
        return offsets.size();
    };
    REQUIRE(wsx::test::wait_until([&] { return topics.subscribers("orders") == 1; }));
    const auto connected = [&] {
        std::lock_guard lock(mutex);
        return std::count(statuses.begin(), statuses.end(), "connected");
    };
    for (int i = 1; i <= 300; ++i) {
        topics.publish("orders", std::to_string(i));
        if (i == 100) reg.close_all(wsx::close_code::going_away);  // the server drops it
        if (i == 200) {
            // Once it is back (publishing went on meanwhile), drop it again.
            REQUIRE(wsx::test::wait_until([&] { return connected() == 2 && topics.subscribers("orders") == 1; }));
            reg.close_all(wsx::close_code::going_away);
        }
    }
    CHECK(wsx::test::wait_until([&] { return seen() >= 300; }, 5s));
    std::this_thread::sleep_for(50ms);  // anything extra would arrive now
    {
        std::lock_guard lock(mutex);
        std::vector<std::uint64_t> expected(300);
        for (std::uint64_t i = 0; i < 300; ++i) expected[i] = i + 1;
        CHECK(offsets == expected);
    }
    CHECK(connected() == 3);
    asio::post(io, [&] { feed.stop(); });
    std::this_thread::sleep_for(50ms);
    io.stop();
    runner.join();
    srv.stop();
    srv.join();
}

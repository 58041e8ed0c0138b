// SPDX-License-Identifier: BSL-1.0
// Timers on a server's I/O thread: detail::timer_set on an io_context of the
// test's, then basic_server::after / every / executor: they run on the
// server's thread, repeat on schedule, cancel, report what they throw, and
// stop with the server (run() returns; nothing runs after stop()).
#include "wsx/timers.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"

#include <wsx/server.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <asio/post.hpp>

namespace {

using namespace std::chrono_literals;
using wsx::test::wait_until;

wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1", .port = 0, .stop_timeout = 300ms,
                               .timer_resolution = 20ms};
}

} // namespace

TEST_CASE("timer_set: once, repeating, cancel, and stop on an io_context", "[timers]") {
    asio::io_context io;
    wsx::detail::timer_set timers;
    int once = 0, repeated = 0, cancelled = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration once_at{};
    auto h1 = timers.add(io, 30ms, {}, [&] {
        ++once;
        once_at = std::chrono::steady_clock::now() - t0;
    }, {});
    wsx::timer_handle h2;
    h2 = timers.add(io, 10ms, 10ms, [&] {
        if (++repeated == 5) h2.cancel();  // from its own function
    }, {});
    auto h3 = timers.add(io, 20ms, {}, [&] { ++cancelled; }, {});
    h3.cancel();
    CHECK(h1.active());
    CHECK_FALSE(h3.active());
    io.run_for(200ms);  // returns early once no timer is left
    CHECK(once == 1);
    CHECK(once_at >= 30ms);
    CHECK(repeated == 5);
    CHECK(cancelled == 0);
    CHECK_FALSE(h1.active());
    CHECK_FALSE(h2.active());
    CHECK(timers.size() == 0);

    // After stop() nothing new is taken, and a pending timer does not run.
    io.restart();
    int late = 0;
    auto pending = timers.add(io, 10ms, 10ms, [&] { ++late; }, {});
    timers.stop();
    auto refused = timers.add(io, 1ms, {}, [&] { ++late; }, {});
    CHECK_FALSE(refused.active());
    io.run_for(100ms);
    CHECK(late == 0);
    CHECK_FALSE(pending.active());
}

TEST_CASE("timer_set: what a function throws is logged and a repeating timer carries on",
          "[timers]") {
    asio::io_context io;
    wsx::detail::timer_set timers;
    std::vector<std::string> logged;
    const wsx::log_handler log = [&](wsx::log_level, std::string_view category, std::string_view what) {
        logged.push_back(std::string{category} + ": " + std::string{what});
    };
    int runs = 0;
    wsx::timer_handle h;
    h = timers.add(io, 5ms, 5ms, [&] {
        if (++runs == 3) h.cancel();
        throw std::runtime_error("boom");
    }, log);
    io.run_for(500ms);
    CHECK(runs == 3);
    REQUIRE(logged.size() == 3);
    CHECK(logged[0] == "timer: a timer function threw: boom");
}

TEST_CASE("server: after, every and executor run on the server's I/O thread", "[timers][server]") {
    wsx::server srv(test_options());
    std::atomic<std::thread::id> io_thread{};
    srv.websocket("/", {.on_open = [&](wsx::connection&) { io_thread = std::this_thread::get_id(); }});
    // Before start(): they wait for the server to run.
    std::atomic<int> after_runs{0}, every_runs{0}, posted{0};
    std::atomic<bool> wrong_thread{false};
    auto ex = srv.executor();
    srv.after(20ms, [&] {
        if (!ex.running_in_this_thread()) wrong_thread = true;
        ++after_runs;
    });
    auto every = srv.every(10ms, [&] {
        if (!ex.running_in_this_thread()) wrong_thread = true;
        ++every_runs;
    });
    srv.start(1);
    asio::post(ex, [&] { ++posted; });
    // The connection's thread is the timers' thread.
    wsx::test::loopback_client c(srv.port());
    REQUIRE(c.upgrade("/"));
    REQUIRE(wait_until([&] { return io_thread.load() != std::thread::id{}; }));
    std::atomic<std::thread::id> timer_thread{};
    srv.after(1ms, [&] { timer_thread = std::this_thread::get_id(); });
    REQUIRE(wait_until([&] { return timer_thread.load() != std::thread::id{}; }));
    CHECK(timer_thread.load() == io_thread.load());
    REQUIRE(wait_until([&] { return every_runs.load() >= 5 && after_runs.load() == 1 && posted == 1; }));
    CHECK(every.active());
    CHECK_FALSE(wrong_thread.load());
    every.cancel();
    CHECK_FALSE(every.active());
    const int at_cancel = every_runs.load();
    std::this_thread::sleep_for(50ms);
    CHECK(every_runs.load() <= at_cancel + 1);  // a run in progress may finish
    CHECK(after_runs.load() == 1);
    srv.stop();
    srv.join();
}

TEST_CASE("server: timers stop at stop(): run() returns and nothing runs after", "[timers][server]") {
    wsx::server srv(test_options());
    srv.websocket("/", {});
    std::atomic<int> runs{0};
    std::atomic<bool> ran_after_stop{false};
    auto every = srv.every(5ms, [&] { ++runs; });
    auto later = srv.after(10s, [&] { ran_after_stop = true; });  // would hold run() for 10 s
    std::thread runner([&] { srv.run(2); });
    REQUIRE(wait_until([&] { return runs.load() >= 3; }));
    const auto t0 = std::chrono::steady_clock::now();
    srv.stop();
    const int at_stop = runs.load();
    runner.join();  // returns: no timer keeps the io_context busy
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(runs.load() <= at_stop + 1);  // at most the run that had already started
    CHECK_FALSE(every.active());
    CHECK_FALSE(later.active());
    CHECK_FALSE(srv.every(1ms, [] {}).active());
    CHECK_THROWS_AS(srv.every(0ms, [] {}), std::invalid_argument);
    CHECK_FALSE(ran_after_stop.load());
}

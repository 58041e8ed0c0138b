// SPDX-License-Identifier: BSL-1.0
#include <wsx/detail/worker.hpp>

#include <asio/post.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {
struct node final : wsx::detail::timed_node {
    std::vector<std::uint32_t> ticks;
    int graceful = 0, forced = 0;
    void on_tick(std::uint32_t now) override { ticks.push_back(now); }
    void on_stop(bool force) override { (force ? forced : graceful)++; }
    ~node() = default;
};
} // namespace

TEST_CASE("one sweep timer ticks every linked node and stops when none is left") {
    asio::io_context io;
    wsx::detail::worker w{io, 10ms};
    node a, b;
    w.link(&a);
    w.link(&b);
    CHECK(w.size() == 2);
    io.run_for(55ms);
    CHECK(a.ticks.size() >= 3);
    CHECK(a.ticks == b.ticks);
    w.unlink(&a);
    w.unlink(&b);
    CHECK(w.size() == 0);
    io.restart();
    // With nothing linked the sweep stops, so the io_context runs out of work:
    // run_for returns early and leaves it stopped (a timer still armed would
    // keep it running to the end).
    io.run_for(10s);
    CHECK(io.stopped());
}

TEST_CASE("ticks follow elapsed time, so a busy thread's deadlines are not stretched") {
    asio::io_context io;
    wsx::detail::worker w{io, 10ms};
    node a;
    w.link(&a);
    // The thread is busy for its first 120 ms: the sweeps due meanwhile cannot
    // run. Counting sweeps would reach at most 9 by 200 ms; elapsed time is 19.
    asio::post(io, [] { std::this_thread::sleep_for(120ms); });
    io.run_for(200ms);
    REQUIRE_FALSE(a.ticks.empty());
    CHECK(a.ticks.back() >= 15u);
    for (std::size_t i = 1; i < a.ticks.size(); ++i) CHECK(a.ticks[i] > a.ticks[i - 1]);
    w.unlink(&a);
}

TEST_CASE("ticks round up, so a deadline never fires early") {
    asio::io_context io;
    wsx::detail::worker w{io, 250ms};
    CHECK(w.ticks(0ms) == 0u);
    CHECK(w.ticks(1ms) == 2u);
    CHECK(w.ticks(250ms) == 2u);
    CHECK(w.ticks(251ms) == 3u);
}

TEST_CASE("a node unlinks itself when destroyed") {
    asio::io_context io;
    wsx::detail::worker w{io, 10ms};
    {
        node a;
        w.link(&a);
        CHECK(w.size() == 1);
    }
    CHECK(w.size() == 0);
}

TEST_CASE("stop closes gracefully, then forces after the grace period") {
    asio::io_context io;
    wsx::detail::worker w{io, 10ms};
    node a;
    w.link(&a);
    w.stop(50ms);
    CHECK(a.graceful == 1);
    io.run_for(100ms);
    CHECK(a.forced >= 1);
    w.unlink(&a);
}

TEST_CASE("a worker that dies first detaches and force-closes its nodes") {
    asio::io_context io;
    node a;
    {
        wsx::detail::worker w{io, 10ms};
        w.link(&a);
    }
    CHECK(a.owner() == nullptr);
    CHECK(a.forced == 1);
}

TEST_CASE("the read buffer is allocated once, on first use") {
    asio::io_context io;
    wsx::detail::worker w{io, 10ms};
    auto b1 = w.read_buffer();
    auto b2 = w.read_buffer();
    CHECK(b1.size() == wsx::detail::worker::read_buffer_size);
    CHECK(b1.data() == b2.data());
}

TEST_CASE("a sweep handler that runs after its worker is gone touches nothing") {
    // The io_context (a user's) outlives the worker. Cancelled by the
    // destructor, or already due when the worker went: either way the queued
    // handler must not read the dead worker (ASan would say so).
    asio::io_context io;
    auto w = std::make_unique<wsx::detail::worker>(io, 10ms);
    node a;
    w->link(&a);  // starts the sweep
    SECTION("cancelled") {
        w.reset();
    }
    SECTION("already due") {
        // Destroyed from a handler queued before the reactor's turn: by then
        // the expired wait is queued too, behind it, and cannot be cancelled.
        std::this_thread::sleep_for(30ms);
        asio::post(io, [&] { w.reset(); });
    }
    io.run_for(200ms);
    CHECK(w == nullptr);
    CHECK(a.owner() == nullptr);
    CHECK(a.forced == 1);
}

// SPDX-License-Identifier: BSL-1.0
// wsx::detail::worker_service: the clients of one io_context share one worker
// (read buffer, cork buffer, sweep timer), made on first use from any thread,
// and destroyed when the io_context shuts down, which detaches and force-closes
// whatever is still linked to it.
#include "wsx/detail/worker_service.hpp"

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

using namespace std::chrono_literals;
using wsx::detail::worker;
using wsx::detail::worker_service;

namespace {
struct node final : wsx::detail::timed_node {
    int ticks = 0;
    int graceful = 0, forced = 0;
    void on_tick(std::uint32_t) override { ++ticks; }
    void on_stop(bool force) override { (force ? forced : graceful)++; }
};
} // namespace

TEST_CASE("one worker per io_context: the same on every lookup, another for another context") {
    asio::io_context a, b;
    worker& wa = worker_service::of(a);
    CHECK(&worker_service::of(a) == &wa);
    worker& wb = worker_service::of(b);
    CHECK(&wb != &wa);
    CHECK(&wa.context() == &a);
    CHECK(&wb.context() == &b);
    // Its buffers are shared by whoever looks it up.
    CHECK(worker_service::of(a).read_buffer().data() == wa.read_buffer().data());
}

TEST_CASE("made once when many threads look it up at the same time") {
    asio::io_context io;
    constexpr int threads = 8;
    std::vector<worker*> seen(threads, nullptr);
    std::atomic<bool> go{false};
    std::vector<std::thread> lookers;
    for (int t = 0; t < threads; ++t) {
        lookers.emplace_back([&, t] {
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            seen[t] = &worker_service::of(io);
        });
    }
    go.store(true, std::memory_order_release);
    for (auto& l : lookers) l.join();
    for (worker* w : seen) CHECK(w == seen[0]);
    CHECK(&worker_service::of(io) == seen[0]);
}

TEST_CASE("the sweep ticks at the service's resolution, on the io_context's thread") {
    // Client deadlines are counted in ticks of worker_service::resolution:
    // a deadline rounds up, so it never fires early.
    STATIC_REQUIRE(worker_service::resolution == 100ms);
    asio::io_context io;
    worker& w = worker_service::of(io);
    CHECK(w.ticks(1ms) == 2u);
    CHECK(w.ticks(100ms) == 2u);
    CHECK(w.ticks(101ms) == 3u);

    node n;
    const auto linked = std::chrono::steady_clock::now();
    w.link(&n);  // starts the sweep
    // Each tick is one handler; a timer never fires early, however busy the machine.
    while (n.ticks < 2 && std::chrono::steady_clock::now() - linked < 10s) io.run_one_for(1s);
    CHECK(n.ticks == 2);
    CHECK(std::chrono::steady_clock::now() - linked >= 2 * worker_service::resolution);
    w.unlink(&n);
    // With no client left the sweep stops, so the io_context runs out of work.
    io.restart();
    const auto start = std::chrono::steady_clock::now();
    io.run();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("the worker dies with its io_context and force-closes what is still linked") {
    node n;
    {
        auto io = std::make_unique<asio::io_context>();
        worker& w = worker_service::of(*io);
        w.link(&n);
        CHECK(n.owner() == &w);
        CHECK(n.forced == 0);
        io.reset();  // shutdown: the service drops its worker
    }
    CHECK(n.owner() == nullptr);  // detached: nothing points at the dead worker
    CHECK(n.forced == 1);
    CHECK(n.graceful == 0);
    // n is destroyed after the worker: with no owner it does not touch it.
}

TEST_CASE("a worker lives as long as its io_context, not as long as a lookup") {
    asio::io_context io;
    node n;
    {
        worker& w = worker_service::of(io);
        w.link(&n);
    }
    // Nothing the caller held kept it: it is the same worker, still holding n.
    worker& again = worker_service::of(io);
    CHECK(n.owner() == &again);
    CHECK(again.size() == 1);
    again.unlink(&n);
    CHECK(again.size() == 0);
}

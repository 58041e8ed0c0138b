// SPDX-License-Identifier: BSL-1.0
// wsx::detail::epoll_poller on connected AF_UNIX stream pairs: one batch
// dispatches many sockets, a handler may release other sockets of the same
// batch, the Asio wait exists only while something waits, and the inline
// handler storage.
#include "wsx/detail/epoll_poller.hpp"

#include "catch.hpp"

#if defined(__linux__)

#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

namespace {

using namespace std::chrono_literals;
using wsx::detail::epoll_poller;
using wsx::detail::wait_handler;

// A connected pair: `ours` is registered with the poller (non-blocking),
// `peer` is written by the test.
struct pair {
    int ours = -1;
    int peer = -1;
    pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
        ours = fds[0];
        peer = fds[1];
        ::fcntl(ours, F_SETFL, ::fcntl(ours, F_GETFL) | O_NONBLOCK);
    }
    ~pair() {
        if (peer >= 0) ::close(peer);
    }
    pair(const pair&) = delete;
    pair& operator=(const pair&) = delete;
    void send(const char* s) const { REQUIRE(::write(peer, s, std::char_traits<char>::length(s)) > 0); }
};

} // namespace

TEST_CASE("wait_handler: small handlers are stored inline, large ones on the heap, both called once",
          "[detail][epoll_poller]") {
    auto token = std::make_shared<int>(7);
    std::error_code got = asio::error::timed_out;
    int calls = 0;
    {
        wait_handler h([token, &got, &calls](std::error_code ec) {  // 16 + 8 + 8 = 32 B: heap
            got = ec;
            ++calls;
        });
        wait_handler moved(std::move(h));
        CHECK_FALSE(h);
        REQUIRE(moved);
        CHECK(token.use_count() == 2);
        moved(asio::error::eof);
        CHECK_FALSE(moved);
        CHECK(calls == 1);
        CHECK(got == asio::error::eof);
        CHECK(token.use_count() == 1);  // the handler is destroyed after the call
    }
    {
        int* counter = &calls;
        wait_handler h([token, counter](std::error_code) { ++*counter; });  // 24 B: inline
        CHECK(token.use_count() == 2);
        wait_handler other;
        other = std::move(h);
        CHECK(token.use_count() == 2);
        other.reset();
        CHECK(token.use_count() == 1);  // destroyed without being called
        CHECK(calls == 1);
    }
}

TEST_CASE("epoll_poller: one Asio handler dispatches every socket ready in the batch", "[detail][epoll_poller]") {
    asio::io_context io{1};
    epoll_poller& poller = epoll_poller::of(io);
    CHECK(&epoll_poller::of(io) == &poller);  // one per io_context
    constexpr int n = 20;
    std::vector<std::unique_ptr<pair>> pairs;
    std::vector<epoll_poller::entry*> entries;
    int woken = 0;
    for (int i = 0; i < n; ++i) {
        pairs.push_back(std::make_unique<pair>());
        std::error_code ec;
        entries.push_back(poller.add(pairs.back()->ours, ec));
        REQUIRE(entries.back());
        poller.wait_readable(*entries.back(), [&woken](std::error_code e) {
            CHECK_FALSE(e);
            ++woken;
        });
    }
    CHECK(poller.pending() == n);
    CHECK(poller.registered() == n);
    for (auto& p : pairs) p->send("x");
    // Every socket's wait completes in the one handler Asio runs for the epoll fd.
    CHECK(io.run_one_for(2s) == 1);
    CHECK(woken == n);
    CHECK(poller.pending() == 0);
    for (auto* e : entries) {
        CHECK(e->ready);
        poller.remove(*e);
    }
    CHECK(poller.registered() == 0);
    // Nothing waits: no Asio wait is left, run() returns.
    io.restart();
    const auto t0 = std::chrono::steady_clock::now();
    io.run_for(2s);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("epoll_poller: a handler that releases another socket of the same batch makes its event inert",
          "[detail][epoll_poller]") {
    asio::io_context io{1};
    epoll_poller& poller = epoll_poller::of(io);
    pair a, b;
    std::error_code ec;
    epoll_poller::entry* ea = poller.add(a.ours, ec);
    epoll_poller::entry* eb = poller.add(b.ours, ec);
    REQUIRE((ea && eb));
    std::vector<std::string> log;
    pair c;  // registered by the first handler, in the entry the other socket leaves
    epoll_poller::entry* ec_entry = nullptr;
    auto first = [&](epoll_poller::entry* self, epoll_poller::entry* other, const char* name) {
        return [&, self, other, name](std::error_code e) {
            log.push_back(std::string(name) + (e ? ":" + e.message() : ":ready"));
            if (log.size() != 1) return;
            // Release the other socket (its readiness is in this batch), then
            // reuse its entry for a socket that has nothing to read.
            poller.remove(*other);
            std::error_code ae;
            ec_entry = poller.add(c.ours, ae);
            REQUIRE(ec_entry == other);  // the freed entry is reused at once
            poller.wait_readable(*ec_entry, [&](std::error_code e2) {
                log.push_back(std::string("c") + (e2 ? ":" + e2.message() : ":ready"));
            });
            (void)self;
        };
    };
    poller.wait_readable(*ea, first(ea, eb, "a"));
    poller.wait_readable(*eb, first(eb, ea, "b"));
    a.send("1");
    b.send("2");
    REQUIRE(io.run_one_for(2s) == 1);  // the batch: both events were in it
    REQUIRE(log.size() == 1);           // the released socket was not dispatched
    // Its reader completes with operation_aborted, posted.
    io.run_for(100ms);
    REQUIRE(log.size() == 2);
    CHECK(log[1].find(asio::error::make_error_code(asio::error::operation_aborted).message()) != std::string::npos);
    // The stale event did not wake the socket that reuses the entry.
    CHECK(poller.pending() == 1);
    c.send("3");
    io.restart();
    io.run_one_for(2s);
    REQUIRE(log.size() == 3);
    CHECK(log[2] == "c:ready");
    poller.remove(*ec_entry);
    poller.remove(log[0][0] == 'a' ? *ea : *eb);
}

TEST_CASE("epoll_poller: readiness without a waiter is remembered for the next wait", "[detail][epoll_poller]") {
    asio::io_context io{1};
    epoll_poller& poller = epoll_poller::of(io);
    pair a;
    std::error_code ec;
    epoll_poller::entry* e = poller.add(a.ours, ec);
    REQUIRE(e);
    CHECK_FALSE(e->ready);
    bool woken = false;
    poller.wait_readable(*e, [&](std::error_code) { woken = true; });
    a.send("x");
    REQUIRE(io.run_one_for(2s) == 1);
    CHECK(woken);
    // The handler did not read: the edge is spent but the socket stays ready.
    CHECK(e->ready);
    CHECK_FALSE(e->hangup);
    ::shutdown(a.peer, SHUT_WR);
    bool again = false;
    poller.wait_readable(*e, [&](std::error_code) { again = true; });
    io.restart();
    REQUIRE(io.run_one_for(2s) == 1);
    CHECK(again);
    CHECK(e->hangup);  // the peer's FIN is sticky: every later wait completes
    poller.remove(*e);
}

TEST_CASE("epoll_poller: an io_context destroyed with a pending wait destroys its handler uncalled",
          "[detail][epoll_poller]") {
    auto token = std::make_shared<int>(0);
    pair a;
    bool called = false;
    {
        asio::io_context io{1};
        epoll_poller& poller = epoll_poller::of(io);
        std::error_code ec;
        epoll_poller::entry* e = poller.add(a.ours, ec);
        REQUIRE(e);
        poller.wait_readable(*e, [token, &called](std::error_code) { called = true; });
        CHECK(token.use_count() == 2);
        io.run_for(20ms);
    }
    CHECK_FALSE(called);
    CHECK(token.use_count() == 1);
    ::close(a.ours);
}

#endif // __linux__

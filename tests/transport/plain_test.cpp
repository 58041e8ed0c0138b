// SPDX-License-Identifier: BSL-1.0
// wsx::transport::plain over a connected loopback socket pair: the stream side
// is the transport under test, the peer is a plain Asio socket.
#include "wsx/transport/plain.hpp"

#include "catch.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace {

using namespace std::chrono_literals;
using wsx::transport::plain;
using tcp = asio::ip::tcp;

static_assert(wsx::transport::policy<plain>);
static_assert(plain::stream::nonblocking_writes);
static_assert(std::string_view{plain::scheme} == "ws");

// A connected pair on 127.0.0.1: `stream` wraps the accepted socket, `peer` is
// the connecting one. The peer is used with blocking calls guarded by timeouts.
struct socket_pair {
    asio::io_context io{1};
    plain::context ctx{};
    tcp::socket peer{io};
    std::optional<plain::stream> stream;

    socket_pair() {
        tcp::acceptor acceptor(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
        peer.connect(acceptor.local_endpoint());
        stream.emplace(acceptor.accept(), ctx);
    }

    // Runs the io_context until `done` or the timeout.
    bool run_until(const bool& done, std::chrono::milliseconds timeout = 2s) {
        io.restart();
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done && std::chrono::steady_clock::now() < deadline)
            if (io.run_one_until(deadline) == 0 && io.stopped()) break;
        return done;
    }

    // Reads exactly n bytes on the peer (with a timeout).
    std::string peer_read(std::size_t n, std::chrono::milliseconds timeout = 2s) {
        std::string out(n, '\0');
        bool done = false;
        std::error_code ec;
        asio::async_read(peer, asio::buffer(out), [&](std::error_code e, std::size_t k) {
            ec = e;
            out.resize(k);
            done = true;
        });
        if (!run_until(done, timeout)) {
            peer.cancel();
            run_until(done);
        }
        return out;
    }

    // Reads on the peer until EOF; returns the error that ended it (eof when the
    // stream shut down cleanly) and appends the data to `data`.
    std::error_code peer_read_to_end(std::string& data, std::chrono::milliseconds timeout = 2s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::array<char, 4096> buf;
            bool done = false;
            std::error_code ec;
            std::size_t n = 0;
            peer.async_read_some(asio::buffer(buf), [&](std::error_code e, std::size_t k) {
                ec = e;
                n = k;
                done = true;
            });
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (!run_until(done, left)) {
                peer.cancel();
                run_until(done);
                return asio::error::timed_out;
            }
            data.append(buf.data(), n);
            if (ec) return ec;
        }
    }
};

} // namespace

TEST_CASE("plain stream: construction sets non-blocking mode and TCP_NODELAY", "[transport][plain]") {
    socket_pair p;
    const int fd = p.stream->native_handle();
    REQUIRE(fd >= 0);
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
    CHECK(nodelay != 0);
    CHECK(p.stream->remote_endpoint() == p.peer.local_endpoint());
    CHECK(p.stream->get_executor() == p.io.get_executor());
}

TEST_CASE("plain stream: read_some never blocks", "[transport][plain]") {
    socket_pair p;
    std::array<char, 64> buf{};
    std::error_code ec;
    std::size_t n = p.stream->read_some(asio::buffer(buf), ec);
    CHECK(n == 0);
    CHECK((ec == asio::error::would_block || ec == asio::error::try_again));

    asio::write(p.peer, asio::buffer(std::string_view("abc")));
    // Wait until the stream says it is readable, then read what is there.
    bool readable = false;
    std::error_code wait_ec = asio::error::timed_out;
    p.stream->async_wait_readable([&](std::error_code e) {
        wait_ec = e;
        readable = true;
    });
    REQUIRE(p.run_until(readable));
    CHECK_FALSE(wait_ec);
    n = p.stream->read_some(asio::buffer(buf), ec);
    CHECK_FALSE(ec);
    CHECK(std::string_view(buf.data(), n) == "abc");
    n = p.stream->read_some(asio::buffer(buf), ec);
    CHECK(n == 0);
    CHECK((ec == asio::error::would_block || ec == asio::error::try_again));
}

TEST_CASE("plain stream: async_wait_readable waits for data that arrives later", "[transport][plain]") {
    socket_pair p;
    bool readable = false;
    p.stream->async_wait_readable([&](std::error_code) { readable = true; });
    // Nothing yet: the wait is still pending after the loop has had a turn.
    p.run_until(readable, 50ms);
    CHECK_FALSE(readable);
    asio::write(p.peer, asio::buffer(std::string_view("x")));
    CHECK(p.run_until(readable));

    // Data that was already there when the wait started (its readiness event
    // consumed by an earlier turn of the loop) still completes the wait.
    std::array<char, 8> buf{};
    std::error_code ec;
    CHECK(p.stream->read_some(asio::buffer(buf), ec) == 1);
    asio::write(p.peer, asio::buffer(std::string_view("y")));
    bool tick = false;
    asio::steady_timer t(p.io, 30ms);
    t.async_wait([&](std::error_code) { tick = true; });
    p.run_until(tick);
    bool again = false;
    p.stream->async_wait_readable([&](std::error_code) { again = true; });
    CHECK(p.run_until(again, 500ms));
}

TEST_CASE("plain stream: a closed peer makes the stream readable, then read_some says eof",
          "[transport][plain]") {
    socket_pair p;
    p.peer.shutdown(tcp::socket::shutdown_send);
    bool readable = false;
    p.stream->async_wait_readable([&](std::error_code) { readable = true; });
    REQUIRE(p.run_until(readable));
    std::array<char, 8> buf{};
    std::error_code ec;
    CHECK(p.stream->read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::eof);
}

TEST_CASE("plain stream: async_handshake is a posted no-op", "[transport][plain]") {
    socket_pair p;
    for (const wsx::role r : {wsx::role::server, wsx::role::client}) {
        bool done = false;
        std::error_code ec = asio::error::timed_out;
        p.stream->async_handshake(r, [&](std::error_code e) {
            ec = e;
            done = true;
        });
        CHECK_FALSE(done);  // never completes inline
        REQUIRE(p.run_until(done));
        CHECK_FALSE(ec);
    }
}

TEST_CASE("plain stream: try_write_some writes what the socket takes", "[transport][plain]") {
    socket_pair p;
    const std::vector<asio::const_buffer> bufs{asio::buffer(std::string_view("hello ")),
                                               asio::buffer(std::string_view("world"))};
    std::error_code ec;
    const std::size_t n = p.stream->try_write_some(bufs, ec);
    CHECK_FALSE(ec);
    CHECK(n == 11);
    CHECK(p.peer_read(11) == "hello world");

    // With nobody reading, the socket fills up and try_write_some reports
    // would_block instead of blocking.
    const std::string block(256 * 1024, 'b');
    const std::vector<asio::const_buffer> big{asio::buffer(block)};
    std::size_t total = 0;
    for (int i = 0; i < 10000; ++i) {
        ec = {};
        const std::size_t k = p.stream->try_write_some(big, ec);
        total += k;
        if (ec) break;
    }
    CHECK((ec == asio::error::would_block || ec == asio::error::try_again));
    CHECK(total > 0);

    // The peer drains it all.
    std::string got = p.peer_read(total, 10s);
    CHECK(got.size() == total);
}

TEST_CASE("plain stream: async_write writes every byte of every buffer", "[transport][plain]") {
    socket_pair p;
    // Larger than the socket buffers, so the write needs several turns.
    std::string a(3 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<char>(i % 251);
    const std::string b = "tail";
    const std::vector<asio::const_buffer> bufs{asio::buffer(a), asio::buffer(b)};
    bool done = false;
    std::error_code ec = asio::error::timed_out;
    std::size_t written = 0;
    p.stream->async_write(bufs, [&](std::error_code e, std::size_t n) {
        ec = e;
        written = n;
        done = true;
    });
    // The peer reads on the same io_context while the write proceeds.
    std::string got(a.size() + b.size(), '\0');
    bool read_done = false;
    asio::async_read(p.peer, asio::buffer(got), [&](std::error_code, std::size_t) { read_done = true; });
    REQUIRE(p.run_until(done, 10s));
    REQUIRE(p.run_until(read_done, 10s));
    CHECK_FALSE(ec);
    CHECK(written == a.size() + b.size());
    CHECK(got == a + b);
}

TEST_CASE("plain stream: async_shutdown sends FIN after the data; the read side stays open",
          "[transport][plain]") {
    socket_pair p;
    std::error_code ec;
    const std::vector<asio::const_buffer> bufs{asio::buffer(std::string_view("last words"))};
    CHECK(p.stream->try_write_some(bufs, ec) == 10);
    bool done = false;
    std::error_code shut_ec = asio::error::timed_out;
    p.stream->async_shutdown([&](std::error_code e) {
        shut_ec = e;
        done = true;
    });
    CHECK_FALSE(done);  // completes through the executor, never inline
    REQUIRE(p.run_until(done));
    CHECK_FALSE(shut_ec);

    std::string data;
    CHECK(p.peer_read_to_end(data) == asio::error::eof);
    CHECK(data == "last words");

    // We can still receive after our FIN.
    asio::write(p.peer, asio::buffer(std::string_view("reply")));
    bool readable = false;
    p.stream->async_wait_readable([&](std::error_code) { readable = true; });
    REQUIRE(p.run_until(readable));
    std::array<char, 16> buf{};
    const std::size_t n = p.stream->read_some(asio::buffer(buf), ec);
    CHECK_FALSE(ec);
    CHECK(std::string_view(buf.data(), n) == "reply");
}

TEST_CASE("plain stream: close drops the connection and cancels a pending wait", "[transport][plain]") {
    socket_pair p;
    bool waited = false;
    std::error_code wait_ec;
    p.stream->async_wait_readable([&](std::error_code e) {
        wait_ec = e;
        waited = true;
    });
    p.stream->close();
    REQUIRE(p.run_until(waited));
    CHECK(wait_ec == asio::error::operation_aborted);
    CHECK(p.stream->native_handle() == -1);

    std::string data;
    const std::error_code ec = p.peer_read_to_end(data);
    CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
    CHECK(data.empty());

    // Operations on a closed stream fail instead of crashing; close is idempotent.
    std::array<char, 8> buf{};
    std::error_code rec;
    CHECK(p.stream->read_some(asio::buffer(buf), rec) == 0);
    CHECK(rec == asio::error::bad_descriptor);
    p.stream->close();
    CHECK(p.stream->remote_endpoint() == tcp::endpoint{});
}

#if defined(__linux__)
TEST_CASE("plain stream: data and FIN in one edge: after a short read the wait still completes, then eof",
          "[transport][plain]") {
    socket_pair p;
    asio::write(p.peer, asio::buffer(std::string_view("abc")));
    p.peer.shutdown(tcp::socket::shutdown_send);
    // Let both arrive before the stream looks: one readiness event for both.
    bool tick = false;
    asio::steady_timer t(p.io, 30ms);
    t.async_wait([&](std::error_code) { tick = true; });
    p.run_until(tick);
    bool readable = false;
    p.stream->async_wait_readable([&](std::error_code) { readable = true; });
    REQUIRE(p.run_until(readable));
    std::array<char, 64> buf{};
    std::error_code ec;
    CHECK(p.stream->read_some(asio::buffer(buf), ec) == 3);  // short: the data only
    CHECK_FALSE(ec);
    // No new edge comes for the FIN that is already there: the wait must not hang.
    bool again = false;
    p.stream->async_wait_readable([&](std::error_code) { again = true; });
    REQUIRE(p.run_until(again, 500ms));
    CHECK(p.stream->read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::eof);
}

TEST_CASE("plain stream: a peer that resets makes the stream readable and read_some says connection_reset",
          "[transport][plain]") {
    socket_pair p;
    bool readable = false;
    p.stream->async_wait_readable([&](std::error_code) { readable = true; });
    p.peer.set_option(asio::socket_base::linger(true, 0));
    p.peer.close();  // RST
    REQUIRE(p.run_until(readable));
    std::array<char, 8> buf{};
    std::error_code ec;
    CHECK(p.stream->read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::connection_reset);
    // A write after the reset fails (EPIPE or ECONNRESET), never raises SIGPIPE.
    const std::vector<asio::const_buffer> bufs{asio::buffer(std::string_view("x"))};
    ec.clear();
    CHECK(p.stream->try_write_some(bufs, ec) == 0);
    CHECK((ec == asio::error::broken_pipe || ec == asio::error::connection_reset));
}

TEST_CASE("plain stream: a write larger than the socket buffer waits for EPOLLOUT and completes",
          "[transport][plain]") {
    socket_pair p;
    // A small send buffer (not a small receive buffer: a tiny window makes
    // loopback TCP wait for delayed ACKs).
    const int sndbuf = 64 * 1024;
    ::setsockopt(p.stream->native_handle(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    const std::string big(4 * 1024 * 1024, 'w');
    const std::vector<asio::const_buffer> bufs{asio::buffer(big), asio::buffer(std::string_view("!"))};
    auto& poller = wsx::detail::epoll_poller::of(p.io);
    bool done = false;
    std::error_code ec = asio::error::timed_out;
    std::size_t written = 0;
    p.stream->async_write(bufs, [&](std::error_code e, std::size_t n) {
        ec = e;
        written = n;
        done = true;
    });
    CHECK_FALSE(done);
    CHECK(poller.pending() == 1);  // the rest waits for the socket to drain
    const std::string got = p.peer_read(big.size() + 1, 10s);
    INFO("peer read " << got.size() << ", pending " << poller.pending());
    REQUIRE(p.run_until(done, 10s));
    CHECK_FALSE(ec);
    CHECK(written == big.size() + 1);
    CHECK(got.size() == big.size() + 1);
    CHECK(got.back() == '!');
    CHECK(poller.pending() == 0);
}

TEST_CASE("plain stream: close with a wait and a write in flight aborts both, posted", "[transport][plain]") {
    socket_pair p;
    const std::string big(8 * 1024 * 1024, 'w');  // more than loopback buffers hold
    const std::vector<asio::const_buffer> bufs{asio::buffer(big)};
    bool wrote = false, waited = false;
    std::error_code write_ec, wait_ec;
    p.stream->async_write(bufs, [&](std::error_code e, std::size_t) {
        write_ec = e;
        wrote = true;
    });
    p.stream->async_wait_readable([&](std::error_code e) {
        wait_ec = e;
        waited = true;
    });
    p.stream->close();
    CHECK_FALSE(wrote);  // never inline
    CHECK_FALSE(waited);
    REQUIRE(p.run_until(wrote));
    REQUIRE(p.run_until(waited));
    CHECK(write_ec == asio::error::operation_aborted);
    CHECK(wait_ec == asio::error::operation_aborted);
    CHECK(wsx::detail::epoll_poller::of(p.io).pending() == 0);
    CHECK(wsx::detail::epoll_poller::of(p.io).registered() == 0);
    // Nothing waits any more: run() returns at once.
    p.io.restart();
    const auto t0 = std::chrono::steady_clock::now();
    p.io.run_for(2s);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("plain stream: a stream moved while registered keeps its socket and its waits", "[transport][plain]") {
    socket_pair p;
    plain::stream moved(std::move(*p.stream));
    CHECK(p.stream->native_handle() == -1);
    p.stream.reset();  // destroying the moved-from stream closes nothing
    bool readable = false;
    moved.async_wait_readable([&](std::error_code e) { readable = !e; });
    asio::write(p.peer, asio::buffer(std::string_view("m")));
    REQUIRE(p.run_until(readable));
    std::array<char, 8> buf{};
    std::error_code ec;
    CHECK(moved.read_some(asio::buffer(buf), ec) == 1);
    CHECK(buf[0] == 'm');
}
#endif

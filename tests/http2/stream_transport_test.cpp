// SPDX-License-Identifier: BSL-1.0
#include "wsx/http2/stream_transport.hpp"

#include "catch.hpp"

#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

using namespace wsx;
using wsx::http2::detail::stream_state;

namespace {

// Records what the stream asks of its session.
struct fake_owner : http2::detail::stream_owner {
    std::size_t consumed = 0;
    int outputs = 0;
    int resets = 0;
    void stream_consumed(std::int32_t, std::size_t n) override { consumed += n; }
    void stream_output(std::int32_t) override { ++outputs; }
    void stream_reset(std::int32_t) override { ++resets; }
};

struct fixture {
    asio::io_context io;
    std::shared_ptr<fake_owner> owner = std::make_shared<fake_owner>();
    std::shared_ptr<stream_state> state = std::make_shared<stream_state>(1, io.get_executor());
    http2::transport::stream stream{owner, state, {}};
};

// Runs what is ready (an io_context that ran out of work must be restarted).
void pump(asio::io_context& io) {
    io.restart();
    io.poll();
}

const std::uint8_t* bytes(const char* s) { return reinterpret_cast<const std::uint8_t*>(s); }

} // namespace

TEST_CASE("reads: would_block when empty, the delivered bytes, then the end; the window reopens as read") {
    fixture f;
    char buf[8];
    std::error_code ec;
    CHECK(f.stream.read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::would_block);

    bool woken = false;
    f.stream.async_wait_readable([&](std::error_code e) { woken = !e; });
    pump(f.io);
    CHECK_FALSE(woken);  // nothing there yet
    f.state->deliver(bytes("hello world"), 11);
    CHECK_FALSE(woken);  // completions are posted, never run inside deliver()
    pump(f.io);
    CHECK(woken);

    CHECK(f.stream.read_some(asio::buffer(buf), ec) == 8);
    CHECK(std::string(buf, 8) == "hello wo");
    CHECK(f.owner->consumed == 8);
    f.state->end_input(make_error_code(asio::error::eof));
    CHECK(f.stream.read_some(asio::buffer(buf), ec) == 3);  // buffered input before the end
    CHECK(std::string(buf, 3) == "rld");
    CHECK(f.stream.read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::eof);
    CHECK(f.owner->consumed == 11);
    // After the end, input is refused: the session gives its credit back.
    CHECK_FALSE(f.state->deliver(bytes("late"), 4));
}

TEST_CASE("input that will never be read can be discarded, and says how much it was") {
    fixture f;
    CHECK(f.state->deliver(bytes("unread"), 6));
    char buf[2];
    std::error_code ec;
    CHECK(f.stream.read_some(asio::buffer(buf), ec) == 2);
    CHECK(f.state->discard_input() == 4);
    CHECK(f.state->buffered_input() == 0);
}

TEST_CASE("a wait started after input arrived completes at once") {
    fixture f;
    f.state->deliver(bytes("x"), 1);
    int calls = 0;
    f.stream.async_wait_readable([&](std::error_code) { ++calls; });
    pump(f.io);
    CHECK(calls == 1);
}

TEST_CASE("writes complete only when the session has taken every byte (flow-control backpressure)") {
    fixture f;
    const std::string a = "abcdef", b = "ghij";
    const std::vector<asio::const_buffer> bufs{asio::buffer(a), asio::buffer(b)};
    std::size_t written = 0;
    std::error_code wec = make_error_code(asio::error::fault);
    f.stream.async_write(bufs, [&](std::error_code e, std::size_t n) {
        wec = e;
        written = n;
    });
    CHECK(f.owner->outputs == 1);
    CHECK(f.state->write_pending());

    std::uint8_t frame[7];
    CHECK(f.state->take_output(frame, 7) == 7);  // the window allowed 7 bytes
    CHECK(std::string(reinterpret_cast<char*>(frame), 7) == "abcdefg");
    pump(f.io);
    CHECK(written == 0);  // not complete: the peer's window holds the rest
    CHECK(f.state->take_output(frame, 7) == 3);
    CHECK(std::string(reinterpret_cast<char*>(frame), 3) == "hij");
    CHECK_FALSE(f.state->write_pending());
    pump(f.io);
    CHECK(written == 10);
    CHECK_FALSE(wec);
    CHECK(f.state->take_output(frame, 7) == 0);
}

TEST_CASE("shutdown asks for END_STREAM after the output; close resets and fails what waits") {
    fixture f;
    bool shut = false;
    f.stream.async_shutdown([&](std::error_code e) { shut = !e; });
    CHECK(f.state->end_requested());
    CHECK(f.owner->outputs == 1);
    pump(f.io);
    CHECK(shut);

    const std::string a = "pending";
    std::error_code wec;
    f.stream.async_write(std::vector<asio::const_buffer>{asio::buffer(a)},
                         [&](std::error_code e, std::size_t) { wec = e; });
    bool read_done = false;
    f.stream.async_wait_readable([&](std::error_code) { read_done = true; });
    f.stream.close();
    CHECK(f.owner->resets == 1);
    f.stream.close();  // once only
    CHECK(f.owner->resets == 1);
    pump(f.io);
    CHECK(wec == asio::error::operation_aborted);
    CHECK(read_done);
    CHECK(f.state->ended());
}

TEST_CASE("after the stream ended, a write fails at once and does not ask for output") {
    fixture f;
    f.state->end(make_error_code(asio::error::connection_reset));
    const std::string a = "x";
    std::error_code wec;
    f.stream.async_write(std::vector<asio::const_buffer>{asio::buffer(a)},
                         [&](std::error_code e, std::size_t) { wec = e; });
    CHECK(f.owner->outputs == 0);
    pump(f.io);
    CHECK(wec == asio::error::connection_reset);
    char buf[4];
    std::error_code ec;
    f.stream.read_some(asio::buffer(buf), ec);
    CHECK(ec == asio::error::connection_reset);
}

TEST_CASE("the stream is a transport policy and moves") {
    STATIC_REQUIRE(wsx::transport::policy<http2::transport>);
    fixture f;
    http2::transport::stream moved = std::move(f.stream);
    CHECK(moved.stream_id() == 1);
}

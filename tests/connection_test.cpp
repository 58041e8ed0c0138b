// SPDX-License-Identifier: BSL-1.0
#include <wsx/connection.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "memory_connection.hpp"
#include "memory_transport.hpp"

#include <wsx/protocol/message_assembler.hpp>

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using wsx::role;
using wsx::protocol::event_type;
using wsx::test::memory_transport;

namespace {

// One frame as a client (masked) or a server (unmasked) would send it.
std::string frame(opcode op, std::string_view payload, bool fin = true, bool masked = true) {
    std::string out;
    const wsx::protocol::mask_key key{0x12, 0x34, 0x56, 0x78};
    wsx::protocol::append_frame(out, op, payload, fin, masked ? &key : nullptr);
    return out;
}

std::string close_frame(close_code code, std::string_view reason, bool masked = true) {
    std::string out;
    const wsx::protocol::mask_key key{1, 2, 3, 4};
    wsx::protocol::append_close_frame(out, code, reason, masked ? &key : nullptr);
    return out;
}

struct seen_event {
    event_type type;
    opcode op;
    std::string payload;
    close_code code;
};

// Parses what the connection wrote, as its peer would.
std::vector<seen_event> parse(std::string bytes, role peer_role = role::client) {
    wsx::protocol::message_assembler a({.local_role = peer_role, .max_message_size = 1u << 30});
    std::vector<seen_event> out;
    std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
    while (!in.empty()) {
        auto r = a.consume(in);
        in = in.subspan(r.consumed);
        if (r.ev.type == event_type::need_more) continue;
        out.push_back({r.ev.type, r.ev.message_type, std::string{r.ev.payload}, r.ev.code});
        if (r.ev.type == event_type::error) {
            FAIL("the connection wrote an invalid frame: " << r.ev.what);
        }
        if (r.ev.type == event_type::close) break;
    }
    return out;
}

struct fixture {
    asio::io_context io{1};
    wsx::detail::worker worker{io, 10ms};
    std::shared_ptr<memory_transport::pipe> pipe = std::make_shared<memory_transport::pipe>(io);
    wsx::endpoint ep;
    wsx::connection_options limits{.idle_timeout = 0ms, .close_timeout = 200ms};
    std::shared_ptr<wsx::basic_connection<memory_transport>> conn;

    std::vector<std::string> received;
    int closes = 0;
    close_code closed_with = close_code::normal;
    std::string closed_reason;

    fixture() {
        ep.on_message = [this](wsx::connection& c, wsx::message m) {
            received.emplace_back(m.text());
            c.send(m);
        };
        ep.on_close = [this](wsx::connection&, close_code code, std::string_view reason) {
            ++closes;
            closed_with = code;
            closed_reason = reason;
        };
    }

    void open(role r = role::server, std::string_view preface = {}, std::string early = {}) {
        conn = wsx::basic_connection<memory_transport>::open(
            worker, memory_transport::stream(pipe), ep, limits, r, wsx::connection_info{"/", {}, {}, {}, {}},
            preface, {reinterpret_cast<std::uint8_t*>(early.data()), early.size()});
    }
    // Runs everything that is ready now.
    void poll() {
        io.restart();
        io.poll();
    }
    void run_for(std::chrono::milliseconds d) {
        io.restart();
        io.run_for(d);
    }
    // Runs until `done()` holds (or a generous cap passes): a deadline test
    // that waits a fixed time fails whenever the machine is busy.
    template <class Done>
    void run_until(Done done, std::chrono::milliseconds cap = std::chrono::seconds(5)) {
        const auto start = std::chrono::steady_clock::now();
        while (!done() && std::chrono::steady_clock::now() - start < cap) run_for(5ms);
    }
    std::vector<seen_event> output(role peer = role::client) { return parse(pipe->take_output(), peer); }
};

} // namespace

TEST_CASE("echoes text and binary, and corks the answers to one read into one write") {
    fixture f;
    f.open();
    f.pipe->feed(frame(opcode::text, "one") + frame(opcode::binary, std::string("\0\1", 2)) +
                 frame(opcode::text, ""));
    f.poll();
    REQUIRE(f.received == std::vector<std::string>{"one", std::string("\0\1", 2), ""});
    CHECK(f.pipe->write_calls == 1);
    const auto out = f.output();
    REQUIRE(out.size() == 3);
    CHECK(out[0].op == opcode::text);
    CHECK(out[0].payload == "one");
    CHECK(out[1].op == opcode::binary);
    CHECK(out[1].payload == std::string("\0\1", 2));
    CHECK(out[2].payload.empty());
    CHECK(f.conn->stats().messages_in == 3);
    CHECK(f.conn->stats().messages_out == 3);
    CHECK(f.conn->stats().bytes_in == 5);
}

TEST_CASE("a message split across many reads is assembled") {
    fixture f;
    f.open();
    const std::string bytes = frame(opcode::text, "hello ", false) + frame(opcode::continuation, "world");
    for (char c : bytes) {
        f.pipe->feed(std::string_view{&c, 1});
        f.poll();
    }
    CHECK(f.received == std::vector<std::string>{"hello world"});
}

TEST_CASE("the preface goes out first, then on_open's sends, then answers to early bytes") {
    fixture f;
    f.ep.on_open = [](wsx::connection& c) { c.send("welcome"); };
    f.open(role::server, "HTTP/1.1 101 Switching Protocols\r\n\r\n", frame(opcode::text, "early"));
    f.poll();
    std::string out = f.pipe->take_output();
    const std::string preface = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    REQUIRE(out.starts_with(preface));
    const auto events = parse(out.substr(preface.size()));
    REQUIRE(events.size() == 2);
    CHECK(events[0].payload == "welcome");
    CHECK(events[1].payload == "early");
}

TEST_CASE("a ping is answered with a pong carrying the same payload") {
    fixture f;
    std::string pinged;
    f.ep.on_ping = [&](wsx::connection&, std::string_view p) { pinged = p; };
    f.open();
    f.pipe->feed(frame(opcode::ping, "abc"));
    f.poll();
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == event_type::pong);
    CHECK(out[0].payload == "abc");
    CHECK(pinged == "abc");
}

TEST_CASE("closing handshake started by the peer") {
    fixture f;
    f.open();
    f.pipe->feed(close_frame(close_code{4000}, "bye"));
    f.poll();
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == event_type::close);
    CHECK(out[0].code == close_code{4000});  // echoed (RFC 6455 §5.5.1)
    CHECK(f.pipe->shut_down);                // the server closes TCP first (§7.1.1)
    CHECK(f.conn->state() == wsx::connection_state::closing);
    CHECK_FALSE(f.conn->send("too late"));
    CHECK(f.closes == 0);
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closes == 1);
    CHECK(f.closed_with == close_code{4000});
    CHECK(f.closed_reason == "bye");
    CHECK(f.pipe->closed);
    CHECK(f.conn->error() == wsx::error::closed);
}

TEST_CASE("a close frame without a code is answered without a code") {
    fixture f;
    f.open();
    f.pipe->feed(frame(opcode::close, ""));
    f.poll();
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].code == close_code::no_status);
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closed_with == close_code::no_status);
}

TEST_CASE("closing handshake started by the server") {
    fixture f;
    f.ep.on_message = [](wsx::connection& c, wsx::message) { c.close(close_code::normal, "done"); };
    f.open();
    f.pipe->feed(frame(opcode::text, "please close"));
    f.poll();
    auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].code == close_code::normal);
    CHECK(out[0].payload == "done");
    CHECK_FALSE(f.pipe->shut_down);  // waits for the peer's close first
    // Data may still arrive before the peer's close; we send nothing more.
    f.pipe->feed(frame(opcode::text, "late") + close_frame(close_code::normal, ""));
    f.poll();
    CHECK(f.pipe->outbound.empty());
    CHECK(f.pipe->shut_down);
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closes == 1);
    CHECK(f.closed_with == close_code::normal);
}

TEST_CASE("close timeout: a peer that never answers our close is dropped") {
    fixture f;
    f.open();
    const auto closed = std::chrono::steady_clock::now();
    f.conn->close(close_code::going_away, "bye");
    f.run_for(100ms);
    CHECK(f.conn->state() == wsx::connection_state::closing);
    f.run_until([&] { return f.conn->state() == wsx::connection_state::closed; });
    CHECK(std::chrono::steady_clock::now() - closed >= 200ms);  // the close timeout
    CHECK(f.conn->state() == wsx::connection_state::closed);
    CHECK(f.pipe->closed);
    CHECK(f.closed_with == close_code::abnormal);  // the peer sent no close frame
    CHECK(f.conn->error() == wsx::error::close_timeout);
}

TEST_CASE("protocol violations fail the connection with the right close code") {
    struct row {
        const char* name;
        std::string bytes;
        close_code code;
        wsx::error err;
    };
    const std::vector<row> rows = {
        {"unmasked client frame", frame(opcode::text, "x", true, false), close_code::protocol_error,
         wsx::error::protocol_violation},
        {"invalid UTF-8", frame(opcode::text, "\xc3\x28"), close_code::invalid_payload, wsx::error::invalid_utf8},
        {"message over the limit", frame(opcode::binary, std::string(2000, 'x')), close_code::message_too_big,
         wsx::error::message_too_big},
        {"continuation without start", frame(opcode::continuation, "x"), close_code::protocol_error,
         wsx::error::protocol_violation},
    };
    for (const auto& r : rows) {
        DYNAMIC_SECTION(r.name) {
            fixture f;
            f.limits.max_message_size = 1024;
            f.open();
            f.pipe->feed(r.bytes);
            f.poll();
            const auto out = f.output();
            REQUIRE(out.size() == 1);
            CHECK(out[0].type == event_type::close);
            CHECK(out[0].code == r.code);
            CHECK(f.received.empty());
            CHECK(f.pipe->shut_down);  // no waiting for the peer's answer (§7.1.7)
            f.pipe->close_peer();
            f.poll();
            CHECK(f.closes == 1);
            CHECK(f.closed_with == r.code);
            CHECK(f.conn->error() == r.err);
        }
    }
}

TEST_CASE("the peer vanishing without a close frame reports 1006") {
    fixture f;
    f.open();
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closes == 1);
    CHECK(f.closed_with == close_code::abnormal);
    CHECK(f.conn->error() == asio::error::eof);
}

TEST_CASE("a failing read or write ends only that connection") {
    SECTION("read") {
        fixture f;
        f.open();
        f.pipe->fail_at = 0;
        f.pipe->feed(frame(opcode::text, "x"));
        f.poll();
        CHECK(f.closes == 1);
        CHECK(f.closed_with == close_code::abnormal);
        CHECK(f.conn->error() == asio::error::connection_reset);
    }
    SECTION("write") {
        fixture f;
        f.open();
        f.pipe->fail_at = 1;  // operation 0 reads the frame, 1 writes the echo
        f.pipe->feed(frame(opcode::text, "x"));
        f.poll();
        CHECK(f.closes == 1);
        CHECK(f.conn->error() == asio::error::broken_pipe);
    }
}

TEST_CASE("a handler that throws closes its connection with 1011") {
    fixture f;
    f.ep.on_message = [](wsx::connection&, wsx::message) { throw std::runtime_error("bug"); };
    f.open();
    f.pipe->feed(frame(opcode::text, "x"));
    f.poll();
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].code == close_code::internal_error);
}

TEST_CASE("idle timeout: a ping at half, a close at the full timeout") {
    fixture f;
    f.limits.idle_timeout = 200ms;
    const auto opened = std::chrono::steady_clock::now();
    f.open();
    std::vector<seen_event> out;
    f.run_until([&] { return !(out = f.output()).empty(); });
    // Deadlines never fire early; how late depends on the machine.
    CHECK(std::chrono::steady_clock::now() - opened >= 100ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == event_type::ping);
    f.run_until([&] { return !(out = f.output()).empty(); });
    CHECK(std::chrono::steady_clock::now() - opened >= 200ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0].type == event_type::close);
    CHECK(out[0].code == close_code::going_away);
    CHECK(out[0].payload == "idle timeout");
    CHECK(f.conn->error() == wsx::error::idle_timeout);
}

TEST_CASE("idle timeout: traffic from the peer keeps the connection open") {
    fixture f;
    f.limits.idle_timeout = 200ms;
    f.open();
    for (int i = 0; i < 6; ++i) {
        f.run_for(60ms);
        f.pipe->feed(frame(opcode::pong, ""));
    }
    f.run_for(10ms);
    CHECK(f.conn->is_open());
}

TEST_CASE("backpressure: the drop policy refuses messages over the limit and counts them") {
    fixture f;
    f.limits.max_buffered_bytes = 100;
    f.limits.on_backpressure = wsx::backpressure_policy::drop;
    f.open();
    f.pipe->write_budget = 0;  // the peer reads nothing
    const std::string payload(60, 'x');
    CHECK(f.conn->send(payload));  // not yet run: posted from this (foreign) thread
    f.poll();
    CHECK(f.conn->buffered_amount() == 62);
    bool second = true;
    asio::post(f.io, [&] { second = f.conn->send(payload); });
    f.poll();
    CHECK_FALSE(second);
    CHECK(f.conn->stats().dropped == 1);
    CHECK(f.conn->is_open());
    f.pipe->allow_writes();
    f.poll();
    CHECK(f.conn->buffered_amount() == 0);
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].payload == payload);
}

TEST_CASE("backpressure: the close policy closes a client that does not read with 1008") {
    fixture f;
    f.limits.max_buffered_bytes = 100;
    f.open();
    f.pipe->write_budget = 0;
    asio::post(f.io, [&] {
        for (int i = 0; i < 10; ++i) f.conn->send(std::string(60, 'x'));
    });
    f.poll();
    CHECK(f.conn->state() == wsx::connection_state::closing);
    CHECK(f.conn->error() == wsx::error::backpressure);
    CHECK(f.conn->buffered_amount() < 200);
    // It never reads: dropped at the close timeout.
    f.run_until([&] { return f.conn->state() == wsx::connection_state::closed; });
    CHECK(f.conn->state() == wsx::connection_state::closed);
    CHECK(f.closed_with == close_code::policy_violation);
}

TEST_CASE("on_drain fires once the backlog is written") {
    fixture f;
    int drains = 0;
    f.ep.on_drain = [&](wsx::connection&) { ++drains; };
    f.open();
    f.pipe->write_budget = 10;
    f.conn->send(std::string(1000, 'y'));
    f.poll();
    CHECK(f.conn->buffered_amount() > 0);
    CHECK(drains == 0);
    f.pipe->allow_writes();
    f.poll();
    CHECK(drains == 1);
    CHECK(f.conn->buffered_amount() == 0);
    CHECK(f.output().at(0).payload == std::string(1000, 'y'));
}

TEST_CASE("send, ping and close race from several threads while the I/O thread runs") {
    // Four senders and a closer on their own threads, the I/O thread running:
    // each sender's messages arrive in its order, nothing follows the close
    // frame, every send after the close is refused, and what was accepted is
    // all given back (buffered_amount() returns to 0). Run under TSan in CI.
    fixture f;
    f.open();
    auto guard = asio::make_work_guard(f.io);
    std::thread io([&] { f.io.run(); });
    constexpr int senders = 4, per_sender = 400;  // at least
    std::atomic<int> started{0};
    std::atomic<int> accepted{0}, refused_after_close{0}, wrong_status{0};
    std::atomic<bool> closed{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < senders; ++t)
        threads.emplace_back([&, t] {
            ++started;
            // Past the close by a few sends, and at most 100,000.
            int after_close = 0;
            for (int i = 0; (i < per_sender || after_close < 10) && i < 100000; ++i) {
                if (closed.load()) ++after_close;
                const bool was_closed = closed.load();
                const wsx::send_result r = f.conn->send(std::to_string(t) + ":" + std::to_string(i));
                // Counted here and checked on the test's thread (Catch is not thread-safe).
                if (was_closed) ++(r.status() == wsx::send_status::not_open ? refused_after_close : wrong_status);
                else if (r) ++accepted;
                if (i % 50 == 0) f.conn->ping("p");
            }
        });
    std::thread closer([&] {
        while (started.load() < senders) std::this_thread::yield();
        std::this_thread::sleep_for(1ms);
        f.conn->close(close_code::going_away, "enough");
        closed = true;
    });
    for (auto& t : threads) t.join();
    closer.join();
    asio::post(f.io, [&] { guard.reset(); });
    // The peer never answers the close: the close deadline ends the connection.
    io.join();
    CHECK(f.conn->state() == wsx::connection_state::closed);
    CHECK(f.conn->buffered_amount() == 0);

    const auto out = f.output();
    REQUIRE_FALSE(out.empty());
    CHECK(out.back().type == event_type::close);
    CHECK(out.back().code == close_code::going_away);
    std::vector<int> next(senders, 0);
    int messages = 0;
    for (const auto& e : out) {
        if (e.type != event_type::message) continue;
        ++messages;
        const auto colon = e.payload.find(':');
        REQUIRE(colon != std::string::npos);
        const auto t = static_cast<std::size_t>(std::stoi(e.payload.substr(0, colon)));
        REQUIRE(t < next.size());
        CHECK(std::stoi(e.payload.substr(colon + 1)) >= next[t]);  // in each sender's order
        next[t] = std::stoi(e.payload.substr(colon + 1)) + 1;
    }
    // Accepted before the close, and the close came first on the I/O thread:
    // such a message is dropped there, never written after the close frame.
    CHECK(messages <= accepted.load());
    CHECK(static_cast<std::uint64_t>(messages) == f.conn->stats().messages_out);
    INFO("accepted " << accepted.load() << ", refused after the close " << refused_after_close.load()
                     << ", wrong " << wrong_status.load() << ", written " << messages);
    CHECK(refused_after_close.load() > 0);  // the close did land in the middle
    CHECK(wrong_status.load() == 0);
}

TEST_CASE("a handler's exception and on_close's go to the worker's log hook") {
    fixture f;
    std::vector<std::string> lines;
    const wsx::log_handler hook = [&](wsx::log_level level, std::string_view category, std::string_view msg) {
        CHECK(level == wsx::log_level::error);
        CHECK(category == "websocket");
        lines.emplace_back(msg);
    };
    f.worker.set_log(&hook);
    f.ep.on_message = [](wsx::connection&, wsx::message) { throw std::runtime_error("bug in on_message"); };
    f.ep.on_close = [](wsx::connection&, close_code, std::string_view) {
        throw std::runtime_error("bug in on_close");
    };
    f.open();
    f.pipe->feed(frame(opcode::text, "x"));
    f.poll();
    f.pipe->close_peer();
    f.poll();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "a handler threw: bug in on_message; closing with 1011");
    CHECK(lines[1] == "on_close threw: bug in on_close");
}

TEST_CASE("invalid text and misuse are refused") {
    fixture f;
    f.open();
    CHECK_FALSE(f.conn->send("\xff"));
    CHECK_THROWS_AS(f.conn->close(close_code::no_status), std::invalid_argument);
    CHECK_THROWS_AS(f.conn->close(close_code::normal, "\xff"), std::invalid_argument);
    CHECK_THROWS_AS(f.conn->ping(std::string(126, 'x')), std::invalid_argument);
    CHECK_THROWS_AS(f.conn->send(opcode::ping, "x"), std::invalid_argument);
}

TEST_CASE("a prepared message is queued by reference, identical on the wire") {
    fixture f;
    f.open();
    const auto m = wsx::prepared_message::text("shared");
    f.pipe->write_budget = 3;  // force the queued (not written-through) path
    CHECK(f.conn->send(m));
    f.poll();
    f.pipe->allow_writes();
    f.poll();
    CHECK(f.pipe->take_output() == *m.frame());
}

TEST_CASE("client role masks every frame it sends") {
    fixture f;
    f.open(role::client);
    f.conn->send("masked");
    f.conn->send(wsx::prepared_message::text("prepared"));
    f.poll();
    const std::string bytes = f.pipe->outbound;
    REQUIRE(bytes.size() > 2);
    CHECK((static_cast<unsigned char>(bytes[1]) & 0x80) != 0);
    const auto out = f.output(role::server);  // a server-role parser rejects unmasked frames
    REQUIRE(out.size() == 2);
    CHECK(out[0].payload == "masked");
    CHECK(out[1].payload == "prepared");
}

TEST_CASE("streaming endpoints get a large message piece by piece") {
    fixture f;
    f.ep.streaming = true;
    std::vector<std::pair<std::string, bool>> pieces;
    f.ep.on_message = [&](wsx::connection&, wsx::message m) { pieces.emplace_back(m.text(), m.is_final()); };
    f.open();
    f.pipe->feed(frame(opcode::text, "abc", false));
    f.poll();
    f.pipe->feed(frame(opcode::continuation, "def"));
    f.poll();
    REQUIRE(pieces.size() >= 2);
    std::string all;
    for (const auto& p : pieces) all += p.first;
    CHECK(all == "abcdef");
    CHECK(pieces.back().second);
    CHECK_FALSE(pieces.front().second);
    CHECK(f.conn->stats().messages_in == 1);
}

TEST_CASE("ids are short, URL-safe and distinct") {
    fixture f;
    f.open();
    auto first = std::string{f.conn->id()};
    fixture g;
    g.open();
    CHECK(first.size() == 11);
    CHECK(first.find_first_not_of("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") ==
          std::string::npos);
    CHECK(first != g.conn->id());
}

TEST_CASE("send_fragment sends one message as several frames") {
    fixture f;
    f.open();
    asio::post(f.io, [&] {
        CHECK(f.conn->send_fragment(opcode::text, "[1,", false));
        CHECK_FALSE(f.conn->send("not now"));                    // would interleave data frames
        CHECK_FALSE(f.conn->send_fragment(opcode::binary, "x", false));  // type changes mid-message
        CHECK(f.conn->ping("still fine"));                       // control frames may interleave
        CHECK(f.conn->send_fragment(opcode::text, "\xc3", false));  // a split code point is fine...
        CHECK(f.conn->send_fragment(opcode::text, "\xa9]", true));  // ...once completed
        CHECK(f.conn->send("after"));
    });
    f.poll();
    std::string bytes = f.pipe->take_output();
    // Check the frames themselves: opcodes and FIN bits as RFC 6455 §5.4 wants.
    std::vector<std::pair<int, bool>> frames;
    std::span<const std::uint8_t> in{reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()};
    while (!in.empty()) {
        wsx::protocol::frame_header h;
        const std::size_t n = wsx::protocol::decode_frame_header(in, h);
        REQUIRE(n > 0);
        frames.emplace_back(static_cast<int>(h.op), h.fin);
        in = in.subspan(n + h.payload_length);
    }
    CHECK(frames == std::vector<std::pair<int, bool>>{{1, false}, {9, true}, {0, false}, {0, true}, {1, true}});
    const auto events = parse(bytes);
    REQUIRE(events.size() == 3);
    CHECK(events[0].type == event_type::ping);
    CHECK(events[1].payload == "[1,\xc3\xa9]");
    CHECK(events[2].payload == "after");
    CHECK(f.conn->stats().messages_out == 2);
}

TEST_CASE("send_fragment refuses text that is not UTF-8") {
    fixture f;
    f.open();
    bool bad = true, unfinished = true;
    asio::post(f.io, [&] {
        bad = f.conn->send_fragment(opcode::text, "\xff", false);
        unfinished = f.conn->send_fragment(opcode::text, "\xc3", true);  // ends mid code point
    });
    f.poll();
    CHECK_FALSE(bad);
    CHECK_FALSE(unfinished);
}

TEST_CASE("on_drain paces a producer: it fires whenever everything sent is written") {
    fixture f;
    int produced = 0;
    auto produce = [&](wsx::connection& c) {
        // Send a batch of up to 10 messages while little is buffered.
        for (int i = 0; i < 10 && produced < 35 && c.buffered_amount() < 1000; ++i)
            c.send("item " + std::to_string(produced++));
    };
    f.ep.on_drain = produce;
    f.ep.on_message = [&](wsx::connection& c, wsx::message) { produce(c); };
    f.open();
    f.pipe->feed(frame(opcode::text, "start"));
    f.run_for(50ms);
    CHECK(produced == 35);
    const auto out = f.output();
    REQUIRE(out.size() == 35);
    CHECK(out[34].payload == "item 34");
}

TEST_CASE("buffered_amount counts what a handler sent during the current read") {
    // Those bytes sit in the thread's cork buffer until the read is handled; a
    // producer pacing itself on buffered_amount() must see them.
    fixture f;
    std::size_t seen = 0;
    f.ep.on_message = [&](wsx::connection& c, wsx::message) {
        c.send(std::string(1000, 'x'));
        seen = c.buffered_amount();
    };
    f.open();
    f.pipe->feed(frame(opcode::text, "go"));
    f.poll();
    CHECK(seen >= 1000);
    CHECK(f.conn->buffered_amount() == 0);  // written at the end of the read
}

TEST_CASE("try_send waits instead of applying the backpressure policy") {
    fixture f;
    f.limits.max_buffered_bytes = 100;  // policy close: send() would close with 1008
    f.open();
    f.pipe->write_budget = 0;
    wsx::send_result first, second;
    asio::post(f.io, [&] {
        first = f.conn->try_send(opcode::text, std::string(60, 'x'));
        second = f.conn->try_send(opcode::text, std::string(60, 'y'));
    });
    f.poll();
    CHECK(first == wsx::send_status::queued);
    CHECK(second == wsx::send_status::dropped);  // no room: refused, nothing charged
    CHECK(f.conn->is_open());
    CHECK(f.conn->stats().dropped == 0);
    CHECK(f.conn->buffered_amount() == 62);
    CHECK(f.conn->try_send(opcode::text, "\xff") == wsx::send_status::invalid_utf8);
    f.pipe->allow_writes();
    f.poll();
    CHECK(f.conn->try_send(opcode::text, std::string(60, 'y')));  // from this thread, after the drain
    f.poll();
    const auto out = f.output();
    REQUIRE(out.size() == 2);
    CHECK(out[1].payload == std::string(60, 'y'));
}

TEST_CASE("pause_reading holds incoming messages until resume_reading; a close still reads") {
    fixture f;
    f.open();
    asio::post(f.io, [&] { f.conn->pause_reading(); });
    f.poll();
    f.pipe->feed(frame(opcode::text, "held"));
    f.poll();
    CHECK(f.received.empty());
    CHECK(f.pipe->inbound.size() > 0);  // still in the socket
    asio::post(f.io, [&] { f.conn->resume_reading(); });
    f.poll();
    REQUIRE(f.received.size() == 1);
    CHECK(f.received[0] == "held");

    // Paused again, the server closes: it reads the peer's close all the same.
    asio::post(f.io, [&] {
        f.conn->pause_reading();
        f.conn->close(close_code::going_away, "bye");
    });
    f.poll();
    f.pipe->feed(close_frame(close_code::going_away, ""));
    f.poll();
    CHECK(f.pipe->shut_down);
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closes == 1);
    CHECK(f.closed_with == close_code::going_away);
}

TEST_CASE("a send on the connection's thread does not overtake what another thread sent before it") {
    // A topic's publishes are ordered by a lock, from any thread: message 1
    // offered from another thread waits in the inbox; message 2, offered
    // afterwards on the connection's own thread, must follow it on the wire.
    const wsx::endpoint ep{};
    wsx::test::memory_hub hub;
    auto& peer = hub.connect(ep);
    auto conn = peer.conn;
    asio::post(hub.io, [conn] {
        std::thread other([conn] { conn->send(wsx::prepared_message::text("1")); });
        other.join();
        conn->send(wsx::prepared_message::text("2"));
        conn->send("3");
    });
    hub.poll();
    CHECK(peer.messages() == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("connection_info's facts read back as given, the usually-empty ones too") {
    // The connection keeps connection_info in a compact form (subprotocol and
    // user apart, only when set; the endpoint row as a 32-bit number): every
    // accessor must still return what the server gave it.
    fixture f;
    f.worker.metrics().set_endpoints(4);
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("127.0.0.1"), 5555};
    wsx::connection_info info{"/chat", "v2", "alice", std::any{7}, remote};
    info.protocol = "h2";
    info.endpoint_index = 3;
    auto pipe = std::make_shared<memory_transport::pipe>(f.io);
    auto named = wsx::basic_connection<memory_transport>::open(
        f.worker, memory_transport::stream(pipe), f.ep, f.limits, role::server, std::move(info), {}, {});
    CHECK(named->path() == "/chat");
    CHECK(named->subprotocol() == "v2");
    CHECK(named->user() == "alice");
    REQUIRE(std::any_cast<int>(&named->user_data()));
    CHECK(std::any_cast<int>(named->user_data()) == 7);
    CHECK(named->protocol() == "h2");
    CHECK(named->remote_endpoint() == remote);
    CHECK(named->id().size() == 11);
    wsx::server_metrics m;
    m.endpoints.resize(4);
    f.worker.metrics().sum_into(m);
    CHECK(m.endpoints[3].accepted == 1);
    pipe->close_peer();  // it ends: on_close runs, and the row counts it
    f.poll();
    CHECK(f.closes == 1);
    m = {};
    m.endpoints.resize(4);
    f.worker.metrics().sum_into(m);
    CHECK(m.endpoints[3].closed == 1);

    f.open();  // connection_info{"/", {}, {}, {}, {}}: no endpoint row
    CHECK(f.conn->path() == "/");
    CHECK(f.conn->subprotocol().empty());
    CHECK(f.conn->user().empty());
    CHECK_FALSE(f.conn->user_data().has_value());
    CHECK(f.conn->protocol() == "http/1.1");
    f.conn->user_data() = std::string{"set later"};
    CHECK(std::any_cast<std::string>(f.conn->user_data()) == "set later");
    f.conn->close(close_code::going_away, "bye");
    f.pipe->feed(close_frame(close_code::going_away, "peer's reason"));
    f.poll();
    f.pipe->close_peer();
    f.poll();
    CHECK(f.closes == 2);
    CHECK(f.closed_reason == "peer's reason");
}

// ---- a large echo written from where it lies (issue #15) --------------------

namespace {
// A binary payload whose bytes all differ from their neighbours, so a piece
// out of place shows.
std::string big_payload(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
    return s;
}
bool points_into(const void* p, std::span<const std::uint8_t> range) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    return b >= range.data() && b < range.data() + range.size();
}
} // namespace

TEST_CASE("a large echo goes out in one write with its payload taken from the read buffer") {
    fixture f;
    f.open();
    const std::string payload = big_payload(16384);
    f.pipe->feed(frame(opcode::binary, payload));
    f.poll();
    CHECK(f.pipe->write_calls == 1);
    // Header, then payload straight from the read buffer: not copied into the cork first.
    const std::span<const std::uint8_t> read_buffer = f.worker.read_buffer();
    CHECK(std::count_if(f.pipe->written_from.begin(), f.pipe->written_from.end(),
                        [&](const void* p) { return points_into(p, read_buffer); }) == 1);
    const auto out = f.output();
    REQUIRE(out.size() == 1);
    CHECK(out[0].op == opcode::binary);
    CHECK(out[0].payload == payload);
    CHECK(f.conn->buffered_amount() == 0);
    CHECK(f.conn->stats().messages_out == 1);
    CHECK(f.conn->stats().bytes_out == payload.size());
}

TEST_CASE("a large echo the socket takes only part of: what was corked first, then the rest, in order") {
    // A ping and a large text message in one read: the pong is corked, then
    // the echo is written with it. The socket takes `budget` bytes; whatever
    // the cut (inside the pong, the echo's header, its payload), the peer
    // gets the pong and then the whole echo, and buffered_amount() counts
    // exactly the bytes still waiting.
    const std::string payload(20000, 'a');
    const std::string pong = [] {
        std::string s;
        wsx::protocol::append_frame(s, opcode::pong, "p");
        return s;
    }();
    const std::size_t echo_size = 4 + payload.size();
    for (const std::size_t budget : {std::size_t{0}, std::size_t{1}, pong.size(), pong.size() + 1,
                                     pong.size() + 4, pong.size() + 100, pong.size() + echo_size - 1}) {
        CAPTURE(budget);
        fixture f;
        f.open();
        f.pipe->write_budget = budget;
        f.pipe->feed(frame(opcode::ping, "p") + frame(opcode::text, payload));
        f.poll();
        CHECK(f.pipe->outbound.size() == budget);
        CHECK(f.conn->buffered_amount() == pong.size() + echo_size - budget);
        f.pipe->allow_writes();
        f.poll();
        CHECK(f.conn->buffered_amount() == 0);
        const auto out = f.output();
        REQUIRE(out.size() == 2);
        CHECK(out[0].type == event_type::pong);
        CHECK(out[0].payload == "p");
        CHECK(out[1].op == opcode::text);
        CHECK(out[1].payload == payload);
    }
}

TEST_CASE("large messages that do not end the read are corked, and every echo keeps its place") {
    fixture f;
    f.open();
    const std::string a = big_payload(10000), b = big_payload(9000), c = "small";
    std::string whole_b = frame(opcode::binary, b);
    // a whole, b whole, c whole, then half of another large one.
    const std::string d = big_payload(12000);
    const std::string frame_d = frame(opcode::binary, d);
    f.pipe->feed(frame(opcode::binary, a) + whole_b + frame(opcode::text, c) +
                 frame_d.substr(0, frame_d.size() / 2));
    f.poll();
    CHECK(f.pipe->write_calls == 1);  // corked: none of them ended the read
    f.pipe->feed(frame_d.substr(frame_d.size() / 2));
    f.poll();
    // d was assembled across two reads; it ends the second read, so it goes in place.
    CHECK(f.pipe->write_calls == 2);
    const auto out = f.output();
    REQUIRE(out.size() == 4);
    CHECK(out[0].payload == a);
    CHECK(out[1].payload == b);
    CHECK(out[2].payload == c);
    CHECK(out[3].payload == d);
    CHECK(f.conn->buffered_amount() == 0);
}

TEST_CASE("a large echo's failed write ends the connection after the handler returns") {
    fixture f;
    bool in_handler = false;
    bool closed_inside = false;
    f.ep.on_message = [&](wsx::connection& c, wsx::message m) {
        in_handler = true;
        c.send(m);
        in_handler = false;
    };
    f.ep.on_close = [&](wsx::connection&, close_code, std::string_view) {
        closed_inside = closed_inside || in_handler;
        ++f.closes;
    };
    f.open();
    f.pipe->fail_at = 1;  // operation 0 reads the frame, 1 writes the echo
    f.pipe->feed(frame(opcode::binary, big_payload(16384)));
    f.poll();
    CHECK(f.closes == 1);
    CHECK_FALSE(closed_inside);
    CHECK(f.conn->error() == asio::error::broken_pipe);
}

TEST_CASE("large echoes are framed as usual where they cannot be written in place") {
    SECTION("a client masks each frame") {
        fixture f;
        f.open(role::client);
        const std::string payload = big_payload(16384);
        f.pipe->feed(frame(opcode::binary, payload, true, false));
        f.poll();
        const auto out = f.output(role::server);
        REQUIRE(out.size() == 1);
        CHECK(out[0].payload == payload);
        const std::span<const std::uint8_t> read_buffer = f.worker.read_buffer();
        CHECK(std::none_of(f.pipe->written_from.begin(), f.pipe->written_from.end(),
                           [&](const void* p) { return points_into(p, read_buffer); }));
    }
    SECTION("behind a write in flight") {
        fixture f;
        f.open();
        f.pipe->write_budget = 10;
        f.conn->send(std::string(100, 'q'));  // outside a read: queued, partly written, then waits
        f.poll();
        const std::string payload = big_payload(16384);
        f.pipe->feed(frame(opcode::binary, payload));
        f.poll();
        f.pipe->allow_writes();
        f.poll();
        const auto out = f.output();
        REQUIRE(out.size() == 2);
        CHECK(out[0].payload == std::string(100, 'q'));
        CHECK(out[1].payload == payload);
    }
}

TEST_CASE("a large message read straight into the message buffer") {
    SECTION("is echoed whole, with the frames around it in order") {
        fixture f;
        f.open();
        const std::string payload = big_payload(300000);
        f.pipe->feed(frame(opcode::text, "before") + frame(opcode::binary, payload) + frame(opcode::text, "after"));
        f.poll();
        const auto out = f.output();
        REQUIRE(out.size() == 3);
        CHECK(out[0].payload == "before");
        CHECK(out[1].payload == payload);
        CHECK(out[2].payload == "after");
        CHECK(f.conn->stats().bytes_in == payload.size() + 11);
    }
    SECTION("invalid UTF-8 far into it closes with 1007") {
        fixture f;
        f.open();
        std::string text(300000, 'a');
        text[250000] = '\xFF';
        f.pipe->feed(frame(opcode::text, text));
        f.poll();
        CHECK(f.received.empty());
        const auto out = f.output();
        REQUIRE(out.size() == 1);
        CHECK(out[0].type == event_type::close);
        CHECK(out[0].code == close_code::invalid_payload);
        f.pipe->close_peer();  // the peer goes: the connection ends, nothing is left behind
        f.run_until([&] { return f.closes == 1; });
        CHECK(f.closes == 1);
        CHECK(f.closed_with == close_code::invalid_payload);
    }
}

TEST_CASE("a large payload a handler makes itself is corked: nothing reaches the socket before it returns") {
    fixture f;
    std::size_t written_in_handler = 0;
    f.ep.on_message = [&](wsx::connection& c, wsx::message) {
        const std::string own(20000, 'o');
        c.send_binary(own);
        c.send_binary(own);
        written_in_handler = f.pipe->outbound.size();
    };
    f.open();
    f.pipe->feed(frame(opcode::text, "go"));
    f.poll();
    CHECK(written_in_handler == 0);
    CHECK(f.pipe->write_calls == 1);  // both frames, at the end of the read
    const auto out = f.output();
    REQUIRE(out.size() == 2);
    CHECK(out[1].payload == std::string(20000, 'o'));
}

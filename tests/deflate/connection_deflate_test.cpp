// SPDX-License-Identifier: BSL-1.0
// permessage-deflate in the connection (include/wsx/connection.hpp, prepared_message.hpp),
// over the in-memory transport: what goes out compressed, what never is, the memory the
// codec holds, broadcast frames compressed once, and the limits on what comes in.
#include <wsx/deflate.hpp>

#include <wsx/connection.hpp>
#include <wsx/prepared_message.hpp>

#include <chrono>
#include <deque>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "memory_transport.hpp"

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using wsx::role;
using wsx::test::memory_transport;
namespace protocol = wsx::protocol;

namespace {

struct frame {
    bool fin;
    bool rsv1;
    opcode op;
    std::string payload; // unmasked
};

// Splits what the connection wrote into frames, as they are on the wire.
std::vector<frame> frames_of(const std::string& bytes) {
    std::vector<frame> out;
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        protocol::frame_header h;
        const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data()) + pos;
        const std::size_t n = protocol::decode_frame_header({p, bytes.size() - pos}, h);
        REQUIRE(n != 0);
        REQUIRE(pos + n + h.payload_length <= bytes.size());
        std::string payload = bytes.substr(pos + n, static_cast<std::size_t>(h.payload_length));
        if (h.masked) {
            protocol::apply_mask({reinterpret_cast<std::uint8_t*>(payload.data()), payload.size()}, h.key);
        }
        out.push_back({h.fin, h.rsv1, h.op, std::move(payload)});
        pos += n + static_cast<std::size_t>(h.payload_length);
    }
    return out;
}

std::string inflate(protocol::deflate_decompressor& d, std::string_view z) {
    std::string out;
    REQUIRE(protocol::inflate_message(
        d, {reinterpret_cast<const std::uint8_t*>(z.data()), z.size()}, out));
    return out;
}

std::string json(std::size_t n, int seed = 0) {
    std::string s = "[";
    for (int i = 0; s.size() < n; ++i)
        s += "{\"id\":" + std::to_string(i + seed) + ",\"name\":\"item\",\"tags\":[\"a\",\"b\"]},";
    s.back() = ']';
    return s;
}

struct fixture {
    asio::io_context io{1};
    wsx::detail::worker worker{io, 10ms};
    wsx::endpoint ep;
    wsx::connection_options limits{.idle_timeout = 0ms, .close_timeout = 200ms};
    struct peer {
        std::shared_ptr<memory_transport::pipe> pipe;
        std::shared_ptr<wsx::basic_connection<memory_transport>> conn;
    };
    std::deque<peer> peers; // references stay valid as peers are added
    std::vector<std::string> received;
    close_code closed_with = close_code::normal;
    int closes = 0;

    explicit fixture(wsx::deflate_options d = wsx::permessage_deflate()) {
        limits.deflate = d;
        ep.on_message = [this](wsx::connection& c, wsx::message m) {
            received.emplace_back(m.text());
            c.send(m);
        };
        ep.on_close = [this](wsx::connection&, close_code code, std::string_view) {
            ++closes;
            closed_with = code;
        };
    }

    peer& open(protocol::deflate_config agreed, role r = role::server) {
        peer p;
        p.pipe = std::make_shared<memory_transport::pipe>(io);
        wsx::connection_info info{"/", {}, {}, {}, {}};
        info.deflate = agreed;
        p.conn = wsx::basic_connection<memory_transport>::open(
            worker, memory_transport::stream(p.pipe), ep, limits, r, std::move(info), {}, {});
        peers.push_back(std::move(p));
        poll();
        return peers.back();
    }
    void poll() {
        io.restart();
        io.poll();
    }
};

protocol::deflate_config agreed(bool send_nct = false, bool recv_nct = false) {
    return {.enabled = true, .send_no_context_takeover = send_nct, .recv_no_context_takeover = recv_nct};
}

// A compressed, masked client frame.
std::string client_frame(protocol::deflate_compressor& c, opcode op, std::string_view payload) {
    std::string z;
    c.compress(payload, z);
    std::string f;
    const protocol::mask_key key{1, 2, 3, 4};
    protocol::append_frame(f, op, z, true, &key, true);
    return f;
}

std::string plain_client_frame(opcode op, std::string_view payload) {
    std::string f;
    const protocol::mask_key key{5, 6, 7, 8};
    protocol::append_frame(f, op, payload, true, &key);
    return f;
}

} // namespace

TEST_CASE("a negotiated connection inflates what comes in and compresses what goes out") {
    fixture f;
    auto& p = f.open(agreed());
    protocol::deflate_compressor client({});
    protocol::deflate_decompressor reader({});
    const std::string big = json(20000);
    p.pipe->feed(client_frame(client, opcode::text, big));
    p.pipe->feed(client_frame(client, opcode::text, big)); // the shared window: tiny
    p.pipe->feed(plain_client_frame(opcode::text, "uncompressed in, small out"));
    p.pipe->feed(plain_client_frame(opcode::ping, "are you there"));
    f.poll();
    REQUIRE(f.received == std::vector<std::string>{big, big, "uncompressed in, small out"});
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == 4);
    // §6: RSV1 on compressed data messages; the echo of a message above the threshold is
    // compressed whether or not it came compressed.
    CHECK(out[0].rsv1);
    CHECK(out[0].op == opcode::text);
    CHECK(out[0].payload.size() < big.size() / 4);
    CHECK(inflate(reader, out[0].payload) == big);
    CHECK(out[1].rsv1);
    CHECK(out[1].payload.size() < 1000); // context takeover: back-references to the first
    CHECK(inflate(reader, out[1].payload) == big);
    // Under the threshold (256 bytes): as is.
    CHECK_FALSE(out[2].rsv1);
    CHECK(out[2].payload == "uncompressed in, small out");
    // §6.1: control frames are never compressed.
    CHECK(out[3].op == opcode::pong);
    CHECK_FALSE(out[3].rsv1);
    CHECK(out[3].payload == "are you there");
    CHECK(p.conn->deflate().enabled);
}

TEST_CASE("the threshold and the level are options") {
    fixture f(wsx::permessage_deflate({.level = 1, .threshold = 0}));
    auto& p = f.open(agreed());
    p.pipe->feed(plain_client_frame(opcode::binary, "x"));
    f.poll();
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == 1);
    CHECK(out[0].rsv1);
    CHECK(out[0].op == opcode::binary);
    protocol::deflate_decompressor reader({});
    CHECK(inflate(reader, out[0].payload) == "x");
}

TEST_CASE("a server that may not compress (window 8) still inflates") {
    fixture f;
    protocol::deflate_config c = agreed();
    c.send_window_bits = 8;
    auto& p = f.open(c);
    protocol::deflate_compressor client({});
    const std::string big = json(5000);
    p.pipe->feed(client_frame(client, opcode::text, big));
    f.poll();
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == 1);
    CHECK_FALSE(out[0].rsv1);
    CHECK(out[0].payload == big);
}

TEST_CASE("without permessage-deflate negotiated, RSV1 is a protocol error") {
    fixture f;
    auto& p = f.open({}); // the codec is set, but the handshake did not agree on it
    protocol::deflate_compressor client({});
    p.pipe->feed(client_frame(client, opcode::text, "Hello"));
    f.poll();
    CHECK(f.received.empty());
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == 1);
    CHECK(out[0].op == opcode::close);
    CHECK(out[0].payload.substr(0, 2) == std::string("\x03\xea", 2)); // 1002
    CHECK(p.conn->deflate_memory() == 0);
}

TEST_CASE("a decompression bomb closes the connection with 1009") {
    fixture f;
    f.limits.max_message_size = 1u << 20;
    auto& p = f.open(agreed());
    protocol::deflate_compressor client({.level = 9});
    p.pipe->feed(client_frame(client, opcode::binary, std::string(32u << 20, '\0')));
    f.poll();
    CHECK(f.received.empty());
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == 1);
    CHECK(out[0].op == opcode::close);
    CHECK(static_cast<std::uint8_t>(out[0].payload[0]) == 0x03); // 1009 = 0x03f1
    CHECK(static_cast<std::uint8_t>(out[0].payload[1]) == 0xf1);
    CHECK(p.conn->error() == wsx::make_error_code(wsx::error::message_too_big));
}

TEST_CASE("memory: lazily allocated, kept with context takeover, released without, "
          "freed when the connection ends") {
    protocol::detail::zstate_cache::local().clear();
    fixture f;
    auto& keep = f.open(agreed(false, false));
    auto& reset = f.open(agreed(true, true));
    CHECK(keep.conn->deflate_memory() == 0); // nothing before the first message
    CHECK(reset.conn->deflate_memory() == 0);
    const std::string big = json(5000);
    protocol::deflate_compressor c1({});
    protocol::deflate_compressor c2({.no_context_takeover = true});
    keep.pipe->feed(client_frame(c1, opcode::text, big));
    reset.pipe->feed(client_frame(c2, opcode::text, big));
    f.poll();
    REQUIRE(f.received.size() == 2);
    // zlib 1.2.13, window 15, memLevel 8: 268 KiB to compress, 39 KiB to inflate.
    const std::size_t held = keep.conn->deflate_memory();
    CHECK(held > 300 * 1024);
    CHECK(held < 330 * 1024);
    CHECK(reset.conn->deflate_memory() == 0);
    // The states the no-context-takeover connection used wait in the thread's cache.
    CHECK(protocol::deflate_thread_cache_memory() > 300 * 1024);
    keep.conn->close();
    f.poll();
    keep.pipe->feed(plain_client_frame(opcode::close, std::string("\x03\xe8", 2)));
    keep.pipe->close_peer();
    f.poll();
    CHECK(keep.conn->state() == wsx::connection_state::closed);
    CHECK(keep.conn->deflate_memory() == 0);
    protocol::detail::zstate_cache::local().clear();
}

TEST_CASE("broadcast without server context takeover compresses once for all connections") {
    fixture f;
    auto& a = f.open(agreed(true, false));
    auto& b = f.open(agreed(true, false));
    auto& plain = f.open({});
    const auto m = wsx::prepared_message::text(json(10000));
    for (auto* p : {&a, &b, &plain}) REQUIRE(p->conn->send(m));
    f.poll();
    const auto fa = frames_of(a.pipe->take_output());
    const auto fb = frames_of(b.pipe->take_output());
    const auto fp = frames_of(plain.pipe->take_output());
    REQUIRE(fa.size() == 1);
    REQUIRE(fb.size() == 1);
    REQUIRE(fp.size() == 1);
    CHECK(fa[0].rsv1);
    CHECK(fa[0].payload == fb[0].payload);
    CHECK_FALSE(fp[0].rsv1);
    CHECK(fp[0].payload == m.payload());
    protocol::deflate_decompressor reader({.no_context_takeover = true});
    CHECK(inflate(reader, fa[0].payload) == m.payload());
    // The frame was made once and is kept: asking again does not compress.
    bool built_again = false;
    const std::uint32_t key = (15u << 16) | (8u << 8) | 6u;
    const auto shared = m.compressed_frame(key, [&](std::string&) { built_again = true; });
    CHECK_FALSE(built_again);
    CHECK(shared->substr(shared->size() - fa[0].payload.size()) == fa[0].payload);
}

TEST_CASE("broadcast with context takeover compresses per connection") {
    fixture f;
    auto& a = f.open(agreed());
    auto& b = f.open(agreed());
    const auto first = wsx::prepared_message::text(json(10000));
    const auto second = wsx::prepared_message::text(json(10000, 1));
    REQUIRE(a.conn->send(first));
    REQUIRE(a.conn->send(second));
    REQUIRE(b.conn->send(second));
    f.poll();
    const auto fa = frames_of(a.pipe->take_output());
    const auto fb = frames_of(b.pipe->take_output());
    REQUIRE(fa.size() == 2);
    REQUIRE(fb.size() == 1);
    CHECK(fa[1].payload != fb[0].payload); // a's window holds `first`
    protocol::deflate_decompressor ra({});
    protocol::deflate_decompressor rb({});
    CHECK(inflate(ra, fa[0].payload) == first.payload());
    CHECK(inflate(ra, fa[1].payload) == second.payload());
    CHECK(inflate(rb, fb[0].payload) == second.payload());
}

TEST_CASE("sends from another thread are compressed on the connection's thread, in order") {
    fixture f;
    auto& p = f.open(agreed());
    std::vector<std::string> msgs;
    for (int i = 0; i < 20; ++i) msgs.push_back(json(1000 + 100 * i, i));
    std::thread t([&] {
        for (const auto& m : msgs) REQUIRE(p.conn->send(m));
    });
    t.join();
    f.poll();
    const auto out = frames_of(p.pipe->take_output());
    REQUIRE(out.size() == msgs.size());
    protocol::deflate_decompressor reader({});
    for (std::size_t i = 0; i < msgs.size(); ++i) {
        CHECK(out[i].rsv1);
        CHECK(inflate(reader, out[i].payload) == msgs[i]);
    }
}

TEST_CASE("a client connection compresses and masks, and inflates the server's frames") {
    fixture f;
    auto& p = f.open(agreed(), role::client);
    protocol::deflate_compressor server({});
    const std::string big = json(8000);
    std::string z;
    server.compress(big, z);
    std::string wire;
    protocol::append_frame(wire, opcode::text, z, true, nullptr, true);
    p.pipe->feed(wire);
    f.poll();
    REQUIRE(f.received == std::vector<std::string>{big});
    std::string out = p.pipe->take_output();
    protocol::frame_header h;
    REQUIRE(protocol::decode_frame_header(
                {reinterpret_cast<const std::uint8_t*>(out.data()), out.size()}, h) != 0);
    CHECK(h.masked);
    CHECK(h.rsv1);
    const auto fr = frames_of(out);
    REQUIRE(fr.size() == 1);
    protocol::deflate_decompressor reader({});
    CHECK(inflate(reader, fr[0].payload) == big);
}

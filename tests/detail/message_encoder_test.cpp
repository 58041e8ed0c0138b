// SPDX-License-Identifier: BSL-1.0
#include <wsx/detail/message_encoder.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <wsx/protocol/message_assembler.hpp>

#include "catch.hpp"

using wsx::opcode;
using wsx::role;
using wsx::detail::message_encoder;

namespace {
// A stand-in compressor: "compresses" by reversing, so a test can tell a
// compressed payload from a plain one, and counts its calls.
int compress_calls = 0;
struct reversing_deflater final : wsx::protocol::message_deflater {
    void compress(std::string_view payload, std::string& out) override {
        ++compress_calls;
        out.append(payload.rbegin(), payload.rend());
    }
    std::size_t memory_usage() const noexcept override { return 1234; }
};
std::unique_ptr<wsx::protocol::message_deflater> make_deflater(const wsx::protocol::compressor_params&) {
    return std::make_unique<reversing_deflater>();
}
const wsx::protocol::deflate_codec codec{make_deflater, nullptr};

struct decoded {
    opcode type;
    std::string payload;
    bool rsv1;
    bool masked;
};

// Reads one frame's header by hand (the assembler would reject RSV1 without an inflater).
decoded decode(const std::string& frame) {
    const auto b0 = static_cast<std::uint8_t>(frame[0]);
    const auto b1 = static_cast<std::uint8_t>(frame[1]);
    std::size_t len = b1 & 0x7f, at = 2;
    if (len == 126) {
        len = (std::size_t{static_cast<std::uint8_t>(frame[2])} << 8) | static_cast<std::uint8_t>(frame[3]);
        at = 4;
    }
    const bool masked = (b1 & 0x80) != 0;
    std::string payload = frame.substr(at + (masked ? 4 : 0), len);
    if (masked)
        for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= frame[at + i % 4];
    return {static_cast<opcode>(b0 & 0x0f), payload, (b0 & 0x40) != 0, masked};
}

wsx::protocol::deflate_config negotiated(bool no_context_takeover, std::uint8_t bits = 15) {
    wsx::protocol::deflate_config c;
    c.enabled = true;
    c.send_window_bits = bits;
    c.send_no_context_takeover = no_context_takeover;
    return c;
}
} // namespace

TEST_CASE("a server's frames are not masked; a client's are, with a fresh key each") {
    message_encoder server(role::server), client(role::client);
    std::string s, c1, c2;
    server.frame(s, opcode::text, "hello", true);
    CHECK(s == std::string("\x81\x05hello", 7));
    client.frame(c1, opcode::binary, "hello", true);
    client.frame(c2, opcode::binary, "hello", true);
    const auto d1 = decode(c1), d2 = decode(c2);
    CHECK(d1.masked);
    CHECK(d1.payload == "hello");
    CHECK(d2.payload == "hello");
    CHECK(c1.substr(2, 4) != c2.substr(2, 4));  // RFC 6455 §5.3: a new key per frame
    std::string close;
    client.close_frame(close, wsx::close_code::going_away, "bye");
    const auto dc = decode(close);
    CHECK(dc.type == opcode::close);
    CHECK(dc.masked);
    CHECK(dc.payload == std::string("\x03\xe9" "bye", 5));
}

TEST_CASE("without permessage-deflate nothing is compressed") {
    message_encoder e(role::server);
    e.setup_deflate({}, wsx::deflate_options{.codec = &codec});  // not negotiated
    CHECK_FALSE(e.compresses(1 << 20));
    std::string out;
    e.message(out, opcode::text, std::string(1000, 'a'));
    CHECK_FALSE(decode(out).rsv1);
    CHECK(e.memory_usage() == 0);
}

TEST_CASE("with permessage-deflate, messages from the threshold on are compressed with RSV1 set") {
    message_encoder e(role::server);
    e.setup_deflate(negotiated(false), wsx::deflate_options{.codec = &codec, .threshold = 4});
    CHECK_FALSE(e.compresses(3));
    CHECK(e.compresses(4));
    std::string small, big;
    e.message(small, opcode::text, "abc");
    e.message(big, opcode::text, "abcd");
    CHECK_FALSE(decode(small).rsv1);
    CHECK(decode(small).payload == "abc");
    CHECK(decode(big).rsv1);
    CHECK(decode(big).payload == "dcba");
    CHECK(e.memory_usage() == 1234);
    e.release();
    CHECK(e.memory_usage() == 0);
    std::string after;
    e.message(after, opcode::text, "abcd");  // released: sent plain rather than crash
    CHECK(decode(after).payload == "abcd");
}

TEST_CASE("a 256-byte window cannot be compressed with: such a connection sends plain (RFC 7692 §6)") {
    message_encoder e(role::server);
    e.setup_deflate(negotiated(false, 8), wsx::deflate_options{.codec = &codec, .threshold = 1});
    CHECK_FALSE(e.compresses(100));
}

TEST_CASE("prepared messages: the shared frame, a shared compressed frame, or one of our own") {
    const auto m = wsx::prepared_message::text(std::string(300, 'x') + "yz");
    message_encoder plain(role::server);
    CHECK(plain.shared_frame(m) == m.frame());  // by reference, no copy

    // Without context takeover every connection with the same compressor
    // shares one compressed frame, made once.
    message_encoder a(role::server), b(role::server);
    a.setup_deflate(negotiated(true), wsx::deflate_options{.codec = &codec});
    b.setup_deflate(negotiated(true), wsx::deflate_options{.codec = &codec});
    compress_calls = 0;
    const auto fa = a.shared_frame(m);
    const auto fb = b.shared_frame(m);
    REQUIRE(fa);
    CHECK(fa == fb);
    CHECK(compress_calls == 1);
    CHECK(decode(*fa).rsv1);
    CHECK(decode(*fa).payload.substr(0, 2) == "zy");

    // With context takeover the compressor's history is this connection's:
    // nothing to share.
    message_encoder own(role::server);
    own.setup_deflate(negotiated(false), wsx::deflate_options{.codec = &codec});
    CHECK(own.shared_frame(m) == nullptr);
}

TEST_CASE("plain_header: the header of the frame message() makes, when the payload may go as it is") {
    std::uint8_t header[wsx::protocol::max_frame_header_size];
    for (const std::size_t size : {std::size_t{0}, std::size_t{125}, std::size_t{126}, std::size_t{16384},
                                   std::size_t{65535}, std::size_t{65536}, std::size_t{1} << 20}) {
        CAPTURE(size);
        message_encoder e(role::server);
        const std::string payload(size, 'z');
        std::string frame;
        e.message(frame, opcode::binary, payload);
        const std::size_t n = e.plain_header(header, opcode::binary, size);
        REQUIRE(n == frame.size() - size);
        CHECK(std::string(reinterpret_cast<const char*>(header), n) == frame.substr(0, n));
    }
    SECTION("text keeps its opcode") {
        message_encoder e(role::server);
        REQUIRE(e.plain_header(header, opcode::text, 3) == 2);
        CHECK(header[0] == 0x81);
        CHECK(header[1] == 3);
    }
    SECTION("a client masks every frame: none goes as it is") {
        message_encoder e(role::client);
        CHECK(e.plain_header(header, opcode::binary, 16384) == 0);
    }
    SECTION("a message that is compressed does not go as it is; one under the threshold does") {
        message_encoder e(role::server);
        e.setup_deflate(negotiated(false), wsx::deflate_options{.codec = &codec, .threshold = 1024});
        CHECK(e.plain_header(header, opcode::binary, 16384) == 0);
        CHECK(e.plain_header(header, opcode::binary, 100) == 2);
    }
}

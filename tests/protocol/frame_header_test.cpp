// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/frame_header.hpp"

#include "catch.hpp"

#include <cstdint>
#include <vector>

using wsx::opcode;
using namespace wsx::protocol;

namespace {

struct header_case {
    const char* name;
    std::vector<std::uint8_t> bytes; // the header bytes exactly
    frame_header expected;
};

frame_header make(bool fin, opcode op, std::uint64_t len, bool masked = false, mask_key key = {}) {
    frame_header h;
    h.fin = fin;
    h.op = op;
    h.payload_length = len;
    h.masked = masked;
    h.key = key;
    return h;
}

void check_equal(const frame_header& a, const frame_header& b) {
    CHECK(a.fin == b.fin);
    CHECK(a.rsv1 == b.rsv1);
    CHECK(a.rsv2 == b.rsv2);
    CHECK(a.rsv3 == b.rsv3);
    CHECK(a.op == b.op);
    CHECK(a.masked == b.masked);
    CHECK(a.key == b.key);
    CHECK(a.payload_length == b.payload_length);
}

constexpr mask_key rfc_key{0x37, 0xfa, 0x21, 0x3d};

// RFC 6455 section 5.7 examples (headers only; the payload follows them on the wire).
const std::vector<header_case> rfc_cases = {
    {"single-frame unmasked text \"Hello\"", {0x81, 0x05}, make(true, opcode::text, 5)},
    {"single-frame masked text \"Hello\"",
     {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
     make(true, opcode::text, 5, true, rfc_key)},
    {"fragmented unmasked text, first \"Hel\"", {0x01, 0x03}, make(false, opcode::text, 3)},
    {"fragmented unmasked text, last \"lo\"", {0x80, 0x02}, make(true, opcode::continuation, 2)},
    {"unmasked ping \"Hello\"", {0x89, 0x05}, make(true, opcode::ping, 5)},
    {"masked ping \"Hello\"",
     {0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d},
     make(true, opcode::ping, 5, true, rfc_key)},
    {"masked pong \"Hello\"",
     {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d},
     make(true, opcode::pong, 5, true, rfc_key)},
    {"256 bytes binary, unmasked", {0x82, 0x7E, 0x01, 0x00}, make(true, opcode::binary, 256)},
    {"64 KiB binary, unmasked",
     {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
     make(true, opcode::binary, 65536)},
    {"64 KiB binary, masked",
     {0x82, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 1, 2, 3, 4},
     make(true, opcode::binary, 65536, true, {1, 2, 3, 4})},
    {"boundaries: 125", {0x82, 0x7D}, make(true, opcode::binary, 125)},
    {"boundaries: 126", {0x82, 0x7E, 0x00, 0x7E}, make(true, opcode::binary, 126)},
    {"boundaries: 65535", {0x82, 0x7E, 0xFF, 0xFF}, make(true, opcode::binary, 65535)},
    {"boundaries: 2^63-1",
     {0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
     make(true, opcode::binary, 0x7FFFFFFFFFFFFFFFull)},
    {"empty close", {0x88, 0x00}, make(true, opcode::close, 0)},
};

} // namespace

TEST_CASE("decode_frame_header: RFC 6455 section 5.7 examples and length boundaries") {
    for (const auto& c : rfc_cases) {
        CAPTURE(c.name);
        frame_header h;
        h.fin = !c.expected.fin; // make sure decode overwrites every field
        h.key = {9, 9, 9, 9};
        REQUIRE(decode_frame_header(c.bytes, h) == c.bytes.size());
        check_equal(h, c.expected);
        // Trailing payload bytes do not change the result.
        std::vector<std::uint8_t> longer = c.bytes;
        longer.insert(longer.end(), {0x48, 0x65, 0x6c});
        frame_header h2;
        CHECK(decode_frame_header(longer, h2) == c.bytes.size());
        check_equal(h2, c.expected);
        // Every strict prefix needs more bytes.
        for (std::size_t n = 0; n < c.bytes.size(); ++n) {
            CAPTURE(n);
            frame_header h3;
            CHECK(decode_frame_header(std::span(c.bytes.data(), n), h3) == 0);
        }
    }
}

TEST_CASE("encode_frame_header: RFC 6455 section 5.7 examples byte for byte") {
    for (const auto& c : rfc_cases) {
        CAPTURE(c.name);
        std::uint8_t out[max_frame_header_size] = {};
        const std::size_t n = encode_frame_header(c.expected, out);
        REQUIRE(n == c.bytes.size());
        CHECK(std::vector<std::uint8_t>(out, out + n) == c.bytes);
        CHECK(frame_header_size(c.expected.payload_length, c.expected.masked) == n);
        CHECK(frame_header_size_from_second_byte(out[1]) == n);
        CHECK(has_valid_length_encoding(c.expected, n));
    }
}

TEST_CASE("decode_frame_header is structural: reserved bits and opcodes are reported as is") {
    const std::vector<std::uint8_t> bytes = {0x7B, 0x00}; // FIN=0 RSV1-3=1 opcode 0xB
    frame_header h;
    REQUIRE(decode_frame_header(bytes, h) == 2);
    CHECK_FALSE(h.fin);
    CHECK(h.rsv1);
    CHECK(h.rsv2);
    CHECK(h.rsv3);
    CHECK(static_cast<int>(h.op) == 0xB);
    CHECK_FALSE(h.masked);
    CHECK(h.payload_length == 0);

    const std::vector<std::uint8_t> rsv1_only = {0xC1, 0x00};
    REQUIRE(decode_frame_header(rsv1_only, h) == 2);
    CHECK(h.rsv1);
    CHECK_FALSE(h.rsv2);
    CHECK_FALSE(h.rsv3);
    CHECK(h.op == opcode::text);
}

TEST_CASE("encode and decode round trip for every flag and length class") {
    const std::uint64_t lengths[] = {0,     1,     125,      126,           127,
                                     65535, 65536, 1u << 20, 0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull};
    for (int flags = 0; flags < 32; ++flags) {
        for (std::uint64_t len : lengths) {
            frame_header h;
            h.fin = flags & 1;
            h.rsv1 = flags & 2;
            h.rsv2 = flags & 4;
            h.rsv3 = flags & 8;
            h.masked = flags & 16;
            h.op = static_cast<opcode>((flags * 7 + len) & 0xF);
            if (h.masked) h.key = {0xA1, 0xB2, 0xC3, static_cast<std::uint8_t>(len)};
            h.payload_length = len;
            CAPTURE(flags, len);
            std::uint8_t out[max_frame_header_size];
            const std::size_t n = encode_frame_header(h, out);
            CHECK(n == frame_header_size(len, h.masked));
            frame_header back;
            REQUIRE(decode_frame_header(std::span<const std::uint8_t>(out, n), back) == n);
            check_equal(back, h);
        }
    }
}

TEST_CASE("frame_header_size uses the minimal length encoding") {
    STATIC_REQUIRE(frame_header_size(0, false) == 2);
    CHECK(frame_header_size(125, false) == 2);
    CHECK(frame_header_size(126, false) == 4);
    CHECK(frame_header_size(65535, false) == 4);
    CHECK(frame_header_size(65536, false) == 10);
    CHECK(frame_header_size(125, true) == 6);
    CHECK(frame_header_size(126, true) == 8);
    CHECK(frame_header_size(65536, true) == 14);
    CHECK(frame_header_size(~0ull, true) == max_frame_header_size);
}

TEST_CASE("has_valid_length_encoding rejects non-minimal lengths and a set 64-bit MSB") {
    struct enc_case {
        std::vector<std::uint8_t> bytes;
        bool valid;
    };
    const std::vector<enc_case> cases = {
        {{0x82, 0x7E, 0x00, 0x7D}, false},                   // 125 in 16 bits
        {{0x82, 0x7E, 0x00, 0x00}, false},                   // 0 in 16 bits
        {{0x82, 0x7E, 0x00, 0x7E}, true},                    // 126 in 16 bits
        {{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, false}, // 65535 in 64 bits
        {{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0x05}, false}, // 5 in 64 bits
        {{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0x00, 0x00}, true},  // 65536 in 64 bits
        {{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0}, false},    // MSB set
        {{0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}, false},
        {{0x82, 0xFE, 0x00, 0x10, 1, 2, 3, 4}, false}, // masked, 16 in 16 bits
    };
    for (const auto& c : cases) {
        frame_header h;
        const std::size_t n = decode_frame_header(c.bytes, h);
        REQUIRE(n == c.bytes.size());
        CAPTURE(h.payload_length);
        CHECK(has_valid_length_encoding(h, n) == c.valid);
    }
}

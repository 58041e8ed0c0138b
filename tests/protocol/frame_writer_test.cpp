// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/frame_writer.hpp"

#include "catch.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using wsx::close_code;
using wsx::opcode;
using namespace wsx::protocol;

namespace {

std::vector<std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()),
            reinterpret_cast<const std::uint8_t*>(s.data()) + s.size()};
}

constexpr mask_key rfc_key{0x37, 0xfa, 0x21, 0x3d};

} // namespace

TEST_CASE("append_frame reproduces the RFC 6455 section 5.7 examples") {
    std::string out;
    SECTION("single-frame unmasked text") {
        append_frame(out, opcode::text, "Hello");
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    }
    SECTION("single-frame masked text") {
        append_frame(out, opcode::text, "Hello", true, &rfc_key);
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                                         0x9f, 0x4d, 0x51, 0x58});
    }
    SECTION("fragmented unmasked text, appended to one buffer") {
        append_frame(out, opcode::text, "Hel", false);
        append_frame(out, opcode::continuation, "lo", true);
        CHECK(bytes_of(out) ==
              std::vector<std::uint8_t>{0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
    }
    SECTION("unmasked ping") {
        append_frame(out, opcode::ping, "Hello");
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    }
    SECTION("masked pong and masked ping") {
        append_frame(out, opcode::pong, "Hello", true, &rfc_key);
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                                         0x9f, 0x4d, 0x51, 0x58});
        out.clear();
        append_frame(out, opcode::ping, "Hello", true, &rfc_key);
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                                         0x9f, 0x4d, 0x51, 0x58});
    }
    SECTION("256 bytes binary in a single unmasked frame") {
        const std::string payload(256, '\x5A');
        append_frame(out, opcode::binary, payload);
        REQUIRE(out.size() == 4 + 256);
        CHECK(bytes_of(out.substr(0, 4)) == std::vector<std::uint8_t>{0x82, 0x7E, 0x01, 0x00});
        CHECK(out.substr(4) == payload);
    }
    SECTION("64 KiB binary in a single unmasked frame") {
        const std::string payload(65536, '\xA5');
        append_frame(out, opcode::binary, payload);
        REQUIRE(out.size() == 10 + 65536);
        CHECK(bytes_of(out.substr(0, 10)) == std::vector<std::uint8_t>{0x82, 0x7F, 0x00, 0x00, 0x00,
                                                                       0x00, 0x00, 0x01, 0x00,
                                                                       0x00});
        CHECK(out.substr(10) == payload);
    }
}

TEST_CASE("append_frame masks a long payload and leaves earlier output alone") {
    std::string payload;
    for (int i = 0; i < 1000; ++i)
        payload.push_back(static_cast<char>(i * 7));
    const mask_key key{0x01, 0x80, 0xFF, 0x7E};
    std::string out = "prefix";
    append_frame(out, opcode::binary, payload, true, &key);
    REQUIRE(out.size() == 6 + 8 + 1000);
    CHECK(out.substr(0, 6) == "prefix");
    CHECK(bytes_of(out.substr(6, 8)) ==
          std::vector<std::uint8_t>{0x82, 0xFE, 0x03, 0xE8, 0x01, 0x80, 0xFF, 0x7E});
    for (std::size_t i = 0; i < 1000; ++i) {
        const auto expected = static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ key[i % 4]);
        if (out[14 + i] != expected) FAIL("byte " << i);
    }
}

TEST_CASE("append_frame sets FIN, RSV1 and the opcode") {
    std::string out;
    append_frame(out, opcode::binary, "", false, nullptr, true);
    CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x42, 0x00});
    out.clear();
    append_frame(out, opcode::text, "", true);
    CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x81, 0x00});
    out.clear();
    const mask_key key{9, 8, 7, 6};
    append_frame(out, opcode::continuation, "", true, &key);
    CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x80, 0x80, 9, 8, 7, 6});
}

TEST_CASE("append_frame refuses control frames that RFC 6455 section 5.5 forbids") {
    std::string out = "keep";
    CHECK_THROWS_AS(append_frame(out, opcode::ping, std::string(126, 'p')), std::invalid_argument);
    CHECK_THROWS_AS(append_frame(out, opcode::pong, "x", false), std::invalid_argument);
    CHECK_THROWS_AS(append_frame(out, opcode::close, "", false), std::invalid_argument);
    CHECK(out == "keep");
    append_frame(out, opcode::ping, std::string(125, 'p'));
    CHECK(out.size() == 4 + 2 + 125);
}

TEST_CASE("append_close_frame") {
    std::string out;
    SECTION("code and reason, unmasked") {
        append_close_frame(out, close_code::normal, "bye");
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'});
    }
    SECTION("masked") {
        const mask_key key{1, 2, 3, 4};
        append_close_frame(out, close_code::going_away, "", &key);
        CHECK(bytes_of(out) ==
              std::vector<std::uint8_t>{0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE9 ^ 2});
    }
    SECTION("no_status sends an empty body") {
        append_close_frame(out, close_code::no_status, "ignored");
        CHECK(bytes_of(out) == std::vector<std::uint8_t>{0x88, 0x00});
    }
    SECTION("a long reason is cut so the frame stays a legal control frame") {
        append_close_frame(out, close_code::internal_error, std::string(300, 'r'));
        REQUIRE(out.size() == 2 + 125);
        CHECK(static_cast<std::uint8_t>(out[1]) == 125);
        CHECK(out.substr(4) == std::string(123, 'r'));
    }
}

// Small frames (payload <= small_frame_payload) are written in place after one resize, larger
// ones with two appends: every length form (7-bit, 16-bit, 64-bit), either side of that
// boundary, masked or not, behind earlier output and with or without spare capacity, must
// decode to the same header and payload.
TEST_CASE("append_frame writes every length form on both sides of the small-frame boundary") {
    const mask_key key{0x5A, 0x01, 0xF0, 0x3C};
    for (std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{20},
                            std::size_t{125}, std::size_t{126}, small_frame_payload - 1,
                            small_frame_payload, small_frame_payload + 1, std::size_t{65535},
                            std::size_t{65536}, std::size_t{70000}}) {
        std::string payload(len, '\0');
        for (std::size_t i = 0; i < len; ++i)
            payload[i] = static_cast<char>(i * 13 + 1);
        for (bool masked : {false, true}) {
            for (bool spare : {false, true}) {
                CAPTURE(len, masked, spare);
                std::string out = "earlier";
                if (spare) out.reserve(out.size() + len + max_frame_header_size + 100);
                append_frame(out, opcode::binary, payload, true, masked ? &key : nullptr);
                REQUIRE(out.substr(0, 7) == "earlier");
                const auto wire = bytes_of(out.substr(7));
                frame_header h;
                const std::size_t header_size = decode_frame_header(wire, h);
                REQUIRE(header_size == frame_header_size(len, masked));
                REQUIRE(has_valid_length_encoding(h, header_size));
                CHECK(h.payload_length == len);
                CHECK(h.fin);
                CHECK(h.op == opcode::binary);
                CHECK(h.masked == masked);
                REQUIRE(wire.size() == header_size + len);
                for (std::size_t i = 0; i < len; ++i) {
                    const auto b = static_cast<std::uint8_t>(payload[i]);
                    const auto expected = masked ? static_cast<std::uint8_t>(b ^ key[i % 4]) : b;
                    if (wire[header_size + i] != expected) FAIL("byte " << i);
                }
            }
        }
    }
}

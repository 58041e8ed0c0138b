// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/opcode.hpp"

#include "catch.hpp"

using wsx::opcode;

TEST_CASE("opcode values are the RFC 6455 section 5.2 / 11.8 numbers") {
    CHECK(static_cast<int>(opcode::continuation) == 0x0);
    CHECK(static_cast<int>(opcode::text) == 0x1);
    CHECK(static_cast<int>(opcode::binary) == 0x2);
    CHECK(static_cast<int>(opcode::close) == 0x8);
    CHECK(static_cast<int>(opcode::ping) == 0x9);
    CHECK(static_cast<int>(opcode::pong) == 0xA);
}

TEST_CASE("is_control is the high bit of the 4-bit opcode") {
    STATIC_REQUIRE(wsx::is_control(opcode::close));
    CHECK_FALSE(wsx::is_control(opcode::continuation));
    CHECK_FALSE(wsx::is_control(opcode::text));
    CHECK_FALSE(wsx::is_control(opcode::binary));
    CHECK(wsx::is_control(opcode::close));
    CHECK(wsx::is_control(opcode::ping));
    CHECK(wsx::is_control(opcode::pong));
    for (int raw = 0; raw < 16; ++raw) {
        CAPTURE(raw);
        CHECK(wsx::is_control(static_cast<opcode>(raw)) == (raw >= 8));
        CHECK(wsx::is_data(static_cast<opcode>(raw)) == (raw < 8));
    }
}

TEST_CASE("is_known_opcode accepts exactly 0, 1, 2, 8, 9, 10") {
    for (int raw = 0; raw < 256; ++raw) {
        CAPTURE(raw);
        const bool expected = raw == 0 || raw == 1 || raw == 2 || raw == 8 || raw == 9 || raw == 10;
        CHECK(wsx::is_known_opcode(static_cast<std::uint8_t>(raw)) == expected);
    }
}

TEST_CASE("opcode names") {
    CHECK(wsx::to_string(opcode::continuation) == "continuation");
    CHECK(wsx::to_string(opcode::text) == "text");
    CHECK(wsx::to_string(opcode::binary) == "binary");
    CHECK(wsx::to_string(opcode::close) == "close");
    CHECK(wsx::to_string(opcode::ping) == "ping");
    CHECK(wsx::to_string(opcode::pong) == "pong");
    CHECK(wsx::to_string(static_cast<opcode>(0x3)) == "reserved");
    CHECK(wsx::to_string(static_cast<opcode>(0xB)) == "reserved");
}

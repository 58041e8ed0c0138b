// SPDX-License-Identifier: BSL-1.0
// wsx::message (message.hpp): the accessors on text, binary, empty and
// streamed (final = false) messages, data() viewing the very same bytes as
// text(), and constexpr use.
#include "wsx/message.hpp"

#include "catch.hpp"

#include <cstdint>
#include <string>
#include <string_view>

using wsx::message;
using wsx::opcode;
using namespace std::string_view_literals;

namespace {
constexpr std::string_view constexpr_payload = "hello";
constexpr message constexpr_message{opcode::text, constexpr_payload};
static_assert(constexpr_message.type() == opcode::text);
static_assert(constexpr_message.is_text());
static_assert(!constexpr_message.is_binary());
static_assert(constexpr_message.is_final());
static_assert(constexpr_message.size() == 5);
static_assert(constexpr_message.text() == "hello");

constexpr message constexpr_piece{opcode::binary, "ab"sv, false};
static_assert(constexpr_piece.is_binary());
static_assert(!constexpr_piece.is_text());
static_assert(!constexpr_piece.is_final());
static_assert(constexpr_piece.size() == 2);
} // namespace

TEST_CASE("a text message", "[message]") {
    const std::string payload = "hello, world";
    const message m{opcode::text, payload};
    CHECK(m.type() == opcode::text);
    CHECK(m.is_text());
    CHECK_FALSE(m.is_binary());
    CHECK(m.is_final()); // final defaults to true
    CHECK(m.text() == "hello, world");
    CHECK(m.text().data() == payload.data()); // a view, not a copy
    CHECK(m.size() == payload.size());
    CHECK(m.to_string() == payload);
    CHECK(m.to_string().data() != payload.data()); // to_string copies
}

TEST_CASE("a binary message with bytes that are not text", "[message]") {
    const std::string payload{"\x00\xff\x80\x01\x7f", 5};
    const message m{opcode::binary, payload};
    CHECK(m.type() == opcode::binary);
    CHECK(m.is_binary());
    CHECK_FALSE(m.is_text());
    CHECK(m.is_final());
    CHECK(m.size() == 5);
    CHECK(m.text() == payload); // embedded NUL kept
    CHECK(m.to_string() == payload);
    CHECK(m.to_string().size() == 5);

    const auto d = m.data();
    REQUIRE(d.size() == 5);
    CHECK(d[0] == 0x00);
    CHECK(d[1] == 0xff);
    CHECK(d[2] == 0x80);
    CHECK(d[3] == 0x01);
    CHECK(d[4] == 0x7f);
}

TEST_CASE("data() views the same bytes as text()", "[message]") {
    const std::string payload = "same bytes";
    const message m{opcode::text, payload};
    const auto d = m.data();
    CHECK(d.size() == m.size());
    CHECK(static_cast<const void*>(d.data()) == static_cast<const void*>(m.text().data()));
    CHECK(static_cast<const void*>(d.data()) == static_cast<const void*>(payload.data()));
    for (std::size_t i = 0; i < d.size(); ++i)
        CHECK(d[i] == static_cast<std::uint8_t>(payload[i]));
}

TEST_CASE("an empty message", "[message]") {
    for (opcode op : {opcode::text, opcode::binary}) {
        const message m{op, std::string_view{}};
        INFO("opcode " << wsx::to_string(op));
        CHECK(m.type() == op);
        CHECK(m.size() == 0);
        CHECK(m.text().empty());
        CHECK(m.data().empty());
        CHECK(m.to_string().empty());
        CHECK(m.is_final());
    }
}

TEST_CASE("a piece of a streamed message (final = false)", "[message]") {
    const std::string first = "part one, ";
    const std::string last = "part two";
    const message a{opcode::text, first, false};
    const message b{opcode::text, last, true};
    CHECK_FALSE(a.is_final());
    CHECK(b.is_final());
    CHECK(a.is_text());
    CHECK(a.text() == first);
    CHECK(a.size() == first.size());
    CHECK(a.to_string() + b.to_string() == "part one, part two");

    const message bin{opcode::binary, "xyz"sv, false};
    CHECK_FALSE(bin.is_final());
    CHECK(bin.is_binary());
    CHECK(bin.data().size() == 3);
}

TEST_CASE("a message of another opcode is neither text nor binary", "[message]") {
    // A continuation piece (as a streaming endpoint could be handed) keeps its type.
    const message m{opcode::continuation, "x"sv};
    CHECK(m.type() == opcode::continuation);
    CHECK_FALSE(m.is_text());
    CHECK_FALSE(m.is_binary());
}

TEST_CASE("a constexpr message is usable at run time too", "[message]") {
    CHECK(constexpr_message.to_string() == "hello");
    CHECK(constexpr_message.data().size() == 5);
    CHECK(constexpr_message.text().data() == constexpr_payload.data());
}

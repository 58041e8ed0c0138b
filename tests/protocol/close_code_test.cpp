// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/close_code.hpp"

#include "catch.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using wsx::close_code;
using namespace std::string_view_literals;

namespace {

std::string body(std::uint16_t code, std::string_view reason = {}) {
    std::string s;
    s.push_back(static_cast<char>(code >> 8));
    s.push_back(static_cast<char>(code & 0xFF));
    s.append(reason);
    return s;
}

} // namespace

TEST_CASE("close_code values are the RFC 6455 section 7.4.1 / IANA numbers") {
    CHECK(static_cast<int>(close_code::normal) == 1000);
    CHECK(static_cast<int>(close_code::going_away) == 1001);
    CHECK(static_cast<int>(close_code::protocol_error) == 1002);
    CHECK(static_cast<int>(close_code::unsupported_data) == 1003);
    CHECK(static_cast<int>(close_code::no_status) == 1005);
    CHECK(static_cast<int>(close_code::abnormal) == 1006);
    CHECK(static_cast<int>(close_code::invalid_payload) == 1007);
    CHECK(static_cast<int>(close_code::policy_violation) == 1008);
    CHECK(static_cast<int>(close_code::message_too_big) == 1009);
    CHECK(static_cast<int>(close_code::mandatory_extension) == 1010);
    CHECK(static_cast<int>(close_code::internal_error) == 1011);
    CHECK(static_cast<int>(close_code::service_restart) == 1012);
    CHECK(static_cast<int>(close_code::try_again_later) == 1013);
    CHECK(static_cast<int>(close_code::bad_gateway) == 1014);
    CHECK(static_cast<int>(close_code::tls_handshake_failed) == 1015);
}

TEST_CASE("is_valid_wire_close_code over the whole 16-bit range") {
    STATIC_REQUIRE(wsx::is_valid_wire_close_code(1000));
    STATIC_REQUIRE_FALSE(wsx::is_valid_wire_close_code(1005));
    for (std::uint32_t c = 0; c <= 0xFFFF; ++c) {
        const bool expected =
            (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        if (wsx::is_valid_wire_close_code(static_cast<std::uint16_t>(c)) != expected) {
            FAIL("code " << c << " expected " << expected);
        }
    }
    // The edges, spelled out.
    for (std::uint16_t c : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        CAPTURE(c);
        CHECK_FALSE(wsx::is_valid_wire_close_code(c));
    }
    for (std::uint16_t c :
         {1000, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 3999, 4000, 4999}) {
        CAPTURE(c);
        CHECK(wsx::is_valid_wire_close_code(c));
    }
}

TEST_CASE("close_code names") {
    CHECK(wsx::to_string(close_code::normal) == "normal");
    CHECK(wsx::to_string(close_code::going_away) == "going away");
    CHECK(wsx::to_string(close_code::protocol_error) == "protocol error");
    CHECK(wsx::to_string(close_code::unsupported_data) == "unsupported data");
    CHECK(wsx::to_string(close_code::no_status) == "no status");
    CHECK(wsx::to_string(close_code::abnormal) == "abnormal closure");
    CHECK(wsx::to_string(close_code::invalid_payload) == "invalid payload");
    CHECK(wsx::to_string(close_code::policy_violation) == "policy violation");
    CHECK(wsx::to_string(close_code::message_too_big) == "message too big");
    CHECK(wsx::to_string(close_code::mandatory_extension) == "mandatory extension");
    CHECK(wsx::to_string(close_code::internal_error) == "internal error");
    CHECK(wsx::to_string(close_code::service_restart) == "service restart");
    CHECK(wsx::to_string(close_code::try_again_later) == "try again later");
    CHECK(wsx::to_string(close_code::bad_gateway) == "bad gateway");
    CHECK(wsx::to_string(close_code::tls_handshake_failed) == "TLS handshake failed");
    CHECK(wsx::to_string(static_cast<close_code>(4000)) == "unknown");
    CHECK(wsx::to_string(static_cast<close_code>(1004)) == "unknown");
}

TEST_CASE("parse_close_payload accepts valid bodies") {
    using wsx::protocol::parse_close_payload;
    SECTION("empty body means no status") {
        const auto r = parse_close_payload({});
        CHECK(r.ok);
        CHECK(r.code == close_code::no_status);
        CHECK(r.reason.empty());
    }
    SECTION("code only") {
        const std::string b = body(1000);
        const auto r = parse_close_payload(b);
        CHECK(r.ok);
        CHECK(r.code == close_code::normal);
        CHECK(r.reason.empty());
    }
    SECTION("code and UTF-8 reason, pointing into the payload") {
        const std::string b = body(1001, "bye \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
        const auto r = parse_close_payload(b);
        CHECK(r.ok);
        CHECK(r.code == close_code::going_away);
        CHECK(r.reason == "bye \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"sv);
        CHECK(r.reason.data() == b.data() + 2);
    }
    SECTION("registered and private codes are kept as numbers") {
        for (std::uint16_t c : {1003, 1007, 1012, 1014, 3000, 3999, 4000, 4999}) {
            CAPTURE(c);
            const std::string b = body(c, "x");
            const auto r = parse_close_payload(b);
            CHECK(r.ok);
            CHECK(static_cast<std::uint16_t>(r.code) == c);
            CHECK(r.reason == "x");
        }
    }
    SECTION("125-byte body (123-byte reason) is the maximum") {
        const std::string b = body(1000, std::string(123, 'r'));
        const auto r = parse_close_payload(b);
        CHECK(r.ok);
        CHECK(r.reason.size() == 123);
    }
}

TEST_CASE("parse_close_payload rejects invalid bodies with the right code") {
    using wsx::protocol::parse_close_payload;
    struct bad_case {
        std::string payload;
        close_code error;
    };
    const std::vector<bad_case> cases = {
        {std::string(1, '\x03'), close_code::protocol_error}, // 1 byte: no room for a code
        {body(0), close_code::protocol_error},
        {body(999), close_code::protocol_error},
        {body(1004), close_code::protocol_error},
        {body(1005), close_code::protocol_error},
        {body(1006), close_code::protocol_error},
        {body(1015), close_code::protocol_error},
        {body(1016), close_code::protocol_error},
        {body(2999), close_code::protocol_error},
        {body(5000), close_code::protocol_error},
        {body(65535), close_code::protocol_error},
        {body(1000, std::string(124, 'r')), close_code::protocol_error}, // 126 bytes
        {body(1000, "\xFF"), close_code::invalid_payload},
        {body(1000, "ok\xC0\xAF"), close_code::invalid_payload},   // overlong '/'
        {body(1000, "\xED\xA0\x80"), close_code::invalid_payload}, // surrogate
        {body(1000, "\xE2\x82"), close_code::invalid_payload},     // truncated
    };
    for (const auto& c : cases) {
        CAPTURE(c.payload.size());
        const auto r = parse_close_payload(c.payload);
        CHECK_FALSE(r.ok);
        CHECK(r.error == c.error);
        CHECK_FALSE(r.what.empty());
    }
    CHECK(parse_close_payload(std::string(1, '\x03')).what == "close payload of 1 byte");
    CHECK(parse_close_payload(body(1005)).what == "invalid close code");
    CHECK(parse_close_payload(body(1000, "\xFF")).what == "close reason is not valid UTF-8");
}

TEST_CASE("encode_close_payload writes the code big-endian then the reason") {
    using wsx::protocol::encode_close_payload;
    std::array<std::uint8_t, 125> out{};
    SECTION("code and reason") {
        const std::size_t n = encode_close_payload(close_code::going_away, "bye", out.data());
        REQUIRE(n == 5);
        CHECK(out[0] == 0x03);
        CHECK(out[1] == 0xE9);
        CHECK(out[2] == 'b');
        CHECK(out[3] == 'y');
        CHECK(out[4] == 'e');
    }
    SECTION("code only") {
        REQUIRE(encode_close_payload(static_cast<close_code>(4321), {}, out.data()) == 2);
        CHECK(out[0] == 0x10);
        CHECK(out[1] == 0xE1);
    }
    SECTION("codes that must not be sent give an empty body") {
        CHECK(encode_close_payload(close_code::no_status, "why", out.data()) == 0);
        CHECK(encode_close_payload(close_code::abnormal, "why", out.data()) == 0);
        CHECK(encode_close_payload(close_code::tls_handshake_failed, {}, out.data()) == 0);
        CHECK(encode_close_payload(static_cast<close_code>(1004), {}, out.data()) == 0);
    }
    SECTION("a long ASCII reason is cut to 123 bytes") {
        const std::string reason(200, 'a');
        REQUIRE(encode_close_payload(close_code::normal, reason, out.data()) == 125);
        CHECK(out[124] == 'a');
    }
    SECTION("a reason of exactly 123 bytes is kept whole") {
        const std::string reason = std::string(121, 'a') + "\xC3\xA9";
        REQUIRE(encode_close_payload(close_code::normal, reason, out.data()) == 125);
        CHECK(out[123] == 0xC3);
        CHECK(out[124] == 0xA9);
    }
    SECTION("the cut never splits a code point") {
        // For each multi-byte character and each position where it straddles byte 123, the
        // body ends right before it and stays valid UTF-8.
        for (std::string_view ch : {"\xC3\xA9"sv, "\xE2\x82\xAC"sv, "\xF0\x9F\x98\x80"sv}) {
            for (std::size_t lead = 123 - ch.size() + 1; lead <= 122; ++lead) {
                const std::string reason = std::string(lead, 'a') + std::string(ch) + "tail";
                CAPTURE(ch.size(), lead);
                const std::size_t n = encode_close_payload(close_code::normal, reason, out.data());
                CHECK(n == 2 + lead);
                const auto r = wsx::protocol::parse_close_payload(
                    {reinterpret_cast<const char*>(out.data()), n});
                CHECK(r.ok);
                CHECK(r.reason == std::string(lead, 'a'));
            }
        }
    }
    SECTION("round trip") {
        const std::size_t n =
            encode_close_payload(close_code::policy_violation, "too chatty", out.data());
        const auto r =
            wsx::protocol::parse_close_payload({reinterpret_cast<const char*>(out.data()), n});
        CHECK(r.ok);
        CHECK(r.code == close_code::policy_violation);
        CHECK(r.reason == "too chatty");
    }
}

// SPDX-License-Identifier: BSL-1.0
// The backplane envelope codec (include/wsx/backplane/envelope.hpp), without
// sockets: exact bytes, round trips of every kind, and input that is cut,
// padded, corrupted or random rejected without reading out of bounds.
#include <wsx/backplane/envelope.hpp>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"

using wsx::opcode;
using wsx::backplane::decode_envelope;
using wsx::backplane::encode_envelope;
using wsx::backplane::envelope;
using wsx::backplane::envelope_error;
using wsx::backplane::envelope_kind;

using namespace std::string_literals;

namespace {

bool same(const envelope& a, const envelope& b) {
    return a.kind == b.kind && a.type == b.type && a.origin == b.origin && a.sequence == b.sequence &&
           a.target == b.target && a.payload == b.payload;
}

// Envelopes only view their bytes: these strings outlive every sample.
const std::string longest_origin(255, 'o');

std::vector<envelope> samples(const std::string& binary, const std::string& big, std::string& hb_storage) {
    return {
        {envelope_kind::broadcast, opcode::text, "A", 1, "", "hello"},
        {envelope_kind::broadcast_except, opcode::text, "inst-1", 2, "conn-id-xyz", "not you"},
        {envelope_kind::publish, opcode::binary, "inst-1", 0xfffffffffffffffeULL, "prices", binary},
        {envelope_kind::send_to, opcode::text, std::string_view{"\0id\xff", 4}, 42, "abc", ""},
        {envelope_kind::send_to_user, opcode::binary, longest_origin, 7, std::string_view{"u\0ser", 5}, big},
        wsx::backplane::make_heartbeat("inst-2", 9, hb_storage, 123456789),
    };
}

} // namespace

TEST_CASE("an envelope has the documented layout") {
    const std::string payload = "\x00\x01"s;  // the envelope only views it
    const envelope e{envelope_kind::publish, opcode::binary, "ab", 0x0102030405060708ULL, "grp", payload};
    const std::string expected = "wX"s + '\x01' + '\x03' + '\x02' + '\x02' + "ab" +
                                 "\x01\x02\x03\x04\x05\x06\x07\x08"s + "\x00\x00\x00\x03"s + "grp" +
                                 "\x00\x00\x00\x02"s + "\x00\x01"s;
    CHECK(encode_envelope(e) == expected);
    CHECK(wsx::backplane::encoded_size(e) == expected.size());
}

TEST_CASE("every kind round-trips, binary-safe") {
    std::string binary;
    for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
    const std::string big(70000, '\xfe');
    std::string hb;
    for (const auto& e : samples(binary, big, hb)) {
        const std::string bytes = encode_envelope(e);
        envelope d;
        REQUIRE(decode_envelope(bytes, d) == envelope_error::none);
        CHECK(same(d, e));
        if (e.kind == envelope_kind::heartbeat) CHECK(wsx::backplane::heartbeat_connections(d) == 123456789);
    }
}

TEST_CASE("appending keeps what the buffer held") {
    std::string out = "prefix";
    wsx::backplane::append_envelope(out, {envelope_kind::broadcast, opcode::text, "o", 1, "", "m"});
    envelope d;
    REQUIRE(decode_envelope(std::string_view{out}.substr(6), d) == envelope_error::none);
    CHECK(out.substr(0, 6) == "prefix");
    CHECK(d.payload == "m");
}

TEST_CASE("every truncation is rejected, and so are trailing bytes") {
    std::string binary = "\x00\xff\x10"s;
    const std::string big(300, 'x');
    std::string hb;
    for (const auto& e : samples(binary, big, hb)) {
        const std::string bytes = encode_envelope(e);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            // A copy of exactly n bytes: a sanitizer sees any read past it.
            const std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
            envelope d;
            INFO("cut at " << n << " of " << bytes.size());
            const auto err = decode_envelope(std::string_view{cut.data(), cut.size()}, d);
            CHECK(err == envelope_error::truncated);
        }
        envelope d;
        CHECK(decode_envelope(bytes + "x", d) == envelope_error::trailing_bytes);
    }
}

TEST_CASE("malformed headers are rejected with the reason") {
    const std::string good = encode_envelope({envelope_kind::broadcast, opcode::text, "o", 1, "", "m"});
    auto with = [&](std::size_t at, char c) {
        std::string s = good;
        s[at] = c;
        return s;
    };
    envelope d;
    CHECK(decode_envelope(good, d) == envelope_error::none);
    CHECK(decode_envelope(with(0, 'W'), d) == envelope_error::bad_magic);
    CHECK(decode_envelope(with(1, 'x'), d) == envelope_error::bad_magic);
    CHECK(decode_envelope(with(2, '\x02'), d) == envelope_error::unsupported_version);
    CHECK(decode_envelope(with(3, '\x00'), d) == envelope_error::bad_kind);
    CHECK(decode_envelope(with(3, '\x07'), d) == envelope_error::bad_kind);
    CHECK(decode_envelope(with(4, '\x00'), d) == envelope_error::bad_opcode);
    CHECK(decode_envelope(with(4, '\x08'), d) == envelope_error::bad_opcode);  // close is not a message
    CHECK(decode_envelope(with(5, '\x00'), d) == envelope_error::bad_origin);
    CHECK(decode_envelope("GARBAGE at all, long enough to fill a header", d) == envelope_error::bad_magic);
    CHECK(decode_envelope("", d) == envelope_error::truncated);

    // A length field far beyond the input (not an overflow, not a crash).
    std::string huge = good;
    const std::size_t target_len_at = 6 + 1 + 8;
    huge[target_len_at] = '\xff';
    CHECK(decode_envelope(huge, d) == envelope_error::truncated);
}

TEST_CASE("heartbeats are checked") {
    std::string storage;
    const auto hb = wsx::backplane::make_heartbeat("o", 3, storage, 5);
    std::string bytes = encode_envelope(hb);
    envelope d;
    REQUIRE(decode_envelope(bytes, d) == envelope_error::none);
    CHECK(d.kind == envelope_kind::heartbeat);
    CHECK(wsx::backplane::heartbeat_connections(d) == 5);

    std::string with_opcode = bytes;
    with_opcode[4] = '\x01';
    CHECK(decode_envelope(with_opcode, d) == envelope_error::bad_opcode);

    // Hand-made: a heartbeat whose payload is not 8 bytes.
    const std::string short_payload = "wX\x01\x06\x00\x01o"s + std::string(8, '\0') + "\x00\x00\x00\x00"s +
                                      "\x00\x00\x00\x02"s + "\x00\x05"s;
    CHECK(decode_envelope(short_payload, d) == envelope_error::bad_heartbeat);
    // ... or that has a target.
    const std::string with_target = "wX\x01\x06\x00\x01o"s + std::string(8, '\0') + "\x00\x00\x00\x01"s + "t" +
                                    "\x00\x00\x00\x08"s + std::string(8, '\0');
    CHECK(decode_envelope(with_target, d) == envelope_error::bad_heartbeat);
}

TEST_CASE("what cannot be encoded is refused") {
    CHECK_THROWS_AS(encode_envelope({envelope_kind::broadcast, opcode::text, "", 1, "", "m"}), std::invalid_argument);
    CHECK_THROWS_AS(encode_envelope({envelope_kind::broadcast, opcode::text, std::string(256, 'o'), 1, "", "m"}),
                    std::invalid_argument);
    CHECK_THROWS_AS(encode_envelope({envelope_kind::broadcast, opcode::ping, "o", 1, "", "m"}),
                    std::invalid_argument);
}

TEST_CASE("random and mutated input never crashes; what decodes re-encodes identically") {
    std::mt19937 rng(20240611);
    const std::string good = encode_envelope({envelope_kind::publish, opcode::text, "origin", 77, "group", "payload"});
    std::size_t accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string input;
        if (i % 2 == 0) {
            input = good;
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int f = 0; f < flips; ++f) input[rng() % input.size()] = static_cast<char>(rng());
            if (rng() % 4 == 0) input.resize(rng() % (input.size() + 1));
        } else {
            input.resize(rng() % 64);
            for (char& c : input) c = static_cast<char>(rng());
            if (input.size() >= 2 && rng() % 2) input[0] = 'w', input[1] = 'X';
        }
        const std::vector<char> exact(input.begin(), input.end());
        envelope d;
        if (decode_envelope(std::string_view{exact.data(), exact.size()}, d) == envelope_error::none) {
            ++accepted;
            CHECK(encode_envelope(d) == input);
        }
    }
    CHECK(accepted > 0);  // some single-byte changes (payload, sequence) stay valid
}

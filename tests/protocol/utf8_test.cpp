// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/utf8.hpp"

// The header declares simdjson's validator instead of including <simdjson.h> (31,500
// lines, which reached every unit through it: issue #15, compile time).
#ifdef SIMDJSON_VERSION
#error "wsx/protocol/utf8.hpp pulls in <simdjson.h> again"
#endif

// A unit that includes both (rest.hpp does) sees one function: the declarations agree.
#include <simdjson.h>

#include "catch.hpp"

#include <string>
#include <string_view>
#include <vector>

using namespace wsx::protocol;
using namespace std::string_view_literals;

namespace {

// Oracle built on the whole-string check only: a prefix can begin a valid string when it is
// valid or some 1-3 continuation bytes complete it (only the first continuation byte's range
// depends on the lead, so trying both ends of each sub-range is enough).
bool is_valid_beginning(std::string_view prefix) {
    if (is_valid_utf8(prefix)) return true;
    for (unsigned char second : {0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF}) {
        std::string s(prefix);
        s.push_back(static_cast<char>(second));
        for (int extra = 0; extra < 3; ++extra) {
            if (is_valid_utf8(s)) return true;
            s.push_back('\x80');
        }
    }
    return false;
}

// Index of the first byte after which the input can no longer be valid; s.size() if none.
std::size_t first_bad(std::string_view s) {
    for (std::size_t i = 1; i <= s.size(); ++i) {
        if (!is_valid_beginning(s.substr(0, i))) return i - 1;
    }
    return s.size();
}

const std::vector<std::string_view> valid_chars = {
    "a"sv,
    "\x7F"sv,
    "\xC2\x80"sv,         // U+0080, smallest 2-byte
    "\xC3\xA9"sv,         // e acute
    "\xDF\xBF"sv,         // U+07FF
    "\xE0\xA0\x80"sv,     // U+0800, smallest 3-byte
    "\xE2\x82\xAC"sv,     // euro sign
    "\xED\x9F\xBF"sv,     // U+D7FF, just below the surrogates
    "\xEE\x80\x80"sv,     // U+E000, just above
    "\xEF\xBF\xBF"sv,     // U+FFFF
    "\xF0\x90\x80\x80"sv, // U+10000, smallest 4-byte
    "\xF0\x9F\x98\x80"sv, // grinning face
    "\xF4\x8F\xBF\xBF"sv, // U+10FFFF, the largest
};

} // namespace

TEST_CASE("is_valid_utf8 on whole strings") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("Hello"));
    CHECK(is_valid_utf8("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5")); // Autobahn 6.2.x "kosme"
    for (auto c : valid_chars)
        CHECK(is_valid_utf8(c));
    for (auto bad : {"\x80"sv, "\xBF"sv, "\xC0\x80"sv, "\xC1\xBF"sv, "\xE0\x80\x80"sv,
                     "\xE0\x9F\xBF"sv, "\xED\xA0\x80"sv, "\xED\xBF\xBF"sv, "\xF0\x8F\xBF\xBF"sv,
                     "\xF4\x90\x80\x80"sv, "\xF5\x80\x80\x80"sv, "\xFF"sv, "\xFE"sv, "\xC3"sv,
                     "\xE2\x82"sv, "\xF0\x9F\x98"sv, "a\xC3("sv}) {
        CAPTURE(bad.size());
        CHECK_FALSE(is_valid_utf8(bad));
    }
}

TEST_CASE("utf8_validator fails fast in the call that delivers the offending byte") {
    struct fast_case {
        std::string good_prefix; // fed first, must be accepted
        std::string bad;         // fed next, must be rejected at once
    };
    const std::string long_ascii(40, 'x');
    const std::vector<fast_case> cases = {
        {"", "\xF5"},
        {"", "\xC0"},
        {"", "\xC1"},
        {"", "\x80"},
        {"", "\xFF"},
        {"\xE0", "\x80"},
        {"", "\xE0\x80"},
        {"\xED", "\xA0"},
        {"", "\xED\xA0"},
        {"\xF4", "\x90"},
        {"", "\xF4\x90"},
        {"\xF0", "\x8F"},
        {"\xF0\x9F", "\x41"},
        {"\xF0\x9F\x98", "\xC3"},
        {"abc", "\xF5"},
        {long_ascii, "\xE0\x80"},
        {long_ascii, "\xED\xA0"},
        {long_ascii, "\xF4\x90"},
        {long_ascii, "\xC0"},
        {long_ascii + "\xE2", "\x82\x41"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.good_prefix.size(), c.bad.size());
        utf8_validator v;
        CHECK(v.feed(c.good_prefix));
        CHECK_FALSE(v.feed(c.bad));
        CHECK_FALSE(v.feed("a")); // sticky
        CHECK_FALSE(v.finish());
        // finish() reset it for the next message.
        CHECK(v.feed("ok"));
        CHECK(v.finish());
    }
    // A long valid run followed by the bad bytes in the same call takes the SIMD path.
    for (auto bad : {"\xF5"sv, "\xC0"sv, "\xE0\x80"sv, "\xED\xA0"sv, "\xF4\x90"sv}) {
        utf8_validator v;
        CHECK_FALSE(v.feed(long_ascii + std::string(bad)));
        utf8_validator w;
        CHECK_FALSE(w.feed(std::string(bad) + long_ascii));
    }
}

TEST_CASE("utf8_validator accepts 1-4 byte sequences split at every point") {
    for (auto ch : valid_chars) {
        for (std::size_t cut = 0; cut <= ch.size(); ++cut) {
            CAPTURE(ch.size(), cut);
            utf8_validator v;
            CHECK(v.feed(ch.substr(0, cut)));
            CHECK(v.in_code_point() == (cut != 0 && cut != ch.size()));
            CHECK(v.feed(ch.substr(cut)));
            CHECK(v.finish());
        }
        // One byte at a time, after a long prefix so the bulk path runs first.
        utf8_validator v;
        CHECK(v.feed(std::string(20, 'y')));
        for (char b : ch)
            CHECK(v.feed(std::string_view(&b, 1)));
        CHECK(v.finish());
    }
}

TEST_CASE("utf8_validator finish fails when the message ends inside a code point") {
    for (auto ch : valid_chars) {
        for (std::size_t cut = 1; cut < ch.size(); ++cut) {
            CAPTURE(ch.size(), cut);
            utf8_validator v;
            CHECK(v.feed("abc"));
            CHECK(v.feed(ch.substr(0, cut)));
            CHECK_FALSE(v.finish());
            // Reset for the next message.
            CHECK(v.feed(ch));
            CHECK(v.finish());
        }
    }
    utf8_validator v;
    CHECK(v.finish()); // an empty message is valid
}

TEST_CASE("utf8_validator agrees with the whole-string check at every split point") {
    std::string mixed;
    for (int round = 0; round < 3; ++round) {
        for (auto ch : valid_chars)
            mixed.append(ch);
    }
    std::vector<std::string> inputs = {mixed, std::string(70, 'q'),
                                       "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6"};
    // Corrupt the mixed text at a few places, with a few kinds of bad byte.
    for (std::size_t at : {0u, 1u, 5u, 17u, 33u, 60u}) {
        for (char bad : {'\x80', '\xC0', '\xF5', '\xED', 'Z'}) {
            std::string s = mixed;
            s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), bad);
            inputs.push_back(s);
        }
    }
    inputs.push_back(mixed.substr(0, mixed.size() - 1)); // truncated at the end
    inputs.push_back(mixed + "\xED\xA0\x80" + mixed);    // surrogate in the middle

    for (const auto& s : inputs) {
        const bool valid = is_valid_utf8(s);
        const std::size_t bad = first_bad(s);
        CAPTURE(s.size(), valid, bad);
        for (std::size_t cut = 0; cut <= s.size(); ++cut) {
            CAPTURE(cut);
            utf8_validator v;
            const bool first = v.feed(std::string_view(s).substr(0, cut));
            REQUIRE(first == (bad >= cut));
            const bool second = v.feed(std::string_view(s).substr(cut));
            REQUIRE(second == (bad >= s.size()));
            REQUIRE(v.finish() == valid);
        }
        // One byte at a time: false exactly from the offending byte on.
        utf8_validator v;
        for (std::size_t i = 0; i < s.size(); ++i) {
            CAPTURE(i);
            REQUIRE(v.feed(std::string_view(s).substr(i, 1)) == (i < bad));
        }
        REQUIRE(v.finish() == valid);
    }
}

TEST_CASE("is_valid_utf8 is simdjson's validator, also where <simdjson.h> is included") {
    const std::string text = "gr\xC3\xBC\xC3\x9F dich, \xE2\x82\xAC \xF0\x9F\x98\x80 and some ASCII to pass 64 bytes";
    const std::string bad = text + "\xED\xA0\x80";  // a UTF-16 surrogate
    CHECK(is_valid_utf8(text));
    CHECK(simdjson::validate_utf8(text));
    CHECK_FALSE(is_valid_utf8(bad));
    CHECK_FALSE(simdjson::validate_utf8(bad.data(), bad.size()));
}

// The ASCII fast path (word at a time below detail::ascii_fast_path_limit bytes) must agree
// with the full validator around every word and limit boundary: one non-ASCII byte at any
// position, in ASCII text of every length across the limit, decides like simdjson does.
TEST_CASE("short text: the ASCII fast path agrees with simdjson at every length and position") {
    const std::size_t limit = wsx::protocol::detail::ascii_fast_path_limit;
    for (std::size_t len = 0; len <= limit + 9; ++len) {
        const std::string ascii(len, 'a');
        CAPTURE(len);
        REQUIRE(is_valid_utf8(ascii));
        utf8_validator whole;
        REQUIRE(whole.feed(ascii));
        REQUIRE(whole.finish());
        for (std::size_t at = 0; at < len; ++at) {
            CAPTURE(at);
            // One invalid byte (a stray continuation, an impossible lead, 0xFF; 0x7F is ASCII
            // and valid, the control for the bit test).
            for (unsigned char b : {0x80u, 0xBFu, 0xC0u, 0xF5u, 0xFFu, 0x7Fu}) {
                std::string s = ascii;
                s[at] = static_cast<char>(b);
                const bool expected = simdjson::validate_utf8(s.data(), s.size());
                CAPTURE(static_cast<unsigned>(b), expected);
                REQUIRE(expected == (b == 0x7Fu));
                REQUIRE(is_valid_utf8(s) == expected);
                utf8_validator v;
                REQUIRE((v.feed(s) && v.finish()) == expected);
            }
            // A valid two-byte sequence starting here (when it fits), and one cut at the end.
            if (at + 1 < len) {
                std::string s = ascii;
                s[at] = '\xC3';
                s[at + 1] = '\xA9';
                REQUIRE(is_valid_utf8(s));
                utf8_validator v;
                REQUIRE(v.feed(s));
                REQUIRE(v.finish());
            } else {
                std::string s = ascii;
                s[at] = '\xC3'; // a lead byte as the last byte: the code point is cut
                REQUIRE_FALSE(is_valid_utf8(s));
                utf8_validator v;
                REQUIRE(v.feed(s)); // may still be completed by the next piece...
                REQUIRE(v.in_code_point());
                REQUIRE(v.feed("\xA9"));
                REQUIRE(v.finish()); // ...and is
            }
        }
    }
}

TEST_CASE("short text: ASCII after a code point cut at the previous piece's end") {
    utf8_validator v;
    REQUIRE(v.feed("ab\xE2\x82"));
    REQUIRE(v.in_code_point());
    // The continuation byte finishes the cut code point; the rest takes the ASCII path.
    REQUIRE(v.feed("\xAC and then twenty bytes"));
    REQUIRE(v.finish());
    // A piece that starts with ASCII where a continuation byte is due fails at once.
    REQUIRE(v.feed("\xE2\x82"));
    REQUIRE_FALSE(v.feed("plain ASCII"));
    REQUIRE_FALSE(v.finish());
}

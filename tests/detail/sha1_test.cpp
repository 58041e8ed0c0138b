// SPDX-License-Identifier: BSL-1.0
#include "wsx/detail/sha1.hpp"

#include "catch.hpp"

#include <string>

namespace {

std::string hex(const std::array<std::uint8_t, 20>& d) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (auto b : d) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

struct vector_case {
    std::string input;
    const char* digest;
};

} // namespace

TEST_CASE("sha1: FIPS 180 example vectors", "[detail][sha1]") {
    const vector_case cases[] = {
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        // The 448-bit message: padding needs a second block.
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
         "mnopqrstnopqrstu",
         "a49b2446a02c645bf419f995b67091253a04a259"},
        {"The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.input);
        CHECK(hex(wsx::detail::sha1(c.input)) == c.digest);
    }
}

TEST_CASE("sha1: one million 'a'", "[detail][sha1]") {
    const std::string million(1000000, 'a');
    CHECK(hex(wsx::detail::sha1(million)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("sha1: lengths around the block and padding boundaries", "[detail][sha1]") {
    // 55 bytes is the longest message whose length fits in its last block; 56..63 need
    // another block; 64 is exactly one block.
    const std::pair<std::size_t, const char*> cases[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    for (const auto& [n, digest] : cases) {
        CAPTURE(n);
        CHECK(hex(wsx::detail::sha1(std::string(n, 'a'))) == digest);
    }
}

TEST_CASE("sha1: incremental updates at every split give the one-shot digest", "[detail][sha1]") {
    std::string msg;
    for (int i = 0; i < 150; ++i) msg.push_back(static_cast<char>('!' + i % 90));
    const auto expected = wsx::detail::sha1(msg);
    for (std::size_t split = 0; split <= msg.size(); ++split) {
        wsx::detail::sha1_hasher h;
        h.update(std::string_view(msg).substr(0, split));
        h.update(std::string_view(msg).substr(split));
        CAPTURE(split);
        CHECK(h.finish() == expected);
    }
    wsx::detail::sha1_hasher bytewise;
    for (char c : msg) bytewise.update(std::string_view(&c, 1));
    CHECK(bytewise.finish() == expected);
}

// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/mask.hpp"

#include "catch.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

using namespace wsx::protocol;

namespace {

void reference_mask(std::uint8_t* p, std::size_t n, const mask_key& key, std::size_t offset) {
    for (std::size_t i = 0; i < n; ++i)
        p[i] ^= key[(offset + i) % 4];
}

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::uint8_t>(seed + i * 37 + (i >> 3));
    return v;
}

} // namespace

TEST_CASE("apply_mask: RFC 6455 section 5.7 masked \"Hello\"") {
    const mask_key key{0x37, 0xfa, 0x21, 0x3d};
    std::vector<std::uint8_t> data = {'H', 'e', 'l', 'l', 'o'};
    apply_mask(data, key);
    CHECK(data == std::vector<std::uint8_t>{0x7f, 0x9f, 0x4d, 0x51, 0x58});
    apply_mask(data, key); // masking is its own inverse
    CHECK(data == std::vector<std::uint8_t>{'H', 'e', 'l', 'l', 'o'});
}

TEST_CASE("apply_mask matches a byte-by-byte reference at every offset, alignment, length") {
    const mask_key key{0x12, 0x9A, 0xE7, 0x45};
    // Backing store with room to place the data at any alignment.
    for (std::size_t align = 0; align < 8; ++align) {
        for (std::size_t offset = 0; offset < 8; ++offset) {
            for (std::size_t len = 0; len <= 67; ++len) {
                CAPTURE(align, offset, len);
                std::vector<std::uint8_t> fast = pattern(len + 16, static_cast<std::uint8_t>(len));
                std::vector<std::uint8_t> slow = fast;
                apply_mask(std::span(fast.data() + align, len), key, offset);
                reference_mask(slow.data() + align, len, key, offset);
                // Bytes around the span are untouched, the span matches the reference.
                REQUIRE(fast == slow);
            }
        }
    }
}

TEST_CASE("apply_mask piece by piece equals one pass") {
    const mask_key key{0xDE, 0xAD, 0xBE, 0xEF};
    const std::vector<std::uint8_t> original = pattern(300, 7);
    std::vector<std::uint8_t> whole = original;
    apply_mask(whole, key);
    for (std::size_t first = 0; first <= 300; first += 13) {
        for (std::size_t second = first; second <= 300; second += 29) {
            std::vector<std::uint8_t> pieces = original;
            apply_mask(std::span(pieces.data(), first), key, 0);
            apply_mask(std::span(pieces.data() + first, second - first), key, first);
            apply_mask(std::span(pieces.data() + second, 300 - second), key, second);
            CAPTURE(first, second);
            REQUIRE(pieces == whole);
        }
    }
}

TEST_CASE("apply_mask on a large buffer") {
    const mask_key key{1, 2, 3, 4};
    std::vector<std::uint8_t> fast = pattern(65536 + 5, 3);
    std::vector<std::uint8_t> slow = fast;
    apply_mask(std::span(fast.data() + 1, 65536 + 3), key, 2);
    reference_mask(slow.data() + 1, 65536 + 3, key, 2);
    CHECK(fast == slow);
}

// Short payloads go through the 4-byte step and a byte tail at a fixed phase: pieces of 1-7
// bytes, starting anywhere in the key, must chain like one pass.
TEST_CASE("apply_mask in short pieces of every length equals one pass") {
    const mask_key key{0xA1, 0xB2, 0xC3, 0xD4};
    const std::vector<std::uint8_t> original = pattern(97, 11);
    std::vector<std::uint8_t> whole = original;
    apply_mask(whole, key);
    for (std::size_t piece = 1; piece <= 7; ++piece) {
        for (std::size_t start = 0; start < 8; ++start) {
            CAPTURE(piece, start);
            std::vector<std::uint8_t> v = original;
            apply_mask(std::span(v.data(), start), key, 0);
            for (std::size_t at = start; at < v.size(); at += piece) {
                const std::size_t n = std::min(piece, v.size() - at);
                apply_mask(std::span(v.data() + at, n), key, at);
            }
            REQUIRE(v == whole);
        }
    }
}

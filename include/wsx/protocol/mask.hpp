// SPDX-License-Identifier: BSL-1.0
#pragma once
// Client-to-server masking (RFC 6455 §5.3): octet i of the payload is XORed with octet
// (i mod 4) of the masking key. The same operation masks and unmasks.

#include "wsx/protocol/frame_header.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace wsx::protocol {

// XORs data with key, starting at key byte (offset % 4), so a payload can be unmasked piece
// by piece as it arrives (offset = payload bytes already processed).
//
// Works a word at a time from the first byte: the key rotated to the starting phase (one
// rotate of the key loaded as a 32-bit word) and repeated twice in a 64-bit word, XORed over whole words loaded and stored with memcpy (no
// aliasing or alignment UB; on x86 and ARM64 these are plain unaligned loads, which cost the
// same as aligned ones, and compilers vectorise the 32-byte loop), then one 4-byte word, then
// at most 3 bytes. Because 8 and 4 are multiples of 4, the phase never changes, so a short
// payload (a 20-byte chat message) costs three word operations instead of a byte loop up to
// an aligned address.
inline void apply_mask(std::span<std::uint8_t> data, const mask_key& key,
                       std::size_t offset = 0) noexcept {
    std::uint8_t* p = data.data();
    std::size_t n = data.size();
    // The key as it lies in memory, rotated so that its first byte is key[offset % 4].
    std::uint32_t k4;
    std::memcpy(&k4, key.data(), 4);
    if (const unsigned shift = 8u * static_cast<unsigned>(offset & 3u); shift != 0)
        k4 = std::endian::native == std::endian::little ? std::rotr(k4, static_cast<int>(shift))
                                                        : std::rotl(k4, static_cast<int>(shift));
    const std::uint64_t k = (std::uint64_t{k4} << 32) | k4;
    while (n >= 32) {
        std::uint64_t w[4];
        std::memcpy(w, p, 32);
        w[0] ^= k;
        w[1] ^= k;
        w[2] ^= k;
        w[3] ^= k;
        std::memcpy(p, w, 32);
        p += 32;
        n -= 32;
    }
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        w ^= k;
        std::memcpy(p, &w, 8);
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        w ^= k4;
        std::memcpy(p, &w, 4);
        p += 4;
        n -= 4;
    }
    std::uint8_t tail[4];
    std::memcpy(tail, &k4, 4);
    for (std::size_t i = 0; i < n; ++i)
        p[i] ^= tail[i];
}

} // namespace wsx::protocol

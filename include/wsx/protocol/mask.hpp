// SPDX-License-Identifier: BSL-1.0
#pragma once
// Client-to-server masking (RFC 6455 §5.3): octet i of the payload is XORed with octet
// (i mod 4) of the masking key. The same operation masks and unmasks.

#include "wsx/protocol/frame_header.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace wsx::protocol {

// XORs data with key, starting at key byte (offset % 4), so a payload can be unmasked piece
// by piece as it arrives (offset = payload bytes already processed).
//
// Works a 64-bit word at a time: bytes one by one up to an 8-byte aligned address, then the
// key rotated to the current phase and repeated twice in a word, XORed over whole words
// (memcpy in and out, so no aliasing or alignment UB; compilers turn it into plain loads and
// vectorise the loop), then the tail byte by byte. Because 8 is a multiple of 4, the phase
// is the same after every word.
inline void apply_mask(std::span<std::uint8_t> data, const mask_key& key,
                       std::size_t offset = 0) noexcept {
    std::uint8_t* p = data.data();
    std::size_t n = data.size();
    std::size_t phase = offset & 3u;

    while (n != 0 && (reinterpret_cast<std::uintptr_t>(p) & 7u) != 0) {
        *p++ ^= key[phase];
        phase = (phase + 1) & 3u;
        --n;
    }
    if (n >= 8) {
        std::uint8_t rotated[8];
        for (std::size_t i = 0; i < 8; ++i)
            rotated[i] = key[(phase + i) & 3u];
        std::uint64_t k;
        std::memcpy(&k, rotated, 8);
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
    }
    while (n != 0) {
        *p++ ^= key[phase];
        phase = (phase + 1) & 3u;
        --n;
    }
}

} // namespace wsx::protocol

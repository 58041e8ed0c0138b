// SPDX-License-Identifier: BSL-1.0
#pragma once
// SHA-1 (FIPS 180-4 §6.1). It serves only the Sec-WebSocket-Accept computation of
// RFC 6455 §4.2.2, where it is a fixed transform, not a security primitive: do not
// use it for anything that needs collision resistance.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wsx::detail {

// Incremental form, so the accept key can hash the client key and the GUID without
// first concatenating them into a temporary string.
class sha1_hasher {
public:
    void update(std::string_view data) noexcept {
        total_bytes_ += data.size();
        const auto* p = reinterpret_cast<const std::uint8_t*>(data.data());
        std::size_t n = data.size();
        if (buffered_ != 0) {
            const std::size_t take = n < 64 - buffered_ ? n : 64 - buffered_;
            for (std::size_t i = 0; i < take; ++i) block_[buffered_ + i] = p[i];
            buffered_ += take;
            p += take;
            n -= take;
            if (buffered_ < 64) return;
            compress(block_.data());
            buffered_ = 0;
        }
        for (; n >= 64; p += 64, n -= 64) compress(p);
        for (std::size_t i = 0; i < n; ++i) block_[i] = p[i];
        buffered_ = n;
    }

    // Pads per FIPS 180-4 §5.1.1 and returns the digest; the hasher is spent afterwards.
    std::array<std::uint8_t, 20> finish() noexcept {
        const std::uint64_t bit_length = total_bytes_ * 8;
        block_[buffered_++] = 0x80;
        if (buffered_ > 56) {
            while (buffered_ < 64) block_[buffered_++] = 0;
            compress(block_.data());
            buffered_ = 0;
        }
        while (buffered_ < 56) block_[buffered_++] = 0;
        for (int i = 7; i >= 0; --i)
            block_[buffered_++] = static_cast<std::uint8_t>(bit_length >> (8 * i));
        compress(block_.data());
        buffered_ = 0;

        std::array<std::uint8_t, 20> digest{};
        for (std::size_t i = 0; i < 5; ++i) {
            digest[4 * i + 0] = static_cast<std::uint8_t>(h_[i] >> 24);
            digest[4 * i + 1] = static_cast<std::uint8_t>(h_[i] >> 16);
            digest[4 * i + 2] = static_cast<std::uint8_t>(h_[i] >> 8);
            digest[4 * i + 3] = static_cast<std::uint8_t>(h_[i]);
        }
        return digest;
    }

private:
    static constexpr std::uint32_t rotl(std::uint32_t x, int n) noexcept {
        return (x << n) | (x >> (32 - n));
    }

    // One 512-bit block, FIPS 180-4 §6.1.2 (message schedule kept in a 16-word ring).
    void compress(const std::uint8_t* p) noexcept {
        std::uint32_t w[16];
        for (std::size_t i = 0; i < 16; ++i) {
            w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
                   (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
        }
        std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
        for (std::size_t t = 0; t < 80; ++t) {
            if (t >= 16) {
                w[t & 15] = rotl(w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[t & 15], 1);
            }
            std::uint32_t f;
            std::uint32_t k;
            if (t < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            } else if (t < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            } else if (t < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            const std::uint32_t temp = rotl(a, 5) + f + e + k + w[t & 15];
            e = d;
            d = c;
            c = rotl(b, 30);
            b = a;
            a = temp;
        }
        h_[0] += a;
        h_[1] += b;
        h_[2] += c;
        h_[3] += d;
        h_[4] += e;
    }

    // Initial hash value, FIPS 180-4 §5.3.1.
    std::uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::array<std::uint8_t, 64> block_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_bytes_ = 0;
};

inline std::array<std::uint8_t, 20> sha1(std::string_view data) noexcept {
    sha1_hasher h;
    h.update(data);
    return h.finish();
}

} // namespace wsx::detail

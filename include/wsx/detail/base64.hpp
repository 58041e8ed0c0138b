// SPDX-License-Identifier: BSL-1.0
#pragma once
// Base64 with the standard alphabet and padding (RFC 4648 §4). The WebSocket
// handshake uses it for Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 §4.1,
// §4.2.2), so the decoder is strict: a key that is not canonical base64 is refused
// rather than guessed at.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace wsx::detail {

inline constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Length of the encoding of n bytes (RFC 4648 §4: every started 3-byte group gives 4 chars).
constexpr std::size_t base64_encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

// Writes exactly base64_encoded_size(data.size()) characters at `out`; no allocation.
inline void base64_encode_to(std::span<const std::uint8_t> data, char* out) noexcept {
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                                std::uint32_t{data[i + 2]};
        *out++ = base64_alphabet[(v >> 18) & 63];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = base64_alphabet[(v >> 6) & 63];
        *out++ = base64_alphabet[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest != 0) {
        std::uint32_t v = std::uint32_t{data[i]} << 16;
        if (rest == 2) v |= std::uint32_t{data[i + 1]} << 8;
        *out++ = base64_alphabet[(v >> 18) & 63];
        *out++ = base64_alphabet[(v >> 12) & 63];
        *out++ = rest == 2 ? base64_alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
}

inline std::string base64_encode(std::span<const std::uint8_t> data) {
    std::string out(base64_encoded_size(data.size()), '\0');
    base64_encode_to(data, out.data());
    return out;
}

inline std::string base64_encode(std::string_view data) {
    return base64_encode(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

namespace base64_impl {
// 0..63 for alphabet characters, 64 for anything else.
constexpr std::array<std::uint8_t, 256> make_decode_table() noexcept {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) v = 64;
    for (std::size_t i = 0; i < base64_alphabet.size(); ++i)
        t[static_cast<unsigned char>(base64_alphabet[i])] = static_cast<std::uint8_t>(i);
    return t;
}
inline constexpr std::array<std::uint8_t, 256> decode_table = make_decode_table();
} // namespace base64_impl

// Number of bytes `text` decodes to, or nullopt if it is not strict base64: length a
// multiple of 4, only alphabet characters, '=' only as the one or two last characters,
// and the unused bits before the padding zero (canonical encoding, RFC 4648 §3.5).
inline std::optional<std::size_t> base64_decoded_size(std::string_view text) noexcept {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
    const std::size_t data_chars = text.size() - pad;
    for (std::size_t i = 0; i < data_chars; ++i)
        if (base64_impl::decode_table[static_cast<unsigned char>(text[i])] == 64) return std::nullopt;
    if (pad != 0) {
        const std::uint8_t last = base64_impl::decode_table[static_cast<unsigned char>(text[data_chars - 1])];
        // Two pad chars: the last data char carries 2 bits of data and 4 unused; one: 4 and 2.
        if ((last & (pad == 2 ? 0x0F : 0x03)) != 0) return std::nullopt;
    }
    return text.size() / 4 * 3 - pad;
}

// Decodes into `out` without allocating; returns the number of bytes written, or nullopt
// if `text` is not strict base64 or does not fit in `out`.
inline std::optional<std::size_t> base64_decode_into(std::string_view text,
                                                     std::span<std::uint8_t> out) noexcept {
    const auto size = base64_decoded_size(text);
    if (!size || *size > out.size()) return std::nullopt;
    std::size_t o = 0;
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t v = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = text[i + j];
            v = (v << 6) | (c == '=' ? 0u : base64_impl::decode_table[static_cast<unsigned char>(c)]);
        }
        const std::uint8_t bytes[3] = {static_cast<std::uint8_t>(v >> 16),
                                       static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
        for (std::size_t j = 0; j < 3 && o < *size; ++j) out[o++] = bytes[j];
    }
    return *size;
}

inline std::optional<std::string> base64_decode(std::string_view text) {
    const auto size = base64_decoded_size(text);
    if (!size) return std::nullopt;
    std::string out(*size, '\0');
    base64_decode_into(text, std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(out.data()), out.size()));
    return out;
}

} // namespace wsx::detail

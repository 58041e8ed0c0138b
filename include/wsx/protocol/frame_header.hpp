// SPDX-License-Identifier: BSL-1.0
#pragma once
// The base framing header (RFC 6455 §5.2):
//
//   byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
//   byte 1: MASK | payload length (7 bits: 0-125, or 126 = 16-bit length follows,
//                                   127 = 64-bit length follows)
//   then the extended length in network byte order, then the 4-byte masking key if MASK.
//
// Decoding is purely structural: it reads whatever is there, reserved bits and opcodes
// included. Deciding which headers are acceptable is the message assembler's job.

#include "wsx/protocol/opcode.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace wsx::protocol {

// 2 fixed bytes + 8-byte extended length + 4-byte masking key.
constexpr std::size_t max_frame_header_size = 14;

// The largest payload a control frame may carry (§5.5) and the largest length that fits in
// the 7-bit field.
constexpr std::size_t max_control_payload_size = 125;

using mask_key = std::array<std::uint8_t, 4>;

struct frame_header {
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    opcode op = opcode::text; // may hold a reserved raw value; validation is the assembler's
    bool masked = false;
    mask_key key{};
    std::uint64_t payload_length = 0;
};

// Size of the header that encodes payload_length minimally (§5.2: "the minimal number of
// bytes MUST be used to encode the length").
constexpr std::size_t frame_header_size(std::uint64_t payload_length, bool masked) noexcept {
    const std::size_t ext = payload_length < 126 ? 0 : payload_length <= 0xFFFFu ? 2 : 8;
    return 2 + ext + (masked ? 4 : 0);
}

// Size of a header from its first two bytes (b1 is the MASK/length byte).
constexpr std::size_t frame_header_size_from_second_byte(std::uint8_t b1) noexcept {
    const std::uint8_t len7 = b1 & 0x7Fu;
    const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    return 2 + ext + ((b1 & 0x80u) != 0 ? 4 : 0);
}

// Whether a decoded header of header_size bytes used a legal length encoding (§5.2): the
// minimal one, and for the 64-bit form "the most significant bit MUST be 0".
constexpr bool has_valid_length_encoding(const frame_header& h, std::size_t header_size) noexcept {
    if ((h.payload_length >> 63) != 0) return false;
    return header_size == frame_header_size(h.payload_length, h.masked);
}

// Returns the header size when `in` holds a whole header, 0 when more bytes are needed.
inline std::size_t decode_frame_header(std::span<const std::uint8_t> in,
                                       frame_header& out) noexcept {
    if (in.size() < 2) return 0;
    const std::uint8_t b0 = in[0];
    const std::uint8_t b1 = in[1];
    // Each read below is guarded by its own size check, so `out` is only written when the
    // whole header is there.
    std::size_t pos = 2;
    std::uint64_t length = b1 & 0x7Fu;
    if (length == 126) { // 16-bit extended length, big-endian
        if (in.size() < 4) return 0;
        length = (std::uint64_t{in[2]} << 8) | in[3];
        pos = 4;
    } else if (length == 127) { // 64-bit extended length, big-endian
        if (in.size() < 10) return 0;
        length = 0;
        for (std::size_t i = 2; i < 10; ++i)
            length = (length << 8) | in[i];
        pos = 10;
    }
    mask_key key{};
    const bool masked = (b1 & 0x80u) != 0;
    if (masked) {
        if (in.size() < pos + 4) return 0;
        for (std::size_t i = 0; i < 4; ++i)
            key[i] = in[pos + i];
        pos += 4;
    }
    out.fin = (b0 & 0x80u) != 0;
    out.rsv1 = (b0 & 0x40u) != 0;
    out.rsv2 = (b0 & 0x20u) != 0;
    out.rsv3 = (b0 & 0x10u) != 0;
    out.op = static_cast<opcode>(b0 & 0x0Fu);
    out.masked = masked;
    out.key = key;
    out.payload_length = length;
    return pos;
}

// Writes the header with the minimal length encoding (§5.2) to out, which has room for
// max_frame_header_size bytes. Returns the size written.
inline std::size_t encode_frame_header(const frame_header& h, std::uint8_t* out) noexcept {
    out[0] = static_cast<std::uint8_t>((h.fin ? 0x80u : 0u) | (h.rsv1 ? 0x40u : 0u) |
                                       (h.rsv2 ? 0x20u : 0u) | (h.rsv3 ? 0x10u : 0u) |
                                       (static_cast<std::uint8_t>(h.op) & 0x0Fu));
    const std::uint8_t mask_bit = h.masked ? 0x80u : 0u;
    const std::uint64_t len = h.payload_length;
    std::size_t pos = 2;
    if (len < 126) {
        out[1] = static_cast<std::uint8_t>(mask_bit | len);
    } else if (len <= 0xFFFFu) {
        out[1] = static_cast<std::uint8_t>(mask_bit | 126u);
        out[2] = static_cast<std::uint8_t>(len >> 8);
        out[3] = static_cast<std::uint8_t>(len);
        pos = 4;
    } else {
        out[1] = static_cast<std::uint8_t>(mask_bit | 127u);
        for (std::size_t i = 0; i < 8; ++i)
            out[2 + i] = static_cast<std::uint8_t>(len >> (56 - 8 * i));
        pos = 10;
    }
    if (h.masked) {
        for (std::size_t i = 0; i < 4; ++i)
            out[pos + i] = h.key[i];
        pos += 4;
    }
    return pos;
}

} // namespace wsx::protocol

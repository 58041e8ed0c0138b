// SPDX-License-Identifier: BSL-1.0
#pragma once
// Frame opcodes (RFC 6455 §5.2, §11.8). The opcode is 4 bits on the wire; values not
// listed here are reserved and a frame carrying one fails the connection (§5.2).

#include <cstdint>
#include <string_view>

namespace wsx {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

// Control frames are the opcodes with the high bit of the 4-bit field set (§5.5): they may
// be interleaved with fragments and must be short and unfragmented.
constexpr bool is_control(opcode op) noexcept {
    return (static_cast<std::uint8_t>(op) & 0x08u) != 0;
}

// Data frames carry a message or a piece of one (§5.6): continuation, text, binary and the
// reserved non-control values 0x3-0x7.
constexpr bool is_data(opcode op) noexcept {
    return !is_control(op);
}

// The opcodes RFC 6455 defines; 0x3-0x7 and 0xB-0xF are reserved for further frames (§5.2).
constexpr bool is_known_opcode(std::uint8_t raw) noexcept {
    return raw <= 0x2 || (raw >= 0x8 && raw <= 0xA);
}

constexpr std::string_view to_string(opcode op) noexcept {
    switch (op) {
    case opcode::continuation:
        return "continuation";
    case opcode::text:
        return "text";
    case opcode::binary:
        return "binary";
    case opcode::close:
        return "close";
    case opcode::ping:
        return "ping";
    case opcode::pong:
        return "pong";
    }
    return "reserved";
}

} // namespace wsx

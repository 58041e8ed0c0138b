// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::backplane::envelope: what one instance of a cluster tells the others
// through a backplane, and its binary encoding. Sans-I/O: bytes in, bytes out;
// no Asio, no Redis. Binary-safe: origins, targets and payloads may hold any byte.
//
// Layout (integers big-endian; nothing may follow the payload):
//   offset size
//   0      2    magic "wX" (a stray publisher on the channel is rejected early)
//   2      1    version (1)
//   3      1    kind (envelope_kind)
//   4      1    opcode of the message: 1 text, 2 binary; 0 for a heartbeat
//   5      1    origin length O, 1..255
//   6      O    origin: the instance id of the publisher
//   6+O    8    sequence number, per origin, counting from 1 (gaps = missed messages)
//   14+O   4    target length T, then T bytes (group, connection id or user; empty otherwise)
//   .      4    payload length P, then P bytes (a heartbeat: 8 bytes, the connection count)
//
// Decoding never reads past the input and returns an error for anything that
// does not match this layout exactly, so garbage on the channel cannot crash an
// instance or be delivered to clients.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <wsx/protocol/opcode.hpp>

namespace wsx::backplane {

// Numbered once, never renumbered: instances of different builds share a channel.
enum class envelope_kind : std::uint8_t {
    broadcast = 1,         // every connection
    broadcast_except = 2,  // every connection but the one whose id is the target
    publish = 3,           // the members of the group named by the target
    send_to = 4,           // the connection whose id is the target
    send_to_user = 5,      // every connection of the user named by the target
    heartbeat = 6,         // no message: the payload is the origin's connection count
};

enum class envelope_error : std::uint8_t {
    none = 0,
    truncated,            // shorter than its own lengths say
    bad_magic,            // not an envelope at all
    unsupported_version,  // a newer (or older) wire format
    bad_kind,
    bad_opcode,           // not text/binary for a message, not 0 for a heartbeat
    bad_origin,           // empty origin
    trailing_bytes,       // bytes after the payload
    bad_heartbeat,        // a heartbeat whose payload is not 8 bytes, or that has a target
};

constexpr std::string_view to_string(envelope_error e) noexcept {
    switch (e) {
    case envelope_error::none: return "no error";
    case envelope_error::truncated: return "truncated envelope";
    case envelope_error::bad_magic: return "not a wsx envelope";
    case envelope_error::unsupported_version: return "unsupported envelope version";
    case envelope_error::bad_kind: return "unknown envelope kind";
    case envelope_error::bad_opcode: return "bad message opcode";
    case envelope_error::bad_origin: return "empty origin";
    case envelope_error::trailing_bytes: return "bytes after the payload";
    case envelope_error::bad_heartbeat: return "malformed heartbeat";
    }
    return "unknown envelope error";
}

// A decoded envelope views the bytes it was decoded from: keep them alive.
struct envelope {
    envelope_kind kind = envelope_kind::broadcast;
    opcode type = opcode::text;  // text or binary; ignored for a heartbeat
    std::string_view origin;
    std::uint64_t sequence = 0;
    std::string_view target;
    std::string_view payload;
};

inline constexpr std::uint8_t envelope_version = 1;
inline constexpr std::size_t max_origin_size = 255;
// Everything but the origin, target and payload bytes.
inline constexpr std::size_t envelope_overhead = 2 + 1 + 1 + 1 + 1 + 8 + 4 + 4;

namespace detail {

inline void put_be(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

inline std::uint64_t get_be(std::string_view in, std::size_t at, int bytes) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]);
    return v;
}

constexpr bool valid_kind(std::uint8_t k) noexcept { return k >= 1 && k <= 6; }

} // namespace detail

// The size append_envelope() adds for `e`.
inline std::size_t encoded_size(const envelope& e) noexcept {
    return envelope_overhead + e.origin.size() + e.target.size() + e.payload.size();
}

// Appends the encoding of `e` to `out`. Throws std::invalid_argument for an
// envelope that cannot be encoded (an empty origin or one over 255 bytes, a
// target or payload of 4 GiB or more, a message that is neither text nor
// binary): these are programming errors, not run-time conditions.
inline void append_envelope(std::string& out, const envelope& e) {
    if (e.origin.empty() || e.origin.size() > max_origin_size)
        throw std::invalid_argument("wsx::backplane: the origin must be 1 to 255 bytes");
    if (e.target.size() > 0xffffffffu || e.payload.size() > 0xffffffffu)
        throw std::invalid_argument("wsx::backplane: target or payload of 4 GiB or more");
    std::uint8_t op = 0;
    if (e.kind != envelope_kind::heartbeat) {
        if (e.type != opcode::text && e.type != opcode::binary)
            throw std::invalid_argument("wsx::backplane: a message must be text or binary");
        op = static_cast<std::uint8_t>(e.type);
    }
    out.reserve(out.size() + encoded_size(e));
    out += "wX";
    out.push_back(static_cast<char>(envelope_version));
    out.push_back(static_cast<char>(e.kind));
    out.push_back(static_cast<char>(op));
    out.push_back(static_cast<char>(e.origin.size()));
    out += e.origin;
    detail::put_be(out, e.sequence, 8);
    detail::put_be(out, e.target.size(), 4);
    out += e.target;
    detail::put_be(out, e.payload.size(), 4);
    out += e.payload;
}

inline std::string encode_envelope(const envelope& e) {
    std::string out;
    append_envelope(out, e);
    return out;
}

// Decodes exactly one envelope filling `bytes`. On error `out` is unspecified.
inline envelope_error decode_envelope(std::string_view bytes, envelope& out) noexcept {
    // Each step checks the bytes it reads are there; `need` never overflows:
    // every length read is at most 2^32 and `at` at most bytes.size().
    std::size_t at = 0;
    auto have = [&](std::uint64_t need) { return need <= bytes.size() - at; };
    if (!have(2)) return envelope_error::truncated;
    if (bytes[0] != 'w' || bytes[1] != 'X') return envelope_error::bad_magic;
    at = 2;
    if (!have(4)) return envelope_error::truncated;
    if (static_cast<std::uint8_t>(bytes[2]) != envelope_version) return envelope_error::unsupported_version;
    const auto kind = static_cast<std::uint8_t>(bytes[3]);
    if (!detail::valid_kind(kind)) return envelope_error::bad_kind;
    out.kind = static_cast<envelope_kind>(kind);
    const auto op = static_cast<std::uint8_t>(bytes[4]);
    if (out.kind == envelope_kind::heartbeat) {
        if (op != 0) return envelope_error::bad_opcode;
        out.type = opcode::text;
    } else {
        if (op != static_cast<std::uint8_t>(opcode::text) && op != static_cast<std::uint8_t>(opcode::binary))
            return envelope_error::bad_opcode;
        out.type = static_cast<opcode>(op);
    }
    const std::size_t origin_size = static_cast<std::uint8_t>(bytes[5]);
    if (origin_size == 0) return envelope_error::bad_origin;
    at = 6;
    if (!have(origin_size + 8 + 4)) return envelope_error::truncated;
    out.origin = bytes.substr(at, origin_size);
    at += origin_size;
    out.sequence = detail::get_be(bytes, at, 8);
    at += 8;
    const std::uint64_t target_size = detail::get_be(bytes, at, 4);
    at += 4;
    if (!have(target_size + 4)) return envelope_error::truncated;
    out.target = bytes.substr(at, static_cast<std::size_t>(target_size));
    at += static_cast<std::size_t>(target_size);
    const std::uint64_t payload_size = detail::get_be(bytes, at, 4);
    at += 4;
    if (!have(payload_size)) return envelope_error::truncated;
    out.payload = bytes.substr(at, static_cast<std::size_t>(payload_size));
    at += static_cast<std::size_t>(payload_size);
    if (at != bytes.size()) return envelope_error::trailing_bytes;
    if (out.kind == envelope_kind::heartbeat && (out.payload.size() != 8 || !out.target.empty()))
        return envelope_error::bad_heartbeat;
    return envelope_error::none;
}

// A heartbeat announces how many connections its origin has.
inline envelope make_heartbeat(std::string_view origin, std::uint64_t sequence, std::string& payload_storage,
                               std::uint64_t connections) {
    payload_storage.clear();
    detail::put_be(payload_storage, connections, 8);
    return envelope{envelope_kind::heartbeat, opcode::text, origin, sequence, {}, payload_storage};
}

// The connection count of a decoded heartbeat.
inline std::uint64_t heartbeat_connections(const envelope& e) noexcept {
    return e.payload.size() == 8 ? detail::get_be(e.payload, 0, 8) : 0;
}

} // namespace wsx::backplane

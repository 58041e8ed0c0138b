// SPDX-License-Identifier: BSL-1.0
#pragma once
// Close status codes (RFC 6455 §7.4) and the Close frame body (§5.5.1): a 2-byte big-endian
// code followed by an optional UTF-8 reason, or nothing at all.

#include "wsx/protocol/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace wsx {

// Values from §7.4.1 and the IANA "WebSocket Close Code Number Registry" (§11.7). The
// underlying type is 16 bits so that any code received on the wire (e.g. an application's
// 4000-4999 code) can be held, named or not.
enum class close_code : std::uint16_t {
    normal = 1000,
    going_away = 1001,
    protocol_error = 1002,
    unsupported_data = 1003,
    no_status = 1005, // never on the wire: "the Close frame had no code"
    abnormal = 1006,  // never on the wire: "the connection dropped without a Close"
    invalid_payload = 1007,
    policy_violation = 1008,
    message_too_big = 1009,
    mandatory_extension = 1010,
    internal_error = 1011,
    service_restart = 1012,
    try_again_later = 1013,
    bad_gateway = 1014,
    tls_handshake_failed = 1015, // never on the wire: "the TLS handshake failed"
};

// Whether a code may appear in a Close frame (§7.4.1, §7.4.2): 1000-1003 and 1007-1014 are
// defined by the RFC and the IANA registry, 3000-3999 are registered for libraries and
// frameworks, 4000-4999 are private use. 1004 is reserved, 1005/1006/1015 are reserved for
// reporting and "MUST NOT be set as a status code in a Close control frame", and everything
// below 1000, in 1016-2999 or from 5000 up is unassigned.
constexpr bool is_valid_wire_close_code(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

constexpr std::string_view to_string(close_code code) noexcept {
    switch (code) {
    case close_code::normal:
        return "normal";
    case close_code::going_away:
        return "going away";
    case close_code::protocol_error:
        return "protocol error";
    case close_code::unsupported_data:
        return "unsupported data";
    case close_code::no_status:
        return "no status";
    case close_code::abnormal:
        return "abnormal closure";
    case close_code::invalid_payload:
        return "invalid payload";
    case close_code::policy_violation:
        return "policy violation";
    case close_code::message_too_big:
        return "message too big";
    case close_code::mandatory_extension:
        return "mandatory extension";
    case close_code::internal_error:
        return "internal error";
    case close_code::service_restart:
        return "service restart";
    case close_code::try_again_later:
        return "try again later";
    case close_code::bad_gateway:
        return "bad gateway";
    case close_code::tls_handshake_failed:
        return "TLS handshake failed";
    }
    return "unknown";
}

namespace protocol {

// A control frame carries at most 125 bytes (§5.5); the code takes 2 of them.
constexpr std::size_t max_close_payload_size = 125;
constexpr std::size_t max_close_reason_size = max_close_payload_size - 2;

struct close_payload_result {
    bool ok = false;
    close_code code = close_code::no_status; // when ok: the code received, no_status if none
    std::string_view reason;                 // when ok: the reason, pointing into the payload
    close_code error = close_code::normal;   // when !ok: the code to fail the connection with
    std::string_view what;                   // when !ok: a short static English explanation
};

// Parses a Close frame body (§5.5.1). An empty body is valid and means "no status" (§7.1.5).
// A 1-byte body cannot hold a code, and a code outside is_valid_wire_close_code is a protocol
// error (§7.4); a reason that is not UTF-8 is invalid data (§5.5.1, §8.1, 1007).
inline close_payload_result parse_close_payload(std::string_view payload) noexcept {
    close_payload_result r;
    if (payload.empty()) {
        r.ok = true;
        r.code = close_code::no_status;
        return r;
    }
    if (payload.size() == 1) {
        r.error = close_code::protocol_error;
        r.what = "close payload of 1 byte";
        return r;
    }
    if (payload.size() > max_close_payload_size) {
        r.error = close_code::protocol_error;
        r.what = "close payload over 125 bytes";
        return r;
    }
    const auto hi = static_cast<unsigned char>(payload[0]);
    const auto lo = static_cast<unsigned char>(payload[1]);
    const auto code = static_cast<std::uint16_t>((hi << 8) | lo);
    if (!is_valid_wire_close_code(code)) {
        r.error = close_code::protocol_error;
        r.what = "invalid close code";
        return r;
    }
    const std::string_view reason = payload.substr(2);
    if (!is_valid_utf8(reason)) {
        r.error = close_code::invalid_payload;
        r.what = "close reason is not valid UTF-8";
        return r;
    }
    r.ok = true;
    r.code = static_cast<close_code>(code);
    r.reason = reason;
    return r;
}

// Longest prefix of s no longer than max that does not cut a UTF-8 code point: backs off over
// continuation bytes (10xxxxxx) so the cut lands before a lead byte.
constexpr std::size_t utf8_truncated_size(std::string_view s, std::size_t max) noexcept {
    if (s.size() <= max) return s.size();
    std::size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0u) == 0x80u)
        --n;
    return n;
}

// Writes a Close frame body into out (room for max_close_payload_size bytes) and returns its
// size: the code big-endian (§5.5.1), then the reason cut to max_close_reason_size bytes at a
// code point boundary (a control payload is at most 125 bytes, §5.5). The reason must be
// UTF-8. Codes that must not be sent (§7.4.1: no_status, abnormal, tls_handshake_failed, and
// anything is_valid_wire_close_code rejects) write an empty body, which the peer reads as
// "no status", and drop the reason (§5.5.1: a reason needs a code before it).
inline std::size_t encode_close_payload(close_code code, std::string_view reason,
                                        std::uint8_t* out) noexcept {
    const auto raw = static_cast<std::uint16_t>(code);
    if (!is_valid_wire_close_code(raw)) return 0;
    out[0] = static_cast<std::uint8_t>(raw >> 8);
    out[1] = static_cast<std::uint8_t>(raw & 0xFFu);
    const std::size_t n = utf8_truncated_size(reason, max_close_reason_size);
    if (n != 0) std::memcpy(out + 2, reason.data(), n);
    return 2 + n;
}

} // namespace protocol
} // namespace wsx

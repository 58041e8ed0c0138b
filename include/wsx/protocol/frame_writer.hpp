// SPDX-License-Identifier: BSL-1.0
#pragma once
// Serialises frames into a caller-owned output buffer (sans-I/O: the caller writes the bytes).
// Appending lets a connection cork several frames into one buffer and one write.

#include "wsx/protocol/close_code.hpp"
#include "wsx/protocol/frame_header.hpp"
#include "wsx/protocol/mask.hpp"
#include "wsx/protocol/opcode.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace wsx::protocol {

// Payloads up to this size are framed with one resize of the output and copies of known
// bounds; larger ones with two appends (see append_frame).
inline constexpr std::size_t small_frame_payload = 1024;

// Appends one whole frame to out: the header with the minimal length encoding (§5.2), then
// the payload. A client passes a mask key and the payload is copied masked (§5.3: every
// client frame MUST be masked, with a fresh unpredictable key per frame, which the caller
// chooses); a server passes none (§5.1: a server MUST NOT mask).
//
// payload must not point into out (appending may reallocate out).
// Throws std::invalid_argument for a control frame (close, ping, pong) with FIN clear or a
// payload over 125 bytes (§5.5): that is a caller bug, never peer input.
inline void append_frame(std::string& out, opcode op, std::string_view payload, bool fin = true,
                         const mask_key* key = nullptr, bool rsv1 = false) {
    if (is_control(op)) {
        if (!fin) {
            throw std::invalid_argument(
                "wsx: control frames cannot be fragmented (RFC 6455 5.5); pass fin = true");
        }
        if (payload.size() > max_control_payload_size) {
            throw std::invalid_argument("wsx: a control frame payload is at most 125 bytes "
                                        "(RFC 6455 5.5); send the data in a message instead");
        }
    }
    frame_header h;
    h.fin = fin;
    h.rsv1 = rsv1;
    h.op = op;
    h.masked = key != nullptr;
    if (key != nullptr) h.key = *key;
    h.payload_length = payload.size();

    const std::size_t header_size = frame_header_size(payload.size(), key != nullptr);
    const std::size_t start = out.size();
    const std::size_t total = header_size + payload.size();
    // Grow geometrically ourselves: an exact reserve per frame would reallocate on every
    // append with standard libraries that honour the request exactly.
    if (out.capacity() - start < total) out.reserve(std::max(start + total, 2 * out.capacity()));
    std::uint8_t* dst;
    if (payload.size() <= small_frame_payload) {
        // A small frame (a chat line, a pong) grows the string once, within its capacity, and
        // the header is encoded in place: one resize and one copy instead of two appends. The
        // resize zero-fills what is then overwritten, which costs nothing at this size.
        out.resize(start + total);
        dst = reinterpret_cast<std::uint8_t*>(out.data()) + start;
        encode_frame_header(h, dst);
        if (!payload.empty()) std::memcpy(dst + header_size, payload.data(), payload.size());
    } else {
        // A large payload is copied once, by append, with no zero-fill pass before it.
        std::uint8_t header[max_frame_header_size];
        encode_frame_header(h, header);
        out.append(reinterpret_cast<const char*>(header), header_size);
        out.append(payload);
        dst = reinterpret_cast<std::uint8_t*>(out.data()) + start;
    }
    if (key != nullptr && !payload.empty())
        apply_mask({dst + header_size, payload.size()}, *key);
}

// Appends a Close frame (§5.5.1) with the code and the reason cut to 123 bytes at a code point
// boundary; codes that must not be sent (no_status, abnormal, ...) give an empty body.
inline void append_close_frame(std::string& out, close_code code, std::string_view reason,
                               const mask_key* key = nullptr) {
    std::uint8_t body[max_close_payload_size];
    const std::size_t n = encode_close_payload(code, reason, body);
    append_frame(out, opcode::close, {reinterpret_cast<const char*>(body), n}, true, key);
}

} // namespace wsx::protocol

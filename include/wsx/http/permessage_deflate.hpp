// SPDX-License-Identifier: BSL-1.0
#pragma once
// permessage-deflate negotiation (RFC 7692 §5, §7.1) over the Sec-WebSocket-Extensions
// header (RFC 6455 §9.1): parsing offers and responses, choosing what to accept, writing
// the answer. Sans-I/O and zlib-free: the server and the client include it whether or not
// compression is linked in.
//
// Server: negotiate_permessage_deflate(request headers, preferences) picks the first offer
// it can honour and returns the response header value and the agreed configuration.
// Client: make_permessage_deflate_offer(preferences) is the request header value, and
// accept_permessage_deflate_response(response headers, same preferences) checks the
// server's answer (§7.1: the client MUST fail the connection on an invalid one).

#include "wsx/http/fields.hpp"
#include "wsx/protocol/compression.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::http {

inline constexpr std::string_view permessage_deflate_name = "permessage-deflate";

// One `name` or `name=value` parameter of an extension (RFC 6455 §9.1). A quoted-string
// value is stored unquoted and unescaped.
struct extension_param {
    std::string name;
    std::string value;
    bool has_value = false;
};

// One element of a Sec-WebSocket-Extensions list: an extension token and its parameters.
struct extension {
    std::string name;
    std::vector<extension_param> params;
};

// Parses one Sec-WebSocket-Extensions value:
//   extension-list = 1#( extension-token *( ";" extension-param ) )
//   extension-param = token [ "=" ( token / quoted-string ) ]
// with optional whitespace around the separators, and empty list elements skipped (RFC 7230
// §7). A quoted value must unescape to a token (§9.1). Appends the extensions to `out`;
// returns false on a syntax error, leaving `out` as it was.
inline bool parse_extensions(std::string_view v, std::vector<extension>& out) {
    using detail::is_ows;
    using detail::is_tchar;
    const std::size_t keep = out.size();
    std::size_t i = 0;
    const std::size_t n = v.size();
    auto skip_ows = [&] {
        while (i < n && is_ows(v[i])) ++i;
    };
    auto token = [&] {
        const std::size_t start = i;
        while (i < n && is_tchar(v[i])) ++i;
        return v.substr(start, i - start);
    };
    auto bad = [&] {
        out.resize(keep);
        return false;
    };
    for (;;) {
        skip_ows();
        if (i == n) return true;
        if (v[i] == ',') { // an empty list element
            ++i;
            continue;
        }
        extension e;
        e.name = token();
        if (e.name.empty()) return bad();
        skip_ows();
        while (i < n && v[i] == ';') {
            ++i;
            skip_ows();
            extension_param p;
            p.name = token();
            if (p.name.empty()) return bad();
            skip_ows();
            if (i < n && v[i] == '=') {
                ++i;
                skip_ows();
                p.has_value = true;
                if (i < n && v[i] == '"') {
                    ++i;
                    for (;;) {
                        if (i == n) return bad(); // unterminated quoted-string
                        char c = v[i++];
                        if (c == '"') break;
                        if (c == '\\') {
                            if (i == n) return bad();
                            c = v[i++];
                        }
                        p.value.push_back(c);
                    }
                    if (!detail::is_token(p.value)) return bad();
                } else {
                    p.value = token();
                    if (p.value.empty()) return bad();
                }
                skip_ows();
            }
            e.params.push_back(std::move(p));
        }
        out.push_back(std::move(e));
        if (i == n) return true;
        if (v[i] != ',') return bad();
        ++i;
    }
}

// The permessage-deflate parameters of one offer or response, as on the wire (§7.1).
struct permessage_deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 0;  // 8..15; 0 when absent
    bool has_client_max_window_bits = false;  // present, with or without a value
    std::uint8_t client_max_window_bits = 0;  // 8..15; 0 when absent or without a value
};

namespace detail {
// §7.1.2: "1*DIGIT ... decimal integer value without leading zeros, in range 8 to 15".
inline std::uint8_t parse_window_bits(std::string_view s) noexcept {
    if (s.empty() || s.size() > 2 || s[0] == '0') return 0;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return 0;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v >= 8 && v <= 15 ? static_cast<std::uint8_t>(v) : 0;
}
} // namespace detail

// Reads the parameters of one permessage-deflate element into `out`. Returns "" when they
// are valid, else why not: an unknown parameter, one given twice, a value where none is
// allowed, or a missing or out-of-range window size (§7: the server declines such an offer,
// the client fails on such a response). In a response client_max_window_bits needs a value
// (§7.1.2.2); in an offer it may have none.
inline std::string_view parse_permessage_deflate(const extension& e, permessage_deflate_params& out,
                                                 bool response) {
    out = {};
    bool seen_smwb = false;
    for (const extension_param& p : e.params) {
        if (iequals(p.name, "server_no_context_takeover") ||
            iequals(p.name, "client_no_context_takeover")) {
            bool& flag = iequals(p.name, "server_no_context_takeover")
                             ? out.server_no_context_takeover
                             : out.client_no_context_takeover;
            if (flag) return "repeated permessage-deflate parameter";
            if (p.has_value) return "permessage-deflate no_context_takeover takes no value";
            flag = true;
        } else if (iequals(p.name, "server_max_window_bits")) {
            if (seen_smwb) return "repeated permessage-deflate parameter";
            seen_smwb = true;
            out.server_max_window_bits = p.has_value ? detail::parse_window_bits(p.value) : 0;
            if (out.server_max_window_bits == 0)
                return "server_max_window_bits needs a value from 8 to 15";
        } else if (iequals(p.name, "client_max_window_bits")) {
            if (out.has_client_max_window_bits) return "repeated permessage-deflate parameter";
            out.has_client_max_window_bits = true;
            if (p.has_value) {
                out.client_max_window_bits = detail::parse_window_bits(p.value);
                if (out.client_max_window_bits == 0)
                    return "client_max_window_bits must be from 8 to 15";
            } else if (response) {
                return "client_max_window_bits in a response needs a value";
            }
        } else {
            return "unknown permessage-deflate parameter";
        }
    }
    return {};
}

// What the local endpoint asks for, in the wire's terms (server = the server's sending
// direction, client = the client's). Used by both roles.
struct permessage_deflate_preferences {
    // The server resets its compressor after each message (costs ratio on similar
    // messages; frees the server's compressor between messages and lets a broadcast be
    // compressed once for everyone).
    bool server_no_context_takeover = false;
    // The client resets its compressor after each message (lets the server drop its
    // inflater's 32 KiB window between messages).
    bool client_no_context_takeover = false;
    // LZ77 window of the server's compressor, 9-15 (a server never agrees to 8: zlib cannot
    // compress with a 256-byte window). Smaller windows cost both ends less memory.
    std::uint8_t server_max_window_bits = 15;
    // LZ77 window of the client's compressor, 8-15.
    std::uint8_t client_max_window_bits = 15;
};

// What a server agreed to: the configuration from its own point of view and the value of
// the Sec-WebSocket-Extensions header of its 101 response.
struct deflate_agreement {
    protocol::deflate_config config;
    std::string response;
};

namespace detail {
inline void append_window_bits(std::string& s, std::string_view name, unsigned bits) {
    s.append("; ");
    s.append(name);
    s.push_back('=');
    s.append(std::to_string(bits));
}

// Every extension of every Sec-WebSocket-Extensions line; a malformed line is dropped
// whole (`ok` is then false), the others still count.
inline std::vector<extension> all_extensions(const fields& h, bool* ok = nullptr) {
    std::vector<extension> out;
    if (ok != nullptr) *ok = true;
    for (const auto& f : h) {
        if (!iequals(f.name, "Sec-WebSocket-Extensions")) continue;
        if (!parse_extensions(f.value, out) && ok != nullptr) *ok = false;
    }
    return out;
}
} // namespace detail

// Server side (§7.1): the first permessage-deflate offer of the request, in the client's
// order of preference, that is valid and that we can honour, and our answer to it; nullopt
// when there is none (send no Sec-WebSocket-Extensions then). Other extensions are ignored.
//
//  - An offer with an unknown, repeated or out-of-range parameter is declined (§7).
//  - server_no_context_takeover offered, or preferred by us: granted (in the answer).
//  - client_no_context_takeover offered or preferred: put in the answer, so the client is
//    bound by it (offered alone it is only a hint, §7.1.1.2) and our inflater may drop its
//    window between messages.
//  - server_max_window_bits=N: we compress with min(N, ours) and say so; N = 8 is declined
//    (zlib cannot compress with a 256-byte window). Not offered: we say ours if below 15.
//  - client_max_window_bits offered: we answer min(its value or 15, ours) when that is
//    below 15 or the client gave a value. Not offered: we may not limit the client
//    (§7.1.2.2), and inflate with a full window.
inline std::optional<deflate_agreement>
negotiate_permessage_deflate(const fields& request_headers, const permessage_deflate_preferences& ours) {
    const std::uint8_t our_server_bits = std::clamp<std::uint8_t>(ours.server_max_window_bits, 9, 15);
    const std::uint8_t our_client_bits = std::clamp<std::uint8_t>(ours.client_max_window_bits, 8, 15);
    for (const extension& e : detail::all_extensions(request_headers)) {
        if (!iequals(e.name, permessage_deflate_name)) continue;
        permessage_deflate_params offer;
        if (!parse_permessage_deflate(e, offer, false).empty()) continue;
        if (offer.server_max_window_bits == 8) continue;

        deflate_agreement a;
        protocol::deflate_config& c = a.config;
        c.enabled = true;
        c.send_no_context_takeover = offer.server_no_context_takeover || ours.server_no_context_takeover;
        c.recv_no_context_takeover = offer.client_no_context_takeover || ours.client_no_context_takeover;
        c.send_window_bits = offer.server_max_window_bits != 0
                                 ? std::min(offer.server_max_window_bits, our_server_bits)
                                 : our_server_bits;
        bool answer_client_bits = false;
        c.recv_window_bits = 15;
        if (offer.has_client_max_window_bits) {
            const std::uint8_t offered = offer.client_max_window_bits != 0 ? offer.client_max_window_bits : 15;
            c.recv_window_bits = std::min(offered, our_client_bits);
            answer_client_bits = c.recv_window_bits < 15 || offer.client_max_window_bits != 0;
        }

        std::string& r = a.response;
        r.assign(permessage_deflate_name);
        if (c.send_no_context_takeover) r.append("; server_no_context_takeover");
        if (c.recv_no_context_takeover) r.append("; client_no_context_takeover");
        if (offer.server_max_window_bits != 0 || c.send_window_bits < 15)
            detail::append_window_bits(r, "server_max_window_bits", c.send_window_bits);
        if (answer_client_bits) detail::append_window_bits(r, "client_max_window_bits", c.recv_window_bits);
        return a;
    }
    return std::nullopt;
}

// Client side: the value of the Sec-WebSocket-Extensions request header offering
// permessage-deflate with `ours`. It always offers client_max_window_bits (§7.1.2.2: the
// server may then limit our window), with our value when below 15.
inline std::string make_permessage_deflate_offer(const permessage_deflate_preferences& ours) {
    std::string s(permessage_deflate_name);
    if (ours.server_no_context_takeover) s.append("; server_no_context_takeover");
    if (ours.client_no_context_takeover) s.append("; client_no_context_takeover");
    const std::uint8_t server_bits = std::clamp<std::uint8_t>(ours.server_max_window_bits, 8, 15);
    if (server_bits < 15) detail::append_window_bits(s, "server_max_window_bits", server_bits);
    const std::uint8_t client_bits = std::clamp<std::uint8_t>(ours.client_max_window_bits, 8, 15);
    if (client_bits < 15)
        detail::append_window_bits(s, "client_max_window_bits", client_bits);
    else
        s.append("; client_max_window_bits");
    return s;
}

// The client's check of the server's answer to make_permessage_deflate_offer(ours) (§7.1):
// `error` is empty when it is acceptable, and then `config` is what was agreed, from the
// client's point of view (config.enabled is false when the server declined, which is
// allowed). Otherwise `error` says why the client must fail the connection.
struct deflate_response_check {
    std::string_view error;
    protocol::deflate_config config;
};

inline deflate_response_check accept_permessage_deflate_response(const fields& response_headers,
                                                                 const permessage_deflate_preferences& ours) {
    deflate_response_check out;
    bool ok = true;
    const std::vector<extension> exts = detail::all_extensions(response_headers, &ok);
    if (!ok) return {"malformed Sec-WebSocket-Extensions in the response", {}};
    if (exts.empty()) return out; // declined
    // RFC 6455 §9.1: the server may only accept extensions the client offered, and it may
    // accept one offer of each.
    if (exts.size() > 1) return {"server accepted more than the one extension offered", {}};
    if (!iequals(exts.front().name, permessage_deflate_name))
        return {"server accepted an extension that the client did not offer", {}};
    permessage_deflate_params p;
    if (const std::string_view why = parse_permessage_deflate(exts.front(), p, true); !why.empty())
        return {why, {}};

    const std::uint8_t offered_server_bits = std::clamp<std::uint8_t>(ours.server_max_window_bits, 8, 15);
    const std::uint8_t offered_client_bits = std::clamp<std::uint8_t>(ours.client_max_window_bits, 8, 15);
    // §7.1.1.1: a server accepts server_no_context_takeover by answering with it.
    if (ours.server_no_context_takeover && !p.server_no_context_takeover)
        return {"server did not accept server_no_context_takeover", {}};
    // §7.1.2.1: it accepts server_max_window_bits=N with the same or a smaller value.
    if (offered_server_bits < 15 &&
        (p.server_max_window_bits == 0 || p.server_max_window_bits > offered_server_bits))
        return {"server_max_window_bits in the response is missing or above the offer", {}};
    // §7.1.2.2: client_max_window_bits, answered only because it was offered, within it.
    if (p.has_client_max_window_bits && p.client_max_window_bits > offered_client_bits)
        return {"client_max_window_bits in the response is above the offer", {}};

    protocol::deflate_config& c = out.config;
    c.enabled = true;
    c.send_no_context_takeover = p.client_no_context_takeover || ours.client_no_context_takeover;
    c.recv_no_context_takeover = p.server_no_context_takeover;
    c.send_window_bits = p.has_client_max_window_bits
                             ? std::min(p.client_max_window_bits, offered_client_bits)
                             : offered_client_bits;
    c.recv_window_bits = p.server_max_window_bits != 0 ? p.server_max_window_bits : 15;
    return out;
}

} // namespace wsx::http

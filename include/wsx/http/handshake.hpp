// SPDX-License-Identifier: BSL-1.0
#pragma once
// The WebSocket opening handshake (RFC 6455 §4): validating the client's upgrade
// request and building the server's answer, and the client's side of the same.

#include "wsx/detail/base64.hpp"
#include "wsx/detail/sha1.hpp"
#include "wsx/http/fields.hpp"
#include "wsx/http/message.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace wsx::http {

// RFC 6455 §1.3: the GUID the server appends to the client's key.
inline constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

namespace detail {
// base64 of a 20-byte digest is always 28 characters: computed on the stack, so the
// client's check of the answer needs no allocation.
inline std::array<char, 28> accept_key_chars(std::string_view client_key) noexcept {
    wsx::detail::sha1_hasher h;
    h.update(client_key);
    h.update(websocket_guid);
    const auto digest = h.finish();
    std::array<char, 28> out{};
    static_assert(wsx::detail::base64_encoded_size(std::tuple_size_v<decltype(digest)>) == 28);
    wsx::detail::base64_encode_to(std::span<const std::uint8_t>(digest), out.data());
    return out;
}
} // namespace detail

// RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key + GUID)).
inline std::string websocket_accept_key(std::string_view client_key) {
    const auto chars = detail::accept_key_chars(client_key);
    return std::string(chars.data(), chars.size());
}

// Server side: `status` is the HTTP status to answer with (400 or 426), 0 when valid.
// Client side: `status` is the status of the server's response that failed the checks
// (101 when the upgrade was accepted but a header was wrong). `what` is a fixed English
// sentence, safe to put in a response body or a log.
struct handshake_error {
    int status = 0;
    std::string_view what;
    explicit operator bool() const noexcept { return status != 0; }
};

// `what` when the server answered with a status other than 101.
inline constexpr std::string_view upgrade_refused = "server refused the upgrade";

// "server refused the upgrade with status 403" for a refusal, `what` otherwise.
inline std::string to_string(const handshake_error& e) {
    std::string s(e.what);
    if (e.what == upgrade_refused) {
        s.append(" with status ");
        s.append(std::to_string(e.status));
    }
    return s;
}

// RFC 6455 §4.2.1 item 3: the Upgrade header holds the "websocket" token, any case.
inline bool is_websocket_upgrade(const request& r) noexcept {
    return r.headers.has_token("Upgrade", "websocket");
}

// RFC 6455 §4.2.1. Checked in this order; the first failure is returned.
inline handshake_error validate_upgrade_request(const request& r) noexcept {
    // Item 1. RFC 6455 asks for 400 here rather than 405: the request is a malformed
    // handshake, not a valid request for a resource that lacks the method.
    if (r.method != "GET") return {400, "WebSocket upgrade requires the GET method"};
    if (r.version_minor < 1) return {400, "WebSocket upgrade requires HTTP/1.1"};
    if (!r.headers.contains("Host")) return {400, "missing Host header"}; // item 2
    if (!is_websocket_upgrade(r)) return {400, "Upgrade header does not contain websocket"}; // item 3
    if (!r.headers.has_token("Connection", "upgrade"))
        return {400, "Connection header does not contain upgrade"}; // item 4
    // Item 6, checked before the key: a client speaking another protocol version may use
    // other key headers, and the 426 answer tells it which version we speak (§4.4).
    if (r.headers.count("Sec-WebSocket-Version") != 1 || r.headers.get("Sec-WebSocket-Version") != "13")
        return {426, "unsupported Sec-WebSocket-Version (only 13)"};
    // Item 5: one key, base64 of 16 bytes (§11.3.1 forbids repeating the header).
    if (r.headers.count("Sec-WebSocket-Key") != 1) return {400, "missing or repeated Sec-WebSocket-Key"};
    std::array<std::uint8_t, 16> nonce{};
    const auto size = wsx::detail::base64_decode_into(r.headers.get("Sec-WebSocket-Key"), nonce);
    if (!size || *size != 16) return {400, "Sec-WebSocket-Key is not base64 of 16 bytes"};
    return {};
}

// Every subprotocol the client offered, in its order, across all Sec-WebSocket-Protocol
// lines (RFC 6455 §4.1 item 10, §11.3.4). Views into r.headers.
inline std::vector<std::string_view> requested_subprotocols(const request& r) {
    std::vector<std::string_view> out;
    for (const auto& f : r.headers) {
        if (!iequals(f.name, "Sec-WebSocket-Protocol")) continue;
        std::string_view list = f.value;
        while (!list.empty()) {
            const auto p = detail::next_list_element(list);
            if (!p.empty()) out.push_back(p);
        }
    }
    return out;
}

namespace detail {
// Subprotocol names are compared exactly (case-sensitive), as browsers do: RFC 6455
// §4.1 item 6 requires the server's choice to be one of the values the client sent.
inline bool list_contains_exact(const fields& h, std::string_view name, std::string_view value) noexcept {
    for (const auto& f : h) {
        if (!iequals(f.name, name)) continue;
        std::string_view list = f.value;
        while (!list.empty())
            if (next_list_element(list) == value) return true;
    }
    return false;
}
} // namespace detail

// The server's preference wins (RFC 6455 §4.2.2 item 5.4 leaves the choice to the
// server): the first of `supported` that the client offered, "" if none. The result is
// a view of an element of `supported`.
inline std::string_view select_subprotocol(const request& r, std::span<const std::string> supported) noexcept {
    for (const std::string& s : supported)
        if (!s.empty() && detail::list_contains_exact(r.headers, "Sec-WebSocket-Protocol", s)) return s;
    return {};
}

// RFC 6455 §4.2.2 item 5: the 101 answer to a request that validate_upgrade_request()
// accepted. `subprotocol` and `extensions` are sent only when not empty.
inline response make_upgrade_response(const request& r, std::string_view subprotocol = {},
                                      std::string_view extensions = {}) {
    response res;
    res.status = 101;
    res.reason = "Switching Protocols";
    res.headers.add("Upgrade", "websocket");
    res.headers.add("Connection", "Upgrade");
    res.headers.add("Sec-WebSocket-Accept", websocket_accept_key(r.headers.get("Sec-WebSocket-Key")));
    if (!subprotocol.empty()) res.headers.add("Sec-WebSocket-Protocol", subprotocol);
    if (!extensions.empty()) res.headers.add("Sec-WebSocket-Extensions", extensions);
    return res;
}

// A plain-text error answer; the connection is closed after it because the request
// may have been misframed. A 426 carries the version we speak (RFC 6455 §4.4).
inline response make_error_response(int status, std::string_view what) {
    response res;
    res.status = status;
    res.headers.add("Content-Type", "text/plain; charset=utf-8");
    res.headers.add("Connection", "close");
    if (status == 426) res.headers.add("Sec-WebSocket-Version", "13");
    res.body.reserve(what.size() + 1);
    res.body.append(what);
    res.body.push_back('\n');
    return res;
}

// RFC 6455 §4.1: the key is base64 of a 16-byte nonce from a good random source; the
// caller supplies the randomness so this layer stays deterministic and testable.
inline std::string make_client_key(const std::array<std::uint8_t, 16>& random_bytes) {
    return wsx::detail::base64_encode(std::span<const std::uint8_t>(random_bytes));
}

// RFC 6455 §4.1 items 1-10. `host_header` is host_header(url) for the URL being
// opened. A line in `extra` (Origin, Sec-WebSocket-Extensions, Authorization, ...)
// replaces a handshake header of the same name, otherwise it is appended.
inline request make_upgrade_request(std::string_view host_header, std::string_view target,
                                    std::string_view key, std::span<const std::string> subprotocols = {},
                                    const fields& extra = {}) {
    request req;
    req.method = "GET";
    req.target = target.empty() ? std::string("/") : std::string(target);
    req.version_minor = 1;
    req.headers.add("Host", host_header);
    req.headers.add("Upgrade", "websocket");
    req.headers.add("Connection", "Upgrade");
    req.headers.add("Sec-WebSocket-Key", key);
    req.headers.add("Sec-WebSocket-Version", "13");
    if (!subprotocols.empty()) {
        std::string list;
        for (const std::string& p : subprotocols) {
            if (p.empty()) continue;
            if (!list.empty()) list.append(", ");
            list.append(p);
        }
        if (!list.empty()) req.headers.add("Sec-WebSocket-Protocol", list);
    }
    for (const auto& f : extra) req.headers.erase(f.name);
    for (const auto& f : extra) req.headers.add(f.name, f.value);
    return req;
}

// RFC 6455 §4.1, the client's checks of the server's answer ("the client MUST _Fail the
// WebSocket Connection_" on any of them). `offered_subprotocols` are those sent in the
// request. Extensions are only checked for presence: if the client offered some, it
// must check the negotiated ones itself.
inline handshake_error validate_upgrade_response(const response& r, std::string_view key,
                                                 std::span<const std::string> offered_subprotocols,
                                                 bool extensions_offered = false) noexcept {
    const int status = r.status;
    if (status != 101) return {status != 0 ? status : 1, upgrade_refused}; // item 1
    if (!r.headers.has_token("Upgrade", "websocket"))
        return {status, "Upgrade header of the response does not contain websocket"}; // item 2
    if (!r.headers.has_token("Connection", "upgrade"))
        return {status, "Connection header of the response does not contain upgrade"}; // item 3
    // Item 4.
    if (r.headers.count("Sec-WebSocket-Accept") != 1)
        return {status, "missing or repeated Sec-WebSocket-Accept"};
    const auto expected = detail::accept_key_chars(key);
    if (r.headers.get("Sec-WebSocket-Accept") != std::string_view(expected.data(), expected.size()))
        return {status, "Sec-WebSocket-Accept does not match the key"};
    // Item 5: extensions the client did not offer.
    if (!extensions_offered && r.headers.contains("Sec-WebSocket-Extensions"))
        return {status, "server sent Sec-WebSocket-Extensions that the client did not offer"};
    // Item 6: at most one subprotocol, and one that was offered.
    if (r.headers.contains("Sec-WebSocket-Protocol")) {
        const std::string_view chosen = r.headers.get("Sec-WebSocket-Protocol");
        if (r.headers.count("Sec-WebSocket-Protocol") != 1 || chosen.empty() ||
            chosen.find(',') != std::string_view::npos)
            return {status, "server must select exactly one subprotocol"};
        bool offered = false;
        for (const std::string& p : offered_subprotocols) offered = offered || p == chosen;
        if (!offered) return {status, "server selected a subprotocol that the client did not offer"};
    }
    return {};
}

} // namespace wsx::http

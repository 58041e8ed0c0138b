// SPDX-License-Identifier: BSL-1.0
#pragma once
// WebSocket and HTTP URLs (RFC 6455 §3, RFC 3986) as the client needs them to connect,
// and query-string decoding (application/x-www-form-urlencoded) for the REST hook.

#include "wsx/http/fields.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsx::http {

struct url {
    std::string scheme;     // lower case: "ws", "wss", "http" or "https"
    std::string host;       // as written; an IPv6 literal without its brackets
    std::uint16_t port = 0; // the explicit port, or the scheme's default
    std::string target = "/"; // path and query, ready for the request line
    bool secure() const noexcept { return scheme == "wss" || scheme == "https"; }
};

namespace detail {
// 80 or 443 for the schemes we know, 0 for any other.
constexpr std::uint16_t default_port(std::string_view scheme) noexcept {
    if (scheme == "ws" || scheme == "http") return 80;
    if (scheme == "wss" || scheme == "https") return 443;
    return 0;
}

// RFC 3986 §2.3 unreserved characters: what a DNS name or an IPv4 address consists of.
// (reg-name also allows sub-delims and %-escapes, which no resolver accepts.)
constexpr bool is_host_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

constexpr bool is_ipv6_literal(std::string_view s) noexcept {
    if (s.find(':') == std::string_view::npos) return false;
    for (char c : s) {
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex && c != ':' && c != '.') return false;
    }
    return true;
}

constexpr int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
} // namespace detail

// ws://, wss://, http:// and https:// URLs (scheme in any case). nullopt for anything
// malformed or unsupported: another scheme, no host, userinfo ("user@host", deprecated
// by RFC 3986 §3.2.1 and not supported), a port that is empty, 0 or over 65535, spaces
// or control characters, and a fragment in a ws/wss URL (RFC 6455 §3 forbids it; for
// http/https it is dropped, since it is never sent).
inline std::optional<url> parse_url(std::string_view text) {
    const auto sep = text.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    url u;
    u.scheme.reserve(sep);
    for (char c : text.substr(0, sep)) u.scheme.push_back(detail::ascii_lower(c));
    const std::uint16_t default_port = detail::default_port(u.scheme);
    if (default_port == 0) return std::nullopt;

    std::string_view rest = text.substr(sep + 3);
    const auto authority_end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, authority_end);
    std::string_view path = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;

    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (authority.front() == '[') {
        // RFC 3986 §3.2.2 IP-literal. Zone identifiers (RFC 6874) are not supported.
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        if (!detail::is_ipv6_literal(host)) return std::nullopt;
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(colon + 1);
        }
        if (host.empty()) return std::nullopt;
        for (char c : host)
            if (!detail::is_host_char(c)) return std::nullopt;
    }

    u.port = default_port;
    if (has_port) {
        if (port_text.empty() || port_text.size() > 5) return std::nullopt;
        unsigned value = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) return std::nullopt;
        u.port = static_cast<std::uint16_t>(value);
    }
    u.host.assign(host);

    const auto hash = path.find('#');
    if (hash != std::string_view::npos) {
        if (u.scheme == "ws" || u.scheme == "wss") return std::nullopt;
        path = path.substr(0, hash);
    }
    // The target goes verbatim into the request line: it must already be %-encoded.
    for (char c : path) {
        const auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7F) return std::nullopt;
    }
    if (path.empty() || path.front() != '/') {
        u.target = "/";
        u.target.append(path); // "" or "?query"
    } else {
        u.target.assign(path);
    }
    return u;
}

// Decodes %XX escapes (RFC 3986 §2.1) and, for form data, '+' as a space (HTML
// application/x-www-form-urlencoded). An invalid escape is kept as it is written.
inline std::string percent_decode(std::string_view s, bool plus_as_space = true) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%' && i + 2 < s.size() && detail::hex_digit(s[i + 1]) >= 0 &&
            detail::hex_digit(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(detail::hex_digit(s[i + 1]) * 16 + detail::hex_digit(s[i + 2])));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// The first value of `name` in a query string ("a=1&b=2", a leading '?' is skipped),
// decoded; a key without '=' has the value "". nullopt if `name` is absent. Keys are
// compared after decoding, so "a%20b=1" matches the name "a b".
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    if (!query.empty() && query.front() == '?') query.remove_prefix(1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        const bool matches = key.find_first_of("%+") == std::string_view::npos ? key == name
                                                                                : percent_decode(key) == name;
        if (!matches) continue;
        return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
    return std::nullopt;
}

// The Host header for `u` (RFC 7230 §5.4): host, then ":port" unless it is the scheme's
// default; an IPv6 literal in brackets.
inline std::string host_header(const url& u) {
    std::string out;
    const bool ipv6 = u.host.find(':') != std::string::npos;
    if (ipv6) out.push_back('[');
    out.append(u.host);
    if (ipv6) out.push_back(']');
    if (u.port != detail::default_port(u.scheme)) {
        out.push_back(':');
        out.append(std::to_string(u.port));
    }
    return out;
}

} // namespace wsx::http

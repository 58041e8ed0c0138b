// SPDX-License-Identifier: BSL-1.0
#pragma once
// HTTP/1.x messages (RFC 7230 §3) and their wire form. The writer appends to a buffer
// the caller owns, so the connection can cork a response with whatever follows it.

#include "wsx/http/fields.hpp"

#include <charconv>
#include <string>
#include <string_view>

namespace wsx::http {

struct request {
    std::string method;
    std::string target; // request-target as received (RFC 7230 §5.3), usually origin-form
    int version_minor = 1; // HTTP/1.x
    fields headers;
    std::string body;
    // The peer's IP address as text ("127.0.0.1", "::1", "::ffff:10.0.0.5"),
    // without the port. Not on the wire: the server fills it in before an
    // HTTP route runs; empty when the transport could not tell (and in a
    // request that was only parsed).
    std::string remote_address;

    // The target up to '?'.
    std::string_view path() const noexcept {
        const std::string_view t = target;
        return t.substr(0, t.find('?'));
    }
    // The target after the first '?', "" if there is none.
    std::string_view query() const noexcept {
        const std::string_view t = target;
        const auto q = t.find('?');
        return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
    }
    // RFC 7230 §6.3: HTTP/1.1 is persistent unless "Connection: close"; HTTP/1.0 only
    // with "Connection: keep-alive" (and a close token still wins).
    bool keep_alive() const noexcept {
        if (headers.has_token("Connection", "close")) return false;
        if (version_minor >= 1) return true;
        return headers.has_token("Connection", "keep-alive");
    }
};

struct response {
    int status = 200;
    std::string reason; // empty: the standard phrase for `status` is written
    int version_minor = 1;
    fields headers;
    std::string body;
};

// Standard reason phrases (RFC 7231 §6.1, RFC 6585); "" for codes it does not know.
inline std::string_view reason_phrase(int status) noexcept {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return {};
    }
}

namespace detail {
inline void append_number(std::string& out, std::size_t n) {
    char digits[24];
    const auto r = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, r.ptr);
}

inline void append_fields(std::string& out, const fields& headers) {
    for (const auto& f : headers) {
        out.append(f.name);
        out.append(": ");
        out.append(f.value);
        out.append("\r\n");
    }
}

// RFC 7230 §3.3.3: with neither Content-Length nor Transfer-Encoding the peer cannot
// tell where the body ends on a persistent connection, so the writer states it.
inline void append_framing_and_body(std::string& out, const fields& headers, std::string_view body,
                                    bool add_length) {
    if (add_length && !headers.contains("Content-Length") && !headers.contains("Transfer-Encoding")) {
        out.append("Content-Length: ");
        append_number(out, body.size());
        out.append("\r\n");
    }
    out.append("\r\n");
    out.append(body);
}

// 1xx, 204 and 304 responses never have a body (RFC 7230 §3.3.3 rule 1).
constexpr bool status_has_no_body(int status) noexcept {
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}
} // namespace detail

// Appends the status line, the headers, Content-Length when needed, and the body.
// Content-Length is added unless the headers already carry Content-Length or
// Transfer-Encoding, or the status forbids a body (1xx, 204, 304); for those statuses
// the body is not written either, since the peer would read it as the next response.
inline void serialize(const response& r, std::string& out) {
    out.reserve(out.size() + 64 + r.body.size());
    out.append("HTTP/1.");
    out.push_back(static_cast<char>('0' + (r.version_minor >= 0 && r.version_minor <= 9 ? r.version_minor : 1)));
    out.push_back(' ');
    {
        char digits[12];
        const auto res = std::to_chars(digits, digits + sizeof digits, r.status);
        out.append(digits, res.ptr);
    }
    out.push_back(' ');
    out.append(r.reason.empty() ? reason_phrase(r.status) : std::string_view(r.reason));
    out.append("\r\n");
    detail::append_fields(out, r.headers);
    const bool no_body = detail::status_has_no_body(r.status);
    detail::append_framing_and_body(out, r.headers, no_body ? std::string_view{} : r.body, !no_body);
}

// Appends the request line, the headers, the body, and Content-Length when the body
// is not empty (a GET without a body has no framing headers, as clients usually send).
inline void serialize(const request& r, std::string& out) {
    out.reserve(out.size() + 64 + r.target.size() + r.body.size());
    out.append(r.method);
    out.push_back(' ');
    out.append(r.target.empty() ? std::string_view("/") : std::string_view(r.target));
    out.append(" HTTP/1.");
    out.push_back(static_cast<char>('0' + (r.version_minor >= 0 && r.version_minor <= 9 ? r.version_minor : 1)));
    out.append("\r\n");
    detail::append_fields(out, r.headers);
    detail::append_framing_and_body(out, r.headers, r.body, !r.body.empty());
}

inline std::string to_string(const response& r) {
    std::string out;
    serialize(r, out);
    return out;
}

inline std::string to_string(const request& r) {
    std::string out;
    serialize(r, out);
    return out;
}

} // namespace wsx::http

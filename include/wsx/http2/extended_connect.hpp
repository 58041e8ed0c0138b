// SPDX-License-Identifier: BSL-1.0
#pragma once
// The server's checks of a WebSocket opening over HTTP/2 (RFC 8441 §4-5), sans
// I/O: the request as HTTP/2 carries it (pseudo-header fields apart, regular
// fields as received), the answer to give, and the http::request the rest of
// wsx sees (so the upgrade hook, subprotocol and permessage-deflate
// negotiation are the ones used over HTTP/1.1). No nghttp2 here.
#include <string>
#include <string_view>

#include <wsx/http/fields.hpp>
#include <wsx/http/message.hpp>

namespace wsx::http2 {

// The pseudo-header fields of a request (RFC 9113 §8.3.1, RFC 8441 §4).
// `has_protocol` tells an absent :protocol from an empty one.
struct pseudo_headers {
    std::string method;
    std::string scheme;
    std::string authority;
    std::string path;
    std::string protocol;
    bool has_protocol = false;
};

// What kind of request a stream carries once its header block is complete.
enum class request_kind : unsigned char {
    websocket,  // an extended CONNECT with :protocol = websocket
    http,       // an ordinary request (GET, POST, ...): an HTTP route
    rejected,   // answered with `status` (see check_request)
};

struct request_check {
    request_kind kind = request_kind::rejected;
    int status = 0;         // for rejected: the status to answer with
    std::string_view what;  // for rejected: a fixed English sentence for the body
};

// Decides what a request is, in this order:
//  - CONNECT without :protocol is a proxy tunnel (RFC 9113 §8.5): a WebSocket
//    server is no proxy, 405;
//  - :protocol on a method other than CONNECT is malformed (RFC 8441 §4), 400
//    (nghttp2 already resets such a stream; the check stays for other drivers);
//  - a :protocol other than "websocket": 501, we implement no other;
//  - an extended CONNECT needs :scheme and :path (RFC 8441 §4), 400;
//  - Sec-WebSocket-Version must be exactly one "13" (RFC 8441 §5, RFC 6455
//    §4.2.1 item 6): otherwise 426, and the answer names the version we speak;
//  - anything else with a :path is an ordinary request.
// Sec-WebSocket-Key, Upgrade and Connection are not used over HTTP/2 (RFC 8441
// §5); a Connection field makes the whole request malformed (RFC 9113
// §8.2.2), which nghttp2 checks before we see it.
inline request_check check_request(const pseudo_headers& p, const http::fields& headers) {
    const bool connect = p.method == "CONNECT";
    if (connect && !p.has_protocol)
        return {request_kind::rejected, 405, "CONNECT tunnels are not served here; "
                                             "a WebSocket needs :protocol = websocket (RFC 8441)"};
    if (p.has_protocol && !connect)
        return {request_kind::rejected, 400, ":protocol is only allowed on CONNECT (RFC 8441 §4)"};
    if (connect) {
        if (p.protocol != "websocket")
            return {request_kind::rejected, 501, "unsupported :protocol (only websocket)"};
        if (p.scheme.empty() || p.path.empty())
            return {request_kind::rejected, 400, "extended CONNECT needs :scheme and :path"};
        if (headers.count("Sec-WebSocket-Version") != 1 ||
            headers.get("Sec-WebSocket-Version") != "13")
            return {request_kind::rejected, 426, "unsupported Sec-WebSocket-Version (only 13)"};
        return {request_kind::websocket, 0, {}};
    }
    if (p.method.empty() || p.path.empty())
        return {request_kind::rejected, 400, "request without :method or :path"};
    return {request_kind::http, 0, {}};
}

// The request as an http::request: method and target from :method and :path,
// Host from :authority (RFC 9113 §8.3.1 puts it there instead), the regular
// fields as received. version_minor stays 1: the handlers' notion of a
// persistent connection, which an HTTP/2 stream always is.
inline http::request to_request(const pseudo_headers& p, const http::fields& headers) {
    http::request r;
    r.method = p.method;
    r.target = p.path;
    if (!p.authority.empty() && !headers.contains("Host")) r.headers.add("Host", p.authority);
    for (const auto& f : headers) r.headers.add(f.name, f.value);
    return r;
}

// RFC 8441 §5: the answer that opens the WebSocket is a 200 (not 101) with the
// chosen subprotocol and extensions, and no Sec-WebSocket-Accept.
inline http::response make_connect_response(std::string_view subprotocol,
                                            std::string_view extensions) {
    http::response res;
    res.status = 200;
    if (!subprotocol.empty()) res.headers.add("Sec-WebSocket-Protocol", subprotocol);
    if (!extensions.empty()) res.headers.add("Sec-WebSocket-Extensions", extensions);
    return res;
}

// Field names HTTP/2 forbids in a message (RFC 9113 §8.2.2), dropped from
// responses that handlers wrote with HTTP/1.1 in mind.
inline bool is_connection_specific(std::string_view name) noexcept {
    return http::iequals(name, "Connection") || http::iequals(name, "Keep-Alive") ||
           http::iequals(name, "Proxy-Connection") || http::iequals(name, "Transfer-Encoding") ||
           http::iequals(name, "Upgrade");
}

} // namespace wsx::http2

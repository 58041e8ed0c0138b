// SPDX-License-Identifier: BSL-1.0
#include "wsx/http2/extended_connect.hpp"

#include "catch.hpp"

#include <string>

#include "wsx/http/handshake.hpp"

using namespace wsx;
using namespace wsx::http2;

namespace {

pseudo_headers websocket_connect() {
    pseudo_headers p;
    p.method = "CONNECT";
    p.protocol = "websocket";
    p.has_protocol = true;
    p.scheme = "https";
    p.authority = "server.example.com";
    p.path = "/chat?room=1";
    return p;
}

http::fields version_13() {
    http::fields h;
    h.add("sec-websocket-version", "13");
    return h;
}

} // namespace

TEST_CASE("RFC 8441 §4: an extended CONNECT with :protocol websocket and version 13 opens a WebSocket") {
    const request_check c = check_request(websocket_connect(), version_13());
    CHECK(c.kind == request_kind::websocket);
    CHECK(c.status == 0);
}

TEST_CASE("a CONNECT without :protocol is a proxy tunnel: 405") {
    pseudo_headers p = websocket_connect();
    p.has_protocol = false;
    p.protocol.clear();
    const request_check c = check_request(p, version_13());
    CHECK(c.kind == request_kind::rejected);
    CHECK(c.status == 405);
}

TEST_CASE(":protocol on another method is malformed: 400") {
    pseudo_headers p = websocket_connect();
    p.method = "GET";
    CHECK(check_request(p, version_13()).status == 400);
}

TEST_CASE("a :protocol other than websocket is not implemented: 501") {
    pseudo_headers p = websocket_connect();
    p.protocol = "webtransport";
    CHECK(check_request(p, version_13()).status == 501);
    p.protocol = "WebSocket";  // protocol tokens are compared exactly, as registered
    CHECK(check_request(p, version_13()).status == 501);
}

TEST_CASE("an extended CONNECT needs :scheme and :path (RFC 8441 §4)") {
    pseudo_headers p = websocket_connect();
    p.path.clear();
    CHECK(check_request(p, version_13()).status == 400);
    p = websocket_connect();
    p.scheme.clear();
    CHECK(check_request(p, version_13()).status == 400);
}

TEST_CASE("RFC 8441 §5 / RFC 6455 §4.2.1: a version other than one 13 gets 426") {
    http::fields none;
    CHECK(check_request(websocket_connect(), none).status == 426);
    http::fields eight;
    eight.add("sec-websocket-version", "8");
    CHECK(check_request(websocket_connect(), eight).status == 426);
    http::fields twice = version_13();
    twice.add("sec-websocket-version", "13");
    CHECK(check_request(websocket_connect(), twice).status == 426);
    // The 426 answer says which version we speak, as over HTTP/1.1.
    CHECK(http::make_error_response(426, "x").headers.get("Sec-WebSocket-Version") == "13");
}

TEST_CASE("ordinary requests go to the HTTP routes; one without :path is refused") {
    pseudo_headers p;
    p.method = "GET";
    p.scheme = "http";
    p.path = "/api/connections";
    CHECK(check_request(p, {}).kind == request_kind::http);
    p.path.clear();
    CHECK(check_request(p, {}).status == 400);
}

TEST_CASE("to_request: the handlers see method, target, Host from :authority and the fields") {
    http::fields h = version_13();
    h.add("sec-websocket-protocol", "chat, superchat");
    h.add("sec-websocket-extensions", "permessage-deflate");
    const http::request r = to_request(websocket_connect(), h);
    CHECK(r.method == "CONNECT");
    CHECK(r.path() == "/chat");
    CHECK(r.query() == "room=1");
    CHECK(r.headers.get("Host") == "server.example.com");
    CHECK(r.headers.get("Sec-WebSocket-Protocol") == "chat, superchat");
    CHECK(r.keep_alive());
    // A Host field the client sent itself is not doubled.
    http::fields with_host = h;
    with_host.add("host", "other.example");
    CHECK(to_request(websocket_connect(), with_host).headers.count("Host") == 1);
}

TEST_CASE("RFC 8441 §5: the answer is a 200 with the negotiated subprotocol and extensions, no accept key") {
    const http::response r = make_connect_response("chat", "permessage-deflate");
    CHECK(r.status == 200);
    CHECK(r.headers.get("Sec-WebSocket-Protocol") == "chat");
    CHECK(r.headers.get("Sec-WebSocket-Extensions") == "permessage-deflate");
    CHECK_FALSE(r.headers.contains("Sec-WebSocket-Accept"));
    const http::response bare = make_connect_response({}, {});
    CHECK(bare.headers.size() == 0);
}

TEST_CASE("RFC 9113 §8.2.2: connection-specific fields are recognised in any case") {
    CHECK(is_connection_specific("Connection"));
    CHECK(is_connection_specific("keep-alive"));
    CHECK(is_connection_specific("TRANSFER-ENCODING"));
    CHECK(is_connection_specific("Upgrade"));
    CHECK_FALSE(is_connection_specific("Content-Length"));
    CHECK_FALSE(is_connection_specific("Sec-WebSocket-Protocol"));
}

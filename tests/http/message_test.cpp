// SPDX-License-Identifier: BSL-1.0
#include "wsx/http/message.hpp"

#include "catch.hpp"

#include <string>

using namespace wsx::http;

TEST_CASE("request: path and query split at the first '?'", "[http][message]") {
    request r;
    r.target = "/chat/room?id=4&x=?y";
    CHECK(r.path() == "/chat/room");
    CHECK(r.query() == "id=4&x=?y");
    r.target = "/plain";
    CHECK(r.path() == "/plain");
    CHECK(r.query() == "");
    r.target = "/empty?";
    CHECK(r.path() == "/empty");
    CHECK(r.query() == "");
}

TEST_CASE("request: keep_alive follows RFC 7230 §6.3", "[http][message]") {
    struct row {
        int minor;
        const char* connection; // nullptr: no header
        bool expected;
    };
    const row rows[] = {
        {1, nullptr, true},
        {1, "close", false},
        {1, "Close", false},
        {1, "keep-alive", true},
        {1, "Upgrade, close", false},
        {0, nullptr, false},
        {0, "keep-alive", true},
        {0, "Keep-Alive", true},
        {0, "keep-alive, close", false},
    };
    for (const auto& r : rows) {
        request req;
        req.version_minor = r.minor;
        if (r.connection) req.headers.add("Connection", r.connection);
        CAPTURE(r.minor, r.connection ? r.connection : "(none)");
        CHECK(req.keep_alive() == r.expected);
    }
}

TEST_CASE("reason_phrase knows the standard codes", "[http][message]") {
    CHECK(reason_phrase(101) == "Switching Protocols");
    CHECK(reason_phrase(200) == "OK");
    CHECK(reason_phrase(400) == "Bad Request");
    CHECK(reason_phrase(413) == "Payload Too Large");
    CHECK(reason_phrase(414) == "URI Too Long");
    CHECK(reason_phrase(426) == "Upgrade Required");
    CHECK(reason_phrase(431) == "Request Header Fields Too Large");
    CHECK(reason_phrase(501) == "Not Implemented");
    CHECK(reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(reason_phrase(299) == "");
}

TEST_CASE("serialize(response): status line, headers, Content-Length, body", "[http][message]") {
    response r;
    r.headers.add("Content-Type", "text/plain");
    r.body = "hello";
    CHECK(to_string(r) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");

    response custom;
    custom.status = 404;
    custom.reason = "Nowhere";
    CHECK(to_string(custom) == "HTTP/1.1 404 Nowhere\r\nContent-Length: 0\r\n\r\n");

    response unknown;
    unknown.status = 599;
    unknown.version_minor = 0;
    CHECK(to_string(unknown) == "HTTP/1.0 599 \r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("serialize(response): no Content-Length when present, chunked, or bodiless status", "[http][message]") {
    response given;
    given.headers.add("content-length", "3");
    given.body = "abc";
    CHECK(to_string(given) == "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc");

    response chunked;
    chunked.headers.add("Transfer-Encoding", "chunked");
    chunked.body = "3\r\nabc\r\n0\r\n\r\n";
    CHECK(to_string(chunked) == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");

    for (int status : {100, 101, 204, 304}) {
        response r;
        r.status = status;
        r.body = "dropped";
        const std::string s = to_string(r);
        CAPTURE(status, s);
        CHECK(s == "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n\r\n");
    }
}

TEST_CASE("serialize appends to the caller's buffer", "[http][message]") {
    std::string out = "previous";
    response r;
    r.status = 204;
    serialize(r, out);
    CHECK(out == "previousHTTP/1.1 204 No Content\r\n\r\n");
}

TEST_CASE("serialize(request)", "[http][message]") {
    request get;
    get.method = "GET";
    get.target = "/chat?x=1";
    get.headers.add("Host", "example.com");
    CHECK(to_string(get) == "GET /chat?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");

    request post;
    post.method = "POST";
    post.target = "/api";
    post.version_minor = 0;
    post.body = "{}";
    CHECK(to_string(post) == "POST /api HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}");
}

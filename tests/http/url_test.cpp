// SPDX-License-Identifier: BSL-1.0
#include "wsx/http/url.hpp"

#include "catch.hpp"

#include <optional>
#include <string>

using namespace wsx::http;

TEST_CASE("url: parse_url accepts", "[http][url]") {
    struct row {
        const char* text;
        const char* scheme;
        const char* host;
        std::uint16_t port;
        const char* target;
        bool secure;
        const char* host_header;
    };
    const row rows[] = {
        {"ws://example.com", "ws", "example.com", 80, "/", false, "example.com"},
        {"ws://example.com/", "ws", "example.com", 80, "/", false, "example.com"},
        {"wss://example.com/chat", "wss", "example.com", 443, "/chat", true, "example.com"},
        {"WSS://Example.COM:8443/a/b?x=1&y=%20", "wss", "Example.COM", 8443, "/a/b?x=1&y=%20", true,
         "Example.COM:8443"},
        {"ws://127.0.0.1:9000?room=1", "ws", "127.0.0.1", 9000, "/?room=1", false, "127.0.0.1:9000"},
        {"ws://localhost:80/x", "ws", "localhost", 80, "/x", false, "localhost"},
        {"wss://localhost:80/x", "wss", "localhost", 80, "/x", true, "localhost:80"},
        {"http://example.com:8080/api", "http", "example.com", 8080, "/api", false, "example.com:8080"},
        {"https://example.com/p#frag", "https", "example.com", 443, "/p", true, "example.com"},
        {"ws://[::1]:9001/echo", "ws", "::1", 9001, "/echo", false, "[::1]:9001"},
        {"wss://[2001:db8::7]/", "wss", "2001:db8::7", 443, "/", true, "[2001:db8::7]"},
        {"ws://[::ffff:192.0.2.1]", "ws", "::ffff:192.0.2.1", 80, "/", false, "[::ffff:192.0.2.1]"},
        {"ws://h:65535", "ws", "h", 65535, "/", false, "h:65535"},
        {"ws://my_host-1.example~x", "ws", "my_host-1.example~x", 80, "/", false, "my_host-1.example~x"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.text);
        const auto u = parse_url(r.text);
        REQUIRE(u.has_value());
        CHECK(u->scheme == r.scheme);
        CHECK(u->host == r.host);
        CHECK(u->port == r.port);
        CHECK(u->target == r.target);
        CHECK(u->secure() == r.secure);
        CHECK(host_header(*u) == r.host_header);
    }
}

TEST_CASE("url: parse_url rejects", "[http][url]") {
    const char* bad[] = {
        "",
        "example.com",
        "ws:/example.com",
        "ftp://example.com",
        "wsx://example.com",
        "ws://",
        "ws:///path",
        "ws://:80",
        "ws://user@example.com",
        "ws://user:pass@example.com/",
        "ws://example.com:",
        "ws://example.com:0",
        "ws://example.com:65536",
        "ws://example.com:123456",
        "ws://example.com:8a",
        "ws://example.com:-1",
        "ws://exa mple.com",
        "ws://example.com/a b",
        "ws://example.com/a\tb",
        "ws://example.com/\x7f",
        "ws://example.com/caf\xc3\xa9",
        "ws://example.com/#frag",
        "wss://example.com/a?b#c",
        "ws://[::1",
        "ws://[]",
        "ws://[example.com]",
        "ws://[::1]x",
        "ws://[::1]:",
        "ws://[fe80::1%25eth0]",
        "ws://::1/",
        "ws://exa%41mple.com",
    };
    for (const char* text : bad) {
        CAPTURE(text);
        CHECK_FALSE(parse_url(text).has_value());
    }
}

TEST_CASE("url: percent_decode", "[http][url]") {
    CHECK(percent_decode("a%20b") == "a b");
    CHECK(percent_decode("%41%6a%6A") == "Ajj");
    CHECK(percent_decode("a+b") == "a b");
    CHECK(percent_decode("a+b", false) == "a+b");
    CHECK(percent_decode("%2B") == "+");
    CHECK(percent_decode("100%") == "100%");
    CHECK(percent_decode("%4") == "%4");
    CHECK(percent_decode("%zz%4g") == "%zz%4g");
    CHECK(percent_decode("%%41") == "%A");
    CHECK(percent_decode("%00") == std::string(1, '\0'));
    CHECK(percent_decode("%C3%A9") == "\xC3\xA9");
    CHECK(percent_decode("") == "");
}

TEST_CASE("url: query_param", "[http][url]") {
    const std::string_view q = "room=lobby&name=J%C3%A9r%C3%B4me+D&empty=&flag&room=second&a%20b=spaced&x=1%2B1";
    CHECK(query_param(q, "room") == std::optional<std::string>("lobby"));
    CHECK(query_param(q, "name") == std::optional<std::string>("J\xC3\xA9r\xC3\xB4me D"));
    CHECK(query_param(q, "empty") == std::optional<std::string>(""));
    CHECK(query_param(q, "flag") == std::optional<std::string>(""));
    CHECK(query_param(q, "a b") == std::optional<std::string>("spaced"));
    CHECK(query_param(q, "x") == std::optional<std::string>("1+1"));
    CHECK_FALSE(query_param(q, "missing").has_value());
    CHECK_FALSE(query_param(q, "Room").has_value()); // keys are case-sensitive
    CHECK_FALSE(query_param(q, "roo").has_value());
    CHECK_FALSE(query_param("", "a").has_value());
    CHECK(query_param("?a=1", "a") == std::optional<std::string>("1"));
    CHECK(query_param("&&a=1&&", "a") == std::optional<std::string>("1"));
    CHECK(query_param("a=1=2", "a") == std::optional<std::string>("1=2"));
}

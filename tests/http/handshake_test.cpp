// SPDX-License-Identifier: BSL-1.0
#include "wsx/http/handshake.hpp"

#include "catch.hpp"

#include <functional>
#include <string>
#include <vector>

using namespace wsx::http;

namespace {

request valid_request() {
    request r;
    r.method = "GET";
    r.target = "/chat";
    r.headers.add("Host", "server.example.com");
    r.headers.add("Upgrade", "websocket");
    r.headers.add("Connection", "Upgrade");
    r.headers.add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    r.headers.add("Origin", "http://example.com");
    r.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
    r.headers.add("Sec-WebSocket-Version", "13");
    return r;
}

response valid_response() {
    response r;
    r.status = 101;
    r.headers.add("Upgrade", "websocket");
    r.headers.add("Connection", "Upgrade");
    r.headers.add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    return r;
}

} // namespace

TEST_CASE("handshake: accept key of the RFC 6455 §1.3 example", "[http][handshake]") {
    CHECK(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(websocket_accept_key("AAECAwQFBgcICQoLDA0ODw==") == "Bz3qJYTGdOe8gUSpLosEdiLKDrk=");
}

TEST_CASE("handshake: validate_upgrade_request table", "[http][handshake]") {
    struct row {
        const char* name;
        std::function<void(request&)> mutate;
        int status;
        std::string_view what;
    };
    const row rows[] = {
        {"valid", [](request&) {}, 0, ""},
        {"upgrade token in another case", [](request& r) { r.headers.set("Upgrade", "WebSocket"); }, 0, ""},
        {"connection list", [](request& r) { r.headers.set("Connection", "keep-alive, Upgrade"); }, 0, ""},
        {"connection on two lines",
         [](request& r) {
             r.headers.set("Connection", "keep-alive");
             r.headers.add("connection", "UPGRADE");
         },
         0, ""},
        {"HTTP/1.2 is fine", [](request& r) { r.version_minor = 2; }, 0, ""},
        {"POST", [](request& r) { r.method = "POST"; }, 400, "WebSocket upgrade requires the GET method"},
        {"lower-case get", [](request& r) { r.method = "get"; }, 400, "WebSocket upgrade requires the GET method"},
        {"HTTP/1.0", [](request& r) { r.version_minor = 0; }, 400, "WebSocket upgrade requires HTTP/1.1"},
        {"no Host", [](request& r) { r.headers.erase("Host"); }, 400, "missing Host header"},
        {"no Upgrade", [](request& r) { r.headers.erase("Upgrade"); }, 400, "Upgrade header does not contain websocket"},
        {"Upgrade h2c", [](request& r) { r.headers.set("Upgrade", "h2c"); }, 400,
         "Upgrade header does not contain websocket"},
        {"no Connection", [](request& r) { r.headers.erase("Connection"); }, 400,
         "Connection header does not contain upgrade"},
        {"Connection keep-alive only", [](request& r) { r.headers.set("Connection", "keep-alive"); }, 400,
         "Connection header does not contain upgrade"},
        {"no version", [](request& r) { r.headers.erase("Sec-WebSocket-Version"); }, 426,
         "unsupported Sec-WebSocket-Version (only 13)"},
        {"version 8", [](request& r) { r.headers.set("Sec-WebSocket-Version", "8"); }, 426,
         "unsupported Sec-WebSocket-Version (only 13)"},
        {"version list", [](request& r) { r.headers.set("Sec-WebSocket-Version", "13, 8"); }, 426,
         "unsupported Sec-WebSocket-Version (only 13)"},
        {"no key", [](request& r) { r.headers.erase("Sec-WebSocket-Key"); }, 400,
         "missing or repeated Sec-WebSocket-Key"},
        {"two keys", [](request& r) { r.headers.add("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODw=="); }, 400,
         "missing or repeated Sec-WebSocket-Key"},
        {"key not base64", [](request& r) { r.headers.set("Sec-WebSocket-Key", "not a base64 key!!!!!!!!"); }, 400,
         "Sec-WebSocket-Key is not base64 of 16 bytes"},
        {"key of 15 bytes", [](request& r) { r.headers.set("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0O"); }, 400,
         "Sec-WebSocket-Key is not base64 of 16 bytes"},
        {"key of 17 bytes", [](request& r) { r.headers.set("Sec-WebSocket-Key", "AAECAwQFBgcICQoLDA0ODxA="); }, 400,
         "Sec-WebSocket-Key is not base64 of 16 bytes"},
        {"empty key", [](request& r) { r.headers.set("Sec-WebSocket-Key", ""); }, 400,
         "Sec-WebSocket-Key is not base64 of 16 bytes"},
    };
    for (const auto& row : rows) {
        CAPTURE(row.name);
        request r = valid_request();
        row.mutate(r);
        const handshake_error e = validate_upgrade_request(r);
        CHECK(e.status == row.status);
        CHECK(e.what == row.what);
        CHECK(static_cast<bool>(e) == (row.status != 0));
    }
}

TEST_CASE("handshake: is_websocket_upgrade", "[http][handshake]") {
    request r;
    CHECK_FALSE(is_websocket_upgrade(r));
    r.headers.add("Upgrade", "h2c, WEBSOCKET");
    CHECK(is_websocket_upgrade(r));
}

TEST_CASE("handshake: requested and selected subprotocols", "[http][handshake]") {
    request r = valid_request();
    r.headers.add("Sec-WebSocket-Protocol", " v2.json ,, mqtt");
    CHECK(requested_subprotocols(r) == std::vector<std::string_view>{"chat", "superchat", "v2.json", "mqtt"});

    const std::vector<std::string> prefer_mqtt{"mqtt", "chat"};
    CHECK(select_subprotocol(r, prefer_mqtt) == "mqtt");
    const std::vector<std::string> prefer_super{"other", "superchat", "chat"};
    CHECK(select_subprotocol(r, prefer_super) == "superchat");
    const std::vector<std::string> none{"xmpp", "CHAT", ""};
    CHECK(select_subprotocol(r, none) == ""); // exact comparison: "CHAT" is not "chat"
    CHECK(select_subprotocol(r, {}) == "");

    request bare = valid_request();
    bare.headers.erase("Sec-WebSocket-Protocol");
    CHECK(requested_subprotocols(bare).empty());
    CHECK(select_subprotocol(bare, prefer_mqtt) == "");
}

TEST_CASE("handshake: the 101 answer", "[http][handshake]") {
    const request r = valid_request();
    CHECK(to_string(make_upgrade_response(r)) == "HTTP/1.1 101 Switching Protocols\r\n"
                                                 "Upgrade: websocket\r\n"
                                                 "Connection: Upgrade\r\n"
                                                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                                 "\r\n");
    CHECK(to_string(make_upgrade_response(r, "chat", "permessage-deflate")) ==
          "HTTP/1.1 101 Switching Protocols\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "Sec-WebSocket-Protocol: chat\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate\r\n"
          "\r\n");
}

TEST_CASE("handshake: error answers", "[http][handshake]") {
    CHECK(to_string(make_error_response(400, "missing Host header")) ==
          "HTTP/1.1 400 Bad Request\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Connection: close\r\n"
          "Content-Length: 20\r\n"
          "\r\n"
          "missing Host header\n");
    const response upgrade = make_error_response(426, "unsupported Sec-WebSocket-Version (only 13)");
    CHECK(upgrade.status == 426);
    CHECK(upgrade.headers.get("Sec-WebSocket-Version") == "13");
    CHECK(upgrade.headers.get("Connection") == "close");
    CHECK(upgrade.body == "unsupported Sec-WebSocket-Version (only 13)\n");
    CHECK_FALSE(make_error_response(400, "x").headers.contains("Sec-WebSocket-Version"));
}

TEST_CASE("handshake: client key and upgrade request", "[http][handshake]") {
    std::array<std::uint8_t, 16> nonce{};
    for (std::size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<std::uint8_t>(i);
    const std::string key = make_client_key(nonce);
    CHECK(key == "AAECAwQFBgcICQoLDA0ODw==");

    CHECK(to_string(make_upgrade_request("example.com:8080", "/chat?x=1", key)) ==
          "GET /chat?x=1 HTTP/1.1\r\n"
          "Host: example.com:8080\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "\r\n");

    const std::vector<std::string> protocols{"chat", "superchat"};
    fields extra;
    extra.add("Origin", "https://example.com");
    extra.add("Host", "override.example");
    extra.add("Sec-WebSocket-Extensions", "permessage-deflate");
    const request req = make_upgrade_request("example.com", "", key, protocols, extra);
    CHECK(to_string(req) == "GET / HTTP/1.1\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Protocol: chat, superchat\r\n"
                            "Origin: https://example.com\r\n"
                            "Host: override.example\r\n"
                            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                            "\r\n");
}

TEST_CASE("handshake: the client's request passes the server's checks and back", "[http][handshake]") {
    std::array<std::uint8_t, 16> nonce{};
    nonce.fill(0xA5);
    const std::string key = make_client_key(nonce);
    const std::vector<std::string> offered{"v1.wsx", "v2.wsx"};
    const request req = make_upgrade_request("localhost:9000", "/ws", key, offered);
    REQUIRE_FALSE(validate_upgrade_request(req));
    const std::vector<std::string> server_supports{"v2.wsx"};
    const std::string_view chosen = select_subprotocol(req, server_supports);
    CHECK(chosen == "v2.wsx");
    const response res = make_upgrade_response(req, chosen);
    const handshake_error e = validate_upgrade_response(res, key, offered);
    CHECK(e.status == 0);
    CHECK(e.what == "");
}

TEST_CASE("handshake: validate_upgrade_response table", "[http][handshake]") {
    const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
    struct row {
        const char* name;
        std::function<void(response&)> mutate;
        int status;
        std::string_view what;
        bool extensions_offered = false;
    };
    const row rows[] = {
        {"valid", [](response&) {}, 0, ""},
        {"header case", [](response& r) { r.headers.set("Upgrade", "WebSocket"); r.headers.set("Connection", "upgrade"); },
         0, ""},
        {"offered subprotocol", [](response& r) { r.headers.add("Sec-WebSocket-Protocol", "chat"); }, 0, ""},
        {"offered extensions", [](response& r) { r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate"); }, 0,
         "", true},
        {"403", [](response& r) { r.status = 403; }, 403, "server refused the upgrade"},
        {"200", [](response& r) { r.status = 200; }, 200, "server refused the upgrade"},
        {"no Upgrade", [](response& r) { r.headers.erase("Upgrade"); }, 101,
         "Upgrade header of the response does not contain websocket"},
        {"no Connection", [](response& r) { r.headers.set("Connection", "keep-alive"); }, 101,
         "Connection header of the response does not contain upgrade"},
        {"no accept", [](response& r) { r.headers.erase("Sec-WebSocket-Accept"); }, 101,
         "missing or repeated Sec-WebSocket-Accept"},
        {"two accepts", [](response& r) { r.headers.add("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); },
         101, "missing or repeated Sec-WebSocket-Accept"},
        {"wrong accept", [](response& r) { r.headers.set("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOA="); },
         101, "Sec-WebSocket-Accept does not match the key"},
        {"accept of another key", [](response& r) {
             r.headers.set("Sec-WebSocket-Accept", "Bz3qJYTGdOe8gUSpLosEdiLKDrk=");
         }, 101, "Sec-WebSocket-Accept does not match the key"},
        {"extensions not offered", [](response& r) { r.headers.add("Sec-WebSocket-Extensions", "permessage-deflate"); },
         101, "server sent Sec-WebSocket-Extensions that the client did not offer"},
        {"subprotocol not offered", [](response& r) { r.headers.add("Sec-WebSocket-Protocol", "mqtt"); }, 101,
         "server selected a subprotocol that the client did not offer"},
        {"subprotocol in other case", [](response& r) { r.headers.add("Sec-WebSocket-Protocol", "Chat"); }, 101,
         "server selected a subprotocol that the client did not offer"},
        {"two subprotocols", [](response& r) { r.headers.add("Sec-WebSocket-Protocol", "chat, superchat"); }, 101,
         "server must select exactly one subprotocol"},
    };
    const std::vector<std::string> offered{"chat", "superchat"};
    for (const auto& row : rows) {
        CAPTURE(row.name);
        response r = valid_response();
        row.mutate(r);
        const handshake_error e = validate_upgrade_response(r, key, offered, row.extensions_offered);
        CHECK(e.status == row.status);
        CHECK(e.what == row.what);
    }

    response refused = valid_response();
    refused.status = 403;
    CHECK(to_string(validate_upgrade_response(refused, key, offered)) == "server refused the upgrade with status 403");
    response bad_accept = valid_response();
    bad_accept.headers.set("Sec-WebSocket-Accept", "x");
    CHECK(to_string(validate_upgrade_response(bad_accept, key, {})) == "Sec-WebSocket-Accept does not match the key");
    response chosen = valid_response();
    chosen.headers.add("Sec-WebSocket-Protocol", "chat");
    CHECK(validate_upgrade_response(chosen, key, {}).what ==
          "server selected a subprotocol that the client did not offer");
}

// SPDX-License-Identifier: BSL-1.0
#include "wsx/http2/session.hpp"

#include "catch.hpp"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <wsx/http2.hpp>
#include <wsx/registry.hpp>

#include "h2_test_client.hpp"

using namespace wsx;
using namespace std::chrono_literals;
using wsx::test::h2_test_client;
using protocol::event_type;

namespace {

// A server with HTTP/2 on, started on a background thread.
struct h2_server {
    explicit h2_server(server_options o = {}) : s([&] {
        o.host = "127.0.0.1";
        o.port = 0;
        return o;
    }()) {}
    void start() {
        http2::enable(s);
        s.start(1);
    }
    server s;
};

} // namespace

TEST_CASE("an extended CONNECT opens a wsx::connection on its stream: hook, subprotocol, handlers, protocol h2") {
    // Declared before the server: its thread may still close connections
    // (and so call into the registry and the handlers' state) until it stops.
    registry reg;
    std::mutex m;
    std::string seen_path, seen_query, seen_token, opened_protocol;
    h2_server srv;
    srv.s.websocket("/ws", reg.track({
        .on_upgrade = [&](upgrade_context& ctx) {
            std::lock_guard lock(m);
            seen_path = ctx.path();
            seen_query = ctx.query();
            seen_token = ctx.header("x-token");
            if (ctx.header("x-token") != "secret") ctx.reject(403, "no token");
            ctx.user = "alice";
            ctx.response_headers.add("x-hook", "ran");
        },
        .on_open = [&](connection& c) {
            std::lock_guard lock(m);
            opened_protocol = c.protocol();
        },
        .on_message = [](connection& c, message msg) { c.send(msg); },
        .subprotocols = {"chat"},
    }));
    srv.start();

    h2_test_client c{srv.s.port()};
    const auto id = c.open_websocket("/ws?room=7", {{"x-token", "secret"}, {"sec-websocket-protocol", "superchat, chat"}});
    const auto refused = c.open_websocket("/ws", {{"x-token", "wrong"}});
    REQUIRE(c.run_until([&] { return c.streams[id].status && c.streams[refused].status; }));
    CHECK(c.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1);
    CHECK(c.streams[id].status == 200);
    CHECK(c.streams[id].headers.get("sec-websocket-protocol") == "chat");
    CHECK(c.streams[id].headers.get("x-hook") == "ran");
    CHECK(c.streams[refused].status == 403);  // the hook's reject, as over HTTP/1.1
    // The client never ended that stream: the server resets it after its
    // answer (RFC 9113 §8.1), so it holds no stream slot.
    REQUIRE(c.run_until([&] { return c.streams[refused].closed; }));
    CHECK(c.streams[refused].reset == NGHTTP2_NO_ERROR);
    {
        std::lock_guard lock(m);
        CHECK(seen_path == "/ws");
        CHECK(seen_token == "wrong");
    }

    c.send_frame(id, opcode::text, "hello over h2");
    c.send_frame(id, opcode::binary, std::string(100000, 'b'));
    REQUIRE(c.run_until([&] { return c.messages(id).size() >= 2; }));
    const auto msgs = c.messages(id);
    CHECK(msgs[0].second == "hello over h2");
    CHECK(msgs[1].second == std::string(100000, 'b'));
    {
        std::lock_guard lock(m);
        CHECK(opened_protocol == "h2");
    }
    const auto all = reg.summaries();
    REQUIRE(all.size() == 1);
    CHECK(all[0].protocol == "h2");
    CHECK(all[0].user == "alice");
    CHECK(all[0].path == "/ws");

    // The closing handshake ends only this stream.
    const auto other = c.open_websocket("/ws", {{"x-token", "secret"}});
    c.send_frame(id, opcode::close, std::string("\x0f\xa0", 2));  // 4000
    REQUIRE(c.run_until([&] { return c.streams[id].ended && c.streams[other].status; }));
    CHECK(c.messages(id).back() == std::pair{event_type::close, std::string("4000")});
    c.send(id, "", true);
    c.send_frame(other, opcode::text, "next");
    REQUIRE(c.run_until([&] { return c.messages(other).size() == 1 && c.streams[id].closed; }));
    CHECK(c.streams[id].reset == NGHTTP2_NO_ERROR);
    CHECK_FALSE(c.goaway);
}

TEST_CASE("HTTP routes over h2: GET, POST with a body, HEAD, 404, and the limits (431, 413)") {
    server_options o;
    o.http_limits.max_body_size = 1024;
    h2_server srv{o};
    srv.s.http("/hello", [](const http::request& r, http::response& res) {
        res.body = "hi " + std::string{r.method} + " " + std::string{r.headers.get("Host")};
        res.headers.set("Content-Type", "text/plain");
        res.headers.set("Connection", "keep-alive");  // dropped: HTTP/2 forbids it
    });
    srv.s.http("/echo", [](const http::request& r, http::response& res) { res.body = r.body; });
    srv.s.http("/boom", [](const http::request&, http::response&) { throw std::runtime_error("boom"); });
    srv.start();

    h2_test_client c{srv.s.port()};
    auto req = [&](std::string method, std::string path, bool end = true,
                   std::vector<std::pair<std::string, std::string>> extra = {}) {
        std::vector<std::pair<std::string, std::string>> h{{":method", method}, {":scheme", "http"},
                                                           {":path", path}, {":authority", "example.test"}};
        h.insert(h.end(), extra.begin(), extra.end());
        return c.submit(h, end);
    };
    const auto get = req("GET", "/hello");
    const auto head = req("HEAD", "/hello");
    const auto post = req("POST", "/echo", false);
    c.send(post, "posted body", true);
    const auto big = req("POST", "/echo", false);
    c.send(big, std::string(2000, 'x'), true);
    const auto missing = req("GET", "/nowhere");
    const auto boom = req("GET", "/boom");
    const auto huge_header = req("GET", "/hello", true, {{"x-big", std::string(20000, 'h')}});
    REQUIRE(c.run_until([&] {
        for (auto id : {get, head, post, big, missing, boom, huge_header})
            if (!c.streams[id].closed) return false;
        return true;
    }));
    CHECK(c.streams[get].status == 200);
    CHECK(c.streams[get].data == "hi GET example.test");
    CHECK(c.streams[get].headers.get("content-type") == "text/plain");
    CHECK_FALSE(c.streams[get].headers.contains("connection"));
    CHECK(c.streams[head].status == 200);
    CHECK(c.streams[head].data.empty());
    CHECK(c.streams[post].data == "posted body");
    CHECK(c.streams[big].status == 413);
    CHECK(c.streams[missing].status == 404);
    CHECK(c.streams[boom].status == 500);
    // Over SETTINGS_MAX_HEADER_LIST_SIZE: 431, or a reset when nghttp2 refuses
    // the block before we see it.
    CHECK((c.streams[huge_header].status == 431 || c.streams[huge_header].reset != 0));
    CHECK_FALSE(c.goaway);
}

TEST_CASE("a stream whose peer does not read is bounded by max_buffered_bytes and stalls no other stream") {
    server_options o;
    o.websocket.max_buffered_bytes = 256 * 1024;
    o.websocket.on_backpressure = backpressure_policy::drop;
    h2_server srv{o};
    std::atomic<int> queued{0}, dropped{0};
    std::atomic<std::size_t> max_buffered{0};
    srv.s.websocket("/", {.on_message = [&](connection& c, message msg) {
        if (msg.text() != "flood") return void(c.send(msg));
        const std::string chunk(16 * 1024, 'f');
        for (int i = 0; i < 64; ++i) {
            const send_result r = c.send_binary(chunk);
            (r ? queued : dropped).fetch_add(1);
            max_buffered = std::max<std::size_t>(max_buffered, c.buffered_amount());
        }
    }});
    srv.start();

    h2_test_client c{srv.s.port(), /*auto_window=*/false};
    const auto stalled = c.open_websocket("/");
    const auto live = c.open_websocket("/");
    REQUIRE(c.run_until([&] { return c.streams[stalled].status && c.streams[live].status; }));
    c.send_frame(stalled, opcode::text, "flood");
    // The stalled stream gets its 64 KiB window's worth, then nothing: the
    // connection's window is reopened, the stream's never.
    std::size_t seen_stalled = 0;
    REQUIRE(c.run_until([&] {
        const std::size_t n = c.streams[stalled].data.size();
        if (n > seen_stalled) c.consume_connection(n - seen_stalled);
        seen_stalled = n;
        return n >= 65535;
    }));
    CHECK(dropped.load() > 0);                                // the budget refused the rest
    CHECK(max_buffered.load() <= 256 * 1024 + 16 * 1024 + 14);  // limit plus one message
    // Meanwhile the other stream echoes at once.
    for (int i = 0; i < 20; ++i) c.send_frame(live, opcode::text, "ping " + std::to_string(i));
    std::size_t seen_live = 0;
    REQUIRE(c.run_until([&] {
        const std::size_t n = c.streams[live].data.size();
        if (n > seen_live) c.consume(live, n - seen_live);
        seen_live = n;
        return c.messages(live).size() == 20;
    }));
    CHECK(c.messages(live).back().second == "ping 19");
    CHECK(c.streams[stalled].data.size() == 65535);  // still held by its window
}

TEST_CASE("h2c beside HTTP/1.1 on one port; stop() closes WebSocket streams with 1001, then GOAWAY") {
    h2_server srv;
    srv.s.websocket("/", {.on_message = [](connection& c, message m) { c.send(m); }});
    srv.s.http("/plain", [](const http::request&, http::response& res) { res.body = "one"; });
    srv.start();

    // HTTP/1.1 on the same port, with no preface.
    {
        asio::io_context io;
        asio::ip::tcp::socket s{io};
        s.connect({asio::ip::make_address("127.0.0.1"), srv.s.port()});
        asio::write(s, asio::buffer(std::string_view{"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}));
        std::string got;
        std::error_code ec;
        char buf[512];
        while (!ec) got.append(buf, s.read_some(asio::buffer(buf), ec));
        CHECK(got.starts_with("HTTP/1.1 200"));
        CHECK(got.ends_with("one"));
    }

    h2_test_client c{srv.s.port()};
    const auto a = c.open_websocket("/");
    const auto b = c.open_websocket("/");
    REQUIRE(c.run_until([&] { return c.streams[a].status == 200 && c.streams[b].status == 200; }));
    srv.s.stop();
    REQUIRE(c.run_until([&] { return c.messages(a).size() == 1 && c.messages(b).size() == 1; }));
    CHECK(c.messages(a)[0] == std::pair{event_type::close, std::string("1001")});
    CHECK(c.messages(b)[0] == std::pair{event_type::close, std::string("1001")});
    CHECK_FALSE(c.goaway);  // not before the WebSockets have closed
    for (auto id : {a, b}) {
        c.send_frame(id, opcode::close, std::string("\x03\xe9", 2));
        c.send(id, "", true);
    }
    REQUIRE(c.run_until([&] { return c.goaway && c.eof(); }));
    CHECK(c.goaway_code == NGHTTP2_NO_ERROR);
    srv.s.join();
}

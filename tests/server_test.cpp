// SPDX-License-Identifier: BSL-1.0
// Loopback integration tests of wsx::basic_server over real sockets: HTTP
// routing and error answers, the upgrade hook, subprotocols, keep-alive, the
// handshake deadline, the WebSocket data path, closing, stop(), idle pings,
// message limits and the backpressure policies.
#include "wsx/server.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"

#include <asio/write.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <any>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using wsx::test::is_closed_error;
using wsx::test::loopback_client;
using wsx::test::since;
using wsx::test::test_clock;
using wsx::test::ws_event;
using kind = ws_event::kind;

// Short deadlines keep the whole file fast: a sweep every 20 ms, a 300 ms
// handshake deadline, half a second of grace on stop().
wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1",
                               .port = 0,
                               .handshake_timeout = 300ms,
                               .stop_timeout = 500ms,
                               .timer_resolution = 20ms};
}

using wsx::test::code_of;
using wsx::test::header;
using wsx::test::wait_until;

// What the handlers saw, written on the server's thread and read by the test.
// Declare it before the server: handlers refer to it until the server is gone.
// It keeps only weak handles, so no connection outlives the server's io_context.
class journal {
public:
    struct opened {
        std::weak_ptr<wsx::connection> conn;
        std::string path, user, subprotocol;
        std::optional<int> user_data;
    };
    struct closed {
        int code = 0;
        std::string reason;
        std::error_code error;
    };

    void on_open(wsx::connection& c) {
        opened o{c.shared_from_this(), c.path(), c.user(), c.subprotocol(), std::nullopt};
        if (const int* v = std::any_cast<int>(&c.user_data())) o.user_data = *v;
        std::lock_guard lock{m_};
        opened_.push_back(std::move(o));
    }
    void on_close(wsx::connection& c, close_code code, std::string_view reason) {
        std::lock_guard lock{m_};
        closed_.push_back({code_of(code), std::string{reason}, c.error()});
    }

    std::size_t open_count() {
        std::lock_guard lock{m_};
        return opened_.size();
    }
    std::size_t close_count() {
        std::lock_guard lock{m_};
        return closed_.size();
    }
    opened open_record(std::size_t i) {
        std::lock_guard lock{m_};
        return opened_.at(i);
    }
    closed close_record(std::size_t i) {
        std::lock_guard lock{m_};
        return closed_.at(i);
    }
    // Waits for the i-th connection to open and returns a handle to it.
    std::shared_ptr<wsx::connection> connection(std::size_t i) {
        if (!wait_until([&] { return open_count() > i; })) return nullptr;
        return open_record(i).conn.lock();
    }
    bool wait_closed(std::size_t n, std::chrono::milliseconds timeout = 3s) {
        return wait_until([&] { return close_count() >= n; }, timeout);
    }

private:
    std::mutex m_;
    std::vector<opened> opened_;
    std::vector<closed> closed_;
};

// Echoes every message, and records opens and closes.
wsx::endpoint echo_endpoint(journal& j) {
    return wsx::endpoint{
        .on_open = [&j](wsx::connection& c) { j.on_open(c); },
        .on_message = [](wsx::connection& c, wsx::message m) { c.send(m); },
        .on_close = [&j](wsx::connection& c, close_code code, std::string_view reason) {
            j.on_close(c, code, reason);
        },
    };
}

std::string upgrade_without(std::string_view target, std::string_view drop) {
    std::string s = "GET " + std::string{target} + " HTTP/1.1\r\n";
    const std::vector<std::pair<std::string, std::string>> lines = {
        {"Host", "127.0.0.1"},
        {"Upgrade", "websocket"},
        {"Connection", "Upgrade"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
        {"Sec-WebSocket-Version", "13"},
    };
    for (const auto& [name, value] : lines)
        if (name != drop) s += name + ": " + value + "\r\n";
    return s + "\r\n";
}

// A client that completed the opening handshake on `target`.
std::unique_ptr<loopback_client> open_client(std::uint16_t port, std::string_view target = "/ws") {
    auto c = std::make_unique<loopback_client>(port);
    const auto res = c->upgrade(target);
    REQUIRE(res);
    REQUIRE(res->status == 101);
    REQUIRE(c->upgraded());
    return c;
}

} // namespace

// ---- HTTP side -----------------------------------------------------------------

TEST_CASE("server: HTTP error answers to requests that cannot be served", "[server][http]") {
    journal j;
    auto options = test_options();
    options.http_limits.max_header_bytes = 1024;
    wsx::server srv(options);
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    loopback_client c(srv.port());

    SECTION("a plain GET on a WebSocket path is 400, then the server closes") {
        const auto res = c.request(loopback_client::get_request("/ws"));
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(res->body == "this path only accepts WebSocket upgrades (Upgrade: websocket)\n");
        CHECK(header(*res, "Connection") == "close");
        CHECK(header(*res, "Content-Type") == "text/plain; charset=utf-8");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("an unknown path is 404, for an upgrade too") {
        auto res = c.request(loopback_client::get_request("/nowhere"));
        REQUIRE(res);
        CHECK(res->status == 404);
        CHECK(res->body == "no route for this path\n");
        loopback_client c2(srv.port());
        res = c2.upgrade("/nowhere");
        REQUIRE(res);
        CHECK(res->status == 404);
        CHECK_FALSE(c2.upgraded());
    }
    SECTION("Sec-WebSocket-Version 8 is 426 naming version 13") {
        wsx::http::fields extra;
        extra.add("Sec-WebSocket-Version", "8");
        const auto res = c.upgrade("/ws", {}, extra);
        REQUIRE(res);
        CHECK(res->status == 426);
        CHECK(header(*res, "Sec-WebSocket-Version") == "13");
        CHECK(res->body == "unsupported Sec-WebSocket-Version (only 13)\n");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("a missing Sec-WebSocket-Key is 400") {
        const auto res = c.request(upgrade_without("/ws", "Sec-WebSocket-Key"));
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(res->body == "missing or repeated Sec-WebSocket-Key\n");
    }
    SECTION("a Sec-WebSocket-Key that is not base64 of 16 bytes is 400") {
        wsx::http::fields extra;
        extra.add("Sec-WebSocket-Key", "c2hvcnQ=");  // "short"
        const auto res = c.upgrade("/ws", {}, extra);
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(res->body == "Sec-WebSocket-Key is not base64 of 16 bytes\n");
    }
    SECTION("a missing Connection: Upgrade is 400") {
        const auto res = c.request(upgrade_without("/ws", "Connection"));
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(res->body == "Connection header does not contain upgrade\n");
    }
    SECTION("a malformed request line is 400") {
        const auto res = c.request("GARBAGE\r\nHost: x\r\n\r\n");
        REQUIRE(res);
        CHECK(res->status == 400);
        CHECK(res->body == "request line is not METHOD SP target SP HTTP-version\n");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("a header section over http_limits.max_header_bytes is 431") {
        const std::string big = "X-Big: " + std::string(2000, 'a') + "\r\n";
        const auto res = c.request(loopback_client::get_request("/ws", big));
        REQUIRE(res);
        CHECK(res->status == 431);
        CHECK(res->body == "header section too large\n");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("HTTP/2.0 is 505") {
        const auto res = c.request("GET /ws HTTP/2.0\r\nHost: x\r\n\r\n");
        REQUIRE(res);
        CHECK(res->status == 505);
    }
    // The server keeps serving after every one of these.
    loopback_client after(srv.port());
    const auto res = after.upgrade("/ws");
    REQUIRE(res);
    CHECK(res->status == 101);
    CHECK(after.round_trip("still serving").payload == "still serving");
    CHECK(code_of(after.close_handshake().code) == 1000);
    srv.stop();
    srv.join();
}

TEST_CASE("server: the upgrade hook rejects, reads the request and tags the connection",
          "[server][http][upgrade]") {
    journal j;
    std::mutex hook_m;
    std::string seen_query, seen_origin, seen_path;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.on_upgrade = [&](wsx::upgrade_context& ctx) {
        {
            std::lock_guard lock{hook_m};
            seen_query = ctx.query();
            seen_origin = ctx.header("Origin");
            seen_path = ctx.path();
        }
        if (ctx.query() != "access_token=abc") return ctx.reject(401, "missing or bad token");
        if (ctx.header("Origin") != "https://good.example") return ctx.reject(403, "origin not allowed");
        ctx.user = "alice";
        ctx.user_data = 42;
        ctx.response_headers.add("X-Hook", "accepted");
    };
    srv.websocket("/ws", std::move(ep));
    srv.start(1);

    wsx::http::fields good_origin;
    good_origin.add("Origin", "https://good.example");
    wsx::http::fields bad_origin;
    bad_origin.add("Origin", "https://evil.example");

    SECTION("401 without a token") {
        loopback_client c(srv.port());
        const auto res = c.upgrade("/ws", {}, good_origin);
        REQUIRE(res);
        CHECK(res->status == 401);
        CHECK(res->body == "missing or bad token\n");
        CHECK_FALSE(c.upgraded());
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("403 for a foreign origin") {
        loopback_client c(srv.port());
        const auto res = c.upgrade("/ws?access_token=abc", {}, bad_origin);
        REQUIRE(res);
        CHECK(res->status == 403);
        CHECK(res->body == "origin not allowed\n");
        std::lock_guard lock{hook_m};
        CHECK(seen_origin == "https://evil.example");
    }
    SECTION("accepted: user and user_data reach on_open") {
        loopback_client c(srv.port());
        const auto res = c.upgrade("/ws?access_token=abc", {}, good_origin);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        CHECK(c.upgraded());
        CHECK(header(*res, "X-Hook") == "accepted");
        REQUIRE(j.connection(0));
        const auto o = j.open_record(0);
        CHECK(o.user == "alice");
        REQUIRE(o.user_data);
        CHECK(*o.user_data == 42);
        CHECK(o.path == "/ws");  // without the query
        {
            std::lock_guard lock{hook_m};
            CHECK(seen_query == "access_token=abc");
            CHECK(seen_origin == "https://good.example");
            CHECK(seen_path == "/ws");
        }
        CHECK(c.round_trip("hi").payload == "hi");
        CHECK(code_of(c.close_handshake().code) == 1000);
    }
    CHECK(j.open_count() <= 1);
    srv.stop();
    srv.join();
}

TEST_CASE("server: an upgrade hook that throws is a 500", "[server][http][upgrade]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.on_upgrade = [](wsx::upgrade_context& ctx) {
        if (ctx.query() == "std") throw std::runtime_error("boom");
        throw 7;
    };
    srv.websocket("/ws", std::move(ep));
    srv.start(1);
    for (const char* target : {"/ws?std", "/ws?other"}) {
        CAPTURE(target);
        loopback_client c(srv.port());
        const auto res = c.upgrade(target);
        REQUIRE(res);
        CHECK(res->status == 500);
        CHECK(res->body == "internal error\n");
    }
    CHECK(j.open_count() == 0);
    srv.stop();
    srv.join();
}

TEST_CASE("server: subprotocol negotiation follows the server's preference", "[server][upgrade]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.subprotocols = {"chat.v2", "chat.v1"};
    srv.websocket("/ws", std::move(ep));
    srv.start(1);

    struct row {
        std::vector<std::string> offered;
        std::string chosen;
    };
    const std::vector<row> rows = {
        {{"chat.v1", "chat.v2"}, "chat.v2"},  // both offered: ours first wins
        {{"chat.v1"}, "chat.v1"},
        {{"other", "chat.v1"}, "chat.v1"},
        {{"other"}, ""},
        {{}, ""},
        {{"CHAT.V2"}, ""},  // names compare exactly
    };
    std::size_t i = 0;
    for (const auto& r : rows) {
        CAPTURE(i, r.chosen);
        loopback_client c(srv.port());
        const auto res = c.upgrade("/ws", r.offered);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        CHECK(c.upgraded());
        CHECK(res->headers.contains("Sec-WebSocket-Protocol") == !r.chosen.empty());
        CHECK(header(*res, "Sec-WebSocket-Protocol") == r.chosen);
        REQUIRE(j.connection(i));
        CHECK(j.open_record(i).subprotocol == r.chosen);
        ++i;
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: HTTP routes, prefixes, keep-alive, pipelining, HEAD, errors", "[server][http]") {
    journal j;
    std::atomic<int> boom_calls{0};
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.http("/hello", [](const wsx::http::request&, wsx::http::response& res) {
        res.headers.set("Content-Type", "text/plain");
        res.body = "hello world";
    });
    srv.http("/api/*", [](const wsx::http::request& req, wsx::http::response& res) {
        res.body = "api:" + std::string{req.path()} + "?" + std::string{req.query()};
    });
    srv.http("/boom", [&](const wsx::http::request&, wsx::http::response&) {
        ++boom_calls;
        throw std::runtime_error("handler failed");
    });
    srv.http("/boom42", [&](const wsx::http::request&, wsx::http::response&) {
        ++boom_calls;
        throw 42;  // not a std::exception
    });
    srv.http("/size", [](const wsx::http::request& req, wsx::http::response& res) {
        res.body = std::to_string(req.body.size());
    });
    // An HTTP route on the WebSocket path serves requests that do not upgrade.
    srv.http("/ws", [](const wsx::http::request&, wsx::http::response& res) { res.body = "info"; });
    srv.start(1);
    loopback_client c(srv.port());

    SECTION("an exact route returns its body") {
        const auto res = c.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "hello world");
        CHECK(header(*res, "Content-Length") == "11");
        CHECK(header(*res, "Content-Type") == "text/plain");
        CHECK_FALSE(res->headers.contains("Connection"));
    }
    SECTION("a prefix route serves /api and below, not /apix") {
        auto res = c.request(loopback_client::get_request("/api"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "api:/api?");
        res = c.request(loopback_client::get_request("/api/x?q=1"));
        REQUIRE(res);
        CHECK(res->body == "api:/api/x?q=1");
        res = c.request(loopback_client::get_request("/api/x/y"));
        REQUIRE(res);
        CHECK(res->body == "api:/api/x/y?");
        res = c.request(loopback_client::get_request("/apix"));
        REQUIRE(res);
        CHECK(res->status == 404);
    }
    SECTION("a WebSocket path with an HTTP route: GET gets the route, an upgrade the endpoint") {
        auto res = c.request(loopback_client::get_request("/ws"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "info");
        res = c.upgrade("/ws");  // same TCP connection, after a keep-alive request
        REQUIRE(res);
        CHECK(res->status == 101);
        CHECK(c.round_trip("after http").payload == "after http");
        CHECK(code_of(c.close_handshake().code) == 1000);
    }
    SECTION("keep-alive: two requests on one connection") {
        auto res = c.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        CHECK(res->body == "hello world");
        res = c.request(loopback_client::get_request("/api/2"));
        REQUIRE(res);
        CHECK(res->body == "api:/api/2?");
        CHECK_FALSE(c.saw_eof());
    }
    SECTION("pipelining: three requests in one write, answered in order") {
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello") +
                                 loopback_client::get_request("/api/a") +
                                 loopback_client::get_request("/api/b")));
        const auto r1 = c.read_response();
        const auto r2 = c.read_response();
        const auto r3 = c.read_response();
        REQUIRE(r1);
        REQUIRE(r2);
        REQUIRE(r3);
        CHECK(r1->body == "hello world");
        CHECK(r2->body == "api:/api/a?");
        CHECK(r3->body == "api:/api/b?");
        CHECK(c.pending().empty());
    }
    SECTION("pipelining: a request then an upgrade in one write") {
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello") + c.upgrade_request("/ws")));
        const auto r1 = c.read_response();
        REQUIRE(r1);
        CHECK(r1->body == "hello world");
        const auto r2 = c.read_response();
        REQUIRE(r2);
        CHECK(r2->status == 101);
        c.close();
    }
    SECTION("Connection: close is honoured") {
        const auto res = c.request(loopback_client::get_request("/hello", "Connection: close\r\n"));
        REQUIRE(res);
        CHECK(res->body == "hello world");
        CHECK(header(*res, "Connection") == "close");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("HTTP/1.0 without keep-alive closes") {
        const auto res = c.request("GET /hello HTTP/1.0\r\n\r\n");
        REQUIRE(res);
        CHECK(res->body == "hello world");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("HEAD: the headers of a GET, no body") {
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello", {}, "HEAD")));
        const auto head = c.read_response_head();
        REQUIRE(head);
        CHECK(head->status == 200);
        CHECK(header(*head, "Content-Length") == "11");
        CHECK(header(*head, "Content-Type") == "text/plain");
        // A body after the head would be read as the start of the next answer.
        const auto res = c.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "hello world");
    }
    SECTION("HEAD that fails: the error status without a body") {
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/nowhere", {}, "HEAD")));
        const auto head = c.read_response_head();
        REQUIRE(head);
        CHECK(head->status == 404);
        CHECK(header(*head, "Content-Length") == "23");  // what a GET would get
        CHECK(is_closed_error(c.read_until_eof()));
        CHECK(c.pending().empty());  // RFC 7231 §4.3.2: no body in an answer to HEAD
    }
    SECTION("a client that half-closes after its request still gets the answer") {
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello")));
        c.shutdown_send();
        const auto res = c.read_response();
        REQUIRE(res);
        CHECK(res->body == "hello world");
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("a route that throws is 500; the server keeps serving") {
        auto res = c.request(loopback_client::get_request("/boom"));
        REQUIRE(res);
        CHECK(res->status == 500);
        CHECK(res->body == "internal error\n");
        CHECK(header(*res, "Connection") == "close");
        CHECK(is_closed_error(c.read_until_eof()));
        CHECK(boom_calls.load() == 1);
        loopback_client c2(srv.port());
        res = c2.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "hello world");
    }
    SECTION("a route that throws something else than a std::exception is 500 too") {
        auto res = c.request(loopback_client::get_request("/boom42"));
        REQUIRE(res);
        CHECK(res->status == 500);
        CHECK(res->body == "internal error\n");
        CHECK(boom_calls.load() == 1);
        loopback_client c2(srv.port());
        res = c2.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        CHECK(res->status == 200);
    }
    SECTION("a body larger than one read") {
        const std::string body(300 * 1024, 'b');
        const auto res = c.request("POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == std::to_string(body.size()));
    }
    SECTION("a body over http_limits.max_body_size is 413, answered before it is sent") {
        const auto res = c.request("POST /size HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n");
        REQUIRE(res);
        CHECK(res->status == 413);
        CHECK(is_closed_error(c.read_until_eof()));
    }
    SECTION("pipelining: the second request split across writes") {
        const std::string second = loopback_client::get_request("/api/split");
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello") + second.substr(0, 10)));
        const auto r1 = c.read_response();
        REQUIRE(r1);
        CHECK(r1->body == "hello world");
        std::this_thread::sleep_for(20ms);
        REQUIRE_FALSE(c.send_raw(second.substr(10)));
        const auto r2 = c.read_response();
        REQUIRE(r2);
        CHECK(r2->body == "api:/api/split?");
    }
    SECTION("an idle keep-alive connection is closed after handshake_timeout") {
        const auto res = c.request(loopback_client::get_request("/hello"));
        REQUIRE(res);
        const auto t0 = test_clock::now();
        // Closed (within seconds: not hung), and not before the deadline.
        CHECK(is_closed_error(c.read_until_eof(10s)));
        CHECK(since(t0) >= 250ms);
        CHECK(c.pending().empty());
    }
    SECTION("a request with a body") {
        const auto res = c.request("POST /api/post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == "api:/api/post?");
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: stop() from an HTTP route with a pipelined request behind it", "[server][http][stop]") {
    // The route's stop() is queued before the completion of the response write:
    // the session is closed by the stop, then that completion arrives.
    wsx::server srv(test_options());
    wsx::server* self = &srv;
    srv.http("/stop", [self](const wsx::http::request&, wsx::http::response& res) {
        self->stop();
        res.body = "stopping";
    });
    srv.http("/hello", [](const wsx::http::request&, wsx::http::response& res) { res.body = "hello"; });
    srv.start(1);
    loopback_client c(srv.port());
    REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/stop") + loopback_client::get_request("/hello")));
    const auto res = c.read_response();
    REQUIRE(res);
    CHECK(res->body == "stopping");
    CHECK(is_closed_error(c.read_until_eof()));
    const auto t0 = test_clock::now();
    srv.join();
    CHECK(since(t0) < 10s);  // did not hang
}

TEST_CASE("server: WebSocket frames sent with the upgrade request, and sends from on_open",
          "[server][websocket]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.on_open = [&j](wsx::connection& c) {
        j.on_open(c);
        c.send("welcome");
    };
    srv.websocket("/ws", std::move(ep));
    srv.http("/hello", [](const wsx::http::request&, wsx::http::response& res) { res.body = "hello"; });
    srv.start(1);

    SECTION("in the same write as the request") {
        loopback_client c(srv.port());
        const std::string frames = c.encode_frame(opcode::text, "early one") + c.encode_frame(opcode::text, "early two");
        const auto res = c.upgrade_with_early_data("/ws", frames);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        CHECK(c.read_event().payload == "welcome");  // on_open runs before the early frames
        CHECK(c.read_event().payload == "early one");
        CHECK(c.read_event().payload == "early two");
        CHECK(code_of(c.close_handshake().code) == 1000);
    }
    SECTION("behind a pipelined HTTP request") {
        loopback_client c(srv.port());
        REQUIRE_FALSE(c.send_raw(loopback_client::get_request("/hello") + c.upgrade_request("/ws") +
                                 c.encode_frame(opcode::text, "early")));
        const auto r1 = c.read_response();
        REQUIRE(r1);
        CHECK(r1->body == "hello");
        const auto r2 = c.read_response();
        REQUIRE(r2);
        REQUIRE(r2->status == 101);
        CHECK(c.read_event().payload == "welcome");
        CHECK(c.read_event().payload == "early");
        c.close();
    }
    SECTION("a close frame right behind the request") {
        loopback_client c(srv.port());
        std::string close_frame;
        const wsx::protocol::mask_key key{1, 2, 3, 4};
        wsx::protocol::append_close_frame(close_frame, static_cast<close_code>(4002), "early close", &key);
        const auto res = c.upgrade_with_early_data("/ws", close_frame);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        CHECK(c.read_event().payload == "welcome");
        const ws_event ev = c.read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 4002);
        CHECK(c.read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 4002);
        CHECK(j.close_record(0).reason == "early close");
    }
    srv.stop();
    srv.join();
}

// ---- deadlines and isolation ------------------------------------------------------

TEST_CASE("server: the handshake deadline closes silent and slow clients only", "[server][timeout]") {
    journal j;
    // A deadline long enough for the good client below to be served before it
    // on a loaded machine: its claim is an order, not a speed.
    constexpr auto deadline = 1s;
    auto options = test_options();
    options.handshake_timeout = deadline;
    wsx::server srv(options);
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    const std::uint16_t port = srv.port();

    // A slow-loris client: a header byte every 50 ms, never the end of the headers.
    std::atomic<long> slow_closed_ms{-1};
    std::atomic<int> slow_bytes{0};
    std::thread slow([&]() noexcept {
        const auto t0 = test_clock::now();
        std::optional<loopback_client> opened;
        try {
            opened.emplace(port);
        } catch (const std::exception&) {
            return;
        }
        loopback_client& c = *opened;
        c.send_raw("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
        while (since(t0) < deadline + 10s) {
            c.send_raw("a");
            ++slow_bytes;
            const std::error_code ec = c.read_more(50ms);
            if (ec != asio::error::timed_out) {
                if (is_closed_error(ec) && c.pending().empty()) slow_closed_ms = since(t0).count();
                break;
            }
        }
    });

    const auto t0 = test_clock::now();
    loopback_client silent(port);
    // A well-behaved client connecting meanwhile is served while the silent
    // one still waits for its deadline, not after it.
    auto good = open_client(port);
    CHECK(good->round_trip("in time").payload == "in time");
    CHECK(silent.read_more(1ms) == asio::error::timed_out);  // still open

    // Closed within seconds (not hung), not before the deadline.
    const std::error_code ec = silent.read_until_eof(deadline + 10s);
    const auto silent_closed = since(t0);
    CHECK(is_closed_error(ec));
    CHECK(silent.pending().empty());  // closed without an answer
    CHECK(silent_closed >= deadline - 20ms);

    slow.join();
    CHECK(slow_closed_ms.load() >= std::chrono::milliseconds{deadline - 20ms}.count());
    CHECK(slow_bytes.load() >= 4);

    // The upgraded client is past the deadline and still served.
    CHECK(since(t0) > deadline);
    CHECK(good->round_trip("still open").payload == "still open");
    CHECK(j.close_count() == 0);
    CHECK(code_of(good->close_handshake().code) == 1000);
    srv.stop();
    srv.join();
}

TEST_CASE("server: a client streaming bytes after a bad request does not starve the others",
          "[server][http][timeout]") {
    // After an error answer the session drains the peer's bytes until it closes
    // (lingering close). A peer that never stops sending must not keep the
    // thread busy: the other clients on it and the deadline sweep get turns.
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    const std::uint16_t port = srv.port();
    auto b = open_client(port);

    constexpr auto give_up = 10s;  // a hang, not a slow machine
    std::atomic<bool> quit{false};
    std::atomic<long> flood_closed_ms{-1};
    std::atomic<std::uint64_t> flooded{0};
    const auto t0 = test_clock::now();
    std::thread flood([&]() noexcept {
        asio::io_context io;
        asio::ip::tcp::socket s(io);
        std::error_code ec;
        s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
        if (ec) return;
        asio::write(s, asio::buffer(std::string_view("BAD\r\n\r\n")), ec);
        const std::string junk(256 * 1024, 'j');
        while (!ec && !quit.load() && since(t0) < give_up) flooded += asio::write(s, asio::buffer(junk), ec);
        if (ec) flood_closed_ms = since(t0).count();
    });

    // Echoes while the flood runs, until the server cuts it off. Progress and
    // order, not speed: some echoes come back before the flood is closed (a
    // starved thread would answer only once the flood ended).
    REQUIRE(wait_until([&] { return flooded.load() > 0; }, give_up));
    std::vector<long> echoed_ms;
    while (flood_closed_ms.load() < 0 && since(t0) < give_up) {
        const ws_event ev = b->round_trip("during the flood", give_up);
        REQUIRE(ev.what == kind::message);
        echoed_ms.push_back(since(t0).count());
        std::this_thread::sleep_for(10ms);
    }
    quit = true;
    flood.join();
    const long closed_ms = flood_closed_ms.load();
    const auto during = std::count_if(echoed_ms.begin(), echoed_ms.end(), [&](long t) { return t < closed_ms; });
    CAPTURE(flooded.load(), echoed_ms.size(), closed_ms);
    CHECK(during >= 1);
    // The lingering close is bounded by the handshake deadline (300 ms): it
    // came, and not before the deadline.
    CHECK(closed_ms >= 250);
    CHECK(code_of(b->close_handshake().code) == 1000);
    srv.stop();
    srv.join();
}

TEST_CASE("server: a misbehaving client never disturbs the others", "[server][websocket]") {
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    auto a = open_client(srv.port());
    CHECK(a->round_trip("a1").payload == "a1");

    auto b = open_client(srv.port());
    SECTION("an unmasked frame: 1002") {
        REQUIRE_FALSE(b->send_frame(opcode::text, "naked", true, false));
        const ws_event ev = b->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1002);
        CHECK(ev.payload == "unmasked client frame");
    }
    SECTION("RSV1 without a negotiated extension: 1002") {
        REQUIRE_FALSE(b->send_frame(opcode::text, "x", true, true, true));
        const ws_event ev = b->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1002);
    }
    SECTION("invalid UTF-8 in a text message: 1007") {
        REQUIRE_FALSE(b->send_frame(opcode::text, "\xC3\x28"));
        const ws_event ev = b->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1007);
    }
    SECTION("garbage bytes") {
        REQUIRE_FALSE(b->send_raw(std::string(64, '\xFF')));
        const ws_event ev = b->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1002);
    }
    // The server fails the connection: close frame, then TCP close, without waiting.
    CHECK(b->read_event().what == kind::eof);
    REQUIRE(j.wait_closed(1));
    CHECK((j.close_record(0).code == 1002 || j.close_record(0).code == 1007));

    CHECK(a->round_trip("a2").payload == "a2");
    auto c = open_client(srv.port());
    CHECK(c->round_trip("c1").payload == "c1");
    CHECK(code_of(a->close_handshake().code) == 1000);
    CHECK(code_of(c->close_handshake().code) == 1000);
    srv.stop();
    srv.join();
}

// ---- the WebSocket data path ---------------------------------------------------------

TEST_CASE("server: echo of text, binary, empty, large and fragmented messages", "[server][websocket]") {
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    auto c = open_client(srv.port());

    ws_event ev = c->round_trip("hello");
    CHECK(ev.what == kind::message);
    CHECK(ev.type == opcode::text);
    CHECK(ev.payload == "hello");

    const std::string bin("\x00\x01\x02\xFF\x00", 5);
    REQUIRE_FALSE(c->send_binary(bin));
    ev = c->read_event();
    CHECK(ev.what == kind::message);
    CHECK(ev.type == opcode::binary);
    CHECK(ev.payload == bin);

    REQUIRE_FALSE(c->send_text(""));
    ev = c->read_event();
    CHECK(ev.what == kind::message);
    CHECK(ev.type == opcode::text);
    CHECK(ev.payload.empty());

    REQUIRE_FALSE(c->send_binary(""));
    ev = c->read_event();
    CHECK(ev.what == kind::message);
    CHECK(ev.type == opcode::binary);
    CHECK(ev.payload.empty());

    // Larger than the server's 64 KiB read buffer: assembled across reads.
    std::string big(200 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
    REQUIRE_FALSE(c->send_binary(big));
    ev = c->read_event(5s);
    CHECK(ev.what == kind::message);
    CHECK(ev.payload.size() == big.size());
    CHECK(ev.payload == big);

    // Fragments with a ping between them come back as one message, after the pong.
    REQUIRE_FALSE(c->send_frame(opcode::text, "frag", false));
    REQUIRE_FALSE(c->send_frame(opcode::ping, "p"));
    REQUIRE_FALSE(c->send_frame(opcode::continuation, "ment", false));
    REQUIRE_FALSE(c->send_frame(opcode::continuation, "ed", true));
    ev = c->read_event();
    CHECK(ev.what == kind::pong);
    CHECK(ev.payload == "p");
    ev = c->read_event();
    CHECK(ev.what == kind::message);
    CHECK(ev.payload == "fragmented");

    // Several messages in one write, answered in order.
    REQUIRE_FALSE(c->send_raw(c->encode_frame(opcode::text, "one") + c->encode_frame(opcode::text, "two") +
                              c->encode_frame(opcode::text, "three")));
    CHECK(c->read_event().payload == "one");
    CHECK(c->read_event().payload == "two");
    CHECK(c->read_event().payload == "three");

    const auto conn = j.connection(0);
    REQUIRE(conn);
    const auto stats = conn->stats();
    CHECK(stats.messages_in == 9);
    CHECK(stats.messages_out == 9);
    CHECK(stats.dropped == 0);
    CHECK(code_of(c->close_handshake().code) == 1000);
    srv.stop();
    srv.join();
}

TEST_CASE("server: closing handshakes started by either side", "[server][websocket][close]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.on_message = [](wsx::connection& c, wsx::message m) {
        if (m.text() == "bye please") c.close(close_code::normal, "bye");
        else c.send(m);
    };
    srv.websocket("/ws", std::move(ep));
    srv.start(1);
    auto c = open_client(srv.port());

    SECTION("the client closes with 4000: the server echoes 4000 and closes TCP") {
        REQUIRE_FALSE(c->send_close(static_cast<close_code>(4000), "done"));
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 4000);
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        const auto rec = j.close_record(0);
        CHECK(rec.code == 4000);
        CHECK(rec.reason == "done");
        CHECK(rec.error == wsx::error::closed);
    }
    SECTION("the client closes without a code: the echo has none, on_close says 1005") {
        REQUIRE_FALSE(c->send_frame(opcode::close, ""));
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1005);
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 1005);
    }
    SECTION("the server closes from a handler with 1000 \"bye\"") {
        REQUIRE_FALSE(c->send_text("bye please"));
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1000);
        CHECK(ev.payload == "bye");
        // Nothing is sent after the close frame, even when asked.
        const auto conn = j.connection(0);
        REQUIRE(conn);
        CHECK_FALSE(conn->send("too late"));
        REQUIRE_FALSE(c->send_close(close_code::normal, "ok"));
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        const auto rec = j.close_record(0);
        CHECK(rec.code == 1000);
        CHECK(rec.reason == "ok");
        CHECK(conn->state() == wsx::connection_state::closed);
    }
    SECTION("the client vanishes: on_close reports 1006") {
        c->close();
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 1006);
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: connection::send from a foreign thread is delivered", "[server][websocket][threads]") {
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    auto c = open_client(srv.port());
    {
        const auto conn = j.connection(0);
        REQUIRE(conn);
        std::atomic<int> queued{0};
        std::thread t([&] {
            for (int i = 0; i < 50; ++i)
                if (conn->send("from thread " + std::to_string(i))) ++queued;
            if (conn->send_binary(std::string_view("\x01\x02", 2))) ++queued;
            if (conn->ping("are you there")) ++queued;
        });
        t.join();
        CHECK(queued.load() == 52);
        for (int i = 0; i < 50; ++i) {
            const ws_event ev = c->read_event();
            REQUIRE(ev.what == kind::message);
            CHECK(ev.payload == "from thread " + std::to_string(i));
        }
        ws_event ev = c->read_event();
        CHECK(ev.type == opcode::binary);
        CHECK(ev.payload == std::string("\x01\x02", 2));
        ev = c->read_event();
        CHECK(ev.what == kind::ping);
        CHECK(ev.payload == "are you there");
        CHECK(conn->stats().messages_out == 51);

        // close() from a foreign thread too.
        std::thread([&] { conn->close(static_cast<close_code>(4001), "from afar"); }).join();
        ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 4001);
        CHECK(ev.payload == "from afar");
        CHECK_FALSE(conn->send("after close"));
        REQUIRE_FALSE(c->send_close(static_cast<close_code>(4001)));
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 4001);
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: stop() closes every client with 1001 and join() returns in time", "[server][stop]") {
    journal j;
    wsx::server srv(test_options());  // stop_timeout 500 ms
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);
    auto a = open_client(srv.port());
    auto b = open_client(srv.port());
    auto mute = open_client(srv.port());  // never answers the close
    loopback_client http_idle(srv.port());  // an HTTP session that sent nothing yet
    REQUIRE(j.connection(2));

    const auto t0 = test_clock::now();
    srv.stop();
    for (auto* c : {a.get(), b.get()}) {
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1001);
        CHECK(ev.payload == "server shutting down");
        REQUIRE_FALSE(c->send_close(close_code::going_away));
        CHECK(c->read_event().what == kind::eof);
    }
    const ws_event ev = mute->read_event();
    CHECK(ev.what == kind::close);
    CHECK(code_of(ev.code) == 1001);
    srv.join();
    const auto took = since(t0);
    CHECK(took < 500ms + 10s);  // stop_timeout, and did not hang
    CHECK(took >= 400ms);       // the mute client had its grace period
    CHECK(mute->read_event().what == kind::eof);
    CHECK(is_closed_error(http_idle.read_until_eof()));
    REQUIRE(j.wait_closed(3));
    CHECK(srv.session_count() == 0);

    // New connections are refused once stopped.
    std::error_code ec;
    try {
        loopback_client late(srv.port());
        const auto res = late.upgrade("/ws", {}, {}, 300ms);
        CHECK_FALSE(res);
    } catch (const std::system_error& e) {
        ec = e.code();
        CHECK(ec == asio::error::connection_refused);
    }
}

TEST_CASE("server: stop() with no clients, and twice, and from a handler", "[server][stop]") {
    SECTION("no clients") {
        wsx::server srv(test_options());
        srv.start(2);
        const auto t0 = test_clock::now();
        srv.stop();
        srv.stop();
        srv.join();
        CHECK(since(t0) < 10s);  // did not hang
    }
    SECTION("from a handler") {
        journal j;
        wsx::server srv(test_options());
        auto ep = echo_endpoint(j);
        wsx::server* self = &srv;
        ep.on_message = [self](wsx::connection&, wsx::message) { self->stop(); };
        srv.websocket("/ws", std::move(ep));
        srv.start(1);
        auto c = open_client(srv.port());
        REQUIRE_FALSE(c->send_text("stop"));
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1001);
        REQUIRE_FALSE(c->send_close(close_code::going_away));
        CHECK(c->read_event().what == kind::eof);
        const auto t0 = test_clock::now();
        srv.join();
        CHECK(since(t0) < 10s);  // did not hang
    }
}

TEST_CASE("server: run() on the caller's thread, a user io_context, and the destructor",
          "[server][stop]") {
    journal j;
    SECTION("run(2) blocks until stop()") {
        wsx::server srv(test_options());
        srv.websocket("/ws", echo_endpoint(j));
        srv.listen();
        std::atomic<bool> returned{false};
        std::thread runner([&] {
            srv.run(2);
            returned = true;
        });
        {
            auto c = open_client(srv.port());
            CHECK(c->round_trip("run").payload == "run");
            CHECK(code_of(c->close_handshake().code) == 1000);
        }
        CHECK_FALSE(returned.load());
        srv.stop();
        CHECK(wait_until([&] { return returned.load(); }, 10s));
        runner.join();
        srv.join();
    }
    SECTION("a user-supplied io_context, run by the user") {
        asio::io_context io;
        wsx::server srv(io, test_options());
        srv.websocket("/ws", echo_endpoint(j));
        srv.start();
        std::atomic<bool> returned{false};
        std::thread runner([&] {
            io.run();
            returned = true;
        });
        {
            auto c = open_client(srv.port());
            CHECK(c->round_trip("user context").payload == "user context");
            auto idle = open_client(srv.port());
            srv.stop();
            const ws_event ev = idle->read_event();
            CHECK(code_of(ev.code) == 1001);
            CHECK(c->read_event().what == kind::close);
        }
        // Once every connection is gone, the context runs out of work.
        CHECK(wait_until([&] { return returned.load(); }, 10s));
        runner.join();
    }
    SECTION("the destructor stops and joins") {
        std::unique_ptr<loopback_client> c;
        const auto t0 = test_clock::now();
        {
            wsx::server srv(test_options());
            srv.websocket("/ws", echo_endpoint(j));
            srv.start(2);
            c = open_client(srv.port());
            CHECK(c->round_trip("before").payload == "before");
        }
        CHECK(since(t0) < 10s);  // did not hang
        const ws_event ev = c->read_event();
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1001);
        CHECK(c->read_event().what == kind::eof);
        CHECK(j.close_count() == 1);
    }
}

TEST_CASE("server: listen() on a port in use names the address and port", "[server][listen]") {
    wsx::server first(test_options());
    first.listen();
    REQUIRE(first.port() != 0);
    auto options = test_options();
    options.port = first.port();
    wsx::server second(options);
    bool threw = false;
    try {
        second.listen();
    } catch (const std::system_error& e) {
        threw = true;
        const std::string what = e.what();
        CAPTURE(what);
        CHECK(what.find("127.0.0.1:" + std::to_string(first.port())) != std::string::npos);
        CHECK(e.code() == asio::error::address_in_use);
    }
    CHECK(threw);
    CHECK_THROWS_AS(second.start(1), std::system_error);

    auto bad = test_options();
    bad.host = "not an address";
    wsx::server third(bad);
    CHECK_THROWS_AS(third.listen(), std::system_error);
}

TEST_CASE("server: idle_timeout pings at half and closes a silent peer with 1001", "[server][timeout]") {
    journal j;
    auto options = test_options();
    options.websocket.idle_timeout = 400ms;
    wsx::server srv(options);
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(1);

    SECTION("a peer that never answers is closed with 1001 \"idle timeout\"") {
        const auto t0 = test_clock::now();
        auto c = open_client(srv.port());
        ws_event ev = c->read_event();
        const auto ping_at = since(t0);
        CHECK(ev.what == kind::ping);
        CHECK(ev.payload.empty());
        // Not before half the timeout; that the ping comes early enough to keep
        // an answering peer open is the next section's claim, not a speed here.
        CHECK(ping_at >= 170ms);
        ev = c->read_event(10s);
        const auto close_at = since(t0);
        CHECK(ev.what == kind::close);  // after the ping, within seconds
        CHECK(code_of(ev.code) == 1001);
        CHECK(ev.payload == "idle timeout");
        CHECK(close_at >= 380ms);
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 1001);
        CHECK(j.close_record(0).error == wsx::error::idle_timeout);
    }
    SECTION("a peer that answers pings stays open past the timeout") {
        auto c = open_client(srv.port());
        c->answer_pings(true);
        // Three pings answered, at least half a timeout apart: open for more
        // than a whole timeout, however slowly the machine goes.
        const auto t0 = test_clock::now();
        while (c->pings_answered() < 3 && since(t0) < 10s) {
            const ws_event ev = c->read_event(100ms);
            REQUIRE(ev.what == kind::timeout);
        }
        CHECK(c->pings_answered() >= 3);
        CHECK(since(t0) > 400ms);
        CHECK(c->round_trip("alive").payload == "alive");
        CHECK(j.close_count() == 0);
        CHECK(code_of(c->close_handshake().code) == 1000);
    }
    SECTION("a peer that sends data but no pongs stays open too") {
        auto c = open_client(srv.port());
        const auto t0 = test_clock::now();
        for (int echoes = 0; echoes < 9; ++echoes) {
            REQUIRE_FALSE(c->send_text("tick"));
            ws_event ev = c->read_event();
            while (ev.what == kind::ping) ev = c->read_event();  // tolerated, not answered
            REQUIRE(ev.what == kind::message);
            std::this_thread::sleep_for(100ms);
        }
        CHECK(since(t0) > 2 * 400ms);  // two idle timeouts, at least 900 ms of pauses
        CHECK(j.close_count() == 0);
        CHECK(code_of(c->close_handshake().code) == 1000);
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: max_message_size closes with 1009", "[server][limits]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.limits = wsx::connection_options{.max_message_size = 1024};
    srv.websocket("/ws", std::move(ep));
    srv.start(1);
    auto c = open_client(srv.port());

    CHECK(c->round_trip(std::string(1024, 'x')).payload.size() == 1024);  // at the limit: fine
    SECTION("one 2 KiB frame") {
        REQUIRE_FALSE(c->send_binary(std::string(2048, 'y')));
    }
    SECTION("two fragments that together exceed the limit") {
        REQUIRE_FALSE(c->send_frame(opcode::binary, std::string(700, 'y'), false));
        REQUIRE_FALSE(c->send_frame(opcode::continuation, std::string(700, 'y'), true));
    }
    const ws_event ev = c->read_event();
    CHECK(ev.what == kind::close);
    CHECK(code_of(ev.code) == 1009);
    CHECK(c->read_event().what == kind::eof);
    REQUIRE(j.wait_closed(1));
    CHECK(j.close_record(0).code == 1009);
    CHECK(j.close_record(0).error == wsx::error::message_too_big);
    srv.stop();
    srv.join();
}

TEST_CASE("server: backpressure inside one handler call", "[server][backpressure]") {
    // Ten 20 KiB sends from one on_message call, with a 64 KiB queue limit:
    // nothing reaches the socket before the handler returns, so exactly three
    // frames fit (3 x (20480 + 4) bytes; a fourth would pass 65536).
    journal j;
    std::mutex m;
    std::vector<bool> results;
    wsx::connection_stats after{};
    auto make_ep = [&](wsx::backpressure_policy policy) {
        auto ep = echo_endpoint(j);
        ep.limits = wsx::connection_options{.max_buffered_bytes = 64 * 1024, .on_backpressure = policy};
        ep.on_message = [&](wsx::connection& c, wsx::message msg) {
            if (msg.text() != "burst") {
                c.send(msg);
                return;
            }
            const std::string chunk(20 * 1024, 'z');
            std::lock_guard lock{m};
            for (int i = 0; i < 10; ++i) results.push_back(c.send_binary(chunk));
            after = c.stats();
        };
        return ep;
    };
    wsx::server srv(test_options());
    srv.websocket("/drop", make_ep(wsx::backpressure_policy::drop));
    srv.websocket("/close", make_ep(wsx::backpressure_policy::close));
    srv.start(1);

    SECTION("drop: send returns false and the drop is counted") {
        auto c = open_client(srv.port(), "/drop");
        REQUIRE_FALSE(c->send_text("burst"));
        for (int i = 0; i < 3; ++i) {
            const ws_event ev = c->read_event();
            REQUIRE(ev.what == kind::message);
            CHECK(ev.payload.size() == 20 * 1024);
        }
        CHECK(c->round_trip("still open").payload == "still open");
        CHECK(code_of(c->close_handshake().code) == 1000);
        std::lock_guard lock{m};
        CHECK(results == std::vector<bool>{true, true, true, false, false, false, false, false, false, false});
        CHECK(after.dropped == 7);
        CHECK(after.messages_out == 3);
    }
    SECTION("close: 1008 once the limit is passed") {
        auto c = open_client(srv.port(), "/close");
        REQUIRE_FALSE(c->send_text("burst"));
        std::size_t messages = 0;
        const ws_event ev = c->read_until_close(2s, &messages);
        CHECK(messages == 3);
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1008);
        CHECK(ev.payload == "send queue over limit");
        REQUIRE_FALSE(c->send_close(close_code::policy_violation));
        CHECK(c->read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).code == 1008);
        CHECK(j.close_record(0).error == wsx::error::backpressure);
        std::lock_guard lock{m};
        CHECK(results == std::vector<bool>{true, true, true, false, false, false, false, false, false, false});
        CHECK(after.dropped == 0);
    }
    srv.stop();
    srv.join();
}

TEST_CASE("server: backpressure against a client that stops reading", "[server][backpressure]") {
    journal j;
    auto options = test_options();
    wsx::server srv(options);
    auto make_ep = [&](wsx::backpressure_policy policy) {
        auto ep = echo_endpoint(j);
        ep.limits = wsx::connection_options{.max_buffered_bytes = 256 * 1024, .on_backpressure = policy};
        return ep;
    };
    srv.websocket("/drop", make_ep(wsx::backpressure_policy::drop));
    srv.websocket("/close", make_ep(wsx::backpressure_policy::close));
    srv.start(1);
    const std::string chunk(64 * 1024, 'f');

    SECTION("close: the connection closes with 1008 instead of growing") {
        loopback_client c(srv.port(), 16 * 1024);
        REQUIRE(c.upgrade("/close")->status == 101);
        const auto conn = j.connection(0);
        REQUIRE(conn);
        int sent = 0;
        std::size_t most_buffered = 0;
        // Sends from this (foreign) thread are admitted here; the first one
        // past the limit is refused and the connection closes with 1008.
        while (sent < 4000 && conn->send_binary(chunk)) {
            ++sent;
            most_buffered = std::max(most_buffered, conn->buffered_amount());
            std::this_thread::sleep_for(1ms);
        }
        CHECK(sent < 4000);
        // Bounded: the limit, plus the close frame queued behind it.
        CHECK(most_buffered <= 256 * 1024 + 32);  // + the close frame, 4 + 21 bytes
        CHECK(wait_until([&] { return conn->state() != wsx::connection_state::open; }));
        // Now read: the frames the kernel held, then the close frame.
        std::size_t messages = 0;
        const ws_event ev = c.read_until_close(10s, &messages);
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1008);
        // Refused in the sender's thread: every message send() accepted is
        // written before the close frame, and none after.
        CHECK(messages == static_cast<std::size_t>(sent));
        c.send_close(close_code::policy_violation);
        CHECK(c.read_event().what == kind::eof);
        REQUIRE(j.wait_closed(1));
        CHECK(j.close_record(0).error == wsx::error::backpressure);
    }
    SECTION("drop: messages are dropped and counted, the connection stays open") {
        loopback_client c(srv.port(), 16 * 1024);
        REQUIRE(c.upgrade("/drop")->status == 101);
        const auto conn = j.connection(0);
        REQUIRE(conn);
        int sent = 0;
        int refused = 0;
        while (sent < 4000 && conn->stats().dropped < 20) {
            // From a foreign thread: admitted or dropped at once, in this thread.
            const wsx::send_result r = conn->send_binary(chunk);
            if (!r) {
                CHECK(r.status() == wsx::send_status::dropped);
                ++refused;
            }
            ++sent;
            std::this_thread::sleep_for(1ms);
        }
        CHECK(conn->stats().dropped >= 20);
        CHECK(conn->stats().dropped == static_cast<std::uint64_t>(refused));
        CHECK(conn->is_open());
        // Let the posted sends settle, then read everything that was admitted.
        REQUIRE(wait_until([&] {
            const auto s = conn->stats();
            return s.messages_out + s.dropped == static_cast<std::uint64_t>(sent);
        }));
        const auto s = conn->stats();
        std::size_t got = 0;
        while (got < s.messages_out) {
            const ws_event ev = c.read_event(5s);
            REQUIRE(ev.what == kind::message);
            CHECK(ev.payload.size() == chunk.size());
            ++got;
        }
        CHECK(got == s.messages_out);
        CHECK(c.round_trip("after the flood").payload == "after the flood");
        CHECK(j.close_count() == 0);
        CHECK(code_of(c.close_handshake().code) == 1000);
    }
    srv.stop();
    srv.join();
}

// A peer that sends pings and never reads must not grow the queue past
// max_buffered_bytes (before pongs obeyed the limit: 4.6 MB against 64 KiB).
TEST_CASE("server: pongs to a ping flood respect max_buffered_bytes", "[server][backpressure]") {
    journal j;
    wsx::server srv(test_options());
    auto ep = echo_endpoint(j);
    ep.limits = wsx::connection_options{.max_buffered_bytes = 64 * 1024};
    srv.websocket("/ws", std::move(ep));
    srv.start(1);
    loopback_client c(srv.port(), 4096);
    REQUIRE(c.upgrade("/ws")->status == 101);
    const auto conn = j.connection(0);
    REQUIRE(conn);
    std::string batch;
    for (int i = 0; i < 1000; ++i) batch += c.encode_frame(opcode::ping, std::string(125, 'p'));
    std::size_t most = 0;
    for (int k = 0; k < 60 && conn->is_open(); ++k) {
        if (c.send_raw(batch, 2s)) break;
        most = std::max(most, conn->buffered_amount());
    }
    wait_until([&] { return conn->buffered_amount() > 64 * 1024 + 1024; }, 500ms);
    most = std::max(most, conn->buffered_amount());
    CAPTURE(most);
    // Either the pongs are dropped or the connection is closed with 1008; the
    // queue never holds much more than the limit.
    CHECK(most <= 64 * 1024 + 1024);
    c.close();
}

TEST_CASE("server: many clients on several threads", "[server][threads]") {
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.start(3);
    std::vector<std::unique_ptr<loopback_client>> clients;
    for (int i = 0; i < 12; ++i) clients.push_back(open_client(srv.port()));
    for (int round = 0; round < 3; ++round)
        for (std::size_t i = 0; i < clients.size(); ++i) {
            const std::string text = "c" + std::to_string(i) + "r" + std::to_string(round);
            CHECK(clients[i]->round_trip(text).payload == text);
        }
    CHECK(j.open_count() == 12);
    srv.stop();
    for (auto& c : clients) {
        const ws_event ev = c->read_event();
        CHECK(code_of(ev.code) == 1001);
        c->send_close(close_code::going_away);
        CHECK(c->read_event().what == kind::eof);
    }
    srv.join();
    CHECK(j.wait_closed(12));
}

// ---- lifetimes, misuse and the log hook (issue 19) --------------------------------

namespace {

// What a server_options::log hook received, written on the I/O threads.
struct log_journal {
    struct line {
        wsx::log_level level;
        std::string category, message;
    };
    std::mutex m;
    std::vector<line> lines;

    wsx::log_handler hook() {
        return [this](wsx::log_level level, std::string_view category, std::string_view message) {
            std::lock_guard lock{m};
            lines.push_back({level, std::string{category}, std::string{message}});
        };
    }
    std::optional<line> first(std::string_view category) {
        std::lock_guard lock{m};
        for (const auto& l : lines)
            if (l.category == category) return l;
        return std::nullopt;
    }
    bool wait_for(std::string_view category, std::chrono::milliseconds timeout = 2s) {
        return wait_until([&] { return first(category).has_value(); }, timeout);
    }
};

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The message of the std::logic_error that f() throws ("" if none).
template <class F>
std::string logic_error_of(F&& f) {
    try {
        f();
    } catch (const std::logic_error& e) {
        return e.what();
    }
    return {};
}

} // namespace

TEST_CASE("server: destroyed on a user io_context that runs afterwards", "[server][lifetime]") {
    // Under ASan this fails on a server whose queued handlers refer to it (or
    // to its workers) directly: they would run after it is gone.
    journal j;
    asio::io_context io;
    SECTION("started, never run") {
        auto srv = std::make_unique<wsx::server>(io, test_options());
        srv->websocket("/ws", echo_endpoint(j));
        srv->start();
        loopback_client waiting(srv->port());  // in the backlog, never accepted
        srv.reset();
        io.run_for(2s);
        CHECK(io.stopped());  // ran out of work: nothing was left behind
    }
    SECTION("with an open connection, a pending HTTP session and a stop() in flight") {
        auto srv = std::make_unique<wsx::server>(io, test_options());
        srv->websocket("/ws", echo_endpoint(j));
        srv->start();
        std::thread runner([&] { io.run(); });
        auto c = open_client(srv->port());
        CHECK(c->round_trip("before").payload == "before");
        loopback_client idle(srv->port());  // accepted; sends no request
        REQUIRE(wait_until([&] { return srv->session_count() == 2; }));
        io.stop();  // the user stops running the context...
        runner.join();
        srv->stop();  // ...stop() posts its work there...
        srv.reset();  // ...and the server goes before it has run
        // Every connection was closed by the destructor, before it returned.
        CHECK(j.close_count() == 1);
        io.restart();
        io.run_for(2s);
        CHECK(io.stopped());
        CHECK(j.close_count() == 1);
        CHECK(c->read_event().what != kind::message);
    }
}

TEST_CASE("server: routes cannot change once it listens", "[server][misuse]") {
    journal j;
    wsx::server srv(test_options());
    srv.websocket("/ws", echo_endpoint(j));
    srv.http("/ok", [](const wsx::http::request&, wsx::http::response& res) { res.body = "ok"; });
    srv.listen();
    CHECK_THROWS_AS(srv.websocket("/ws", wsx::endpoint{}), std::logic_error);
    CHECK(contains(logic_error_of([&] { srv.http("/ok", {}); }), "register routes before listen()/start()"));
    CHECK(contains(logic_error_of([&] { srv.http("/api/*", {}); }), "register routes before listen()/start()"));
    srv.start();
    CHECK_THROWS_AS(srv.websocket("/other", wsx::endpoint{}), std::logic_error);
    // What was registered still serves.
    auto c = open_client(srv.port());
    CHECK(c->round_trip("still here").payload == "still here");
    loopback_client h(srv.port());
    const auto res = h.request(loopback_client::get_request("/ok"));
    REQUIRE(res);
    CHECK(res->body == "ok");
}

TEST_CASE("server: run(n)/start(n) after listen() runs n threads; a user io_context runs one",
          "[server][misuse][threads]") {
    SECTION("start(2) after listen() serves on two threads") {
        std::mutex m;
        std::vector<std::thread::id> threads;
        wsx::server srv(test_options());
        srv.websocket("/ws", wsx::endpoint{.on_open = [&](wsx::connection&) {
            std::lock_guard lock{m};
            threads.push_back(std::this_thread::get_id());
        }});
        srv.listen();  // options.threads is 1 here
        srv.start(2);
        CHECK(srv.options().threads == 2);
        auto a = open_client(srv.port());
        auto b = open_client(srv.port());
        std::lock_guard lock{m};
        REQUIRE(threads.size() == 2);
        CHECK(threads[0] != threads[1]);  // connections go round the threads
    }
    SECTION("more than one thread on a user io_context is refused") {
        asio::io_context io;
        auto options = test_options();
        options.threads = 2;
        wsx::server many(io, options);
        CHECK_THROWS_AS(many.listen(), std::logic_error);
        CHECK(contains(logic_error_of([&] { many.start(); }), "your io_context"));
        wsx::server srv(io, test_options());
        CHECK_THROWS_AS(srv.start(3), std::logic_error);
        CHECK_NOTHROW(srv.start(1));
        CHECK(srv.options().threads == 1);
    }
}

TEST_CASE("server: an HTTP handler that throws answers 500 and is logged", "[server][log]") {
    log_journal logs;
    auto options = test_options();
    options.log = logs.hook();
    wsx::server srv(options);
    srv.http("/boom", [](const wsx::http::request&, wsx::http::response&) {
        throw std::runtime_error("the database is on fire");
    });
    srv.websocket("/ws", wsx::endpoint{.on_upgrade = [](wsx::upgrade_context&) {
        throw std::runtime_error("no upgrade today");
    }});
    srv.start();
    loopback_client c(srv.port());
    const auto res = c.request(loopback_client::get_request("/boom"));
    REQUIRE(res);
    CHECK(res->status == 500);
    REQUIRE(logs.wait_for("http"));
    const auto line = *logs.first("http");
    CHECK(line.level == wsx::log_level::error);
    CHECK(contains(line.message, "the database is on fire"));
    CHECK(contains(line.message, "GET /boom"));

    loopback_client u(srv.port());
    const auto up = u.upgrade("/ws");
    REQUIRE(up);
    CHECK(up->status == 500);
    REQUIRE(wait_until([&] {
        std::lock_guard lock{logs.m};
        return logs.lines.size() == 2;
    }));
    std::lock_guard lock{logs.m};
    CHECK(logs.lines[1].category == "http");
    CHECK(contains(logs.lines[1].message, "on_upgrade"));
    CHECK(contains(logs.lines[1].message, "no upgrade today"));
}

TEST_CASE("server: accept failing for want of descriptors is logged, and accepting goes on",
          "[server][log]") {
    log_journal logs;
    auto options = test_options();
    options.log = logs.hook();
    wsx::server srv(options);
    srv.http("/ok", [](const wsx::http::request&, wsx::http::response& res) { res.body = "ok"; });
    srv.start();

    // The client's socket exists before the limit drops: connecting needs no
    // new descriptor, accepting it does.
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.open(asio::ip::tcp::v4());
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    const int lowest_free = ::dup(sock.native_handle());
    REQUIRE(lowest_free >= 0);
    ::close(lowest_free);
    bool lowered = false, logged = false;
    std::error_code connect_error;
    {
        // Every new descriptor in this process fails with EMFILE until the
        // limit is restored. No assertion in here: UBSan's checks of a Catch
        // expression may need a descriptor (a pipe) themselves.
        struct restore {
            rlimit r;
            ~restore() { ::setrlimit(RLIMIT_NOFILE, &r); }
        } guard{saved};
        rlimit low = saved;
        low.rlim_cur = static_cast<rlim_t>(lowest_free);
        lowered = ::setrlimit(RLIMIT_NOFILE, &low) == 0;
        if (lowered) {
            sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()}, connect_error);
            logged = !connect_error && logs.wait_for("accept");
        }
    }
    REQUIRE(lowered);
    REQUIRE_FALSE(connect_error);
    CHECK(logged);
    const auto line = logs.first("accept");
    REQUIRE(line);
    CHECK(line->level == wsx::log_level::error);
    CHECK(contains(line->message, std::error_code(EMFILE, std::generic_category()).message()));
    // Descriptors are back: the connection that waited in the backlog is served.
    const std::string req = loopback_client::get_request("/ok");
    asio::write(sock, asio::buffer(req));
    std::string answer;
    std::array<char, 512> buf{};
    bool done = false;
    std::function<void()> read_more = [&] {
        sock.async_read_some(asio::buffer(buf), [&](std::error_code ec, std::size_t n) {
            answer.append(buf.data(), n);
            if (ec || contains(answer, "\r\n\r\nok")) done = true;
            else read_more();
        });
    };
    read_more();
    io.run_for(3s);
    CHECK(done);
    CHECK(answer.starts_with("HTTP/1.1 200"));
}

// SPDX-License-Identifier: BSL-1.0
// permessage-deflate end to end over loopback TCP: wsx's server negotiates it in the 101
// (include/wsx/server.hpp), wsx's client offers it and checks the answer
// (include/wsx/client.hpp), and messages flow compressed both ways.
#include <wsx/deflate.hpp>

#include <wsx/client.hpp>
#include <wsx/server.hpp>
#include <wsx/endpoints.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "catch.hpp"
#include "loopback_client.hpp"

using namespace std::chrono_literals;

namespace {

using wsx::test::run_until;

// Each wait covers a whole exchange with compression at both ends: 10 s
// leaves room on a loaded machine (the shared default is 5 s).
constexpr auto deadline = 10s;

std::string json(std::size_t n) {
    std::string s = "[";
    for (int i = 0; s.size() < n; ++i) s += "{\"id\":" + std::to_string(i) + ",\"v\":\"value\"},";
    s.back() = ']';
    return s;
}

struct echo_server {
    wsx::server server;
    explicit echo_server(wsx::deflate_options d)
        : server([&] {
              wsx::server_options o{.host = "127.0.0.1", .port = 0, .threads = 1};
              o.websocket.deflate = d;
              return o;
          }()) {
        server.websocket("/", wsx::endpoints::echo());
        server.start();
    }
    ~echo_server() {
        server.stop();
        server.join();
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(server.port()) + "/"; }
};

} // namespace

TEST_CASE("the 101 answers a permessage-deflate offer, and only when deflate is on") {
    echo_server on(wsx::permessage_deflate({.server_no_context_takeover = true}));
    echo_server off({});
    const wsx::http::fields offer = [] {
        wsx::http::fields h;
        h.add("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=10");
        return h;
    }();
    {
        wsx::test::loopback_client c(on.server.port());
        const auto res = c.request(c.upgrade_request("/", {}, offer));
        REQUIRE(res);
        CHECK(res->status == 101);
        CHECK(res->headers.get("Sec-WebSocket-Extensions") ==
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
    }
    {
        wsx::test::loopback_client c(off.server.port());
        const auto res = c.request(c.upgrade_request("/", {}, offer));
        REQUIRE(res);
        CHECK(res->status == 101);
        CHECK_FALSE(res->headers.contains("Sec-WebSocket-Extensions"));
    }
}

TEST_CASE("wsx client and server agree on permessage-deflate and echo compressed messages") {
    for (bool reset : {false, true}) {
        CAPTURE(reset);
        echo_server srv(wsx::permessage_deflate());
        asio::io_context io;
        wsx::client_options o;
        o.websocket.deflate = wsx::permessage_deflate(
            {.server_no_context_takeover = reset, .client_no_context_takeover = reset});
        wsx::client c(io, o);
        std::optional<std::error_code> connected;
        c.async_connect(srv.url(), [&](std::error_code ec) { connected = ec; });
        REQUIRE(run_until(io, [&] { return connected.has_value(); }, deadline));
        REQUIRE_FALSE(*connected);
        const auto conn = c.get_connection();
        REQUIRE(conn);
        CHECK(conn->deflate().enabled);
        CHECK(conn->deflate().send_no_context_takeover == reset);
        CHECK(conn->deflate().recv_no_context_takeover == reset);
        for (const std::string& m : {json(100000), std::string("small"), json(100000), std::string()}) {
            REQUIRE(c.send(wsx::opcode::text, m));
            std::optional<std::pair<std::error_code, wsx::received_message>> r;
            c.async_read([&](std::error_code ec, wsx::received_message msg) { r.emplace(ec, std::move(msg)); });
            REQUIRE(run_until(io, [&] { return r.has_value(); }, deadline));
            REQUIRE_FALSE(r->first);
            CHECK(r->second.payload == m);
        }
        // The client's inflater is there for the server's messages; without context
        // takeover neither side holds zlib state between messages.
        if (reset) CHECK(conn->deflate_memory() == 0);
        else CHECK(conn->deflate_memory() > 0);
        std::optional<std::error_code> closed;
        c.async_close(wsx::close_code::normal, "", [&](std::error_code ec) { closed = ec; });
        REQUIRE(run_until(io, [&] { return closed.has_value(); }, deadline));
    }
}

TEST_CASE("a client without deflate gets no extension from a deflate server") {
    echo_server srv(wsx::permessage_deflate());
    asio::io_context io;
    wsx::client c(io);
    std::optional<std::error_code> connected;
    c.async_connect(srv.url(), [&](std::error_code ec) { connected = ec; });
    REQUIRE(run_until(io, [&] { return connected.has_value(); }, deadline));
    REQUIRE_FALSE(*connected);
    CHECK_FALSE(c.get_connection()->deflate().enabled);
}

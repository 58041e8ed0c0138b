// SPDX-License-Identifier: BSL-1.0
// wsx::endpoint and wsx::upgrade_context (endpoint.hpp): the endpoint is a
// plain aggregate of handlers and settings, so this checks its defaults and
// designated initialization; upgrade_context is tested for what it exposes of
// the request and for reject().
#include "wsx/endpoint.hpp"

#include "catch.hpp"

#include <any>
#include <chrono>
#include <string>
#include <type_traits>

#include <asio/ip/address.hpp>

using namespace std::chrono_literals;

static_assert(std::is_aggregate_v<wsx::endpoint>);

namespace {
wsx::http::request make_request(std::string target) {
    wsx::http::request r;
    r.method = "GET";
    r.target = std::move(target);
    r.headers.add("Host", "example.com");
    r.headers.add("Sec-WebSocket-Protocol", "chat, superchat");
    r.headers.add("Authorization", "Bearer abc");
    return r;
}
} // namespace

TEST_CASE("a default endpoint has no handlers, no subprotocols, no streaming, no limits",
          "[endpoint]") {
    const wsx::endpoint e{};
    CHECK_FALSE(e.on_upgrade);
    CHECK_FALSE(e.on_open);
    CHECK_FALSE(e.on_message);
    CHECK_FALSE(e.on_close);
    CHECK_FALSE(e.on_drain);
    CHECK_FALSE(e.on_ping);
    CHECK_FALSE(e.on_pong);
    CHECK(e.subprotocols.empty());
    CHECK_FALSE(e.streaming);
    CHECK_FALSE(e.limits.has_value());
}

TEST_CASE("an endpoint takes designated initializers in connection order", "[endpoint]") {
    int upgrades = 0;
    const wsx::endpoint e{
        .on_upgrade = [&](wsx::upgrade_context&) { ++upgrades; },
        .on_open = [](wsx::connection&) {},
        .on_message = [](wsx::connection&, wsx::message) {},
        .on_close = [](wsx::connection&, wsx::close_code, std::string_view) {},
        .subprotocols = {"chat", "superchat"},
        .streaming = true,
        .limits = wsx::connection_options{.max_message_size = 4096, .idle_timeout = 30s},
    };
    CHECK(e.on_upgrade);
    CHECK(e.on_open);
    CHECK(e.on_message);
    CHECK(e.on_close);
    CHECK_FALSE(e.on_drain); // not named: still empty
    CHECK_FALSE(e.on_ping);
    CHECK_FALSE(e.on_pong);
    REQUIRE(e.subprotocols.size() == 2);
    CHECK(e.subprotocols[0] == "chat");
    CHECK(e.subprotocols[1] == "superchat");
    CHECK(e.streaming);
    REQUIRE(e.limits.has_value());
    CHECK(e.limits->max_message_size == 4096u);
    CHECK(e.limits->idle_timeout == 30s);
    CHECK(e.limits->close_timeout == 5s); // the rest of the limits keep their defaults

    // The stored on_upgrade is the one given.
    const auto req = make_request("/chat");
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("127.0.0.1"), 4242};
    wsx::upgrade_context ctx{req, remote};
    e.on_upgrade(ctx);
    CHECK(upgrades == 1);
}

TEST_CASE("upgrade_context exposes the request and the peer", "[endpoint][upgrade_context]") {
    const auto req = make_request("/chat/room?id=7&x=y");
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("192.0.2.10"), 51234};
    const wsx::upgrade_context ctx{req, remote};

    CHECK(&ctx.request() == &req);
    CHECK(ctx.path() == "/chat/room");
    CHECK(ctx.query() == "id=7&x=y");
    CHECK(ctx.header("Host") == "example.com");
    CHECK(ctx.header("authorization") == "Bearer abc"); // case-insensitive name
    CHECK(ctx.header("Sec-WebSocket-Protocol") == "chat, superchat");
    CHECK(ctx.header("X-Missing").empty());
    CHECK(ctx.remote_endpoint() == remote);
    CHECK(ctx.remote_endpoint().address().to_string() == "192.0.2.10");
    CHECK(ctx.remote_endpoint().port() == 51234);

    const auto no_query = make_request("/plain");
    const wsx::upgrade_context ctx2{no_query, remote};
    CHECK(ctx2.path() == "/plain");
    CHECK(ctx2.query().empty());
}

TEST_CASE("upgrade_context starts accepted with empty outputs", "[endpoint][upgrade_context]") {
    const auto req = make_request("/");
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("::1"), 1};
    const wsx::upgrade_context ctx{req, remote};
    CHECK_FALSE(ctx.rejected());
    CHECK(ctx.rejected_status() == 0);
    CHECK(ctx.rejected_message().empty());
    CHECK(ctx.subprotocol.empty());
    CHECK(ctx.user.empty());
    CHECK_FALSE(ctx.user_data.has_value());
    CHECK(ctx.response_headers.get("Set-Cookie").empty());
}

TEST_CASE("upgrade_context::reject records the status and message", "[endpoint][upgrade_context]") {
    const auto req = make_request("/private");
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("127.0.0.1"), 9};
    wsx::upgrade_context ctx{req, remote};

    std::string reason = "missing token";
    ctx.reject(401, reason);
    reason = "changed afterwards"; // reject copies the message
    CHECK(ctx.rejected());
    CHECK(ctx.rejected_status() == 401);
    CHECK(ctx.rejected_message() == "missing token");

    // A later reject replaces the earlier one.
    ctx.reject(403, "forbidden");
    CHECK(ctx.rejected());
    CHECK(ctx.rejected_status() == 403);
    CHECK(ctx.rejected_message() == "forbidden");
}

TEST_CASE("upgrade_context outputs are writable by the hook", "[endpoint][upgrade_context]") {
    const auto req = make_request("/chat");
    const asio::ip::tcp::endpoint remote{asio::ip::make_address("127.0.0.1"), 9};
    wsx::upgrade_context ctx{req, remote};
    const wsx::endpoint e{.on_upgrade = [](wsx::upgrade_context& c) {
        c.subprotocol = "superchat";
        c.user = std::string{c.header("Authorization").substr(7)};
        c.user_data = 42;
        c.response_headers.add("Set-Cookie", "s=1");
    }};
    e.on_upgrade(ctx);
    CHECK_FALSE(ctx.rejected());
    CHECK(ctx.subprotocol == "superchat");
    CHECK(ctx.user == "abc");
    REQUIRE(ctx.user_data.has_value());
    CHECK(std::any_cast<int>(ctx.user_data) == 42);
    CHECK(ctx.response_headers.get("Set-Cookie") == "s=1");
}

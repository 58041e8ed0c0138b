// SPDX-License-Identifier: BSL-1.0
// wsx options (options.hpp): every default that README.md's "Options and
// limits" table documents, the other defaults of server_options,
// connection_options and deflate_options, and that all three stay aggregates
// usable with designated initializers.
#include "wsx/options.hpp"

#include "catch.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

using namespace std::chrono_literals;

static_assert(std::is_aggregate_v<wsx::server_options>);
static_assert(std::is_aggregate_v<wsx::connection_options>);
static_assert(std::is_aggregate_v<wsx::deflate_options>);
static_assert(std::is_aggregate_v<wsx::http::parser_limits>);

TEST_CASE("server_options defaults match README's Options and limits table", "[options]") {
    const wsx::server_options o{};
    {
        INFO("server_options::handshake_timeout: 10 s");
        CHECK(o.handshake_timeout == 10s);
    }
    {
        INFO("server_options::http_limits.max_start_line: 8 KiB");
        CHECK(o.http_limits.max_start_line == 8u * 1024u);
    }
    {
        INFO("server_options::http_limits.max_header_bytes: 16 KiB");
        CHECK(o.http_limits.max_header_bytes == 16u * 1024u);
    }
    {
        INFO("server_options::http_limits.max_header_count: 100");
        CHECK(o.http_limits.max_header_count == 100u);
    }
    {
        INFO("server_options::http_limits.max_body_size: 1 MiB");
        CHECK(o.http_limits.max_body_size == 1024u * 1024u);
    }
    {
        INFO("server_options::stop_timeout: 5 s");
        CHECK(o.stop_timeout == 5s);
    }
    {
        INFO("server_options::timer_resolution: 250 ms");
        CHECK(o.timer_resolution == 250ms);
    }
}

TEST_CASE("connection_options defaults match README's Options and limits table", "[options]") {
    // Checked both standalone and as server_options::websocket, which the README
    // says holds the WebSocket limits.
    const wsx::connection_options standalone{};
    const wsx::server_options server{};
    for (const wsx::connection_options* c : {&standalone, &server.websocket}) {
        {
            INFO("connection_options::max_message_size: 16 MiB");
            CHECK(c->max_message_size == 16ull * 1024 * 1024);
        }
        {
            INFO("connection_options::max_buffered_bytes: 16 MiB");
            CHECK(c->max_buffered_bytes == 16u * 1024u * 1024u);
        }
        {
            INFO("connection_options::on_backpressure: close");
            CHECK(c->on_backpressure == wsx::backpressure_policy::close);
        }
        {
            INFO("connection_options::idle_timeout: 120 s");
            CHECK(c->idle_timeout == 120s);
        }
        {
            INFO("connection_options::close_timeout: 5 s");
            CHECK(c->close_timeout == 5s);
        }
    }
}

TEST_CASE("server_options defaults not in the README table (from options.hpp)", "[options]") {
    const wsx::server_options o{};
    CHECK(o.host == "0.0.0.0");
    CHECK(o.port == 9001);
    CHECK(o.threads == 1u);
    CHECK(o.listen_backlog == 1024);
    // The default connection_options nested in a default server_options: compression off.
    CHECK_FALSE(o.websocket.deflate.enabled());
}

TEST_CASE("deflate_options defaults: off, RFC 7692 maximum windows, zlib defaults", "[options]") {
    const wsx::deflate_options d{};
    CHECK(d.codec == nullptr);
    CHECK_FALSE(d.enabled());
    CHECK_FALSE(d.server_no_context_takeover);
    CHECK_FALSE(d.client_no_context_takeover);
    CHECK(d.server_max_window_bits == 15);
    CHECK(d.client_max_window_bits == 15);
    CHECK(d.mem_level == 8);
    CHECK(d.level == 6);
    CHECK(d.threshold == 256u);
}

TEST_CASE("deflate_options::preferences carries the negotiation fields", "[options]") {
    const wsx::deflate_options d{.server_no_context_takeover = true,
                                 .client_no_context_takeover = false,
                                 .server_max_window_bits = 10,
                                 .client_max_window_bits = 12};
    const wsx::http::permessage_deflate_preferences p = d.preferences();
    CHECK(p.server_no_context_takeover);
    CHECK_FALSE(p.client_no_context_takeover);
    CHECK(p.server_max_window_bits == 10);
    CHECK(p.client_max_window_bits == 12);

    const auto defaults = wsx::deflate_options{}.preferences();
    CHECK_FALSE(defaults.server_no_context_takeover);
    CHECK_FALSE(defaults.client_no_context_takeover);
    CHECK(defaults.server_max_window_bits == 15);
    CHECK(defaults.client_max_window_bits == 15);
}

TEST_CASE("options take designated initializers, leaving the rest at default", "[options]") {
    const wsx::server_options o{.port = 0,
                                .threads = 4,
                                .stop_timeout = 1s,
                                .http_limits = {.max_body_size = 4096},
                                .websocket = {.max_message_size = 1024,
                                              .on_backpressure = wsx::backpressure_policy::drop,
                                              .idle_timeout = 0ms}};
    CHECK(o.port == 0);
    CHECK(o.threads == 4u);
    CHECK(o.stop_timeout == 1s);
    CHECK(o.http_limits.max_body_size == 4096u);
    CHECK(o.websocket.max_message_size == 1024u);
    CHECK(o.websocket.on_backpressure == wsx::backpressure_policy::drop);
    CHECK(o.websocket.idle_timeout == 0ms);
    // Not named: still the defaults.
    CHECK(o.host == "0.0.0.0");
    CHECK(o.handshake_timeout == 10s);
    CHECK(o.timer_resolution == 250ms);
    CHECK(o.http_limits.max_start_line == 8u * 1024u);
    CHECK(o.http_limits.max_header_count == 100u);
    CHECK(o.websocket.max_buffered_bytes == 16u * 1024u * 1024u);
    CHECK(o.websocket.close_timeout == 5s);
    CHECK(o.websocket.deflate.threshold == 256u);
}

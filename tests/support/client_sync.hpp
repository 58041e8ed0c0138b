// SPDX-License-Identifier: BSL-1.0
#pragma once
// Blocking wrappers over wsx::basic_client's asynchronous API, for tests that
// are not about the completion styles: each starts the operation, runs the
// client's io_context on this thread until it completes (run_until in
// loopback_client.hpp), and fails the test (REQUIRE) when it does not within
// `timeout`. Works for any transport (wsx::client, wsx::tls_client...).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <asio/io_context.hpp>

#include <wsx/client.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"

namespace wsx::test {

template <class Client>
std::error_code connect_sync(asio::io_context& io, Client& c, const std::string& url,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<std::error_code> r;
    c.async_connect(url, [&](std::error_code ec) { r = ec; });
    REQUIRE(run_until(io, [&] { return r.has_value(); }, timeout));
    return *r;
}

template <class Client>
std::pair<std::error_code, received_message> read_sync(asio::io_context& io, Client& c,
                                                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<std::pair<std::error_code, received_message>> r;
    c.async_read([&](std::error_code ec, received_message m) { r.emplace(ec, std::move(m)); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }, timeout));
    return std::move(*r);
}

template <class Client>
std::error_code send_sync(asio::io_context& io, Client& c, opcode type, std::string_view payload,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<std::error_code> r;
    c.async_send(type, payload, [&](std::error_code ec) { r = ec; });
    REQUIRE(run_until(io, [&] { return r.has_value(); }, timeout));
    return *r;
}

template <class Client>
std::error_code close_sync(asio::io_context& io, Client& c, close_code code, std::string_view reason = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::optional<std::error_code> r;
    c.async_close(code, reason, [&](std::error_code ec) { r = ec; });
    REQUIRE(run_until(io, [&] { return r.has_value(); }, timeout));
    return *r;
}

} // namespace wsx::test

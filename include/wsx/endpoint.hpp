// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::endpoint: the behaviour of one WebSocket path, as a set of handlers.
//
// Handlers run on the connection's I/O thread, one at a time per connection.
// They must not block: post long work elsewhere and send() the result later
// (send is safe from any thread).
#include <any>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/ip/tcp.hpp>

#include <wsx/http/fields.hpp>
#include <wsx/http/message.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/protocol/close_code.hpp>

namespace wsx {

class connection;

// What the on_upgrade hook sees and decides, before the 101 response is sent.
class upgrade_context {
public:
    upgrade_context(const http::request& request, const asio::ip::tcp::endpoint& remote)
        : request_(request), remote_(remote) {}

    const http::request& request() const noexcept { return request_; }
    std::string_view path() const noexcept { return request_.path(); }
    std::string_view query() const noexcept { return request_.query(); }
    std::string_view header(std::string_view name) const noexcept {
        return request_.headers.get(name);
    }
    const asio::ip::tcp::endpoint& remote_endpoint() const noexcept { return remote_; }

    // Refuse the upgrade with an HTTP status (401, 403, ...) and a short message
    // that becomes the response body.
    void reject(int status, std::string_view message) {
        rejected_status_ = status;
        rejected_message_ = message;
    }
    bool rejected() const noexcept { return rejected_status_ != 0; }
    int rejected_status() const noexcept { return rejected_status_; }
    const std::string& rejected_message() const noexcept { return rejected_message_; }

    // The subprotocol chosen from the endpoint's list; the hook may override it
    // with another one the client offered, or clear it.
    std::string subprotocol;
    // Identifies the user behind the connection (for example taken from a
    // token); the registry can target all connections of one user.
    std::string user;
    // Anything else the application wants to keep on the connection.
    std::any user_data;
    // Extra headers for the 101 response (Set-Cookie, ...).
    http::fields response_headers;

private:
    const http::request& request_;
    const asio::ip::tcp::endpoint& remote_;
    int rejected_status_ = 0;
    std::string rejected_message_;
};

// Declared in the order a connection meets them, so designated initializers
// read naturally: {.on_open = ..., .on_message = ..., .on_close = ...}.
struct endpoint {
    std::function<void(upgrade_context&)> on_upgrade{};
    std::function<void(connection&)> on_open{};
    std::function<void(connection&, message)> on_message{};
    // Called once, when the connection is finished. The code is the one the
    // peer sent in its close frame; if it sent none, the code wsx closed with
    // (1002, 1007, 1009 ... when the peer broke a rule), else 1006 (abnormal).
    std::function<void(connection&, close_code, std::string_view reason)> on_close{};
    // Everything sent so far has been handed to the socket: a producer pacing
    // itself on buffered_amount() sends its next batch here.
    std::function<void(connection&)> on_drain{};
    std::function<void(connection&, std::string_view payload)> on_ping{};
    std::function<void(connection&, std::string_view payload)> on_pong{};
    // Subprotocols this endpoint speaks, in order of preference.
    std::vector<std::string> subprotocols{};
    // Hand large messages to on_message piece by piece as frames arrive
    // (message::is_final() marks the last piece) instead of buffering them.
    bool streaming = false;
    // Limits for this endpoint; the server's options.websocket when empty.
    std::optional<connection_options> limits{};
};

} // namespace wsx

// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::typed_endpoint<State>: an endpoint whose handlers receive, with the
// connection, a State of the application's own type made for that connection:
//
//   struct session { std::string name; int messages = 0; };
//   srv.websocket<session>("/chat", {
//       .on_message = [](wsx::connection& c, session& s, wsx::message m) { ++s.messages; },
//   });
//
// The State is constructed when the connection opens, before on_open, and
// destroyed when it closes, right after on_close: exactly once per connection,
// and never for an upgrade that was refused (by on_upgrade or by the handshake
// rules), since no connection opens then. It is made from the connection when
// State(connection&) exists (it can read what on_upgrade left in user_data()),
// else default-constructed. If its constructor throws, the connection fails
// with 1011 and none of these handlers runs for it.
//
// Threading: as for endpoint, every handler runs on the connection's I/O
// thread, so the State needs no lock for what only its handlers touch.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <wsx/connection.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/protocol/close_code.hpp>

namespace wsx {

// The members of endpoint, in the same order, with a State& after the connection.
template <class State>
struct typed_endpoint {
    static_assert(std::is_object_v<State> && !std::is_const_v<State>,
                  "wsx::typed_endpoint<State>: State is the type of the per-connection object");
    static_assert(std::is_constructible_v<State, connection&> || std::is_default_constructible_v<State>,
                  "wsx::typed_endpoint<State>: State needs a constructor State(wsx::connection&) "
                  "or a default constructor");

    std::function<void(upgrade_context&)> on_upgrade{};
    std::function<void(connection&, State&)> on_open{};
    std::function<void(connection&, State&, message)> on_message{};
    std::function<void(connection&, State&, close_code, std::string_view reason)> on_close{};
    std::function<void(connection&, State&)> on_drain{};
    std::function<void(connection&, State&, std::string_view payload)> on_ping{};
    std::function<void(connection&, State&, std::string_view payload)> on_pong{};
    std::vector<std::string> subprotocols{};
    bool streaming = false;
    std::optional<connection_options> limits{};

    // The untyped endpoint that makes, hands out and destroys the State.
    endpoint to_endpoint() && {
        auto h = std::make_shared<const typed_endpoint>(std::move(*this));
        endpoint ep;
        ep.on_upgrade = h->on_upgrade;
        ep.subprotocols = h->subprotocols;
        ep.streaming = h->streaming;
        ep.limits = h->limits;
        ep.on_open = [h](connection& c) {
            std::shared_ptr<void>& slot = c.adapter_state(detail::adapter_key{});
            if constexpr (std::is_constructible_v<State, connection&>) slot = std::make_shared<State>(c);
            else slot = std::make_shared<State>();
            if (h->on_open) h->on_open(c, *state_of(c));
        };
        // Each handler below runs only while the State exists.
        if (h->on_message)
            ep.on_message = [h](connection& c, message m) {
                if (State* s = state_of(c)) h->on_message(c, *s, m);
            };
        // Always set: it destroys the State, even when on_close throws.
        ep.on_close = [h](connection& c, close_code code, std::string_view reason) {
            std::shared_ptr<void> held = std::move(c.adapter_state(detail::adapter_key{}));
            if (held && h->on_close) h->on_close(c, *static_cast<State*>(held.get()), code, reason);
        };
        if (h->on_drain)
            ep.on_drain = [h](connection& c) {
                if (State* s = state_of(c)) h->on_drain(c, *s);
            };
        if (h->on_ping)
            ep.on_ping = [h](connection& c, std::string_view p) {
                if (State* s = state_of(c)) h->on_ping(c, *s, p);
            };
        if (h->on_pong)
            ep.on_pong = [h](connection& c, std::string_view p) {
                if (State* s = state_of(c)) h->on_pong(c, *s, p);
            };
        return ep;
    }

    // The State of a connection opened by this endpoint (nullptr before it is
    // made or after it is destroyed). I/O thread.
    static State* state_of(connection& c) noexcept {
        return static_cast<State*>(c.adapter_state(detail::adapter_key{}).get());
    }
};

} // namespace wsx

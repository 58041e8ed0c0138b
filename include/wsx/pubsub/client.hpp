// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::pubsub::resuming_client — a wsx.pubsub.v1 client over wsx::client that
// reconnects by itself (exponential backoff with jitter) and resumes every
// topic from the last epoch and offset it delivered, so the application sees
// each message once and in order, or is told (on_reset) that some are gone.
//
//     asio::io_context io;
//     wsx::pubsub::resuming_client feed(io, "ws://127.0.0.1:9002/pubsub", {
//         .on_message = [](std::string_view topic, const wsx::pubsub::position& p, std::string_view json) {...},
//         .on_reset = [](std::string_view topic, const wsx::pubsub::position& p) { /* reload */ }});
//     feed.subscribe("orders");
//     feed.start();
//     io.run();
//
// Threading: use it on its io_context's thread (handlers run there); from
// another thread, post to io.get_executor(). Destroy it before its io_context.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <wsx/backplane/backoff.hpp>
#include <wsx/client.hpp>
#include <wsx/pubsub/protocol.hpp>
#include <wsx/pubsub/session.hpp>

namespace wsx::pubsub {

struct resuming_client_handlers {
    // A message, in order, once: `json` is its data.
    std::function<void(std::string_view topic, const position&, std::string_view json)> on_message{};
    // The server could not replay what this client missed of `topic` (its
    // history no longer reaches back, or another epoch): resynchronise; live
    // messages follow from `newest`.
    std::function<void(std::string_view topic, const position& newest)> on_reset{};
    // "connecting", "connected", "reconnecting in N ms", "stopped"; and the
    // server's error answers as "error: ...".
    std::function<void(std::string_view)> on_status{};
};

struct resuming_client_options {
    client_options client{};
    std::chrono::milliseconds min_delay{250};   // the first reconnection delay
    std::chrono::milliseconds max_delay{10000}; // the cap (with jitter: half to all of it)
};

class resuming_client {
public:
    resuming_client(asio::io_context& io, std::string url, resuming_client_handlers handlers,
                    resuming_client_options options = {})
        : state_(std::make_shared<state>(io, std::move(url), std::move(handlers), std::move(options))) {}
    ~resuming_client() { stop(); }
    resuming_client(const resuming_client&) = delete;
    resuming_client& operator=(const resuming_client&) = delete;

    // Follows `topic` (from `since` when given, e.g. a position stored
    // earlier); takes effect at once when connected, else on connection.
    void subscribe(std::string_view topic, std::optional<position> since = std::nullopt) {
        const std::string op = state_->session.subscribe(topic, std::move(since));
        state_->client.send(op);
    }
    void unsubscribe(std::string_view topic) { state_->client.send(state_->session.unsubscribe(topic)); }
    // Sends a publish when connected (the server's hook must allow it);
    // false when not connected. The acknowledgement is not waited for.
    bool publish(std::string_view topic, std::string_view json) {
        return state_->client.send(client_session::publish(topic, json));
    }

    void start() { state::connect(state_); }
    // Closes the connection and stops reconnecting.
    void stop() {
        state_->stopped = true;
        state_->timer.cancel();
        state_->client.close(close_code::going_away);
    }

    std::optional<position> position_of(std::string_view topic) const { return state_->session.position_of(topic); }
    bool is_open() const { return state_->client.is_open(); }
    // The connection now (for tests and listings), or nullptr.
    std::shared_ptr<connection> get_connection() const { return state_->client.get_connection(); }

private:
    // Shared with the handlers, which may run after the resuming_client is gone.
    struct state {
        state(asio::io_context& io, std::string u, resuming_client_handlers h, resuming_client_options o)
            : url(std::move(u)), handlers(std::move(h)), options(std::move(o)),
              client(io, endpoint{}, with_protocol(options.client)), timer(io),
              retry(options.min_delay, options.max_delay), rng(std::random_device{}()) {}

        static client_options with_protocol(client_options o) {
            o.subprotocols = {std::string{subprotocol}};
            return o;
        }

        void status(std::string_view s) const {
            if (handlers.on_status) handlers.on_status(s);
        }

        static void connect(const std::shared_ptr<state>& self) {
            if (self->stopped) return;
            self->status("connecting");
            // Handlers hold a weak pointer: the client (in the state) must not keep the state alive.
            std::weak_ptr<state> weak = self;
            self->client = wsx::client(self->client.get_executor().context(),
                                       endpoint{.on_open = [weak](connection& c) {
                                                    if (auto s = weak.lock()) s->opened(c);
                                                },
                                                .on_message = [weak](connection& c, message m) {
                                                    if (auto s = weak.lock()) s->received(c, m);
                                                },
                                                .on_close = [weak](connection&, close_code, std::string_view) {
                                                    if (auto s = weak.lock()) s->schedule(s);
                                                }},
                                       with_protocol(self->options.client));
            self->client.async_connect(self->url, [weak](std::error_code ec) {
                auto s = weak.lock();
                if (s && ec) s->schedule(s);
            });
        }

        void opened(connection& c) {
            retry.reset();
            status("connected");
            for (const auto& op : session.on_open()) c.send(op);
        }

        void received(connection& c, const message& m) {
            if (!m.is_text()) return;
            const client_event ev = session.on_text(m.text());
            if (!ev.reply.empty()) c.send(ev.reply);
            switch (ev.what) {
            case client_event::kind::message:
                if (handlers.on_message) handlers.on_message(ev.topic, ev.pos, ev.data);
                break;
            case client_event::kind::reset:
                if (handlers.on_reset) handlers.on_reset(ev.topic, ev.pos);
                break;
            case client_event::kind::error: status("error: " + ev.error); break;
            default: break;
            }
        }

        // After a failed attempt or a lost connection: once per loss.
        void schedule(const std::shared_ptr<state>& self) {
            if (stopped || waiting) return;
            waiting = true;
            const auto delay = retry.next(rng);
            status("reconnecting in " + std::to_string(delay.count()) + " ms");
            timer.expires_after(delay);
            timer.async_wait([weak = std::weak_ptr<state>(self)](std::error_code ec) {
                auto s = weak.lock();
                if (!s || ec) return;
                s->waiting = false;
                connect(s);
            });
        }

        const std::string url;
        const resuming_client_handlers handlers;
        const resuming_client_options options;
        client_session session;
        wsx::client client;
        asio::steady_timer timer;
        backplane::backoff retry;
        std::mt19937 rng;
        bool stopped = false;
        bool waiting = false;
    };

    std::shared_ptr<state> state_;
};

} // namespace wsx::pubsub

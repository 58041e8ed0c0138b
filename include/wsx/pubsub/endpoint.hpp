// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::endpoints::pubsub — serves wsx.pubsub.v1 (wsx/pubsub/protocol.hpp)
// over a wsx::pubsub::topics:
//
//     wsx::registry reg;
//     wsx::pubsub::topics topics(reg);
//     server.websocket("/pubsub", wsx::endpoints::pubsub(topics, {
//         .authorize = [](wsx::connection& c, wsx::pubsub::access a, std::string_view topic) {
//             return a == wsx::pubsub::access::subscribe || c.user() == "admin";
//         }}));
//
// Bad input (not JSON, an unknown op, a missing, empty or over-long topic, a
// topic the hook refuses, too many subscriptions, a binary message) is answered
// with {"op":"error",...} and the connection stays open; only what RFC 6455
// forbids (invalid UTF-8, protocol violations) closes it.
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <wsx/connection.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/pubsub/protocol.hpp>
#include <wsx/pubsub/topics.hpp>

namespace wsx::pubsub {

enum class access : std::uint8_t { subscribe, publish };

struct endpoint_options {
    // Decides whether connection `c` may subscribe to, or publish on, a topic.
    // c.user() is what the upgrade hook set. Runs on the connection's thread.
    // Without it: any topic may be subscribed to, and clients may not publish
    // (the application publishes, through topics::publish or the REST route).
    std::function<bool(connection& c, access what, std::string_view topic)> authorize{};
    // Topics one connection may be subscribed to at once: each costs a group
    // membership and a replay, so a client cannot make the server hold
    // unbounded state for it.
    std::size_t max_subscriptions = 100;
    protocol_limits limits{};
};

} // namespace wsx::pubsub

namespace wsx::endpoints {

// The topics (and their registry) must outlive the server.
inline endpoint pubsub(pubsub::topics& topics, pubsub::endpoint_options options = {}) {
    // Which topics each open connection subscribes to (to bound them, and to
    // let topics forget unused names when it leaves).
    struct state {
        state(pubsub::topics& t, pubsub::endpoint_options o) : topics(t), options(std::move(o)) {}
        pubsub::topics& topics;
        const pubsub::endpoint_options options;
        std::mutex mutex;
        std::unordered_map<std::string, std::set<std::string, std::less<>>> subscriptions;
    };
    auto s = std::make_shared<state>(topics, std::move(options));

    endpoint ep;
    ep.subprotocols = {std::string{pubsub::subprotocol}};
    ep.on_message = [s](connection& c, message m) {
        auto reply_error = [&c](std::string_view topic, std::string_view what) {
            c.send(prepared_message::text(pubsub::error_json(topic, what)));
        };
        if (!m.is_text()) return reply_error({}, "binary messages are not part of wsx.pubsub.v1; send JSON text");
        const pubsub::parse_result parsed = pubsub::parse_request(m.text(), s->options.limits);
        if (!parsed) return reply_error(parsed.topic, parsed.error);
        const pubsub::request& r = *parsed.req;
        const auto allowed = [&](pubsub::access a) {
            if (s->options.authorize) return s->options.authorize(c, a, r.topic);
            return a == pubsub::access::subscribe;
        };
        switch (r.op) {
        case pubsub::op::subscribe: {
            if (!allowed(pubsub::access::subscribe)) return reply_error(r.topic, "not allowed to subscribe to this topic");
            {
                std::lock_guard lock(s->mutex);
                auto& mine = s->subscriptions[std::string{c.id()}];
                if (!mine.contains(r.topic) && mine.size() >= s->options.max_subscriptions)
                    return reply_error(r.topic, "too many subscriptions (at most " +
                                                    std::to_string(s->options.max_subscriptions) + ")");
                mine.insert(r.topic);
            }
            s->topics.subscribe(c, r.topic, r.since);
            return;
        }
        case pubsub::op::unsubscribe: {
            {
                std::lock_guard lock(s->mutex);
                if (auto it = s->subscriptions.find(std::string{c.id()}); it != s->subscriptions.end()) {
                    if (auto t = it->second.find(r.topic); t != it->second.end()) it->second.erase(t);
                }
            }
            s->topics.unsubscribe(c, r.topic);
            c.send(prepared_message::text(pubsub::unsubscribed_json(r.topic)));
            return;
        }
        case pubsub::op::publish: {
            if (!allowed(pubsub::access::publish)) return reply_error(r.topic, "not allowed to publish on this topic");
            try {
                const auto p = s->topics.publish_valid(r.topic, r.data);
                c.send(prepared_message::text(pubsub::published_json(r.topic, p.pos)));
            } catch (const std::runtime_error& e) {  // a store (Redis) that could not answer
                reply_error(r.topic, e.what());
            }
            return;
        }
        }
    };
    ep.on_close = [s](connection& c, close_code, std::string_view) {
        std::set<std::string, std::less<>> mine;
        {
            std::lock_guard lock(s->mutex);
            auto it = s->subscriptions.find(std::string{c.id()});
            if (it == s->subscriptions.end()) return;
            mine = std::move(it->second);
            s->subscriptions.erase(it);
        }
        // The registry removed it from its groups before this handler ran.
        for (const auto& topic : mine) s->topics.forget_if_unused(topic);
    };
    return topics.get_registry().track(std::move(ep));
}

} // namespace wsx::endpoints

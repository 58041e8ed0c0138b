// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::pubsub::client_session — the client's side of wsx.pubsub.v1, sans-I/O:
// which topics it follows and the last position it delivered of each, what to
// send when a connection opens (a subscribe with since per topic), and what
// each server message means. wsx/pubsub/client.hpp drives it over a socket;
// a test drives it with strings.
//
// Its promise: every message is delivered once, in offset order, across any
// number of reconnections. A repeated offset is ignored; a skipped one (the
// server dropped messages for this client) is not delivered: the session asks
// for a replay from the last offset it delivered. When the server cannot
// replay (recovered:false), the event says so, and the application
// resynchronises from its own source.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <wsx/detail/json.hpp>
#include <wsx/pubsub/protocol.hpp>

namespace wsx::pubsub {

// What one server message means for the application.
struct client_event {
    enum class kind : std::uint8_t {
        message,     // deliver `data` (JSON) of `topic` at `pos`
        subscribed,  // `pos` is the newest; `recovered` as the server said
        reset,       // subscribed, but the missed messages are gone (recovered:false): resynchronise
        published,   // an acknowledgement of a publish, at `pos`
        error,       // `error` (and `topic` when the server named one)
        ignored,     // nothing to do (a duplicate, another epoch before "subscribed", a gap being repaired)
    };
    kind what = kind::ignored;
    std::string topic;
    position pos;
    std::string data;
    std::string error;
    std::optional<bool> recovered;
    // To send to the server now (a subscribe that asks for a replay), or empty.
    std::string reply;
};

class client_session {
public:
    // Follows `topic` from `since` (or from now). Returns the op to send when
    // a connection is open.
    std::string subscribe(std::string_view topic, std::optional<position> since = std::nullopt) {
        auto& t = topics_[std::string{topic}];
        t = topic_state{};
        if (since) t.pos = std::move(since);
        return subscribe_op(topic, t);
    }

    std::string unsubscribe(std::string_view topic) {
        if (auto it = topics_.find(topic); it != topics_.end()) topics_.erase(it);
        std::string op = R"({"op":"unsubscribe","topic":)";
        wsx::detail::append_json_string(op, topic);
        return op + "}";
    }

    static std::string publish(std::string_view topic, std::string_view json) {
        std::string op = R"({"op":"publish","topic":)";
        wsx::detail::append_json_string(op, topic);
        op += R"(,"data":)";
        op += json;
        return op + "}";
    }

    // The ops to send once a connection opens: one subscribe per topic,
    // resuming from the last position delivered.
    std::vector<std::string> on_open() {
        std::vector<std::string> out;
        for (auto& [name, t] : topics_) {
            t.resyncing = false;
            out.push_back(subscribe_op(name, t));
        }
        return out;
    }

    // The last position delivered (or learnt from "subscribed") of `topic`.
    std::optional<position> position_of(std::string_view topic) const {
        auto it = topics_.find(topic);
        return it == topics_.end() ? std::nullopt : it->second.pos;
    }

    client_event on_text(std::string_view text) {
        client_event ev;
        thread_local simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (parser.parse(text.data(), text.size()).get(doc) || !doc.is_object()) {
            ev.what = client_event::kind::error;
            ev.error = "the server sent something that is not a JSON object";
            return ev;
        }
        std::string_view op, s;
        if (doc["op"].get(op)) op = {};
        if (!doc["topic"].get(s)) ev.topic = s;
        if (!doc["epoch"].get(s)) ev.pos.epoch = s;
        if (doc["offset"].get(ev.pos.offset)) ev.pos.offset = 0;
        auto it = topics_.find(ev.topic);
        if (op == "message") {
            if (it == topics_.end()) return ev;
            topic_state& t = it->second;
            if (t.pos && t.pos->epoch == ev.pos.epoch) {
                if (ev.pos.offset <= t.pos->offset) return ev;  // already delivered
                if (ev.pos.offset > t.pos->offset + 1) {        // a gap: ask for a replay, once
                    if (!t.resyncing) {
                        t.resyncing = true;
                        ev.reply = subscribe_op(ev.topic, t);
                    }
                    return ev;
                }
            } else if (t.pos) {
                return ev;  // another epoch: "subscribed" will say what happened
            }
            simdjson::dom::element data;
            if (doc["data"].get(data)) return ev;
            ev.data = simdjson::minify(data);
            t.pos = ev.pos;
            ev.what = client_event::kind::message;
            return ev;
        }
        if (op == "subscribed") {
            bool recovered = false;
            if (!doc["recovered"].get(recovered)) ev.recovered = recovered;
            if (it == topics_.end()) return ev;
            it->second.resyncing = false;
            it->second.pos = ev.pos;
            ev.what = ev.recovered == false ? client_event::kind::reset : client_event::kind::subscribed;
            return ev;
        }
        if (op == "published") {
            ev.what = client_event::kind::published;
            return ev;
        }
        if (op == "error") {
            ev.what = client_event::kind::error;
            if (!doc["error"].get(s)) ev.error = s;
            return ev;
        }
        return ev;  // "unsubscribed", or an op of a later version
    }

private:
    struct topic_state {
        std::optional<position> pos;
        bool resyncing = false;
    };

    static std::string subscribe_op(std::string_view topic, const topic_state& t) {
        std::string op = R"({"op":"subscribe","topic":)";
        wsx::detail::append_json_string(op, topic);
        if (t.pos) {
            op += R"(,"since":{"epoch":)";
            wsx::detail::append_json_string(op, t.pos->epoch);
            op += R"(,"offset":)" + std::to_string(t.pos->offset) + "}";
        }
        return op + "}";
    }

    std::map<std::string, topic_state, std::less<>> topics_;
};

} // namespace wsx::pubsub

// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx.pubsub.v1, sans-I/O: what a client may ask (parse_request) and the JSON
// the server answers with (the *_json writers). No socket, no registry: the
// endpoint (wsx/pubsub/endpoint.hpp) feeds text in and sends what comes out.
//
// Client to server, one JSON object per text message:
//   {"op":"subscribe","topic":"T"}
//   {"op":"subscribe","topic":"T","since":{"epoch":"E","offset":K}}
//   {"op":"unsubscribe","topic":"T"}
//   {"op":"publish","topic":"T","data":<any JSON value>}
// Server to client:
//   {"op":"subscribed","topic":"T","epoch":"E","offset":N[,"recovered":true|false]}
//   {"op":"unsubscribed","topic":"T"}
//   {"op":"published","topic":"T","epoch":"E","offset":N}
//   {"op":"message","topic":"T","epoch":"E","offset":N,"data":<JSON>}
//   {"op":"error"[,"topic":"T"],"error":"what was wrong"}
// Offsets start at 1 and grow by exactly 1 per message of a topic within an
// epoch; an epoch names one unbroken sequence of offsets (a new one starts
// when the history that assigned them is lost).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include <wsx/detail/json.hpp>

namespace wsx::pubsub {

inline constexpr std::string_view subprotocol = "wsx.pubsub.v1";

// Where a message sits in its topic: epoch and offset.
struct position {
    std::string epoch;
    std::uint64_t offset = 0;
    friend bool operator==(const position&, const position&) = default;
};

enum class op : std::uint8_t { subscribe, unsubscribe, publish };

struct request {
    pubsub::op op = op::subscribe;
    std::string topic;
    std::optional<position> since;  // subscribe only
    std::string data;               // publish only: the value as compact JSON
};

// What parse_request made of a message: a request, or the error to answer
// with (and the topic, when the message named one, for the answer).
struct parse_result {
    std::optional<request> req;
    std::string error;
    std::string topic;
    explicit operator bool() const noexcept { return req.has_value(); }
};

struct protocol_limits {
    // Topics are names, not payloads: 256 bytes holds any sensible
    // "tenant/feed/instrument" path and keeps a listing readable.
    std::size_t max_topic_size = 256;
};

// Validates one client message. Never throws; each refusal says what was wrong.
inline parse_result parse_request(std::string_view text, const protocol_limits& limits = {}) {
    parse_result out;
    // One parser per thread: it keeps its buffers between messages.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(text.data(), text.size()).get(doc)) {
        out.error = "not JSON";
        return out;
    }
    simdjson::dom::object obj;
    if (doc.get(obj)) {
        out.error = R"(not a JSON object like {"op":"subscribe","topic":"T"})";
        return out;
    }
    std::string_view topic;
    simdjson::dom::element field;
    const bool has_topic = !obj["topic"].get(field);
    if (has_topic && !field.get(topic)) out.topic.assign(topic.substr(0, limits.max_topic_size));
    std::string_view name;
    if (obj["op"].get(field) || field.get(name)) {
        out.error = R"(missing "op" (subscribe, unsubscribe or publish))";
        return out;
    }
    request r;
    if (name == "subscribe") r.op = op::subscribe;
    else if (name == "unsubscribe") r.op = op::unsubscribe;
    else if (name == "publish") r.op = op::publish;
    else {
        out.error = "unknown op \"" + std::string{name.substr(0, 32)} + "\"";
        return out;
    }
    if (!has_topic || obj["topic"].get(topic)) {
        out.error = R"(missing "topic" (a string))";
        return out;
    }
    if (topic.empty()) {
        out.error = "empty topic";
        return out;
    }
    if (topic.size() > limits.max_topic_size) {
        out.error = "topic longer than " + std::to_string(limits.max_topic_size) + " bytes";
        return out;
    }
    r.topic.assign(topic);
    if (r.op == op::subscribe && !obj["since"].get(field)) {
        simdjson::dom::object since;
        std::string_view epoch;
        std::uint64_t offset = 0;
        simdjson::dom::element e, o;
        if (field.get(since) || since["epoch"].get(e) || e.get(epoch) || since["offset"].get(o) ||
            o.get(offset)) {
            out.error = R"("since" must be {"epoch":"E","offset":N} with N a non-negative integer)";
            return out;
        }
        r.since = position{std::string{epoch}, offset};
    }
    if (r.op == op::publish) {
        if (obj["data"].get(field)) {
            out.error = R"(missing "data")";
            return out;
        }
        r.data = simdjson::minify(field);
    }
    out.req = std::move(r);
    return out;
}

// True when `text` is one JSON value (what publish() accepts as data).
inline bool is_json(std::string_view text) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    return !parser.parse(text.data(), text.size()).get(doc);
}

// ---- answers ----------------------------------------------------------------

namespace detail {
inline void append_head(std::string& out, std::string_view op, std::string_view topic) {
    out += R"({"op":")";
    out += op;
    out += R"(","topic":)";
    wsx::detail::append_json_string(out, topic);
}
inline void append_position(std::string& out, const position& p) {
    out += R"(,"epoch":)";
    wsx::detail::append_json_string(out, p.epoch);
    out += R"(,"offset":)";
    out += std::to_string(p.offset);
}
} // namespace detail

// `data` is JSON, written as is.
inline std::string message_json(std::string_view topic, const position& p, std::string_view data) {
    std::string out;
    out.reserve(64 + topic.size() + p.epoch.size() + data.size());
    detail::append_head(out, "message", topic);
    detail::append_position(out, p);
    out += R"(,"data":)";
    out += data;
    out += '}';
    return out;
}

// `recovered` absent for a plain subscribe, true or false after a `since`.
inline std::string subscribed_json(std::string_view topic, const position& p, std::optional<bool> recovered) {
    std::string out;
    detail::append_head(out, "subscribed", topic);
    detail::append_position(out, p);
    if (recovered) out += *recovered ? R"(,"recovered":true)" : R"(,"recovered":false)";
    out += '}';
    return out;
}

inline std::string unsubscribed_json(std::string_view topic) {
    std::string out;
    detail::append_head(out, "unsubscribed", topic);
    out += '}';
    return out;
}

inline std::string published_json(std::string_view topic, const position& p) {
    std::string out;
    detail::append_head(out, "published", topic);
    detail::append_position(out, p);
    out += '}';
    return out;
}

// An empty topic is left out (the message named none).
inline std::string error_json(std::string_view topic, std::string_view what) {
    std::string out = R"({"op":"error")";
    if (!topic.empty()) {
        out += R"(,"topic":)";
        wsx::detail::append_json_string(out, topic);
    }
    out += R"(,"error":)";
    wsx::detail::append_json_string(out, what);
    out += '}';
    return out;
}

} // namespace wsx::pubsub

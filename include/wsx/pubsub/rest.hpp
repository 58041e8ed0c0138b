// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::pubsub::mount_rest — the topics of a wsx::pubsub::topics over HTTP,
// beside the REST hook of the connections (wsx/rest.hpp), with the same
// access rules (bearer token, or loopback peers only; see wsx/rest.hpp):
//
//   GET  {prefix}                      {"topics":[{"topic":"T","epoch":"E","offset":N,
//                                      "held":H,"oldest_held":O,"subscribers":S}, ...]}
//   POST {prefix}/{topic}/publish      {"data":<any JSON>} -> {"epoch":"E","offset":N,"delivered":D}
//
// {topic} is percent-decoded and may contain '/' ("eu/orders"). Errors are
// JSON {"error":"..."}: 400 (body not JSON, "data" missing, topic empty, too
// long or not UTF-8), 401/403 (access), 404 (unknown route), 405 with Allow,
// 413 (body over the limit), 503 (a topic store, such as Redis, did not answer).
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include <wsx/detail/json.hpp>
#include <wsx/http/message.hpp>
#include <wsx/http/url.hpp>
#include <wsx/protocol/utf8.hpp>
#include <wsx/pubsub/protocol.hpp>
#include <wsx/pubsub/topics.hpp>
#include <wsx/rest.hpp>

namespace wsx::pubsub {

struct rest_options {
    std::string prefix = "/api/topics";
    std::string bearer_token{};                // as wsx::rest_options
    bool allow_unauthenticated_remote = false;  // as wsx::rest_options
    std::size_t max_body_size = 64 * 1024;
    protocol_limits limits{};
};

namespace detail {

class rest_handler {
public:
    rest_handler(topics& t, rest_options options) : topics_(t), options_(std::move(options)) {}

    void operator()(const http::request& req, http::response& res) const {
        using wsx::detail::json_error;
        if (!wsx::detail::admit_admin_request(req, res, options_.bearer_token, options_.allow_unauthenticated_remote))
            return;
        std::string_view rest = req.path().substr(options_.prefix.size());
        if (rest.empty() || rest == "/") return list(req, res);
        constexpr std::string_view action = "/publish";
        if (!rest.ends_with(action) || rest.size() <= action.size() + 1) return json_error(res, 404, "no such route");
        if (req.method != "POST") {
            res.headers.set("Allow", "POST");
            return json_error(res, 405, "method not allowed; use POST");
        }
        publish(req, res, http::percent_decode(rest.substr(1, rest.size() - 1 - action.size()), false));
    }

private:
    void list(const http::request& req, http::response& res) const {
        if (req.method != "GET" && req.method != "HEAD") {
            res.headers.set("Allow", "GET, HEAD");
            return wsx::detail::json_error(res, 405, "method not allowed; use GET, HEAD");
        }
        std::string body = R"({"topics":[)";
        bool first = true;
        for (const topic_info& t : topics_.list()) {
            if (!first) body += ',';
            first = false;
            body += R"({"topic":)";
            wsx::detail::append_json_string(body, t.name);
            body += R"(,"epoch":)";
            wsx::detail::append_json_string(body, t.newest.epoch);
            body += R"(,"offset":)" + std::to_string(t.newest.offset);
            body += R"(,"held":)" + std::to_string(t.held);
            body += R"(,"oldest_held":)" + std::to_string(t.oldest_held);
            body += R"(,"subscribers":)" + std::to_string(t.subscribers) + "}";
        }
        body += "]}";
        wsx::detail::json_response(res, 200, std::move(body));
    }

    void publish(const http::request& req, http::response& res, const std::string& topic) const {
        using wsx::detail::json_error;
        if (topic.empty()) return json_error(res, 400, "empty topic");
        if (topic.size() > options_.limits.max_topic_size)
            return json_error(res, 400, "topic longer than " + std::to_string(options_.limits.max_topic_size) + " bytes");
        if (!protocol::is_valid_utf8(topic)) return json_error(res, 400, "topic is not UTF-8");
        if (req.body.size() > options_.max_body_size)
            return json_error(res, 413, "body larger than " + std::to_string(options_.max_body_size) + " bytes");
        thread_local simdjson::dom::parser parser;
        simdjson::dom::element doc, data;
        if (parser.parse(req.body).get(doc)) return json_error(res, 400, "body is not valid JSON");
        if (!doc.is_object() || doc["data"].get(data))
            return json_error(res, 400, R"(body must be a JSON object like {"data":...})");
        publish_result p;
        try {
            p = topics_.publish_valid(topic, simdjson::minify(data));
        } catch (const std::runtime_error& e) {  // a store (Redis) that could not answer
            return json_error(res, 503, e.what());
        }
        std::string body = R"({"epoch":)";
        wsx::detail::append_json_string(body, p.pos.epoch);
        body += R"(,"offset":)" + std::to_string(p.pos.offset);
        body += R"(,"delivered":)" + std::to_string(p.delivered) + "}";
        wsx::detail::json_response(res, 200, std::move(body));
    }

    topics& topics_;
    rest_options options_;
};

} // namespace detail

// Serves the routes above for `t` on `server` (any basic_server). `t` must
// outlive the server.
template <class Server>
void mount_rest(Server& server, topics& t, rest_options options = {}) {
    while (options.prefix.size() > 1 && options.prefix.ends_with('/')) options.prefix.pop_back();
    const detail::rest_handler handler{t, options};
    server.http(options.prefix, handler);
    server.http(options.prefix + "/*", handler);
}

} // namespace wsx::pubsub

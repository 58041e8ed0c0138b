// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::mount_rest — a small admin API over a registry, beside the WebSocket
// endpoints on the same port (JSON in and out; bodies parsed with simdjson).
//
//   GET    {prefix}                 {"count":N,"connections":[{...}, ...]}
//   GET    {prefix}/{id}            one connection, or 404
//   POST   {prefix}/broadcast       {"message":"..."} -> {"recipients":N}; every client gets
//                                   {"type":"server-broadcast","message":"...","timestamp":"..."}
//   POST   {prefix}/{id}/send       {"message":"..."} -> {"sent":true}, or 404; the client gets
//                                   {"type":"server-message","message":"...","timestamp":"..."}
//   DELETE {prefix}/{id}            204; the connection is closed with 1000
//
// With a cluster link attached to the registry (a backplane, e.g.
// wsx/backplane/redis.hpp), "count", "connections" and "recipients" stay about
// this instance, and:
//   GET    {prefix}                 adds "cluster":{"instance":"...","state":"connected",
//                                   "publishing":true,"instances":N,"connections":N,"published":N,"received":N,
//                                   "lost":N,"missed":N,"reconnects":N,"last_error":"..."}
//                                   ("connections" there is the cluster-wide count; see
//                                   wsx::cluster_status for each field)
//   POST   {prefix}/broadcast       adds "forwarded":true|false (false: the link was down or
//                                   full, the other instances' clients do not get it)
//   POST   {prefix}/{id}/send       for an id that is not on this instance: 202
//                                   {"sent":false,"forwarded":true} (the instance that has it
//                                   delivers it; an unknown id is dropped there, unseen), or
//                                   503 when the link could not take it
//   GET and DELETE {prefix}/{id}    stay local: 404 for a connection of another instance
//
// Errors are JSON {"error":"what was wrong"}: 400 (body not JSON, "message"
// missing, empty or not a string), 401 (no bearer token, or a wrong one), 403
// (no token is set and the peer is not on loopback, see below), 404 (unknown
// route or id), 405 with Allow (wrong method), 413 (body over the limit), 503
// (cluster link down, see above).
//
// Who may call it. It is an admin API (list, push to and disconnect every
// client), so it is closed by default:
//  - with rest_options::bearer_token set, any peer that sends the token;
//  - without a token, loopback peers only (127.0.0.0/8, ::1, and IPv4 loopback
//    mapped into IPv6); every other peer gets 403, even when the server
//    listens on 0.0.0.0;
//  - allow_unauthenticated_remote = true opens it, without a token, to every
//    peer that reaches the port: only for a port that is private by other
//    means (a firewall, an authenticating proxy in front).
#include <cstddef>
#include <optional>
#include <system_error>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include <asio/ip/address.hpp>

#include <wsx/detail/json.hpp>
#include <wsx/http/message.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>

namespace wsx {

struct rest_options {
    std::string prefix = "/api/connections";
    // When set, every request needs "Authorization: Bearer <token>" (else
    // 401), from whichever peer it comes.
    std::string bearer_token{};
    // Without a bearer token the API answers loopback peers only, and 403 to
    // the others. true serves every peer that reaches the port, with no
    // authentication at all: say so only when the port is private by other
    // means. Ignored when bearer_token is set.
    bool allow_unauthenticated_remote = false;
    // Largest JSON body accepted (the message to push); over it: 413.
    std::size_t max_body_size = 64 * 1024;
};

namespace detail {

inline void json_response(http::response& res, int status, std::string body) {
    res.status = status;
    res.headers.set("Content-Type", "application/json");
    res.headers.set("Cache-Control", "no-store");
    res.body = std::move(body);
}

inline void json_error(http::response& res, int status, std::string_view what) {
    std::string body = R"({"error":)";
    append_json_string(body, what);
    body += '}';
    json_response(res, status, std::move(body));
}

inline void append_summary_json(std::string& out, const connection_summary& s) {
    out += R"({"id":)";
    append_json_string(out, s.id);
    out += R"(,"remote":)";
    append_json_string(out, s.remote);
    out += R"(,"path":)";
    append_json_string(out, s.path);
    out += R"(,"user":)";
    append_json_string(out, s.user);
    out += R"(,"connected_at":)";
    append_json_string(out, iso8601_utc(s.connected_at));
    out += R"(,"messages_in":)" + std::to_string(s.stats.messages_in);
    out += R"(,"messages_out":)" + std::to_string(s.stats.messages_out);
    out += R"(,"bytes_in":)" + std::to_string(s.stats.bytes_in);
    out += R"(,"bytes_out":)" + std::to_string(s.stats.bytes_out);
    out += R"(,"buffered_bytes":)" + std::to_string(s.buffered_bytes);
    out += R"(,"protocol":)";
    append_json_string(out, s.protocol);
    out += R"(,"groups":[)";
    for (std::size_t i = 0; i < s.groups.size(); ++i) {
        if (i) out += ',';
        append_json_string(out, s.groups[i]);
    }
    out += "]}";
}

inline void append_cluster_json(std::string& out, const cluster_status& s) {
    out += R"({"instance":)";
    append_json_string(out, s.instance);
    out += R"(,"state":)";
    append_json_string(out, to_string(s.state));
    out += R"(,"publishing":)";
    out += s.publishing ? "true" : "false";
    out += R"(,"instances":)" + std::to_string(s.instances);
    out += R"(,"connections":)" + std::to_string(s.connections);
    out += R"(,"published":)" + std::to_string(s.published);
    out += R"(,"received":)" + std::to_string(s.received);
    out += R"(,"lost":)" + std::to_string(s.lost);
    out += R"(,"missed":)" + std::to_string(s.missed);
    out += R"(,"reconnects":)" + std::to_string(s.reconnects);
    out += R"(,"last_error":)";
    append_json_string(out, s.last_error);
    out += '}';
}

// The "message" string of a JSON body, or an error response already written.
inline bool read_message(const http::request& req, http::response& res, std::size_t limit,
                         std::string& message) {
    if (req.body.size() > limit) {
        json_error(res, 413, "body larger than " + std::to_string(limit) + " bytes");
        return false;
    }
    // One parser per thread: it keeps its buffers between requests.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(req.body).get(doc)) {
        json_error(res, 400, "body is not valid JSON");
        return false;
    }
    simdjson::dom::object obj;
    if (doc.get(obj)) {
        json_error(res, 400, R"(body must be a JSON object like {"message":"..."})");
        return false;
    }
    simdjson::dom::element field;
    if (obj["message"].get(field)) {
        json_error(res, 400, R"(missing "message")");
        return false;
    }
    std::string_view text;
    if (field.get(text)) {
        json_error(res, 400, R"("message" must be a string)");
        return false;
    }
    if (text.empty()) {
        json_error(res, 400, R"("message" must not be empty)");
        return false;
    }
    message.assign(text);
    return true;
}

inline std::string server_event(std::string_view type, std::string_view message) {
    std::string out = R"({"type":)";
    append_json_string(out, type);
    out += R"(,"message":)";
    append_json_string(out, message);
    out += R"(,"timestamp":")" + iso8601_now() + "\"}";
    return out;
}

// Constant-time comparison, so response timing does not reveal the token.
inline bool same_secret(std::string_view a, std::string_view b) noexcept {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    return diff == 0;
}

// True for a loopback peer: 127.0.0.0/8, ::1, or an IPv4 loopback address
// mapped into IPv6 (::ffff:127.0.0.1, what a dual-stack socket reports). An
// empty or unparsable address is not loopback: unknown peers stay outside.
inline bool is_loopback_address(std::string_view text) {
    std::error_code ec;
    const asio::ip::address a = asio::ip::make_address(std::string{text}, ec);
    if (ec) return false;
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
    return a.is_loopback();
}

// Who may use an admin route (the REST hook; any route that exposes or
// controls the server): with `token`, whoever sends it as a bearer token;
// without, loopback peers, or everyone when allow_unauthenticated_remote.
// Writes the refusal (401 or 403, JSON) and returns false when the request may
// not go on.
inline bool admit_admin_request(const http::request& req, http::response& res, std::string_view token,
                                bool allow_unauthenticated_remote) {
    if (!token.empty()) {
        const std::string_view auth = req.headers.get("Authorization");
        constexpr std::string_view scheme = "Bearer ";
        if (auth.size() <= scheme.size() || !http::iequals(auth.substr(0, scheme.size()), scheme)) {
            // RFC 6750 section 3.1: no error code when no credentials came.
            res.headers.set("WWW-Authenticate", R"(Bearer realm="wsx")");
            json_error(res, 401, "bearer token required");
            return false;
        }
        if (!same_secret(auth.substr(scheme.size()), token)) {
            res.headers.set("WWW-Authenticate", R"(Bearer realm="wsx", error="invalid_token")");
            json_error(res, 401, "wrong bearer token");
            return false;
        }
        return true;
    }
    if (allow_unauthenticated_remote || is_loopback_address(req.remote_address)) return true;
    json_error(res, 403,
               "this admin API has no bearer token, so it answers loopback clients only; set "
               "rest_options::bearer_token (and send Authorization: Bearer <token>), or set "
               "rest_options::allow_unauthenticated_remote to serve every peer without authentication");
    return false;
}

class rest_handler {
public:
    rest_handler(registry& reg, rest_options options) : reg_(reg), options_(std::move(options)) {}

    void operator()(const http::request& req, http::response& res) const {
        if (!admit_admin_request(req, res, options_.bearer_token, options_.allow_unauthenticated_remote))
            return;
        std::string_view rest = req.path().substr(options_.prefix.size());
        if (rest.empty() || rest == "/") return collection(req, res);
        rest.remove_prefix(1);
        if (rest == "broadcast") return broadcast(req, res);
        const auto slash = rest.find('/');
        const std::string_view id = rest.substr(0, slash);
        const std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
        if (id.empty()) return json_error(res, 404, "no such route");
        if (action.empty()) return item(req, res, id);
        if (action == "send") return send(req, res, id);
        json_error(res, 404, "no such route");
    }

private:
    static bool method_is(const http::request& req, std::string_view m) {
        return req.method == m || (m == "GET" && req.method == "HEAD");
    }
    static void not_allowed(http::response& res, std::string_view allow) {
        res.headers.set("Allow", allow);
        json_error(res, 405, "method not allowed; use " + std::string{allow});
    }

    void collection(const http::request& req, http::response& res) const {
        if (!method_is(req, "GET")) return not_allowed(res, "GET, HEAD");
        const auto all = reg_.summaries();
        std::string body = R"({"count":)" + std::to_string(all.size()) + R"(,"connections":[)";
        for (std::size_t i = 0; i < all.size(); ++i) {
            if (i) body += ',';
            append_summary_json(body, all[i]);
        }
        body += ']';
        if (const auto link = reg_.cluster()) {
            body += R"(,"cluster":)";
            append_cluster_json(body, link->status());
        }
        body += '}';
        json_response(res, 200, std::move(body));
    }

    void broadcast(const http::request& req, http::response& res) const {
        if (req.method != "POST") return not_allowed(res, "POST");
        std::string message;
        if (!read_message(req, res, options_.max_body_size, message)) return;
        const auto sent = reg_.send(send_scope::all, {}, prepared_message::text(server_event("server-broadcast", message)));
        std::string body = R"({"recipients":)" + std::to_string(sent.local);
        if (reg_.cluster()) body += sent.forwarded ? R"(,"forwarded":true)" : R"(,"forwarded":false)";
        body += '}';
        json_response(res, 200, std::move(body));
    }

    void item(const http::request& req, http::response& res, std::string_view id) const {
        if (method_is(req, "GET")) {
            const auto s = reg_.summary(id);
            if (!s) return json_error(res, 404, "no connection with this id");
            std::string body;
            append_summary_json(body, *s);
            return json_response(res, 200, std::move(body));
        }
        if (req.method == "DELETE") {
            const auto c = reg_.find(id);
            if (!c) return json_error(res, 404, "no connection with this id");
            c->close(close_code::normal, "closed by the server");
            res.status = 204;
            return;
        }
        not_allowed(res, "GET, HEAD, DELETE");
    }

    void send(const http::request& req, http::response& res, std::string_view id) const {
        if (req.method != "POST") return not_allowed(res, "POST");
        std::string message;
        if (!read_message(req, res, options_.max_body_size, message)) return;
        const auto sent = reg_.send(send_scope::connection, id, prepared_message::text(server_event("server-message", message)));
        if (sent.local) return json_response(res, 200, R"({"sent":true})");
        if (sent.forwarded) return json_response(res, 202, R"({"sent":false,"forwarded":true})");
        if (reg_.cluster() && !reg_.find(id))
            return json_error(res, 503, "no connection with this id here, and the cluster link is down");
        json_error(res, 404, "no open connection with this id");
    }

    registry& reg_;
    rest_options options_;
};

} // namespace detail

// Serves the REST API for `reg` under options.prefix on `server` (any
// basic_server). The registry must outlive the server. Without
// options.bearer_token it answers loopback peers only (see the top of this
// file), unless options.allow_unauthenticated_remote.
template <class Server>
void mount_rest(Server& server, registry& reg, rest_options options = {}) {
    while (options.prefix.size() > 1 && options.prefix.ends_with('/')) options.prefix.pop_back();
    const detail::rest_handler handler{reg, options};
    server.http(options.prefix, handler);
    server.http(options.prefix + "/*", handler);
}

} // namespace wsx

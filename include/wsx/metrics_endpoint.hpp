// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::mount_metrics — GET /metrics in the Prometheus text exposition format
// (0.0.4), beside the WebSocket endpoints on the same port:
//
//   wsx::mount_metrics(srv);                   // alone, loopback peers only
//   wsx::mount_metrics(srv, {.bearer_token = token});
//   wsx::mount_metrics(srv, reg, rest);        // with the REST hook: its token and
//                                              // rule, and the registry's backplane
//
// What it serves: basic_server::metrics() (connections open per endpoint
// path, accepted, closed by close code, upgrades refused by status, messages
// and payload bytes in and out, drops and closes by backpressure, bytes
// buffered, keep-alive pings and the unanswered ones), summed over the I/O
// threads when scraped; with a registry that has a cluster link (a backplane,
// wsx/backplane/redis.hpp), its state and counters too. See
// wsx/detail/metrics_text.hpp for the metric names.
//
// Who may scrape it: the REST hook's rule (wsx/rest.hpp,
// detail::admit_admin_request), since the counters describe the server's
// clients: with bearer_token, whoever sends it; without, loopback peers only
// (403 for the others) unless allow_unauthenticated_remote. Prometheus sends
// a token with `authorization: {credentials: ...}` in its scrape config.
#include <cstddef>
#include <string>
#include <utility>

#include <wsx/detail/metrics_text.hpp>
#include <wsx/http/message.hpp>
#include <wsx/metrics.hpp>
#include <wsx/registry.hpp>
#include <wsx/rest.hpp>

namespace wsx {

struct metrics_options {
    std::string path = "/metrics";
    // As rest_options::bearer_token: when set, every scrape needs
    // "Authorization: Bearer <token>" (else 401).
    std::string bearer_token{};
    // As rest_options::allow_unauthenticated_remote: without a token, serve
    // peers that are not on loopback too. Ignored when bearer_token is set.
    bool allow_unauthenticated_remote = false;
};

namespace detail {

// The backplane's status as metrics.
inline backplane_metrics to_backplane_metrics(const cluster_status& s) {
    backplane_metrics b;
    b.instance = s.instance;
    b.state = std::string{to_string(s.state)};
    for (const cluster_state c : {cluster_state::connecting, cluster_state::connected, cluster_state::down,
                                  cluster_state::stopped})
        b.states.emplace_back(to_string(c));
    b.publishing = s.publishing;
    b.instances = s.instances;
    b.connections = s.connections;
    b.published = s.published;
    b.received = s.received;
    b.lost = s.lost;
    b.missed = s.missed;
    b.reconnects = s.reconnects;
    return b;
}

// The HTTP route. `Server` is any basic_server; `reg` may be null (no
// backplane section). Both must outlive the server's routes.
template <class Server>
class metrics_handler {
public:
    metrics_handler(const Server& server, const registry* reg, metrics_options options)
        : server_(&server), reg_(reg), options_(std::move(options)) {}

    void operator()(const http::request& req, http::response& res) const {
        if (!admit_admin_request(req, res, options_.bearer_token, options_.allow_unauthenticated_remote))
            return;
        if (req.method != "GET" && req.method != "HEAD") {
            res.headers.set("Allow", "GET, HEAD");
            return json_error(res, 405, "method not allowed; use GET, HEAD");
        }
        std::string body;
        const server_metrics m = server_->metrics();
        if (const auto link = reg_ ? reg_->cluster() : nullptr) {
            const backplane_metrics b = to_backplane_metrics(link->status());
            append_prometheus_text(body, m, &b);
        } else {
            append_prometheus_text(body, m);
        }
        res.status = 200;
        res.headers.set("Content-Type", prometheus_content_type);
        res.headers.set("Cache-Control", "no-store");
        res.body = std::move(body);
    }

private:
    const Server* server_;
    const registry* reg_;
    metrics_options options_;
};

} // namespace detail

// Serves GET (and HEAD) options.path on `server` with its counters. Before
// listen() or start(), like every route. Without options.bearer_token it
// answers loopback peers only (see the top of this file).
template <class Server>
void mount_metrics(Server& server, metrics_options options = {}) {
    const std::string path = options.path;
    server.http(path, detail::metrics_handler<Server>{server, nullptr, std::move(options)});
}

// The same, with the backplane attached to `reg` (when there is one) in the
// answer. The registry must outlive the server.
template <class Server>
void mount_metrics(Server& server, const registry& reg, metrics_options options = {}) {
    const std::string path = options.path;
    server.http(path, detail::metrics_handler<Server>{server, &reg, std::move(options)});
}

// Beside the REST hook: GET `path` behind the REST hook's own token and rule
// (rest_options::bearer_token, allow_unauthenticated_remote), with the
// registry's backplane.
template <class Server>
void mount_metrics(Server& server, const registry& reg, const rest_options& rest, std::string path = "/metrics") {
    mount_metrics(server, reg,
                  metrics_options{std::move(path), rest.bearer_token, rest.allow_unauthenticated_remote});
}

} // namespace wsx

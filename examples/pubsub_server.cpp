// SPDX-License-Identifier: BSL-1.0
// Resumable topics (wsx.pubsub.v1): a client that drops and comes back misses
// nothing, and one that cannot be caught up is told so.
//   pubsub_server [--host 0.0.0.0] [--port 9002] [--threads 1] [--token SECRET]
//                 [--redis HOST:PORT]   (when built with wsx::redis)
//
//   /                                 a live ORDER_CREATED feed that stays gap-free across drops
//   /wsx-pubsub.js                    the browser client (reconnects, resumes with "since")
//   /pubsub                           the endpoint (wsx/pubsub/protocol.hpp has the protocol)
//   POST /api/topics/{topic}/publish  {"data":<JSON>} -> {"epoch":"E","offset":N,"delivered":D}
//   GET  /api/topics                  topics, newest offset, history held, subscribers
//   GET  /api/connections, DELETE /api/connections/{id}   (wsx/rest.hpp)
//
//   curl -d '{"data":{"type":"ORDER_CREATED","id":1}}' localhost:9002/api/topics/orders/publish
//
// With --redis, the offsets and history live in Redis: servers sharing one
// Redis form a cluster, and a client resumes on any of them.
//
// The REST API is for admins: without --token it answers only clients on this
// machine (loopback), and 403 to the others.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <wsx/pubsub/endpoint.hpp>
#include <wsx/pubsub/rest.hpp>
#include <wsx/rest.hpp>
#include <wsx/wsx.hpp>

#if WSX_HAS_REDIS
#include <wsx/backplane/redis_topics.hpp>
constexpr const char* redis_usage = " [--redis HOST:PORT]";
#else
constexpr const char* redis_usage = "";
#endif

#include "pubsub_page.hpp"
#include "wsx_pubsub_js.hpp"

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9002};
    std::string token, redis;  // redis: HOST:PORT
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--host") options.host = argv[i + 1];
        else if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else if (flag == "--token") token = argv[i + 1];
#if WSX_HAS_REDIS
        else if (flag == "--redis" && std::string_view{argv[i + 1]}.rfind(':') != std::string_view::npos)
            redis = argv[i + 1];
#endif
        else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N] [--token SECRET]%s\n", argv[0], redis_usage);
            return 2;
        }
    }

    // Declared before the server: they must outlive it.
    wsx::registry registry;
    // Keep the last 1,000 messages or 5 minutes of each topic (the defaults).
    wsx::pubsub::topics topics(registry, {.history = {.max_messages = 1000, .max_age = std::chrono::minutes(5)}});

    wsx::server server(options);
    // Anyone may subscribe; only the REST API (an admin) publishes. A real
    // application checks c.user() (set by its upgrade hook) against the topic.
    // A client that falls behind is closed (the default backpressure policy):
    // it comes back and resumes without a gap.
    server.websocket("/pubsub", wsx::endpoints::pubsub(topics, {.max_subscriptions = 32}));
    wsx::mount_rest(server, registry, {.bearer_token = token});
    wsx::pubsub::mount_rest(server, topics, {.bearer_token = token});
    server.http("/", [](const wsx::http::request&, wsx::http::response& res) {
        res.headers.set("Content-Type", "text/html; charset=utf-8");
        res.body = pubsub_page;
    });
    server.http("/wsx-pubsub.js", [](const wsx::http::request&, wsx::http::response& res) {
        res.headers.set("Content-Type", "text/javascript; charset=utf-8");
        res.body = wsx_pubsub_js;
    });
    server.stop_on_signals();
    server.listen();
    std::printf("wsx pubsub server on http://%s:%u/ (WebSocket ws://%s:%u/pubsub, REST /api/topics)\n",
                options.host.c_str(), server.port(), options.host.c_str(), server.port());
    std::fflush(stdout);
#if WSX_HAS_REDIS
    std::shared_ptr<wsx::backplane::redis_topics> store;
    if (!redis.empty()) {
        const auto colon = redis.rfind(':');
        store = wsx::backplane::redis_topics::start(
            topics, {.host = redis.substr(0, colon),
                     .port = static_cast<std::uint16_t>(std::atoi(redis.c_str() + colon + 1))});
        std::printf("offsets and history in redis %s (%s)\n", redis.c_str(), store->live() ? "connected" : "retrying");
        std::fflush(stdout);
    }
    server.run();
    if (store) store->stop();
#else
    (void)redis;
    server.run();
#endif
}

// SPDX-License-Identifier: BSL-1.0
// A chat room for browser tabs, with a REST API to list and reach them.
//   broadcast_server [--host 0.0.0.0] [--port 9001] [--threads 1] [--token SECRET]
//                    [--redis HOST:PORT]   (when built with wsx::redis)
//                    [--http2]             (when built with wsx::http2: h2c beside HTTP/1.1)
//                    [--cert FILE --key FILE]  (when built with wsx::tls: https:// and wss://;
//                                          with --http2, h2 offered by ALPN)
//
//   /                           a page to chat between tabs and watch the connection list
//   /ws                         the broadcast endpoint (JSON messages, see wsx/endpoints.hpp)
//   GET  /api/connections       the live connections (and, with --redis, the cluster)
//   POST /api/connections/broadcast  {"message":"..."} pushes to every client
//   GET  /metrics               Prometheus counters (connections, messages, backpressure, cluster)
//
// With --redis, servers sharing one Redis form a cluster: a chat message, a
// REST broadcast or send reaches the clients of every server (README: Scale-out).
//
// The REST API and /metrics are for admins: without --token they answer only
// clients on this machine (loopback), and 403 to the others.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/ip/address.hpp>
#include <wsx/metrics_endpoint.hpp>
#include <wsx/rest.hpp>
#include <wsx/wsx.hpp>

#if WSX_HAS_REDIS
#include <optional>
#include <thread>

#include <asio/io_context.hpp>
#include <wsx/backplane/redis.hpp>
constexpr const char* redis_usage = " [--redis HOST:PORT]";
#else
constexpr const char* redis_usage = "";
#endif

#if WSX_HAS_HTTP2
#include <wsx/http2.hpp>  // --http2: needs nghttp2, link wsx::http2
#endif

#if BROADCAST_TLS
#include <wsx/transport/tls.hpp>
#endif

#include "broadcast_page.hpp"

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9001};
    wsx::rest_options rest;
    std::string redis;  // HOST:PORT
    bool http2 = false;
    std::string cert, key;  // --cert/--key: TLS (PEM chain and unencrypted key)
    for (int i = 1; i < argc; i += 2) {
        std::string_view flag = argv[i];
#if WSX_HAS_HTTP2
        if (flag == "--http2") {  // the one flag without a value
            http2 = true;
            --i;
            continue;
        }
#endif
        if (i + 1 == argc) flag = "(missing value)";
        if (flag == "--host") options.host = argv[i + 1];
        else if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else if (flag == "--token") rest.bearer_token = argv[i + 1];
#if BROADCAST_TLS
        else if (flag == "--cert") cert = argv[i + 1];
        else if (flag == "--key") key = argv[i + 1];
#endif
#if WSX_HAS_REDIS
        else if (flag == "--redis" && std::string_view{argv[i + 1]}.rfind(':') != std::string_view::npos)
            redis = argv[i + 1];
#endif
        else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N] [--token SECRET] [--http2]"
                                 " [--cert FILE --key FILE]%s\n", argv[0], redis_usage);
            return 2;
        }
    }

    std::error_code not_an_ip;
    const auto address = asio::ip::make_address(options.host, not_an_ip);
    if (rest.bearer_token.empty() && (not_an_ip || !address.is_loopback()))
        std::fprintf(stderr,
                     "warning: the REST API has no --token: it answers only clients on this machine "
                     "and refuses (403) everyone else who reaches %s; pass --token SECRET to serve it "
                     "to the network\n",
                     options.host.c_str());

    if (cert.empty() != key.empty()) {
        std::fprintf(stderr, "--cert and --key go together\n");
        return 2;
    }
    wsx::registry registry;  // declared before the server: it must outlive it
    // The same routes over ws:// and, with --cert/--key, over wss://.
    auto serve = [&](auto& server) {
        server.websocket("/ws", wsx::endpoints::broadcast(registry));
        wsx::mount_rest(server, registry, rest);
        wsx::mount_metrics(server, registry, rest);  // GET /metrics, behind the same token
#if WSX_HAS_HTTP2
        if (http2) wsx::http2::enable(server);  // h2c, or h2 by ALPN over TLS; WebSockets as streams
#else
        (void)http2;
#endif
        server.http("/", [](const wsx::http::request&, wsx::http::response& res) {
            res.headers.set("Content-Type", "text/html; charset=utf-8");
            res.body = broadcast_page;
        });
        server.stop_on_signals();
        server.listen();
        const char* s = cert.empty() ? "" : "s";
        std::printf("wsx broadcast server on http%s://%s:%u/ (WebSocket ws%s://%s:%u/ws, REST /api/connections)\n",
                    s, options.host.c_str(), server.port(), s, options.host.c_str(), server.port());
        std::fflush(stdout);
#if WSX_HAS_REDIS
        // The backplane runs on its own thread and io_context, beside the server's.
        asio::io_context cluster_io;
        std::optional<wsx::backplane::redis> cluster;
        if (!redis.empty()) {
            const auto colon = redis.rfind(':');
            cluster.emplace(cluster_io.get_executor(), registry,
                            wsx::backplane::redis_options{
                                .host = redis.substr(0, colon),
                                .port = static_cast<std::uint16_t>(std::atoi(redis.c_str() + colon + 1))});
            cluster->start();
            std::printf("joining the cluster through redis %s as instance %s\n", redis.c_str(),
                        cluster->instance_id().c_str());
            std::fflush(stdout);
        }
        std::thread cluster_thread([&cluster_io] { cluster_io.run(); });
        server.run();
        if (cluster) cluster->stop();
        cluster_thread.join();
#else
        (void)redis;
        server.run();
#endif
    };
#if BROADCAST_TLS
    if (!cert.empty()) {
        try {
            wsx::tls_server server(options, wsx::transport::tls::context::server({.certificate_chain_file = cert,
                                                                                  .private_key_file = key}));
            serve(server);
            return 0;
        } catch (const std::system_error& e) {  // an unreadable certificate or key
            std::fprintf(stderr, "broadcast_server: %s\n", e.what());
            return 1;
        }
    }
#endif
    wsx::server server(options);
    serve(server);
}

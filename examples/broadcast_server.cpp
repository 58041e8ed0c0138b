// A chat room for browser tabs, with a REST API to list and reach them.
//   broadcast_server [--host 0.0.0.0] [--port 9001] [--threads 1] [--token SECRET]
//
//   /                           a page to chat between tabs and watch the connection list
//   /ws                         the broadcast endpoint (JSON messages, see wsx/endpoints.hpp)
//   GET  /api/connections       the live connections
//   POST /api/connections/broadcast  {"message":"..."} pushes to every client
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <wsx/rest.hpp>
#include <wsx/wsx.hpp>

#include "broadcast_page.hpp"

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9001};
    wsx::rest_options rest;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--host") options.host = argv[i + 1];
        else if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else if (flag == "--token") rest.bearer_token = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N] [--token SECRET]\n", argv[0]);
            return 2;
        }
    }

    wsx::registry registry;  // declared before the server: it must outlive it
    wsx::server server(options);
    server.websocket("/ws", wsx::endpoints::broadcast(registry));
    wsx::mount_rest(server, registry, rest);
    server.http("/", [](const wsx::http::request&, wsx::http::response& res) {
        res.headers.set("Content-Type", "text/html; charset=utf-8");
        res.body = broadcast_page;
    });
    server.stop_on_signals();
    server.listen();
    std::printf("wsx broadcast server on http://%s:%u/ (WebSocket ws://%s:%u/ws, REST /api/connections)\n",
                options.host.c_str(), server.port(), options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

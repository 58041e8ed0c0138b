// SPDX-License-Identifier: BSL-1.0
// A WebSocket echo server: every message on "/" comes back unchanged.
//   echo_server [--host 0.0.0.0] [--port 9001] [--threads 1]
//               [--deflate | --deflate-no-context-takeover] [--http2]
// --deflate accepts permessage-deflate (RFC 7692) from clients that offer it;
// the second form also makes both sides reset their compressors per message.
// --http2 also serves HTTP/2 clients (h2c with prior knowledge) on the same
// port, their WebSockets as streams (RFC 8441).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <wsx/wsx.hpp>
#if WSX_HAS_DEFLATE
#include <wsx/deflate.hpp>  // needs zlib: link wsx::deflate
#endif
#if WSX_HAS_HTTP2
#include <wsx/http2.hpp>  // needs nghttp2: link wsx::http2
#endif

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9001};
    bool http2 = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--http2") {
#if WSX_HAS_HTTP2
            http2 = true;
            continue;
#else
            std::fprintf(stderr, "%s: built without nghttp2, no --http2\n", argv[0]);
            return 2;
#endif
        }
        if (flag == "--deflate" || flag == "--deflate-no-context-takeover") {
#if WSX_HAS_DEFLATE
            const bool reset = flag != "--deflate";
            options.websocket.deflate = wsx::permessage_deflate(
                {.server_no_context_takeover = reset, .client_no_context_takeover = reset});
            continue;
#else
            std::fprintf(stderr, "%s: built without zlib, no --deflate\n", argv[0]);
            return 2;
#endif
        }
        const char* value = i + 1 < argc ? argv[++i] : nullptr;
        if (value && flag == "--host") options.host = value;
        else if (value && flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(value));
        else if (value && flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(value));
        else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N] [--deflate] [--http2]\n", argv[0]);
            return 2;
        }
    }

    wsx::server server(options);
    server.websocket("/", wsx::endpoints::echo());
#if WSX_HAS_HTTP2
    if (http2) wsx::http2::enable(server);
#endif
    server.stop_on_signals();
    server.listen();
    std::printf("wsx echo server listening on ws://%s:%u/\n", options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

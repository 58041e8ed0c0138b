// SPDX-License-Identifier: BSL-1.0
// A WebSocket echo server over TLS: every message on "/" comes back unchanged.
//   tls_echo_server --cert chain.pem --key key.pem [--host 0.0.0.0] [--port 9443] [--threads 1]
//                   [--http2]
// The chain is PEM, the server certificate first; the key is PEM, unencrypted.
// --http2 (when built with wsx::http2) offers h2 by ALPN beside http/1.1; a
// client that chooses it opens its WebSockets as streams (RFC 8441).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include <wsx/transport/tls.hpp>
#include <wsx/wsx.hpp>
#if WSX_HAS_HTTP2
#include <wsx/http2.hpp>
#endif

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9443};
    wsx::transport::tls::server_config tls;
    bool http2 = false;
    for (int i = 1; i < argc; i += 2) {
        const std::string_view flag = argv[i];
#if WSX_HAS_HTTP2
        if (flag == "--http2") {  // the one flag without a value
            http2 = true;
            --i;
            continue;
        }
#endif
        if (i + 1 == argc) tls.certificate_chain_file.clear();
        else if (flag == "--cert") tls.certificate_chain_file = argv[i + 1];
        else if (flag == "--key") tls.private_key_file = argv[i + 1];
        else if (flag == "--host") options.host = argv[i + 1];
        else if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else tls.certificate_chain_file.clear();  // unknown flag: show the usage
    }
    if (tls.certificate_chain_file.empty() || tls.private_key_file.empty()) {
        std::fprintf(stderr,
                     "usage: %s --cert CHAIN.pem --key KEY.pem [--host H] [--port P] [--threads N] [--http2]\n",
                     argv[0]);
        return 2;
    }

    try {
        wsx::tls_server server(options, wsx::transport::tls::context::server(tls));
        server.websocket("/", wsx::endpoints::echo());
#if WSX_HAS_HTTP2
        if (http2) wsx::http2::enable(server);  // ALPN: h2, http/1.1
#endif
        server.stop_on_signals();
        server.listen();
        std::printf("wsx TLS echo server listening on wss://%s:%u/\n", options.host.c_str(),
                    server.port());
        std::fflush(stdout);
        server.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tls_echo_server: %s\n", e.what());
        return 1;
    }
}

// SPDX-License-Identifier: BSL-1.0
// A unit of a program built with WSX_SEPARATE_COMPILATION and
// WSX_SEPARATE_COMPILATION_TLS: it names a wss:// server and client but
// compiles none of their instantiations (tls_src_test.cpp defines them).
#include <wsx/client.hpp>
#include <wsx/endpoints.hpp>
#include <wsx/server.hpp>
#include <wsx/transport/tls.hpp>

#include "client_sync.hpp"
#include "test_certs.hpp"

#include <string>
#include <utility>

#if !defined(WSX_SEPARATE_COMPILATION) || !defined(WSX_SEPARATE_COMPILATION_TLS)
#error "separate_tls_app.cpp is built with WSX_SEPARATE_COMPILATION(_TLS) (tests/impl/CMakeLists.txt)"
#endif

// A wss:// echo round trip through a server and a client on one io_context.
std::pair<std::error_code, std::string> separate_tls_echo(const std::string& payload) {
    const auto& pki = wsx::test::test_pki::get();
    asio::io_context io;
    wsx::tls_server srv(io, wsx::server_options{.host = "127.0.0.1", .port = 0},
                        wsx::transport::tls::context::server(
                            {.certificate_chain = pki.server.cert_pem, .private_key = pki.server.key_pem}));
    srv.websocket("/", wsx::endpoints::echo());
    srv.start();
    wsx::tls_client c(io, wsx::client_options{}, wsx::transport::tls::context::client({.ca_file = pki.ca.cert_file}));
    if (auto ec = wsx::test::connect_sync(io, c, "wss://127.0.0.1:" + std::to_string(srv.port()) + "/",
                                          std::chrono::seconds(10)))
        return {ec, {}};
    if (auto ec = wsx::test::send_sync(io, c, wsx::opcode::text, payload)) return {ec, {}};
    auto [ec, m] = wsx::test::read_sync(io, c);
    srv.stop();
    return {ec, std::move(m.payload)};
}

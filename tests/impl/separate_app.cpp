// SPDX-License-Identifier: BSL-1.0
// A unit of a program built with WSX_SEPARATE_COMPILATION: it names a server
// and a client but, through the `extern template` declarations, compiles none
// of their instantiations. It links only because src_test.cpp (the program's
// one <wsx/impl/src.hpp> unit) defines them.
#include <wsx/client.hpp>
#include <wsx/endpoints.hpp>
#include <wsx/server.hpp>

#include "client_sync.hpp"

#include <string>
#include <utility>

#ifndef WSX_SEPARATE_COMPILATION
#error "separate_app.cpp is built with WSX_SEPARATE_COMPILATION (tests/impl/CMakeLists.txt)"
#endif

// An echo round trip through a server and a client on one io_context.
std::pair<std::error_code, std::string> separate_echo(const std::string& payload) {
    asio::io_context io;
    wsx::server srv(io, wsx::server_options{.host = "127.0.0.1", .port = 0});
    srv.websocket("/", wsx::endpoints::echo());
    srv.start();
    wsx::client c(io);
    if (auto ec = wsx::test::connect_sync(io, c, "ws://127.0.0.1:" + std::to_string(srv.port()) + "/"))
        return {ec, {}};
    if (auto ec = wsx::test::send_sync(io, c, wsx::opcode::text, payload)) return {ec, {}};
    auto [ec, m] = wsx::test::read_sync(io, c);
    srv.stop();
    return {ec, std::move(m.payload)};
}

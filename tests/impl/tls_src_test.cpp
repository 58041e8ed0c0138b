// SPDX-License-Identifier: BSL-1.0
// wsx/impl/tls_src.hpp: this unit is the program's compiled part for wss://
// (and, through src.hpp, for ws://); separate_tls_app.cpp, built with the same
// WSX_SEPARATE_COMPILATION(_TLS) macros, only declares the instantiations. If
// tls_src.hpp missed one that the headers declare extern, this would not link.
#include <wsx/impl/tls_src.hpp>

#include <wsx/impl/src.hpp>

#include "catch.hpp"

#include <string>
#include <system_error>
#include <utility>

std::pair<std::error_code, std::string> separate_tls_echo(const std::string& payload);

TEST_CASE("separate compilation: a wss:// server and client declared extern in another unit echo", "[impl][tls]") {
    auto [ec, payload] = separate_tls_echo("compiled once, over TLS");
    CHECK_FALSE(ec);
    CHECK(payload == "compiled once, over TLS");
}

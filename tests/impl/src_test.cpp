// SPDX-License-Identifier: BSL-1.0
// wsx/impl/src.hpp: this unit is the program's compiled part (it includes the
// header, so it defines the ws:// instantiations); separate_app.cpp, built
// with WSX_SEPARATE_COMPILATION like this one, only declares them. If src.hpp
// missed one that server.hpp, connection.hpp or client.hpp declares extern,
// this test would not link.
#include <wsx/impl/src.hpp>

#include "catch.hpp"

#include <string>
#include <system_error>
#include <utility>

std::pair<std::error_code, std::string> separate_echo(const std::string& payload);

TEST_CASE("separate compilation: a server and a client declared extern in another unit echo", "[impl]") {
    auto [ec, payload] = separate_echo("compiled once");
    CHECK_FALSE(ec);
    CHECK(payload == "compiled once");
}

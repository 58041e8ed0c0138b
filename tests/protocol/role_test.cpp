// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/role.hpp"

#include "catch.hpp"

#include <type_traits>

TEST_CASE("role is a one-byte enum with two values") {
    STATIC_REQUIRE(std::is_same_v<std::underlying_type_t<wsx::role>, std::uint8_t>);
    CHECK(static_cast<int>(wsx::role::server) == 0);
    CHECK(static_cast<int>(wsx::role::client) == 1);
    CHECK(wsx::to_string(wsx::role::server) == "server");
    CHECK(wsx::to_string(wsx::role::client) == "client");
}

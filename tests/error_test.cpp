// SPDX-License-Identifier: BSL-1.0
// wsx::error (error.hpp): the fixed numbering of every enumerator, its
// std::error_code conversion in the "wsx" category, distinct messages, and the
// fallback message for values wsx does not define.
#include "wsx/error.hpp"

#include "catch.hpp"

#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

using wsx::error;

namespace {
// Every enumerator with the number error.hpp gives it. These are persisted and
// logged by applications, so they must never be renumbered.
const std::pair<error, int> all_errors[] = {
    {error::closed, 1},
    {error::protocol_violation, 2},
    {error::message_too_big, 3},
    {error::invalid_utf8, 4},
    {error::handshake_timeout, 5},
    {error::idle_timeout, 6},
    {error::close_timeout, 7},
    {error::backpressure, 8},
    {error::upgrade_rejected, 9},
    {error::bad_handshake, 10},
    {error::bad_accept_key, 11},
    {error::not_open, 12},
    {error::operation_aborted, 13},
    {error::bad_url, 14},
    {error::message_in_progress, 15},
};
} // namespace

TEST_CASE("wsx::error values are the fixed documented numbers", "[error]") {
    static_assert(std::is_error_code_enum_v<error>);
    for (const auto& [e, value] : all_errors) {
        INFO("expected value " << value);
        CHECK(static_cast<int>(e) == value);
    }
    // 1..15 with no gaps: the table above lists all of them.
    CHECK(std::size(all_errors) == 15);
}

TEST_CASE("every wsx::error converts to a std::error_code in the wsx category", "[error]") {
    std::set<std::string> messages;
    for (const auto& [e, value] : all_errors) {
        INFO("value " << value);
        const std::error_code ec = e; // implicit, via is_error_code_enum
        CHECK(ec.value() == value);
        CHECK(&ec.category() == &wsx::error_category());
        CHECK(std::string{ec.category().name()} == "wsx");
        CHECK(static_cast<bool>(ec));
        const std::string msg = ec.message();
        CHECK_FALSE(msg.empty());
        CHECK(msg != "unknown wsx error");
        CHECK(msg == wsx::error_category().message(value));
        messages.insert(msg);

        const std::error_code made = wsx::make_error_code(e);
        CHECK(made == ec);
    }
    CHECK(messages.size() == std::size(all_errors)); // all distinct
}

TEST_CASE("wsx::error compares with std::error_code", "[error]") {
    const std::error_code ec = wsx::make_error_code(error::idle_timeout);
    CHECK(ec == error::idle_timeout);
    CHECK(error::idle_timeout == ec);
    CHECK(ec != error::close_timeout);
    CHECK_FALSE(ec == error::handshake_timeout);

    // Same number, different category: not equal.
    const std::error_code generic{6, std::generic_category()};
    CHECK(generic != error::idle_timeout);
    const std::error_code system{static_cast<int>(error::operation_aborted), std::system_category()};
    CHECK(system != error::operation_aborted);

    // A default (success) error_code matches no wsx error.
    const std::error_code ok;
    for (const auto& [e, value] : all_errors) CHECK(ok != e);

    std::error_code assigned;
    assigned = error::bad_url;
    CHECK(assigned.value() == 14);
    CHECK(assigned.category() == wsx::error_category());
}

TEST_CASE("wsx::error_category is one object with name wsx", "[error]") {
    CHECK(&wsx::error_category() == &wsx::error_category());
    CHECK(std::string{wsx::error_category().name()} == "wsx");
    CHECK(wsx::error_category() != std::generic_category());
}

TEST_CASE("values wsx does not define give \"unknown wsx error\"", "[error]") {
    for (int value : {0, 16, 17, 100, -1, 255, 1 << 20}) {
        INFO("value " << value);
        CHECK(wsx::error_category().message(value) == "unknown wsx error");
        const std::error_code ec{value, wsx::error_category()};
        CHECK(ec.message() == "unknown wsx error");
    }
}

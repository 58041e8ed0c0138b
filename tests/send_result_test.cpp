// SPDX-License-Identifier: BSL-1.0
#include <wsx/send_result.hpp>

#include <set>
#include <string>

#include "catch.hpp"

using wsx::send_result;
using wsx::send_status;

namespace {
// What code written when send() returned bool does with the result.
bool old_style(send_result r) { return r; }
} // namespace

TEST_CASE("send_result converts to bool: true only when queued") {
    CHECK(old_style(send_status::queued));
    for (auto s : {send_status::not_open, send_status::invalid_utf8, send_status::dropped,
                   send_status::closing_backpressure, send_status::fragmenting}) {
        INFO(std::string{to_string(s)});
        const send_result r = s;
        CHECK_FALSE(old_style(r));
        CHECK_FALSE(r.queued());
        CHECK(r.status() == s);
        CHECK(r == s);
    }
    const bool b = send_result{};
    CHECK(b);  // a default result is queued
}

TEST_CASE("send_result::error names the reason as a wsx::error") {
    CHECK_FALSE(send_result{send_status::queued}.error());
    CHECK(send_result{send_status::not_open}.error() == wsx::error::not_open);
    CHECK(send_result{send_status::invalid_utf8}.error() == wsx::error::invalid_utf8);
    CHECK(send_result{send_status::dropped}.error() == wsx::error::backpressure);
    CHECK(send_result{send_status::closing_backpressure}.error() == wsx::error::backpressure);
    CHECK(send_result{send_status::fragmenting}.error() == wsx::error::message_in_progress);
}

TEST_CASE("every send_status has its own text") {
    std::set<std::string> texts;
    for (auto s : {send_status::queued, send_status::not_open, send_status::invalid_utf8,
                   send_status::dropped, send_status::closing_backpressure, send_status::fragmenting})
        texts.emplace(to_string(s));
    CHECK(texts.size() == 6);
    CHECK(texts.count("unknown") == 0);
}

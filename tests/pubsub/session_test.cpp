// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/session.hpp>

#include <string>
#include <vector>

#include "catch.hpp"

using kind = wsx::pubsub::client_event::kind;
using wsx::pubsub::client_session;
using wsx::pubsub::position;

namespace {
std::string message(std::string_view epoch, std::uint64_t offset, std::string_view data = "1") {
    return wsx::pubsub::message_json("t", position{std::string{epoch}, offset}, data);
}
} // namespace

TEST_CASE("client_session: subscribes, then resumes from the last delivered position on every open") {
    client_session s;
    CHECK(s.subscribe("t") == R"({"op":"subscribe","topic":"t"})");
    CHECK(s.on_open() == std::vector<std::string>{R"({"op":"subscribe","topic":"t"})"});
    auto ev = s.on_text(R"({"op":"subscribed","topic":"t","epoch":"E","offset":4})");
    CHECK(ev.what == kind::subscribed);
    CHECK(*s.position_of("t") == position{"E", 4});
    ev = s.on_text(message("E", 5, R"({"a":"b"})"));
    CHECK(ev.what == kind::message);
    CHECK(ev.pos == position{"E", 5});
    CHECK(ev.data == R"({"a":"b"})");
    CHECK(s.on_open() == std::vector<std::string>{R"({"op":"subscribe","topic":"t","since":{"epoch":"E","offset":5}})"});
    // The replay may repeat what was delivered: ignored.
    CHECK(s.on_text(message("E", 5)).what == kind::ignored);
    CHECK(s.on_text(message("E", 6)).what == kind::message);
    ev = s.on_text(R"({"op":"subscribed","topic":"t","epoch":"E","offset":6,"recovered":true})");
    CHECK(ev.what == kind::subscribed);
    CHECK(ev.recovered == true);
}

TEST_CASE("client_session: a gap is not delivered, and asks for a replay once") {
    client_session s;
    s.subscribe("t", position{"E", 10});
    auto ev = s.on_text(message("E", 12));
    CHECK(ev.what == kind::ignored);
    CHECK(ev.reply == R"({"op":"subscribe","topic":"t","since":{"epoch":"E","offset":10}})");
    CHECK(s.on_text(message("E", 13)).reply.empty());  // already asked
    CHECK(s.on_text(message("E", 11)).what == kind::message);
    CHECK(s.on_text(message("E", 12)).what == kind::message);
    CHECK(s.on_text(message("E", 13)).what == kind::message);  // the replay goes up to the newest
    CHECK(s.on_text(R"({"op":"subscribed","topic":"t","epoch":"E","offset":13,"recovered":true})").what == kind::subscribed);
    CHECK(s.on_text(message("E", 14)).what == kind::message);
}

TEST_CASE("client_session: recovered:false is a reset; another epoch waits for subscribed; errors and others") {
    client_session s;
    s.subscribe("t", position{"OLD", 10});
    CHECK(s.on_text(message("NEW", 1)).what == kind::ignored);  // before "subscribed" says what happened
    auto ev = s.on_text(R"({"op":"subscribed","topic":"t","epoch":"NEW","offset":3,"recovered":false})");
    CHECK(ev.what == kind::reset);
    CHECK(ev.pos == position{"NEW", 3});
    CHECK(s.on_text(message("NEW", 4)).what == kind::message);

    ev = s.on_text(R"({"op":"error","topic":"t","error":"no"})");
    CHECK(ev.what == kind::error);
    CHECK(ev.error == "no");
    CHECK(s.on_text("nope").what == kind::error);
    CHECK(s.on_text(R"({"op":"message","topic":"other","epoch":"E","offset":1,"data":1})").what == kind::ignored);
    CHECK(s.on_text(R"({"op":"published","topic":"t","epoch":"E","offset":9})").what == kind::published);
    CHECK(s.unsubscribe("t") == R"({"op":"unsubscribe","topic":"t"})");
    CHECK(s.on_open().empty());
    CHECK(client_session::publish("a\"b", "[1]") == R"({"op":"publish","topic":"a\"b","data":[1]})");
}

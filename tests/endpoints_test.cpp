// SPDX-License-Identifier: BSL-1.0
#include <wsx/endpoints.hpp>

#include <string>
#include <vector>

#include <simdjson.h>

#include "catch.hpp"
#include "iso8601.hpp"
#include "memory_connection.hpp"

using wsx::test::is_iso8601_utc;
using wsx::test::memory_hub;

namespace {
struct event {
    std::string type, from, message, timestamp;
};

event parse(const std::string& json) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(json);
    event e;
    e.type = std::string{std::string_view(doc["type"])};
    std::string_view from;
    if (!doc["from"].get(from)) e.from = from;
    e.message = std::string{std::string_view(doc["message"])};
    e.timestamp = std::string{std::string_view(doc["timestamp"])};
    return e;
}
} // namespace

TEST_CASE("echo sends every message back with its type") {
    const auto ep = wsx::endpoints::echo();  // outlives the connections in hub
    memory_hub hub;
    auto& p = hub.connect(ep);
    p.send_text("ping?");
    hub.poll();
    CHECK(p.messages() == std::vector<std::string>{"ping?"});
}

TEST_CASE("broadcast endpoint: join, echo, message and leave events") {
    wsx::registry reg;
    const auto ep = wsx::endpoints::broadcast(reg);
    memory_hub hub;
    auto& a = hub.connect(ep);
    const std::string a_id{a.conn->id()};
    auto joined_a = a.messages();
    REQUIRE(joined_a.size() == 1);
    auto e = parse(joined_a[0]);
    CHECK(e.type == "system");
    CHECK(e.message == "Client " + a_id + " joined.");
    CHECK(is_iso8601_utc(e.timestamp));

    auto& b = hub.connect(ep);
    auto& c = hub.connect(ep);
    const std::string b_id{b.conn->id()};
    CHECK(parse(a.messages().at(0)).message == "Client " + b_id + " joined.");
    CHECK(b.messages().size() == 2);  // its own join, then c's
    c.messages();

    // Any text round-trips exactly: quotes, backslashes, control characters, non-ASCII, emoji.
    const std::string tricky = "say \"hi\" \\ path\\to\n\t\x01\x1f é 😀 </script>";
    a.send_text(tricky);
    hub.poll();
    const auto to_a = a.messages();
    REQUIRE(to_a.size() == 1);
    e = parse(to_a[0]);
    CHECK(e.type == "echo");
    CHECK(e.from == a_id);
    CHECK(e.message == tricky);
    for (auto* p : {&b, &c}) {
        const auto got = p->messages();
        REQUIRE(got.size() == 1);
        e = parse(got[0]);
        CHECK(e.type == "message");
        CHECK(e.from == a_id);
        CHECK(e.message == tricky);
    }

    // Leave: the others hear of it.
    b.send_close();
    hub.poll();
    b.pipe->close_peer();
    hub.poll();
    for (auto* p : {&a, &c}) {
        const auto got = p->messages();
        REQUIRE(got.size() == 1);
        e = parse(got[0]);
        CHECK(e.type == "system");
        CHECK(e.message == "Client " + b_id + " left.");
    }
    CHECK(reg.count() == 2);
}

TEST_CASE("broadcast endpoint refuses binary messages with 1003") {
    wsx::registry reg;
    const auto ep = wsx::endpoints::broadcast(reg);
    memory_hub hub;
    auto& a = hub.connect(ep);
    std::string f;
    const wsx::protocol::mask_key key{1, 2, 3, 4};
    wsx::protocol::append_frame(f, wsx::opcode::binary, "\x01", true, &key);
    a.pipe->feed(f);
    hub.poll();
    CHECK(a.conn->state() == wsx::connection_state::closing);
}

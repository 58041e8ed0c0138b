// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/endpoint.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include <wsx/pubsub/rest.hpp>
#include <wsx/rest.hpp>
#include <wsx/server.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"
#include "pubsub_client.hpp"
#include "rest_client.hpp"

using namespace std::chrono_literals;
using wsx::test::loopback_client;
using wsx::test::rest_client;
using wsx::test::ws_event;
using kind = ws_event::kind;

namespace {

// The pubsub endpoint at /pubsub, the topics' REST routes (/api/topics) and
// the connections' (/api/connections) over one registry, on a real socket.
struct fixture {
    wsx::registry reg;
    wsx::pubsub::topics topics;
    wsx::server srv;

    explicit fixture(wsx::pubsub::topics_options t = {}, wsx::pubsub::endpoint_options e = {})
        : topics(reg, t),
          srv(wsx::server_options{.host = "127.0.0.1", .port = 0, .handshake_timeout = 2s,
                                  .stop_timeout = 500ms, .timer_resolution = 20ms}) {
        srv.websocket("/pubsub", wsx::endpoints::pubsub(topics, std::move(e)));
        wsx::pubsub::mount_rest(srv, topics);
        wsx::mount_rest(srv, reg);
        srv.start(2);  // REST and WebSocket clients on different I/O threads too
    }
    ~fixture() {
        srv.stop();
        srv.join();
    }
    std::uint16_t port() const { return srv.port(); }
};

using client = wsx::test::pubsub_client;
using wsx::test::rest_publish;
constexpr auto since = wsx::test::pubsub_since;

} // namespace

TEST_CASE("a client that drops after 50 of 100 and resumes gets exactly 51..150 in order, then live ones") {
    fixture f;
    rest_client rest(f.port());
    std::string epoch;
    {
        client a(f.port());
        const auto s = a.subscribe("orders");
        CHECK(s.op == "subscribed");
        CHECK(s.offset == 0);
        CHECK_FALSE(s.recovered);
        epoch = s.epoch;
        for (int i = 1; i <= 100; ++i)
            CHECK(rest_publish(rest, "orders", R"({"type":"ORDER_CREATED","id":)" + std::to_string(i) + "}") ==
                  static_cast<std::uint64_t>(i));
        for (std::uint64_t i = 1; i <= 50; ++i) {
            const auto m = a.next();
            REQUIRE(m.op == "message");
            REQUIRE(m.offset == i);
            CHECK(m.epoch == epoch);
            CHECK(m.topic == "orders");
            CHECK(m.data == R"({"type":"ORDER_CREATED","id":)" + std::to_string(i) + "}");
        }
        a.c->close();  // dropped: no closing handshake, 50 messages unread
    }
    for (int i = 101; i <= 150; ++i)
        rest_publish(rest, "orders", R"({"type":"ORDER_CREATED","id":)" + std::to_string(i) + "}");

    client b(f.port());
    b.send(R"({"op":"subscribe","topic":"orders","since":)" + since(epoch, 50) + "}");
    for (std::uint64_t i = 51; i <= 150; ++i) {
        const auto m = b.next();
        REQUIRE(m.op == "message");
        REQUIRE(m.offset == i);
        CHECK(m.data == R"({"type":"ORDER_CREATED","id":)" + std::to_string(i) + "}");
    }
    const auto s = b.next();
    CHECK(s.op == "subscribed");
    CHECK(s.recovered == true);
    CHECK(s.offset == 150);
    CHECK(s.epoch == epoch);
    CHECK(rest_publish(rest, "orders", R"("live")") == 151);
    const auto live = b.next();
    CHECK(live.offset == 151);
    CHECK(live.data == R"("live")");
    b.expect_nothing();  // no duplicate
}

TEST_CASE("history exceeded or another epoch: recovered:false with the current position, no replay") {
    fixture f({.history = {.max_messages = 10, .max_age = 1min}});
    rest_client rest(f.port());
    for (int i = 1; i <= 30; ++i) rest_publish(rest, "t", std::to_string(i));
    client a(f.port());
    const std::string epoch = f.topics.newest("t")->epoch;

    auto s = a.subscribe("t", since(epoch, 19));  // 20 is gone: 21..30 held
    CHECK(s.op == "subscribed");
    CHECK(s.recovered == false);
    CHECK(s.offset == 30);
    CHECK(s.epoch == epoch);
    s = a.subscribe("t", since("not-" + epoch, 29));
    CHECK(s.op == "subscribed");
    CHECK(s.recovered == false);
    s = a.subscribe("t", since(epoch, 20));  // exactly what is held: recovered
    for (std::uint64_t i = 21; i <= 30; ++i) {
        CHECK(s.op == "message");
        CHECK(s.offset == i);
        s = a.next();
    }
    CHECK(s.recovered == true);
    a.expect_nothing();
}

TEST_CASE("every bad input is answered with an error, the connection stays open, other subscribers are unaffected") {
    wsx::pubsub::endpoint_options options;
    options.max_subscriptions = 2;
    options.authorize = [](wsx::connection&, wsx::pubsub::access a, std::string_view topic) {
        if (topic == "secret") return false;
        return a == wsx::pubsub::access::subscribe || topic == "chat";
    };
    fixture f({}, std::move(options));
    rest_client rest(f.port());
    client other(f.port());
    CHECK(other.subscribe("t").op == "subscribed");

    client bad(f.port());
    struct input {
        std::string text, topic, error_part;
    };
    const std::vector<input> inputs{
        {"hello", "", "not JSON"},
        {R"({"op":"dance","topic":"t"})", "t", "unknown op"},
        {R"({"op":"subscribe"})", "", "missing \"topic\""},
        {R"({"op":"subscribe","topic":")" + std::string(300, 'x') + "\"}", std::string(256, 'x'), "longer than 256"},
        {R"({"op":"subscribe","topic":"secret"})", "secret", "not allowed to subscribe"},
        {R"({"op":"publish","topic":"t","data":1})", "t", "not allowed to publish"},
        {R"({"op":"subscribe","topic":"t","since":{"epoch":"x"}})", "t", "\"since\" must be"},
    };
    for (const auto& in : inputs) {
        INFO(in.text);
        bad.send(in.text);
        const auto e = bad.next();
        CHECK(e.op == "error");
        CHECK(e.topic == in.topic);
        CHECK(e.error.find(in.error_part) != std::string::npos);
    }
    REQUIRE_FALSE(bad.c->send_binary("\x01\x02"));
    CHECK(bad.next().error.find("binary") != std::string::npos);

    // Too many subscriptions: the third is refused, a repeated one is not a new one.
    CHECK(bad.subscribe("a").op == "subscribed");
    CHECK(bad.subscribe("a").op == "subscribed");
    CHECK(bad.subscribe("b").op == "subscribed");
    auto e = bad.subscribe("c");
    CHECK(e.op == "error");
    CHECK(e.error.find("too many subscriptions") != std::string::npos);
    bad.send(R"({"op":"unsubscribe","topic":"b"})");
    CHECK(bad.next().raw == R"({"op":"unsubscribed","topic":"b"})");
    CHECK(bad.subscribe("c").op == "subscribed");

    // Client publishing where the hook allows it: acknowledged with the offset.
    bad.send(R"({"op":"publish","topic":"chat","data":{"text":"hi"}})");
    e = bad.next();
    CHECK(e.op == "published");
    CHECK(e.offset == 1);
    CHECK(e.epoch == f.topics.newest("chat")->epoch);

    // The other subscriber saw none of it and still gets its messages.
    rest_publish(rest, "t", "42");
    const auto m = other.next();
    CHECK(m.op == "message");
    CHECK(m.offset == 1);
    CHECK(m.data == "42");
    other.expect_nothing(50ms);

    // Invalid UTF-8 breaks RFC 6455 itself: the connection is closed with 1007.
    REQUIRE_FALSE(bad.c->send_text("\xff"));
    const ws_event ev = bad.c->read_until_close();
    CHECK(ev.what == kind::close);
    CHECK(ev.code == wsx::close_code::invalid_payload);
    CHECK(rest_publish(rest, "t", "43") == 2);
    CHECK(other.next().offset == 2);
}

TEST_CASE("presence: subscribers per topic, and a closed client leaves its topics") {
    fixture f;
    rest_client rest(f.port());
    auto a = std::make_unique<client>(f.port());
    client b(f.port());
    a->subscribe("p");
    b.subscribe("p");
    a->subscribe("q");
    CHECK(f.topics.subscribers("p") == 2);
    CHECK(f.topics.subscribers("q") == 1);
    a.reset();  // drops the TCP connection
    CHECK(wsx::test::wait_until([&] { return f.topics.subscribers("p") == 1; }));
    // "q" had one subscriber and nothing published: forgotten.
    CHECK(wsx::test::wait_until([&] { return !f.topics.newest("q"); }));
    CHECK(f.topics.newest("p"));
}

// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/rest.hpp>

#include <string>

#include <simdjson.h>

#include <wsx/pubsub/endpoint.hpp>
#include <wsx/server.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"
#include "rest_client.hpp"

using namespace std::chrono_literals;
using wsx::test::rest_client;

namespace {
struct fixture {
    wsx::registry reg;
    wsx::pubsub::topics topics;
    wsx::server srv;

    explicit fixture(wsx::pubsub::rest_options rest = {})
        : topics(reg, {.history = {.max_messages = 3, .max_age = 1min}}),
          srv(wsx::server_options{.host = "127.0.0.1", .port = 0, .stop_timeout = 500ms}) {
        srv.websocket("/pubsub", wsx::endpoints::pubsub(topics));
        wsx::pubsub::mount_rest(srv, topics, std::move(rest));
        srv.start(1);
    }
    ~fixture() {
        srv.stop();
        srv.join();
    }
};

std::string error_of(const wsx::http::response& res) {
    const auto doc = wsx::test::parse_json(res.body);
    return wsx::test::string_field(doc->root, "error");
}
} // namespace

TEST_CASE("POST publish answers the position; GET lists topics with offset, history held and subscribers") {
    fixture f;
    rest_client rest(f.srv.port());
    for (int i = 1; i <= 5; ++i) {
        const auto res = rest.post("/api/topics/eu%2Forders/publish", R"({"data":{"n":)" + std::to_string(i) + "}}");
        REQUIRE(res);
        REQUIRE(res->status == 200);
        CHECK(res->headers.get("Content-Type") == "application/json");
        const auto doc = wsx::test::parse_json(res->body);
        CHECK(wsx::test::uint_field(doc->root, "offset") == static_cast<std::uint64_t>(i));
        CHECK(wsx::test::string_field(doc->root, "epoch") == f.topics.newest("eu/orders")->epoch);
        CHECK(wsx::test::uint_field(doc->root, "delivered") == 0);
    }
    // A '/' in the topic may also come unencoded.
    auto res = rest.post("/api/topics/us/orders/publish", R"({"data":"x"})");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(f.topics.newest("us/orders")->offset == 1);

    wsx::test::loopback_client ws(f.srv.port());
    REQUIRE(ws.upgrade("/pubsub"));
    REQUIRE_FALSE(ws.send_text(R"({"op":"subscribe","topic":"us/orders"})"));
    REQUIRE(ws.read_event(2s).is_message());

    res = rest.get("/api/topics");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    const auto epoch_eu = f.topics.newest("eu/orders")->epoch;
    const auto epoch_us = f.topics.newest("us/orders")->epoch;
    CHECK(res->body == R"({"topics":[{"topic":"eu/orders","epoch":")" + epoch_eu +
                           R"(","offset":5,"held":3,"oldest_held":3,"subscribers":0},{"topic":"us/orders","epoch":")" +
                           epoch_us + R"(","offset":1,"held":1,"oldest_held":1,"subscribers":1}]})");
}

TEST_CASE("REST errors: bad bodies, bad topics, wrong routes and methods, token") {
    fixture f({.bearer_token = "s3cret", .max_body_size = 100});
    rest_client rest(f.srv.port(), "s3cret");
    auto res = rest.post("/api/topics/t/publish", "nope");
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(error_of(*res) == "body is not valid JSON");
    res = rest.post("/api/topics/t/publish", R"({"message":1})");
    REQUIRE(res);
    CHECK(res->status == 400);
    res = rest.post("/api/topics/t/publish", R"([1])");
    REQUIRE(res);
    CHECK(res->status == 400);
    res = rest.post("/api/topics/%FF/publish", R"({"data":1})");
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(error_of(*res) == "topic is not UTF-8");
    res = rest.post("/api/topics/" + std::string(257, 'x') + "/publish", R"({"data":1})");
    REQUIRE(res);
    CHECK(res->status == 400);
    res = rest.post("/api/topics/t/publish", R"({"data":")" + std::string(200, 'x') + "\"}");
    REQUIRE(res);
    CHECK(res->status == 413);
    res = rest.post("/api/topics/t/other", R"({"data":1})");
    REQUIRE(res);
    CHECK(res->status == 404);
    res = rest.post("/api/topics//publish", R"({"data":1})");
    REQUIRE(res);
    CHECK(res->status == 404);
    res = rest.get("/api/topics/t/publish");
    REQUIRE(res);
    CHECK(res->status == 405);
    CHECK(res->headers.get("Allow") == "POST");
    res = rest.post("/api/topics", "{}");
    REQUIRE(res);
    CHECK(res->status == 405);
    CHECK(f.topics.list().empty());  // nothing above published

    rest_client anonymous(f.srv.port());
    res = anonymous.post("/api/topics/t/publish", R"({"data":1})");
    REQUIRE(res);
    CHECK(res->status == 401);
    CHECK_FALSE(f.topics.newest("t"));
}

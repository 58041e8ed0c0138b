// SPDX-License-Identifier: BSL-1.0
#include <wsx/pubsub/protocol.hpp>

#include <string>
#include <vector>

#include <simdjson.h>

#include "catch.hpp"

using wsx::pubsub::op;
using wsx::pubsub::parse_request;
using wsx::pubsub::position;

TEST_CASE("parse_request: the four requests of wsx.pubsub.v1") {
    auto r = parse_request(R"({"op":"subscribe","topic":"orders"})");
    REQUIRE(r);
    CHECK(r.req->op == op::subscribe);
    CHECK(r.req->topic == "orders");
    CHECK_FALSE(r.req->since);

    r = parse_request(R"({"topic":"eu/orders","op":"subscribe","since":{"epoch":"e1","offset":50}})");
    REQUIRE(r);
    REQUIRE(r.req->since);
    CHECK(*r.req->since == position{"e1", 50});
    CHECK(r.req->topic == "eu/orders");

    r = parse_request(R"({"op":"unsubscribe","topic":"t"})");
    REQUIRE(r);
    CHECK(r.req->op == op::unsubscribe);

    r = parse_request(R"({"op":"publish","topic":"t","data": { "id" : 1, "s":"a\"b" } })");
    REQUIRE(r);
    CHECK(r.req->op == op::publish);
    CHECK(r.req->data == R"({"id":1,"s":"a\"b"})");  // compact, escapes kept
    r = parse_request(R"({"op":"publish","topic":"t","data":null})");
    REQUIRE(r);
    CHECK(r.req->data == "null");
}

TEST_CASE("parse_request: every bad input says what was wrong, with the topic when there is one") {
    struct bad {
        std::string text, topic, error_part;
    };
    const std::vector<bad> cases{
        {"not json", "", "not JSON"},
        {"", "", "not JSON"},
        {"[1,2]", "", "not a JSON object"},
        {R"({"topic":"t"})", "t", "missing \"op\""},
        {R"({"op":7,"topic":"t"})", "t", "missing \"op\""},
        {R"({"op":"dance","topic":"t"})", "t", "unknown op \"dance\""},
        {R"({"op":"subscribe"})", "", "missing \"topic\""},
        {R"({"op":"subscribe","topic":5})", "", "missing \"topic\""},
        {R"({"op":"subscribe","topic":""})", "", "empty topic"},
        {R"({"op":"subscribe","topic":")" + std::string(257, 'x') + "\"}", std::string(256, 'x'),
         "topic longer than 256 bytes"},
        {R"({"op":"subscribe","topic":"t","since":5})", "t", "\"since\" must be"},
        {R"({"op":"subscribe","topic":"t","since":{"epoch":"e"}})", "t", "\"since\" must be"},
        {R"({"op":"subscribe","topic":"t","since":{"epoch":"e","offset":-1}})", "t", "\"since\" must be"},
        {R"({"op":"subscribe","topic":"t","since":{"epoch":1,"offset":1}})", "t", "\"since\" must be"},
        {R"({"op":"publish","topic":"t"})", "t", "missing \"data\""},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        const auto r = parse_request(c.text);
        CHECK_FALSE(r);
        CHECK(r.topic == c.topic);
        CHECK(r.error.find(c.error_part) != std::string::npos);
    }
    // A topic of exactly the limit is fine.
    CHECK(parse_request(R"({"op":"subscribe","topic":")" + std::string(256, 'x') + "\"}"));
    CHECK_FALSE(parse_request(R"({"op":"subscribe","topic":"abc"})", {.max_topic_size = 2}));
}

TEST_CASE("the answers are the JSON the protocol specifies") {
    const position p{"ep", 7};
    CHECK(wsx::pubsub::message_json("t\"q", p, R"({"a":1})") ==
          R"({"op":"message","topic":"t\"q","epoch":"ep","offset":7,"data":{"a":1}})");
    CHECK(wsx::pubsub::subscribed_json("t", p, std::nullopt) ==
          R"({"op":"subscribed","topic":"t","epoch":"ep","offset":7})");
    CHECK(wsx::pubsub::subscribed_json("t", p, true) ==
          R"({"op":"subscribed","topic":"t","epoch":"ep","offset":7,"recovered":true})");
    CHECK(wsx::pubsub::subscribed_json("t", p, false) ==
          R"({"op":"subscribed","topic":"t","epoch":"ep","offset":7,"recovered":false})");
    CHECK(wsx::pubsub::unsubscribed_json("t") == R"({"op":"unsubscribed","topic":"t"})");
    CHECK(wsx::pubsub::published_json("t", p) == R"({"op":"published","topic":"t","epoch":"ep","offset":7})");
    CHECK(wsx::pubsub::error_json("", "not JSON") == R"({"op":"error","error":"not JSON"})");
    CHECK(wsx::pubsub::error_json("t", "x\ny") == R"({"op":"error","topic":"t","error":"x\ny"})");
    // Each is one valid JSON object.
    simdjson::dom::parser parser;
    for (const auto& s : {wsx::pubsub::message_json("t", p, "[1,\"x\"]"), wsx::pubsub::error_json("t", "\x01")}) {
        simdjson::dom::element e;
        CHECK(parser.parse(s).get(e) == simdjson::SUCCESS);
        CHECK(e.is_object());
    }
    CHECK(wsx::pubsub::is_json("{\"a\":[1,2]}"));
    CHECK(wsx::pubsub::is_json("\"s\""));
    CHECK_FALSE(wsx::pubsub::is_json("{a}"));
    CHECK_FALSE(wsx::pubsub::is_json(""));
}

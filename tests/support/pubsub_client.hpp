// SPDX-License-Identifier: BSL-1.0
#pragma once
// A blocking client of the pubsub endpoint (wsx.pubsub.v1) for the topic tests
// (tests/pubsub, tests/backplane): it parses what the server sends into the
// fields the tests check, and publishes through the topics' REST route.
// Requires Catch2: a failure to connect, parse or publish fails the test.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include <wsx/pubsub/protocol.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"
#include "rest_client.hpp"

namespace wsx::test {

// One message from the server, by the fields the protocol defines.
struct pubsub_received {
    std::string raw, op, topic, epoch, error, data;  // data: minified JSON
    std::uint64_t offset = 0;
    std::optional<bool> recovered;
};

inline pubsub_received parse_pubsub(const std::string& raw) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    INFO(raw);
    REQUIRE(parser.parse(raw).get(doc) == simdjson::SUCCESS);
    pubsub_received r;
    r.raw = raw;
    std::string_view s;
    if (!doc["op"].get(s)) r.op = s;
    if (!doc["topic"].get(s)) r.topic = s;
    if (!doc["epoch"].get(s)) r.epoch = s;
    if (!doc["error"].get(s)) r.error = s;
    std::uint64_t n = 0;
    if (!doc["offset"].get(n)) r.offset = n;
    bool b = false;
    if (!doc["recovered"].get(b)) r.recovered = b;
    simdjson::dom::element data;
    if (!doc["data"].get(data)) r.data = simdjson::minify(data);
    return r;
}

// The "since" member of a subscribe request.
inline std::string pubsub_since(const std::string& epoch, std::uint64_t offset) {
    return R"({"epoch":")" + epoch + R"(","offset":)" + std::to_string(offset) + "}";
}

struct pubsub_client {
    std::unique_ptr<loopback_client> c;

    // Upgrades at `path`, asking for the subprotocol, which the server must choose.
    explicit pubsub_client(std::uint16_t port, std::string_view path = "/pubsub")
        : c(std::make_unique<loopback_client>(port)) {
        const std::vector<std::string> protocols{"wsx.pubsub.v1"};
        const auto res = c->upgrade(std::string{path}, protocols);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        CHECK(res->headers.get("Sec-WebSocket-Protocol") == "wsx.pubsub.v1");
        REQUIRE(c->upgraded());
    }
    void send(std::string_view text) { REQUIRE_FALSE(c->send_text(text)); }
    pubsub_received next(std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
        const ws_event ev = c->read_event(timeout);
        INFO("got " << to_string(ev.what) << ": " << ev.payload);
        REQUIRE(ev.what == ws_event::kind::message);
        return parse_pubsub(ev.payload);
    }
    void expect_nothing(std::chrono::milliseconds quiet = std::chrono::milliseconds(150)) {
        const ws_event ev = c->read_event(quiet);
        INFO("got " << to_string(ev.what) << ": " << ev.payload);
        CHECK(ev.what == ws_event::kind::timeout);
    }
    // Subscribes and returns the server's answer; `since` is a "since" member
    // (pubsub_since) or empty for live messages only.
    pubsub_received subscribe(std::string_view topic, std::string_view since = {}) {
        std::string op = R"({"op":"subscribe","topic":")" + std::string{topic} + "\"";
        if (!since.empty()) op += R"(,"since":)" + std::string{since};
        send(op + "}");
        return next();
    }
    pubsub_received subscribe(std::string_view topic, const pubsub::position& since) {
        return subscribe(topic, pubsub_since(since.epoch, since.offset));
    }
};

// POST /api/topics/{topic}/publish; returns the offset the message got.
inline std::uint64_t rest_publish(rest_client& rest, std::string_view topic, std::string_view data) {
    const auto res = rest.post("/api/topics/" + std::string{topic} + "/publish", R"({"data":)" + std::string{data} + "}");
    REQUIRE(res);
    INFO(res->body);
    REQUIRE(res->status == 200);
    const auto doc = parse_json(res->body);
    return uint_field(doc->root, "offset");
}

} // namespace wsx::test

// SPDX-License-Identifier: BSL-1.0
// Loopback tests of wsx::mount_rest (include/wsx/rest.hpp) over a registry and
// the broadcast endpoint, wired as examples/broadcast_server wires them: the
// JSON listing and its fields, pushes to one client and to all, DELETE, every
// error answer, the bearer token, keep-alive, a live three-client chat, and a
// client that stops reading while the server streams to everyone; who may call
// it without a token (loopback peers, and others only when the application
// opts in), run through the server's own HTTP session over the in-memory
// transport playing non-loopback peers.
#include "wsx/rest.hpp"

#include "wsx/endpoints.hpp"
#include "wsx/server.hpp"

#include "catch.hpp"
#include "iso8601.hpp"
#include "loopback_client.hpp"
#include "memory_transport.hpp"
#include "rest_client.hpp"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::test::loopback_client;
using wsx::test::rest_client;
using wsx::test::test_clock;
using wsx::test::ws_event;
using kind = ws_event::kind;
using sys_clock = std::chrono::system_clock;

// Short deadlines keep the file fast (see tests/server_test.cpp).
wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1",
                               .port = 0,
                               .handshake_timeout = 2s,
                               .stop_timeout = 500ms,
                               .timer_resolution = 20ms};
}

using wsx::test::code_of;
using wsx::test::header;
using wsx::test::wait_until;

// ---- JSON ------------------------------------------------------------------------

using wsx::test::json_doc;
using wsx::test::parse_json;
using wsx::test::string_field;
using wsx::test::uint_field;

std::set<std::string> keys_of(simdjson::dom::element e) {
    simdjson::dom::object obj;
    REQUIRE(e.get(obj) == simdjson::SUCCESS);
    std::set<std::string> out;
    for (const auto field : obj) out.insert(std::string{field.key});
    return out;
}


using wsx::test::is_iso8601_utc;

// The instant an ISO 8601 UTC timestamp names, or nullopt when it is not one.
std::optional<sys_clock::time_point> parse_iso8601(const std::string& s) {
    if (!is_iso8601_utc(s)) return std::nullopt;
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return sys_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms);
}

// True when `ts` is an ISO 8601 UTC timestamp between `from` and `to` (the
// timestamp is cut to milliseconds, and the clocks may differ by a little).
bool timestamp_between(const std::string& ts, sys_clock::time_point from, sys_clock::time_point to) {
    const auto t = parse_iso8601(ts);
    return t && *t >= from - 1s && *t <= to + 1s;
}

// An event of the broadcast endpoint or the REST hook.
struct event {
    std::string raw;
    std::set<std::string> keys;
    std::string type, message, timestamp;
    std::optional<std::string> from;
};

event parse_event(const std::string& raw) {
    const auto doc = parse_json(raw);
    event e;
    e.raw = raw;
    e.keys = keys_of(doc->root);
    e.type = string_field(doc->root, "type");
    e.message = string_field(doc->root, "message");
    e.timestamp = string_field(doc->root, "timestamp");
    std::string_view from;
    if (doc->root["from"].get(from) == simdjson::SUCCESS) e.from = std::string{from};
    return e;
}

// The exact text the broadcast endpoint sends for a system event.
std::string system_json(std::string_view message, std::string_view timestamp) {
    return R"({"type":"system","message":)" + wsx::detail::json_string(message) + R"(,"timestamp":")" +
           std::string{timestamp} + "\"}";
}

// ---- the server under test ----------------------------------------------------------

// The broadcast endpoint at /ws and the REST hook over one registry. The
// registry is declared first: the server's connections use it until the server
// is gone. The destructor stops the server (also when a REQUIRE fails).
struct rest_fixture {
    wsx::registry reg;
    wsx::server srv;

    explicit rest_fixture(wsx::rest_options rest = {}, std::optional<wsx::connection_options> limits = {})
        : srv(test_options()) {
        auto ep = wsx::endpoints::broadcast(reg);
        ep.limits = std::move(limits);
        srv.websocket("/ws", std::move(ep));
        wsx::mount_rest(srv, reg, std::move(rest));
        srv.start(1);
    }
    ~rest_fixture() {
        srv.stop();
        srv.join();
    }
    rest_fixture(const rest_fixture&) = delete;
    rest_fixture& operator=(const rest_fixture&) = delete;

    std::uint16_t port() const { return srv.port(); }
};

// The next data message, which must come within `timeout`.
std::string next_message(loopback_client& c, std::chrono::milliseconds timeout = 3s) {
    const ws_event ev = c.read_event(timeout);
    INFO("got " << wsx::test::to_string(ev.what) << ": " << ev.payload);
    REQUIRE(ev.what == kind::message);
    CHECK(ev.type == wsx::opcode::text);
    return ev.payload;
}

// A WebSocket client of /ws whose own join message has been read and checked.
struct ws_client {
    std::unique_ptr<loopback_client> c;
    std::string id;
    std::uint64_t bytes_received = 0;  // payload bytes of the messages read

    loopback_client* operator->() const { return c.get(); }
    std::string next(std::chrono::milliseconds timeout = 3s) {
        std::string m = next_message(*c, timeout);
        bytes_received += m.size();
        return m;
    }
    // The next message, which must be the system event `text`.
    void expect_system(const std::string& text) {
        const event e = parse_event(next());
        CHECK(e.raw == system_json(text, e.timestamp));
        CHECK(e.keys == std::set<std::string>{"type", "message", "timestamp"});
        CHECK(timestamp_between(e.timestamp, sys_clock::now() - 10s, sys_clock::now()));
    }
    // Nothing arrives within `quiet`.
    void expect_nothing(std::chrono::milliseconds quiet = 150ms) {
        const ws_event ev = c->read_event(quiet);
        INFO("got " << wsx::test::to_string(ev.what) << ": " << ev.payload);
        CHECK(ev.what == kind::timeout);
    }
};

// Opens a client on /ws. Its first message is its own join event, which names
// its id; the id must be in the registry.
ws_client join(rest_fixture& f, std::size_t receive_buffer = 0) {
    ws_client w{std::make_unique<loopback_client>(f.port(), receive_buffer), {}};
    const auto res = w->upgrade("/ws");
    REQUIRE(res);
    REQUIRE(res->status == 101);
    REQUIRE(w->upgraded());
    const auto before = sys_clock::now();
    const event e = parse_event(w.next());
    CHECK(e.type == "system");
    REQUIRE(e.message.starts_with("Client "));
    REQUIRE(e.message.ends_with(" joined."));
    w.id = e.message.substr(7, e.message.size() - 7 - 8);
    CHECK(w.id.size() == 11);
    CHECK(e.raw == system_json("Client " + w.id + " joined.", e.timestamp));
    CHECK(timestamp_between(e.timestamp, before - 5s, sys_clock::now()));
    CHECK(f.reg.find(w.id) != nullptr);
    return w;
}

// Checks an error answer: the status, JSON {"error":"..."} and its content type.
void check_error(const std::optional<wsx::http::response>& res, int status) {
    REQUIRE(res);
    INFO("body: " << res->body);
    CHECK(res->status == status);
    CHECK(header(*res, "Content-Type") == "application/json");
    const auto doc = parse_json(res->body);
    CHECK(keys_of(doc->root) == std::set<std::string>{"error"});
    CHECK_FALSE(string_field(doc->root, "error").empty());
}

std::string message_body(std::string_view message) {
    return R"({"message":)" + wsx::detail::json_string(message) + "}";
}

const std::string api = "/api/connections";

const std::set<std::string> summary_fields{"id",       "remote",    "path",           "user",
                                           "connected_at", "messages_in", "messages_out", "bytes_in",
                                           "bytes_out",    "buffered_bytes", "groups",
                                           "protocol"};

// Every route of the REST hook under `api` (and one that does not exist), as
// (method, target): for the checks that must hold on all of them.
std::vector<std::pair<std::string, std::string>> every_route(const std::string& api, const std::string& id) {
    return {{"GET", api},
            {"GET", api + "/" + id},
            {"POST", api + "/broadcast"},
            {"POST", api + "/" + id + "/send"},
            {"DELETE", api + "/" + id},
            {"GET", api + "/no/such/route"}};
}

} // namespace

// ---- listing ----------------------------------------------------------------------------

TEST_CASE("rest: GET lists every connection with its fields", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());

    auto res = http.get(api);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(header(*res, "Content-Type") == "application/json");
    CHECK(header(*res, "Cache-Control") == "no-store");
    CHECK(res->body == R"({"count":0,"connections":[]})");

    const auto before = sys_clock::now();
    ws_client a = join(f);
    ws_client b = join(f);
    const auto after = sys_clock::now();
    a.expect_system("Client " + b.id + " joined.");
    REQUIRE_FALSE(a->send_text("hello"));
    CHECK(parse_event(a.next()).type == "echo");
    CHECK(parse_event(b.next()).type == "message");
    REQUIRE(f.reg.join(b.id, "zeta"));
    REQUIRE(f.reg.join(b.id, "alpha"));

    res = http.get(api);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(header(*res, "Content-Type") == "application/json");
    const auto doc = parse_json(res->body);
    CHECK(keys_of(doc->root) == std::set<std::string>{"count", "connections"});
    CHECK(uint_field(doc->root, "count") == 2);
    simdjson::dom::array list;
    REQUIRE(doc->root["connections"].get(list) == simdjson::SUCCESS);
    REQUIRE(list.size() == 2);

    struct expected {
        ws_client* client;
        std::uint64_t messages_in, messages_out, bytes_in;
        std::vector<std::string> groups;
    };
    // Oldest first. a: its join, b's join and its echo out, "hello" in. b: its
    // join and a's message out.
    const expected want[] = {{&a, 1, 3, 5, {}}, {&b, 0, 2, 0, {"alpha", "zeta"}}};
    std::string previous_connected_at;
    for (std::size_t i = 0; i < 2; ++i) {
        const auto c = list.at(i).value();
        const expected& w = want[i];
        INFO("connection " << i);
        CHECK(keys_of(c) == summary_fields);
        CHECK(string_field(c, "id") == w.client->id);
        CHECK(string_field(c, "remote") ==
              "127.0.0.1:" + std::to_string(w.client->c->socket().local_endpoint().port()));
        CHECK(string_field(c, "path") == "/ws");
        CHECK(string_field(c, "user").empty());
        const std::string connected_at = string_field(c, "connected_at");
        CHECK(timestamp_between(connected_at, before, after));
        CHECK(connected_at >= previous_connected_at);
        previous_connected_at = connected_at;
        CHECK(uint_field(c, "messages_in") == w.messages_in);
        CHECK(uint_field(c, "messages_out") == w.messages_out);
        CHECK(uint_field(c, "bytes_in") == w.bytes_in);
        CHECK(uint_field(c, "bytes_out") == w.client->bytes_received);
        CHECK(uint_field(c, "buffered_bytes") == 0);
        CHECK(string_field(c, "protocol") == "http/1.1");  // "h2": tests/http2/session_test.cpp
        simdjson::dom::array groups;
        REQUIRE(c["groups"].get(groups) == simdjson::SUCCESS);
        std::vector<std::string> names;
        for (const auto g : groups) names.emplace_back(std::string_view(g));
        CHECK(names == w.groups);
    }

    SECTION("a trailing slash lists the same") {
        res = http.get(api + "/");
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(uint_field(parse_json(res->body)->root, "count") == 2);
    }
    SECTION("HEAD answers the headers of the GET") {
        res = http.call("HEAD", api);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(header(*res, "Content-Type") == "application/json");
        CHECK(std::stoul(header(*res, "Content-Length")) > 100);
        // The body was not sent: the next answer parses cleanly.
        res = http.get(api + "/" + a.id);
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("rest: GET one connection by id; an unknown id is 404", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());
    ws_client a = join(f);

    auto res = http.get(api + "/" + a.id);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(header(*res, "Content-Type") == "application/json");
    const auto doc = parse_json(res->body);
    CHECK(keys_of(doc->root) == summary_fields);
    CHECK(string_field(doc->root, "id") == a.id);
    CHECK(string_field(doc->root, "path") == "/ws");
    CHECK(uint_field(doc->root, "messages_out") == 1);  // its join

    check_error(http.get(api + "/nope"), 404);
    check_error(http.get(api + "/" + a.id + "x"), 404);
    check_error(http.get(api + "/" + a.id.substr(1)), 404);
}

// ---- pushing ------------------------------------------------------------------------------

TEST_CASE("rest: POST broadcast reaches every WebSocket client", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());

    SECTION("no clients: no recipients") {
        const auto res = http.post(api + "/broadcast", message_body("anyone?"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(header(*res, "Content-Type") == "application/json");
        CHECK(res->body == R"({"recipients":0})");
    }
    SECTION("two clients") {
        ws_client a = join(f);
        ws_client b = join(f);
        a.expect_system("Client " + b.id + " joined.");
        const std::string text = "hello \"all\" \\ é 😀\n";
        const auto before = sys_clock::now();
        const auto res = http.post(api + "/broadcast", message_body(text));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(header(*res, "Content-Type") == "application/json");
        CHECK(res->body == R"({"recipients":2})");
        for (ws_client* w : {&a, &b}) {
            const event e = parse_event(w->next());
            CHECK(e.keys == std::set<std::string>{"type", "message", "timestamp"});
            CHECK(e.type == "server-broadcast");
            CHECK(e.message == text);
            CHECK(timestamp_between(e.timestamp, before, sys_clock::now()));
            w->expect_nothing(50ms);
        }
    }
}

TEST_CASE("rest: any JSON string round-trips to the clients exactly", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());
    ws_client a = join(f);
    // JSON escapes in the request (\u0000, \", \\, \/, \n, a surrogate pair)
    // and raw UTF-8: the client gets the decoded text, escaped again as JSON.
    const std::string body = R"({"message":"nul\u0000 ctl\u001f q\" bs\\ sl\/ nl\n tab\t \ud83d\ude00 é 😀 </script>"})";
    const std::string text = std::string("nul") + '\0' + " ctl\x1f q\" bs\\ sl/ nl\n tab\t 😀 é 😀 </script>";
    for (const std::string& target : {api + "/broadcast", api + "/" + a.id + "/send"}) {
        INFO(target);
        const auto res = http.post(target, body);
        REQUIRE(res);
        CHECK(res->status == 200);
        const event e = parse_event(a.next());
        CHECK(e.message == text);
    }
}

TEST_CASE("rest: a custom prefix, with a query string and a trailing slash", "[rest]") {
    rest_fixture f(wsx::rest_options{.prefix = "/admin/conns/"});  // the trailing slash is dropped
    rest_client http(f.port());
    ws_client a = join(f);
    auto res = http.get("/admin/conns?pretty=1");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(uint_field(parse_json(res->body)->root, "count") == 1);
    res = http.get("/admin/conns/" + a.id + "?x=y");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(string_field(parse_json(res->body)->root, "id") == a.id);
    res = http.post("/admin/conns/broadcast?from=test", message_body("hi"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":1})");
    CHECK(parse_event(a.next()).message == "hi");
    // The default prefix is not served, nor a path that only starts like the
    // prefix (the server's own 404, which ends the connection: one client each).
    for (const std::string& target : {api, std::string{"/admin/connsx"}}) {
        INFO(target);
        rest_client other(f.port());
        res = other.get(target);
        REQUIRE(res);
        CHECK(res->status == 404);
    }
}

TEST_CASE("rest: POST {id}/send reaches that client only; an unknown id is 404", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());
    ws_client a = join(f);
    ws_client b = join(f);
    ws_client c = join(f);
    a.expect_system("Client " + b.id + " joined.");
    a.expect_system("Client " + c.id + " joined.");
    b.expect_system("Client " + c.id + " joined.");

    const auto before = sys_clock::now();
    auto res = http.post(api + "/" + b.id + "/send", message_body("just for \"b\""));
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(header(*res, "Content-Type") == "application/json");
    CHECK(res->body == R"({"sent":true})");
    const event e = parse_event(b.next());
    CHECK(e.keys == std::set<std::string>{"type", "message", "timestamp"});
    CHECK(e.type == "server-message");
    CHECK(e.message == "just for \"b\"");
    CHECK(timestamp_between(e.timestamp, before, sys_clock::now()));

    // A broadcast behind it is the next thing everyone sees: a and c got nothing before.
    res = http.post(api + "/broadcast", message_body("marker"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":3})");
    for (ws_client* w : {&a, &b, &c}) {
        const event m = parse_event(w->next());
        CHECK(m.type == "server-broadcast");
        CHECK(m.message == "marker");
    }

    check_error(http.post(api + "/nope/send", message_body("x")), 404);
    check_error(http.post(api + "/" + b.id + "x/send", message_body("x")), 404);
    a.expect_nothing(50ms);
    b.expect_nothing(50ms);
    c.expect_nothing(50ms);
}

TEST_CASE("rest: DELETE {id} closes that connection with 1000", "[rest]") {
    rest_fixture f;
    rest_client http(f.port());
    ws_client a = join(f);
    ws_client b = join(f);
    a.expect_system("Client " + b.id + " joined.");

    auto res = http.del(api + "/" + a.id);
    REQUIRE(res);
    CHECK(res->status == 204);
    CHECK(res->body.empty());

    const ws_event ev = a->read_event(3s);
    REQUIRE(ev.what == kind::close);
    CHECK(code_of(ev.code) == 1000);
    CHECK(ev.payload == "closed by the server");
    REQUIRE_FALSE(a->send_close(close_code::normal));
    CHECK(a->read_event(3s).what == kind::eof);

    b.expect_system("Client " + a.id + " left.");
    CHECK(wait_until([&] { return f.reg.count() == 1; }));
    check_error(http.get(api + "/" + a.id), 404);
    check_error(http.del(api + "/" + a.id), 404);
    check_error(http.post(api + "/" + a.id + "/send", message_body("x")), 404);
    res = http.get(api);
    REQUIRE(res);
    CHECK(uint_field(parse_json(res->body)->root, "count") == 1);
}

// ---- errors ------------------------------------------------------------------------------

TEST_CASE("rest: bad requests get JSON errors and the connection stays usable", "[rest][errors]") {
    constexpr std::size_t limit = 1024;
    rest_fixture f(wsx::rest_options{.max_body_size = limit});
    ws_client a = join(f);
    rest_client http(f.port());  // one keep-alive connection for every request below
    const std::string broadcast = api + "/broadcast";
    const std::string send = api + "/" + a.id + "/send";

    SECTION("400: the body is not {\"message\": a non-empty string}") {
        const std::vector<std::string> bodies = {
            "",                                 // no body at all
            "{}",                               // missing
            R"({"msg":"x"})",                   // missing
            R"({"message":""})",                // empty
            R"({"message":42})",                // not a string
            R"({"message":null})",              //
            R"({"message":true})",              //
            R"({"message":["a"]})",             //
            R"({"message":{"text":"a"}})",      //
            "hello",                            // not JSON
            R"({"message":"x")",                // truncated
            R"({"message":"x"} trailing)",      // trailing garbage
            "{\"message\":\"\xff\"}",           // not UTF-8
            R"(["message","x"])",               // not an object
            R"("message")",                     //
        };
        for (const auto& body : bodies) {
            for (const auto& target : {broadcast, send}) {
                INFO(target << " body: " << body);
                check_error(http.post(target, body), 400);
            }
        }
    }
    SECTION("413: a body over rest_options::max_body_size; exactly the limit is fine") {
        std::string body = message_body(std::string(limit, 'x'));
        check_error(http.post(broadcast, body), 413);
        check_error(http.post(send, body), 413);
        check_error(http.post(broadcast, std::string(limit + 1, ' ')), 413);  // checked before parsing
        body = message_body(std::string(limit - message_body("").size(), 'y'));
        REQUIRE(body.size() == limit);
        auto res = http.post(broadcast, body);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(res->body == R"({"recipients":1})");
        CHECK(parse_event(a.next()).message == std::string(limit - message_body("").size(), 'y'));
    }
    SECTION("405 with Allow: a method the route does not have") {
        struct row {
            std::string method, target, allow;
        };
        const std::vector<row> rows = {
            {"POST", api, "GET, HEAD"},
            {"PUT", api, "GET, HEAD"},
            {"DELETE", api, "GET, HEAD"},
            {"GET", broadcast, "POST"},
            {"DELETE", broadcast, "POST"},
            {"PUT", broadcast, "POST"},
            {"POST", api + "/" + a.id, "GET, HEAD, DELETE"},
            {"PUT", api + "/" + a.id, "GET, HEAD, DELETE"},
            {"PATCH", api + "/" + a.id, "GET, HEAD, DELETE"},
            {"GET", send, "POST"},
            {"DELETE", send, "POST"},
        };
        for (const auto& r : rows) {
            INFO(r.method << " " << r.target);
            const auto res = http.call(r.method, r.target, r.method == "GET" || r.method == "DELETE"
                                                              ? std::string{}
                                                              : message_body("x"));
            check_error(res, 405);
            if (res) CHECK(header(*res, "Allow") == r.allow);
        }
    }
    SECTION("404: an unknown route under the prefix") {
        for (const std::string& target : {api + "/" + a.id + "/foo", api + "/" + a.id + "/send/x",
                                          api + "/broadcast/x", api + "/x/y/z", api + "//send", api + "//"}) {
            INFO(target);
            check_error(http.call("POST", target, message_body("x")), 404);
            check_error(http.get(target), 404);
        }
    }
    // Nothing above reached the client, and the one connection served it all.
    a.expect_nothing(100ms);
    CHECK_FALSE(http.connection().saw_eof());
    const auto res = http.get(api);
    REQUIRE(res);
    CHECK(res->status == 200);
}

TEST_CASE("rest: a bearer token guards every route", "[rest][auth]") {
    const std::string token = "s3cret-Token_42";
    rest_fixture f(wsx::rest_options{.bearer_token = token});
    ws_client a = join(f);

    SECTION("without or with a wrong token: 401 with WWW-Authenticate") {
        // RFC 6750 section 3.1: error="invalid_token" only when a bearer token came.
        const std::string none = R"(Bearer realm="wsx")";
        const std::string invalid = R"(Bearer realm="wsx", error="invalid_token")";
        const std::vector<std::pair<std::string, std::string>> wrong = {
            {"", none},                                             // none
            {"Authorization: Bearer nope\r\n", invalid},             //
            {"Authorization: Bearer s3cret-Token_4\r\n", invalid},   // a prefix
            {"Authorization: Bearer s3cret-Token_421\r\n", invalid},  // longer
            {"Authorization: Bearer s3cret-token_42\r\n", invalid},  // case matters in the token
            {"Authorization: Bearer \r\n", none},                   //
            {"Authorization: Bearer\r\n", none},                    //
            {"Authorization: Basic czNjcmV0LVRva2VuXzQy\r\n", none},  //
            {"Authorization: s3cret-Token_42\r\n", none},           // no scheme
        };
        rest_client http(f.port());
        for (const auto& [auth, challenge] : wrong) {
            INFO("header: " << auth);
            for (const auto& [method, target] : every_route(api, a.id)) {
                INFO(method << " " << target);
                const auto res = http.call(method, target, method == "POST" ? message_body("x") : "", auth);
                check_error(res, 401);
                if (res) CHECK(header(*res, "WWW-Authenticate") == challenge);
            }
        }
        a.expect_nothing(100ms);  // nothing got through
        CHECK(f.reg.count() == 1);
    }
    SECTION("with the right token: served") {
        rest_client http(f.port(), token);
        auto res = http.get(api);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(uint_field(parse_json(res->body)->root, "count") == 1);
        CHECK_FALSE(res->headers.contains("WWW-Authenticate"));
        res = http.post(api + "/broadcast", message_body("authorised"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(parse_event(a.next()).message == "authorised");
        // The scheme is case-insensitive (RFC 7235 §2.1).
        rest_client lower(f.port());
        res = lower.call("GET", api, {}, "Authorization: bearer " + token + "\r\n");
        REQUIRE(res);
        CHECK(res->status == 200);
    }
}

TEST_CASE("rest: several requests on one keep-alive connection", "[rest][http]") {
    rest_fixture f;
    ws_client a = join(f);
    ws_client b = join(f);
    a.expect_system("Client " + b.id + " joined.");
    rest_client http(f.port());

    auto res = http.get(api);
    REQUIRE(res);
    CHECK(uint_field(parse_json(res->body)->root, "count") == 2);
    res = http.post(api + "/broadcast", message_body("one"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":2})");
    res = http.get(api + "/" + b.id);
    REQUIRE(res);
    CHECK(res->status == 200);
    res = http.post(api + "/" + b.id + "/send", message_body("two"));
    REQUIRE(res);
    CHECK(res->status == 200);
    check_error(http.get(api + "/nope"), 404);
    res = http.del(api + "/" + b.id);
    REQUIRE(res);
    CHECK(res->status == 204);

    // Two requests in one write: answered in order.
    REQUIRE_FALSE(http.connection().send_raw(wsx::test::http_request("GET", api + "/" + a.id) +
                                             wsx::test::http_request("POST", api + "/broadcast", message_body("three"))));
    const auto r1 = http.connection().read_response();
    const auto r2 = http.connection().read_response();
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK(string_field(parse_json(r1->body)->root, "id") == a.id);
    CHECK(r2->body.starts_with(R"({"recipients":)"));
    CHECK_FALSE(http.connection().saw_eof());

    CHECK(parse_event(a.next()).message == "one");
    CHECK(parse_event(b.next()).message == "one");
    CHECK(parse_event(b.next()).message == "two");
    const ws_event ev = b->read_event(3s);
    CHECK(ev.what == kind::close);
    CHECK(code_of(ev.code) == 1000);
    // b answers the close only now, so a gets the broadcast before b's leave.
    CHECK(parse_event(a.next()).message == "three");
    REQUIRE_FALSE(b->send_close(close_code::normal));
    CHECK(b->read_event(3s).what == kind::eof);
    a.expect_system("Client " + b.id + " left.");
}

TEST_CASE("rest: a chunked request body", "[rest][http]") {
    rest_fixture f;
    ws_client a = join(f);
    rest_client http(f.port());
    const std::string body = message_body("in pieces");
    std::string raw = "POST " + api + "/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t i = 0; i < body.size(); i += 7) {
        const std::string piece = body.substr(i, 7);
        char size[8];
        std::snprintf(size, sizeof size, "%zx", piece.size());
        raw += std::string{size} + "\r\n" + piece + "\r\n";
    }
    raw += "0\r\n\r\n";
    const auto res = http.connection().request(raw);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == R"({"recipients":1})");
    CHECK(parse_event(a.next()).message == "in pieces");
}

// RFC 7231 §5.1.1: a server that gets this expectation must answer at once,
// with 100 (Continue) or a final status; otherwise clients that ask (curl for
// large bodies) wait for their own timeout, 1 s for curl, before the body.
TEST_CASE("rest: Expect: 100-continue is answered before the body is sent", "[rest][http]") {
    rest_fixture f;
    rest_client http(f.port());
    const std::string body = message_body("after the 100");
    REQUIRE_FALSE(http.connection().send_raw("POST " + api + "/broadcast HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             "Content-Type: application/json\r\nExpect: 100-continue\r\n"
                                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
    // Without the 100 the server would wait for the body until its deadline
    // closes the connection: any wait short of a hang tells the two apart.
    const auto interim = http.connection().read_response_head(10s);
    REQUIRE(interim);
    CHECK(interim->status == 100);
    REQUIRE_FALSE(http.connection().send_raw(body));
    const auto res = http.connection().read_response();
    REQUIRE(res);
    CHECK(res->status == 200);
}

// ---- a live chat ----------------------------------------------------------------------------

TEST_CASE("rest: three clients chat; REST pushes reach them; leaving is announced", "[rest][live]") {
    rest_fixture f;
    rest_client http(f.port());

    // A, B and C join one after another; everyone present hears each join.
    ws_client a = join(f);
    ws_client b = join(f);
    a.expect_system("Client " + b.id + " joined.");
    ws_client c = join(f);
    a.expect_system("Client " + c.id + " joined.");
    b.expect_system("Client " + c.id + " joined.");
    CHECK(f.reg.count() == 3);

    // A message with quotes, a backslash, a newline and an emoji: A gets its
    // echo, the others get it from A, the text unchanged.
    const std::string text = "she said \"hi\" \\o/\nsecond line 😀";
    const auto before = sys_clock::now();
    REQUIRE_FALSE(a->send_text(text));
    {
        const event e = parse_event(a.next());
        CHECK(e.keys == std::set<std::string>{"type", "from", "message", "timestamp"});
        CHECK(e.type == "echo");
        CHECK(e.from == a.id);
        CHECK(e.message == text);
        CHECK(timestamp_between(e.timestamp, before, sys_clock::now()));
    }
    for (ws_client* w : {&b, &c}) {
        const event e = parse_event(w->next());
        CHECK(e.keys == std::set<std::string>{"type", "from", "message", "timestamp"});
        CHECK(e.type == "message");
        CHECK(e.from == a.id);
        CHECK(e.message == text);
        CHECK(timestamp_between(e.timestamp, before, sys_clock::now()));
    }

    // A REST broadcast reaches all three.
    auto res = http.post(api + "/broadcast", message_body("maintenance at noon"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":3})");
    for (ws_client* w : {&a, &b, &c}) {
        const event e = parse_event(w->next());
        CHECK(e.type == "server-broadcast");
        CHECK(e.message == "maintenance at noon");
        CHECK_FALSE(e.from);
    }

    // C leaves: A and B hear of it, and the listing shows two.
    const ws_event bye = c->close_handshake(close_code::normal, "bye", 3s);
    CHECK(bye.what == kind::close);
    CHECK(code_of(bye.code) == 1000);
    a.expect_system("Client " + c.id + " left.");
    b.expect_system("Client " + c.id + " left.");
    CHECK(wait_until([&] { return f.reg.count() == 2; }));
    res = http.get(api);
    REQUIRE(res);
    const auto doc = parse_json(res->body);
    CHECK(uint_field(doc->root, "count") == 2);
    a.expect_nothing(50ms);
    b.expect_nothing(50ms);
}

// ---- a slow consumer ----------------------------------------------------------------------------

namespace {

// A stream message of exactly 1 KiB: {"seq":N,"pad":"xxx..."}.
std::string stream_message(int seq) {
    std::string s = R"({"seq":)" + std::to_string(seq) + R"(,"pad":")";
    s.append(1024 - s.size() - 2, 'x');
    s += "\"}";
    return s;
}

// The sequence number of a stream message, or -1 for any other message.
int stream_seq(std::string_view m) {
    constexpr std::string_view head = R"({"seq":)";
    if (!m.starts_with(head)) return -1;
    int v = -1;
    std::from_chars(m.data() + head.size(), m.data() + m.size(), v);
    return v;
}

// Sent after the stream: {"end":N}, N the number of stream messages.
std::string end_message(int count) { return R"({"end":)" + std::to_string(count) + "}"; }

// What a reading client saw (collected on its own thread, checked on the main one).
struct received {
    std::vector<int> seqs;            // stream messages, in arrival order
    std::vector<std::string> others;  // every other message but the end marker
    std::optional<std::string> end_marker;
    kind end = kind::message;  // the event that stopped the reading, when not a message
    int close = 0;             // the close code, when a close frame stopped it
};

// Reads until the end marker, `count` stream messages, another event, or the timeout.
received read_stream(loopback_client& c, std::size_t count, std::chrono::milliseconds timeout) {
    received r;
    const auto deadline = test_clock::now() + timeout;
    while (r.seqs.size() < count) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - test_clock::now());
        if (left.count() <= 0) {
            r.end = kind::timeout;
            break;
        }
        const ws_event ev = c.read_event(left);
        if (ev.what != kind::message) {
            r.end = ev.what;
            if (ev.what == kind::close) r.close = code_of(ev.code);
            break;
        }
        if (const int seq = stream_seq(ev.payload); seq >= 0) {
            r.seqs.push_back(seq);
        } else if (ev.payload.starts_with(R"({"end":)")) {
            r.end_marker = ev.payload;
            break;
        } else {
            r.others.push_back(ev.payload);
        }
    }
    return r;
}

bool is_sequence(const std::vector<int>& seqs, int count) {
    if (seqs.size() != static_cast<std::size_t>(count)) return false;
    for (int i = 0; i < count; ++i)
        if (seqs[static_cast<std::size_t>(i)] != i) return false;
    return true;
}

} // namespace

// The kernel holds a lot for a client that does not read (on Linux the server
// socket's send buffer grows up to net.ipv4.tcp_wmem's maximum, 4 MiB by
// default), so a fixed-size stream may never reach the server's queue. The
// stream of 1 KiB messages therefore goes on until the slow client is over the
// limit (closed, or dropping), then 2,000 more, capped at 32 MiB in all.
TEST_CASE("rest: a client that stops reading is bounded and does not hold back the others",
          "[rest][backpressure]") {
    constexpr std::size_t limit = 64 * 1024;
    constexpr int after = 2000;       // messages streamed once the slow client is over the limit
    constexpr int max_count = 32768;  // 32 MiB
    const std::size_t frame_size = stream_message(0).size() + 4;  // 2-byte extended length
    REQUIRE(stream_message(max_count - 1).size() == 1024);

    wsx::backpressure_policy policy = wsx::backpressure_policy::close;
    SECTION("close policy: the slow client is closed with 1008") { policy = wsx::backpressure_policy::close; }
    SECTION("drop policy: the slow client misses messages and stays open") {
        policy = wsx::backpressure_policy::drop;
    }

    rest_fixture f({}, wsx::connection_options{.max_buffered_bytes = limit,
                                               .on_backpressure = policy,
                                               .close_timeout = 15s});
    ws_client r1 = join(f);
    ws_client r2 = join(f);
    // A small receive window: the kernel holds less for the client that never reads.
    ws_client slow = join(f, 16 * 1024);
    r1.expect_system("Client " + r2.id + " joined.");
    r1.expect_system("Client " + slow.id + " joined.");
    r2.expect_system("Client " + slow.id + " joined.");
    const std::weak_ptr<wsx::connection> slow_conn = f.reg.find(slow.id);
    REQUIRE(slow_conn.lock());
    auto over_limit = [&] {
        const auto c = slow_conn.lock();
        return !c || (policy == wsx::backpressure_policy::close ? c->state() != wsx::connection_state::open
                                                                : c->stats().dropped > 0);
    };

    // The reading clients read on their own threads while the server streams.
    received got1, got2;
    std::thread t1([&] { got1 = read_stream(*r1.c, max_count, 60s); });
    std::thread t2([&] { got2 = read_stream(*r2.c, max_count, 60s); });

    // A sampler watches the slow connection's queue through the registry (and,
    // once a closing connection has left the registry, through its handle).
    std::atomic<bool> sampling{true};
    std::atomic<std::size_t> most_buffered{0};
    std::atomic<std::size_t> samples{0};
    auto sample = [&] {
        std::size_t buffered = 0;
        if (const auto s = f.reg.summary(slow.id)) buffered = s->buffered_bytes;
        else if (const auto c = slow_conn.lock()) buffered = c->buffered_amount();
        else return;
        std::size_t most = most_buffered.load();
        while (buffered > most && !most_buffered.compare_exchange_weak(most, buffered)) {
        }
        samples.fetch_add(1);
    };
    std::thread sampler([&] {
        while (sampling.load()) {
            sample();
            std::this_thread::sleep_for(200us);
        }
    });

    // The producer paces itself on the readers, as a real one does
    // (buffered_amount, on_drain): a send is charged in this thread, so a
    // producer that outran a busy I/O thread by more than the limit would see
    // readers that keep up refused too.
    const auto reader1 = f.reg.find(r1.id), reader2 = f.reg.find(r2.id);
    REQUIRE(reader1);
    REQUIRE(reader2);
    auto readers_caught_up = [&] {
        return reader1->buffered_amount() < limit / 2 && reader2->buffered_amount() < limit / 2;
    };
    std::vector<std::size_t> recipients;
    int sent = 0;
    int behind_at = -1;
    while (sent < max_count && (behind_at < 0 || sent < behind_at + after)) {
        recipients.push_back(f.reg.broadcast(stream_message(sent)));
        ++sent;
        sample();
        if (behind_at < 0 && over_limit()) behind_at = sent;
        if (sent % 20 == 0) {
            std::this_thread::sleep_for(1ms);  // let the readers' threads run
            REQUIRE(wait_until(readers_caught_up, 10s));
        }
    }
    const std::size_t end_recipients = f.reg.broadcast(end_message(sent));
    t1.join();
    t2.join();
    sampling.store(false);
    sampler.join();

    INFO("sent " << sent << ", over the limit after " << behind_at << "; most buffered "
                 << most_buffered.load() << " in " << samples.load() << " samples");
    REQUIRE(behind_at > 0);  // else the kernel took the whole stream: nothing was tested
    // The readers got every message, in order, whatever happened to the slow one.
    for (const received* r : {&got1, &got2}) {
        INFO("reader stopped by " << wsx::test::to_string(r->end) << " after " << r->seqs.size());
        CHECK(is_sequence(r->seqs, sent));
        CHECK(r->end_marker == end_message(sent));
        for (const auto& other : r->others)
            CHECK(other == system_json("Client " + slow.id + " left.", parse_event(other).timestamp));
    }
    // The queue stayed bounded: the limit plus at most one message (the close frame fits in it).
    CHECK(samples.load() > 0);
    CHECK(most_buffered.load() <= limit + frame_size);
    CHECK(most_buffered.load() >= limit / 2);  // the samples did see the queue filled

    if (policy == wsx::backpressure_policy::close) {
        const auto conn = slow_conn.lock();
        REQUIRE(conn);
        CHECK(conn->state() != wsx::connection_state::open);
        CHECK(conn->error() == wsx::error::backpressure);
        CHECK(conn->buffered_amount() <= limit + frame_size);
        CHECK(recipients.front() == 3);
        CHECK(recipients.back() == 2);
        // Now it reads: what the kernel and the queue held, in order, then 1008.
        const received s = read_stream(*slow.c, max_count, 20s);
        CHECK(s.others.empty());
        CHECK_FALSE(s.end_marker);
        CHECK(s.end == kind::close);
        CHECK(s.close == 1008);
        CHECK(s.seqs.size() < static_cast<std::size_t>(sent));
        CHECK(is_sequence(s.seqs, static_cast<int>(s.seqs.size())));
        REQUIRE_FALSE(slow->send_close(close_code::policy_violation));
        CHECK(slow->read_event(3s).what == kind::eof);
        // The others hear that it left, once it is gone (unless they already did
        // during the stream, had the close deadline passed).
        if (got1.others.empty()) r1.expect_system("Client " + slow.id + " left.");
        if (got2.others.empty()) r2.expect_system("Client " + slow.id + " left.");
        CHECK(wait_until([&] { return f.reg.count() == 2; }));
    } else {
        const auto conn = slow_conn.lock();
        REQUIRE(conn);
        CHECK(conn->is_open());
        // Each reader queued every broadcast; the slow client queued or refused
        // each one at once, in this thread, and the count of recipients says which.
        CHECK(recipients.front() == 3);
        CHECK(std::all_of(recipients.begin(), recipients.end(), [](std::size_t n) { return n == 2 || n == 3; }));
        const auto refusals = static_cast<std::uint64_t>(std::count(recipients.begin(), recipients.end(), 2)) +
                              (end_recipients == 2 ? 1 : 0);
        CHECK(conn->stats().dropped == refusals);
        // Every broadcast (the end marker too) was either queued or dropped for the slow client.
        const auto out = [&] { return conn->stats().messages_out - 1; };  // less its own join
        CHECK(wait_until([&] { return out() + conn->stats().dropped == static_cast<std::uint64_t>(sent) + 1; }));
        const auto summary = f.reg.summary(slow.id);
        REQUIRE(summary);
        CHECK(summary->stats.dropped > 0);
        CHECK(summary->stats.dropped == conn->stats().dropped);
        // Now it reads: exactly what was admitted, in order.
        const std::size_t admitted = out();
        const received s = read_stream(*slow.c, admitted, 20s);
        CHECK(s.others.empty());
        CHECK(s.seqs.size() + (s.end_marker ? 1 : 0) == admitted);
        CHECK(std::is_sorted(s.seqs.begin(), s.seqs.end()));
        CHECK(std::adjacent_find(s.seqs.begin(), s.seqs.end()) == s.seqs.end());
        slow.expect_nothing(100ms);
        const ws_event bye = slow->close_handshake(close_code::normal, {}, 3s);
        CHECK(bye.what == kind::close);
        CHECK(code_of(bye.code) == 1000);
        r1.expect_system("Client " + slow.id + " left.");
        r2.expect_system("Client " + slow.id + " left.");
        CHECK(got1.others.empty());
        CHECK(got2.others.empty());
    }
}

// ---- with a cluster link (a backplane) ------------------------------------------------

namespace {
// A stand-in for a backplane: reports a fixed status, counts what it is given,
// and refuses it when told to (a link that is down). Called from the server's
// thread, read from the test's.
struct fake_link final : wsx::cluster_link {
    std::atomic<bool> accept{true};
    std::atomic<int> forwarded{0};
    mutable std::mutex mutex;
    std::vector<std::pair<wsx::send_scope, std::string>> targets;
    wsx::cluster_status reported;

    bool forward(wsx::send_scope scope, std::string_view target, const wsx::prepared_message&) override {
        std::lock_guard lock(mutex);
        targets.emplace_back(scope, std::string{target});
        if (!accept) return false;
        ++forwarded;
        return true;
    }
    wsx::cluster_status status() const override {
        std::lock_guard lock(mutex);
        return reported;
    }
};
} // namespace

TEST_CASE("rest: with a cluster link, GET adds the cluster status; count stays local", "[rest][cluster]") {
    rest_fixture f;
    rest_client http(f.port());
    auto res = http.get(api);
    REQUIRE(res);
    CHECK(keys_of(parse_json(res->body)->root) == std::set<std::string>{"count", "connections"});

    auto link = std::make_shared<fake_link>();
    link->reported = wsx::cluster_status{.instance = "node-\"1\"",
                                         .state = wsx::cluster_state::down,
                                         .publishing = true,
                                         .instances = 3,
                                         .connections = 42,
                                         .published = 5,
                                         .received = 6,
                                         .lost = 7,
                                         .missed = 8,
                                         .reconnects = 9,
                                         .last_error = "publisher: Connection refused"};
    f.reg.attach(link);
    ws_client a = join(f);
    res = http.get(api);
    REQUIRE(res);
    CHECK(res->status == 200);
    const auto doc = parse_json(res->body);
    CHECK(keys_of(doc->root) == std::set<std::string>{"count", "connections", "cluster"});
    CHECK(uint_field(doc->root, "count") == 1);
    simdjson::dom::element cluster;
    REQUIRE(doc->root["cluster"].get(cluster) == simdjson::SUCCESS);
    CHECK(keys_of(cluster) == std::set<std::string>{"instance", "state", "publishing", "instances", "connections",
                                                    "published", "received", "lost", "missed", "reconnects",
                                                    "last_error"});
    // Only the subscriber may be down: sends can still leave.
    bool publishing = false;
    CHECK(cluster["publishing"].get(publishing) == simdjson::SUCCESS);
    CHECK(publishing);
    CHECK(string_field(cluster, "instance") == "node-\"1\"");
    CHECK(string_field(cluster, "state") == "down");
    CHECK(uint_field(cluster, "instances") == 3);
    CHECK(uint_field(cluster, "connections") == 42);
    CHECK(uint_field(cluster, "published") == 5);
    CHECK(uint_field(cluster, "received") == 6);
    CHECK(uint_field(cluster, "lost") == 7);
    CHECK(uint_field(cluster, "missed") == 8);
    CHECK(uint_field(cluster, "reconnects") == 9);
    CHECK(string_field(cluster, "last_error") == "publisher: Connection refused");

    f.reg.detach();
    res = http.get(api);
    REQUIRE(res);
    CHECK(keys_of(parse_json(res->body)->root) == std::set<std::string>{"count", "connections"});
}

TEST_CASE("rest: with a cluster link, sends to other instances are forwarded (202) or refused (503)",
          "[rest][cluster]") {
    rest_fixture f;
    auto link = std::make_shared<fake_link>();
    f.reg.attach(link);
    rest_client http(f.port());
    ws_client a = join(f);

    // An id that is not here: forwarded, 202.
    auto res = http.post(api + "/elsewhere-id/send", message_body("for a client of another instance"));
    REQUIRE(res);
    CHECK(res->status == 202);
    CHECK(header(*res, "Content-Type") == "application/json");
    CHECK(res->body == R"({"sent":false,"forwarded":true})");
    {
        std::lock_guard lock(link->mutex);
        REQUIRE_FALSE(link->targets.empty());
        CHECK(link->targets.back() == std::pair{wsx::send_scope::connection, std::string{"elsewhere-id"}});
    }

    // A local id: 200, not forwarded.
    const int before = link->forwarded.load();
    res = http.post(api + "/" + a.id + "/send", message_body("local"));
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == R"({"sent":true})");
    CHECK(parse_event(a.next()).message == "local");
    CHECK(link->forwarded.load() == before);

    // Broadcast says whether it went to the other instances.
    res = http.post(api + "/broadcast", message_body("all"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":1,"forwarded":true})");
    CHECK(parse_event(a.next()).message == "all");

    // The link is down: the remote id cannot be reached (503), a broadcast is local only.
    link->accept = false;
    check_error(http.post(api + "/elsewhere-id/send", message_body("x")), 503);
    res = http.post(api + "/broadcast", message_body("local only"));
    REQUIRE(res);
    CHECK(res->body == R"({"recipients":1,"forwarded":false})");
    CHECK(parse_event(a.next()).message == "local only");
    a.expect_nothing(50ms);
}

// ---- who may call the API -------------------------------------------------------------------

namespace {

// Stands in for basic_server's route registration, so that a test can run the
// server's own HTTP session (wsx::detail::http_session) over the in-memory
// transport, with the routes mount_rest makes.
struct routes_only {
    wsx::detail::route_table table;
    void http(std::string path, wsx::http_handler h) {
        if (path.ends_with("/*")) table.prefixes.emplace_back(std::move(path), std::move(h));
        else table.exact[std::move(path)] = std::move(h);
    }
};

// One request to the REST hook over `reg`, from a peer whose transport reports
// `peer` (no traffic goes anywhere: the bytes stay in memory). The answer, or
// nothing when none came.
std::optional<wsx::http::response> ask_as(std::string_view peer, wsx::registry& reg, wsx::rest_options rest,
                                          std::string_view method, std::string_view target,
                                          std::string_view body = {}, std::string_view extra_headers = {}) {
    routes_only routes;
    wsx::mount_rest(routes, reg, std::move(rest));
    const wsx::server_options options = test_options();
    asio::io_context io;
    auto pipe = std::make_shared<wsx::test::memory_transport::pipe>(io);
    pipe->remote = {asio::ip::make_address(std::string{peer}), 51000};
    wsx::http::response_parser parser;
    {
        wsx::detail::worker w(io, options.timer_resolution);
        auto session = std::make_shared<wsx::detail::http_session<wsx::test::memory_transport>>(
            w, wsx::test::memory_transport::stream(pipe), routes.table, options, nullptr);
        session->start();
        pipe->feed(wsx::test::http_request(method, target, body, extra_headers));
        wsx::test::run_until(io, [&] {
            if (!pipe->outbound.empty()) parser.feed(pipe->take_output());
            return parser.status() != wsx::http::parse_status::need_more;
        });
    }
    if (parser.status() != wsx::http::parse_status::complete) return std::nullopt;
    return parser.get();
}

const char* const loopback_peers[] = {"127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1"};
// Documentation addresses (RFC 5737, RFC 3849), and the unspecified address a
// transport reports when it cannot tell: all outside.
const char* const other_peers[] = {"203.0.113.7", "198.51.100.20", "2001:db8::7", "::ffff:203.0.113.7",
                                   "0.0.0.0"};

} // namespace

TEST_CASE("rest: without a token, loopback peers are served and every other peer gets 403",
          "[rest][auth][access]") {
    rest_fixture f;
    ws_client a = join(f);

    SECTION("a real loopback client, and the peer address HTTP routes see") {
        rest_client http(f.port());
        auto res = http.get(api);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(uint_field(parse_json(res->body)->root, "count") == 1);
        res = http.post(api + "/broadcast", message_body("from this machine"));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(parse_event(a.next()).message == "from this machine");

        wsx::server srv(test_options());
        std::string seen;
        srv.http("/peer", [&](const wsx::http::request& req, wsx::http::response& r) {
            seen = req.remote_address;
            r.body = req.remote_address;
        });
        srv.start(1);
        rest_client peer(srv.port());
        res = peer.get("/peer");
        srv.stop();
        srv.join();
        REQUIRE(res);
        CHECK(res->body == "127.0.0.1");
        CHECK(seen == "127.0.0.1");
    }
    SECTION("loopback peers in every form") {
        for (const char* peer : loopback_peers) {
            INFO("peer " << peer);
            const auto res = ask_as(peer, f.reg, {}, "GET", api);
            REQUIRE(res);
            CHECK(res->status == 200);
        }
    }
    SECTION("any other peer: 403 with a JSON error that says how to open it, on every route") {
        for (const char* peer : other_peers) {
            INFO("peer " << peer);
            for (const auto& [method, target] : every_route(api, a.id)) {
                INFO(method << " " << target);
                const auto res =
                    ask_as(peer, f.reg, {}, method, target, method == "POST" ? message_body("x") : "");
                check_error(res, 403);
                if (!res) continue;
                const std::string why = string_field(parse_json(res->body)->root, "error");
                CHECK(why.find("loopback") != std::string::npos);
                CHECK(why.find("bearer_token") != std::string::npos);
                CHECK(why.find("allow_unauthenticated_remote") != std::string::npos);
                CHECK_FALSE(res->headers.contains("WWW-Authenticate"));
            }
        }
        a.expect_nothing(100ms);  // nothing got through
        CHECK(f.reg.count() == 1);
        CHECK(f.reg.find(a.id) != nullptr);
    }
}

TEST_CASE("rest: allow_unauthenticated_remote serves every peer without a token", "[rest][auth][access]") {
    rest_fixture f;
    ws_client a = join(f);
    const wsx::rest_options open{.allow_unauthenticated_remote = true};
    for (const char* peer : other_peers) {
        INFO("peer " << peer);
        auto res = ask_as(peer, f.reg, open, "GET", api);
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(uint_field(parse_json(res->body)->root, "count") == 1);
        res = ask_as(peer, f.reg, open, "POST", api + "/broadcast", message_body(std::string{"from "} + peer));
        REQUIRE(res);
        CHECK(res->status == 200);
        CHECK(parse_event(a.next()).message == std::string{"from "} + peer);
    }
}

TEST_CASE("rest: a bearer token admits any peer that sends it, and only those", "[rest][auth][access]") {
    rest_fixture f;
    ws_client a = join(f);
    const std::string token = "t0ken-for-remote";
    // The opt-in does not weaken a token: without it, 401 still.
    for (const bool open : {false, true}) {
        const wsx::rest_options rest{.bearer_token = token, .allow_unauthenticated_remote = open};
        for (const char* peer : {"203.0.113.7", "2001:db8::7", "127.0.0.1"}) {
            INFO("peer " << peer << ", allow_unauthenticated_remote " << open);
            auto res = ask_as(peer, f.reg, rest, "GET", api);
            check_error(res, 401);
            res = ask_as(peer, f.reg, rest, "GET", api, {}, "Authorization: Bearer wrong\r\n");
            check_error(res, 401);
            res = ask_as(peer, f.reg, rest, "POST", api + "/broadcast", message_body("token holder"),
                         "Authorization: Bearer " + token + "\r\n");
            REQUIRE(res);
            CHECK(res->status == 200);
            CHECK(parse_event(a.next()).message == "token holder");
        }
    }
}

TEST_CASE("rest: is_loopback_address", "[rest][access]") {
    for (const char* a : loopback_peers) CHECK(wsx::detail::is_loopback_address(a));
    for (const char* a : other_peers) CHECK_FALSE(wsx::detail::is_loopback_address(a));
    for (const char* a : {"", "localhost", "127.0.0.1:80", "not an address", "::ffff:10.0.0.1", "::"})
        CHECK_FALSE(wsx::detail::is_loopback_address(a));
}

// SPDX-License-Identifier: BSL-1.0
#include "wsx/http2.hpp"

#include "catch.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#include <asio/write.hpp>

#include "h2_test_client.hpp"

using namespace wsx;

namespace {

server_options loopback() {
    server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
}

// What an HTTP/1.1-only server answers to the HTTP/2 preface.
std::string answer_to_preface(std::uint16_t port) {
    asio::io_context io;
    asio::ip::tcp::socket s{io};
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(detail::http2_preface));
    std::string got;
    std::error_code ec;
    char buf[512];
    while (!ec) got.append(buf, s.read_some(asio::buffer(buf), ec));
    return got;
}

} // namespace

TEST_CASE("without enable() the preface is an HTTP/1.1 error; with it the connection speaks HTTP/2") {
    {
        server plain{loopback()};
        plain.websocket("/", {});
        plain.start(1);
        CHECK(answer_to_preface(plain.port()).starts_with("HTTP/1.1 "));
    }
    server s{loopback()};
    s.websocket("/", {.on_message = [](connection& c, message m) { c.send(m); }});
    http2::enable(s, {.max_concurrent_streams = 7});
    s.start(1);
    test::h2_test_client c{s.port()};
    const auto id = c.open_websocket("/");
    REQUIRE(c.run_until([&] { return c.streams[id].status != 0; }));
    CHECK(c.streams[id].status == 200);
    CHECK(c.remote_setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 7);
    CHECK(c.remote_setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1);
    c.send_frame(id, opcode::text, "round trip");
    REQUIRE(c.run_until([&] { return c.messages(id).size() == 1; }));
    CHECK(c.messages(id)[0].second == "round trip");
}

TEST_CASE("enable() belongs before listen(), like the routes") {
    server s{loopback()};
    s.listen();
    CHECK_THROWS_AS(http2::enable(s), std::logic_error);
}

// SPDX-License-Identifier: BSL-1.0
#include "wsx/http2.hpp"

#include "catch.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

#include <chrono>
#include <initializer_list>
#include <thread>

#include <asio/read.hpp>
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

TEST_CASE("a preface that arrives in pieces is still recognised; a look-alike stays HTTP/1.1") {
    server s{loopback()};
    s.websocket("/", {});
    s.http("/x", [](const http::request&, http::response& res) { res.body = "h1"; });
    http2::enable(s);
    s.start(1);
    asio::io_context io;
    auto first_bytes = [&](std::initializer_list<std::string_view> pieces) {
        asio::ip::tcp::socket sock{io};
        sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
        for (std::string_view p : pieces) {
            asio::write(sock, asio::buffer(p));
            std::this_thread::sleep_for(std::chrono::milliseconds(50));  // separate reads
        }
        std::string got(12, '\0');
        std::error_code ec;
        asio::read(sock, asio::buffer(got), ec);
        return got;
    };
    const std::string_view preface = detail::http2_preface;
    const std::string empty_settings("\0\0\0\x04\0\0\0\0\0", 9);
    // The server's first frame is its SETTINGS (type 4 on stream 0).
    const std::string h2 = first_bytes({preface.substr(0, 5), preface.substr(5, 10), preface.substr(15), empty_settings});
    CHECK(h2[3] == '\x04');
    // "PRI" then a request that is not the preface: HTTP/1.1 answers it.
    CHECK(first_bytes({"PR", "I /x HTTP/1.1\r\nHost: a\r\n\r\n"}).starts_with("HTTP/1.1 "));
    CHECK(first_bytes({"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"}).starts_with("HTTP/1.1 200"));
}

TEST_CASE("enable() belongs before listen(), like the routes") {
    server s{loopback()};
    s.listen();
    CHECK_THROWS_AS(http2::enable(s), std::logic_error);
}

// SPDX-License-Identifier: BSL-1.0
// A program that uses an installed (or add_subdirectory'd) wsx the way a user
// would: a wsx::server with the echo endpoint on a free port, on its own
// thread, and a client on a raw Asio socket that does the opening handshake
// with wsx::http and sends one masked frame built by wsx::protocol. Exits 0
// when the echo comes back; any failure prints why and exits 1.
#include <wsx/wsx.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/parser.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(what);
}

std::string echo_once(std::uint16_t port, const std::string& text) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), port});

    // The opening handshake (RFC 6455 4.1). A fixed key is fine for a test.
    const std::string key = wsx::http::make_client_key({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
    asio::write(socket, asio::buffer(wsx::http::to_string(wsx::http::make_upgrade_request("127.0.0.1", "/", key))));

    wsx::http::response_parser parser;
    std::vector<std::uint8_t> rest; // bytes after the 101: the first frames, if any
    std::array<char, 4096> chunk;
    while (parser.status() != wsx::http::parse_status::complete) {
        check(parser.status() != wsx::http::parse_status::error, "bad HTTP response");
        const std::size_t n = socket.read_some(asio::buffer(chunk));
        const std::size_t used = parser.feed({chunk.data(), n});
        rest.assign(chunk.data() + used, chunk.data() + n);
    }
    check(parser.get().status == 101, "the server did not switch protocols");
    check(!wsx::http::validate_upgrade_response(parser.get(), key, {}), "bad 101 response");

    // One masked text frame (a client MUST mask, RFC 6455 5.3).
    std::string frame;
    const wsx::protocol::mask_key mask{0x12, 0x34, 0x56, 0x78};
    wsx::protocol::append_frame(frame, wsx::opcode::text, text, true, &mask);
    asio::write(socket, asio::buffer(frame));

    wsx::protocol::message_assembler assembler({.local_role = wsx::role::client});
    for (;;) {
        while (!rest.empty()) {
            const auto r = assembler.consume(rest);
            if (r.ev.type == wsx::protocol::event_type::message) return std::string(r.ev.payload);
            check(r.ev.type == wsx::protocol::event_type::need_more, "unexpected frame");
            rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(r.consumed));
        }
        const std::size_t n = socket.read_some(asio::buffer(chunk));
        rest.assign(chunk.data(), chunk.data() + n);
    }
}

} // namespace

int main() {
    try {
        wsx::server server({.host = "127.0.0.1", .port = 0});
        server.websocket("/", wsx::endpoints::echo());
        server.start(); // accepts on a background thread
        const std::string reply = echo_once(server.port(), "hello, installed wsx");
        server.stop();
        server.join();
        check(reply == "hello, installed wsx", "the echo differs from what was sent");
        std::printf("wsx %s: echo ok\n", WSX_VERSION_STRING);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "wsx consumer: %s\n", e.what());
        return 1;
    }
}

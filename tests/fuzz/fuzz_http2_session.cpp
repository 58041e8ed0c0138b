// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: the HTTP/2 glue (wsx/http2/session.hpp) and everything
// nghttp2 hands it: header blocks, DATA for requests and WebSocket streams,
// resets, GOAWAY, window updates, in any order.
//
// The input is what a client sends after the connection preface. A session
// over the in-memory transport gets it in pieces whose sizes come from the
// input's first byte, with a WebSocket echo endpoint at "/" (so DATA reaches
// basic_connection<http2::transport>) and an HTTP route at "/h". Then the peer
// leaves and the worker is destroyed, closing what is left. Crashes, leaks,
// sanitizer reports and the invariants below are failures: the session never
// writes anything but HTTP/2 frames after its SETTINGS, and it ends once the
// peer has gone.
#include "wsx/http2/session.hpp"

#include "../support/memory_transport.hpp"
#include "fuzz_check.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>

#include <wsx/message.hpp>

namespace {

using namespace std::chrono_literals;
using wsx::test::memory_transport;

struct routes_fixture {
    routes_fixture() {
        auto ws = std::make_unique<wsx::detail::route_table::ws_route>();
        ws->ep.on_message = [](wsx::connection& c, wsx::message m) { c.send(m); };
        ws->ep.subprotocols = {"chat"};
        ws->limits.max_message_size = 1 << 16;
        ws->limits.max_buffered_bytes = 1 << 16;
        routes.websockets["/"] = std::move(ws);
        routes.exact["/h"] = [](const wsx::http::request& r, wsx::http::response& res) { res.body = r.body; };
        options.http_limits.max_body_size = 4096;
        options.http_limits.max_header_bytes = 2048;
    }
    wsx::detail::route_table routes;
    wsx::server_options options;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static routes_fixture fx;
    asio::io_context io;
    auto pipe = std::make_shared<memory_transport::pipe>(io);
    std::weak_ptr<wsx::http2::detail::session<memory_transport>> weak;
    {
        wsx::detail::worker w{io, 1ms};
        const wsx::http2::session_options h2{.max_concurrent_streams = 8, .stream_window = 4096,
                                             .connection_window = 65536, .max_settings = 8};
        auto s = std::make_shared<wsx::http2::detail::session<memory_transport>>(
            w, memory_transport::stream(pipe), fx.routes, fx.options, h2, nullptr);
        weak = s;
        const std::string_view preface = wsx::detail::http2_preface;
        s->start({reinterpret_cast<const std::uint8_t*>(preface.data()), preface.size()});
        s.reset();
        const std::size_t piece = size ? 1 + data[0] % 64 : 1;
        std::size_t pos = size ? 1 : 0;
        while (pos < size) {
            const std::size_t n = std::min(piece, size - pos);
            pipe->feed({reinterpret_cast<const char*>(data + pos), n});
            pos += n;
            io.restart();
            io.poll();
            // Server frames: a 9-byte header whose type is one HTTP/2 knows.
            if (pipe->outbound.size() >= 9) FUZZ_CHECK(static_cast<std::uint8_t>(pipe->outbound[3]) <= 0x9);
            pipe->outbound.clear();
        }
        pipe->close_peer();
        for (int i = 0; i < 16; ++i) {
            io.restart();
            io.poll();
        }
    }  // the worker closes whatever is still linked to it
    io.restart();
    io.poll();
    FUZZ_CHECK(weak.expired());
    return 0;
}

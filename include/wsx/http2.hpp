// SPDX-License-Identifier: BSL-1.0
#pragma once
// WebSockets over HTTP/2 (RFC 8441), and the HTTP routes over HTTP/2, on the
// server's one port. Needs nghttp2 (CMake: link wsx::http2); the other wsx
// headers do not.
//
//   wsx::server s{opts};
//   s.websocket("/echo", wsx::endpoints::echo());
//   wsx::http2::enable(s);   // before listen()/start()
//
// Over TLS, ALPN offers "h2" and "http/1.1". Over plain TCP, a client that opens with the HTTP/2 preface (h2c with prior
// knowledge, RFC 9113 §3.3) is served over HTTP/2 and every other client over
// HTTP/1.1 as before. The server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL
// (RFC 8441 §3); an extended CONNECT with :protocol = websocket to a WebSocket
// path opens a wsx::connection on that stream, with the endpoint's handlers,
// upgrade hook, limits, subprotocol and permessage-deflate negotiation, and
// protocol() == "h2". What is answered to requests that break RFC 8441 is
// listed on http2::check_request (http2/extended_connect.hpp).
#include <memory>
#include <span>
#include <utility>

#include <wsx/http2/extended_connect.hpp>
#include <wsx/http2/session.hpp>
#include <wsx/http2/stream_transport.hpp>
#include <wsx/server.hpp>

namespace wsx::http2 {

// Serves HTTP/2 on `server` beside HTTP/1.1. Call before listen() or start().
// Over TLS, ALPN then offers h2 before http/1.1 and each connection speaks
// what its client chose.
template <wsx::transport::policy Transport>
void enable(basic_server<Transport>& server, session_options options = {}) {
    if constexpr (requires { server.transport_context().offer_http2(); })
        server.transport_context().offer_http2();
    server.set_http2_handoff([options](wsx::detail::worker& w, typename Transport::stream&& s,
                                       const wsx::detail::route_table& routes,
                                       const server_options& server_opts,
                                       std::shared_ptr<const void> keep_alive,
                                       std::span<const std::uint8_t> early) {
        auto session = std::make_shared<detail::session<Transport>>(
            w, std::move(s), routes, server_opts, options, std::move(keep_alive));
        session->start(early);
    });
}

} // namespace wsx::http2

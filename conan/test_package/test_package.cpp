// SPDX-License-Identifier: BSL-1.0
// The smallest use of the packaged wsx: its sans-I/O core (no socket), the
// version, and the optional parts when the package has them.
#include <wsx/http/handshake.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/version.hpp>

#if defined(WSX_TEST_PACKAGE_TLS) && __has_include(<wsx/transport/tls.hpp>)
#include <wsx/transport/tls.hpp>
#endif

#include <cstdio>
#include <string>

int main() {
    // RFC 6455 section 1.3's example key and answer.
    const bool accept_ok =
        wsx::http::websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    std::string frame;
    wsx::protocol::append_frame(frame, wsx::opcode::text, "hi");
    const bool frame_ok = frame == std::string("\x81\x02hi", 4);
#if defined(WSX_HAS_DEFLATE)
    std::printf("wsx::deflate: WSX_HAS_DEFLATE=%d\n", WSX_HAS_DEFLATE);
#endif
#if defined(WSX_HAS_HTTP2)
    std::printf("wsx::http2: WSX_HAS_HTTP2=%d\n", WSX_HAS_HTTP2);
#endif
    std::printf("wsx %s: accept key %s, frame %s\n", WSX_VERSION_STRING, accept_ok ? "ok" : "WRONG",
                frame_ok ? "ok" : "WRONG");
    return accept_ok && frame_ok ? 0 : 1;
}

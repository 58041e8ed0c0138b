// SPDX-License-Identifier: BSL-1.0
#pragma once
// Opt-in permessage-deflate (RFC 7692) for wsx servers and clients. This header needs zlib:
// link wsx::deflate. Nothing else in wsx does.
//
//   #include <wsx/deflate.hpp>
//   wsx::server_options o;
//   o.websocket.deflate = wsx::permessage_deflate({.server_no_context_takeover = true});
//
// A server then accepts the clients' offers (and answers them in the 101 response); a
// client offers it. Endpoints with their own limits (endpoint::limits) set it there.
#include <wsx/options.hpp>
#include <wsx/protocol/deflate.hpp>

namespace wsx {

// `o` with zlib as its codec: permessage-deflate on, with those preferences.
inline deflate_options permessage_deflate(deflate_options o = {}) {
    o.codec = &protocol::zlib_codec;
    return o;
}

} // namespace wsx

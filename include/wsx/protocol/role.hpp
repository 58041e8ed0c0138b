// SPDX-License-Identifier: BSL-1.0
#pragma once
// Which end of a WebSocket connection we are. The role decides the masking rules
// (RFC 6455 §5.1, §5.3): a client masks every frame it sends, a server masks none, and
// each side fails the connection when the peer breaks that rule.

#include <cstdint>
#include <string_view>

namespace wsx {

enum class role : std::uint8_t { server, client };

constexpr std::string_view to_string(role r) noexcept {
    return r == role::server ? std::string_view{"server"} : std::string_view{"client"};
}

} // namespace wsx

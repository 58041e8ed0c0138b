// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx's run-time errors: a std::error_code enum and its category.
//
// Values are numbered once and never renumbered: applications may log or
// persist them. Protocol violations by the peer carry the close code wsx sent
// (see close_code.hpp); these codes say *what happened to the connection*.
#include <string>
#include <system_error>

namespace wsx {

enum class error {
    closed = 1,              // the WebSocket closing handshake completed
    protocol_violation = 2,  // the peer broke RFC 6455; the connection was failed
    message_too_big = 3,     // an incoming message exceeded max_message_size
    invalid_utf8 = 4,        // a text message or close reason was not valid UTF-8
    handshake_timeout = 5,   // the opening handshake did not complete in time
    idle_timeout = 6,        // nothing was received for idle_timeout
    close_timeout = 7,       // the peer did not finish the closing handshake in time
    backpressure = 8,        // the outgoing queue exceeded max_buffered_bytes
    upgrade_rejected = 9,    // the server answered the upgrade with an HTTP error status
    bad_handshake = 10,      // a malformed or non-conforming opening handshake
    bad_accept_key = 11,     // Sec-WebSocket-Accept did not match our key
    not_open = 12,           // the operation needs an open connection
    operation_aborted = 13,  // the connection or server was stopped
    bad_url = 14,            // a URL that wsx cannot connect to
    message_in_progress = 15, // a message sent with send_fragment is unfinished: other data waits
};

namespace detail {
class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "wsx"; }
    std::string message(int value) const override {
        switch (static_cast<error>(value)) {
        case error::closed: return "the WebSocket connection was closed";
        case error::protocol_violation: return "the peer violated the WebSocket protocol";
        case error::message_too_big: return "a message exceeded the configured maximum size";
        case error::invalid_utf8: return "a text message was not valid UTF-8";
        case error::handshake_timeout: return "the opening handshake timed out";
        case error::idle_timeout: return "the connection was idle for too long";
        case error::close_timeout: return "the closing handshake timed out";
        case error::backpressure: return "the outgoing queue exceeded max_buffered_bytes";
        case error::upgrade_rejected: return "the server rejected the WebSocket upgrade";
        case error::bad_handshake: return "the opening handshake was malformed";
        case error::bad_accept_key: return "Sec-WebSocket-Accept did not match the key sent";
        case error::not_open: return "the connection is not open";
        case error::operation_aborted: return "the operation was aborted";
        case error::bad_url: return "the URL is not a valid ws:// or wss:// URL";
        case error::message_in_progress: return "a fragmented message is being sent; other data waits";
        }
        return "unknown wsx error";
    }
};
} // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(error e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace wsx

template <>
struct std::is_error_code_enum<wsx::error> : std::true_type {};

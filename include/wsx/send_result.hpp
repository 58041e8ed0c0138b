// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::send_result — what a connection did with a message handed to send().
//
// It converts to bool (true: queued), so `if (c.send(x))` and `bool ok =
// c.send(x)` read as they always did; status() says why a message was not
// queued, and error() says it as a std::error_code for code that logs or
// propagates errors that way.
#include <cstdint>
#include <string_view>
#include <system_error>

#include <wsx/error.hpp>

namespace wsx {

enum class send_status : std::uint8_t {
    queued,                // accepted: it will be written, in order, unless the connection fails
    not_open,              // the connection is closing or closed (nothing is sent after a close frame)
    invalid_utf8,          // text that is not valid UTF-8 (RFC 6455 §8.1 forbids sending it)
    dropped,               // over max_buffered_bytes, policy drop: this message is refused
    closing_backpressure,  // over max_buffered_bytes, policy close: refused, and the
                           // connection closes with 1008 on its own thread
    fragmenting,           // a message sent with send_fragment is unfinished: other data waits
};

constexpr std::string_view to_string(send_status s) noexcept {
    switch (s) {
    case send_status::queued: return "queued";
    case send_status::not_open: return "connection not open";
    case send_status::invalid_utf8: return "text is not valid UTF-8";
    case send_status::dropped: return "dropped by backpressure";
    case send_status::closing_backpressure: return "refused by backpressure; closing with 1008";
    case send_status::fragmenting: return "a fragmented message is being sent";
    }
    return "unknown";
}

class send_result {
public:
    constexpr send_result(send_status s = send_status::queued) noexcept : status_(s) {}

    constexpr send_status status() const noexcept { return status_; }
    constexpr bool queued() const noexcept { return status_ == send_status::queued; }
    // Implicit on purpose: code written when send() returned bool compiles unchanged.
    constexpr operator bool() const noexcept { return queued(); }

    // Empty when queued; otherwise the wsx::error that says why not.
    std::error_code error() const noexcept {
        switch (status_) {
        case send_status::queued: return {};
        case send_status::not_open: return make_error_code(wsx::error::not_open);
        case send_status::invalid_utf8: return make_error_code(wsx::error::invalid_utf8);
        case send_status::dropped:
        case send_status::closing_backpressure: return make_error_code(wsx::error::backpressure);
        case send_status::fragmenting: return make_error_code(wsx::error::message_in_progress);
        }
        return make_error_code(wsx::error::not_open);
    }

    friend constexpr bool operator==(send_result a, send_result b) noexcept {
        return a.status_ == b.status_;
    }
    friend constexpr bool operator==(send_result a, send_status s) noexcept { return a.status_ == s; }

private:
    send_status status_;
};

} // namespace wsx

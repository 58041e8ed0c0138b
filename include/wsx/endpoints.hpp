// SPDX-License-Identifier: BSL-1.0
#pragma once
// Ready-made endpoint behaviours.
#include <string>
#include <string_view>

#include <wsx/connection.hpp>
#include <wsx/detail/json.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>

namespace wsx::endpoints {

// Sends every message back unchanged: text as text, binary as binary.
inline endpoint echo() {
    return endpoint{.on_message = [](connection& c, message m) { c.send(m); }};
}

namespace detail {
// {"type":"<type>",["from":"<from>",]"message":<message>,"timestamp":"<now>"}
inline std::string event_json(std::string_view type, std::string_view from, std::string_view message) {
    std::string out;
    out.reserve(message.size() + 96);
    out += R"({"type":)";
    wsx::detail::append_json_string(out, type);
    if (!from.empty()) {
        out += R"(,"from":)";
        wsx::detail::append_json_string(out, from);
    }
    out += R"(,"message":)";
    wsx::detail::append_json_string(out, message);
    out += R"(,"timestamp":")";
    out += wsx::detail::iso8601_now();
    out += "\"}";
    return out;
}
} // namespace detail

// A chat room over `reg` (JSON text messages, timestamps in ISO 8601 UTC):
//  - on join, to every client:   {"type":"system","message":"Client <id> joined.","timestamp":...}
//  - a text message M from X:    X gets {"type":"echo","from":"<X>","message":M,...},
//                                every other client {"type":"message","from":"<X>","message":M,...}
//  - on leave, to the others:    {"type":"system","message":"Client <id> left.","timestamp":...}
// Binary messages are refused with close 1003 (unsupported data).
// The registry must outlive the server.
inline endpoint broadcast(registry& reg) {
    endpoint ep;
    ep.on_open = [&reg](connection& c) {
        reg.broadcast(prepared_message::text(
            detail::event_json("system", {}, "Client " + std::string{c.id()} + " joined.")));
    };
    ep.on_message = [&reg](connection& c, message m) {
        if (!m.is_text()) return c.close(close_code::unsupported_data, "only text messages are accepted");
        c.send(detail::event_json("echo", c.id(), m.text()));
        reg.broadcast_except(c.id(), prepared_message::text(detail::event_json("message", c.id(), m.text())));
    };
    ep.on_close = [&reg](connection& c, close_code, std::string_view) {
        reg.broadcast(prepared_message::text(
            detail::event_json("system", {}, "Client " + std::string{c.id()} + " left.")));
    };
    return reg.track(std::move(ep));
}

} // namespace wsx::endpoints

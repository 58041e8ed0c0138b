// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::message: a received WebSocket message as handed to on_message.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <wsx/protocol/opcode.hpp>

namespace wsx {

class connection;

// A view of one received message (or, in streaming mode, one piece of it).
// It does not own its bytes: they are valid only during the on_message call.
// Copy what you need (std::string{m.text()}) to keep it longer.
class message {
public:
    constexpr message(opcode type, std::string_view payload, bool final = true) noexcept
        : payload_(payload), type_(type), final_(final) {}

    constexpr opcode type() const noexcept { return type_; }
    constexpr bool is_text() const noexcept { return type_ == opcode::text; }
    constexpr bool is_binary() const noexcept { return type_ == opcode::binary; }
    // False for every piece of a streamed message but the last (see endpoint::streaming).
    constexpr bool is_final() const noexcept { return final_; }

    // The payload as characters. For text messages it is valid UTF-8.
    constexpr std::string_view text() const noexcept { return payload_; }
    std::span<const std::uint8_t> data() const noexcept {
        return {reinterpret_cast<const std::uint8_t*>(payload_.data()), payload_.size()};
    }
    constexpr std::size_t size() const noexcept { return payload_.size(); }
    std::string to_string() const { return std::string{payload_}; }

private:
    friend class connection;
    // Only the connection makes messages whose text it has already validated.
    struct validated_tag {};
    constexpr message(opcode type, std::string_view payload, bool final, validated_tag) noexcept
        : payload_(payload), type_(type), final_(final), validated_(true) {}

    std::string_view payload_;
    opcode type_;
    bool final_;
    bool validated_ = false;
};

} // namespace wsx

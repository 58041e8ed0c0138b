#pragma once
// wsx::prepared_message: a message encoded once into an immutable frame that
// many connections can queue by reference (broadcast without a copy per
// client). Cheap to copy; safe to share between threads.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/utf8.hpp>

namespace wsx {

class prepared_message {
public:
    prepared_message(opcode type, std::string_view payload) : type_(type) {
        auto frame = std::make_shared<std::string>();
        frame->reserve(payload.size() + 10);
        protocol::append_frame(*frame, type, payload);
        header_size_ = frame->size() - payload.size();
        frame_ = std::move(frame);
    }
    static prepared_message text(std::string_view payload) { return {opcode::text, payload}; }
    static prepared_message binary(std::string_view payload) { return {opcode::binary, payload}; }

    opcode type() const noexcept { return type_; }
    // The whole unmasked frame (what a server sends).
    const std::shared_ptr<const std::string>& frame() const noexcept { return frame_; }
    std::string_view payload() const noexcept {
        return std::string_view{*frame_}.substr(header_size_);
    }
    bool valid_text() const noexcept {
        return type_ != opcode::text || protocol::is_valid_utf8(payload());
    }

private:
    std::shared_ptr<const std::string> frame_;
    std::size_t header_size_ = 0;
    opcode type_;
};

} // namespace wsx

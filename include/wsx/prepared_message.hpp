// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::prepared_message: a message encoded once into an immutable frame that
// many connections can queue by reference (broadcast without a copy per
// client). Cheap to copy; safe to share between threads.
//
// With permessage-deflate and no context takeover in the server's sending direction, the
// compressed frame depends only on the payload and the compressor's parameters: it is
// made once, by the first connection that needs it, and shared by all (compressed_frame).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/utf8.hpp>

namespace wsx {

namespace detail {
// The frames of one prepared message, in one allocation: the plain frame, and compressed
// ones made on demand, one per set of compressor parameters.
struct prepared_frames {
    std::string frame;
    std::mutex mutex; // guards `compressed`
    std::vector<std::pair<std::uint32_t, std::shared_ptr<const std::string>>> compressed;
};
} // namespace detail

class prepared_message {
public:
    prepared_message(opcode type, std::string_view payload) : type_(type) {
        auto frames = std::make_shared<detail::prepared_frames>();
        frames->frame.reserve(payload.size() + 10);
        protocol::append_frame(frames->frame, type, payload);
        header_size_ = frames->frame.size() - payload.size();
        // Validated once here, not once per recipient.
        valid_text_ = type != opcode::text || protocol::is_valid_utf8(payload);
        frame_ = std::shared_ptr<const std::string>(frames, &frames->frame);
        frames_ = std::move(frames);
    }
    static prepared_message text(std::string_view payload) { return {opcode::text, payload}; }
    static prepared_message binary(std::string_view payload) { return {opcode::binary, payload}; }

    opcode type() const noexcept { return type_; }
    // The whole unmasked frame (what a server sends).
    const std::shared_ptr<const std::string>& frame() const noexcept { return frame_; }
    std::string_view payload() const noexcept {
        return std::string_view{*frame_}.substr(header_size_);
    }
    // False for text that is not valid UTF-8: no connection sends it (RFC 6455 §8.1).
    bool valid_text() const noexcept { return valid_text_; }

    // The frame with the payload compressed (permessage-deflate without context takeover),
    // for compressor parameters summed up by `key`. The first caller for a key builds it
    // with make(std::string& out), which appends the whole frame to out; later callers, on
    // any thread, share it. Callers for the same key wait while it is being built.
    template <class Make>
    std::shared_ptr<const std::string> compressed_frame(std::uint32_t key, Make&& make) const {
        std::lock_guard lock(frames_->mutex);
        for (const auto& [k, f] : frames_->compressed)
            if (k == key) return f;
        auto f = std::make_shared<std::string>();
        std::forward<Make>(make)(*f);
        frames_->compressed.emplace_back(key, f);
        return f;
    }

private:
    std::shared_ptr<const std::string> frame_; // aliases frames_->frame
    std::shared_ptr<detail::prepared_frames> frames_;
    std::size_t header_size_ = 0;
    opcode type_;
    bool valid_text_ = true;
};

} // namespace wsx

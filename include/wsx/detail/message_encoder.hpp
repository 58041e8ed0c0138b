// SPDX-License-Identifier: BSL-1.0
#pragma once
// How one connection turns what it sends into frames, sans-I/O: masked with a
// fresh key per frame when it is the client (RFC 6455 §5.3), and, where
// permessage-deflate was negotiated, data messages compressed (RFC 7692 §7.2.1).
//
// Threading: compresses() is safe from any thread (it reads what setup fixed);
// frame() too; message(), shared_frame() and release() belong to the
// connection's thread, which owns the compressor.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <wsx/detail/random.hpp>
#include <wsx/options.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/compression.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/role.hpp>

namespace wsx::detail {

class message_encoder {
public:
    explicit message_encoder(role r) noexcept : role_(r) {}

    // Compression for the negotiated parameters of our sending direction,
    // with the options' codec. Nothing is allocated here: the codec allocates
    // its zlib state on the first message that needs it.
    void setup_deflate(const protocol::deflate_config& c, const deflate_options& o) {
        // zlib cannot compress with a 256-byte window: then we send uncompressed (§6).
        if (!c.enabled || o.codec == nullptr || c.send_window_bits < 9) return;
        deflater_ = o.codec->make_deflater(
            {c.send_window_bits, o.mem_level, o.level, c.send_no_context_takeover});
        threshold_ = o.threshold;
        shares_compressed_ = c.send_no_context_takeover;
        // What makes two connections' compressed frames of one payload
        // identical (without context takeover): the compressor's parameters.
        compressor_key_ = (std::uint32_t{c.send_window_bits} << 16) |
                          (std::uint32_t{o.mem_level} << 8) | static_cast<std::uint8_t>(o.level);
        compressing_ = true;
    }

    // Whether a data message of this size is sent compressed: from the
    // threshold on; control frames never are (§6.1).
    bool compresses(std::size_t payload_size) const noexcept {
        return compressing_ && payload_size >= threshold_;
    }

    // One frame, as it is: masked when we are the client.
    void frame(std::string& out, opcode type, std::string_view payload, bool fin,
               bool rsv1 = false) const {
        if (role_ == role::client) {
            const auto key = random_mask_key();
            protocol::append_frame(out, type, payload, fin, &key, rsv1);
        } else {
            protocol::append_frame(out, type, payload, fin, nullptr, rsv1);
        }
    }

    void close_frame(std::string& out, close_code code, std::string_view reason) const {
        if (role_ == role::client) {
            const auto key = random_mask_key();
            protocol::append_close_frame(out, code, reason, &key);
        } else {
            protocol::append_close_frame(out, code, reason);
        }
    }

    // The header of a whole data message's frame when its payload goes on the
    // wire as it is (we are the server, and the message is not compressed):
    // the connection then writes the payload from where it lies, header and
    // payload in one gathered write, instead of copying both into a buffer.
    // Writes at most protocol::max_frame_header_size bytes to `out`; returns
    // their number, or 0 when the frame needs message() (a client masks every
    // frame, §5.3; a compressed payload is not the caller's bytes).
    std::size_t plain_header(std::uint8_t* out, opcode type, std::size_t payload_size) const noexcept {
        if (role_ == role::client || compresses(payload_size)) return 0;
        protocol::frame_header h;
        h.op = type;
        h.payload_length = payload_size;
        return protocol::encode_frame_header(h, out);
    }

    // A whole data message in one frame, compressed when compresses() says so.
    void message(std::string& out, opcode type, std::string_view payload) {
        if (!compresses(payload.size()) || !deflater_) return frame(out, type, payload, true);
        // One scratch buffer per thread for the compressed payload, trimmed
        // after a large message so it does not pin memory.
        thread_local std::string scratch;
        scratch.clear();
        deflater_->compress(payload, scratch);
        frame(out, type, scratch, true, true);  // RSV1: this message is compressed
        if (scratch.capacity() > (1u << 20)) std::string{}.swap(scratch);
    }

    // A prepared message's frame as this connection sends it: the frame every
    // connection shares; with compression and no context takeover, a
    // compressed frame shared by every connection with the same compressor;
    // null when the message must be compressed for this connection alone
    // (context takeover: our compressor's history is ours), with message().
    std::shared_ptr<const std::string> shared_frame(const prepared_message& m) {
        if (!compresses(m.payload().size())) return m.frame();
        if (!shares_compressed_) return nullptr;
        return m.compressed_frame(compressor_key_, [&](std::string& out) {
            message(out, m.type(), m.payload());
        });
    }

    // Heap bytes the compressor holds now.
    std::size_t memory_usage() const noexcept { return deflater_ ? deflater_->memory_usage() : 0; }
    // The connection ended: its compressor's memory goes with it.
    void release() noexcept { deflater_.reset(); }

private:
    role role_;
    bool compressing_ = false;        // fixed by setup_deflate: read from any thread
    bool shares_compressed_ = false;  // no context takeover in our sending direction
    std::size_t threshold_ = 0;
    std::uint32_t compressor_key_ = 0;
    std::unique_ptr<protocol::message_deflater> deflater_;
};

} // namespace wsx::detail

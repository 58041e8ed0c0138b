// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: wsx::protocol::message_assembler fed an arbitrary byte stream.
//
// Input layout:
//   byte 0      configuration: bit 0 role (0 server, 1 client), bit 1 streaming mode
//               (deliver_partial), bits 2-4 max_message_size (see kMaxSizes), bit 5 call
//               release_delivered() after each event, bit 6 reset() after close/error and
//               keep feeding, bit 7 (deflate target) no context takeover, (this target)
//               receive directly: whenever direct_target() offers the message buffer, the
//               next bytes of a piece are copied there and committed, as a connection
//               reading a large payload does.
//   then pieces: one length byte L (0xff: all the rest, otherwise L + 1 bytes) followed by
//               that many stream bytes, each piece copied into its own exact-size heap
//               buffer so ASan sees any access past it.
//
// Invariants checked (abort on violation):
//   - consume() never reports more consumed than it was given;
//   - need_more means the whole input was consumed;
//   - an event's payload lies inside the consumed part of the input, or (when it does not
//     point into the input) inside the assembler's buffer: no larger than its capacity,
//     and every byte readable;
//   - a delivered message never exceeds max_message_size (summed over streamed pieces),
//     and a complete text message is valid UTF-8;
//   - after a close or error event, finished() holds and further input is discarded
//     (consumed whole, need_more);
//   - (deflate) buffered_bytes() never exceeds max_message_size by more than one inflate
//     step.
//
// fuzz_message_assembler_deflate.cpp includes this file with WSX_FUZZ_DEFLATE defined.

#include "wsx/protocol/message_assembler.hpp"
#include "wsx/protocol/utf8.hpp"
#ifdef WSX_FUZZ_DEFLATE
#include "wsx/protocol/deflate.hpp"
#endif

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace {

using namespace wsx;
using namespace wsx::protocol;

constexpr std::uint64_t kMaxSizes[8] = {0, 1, 2, 125, 126, 1000, 65536, 16u << 20};

// The largest inflate step of message_assembler::inflate_piece (256 KiB), plus a control
// frame (125 bytes) that may be gathering at the end of the buffer.
[[maybe_unused]] constexpr std::uint64_t kInflateStep = std::uint64_t{1} << 18;

volatile unsigned char g_sink;

void touch(std::string_view s) {
    unsigned char acc = 0;
    for (char c : s) acc = static_cast<unsigned char>(acc ^ static_cast<unsigned char>(c));
    g_sink = acc;
}

bool inside(std::string_view inner, const std::uint8_t* begin, std::size_t size) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(inner.data());
    if (inner.empty()) return true;
    return p >= begin && p + inner.size() <= begin + size;
}

struct driver {
    message_assembler a;
    assembler_options opts;
    bool release_each;
    bool reset_after_end;
    bool direct = false;
    // Streaming: the message delivered so far (bounded by max_message_size).
    std::string partial;
    bool partial_open = false;
#ifdef WSX_FUZZ_DEFLATE
    std::unique_ptr<message_inflater> inflater;
#endif

    driver(const assembler_options& o, bool rel, bool rst) : a(o), opts(o), release_each(rel), reset_after_end(rst) {}

    void check_buffered() {
#ifdef WSX_FUZZ_DEFLATE
        FUZZ_CHECK(a.buffered_bytes() <= opts.max_message_size + kInflateStep + max_control_payload_size);
#else
        // Uncompressed: the message buffer holds at most one message (bounded by the
        // limit, checked from the headers) and one split control payload.
        FUZZ_CHECK(a.buffered_bytes() <= opts.max_message_size + max_control_payload_size);
#endif
    }

    void on_event(const event& ev, std::uint8_t* in, std::size_t consumed) {
        const auto buffer_ok = [&](std::string_view p) {
            if (inside(p, in, consumed)) return;
            // Not in the input: it must be the assembler's own buffer.
            const std::size_t cap = std::max(a.heap_capacity(), std::string().capacity());
            FUZZ_CHECK(p.size() <= cap);
            touch(p);
        };
        switch (ev.type) {
        case event_type::need_more:
            break;
        case event_type::message: {
            FUZZ_CHECK(ev.message_type == opcode::text || ev.message_type == opcode::binary);
            buffer_ok(ev.payload);
            if (opts.deliver_partial) {
                FUZZ_CHECK(partial.size() + ev.payload.size() <= opts.max_message_size);
                partial.append(ev.payload);
                partial_open = !ev.fin;
                if (ev.fin) {
                    if (ev.message_type == opcode::text) FUZZ_CHECK(is_valid_utf8(partial));
                    partial.clear();
                }
            } else {
                FUZZ_CHECK(ev.fin);
                FUZZ_CHECK(ev.payload.size() <= opts.max_message_size);
                if (ev.message_type == opcode::text) FUZZ_CHECK(is_valid_utf8(ev.payload));
            }
            break;
        }
        case event_type::ping:
        case event_type::pong:
            FUZZ_CHECK(ev.payload.size() <= max_control_payload_size);
            buffer_ok(ev.payload);
            break;
        case event_type::close:
            FUZZ_CHECK(ev.payload.size() <= max_close_reason_size);
            FUZZ_CHECK(is_valid_utf8(ev.payload));
            buffer_ok(ev.payload);
            FUZZ_CHECK(a.finished());
            break;
        case event_type::error:
            FUZZ_CHECK(!ev.what.empty());
            FUZZ_CHECK(a.finished());
            break;
        }
    }

    // Feeds one piece, calling consume() until need_more. Returns false to stop feeding.
    bool feed(std::uint8_t* data, std::size_t size) {
        while (direct && size != 0 && !a.finished()) {
            const std::span<std::uint8_t> target = a.direct_target(1);
            if (target.empty()) break;
            const std::size_t n = std::min(target.size(), size);
            std::memcpy(target.data(), data, n);
            const auto r = a.commit_direct(target, n);
            FUZZ_CHECK(r.consumed == n);
            FUZZ_CHECK(r.ev.type == event_type::need_more || r.ev.type == event_type::message ||
                       r.ev.type == event_type::error);
            on_event(r.ev, nullptr, 0);  // a payload received directly is in the assembler's buffer
            check_buffered();
            data += n;
            size -= n;
            if (release_each) a.release_delivered();
            if (r.ev.type == event_type::error) {
                if (!reset_after_end) return false;
                a.reset();
                partial.clear();
                partial_open = false;
            }
        }
        std::size_t pos = 0;
        std::size_t no_progress = 0;
        for (;;) {
            const std::size_t rest = size - pos;
            const bool was_finished = a.finished();
            const auto r = a.consume(std::span<std::uint8_t>(data + pos, rest));
            FUZZ_CHECK(r.consumed <= rest);
            if (was_finished) {
                FUZZ_CHECK(r.consumed == rest);
                FUZZ_CHECK(r.ev.type == event_type::need_more);
            }
            if (r.ev.type == event_type::need_more) FUZZ_CHECK(r.consumed == rest);
            on_event(r.ev, data + pos, r.consumed);
            pos += r.consumed;
            check_buffered();
            if (r.ev.type == event_type::need_more) return true;
            if (r.consumed == 0) FUZZ_CHECK(++no_progress < 4);
            else no_progress = 0;
            if (release_each) {
                a.release_delivered();
                check_buffered();
            }
            if (r.ev.type == event_type::close || r.ev.type == event_type::error) {
                // The stream is over: the rest of this piece (and anything later) is discarded.
                const std::size_t left = size - pos;
                const auto d = a.consume(std::span<std::uint8_t>(data + pos, left));
                FUZZ_CHECK(d.consumed == left);
                FUZZ_CHECK(d.ev.type == event_type::need_more);
                FUZZ_CHECK(a.finished());
                FUZZ_CHECK(a.buffered_bytes() == 0);
                if (!reset_after_end) return false;
                a.reset();
                FUZZ_CHECK(!a.finished());
                FUZZ_CHECK(a.buffered_bytes() == 0);
                partial.clear();
                partial_open = false;
                // Keep feeding the rest of the stream into the fresh assembler.
            }
        }
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t cfg = data[0];
    assembler_options o;
    o.local_role = (cfg & 1) ? role::client : role::server;
    o.deliver_partial = (cfg & 2) != 0;
    o.max_message_size = kMaxSizes[(cfg >> 2) & 7];
    driver d(o, (cfg & 0x20) != 0, (cfg & 0x40) != 0);
#ifndef WSX_FUZZ_DEFLATE
    d.direct = (cfg & 0x80) != 0;
#endif
#ifdef WSX_FUZZ_DEFLATE
    decompressor_params dp;
    dp.window_bits = 15;
    dp.no_context_takeover = (cfg & 0x80) != 0;
    d.inflater = make_zlib_inflater(dp);
    d.a.set_inflater(d.inflater.get());
#endif
    std::size_t pos = 1;
    while (pos < size) {
        const std::uint8_t l = data[pos++];
        std::size_t n = l == 0xff ? size - pos : std::size_t{l} + 1;
        if (n > size - pos) n = size - pos;
        // An exact-size copy: the assembler modifies its input (unmasking) and ASan catches
        // any read or write past the piece.
        std::unique_ptr<std::uint8_t[]> piece(new std::uint8_t[n == 0 ? 1 : n]);
        if (n != 0) std::memcpy(piece.get(), data + pos, n);
        pos += n;
        if (!d.feed(piece.get(), n)) break;
    }
    // A final empty consume must be harmless.
    const auto r = d.a.consume({});
    FUZZ_CHECK(r.consumed == 0 && r.ev.type == event_type::need_more);
    d.a.reset();
    FUZZ_CHECK(d.a.buffered_bytes() == 0);
    return 0;
}

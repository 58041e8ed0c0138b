// SPDX-License-Identifier: BSL-1.0
#pragma once
// The incremental receive side of RFC 6455: bytes in, events out (sans-I/O).
//
// The caller hands consume() whatever it read; the assembler decodes frame headers, enforces
// every framing rule of §5 (fails the connection with the close code of §7.4.1), unmasks,
// reassembles fragmented messages (§5.4), validates text as UTF-8 as it arrives (§8.1) and
// returns at most one event per call. It keeps only what an unfinished frame needs: up to 14
// header bytes inline, and the payload of an unfinished message in one growable buffer, so
// an idle assembler is small and the caller's read buffer can be reused at once.
//
// permessage-deflate (RFC 7692): once the caller hands it an inflater (set_inflater), RSV1
// on the first frame of a data message marks the message compressed; its payload is
// inflated as it arrives, through the zlib-free interface of protocol/compression.hpp. The
// message size limit and UTF-8 validation then apply to the inflated bytes, step by step
// while inflating, so neither a decompression bomb nor invalid text is ever inflated whole.

#include "wsx/protocol/close_code.hpp"
#include "wsx/protocol/compression.hpp"
#include "wsx/protocol/frame_header.hpp"
#include "wsx/protocol/mask.hpp"
#include "wsx/protocol/opcode.hpp"
#include "wsx/protocol/role.hpp"
#include "wsx/protocol/utf8.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace wsx::protocol {

struct assembler_options {
    // server: every incoming frame MUST be masked; client: none may be (§5.1). Else 1002.
    role local_role = role::server;
    // Limit on a whole message (the sum of its fragments). A frame header that would take the
    // message over it fails the connection with 1009 (§7.4.1) before its payload is read.
    // For a compressed message it is the limit on the inflated size, checked while inflating.
    std::uint64_t max_message_size = 16u << 20;
    // Streaming mode: each data frame's payload is delivered as it arrives, in pieces (event
    // fin = false until the last piece of the final frame), straight from the input and never
    // buffered. Text is still validated as a whole, but a piece may end inside a code point.
    bool deliver_partial = false;
};

enum class event_type : std::uint8_t { need_more, message, ping, pong, close, error };

struct event {
    event_type type = event_type::need_more;
    opcode message_type = opcode::text; // text or binary (for message events)
    bool fin = true;                    // deliver_partial: false while more of this message follows
    std::string_view payload; // message/ping/pong payload, close reason; valid until the next
                              // consume(), release_delivered() or reset()
    close_code code = close_code::normal; // close: code received (no_status if empty payload);
                                          // error: the code to close with
    std::string_view what; // error: short static English explanation ("unmasked client frame")
};

// One per connection, used by one thread at a time (it holds no lock). Throws only
// std::bad_alloc (growing the message buffer), after which the stream position is lost: close
// the connection or reset(). Peer input never throws, it yields an error event.
class message_assembler {
public:
    explicit message_assembler(assembler_options options = {}) : options_(options) {}

    struct result {
        std::size_t consumed;
        event ev;
    };

    // Consumes a prefix of `input`, which it may modify in place (unmasking). Returns how much
    // it consumed and at most one event; the caller calls again with the rest until it gets
    // need_more. need_more always means the whole input was consumed: the bytes of an
    // unfinished frame are kept inside (a partial header inline, partial payload unmasked into
    // the message buffer), so the caller never keeps unconsumed input.
    //
    // Zero copy: a complete unfragmented data frame, or a control frame, lying whole in
    // `input` is unmasked in place and the event's payload points into `input`. Otherwise it
    // points into the internal buffer. After an error or close event, further input is
    // discarded (consumed, need_more).
    result consume(std::span<std::uint8_t> input);

    // Back to the initial state (options kept); releases the message buffer.
    void reset() noexcept {
        end_compressed_message();
        std::string().swap(buf_);
        message_size_ = 0;
        remaining_ = 0;
        utf8_.reset();
        key_ = {};
        header_size_ = 0;
        mask_phase_ = 0;
        ctrl_buffered_ = 0;
        frame_op_ = opcode::text;
        message_type_ = opcode::text;
        frame_fin_ = true;
        frame_masked_ = false;
        frame_split_ = false;
        in_message_ = false;
        phase_ = phase::header;
        pending_ = pending::none;
    }

    const assembler_options& options() const noexcept { return options_; }

    // Takes effect from the next frame header.
    void set_max_message_size(std::uint64_t n) noexcept { options_.max_message_size = n; }

    // Enables permessage-deflate on receive (RFC 7692 §6): messages whose first frame has
    // RSV1 set are inflated by `inflater`, which the caller keeps alive while it is set.
    // Null (the default) disables it: RSV1 is then a protocol error (RFC 6455 §5.2). Call it
    // between messages (right after the opening handshake).
    void set_inflater(message_inflater* inflater) noexcept { inflater_ = inflater; }
    message_inflater* inflater() const noexcept { return inflater_; }

    // Bytes held in the message buffer for an unfinished message (and an unfinished control
    // frame split across reads); 0 when idle. See heap_capacity() for the allocation size.
    std::size_t buffered_bytes() const noexcept {
        if (phase_ == phase::finished || pending_ == pending::message) return 0;
        return pending_ == pending::control ? buf_.size() - ctrl_buffered_ : buf_.size();
    }

    // Heap bytes allocated by the message buffer (0 while it fits the small-string storage).
    // Kept between messages for reuse up to 64 KiB, released beyond.
    std::size_t heap_capacity() const noexcept {
        return buf_.capacity() > std::string().capacity() ? buf_.capacity() : 0;
    }

    // Says the caller is done with the last event's payload: drops it now (and frees a large
    // message buffer) instead of at the next consume(). Optional; lets a connection that goes
    // idle after a big message give the memory back at once.
    void release_delivered() noexcept {
        if (phase_ == phase::finished) {
            std::string().swap(buf_); // nothing more will be assembled
            pending_ = pending::none;
            ctrl_buffered_ = 0;
            return;
        }
        switch (pending_) {
        case pending::none:
            return;
        case pending::control:
            buf_.resize(buf_.size() - ctrl_buffered_); // shrinking never allocates
            ctrl_buffered_ = 0;
            break;
        case pending::message:
            if (buf_.capacity() > max_kept_capacity)
                std::string().swap(buf_);
            else
                buf_.clear();
            break;
        }
        pending_ = pending::none;
    }

    // True after a close or error event: the peer's stream is over.
    bool finished() const noexcept { return phase_ == phase::finished; }

    // ---- receiving a large payload straight into the message buffer ----------
    // While the current frame is a data frame whose payload gathers in the message buffer
    // (not compressed, not streamed) and at least `min` bytes of it are still to come, returns
    // where the caller may receive the next bytes of the stream directly, saving the copy from
    // its read buffer: up to the frame's remaining payload, and no more than the larger of
    // what the message holds already and 64 KiB, so the buffer at most doubles per receive:
    // it grows with what arrives, as with consume(), not with what a header announces.
    // Otherwise an empty span. Implies release_delivered().
    // A non-empty span must be handed back to commit_direct() (with 0 if nothing was
    // received) before any other call.
    std::span<std::uint8_t> direct_target(std::size_t min);
    // Whether `bytes` lie within the message buffer (a payload this assembler delivered).
    bool holds(std::string_view bytes) const noexcept {
        const auto b = reinterpret_cast<std::uintptr_t>(buf_.data());
        const auto p = reinterpret_cast<std::uintptr_t>(bytes.data());
        return p >= b && p - b <= buf_.size() && bytes.size() <= buf_.size() - (p - b);
    }
    // A quick test before it, for a caller's read loop: false means direct_target(min) would
    // return an empty span; true, that it may not.
    // It must say false for every frame direct_target() refuses: a read loop that
    // trusts it and gets an empty span would spin without reading.
    bool may_take_direct(std::size_t min) const noexcept {
        return phase_ == phase::payload && remaining_ >= min && remaining_ != 0 && !compressed_ &&
               !is_control(frame_op_) && !options_.deliver_partial;
    }

    // `n` bytes were received at the start of `target`, the span direct_target() returned:
    // unmasks them and validates text as consume() would. Returns consumed = n and need_more,
    // a message event when they end the message, or an error event (invalid UTF-8).
    result commit_direct(std::span<std::uint8_t> target, std::size_t n);

private:
    enum class phase : std::uint8_t { header, payload, finished };
    // What the last event's payload left in buf_, to drop on the next call.
    enum class pending : std::uint8_t { none, message, control };

    // Message buffers up to this size are kept for the next message (no allocation per
    // message in the steady state); bigger ones are freed so an idle connection stays small.
    static constexpr std::size_t max_kept_capacity = 64 * 1024;

    static event make_error(close_code code, std::string_view what) noexcept {
        event ev;
        ev.type = event_type::error;
        ev.code = code;
        ev.what = what;
        return ev;
    }

    result fail(std::size_t consumed, close_code code, std::string_view what) noexcept {
        end_compressed_message();
        phase_ = phase::finished;
        utf8_.reset();
        std::string().swap(buf_); // no payload refers to it: free it now
        pending_ = pending::none;
        ctrl_buffered_ = 0;
        return {consumed, make_error(code, what)};
    }

    // Copies header bytes from in until the header is complete or in is exhausted.
    std::size_t fill_header(std::span<const std::uint8_t> in) noexcept {
        std::size_t taken = 0;
        for (;;) {
            const std::size_t need = header_needed();
            if (header_size_ >= need || taken == in.size()) return taken;
            std::size_t k = need - header_size_;
            if (k > in.size() - taken) k = in.size() - taken;
            std::memcpy(header_ + header_size_, in.data() + taken, k);
            header_size_ = static_cast<std::uint8_t>(header_size_ + k);
            taken += k;
        }
    }

    std::size_t header_needed() const noexcept {
        return header_size_ < 2 ? 2 : frame_header_size_from_second_byte(header_[1]);
    }

    // Checks a complete header against the rules of §5 and sets up the frame. Returns an
    // error event, or a need_more event when the frame is acceptable.
    event begin_frame(const frame_header& h, std::size_t header_size) noexcept;

    result control_event(std::size_t consumed, std::string_view payload) noexcept;

    result message_event(std::size_t consumed, std::string_view payload, bool fin) noexcept {
        event ev;
        ev.type = event_type::message;
        ev.message_type = message_type_;
        ev.fin = fin;
        ev.payload = payload;
        if (fin) {
            in_message_ = false;
            message_size_ = 0;
            end_compressed_message();
        }
        return {consumed, ev};
    }

    // A compressed message is over (delivered or abandoned): the inflater resets, and without
    // context takeover gives its memory back.
    void end_compressed_message() noexcept {
        if (compressed_ && inflater_ != nullptr) inflater_->end_message();
        compressed_ = false;
        inflated_size_ = 0;
    }

    // The limit on the wire size of a compressed message. DEFLATE expands incompressible
    // data by a few bytes per stored block (at most 5 per 16 KiB with zlib), so an eighth
    // more than the inflated limit is ample; the limit that matters, on the inflated size,
    // is applied while inflating.
    std::uint64_t compressed_wire_limit() const noexcept {
        const std::uint64_t max = options_.max_message_size;
        const std::uint64_t extra = (max >> 3) + 1024;
        return max > UINT64_MAX - extra ? UINT64_MAX : max + extra;
    }

    // RFC 7692 §7.2.2: inflates one piece of a compressed message's payload (`last`: the end
    // of the message) onto the end of buf_, a bounded step at a time. After each step the
    // inflated size is checked against the limit (1009) and new text is validated (1007), so
    // a bomb stops at the limit and invalid text at the step that holds it. Returns an error
    // event, or a need_more event when all of the piece was inflated.
    event inflate_piece(std::string_view piece, bool last);

    assembler_options options_;
    std::string buf_; // the unfinished message, then (at its end) a split control payload
    std::uint64_t message_size_ = 0; // declared length of the current message's frames so far
    std::uint64_t remaining_ = 0;    // payload bytes of the current frame still to come
    utf8_validator utf8_;            // state of the current text message
    mask_key key_{};                 // the current frame's masking key
    std::uint8_t header_[max_frame_header_size]{}; // a header split across reads
    std::uint8_t header_size_ = 0;
    std::uint8_t mask_phase_ = 0;    // payload bytes of the frame unmasked so far, mod 4
    std::uint8_t ctrl_buffered_ = 0; // control payload bytes at the end of buf_ (<= 125)
    opcode frame_op_ = opcode::text;
    opcode message_type_ = opcode::text;
    bool frame_fin_ = true;
    bool frame_masked_ = false;
    bool frame_split_ = false; // part of the frame's payload was consumed by an earlier call
    bool in_message_ = false;  // a text/binary frame started a message not finished yet
    phase phase_ = phase::header;
    pending pending_ = pending::none;
    bool compressed_ = false;                // the current message is compressed (RFC 7692)
    std::uint64_t inflated_size_ = 0;        // inflated bytes of the current message so far
    message_inflater* inflater_ = nullptr;   // set when permessage-deflate was negotiated
};

inline event message_assembler::begin_frame(const frame_header& h,
                                            std::size_t header_size) noexcept {
    // §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for
    // non-zero values". permessage-deflate (RFC 7692 §6), when negotiated (an inflater is
    // set), gives RSV1 a meaning on the first frame of a data message only.
    if (h.rsv2 || h.rsv3 || (h.rsv1 && inflater_ == nullptr)) {
        return make_error(close_code::protocol_error,
                          "reserved bit set without a negotiated extension");
    }
    // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail_".
    if (!is_known_opcode(static_cast<std::uint8_t>(h.op))) {
        return make_error(close_code::protocol_error, "reserved opcode");
    }
    // RFC 7692 §6: the "Per-Message Compressed" bit is set only on the first frame of a
    // message; control frames are never compressed (§6.1).
    if (h.rsv1 && is_control(h.op)) {
        return make_error(close_code::protocol_error, "RSV1 set on a control frame");
    }
    if (h.rsv1 && h.op == opcode::continuation) {
        return make_error(close_code::protocol_error, "RSV1 set on a continuation frame");
    }
    // §5.1: a server MUST fail on an unmasked frame, a client on a masked one.
    if (options_.local_role == role::server && !h.masked) {
        return make_error(close_code::protocol_error, "unmasked client frame");
    }
    if (options_.local_role == role::client && h.masked) {
        return make_error(close_code::protocol_error, "masked server frame");
    }
    // §5.2: the 64-bit length's most significant bit MUST be 0, and "the minimal number of
    // bytes MUST be used to encode the length".
    if (!has_valid_length_encoding(h, header_size)) {
        return make_error(close_code::protocol_error,
                          (h.payload_length >> 63) != 0
                              ? "payload length with the most significant bit set"
                              : "non-minimal payload length encoding");
    }
    if (is_control(h.op)) {
        // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST
        // NOT be fragmented."
        if (!h.fin) return make_error(close_code::protocol_error, "fragmented control frame");
        if (h.payload_length > max_control_payload_size) {
            return make_error(close_code::protocol_error, "control frame payload over 125 bytes");
        }
    } else {
        // §5.4: fragments of one message are a text/binary frame then continuations; they may
        // not interleave with another message's.
        if (h.op == opcode::continuation && !in_message_) {
            return make_error(close_code::protocol_error,
                              "continuation frame without a message in progress");
        }
        if (h.op != opcode::continuation && in_message_) {
            return make_error(close_code::protocol_error,
                              "new data frame while a fragmented message is in progress");
        }
        // §10.4: an endpoint may limit message size and close with 1009 (§7.4.1); decide from
        // the header so that no byte of an oversized message is buffered. A compressed
        // message is held to its inflated size while inflating, its wire size only loosely.
        const std::uint64_t so_far = h.op == opcode::continuation ? message_size_ : 0;
        const bool compressed = h.op == opcode::continuation ? compressed_ : h.rsv1;
        const std::uint64_t max = compressed ? compressed_wire_limit() : options_.max_message_size;
        if (so_far > max || h.payload_length > max - so_far) {
            return make_error(close_code::message_too_big, "message too big");
        }
        if (h.op != opcode::continuation) {
            in_message_ = true;
            message_type_ = h.op;
            compressed_ = h.rsv1;
            inflated_size_ = 0;
        }
        message_size_ = so_far + h.payload_length;
    }
    frame_op_ = h.op;
    frame_fin_ = h.fin;
    frame_masked_ = h.masked;
    key_ = h.key;
    mask_phase_ = 0;
    remaining_ = h.payload_length;
    frame_split_ = false;
    phase_ = phase::payload;
    return event{};
}

inline message_assembler::result
message_assembler::control_event(std::size_t consumed, std::string_view payload) noexcept {
    event ev;
    ev.payload = payload;
    switch (frame_op_) {
    case opcode::ping:
        ev.type = event_type::ping;
        break;
    case opcode::pong:
        ev.type = event_type::pong;
        break;
    default: {
        // §5.5.1, §7.4: the close body is validated like any other input.
        const close_payload_result r = parse_close_payload(payload);
        if (!r.ok) return fail(consumed, r.error, r.what);
        ev.type = event_type::close;
        ev.code = r.code;
        ev.payload = r.reason;
        // §5.5.1: after a Close, the peer sends nothing more; anything else is discarded.
        phase_ = phase::finished;
        break;
    }
    }
    return {consumed, ev};
}

// Inlined into the connection's read loop, which calls it once per frame: out of line,
// the call, the returned event and the lost optimisation across the call cost ~75
// instructions per 20-byte echoed message (callgrind), a tenth of the whole. g++ 12
// stopped inlining it on its own once the read loop grew by a few instructions.
#if defined(__GNUC__) || defined(__clang__)
[[gnu::always_inline]]
#endif
inline message_assembler::result message_assembler::consume(std::span<std::uint8_t> input) {
    release_delivered();
    const std::size_t size = input.size();
    if (phase_ == phase::finished) return {size, event{}};
    std::size_t pos = 0;
    for (;;) {
        if (phase_ == phase::header) {
            frame_header h;
            std::size_t header_size = 0;
            if (header_size_ == 0 &&
                (header_size = decode_frame_header(input.subspan(pos), h)) != 0) {
                pos += header_size; // fast path: the whole header is in the input
            } else {
                pos += fill_header(input.subspan(pos));
                if (header_size_ < header_needed()) return {size, event{}}; // all consumed
                header_size = header_size_;
                decode_frame_header({header_, header_size}, h);
                header_size_ = 0;
            }
            const event ev = begin_frame(h, header_size);
            if (ev.type == event_type::error) return fail(pos, ev.code, ev.what);
        }

        // Payload: take what this input holds of the current frame and unmask it in place.
        const std::size_t avail = size - pos;
        const std::size_t take = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
        std::uint8_t* chunk = input.data() + pos;
        if (frame_masked_ && take != 0) {
            apply_mask({chunk, take}, key_, mask_phase_);
            mask_phase_ = static_cast<std::uint8_t>((mask_phase_ + take) & 3u);
        }
        pos += take;
        remaining_ -= take;
        const bool frame_done = remaining_ == 0;
        std::string_view piece(reinterpret_cast<const char*>(chunk), take);
        if (frame_done) phase_ = phase::header;

        if (is_control(frame_op_)) {
            if (frame_done && !frame_split_) return control_event(pos, piece); // zero copy
            // A control frame split across reads gathers at the end of buf_, after any message
            // in progress, which it must not disturb (§5.4: control frames may be interleaved).
            if (take != 0) {
                buf_.append(piece);
                ctrl_buffered_ = static_cast<std::uint8_t>(ctrl_buffered_ + take);
                frame_split_ = true;
            }
            if (!frame_done) return {size, event{}};
            pending_ = pending::control;
            return control_event(pos, std::string_view(buf_).substr(buf_.size() - ctrl_buffered_));
        }

        const bool message_done = frame_done && frame_fin_;
        if (compressed_) {
            // RFC 7692: the inflated bytes gather in buf_ (never the compressed ones). The
            // end of the message is inflated even when its last frame is empty: that is
            // when the §7.2.2 tail goes in.
            if (take != 0 || message_done) {
                const event ev = inflate_piece(piece, message_done);
                if (ev.type == event_type::error) return fail(pos, ev.code, ev.what);
                if (message_done && message_type_ == opcode::text && !utf8_.finish()) {
                    return fail(pos, close_code::invalid_payload,
                                "text message ends inside a UTF-8 sequence");
                }
            }
            if (message_done || (options_.deliver_partial && !buf_.empty())) {
                pending_ = pending::message; // streaming: each piece's output, then dropped
                return message_event(pos, buf_, message_done);
            }
            if (!frame_done) return {size, event{}};
            continue;
        }

        // Data: §8.1, a text message must be valid UTF-8; check each piece as it arrives so
        // that invalid text fails as soon as the offending byte is consumed.
        if (message_type_ == opcode::text) {
            if (!utf8_.feed(piece)) {
                return fail(pos, close_code::invalid_payload, "invalid UTF-8 in a text message");
            }
            if (message_done && !utf8_.finish()) {
                return fail(pos, close_code::invalid_payload,
                            "text message ends inside a UTF-8 sequence");
            }
        }
        if (options_.deliver_partial) {
            // Streaming: hand over each piece at once, straight from the input. Empty pieces
            // are skipped, except the end of the message, which the caller must see.
            if (take != 0 || message_done) return message_event(pos, piece, message_done);
            if (!frame_done) return {size, event{}};
            continue;
        }
        if (message_done && !frame_split_ && frame_op_ != opcode::continuation) {
            return message_event(pos, piece, true); // a whole unfragmented frame: zero copy
        }
        buf_.append(piece);
        if (!frame_done) {
            if (take != 0) frame_split_ = true;
            return {size, event{}};
        }
        if (message_done) {
            pending_ = pending::message;
            return message_event(pos, buf_, true);
        }
    }
}

inline std::span<std::uint8_t> message_assembler::direct_target(std::size_t min) {
    if (!may_take_direct(min)) return {};
    release_delivered();
    if (is_control(frame_op_) || compressed_ || options_.deliver_partial || pending_ != pending::none)
        return {};
    const std::size_t old = buf_.size();
    const std::size_t cap = std::max<std::size_t>(old, std::size_t{1} << 16);
    const std::size_t n = remaining_ < cap ? static_cast<std::size_t>(remaining_) : cap;
    buf_.resize(old + n);
    return {reinterpret_cast<std::uint8_t*>(buf_.data()) + old, n};
}

inline message_assembler::result message_assembler::commit_direct(std::span<std::uint8_t> target,
                                                                   std::size_t n) {
    const auto old = static_cast<std::size_t>(target.data() - reinterpret_cast<std::uint8_t*>(buf_.data()));
    n = std::min(n, target.size());
    buf_.resize(old + n); // shrinking never allocates
    if (n == 0) return {0, event{}};
    auto* chunk = reinterpret_cast<std::uint8_t*>(buf_.data()) + old;
    if (frame_masked_) {
        apply_mask({chunk, n}, key_, mask_phase_);
        mask_phase_ = static_cast<std::uint8_t>((mask_phase_ + n) & 3u);
    }
    remaining_ -= n;
    frame_split_ = true; // the frame's payload is in buf_, not in a caller's input
    const bool frame_done = remaining_ == 0;
    const bool message_done = frame_done && frame_fin_;
    if (frame_done) phase_ = phase::header;
    if (message_type_ == opcode::text) {
        if (!utf8_.feed({reinterpret_cast<const char*>(chunk), n}))
            return fail(n, close_code::invalid_payload, "invalid UTF-8 in a text message");
        if (message_done && !utf8_.finish())
            return fail(n, close_code::invalid_payload, "text message ends inside a UTF-8 sequence");
    }
    if (!message_done) return {n, event{}};
    pending_ = pending::message;
    return message_event(n, buf_, true);
}

inline event message_assembler::inflate_piece(std::string_view piece, bool last) {
    std::span<const std::uint8_t> in{reinterpret_cast<const std::uint8_t*>(piece.data()),
                                     piece.size()};
    const std::uint64_t max = options_.max_message_size;
    for (;;) {
        // Steps grow with the message (1 KiB to 256 KiB), so a big message takes few calls
        // and a small one allocates little; never more than one byte past the limit, which
        // is how going over it is seen.
        std::size_t step = std::max(std::min(in.size(), std::size_t{1} << 16) * 4,
                                    static_cast<std::size_t>(std::min<std::uint64_t>(
                                        inflated_size_, std::uint64_t{1} << 18)));
        step = std::clamp<std::size_t>(step, 1024, std::size_t{1} << 18);
        const std::uint64_t room = max - inflated_size_; // inflated_size_ <= max here
        if (room < step) step = static_cast<std::size_t>(room) + 1;
        const std::size_t old = buf_.size();
        buf_.resize(old + step);
        auto* out = reinterpret_cast<std::uint8_t*>(buf_.data()) + old;
        const inflate_result r = inflater_->inflate(in, {out, step}, last);
        buf_.resize(old + r.produced);
        in = in.subspan(r.consumed);
        inflated_size_ += r.produced;
        if (r.error) return make_error(close_code::invalid_payload, "invalid compressed data");
        if (inflated_size_ > max) {
            return make_error(close_code::message_too_big, "message too big after decompression");
        }
        if (message_type_ == opcode::text && r.produced != 0 &&
            !utf8_.feed({buf_.data() + old, r.produced})) {
            return make_error(close_code::invalid_payload, "invalid UTF-8 in a text message");
        }
        if (r.done) return event{};
    }
}

} // namespace wsx::protocol

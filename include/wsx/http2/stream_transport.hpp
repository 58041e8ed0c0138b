// SPDX-License-Identifier: BSL-1.0
#pragma once
// One HTTP/2 stream that carries a WebSocket (RFC 8441), as a model of the
// transport concept (transport/concept.hpp): basic_connection<http2::transport>
// runs over it unchanged. Reads come from the stream's DATA frames, writes
// become DATA frames, shutdown is END_STREAM and close is RST_STREAM (RFC 8441
// §6 maps TCP FIN and RST onto them).
//
// The HTTP/2 session (http2/session.hpp) owns the framing; between it and the
// stream sits a stream_state both hold, and the small stream_owner interface
// through which the stream asks the session to act. No nghttp2 here.
//
// Backpressure: a write completes when the session has taken all of its bytes
// into DATA frames, which it does only as far as the peer's flow-control
// window allows. A peer that does not read therefore holds the write, the
// connection's outbox fills up to max_buffered_bytes and its backpressure
// policy applies, while the session's other streams go on.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx::http2::detail {

// What a stream asks of its session. Called on the session's thread.
class stream_owner {
public:
    virtual ~stream_owner() = default;
    // `n` bytes of input were read: open the flow-control window again.
    virtual void stream_consumed(std::int32_t id, std::size_t n) = 0;
    // There is output (or an END_STREAM) to frame: resume the stream's DATA.
    virtual void stream_output(std::int32_t id) = 0;
    // The stream is dropped: reset it if it is still open, forget it.
    virtual void stream_reset(std::int32_t id) = 0;
};

// The state one WebSocket stream shares between its transport and its session.
// Single-threaded (the session's thread). Completions are posted, never run
// inside the call that triggers them.
class stream_state {
public:
    using executor_type = asio::io_context::executor_type;

    stream_state(std::int32_t id, executor_type ex) : id_(id), executor_(ex) {}

    std::int32_t id() const noexcept { return id_; }
    executor_type executor() const noexcept { return executor_; }

    // ---- input (the session delivers, the transport reads) ----------------
    // False when the input has ended: nobody will read these bytes, and the
    // session must give their flow-control credit back itself.
    bool deliver(const std::uint8_t* data, std::size_t n) {
        if (in_end_) return false;
        if (in_pos_ == in_.size()) {
            in_.clear();
            in_pos_ = 0;
        }
        in_.append(reinterpret_cast<const char*>(data), n);
        wake_reader();
        return true;
    }
    // No more input: eof after an END_STREAM, connection_reset after a reset.
    void end_input(std::error_code ec) {
        if (in_end_) return;
        in_end_ = ec;
        wake_reader();
    }
    std::size_t buffered_input() const noexcept { return in_.size() - in_pos_; }
    // Drops what was received and not read; returns how many bytes that was.
    std::size_t discard_input() noexcept {
        const std::size_t n = buffered_input();
        in_.clear();
        in_pos_ = 0;
        return n;
    }

    template <class Handler>
    void wait_readable(Handler&& h) {
        reader_ = std::forward<Handler>(h);
        if (buffered_input() || in_end_) wake_reader();
    }
    std::size_t read_some(asio::mutable_buffer b, std::error_code& ec) {
        const std::size_t n = std::min(b.size(), buffered_input());
        if (n == 0) {
            ec = in_end_ ? in_end_ : make_error_code(asio::error::would_block);
            return 0;
        }
        std::memcpy(b.data(), in_.data() + in_pos_, n);
        in_pos_ += n;
        ec = {};
        return n;
    }

    // ---- output (the transport writes, the session frames) ----------------
    // One write at a time (the connection never starts a second before the
    // first completes). The buffers stay valid until the handler runs.
    template <class Buffers, class Handler>
    bool start_write(const Buffers& buffers, Handler&& h) {
        if (out_end_) {
            post_written(std::forward<Handler>(h), out_end_, 0);
            return false;
        }
        out_.assign(asio::buffer_sequence_begin(buffers), asio::buffer_sequence_end(buffers));
        out_index_ = 0;
        out_offset_ = 0;
        out_taken_ = 0;
        writer_ = std::forward<Handler>(h);
        if (asio::buffer_size(buffers) == 0) finish_write({});
        return true;
    }
    bool write_pending() const noexcept { return static_cast<bool>(writer_); }
    // Copies up to `len` bytes of the pending write into `dst` (a DATA frame's
    // payload); completes the write once all of it has been taken.
    std::size_t take_output(std::uint8_t* dst, std::size_t len) {
        std::size_t copied = 0;
        while (copied < len && out_index_ < out_.size()) {
            const asio::const_buffer& b = out_[out_index_];
            const std::size_t n = std::min(len - copied, b.size() - out_offset_);
            std::memcpy(dst + copied, static_cast<const char*>(b.data()) + out_offset_, n);
            copied += n;
            out_offset_ += n;
            if (out_offset_ == b.size()) {
                ++out_index_;
                out_offset_ = 0;
            }
        }
        out_taken_ += copied;
        if (writer_ && out_index_ == out_.size()) finish_write({});
        return copied;
    }
    // END_STREAM is wanted once the pending output has gone.
    void request_end() noexcept { end_requested_ = true; }
    bool end_requested() const noexcept { return end_requested_; }
    // Nothing can be sent any more (the stream or the session ended).
    void end_output(std::error_code ec) {
        if (out_end_) return;
        out_end_ = ec;
        if (writer_) finish_write(ec);
    }

    // Both directions over: completes what waits, so no handler (and no
    // connection it holds) stays referenced by the session.
    void end(std::error_code ec) {
        end_input(ec);
        end_output(ec == asio::error::eof ? make_error_code(asio::error::broken_pipe) : ec);
    }
    bool ended() const noexcept { return in_end_ && out_end_; }

private:
    void wake_reader() {
        if (!reader_) return;
        asio::post(executor_, [h = std::exchange(reader_, nullptr)]() mutable { h(std::error_code{}); });
    }
    void finish_write(std::error_code ec) {
        post_written(std::exchange(writer_, nullptr), ec, out_taken_);
        out_.clear();
    }
    template <class Handler>
    void post_written(Handler&& h, std::error_code ec, std::size_t n) {
        asio::post(executor_, [h = std::forward<Handler>(h), ec, n]() mutable { h(ec, n); });
    }

    std::int32_t id_;
    executor_type executor_;
    std::string in_;
    std::size_t in_pos_ = 0;
    std::error_code in_end_;
    std::function<void(std::error_code)> reader_;
    std::vector<asio::const_buffer> out_;
    std::size_t out_index_ = 0;
    std::size_t out_offset_ = 0;
    std::size_t out_taken_ = 0;
    std::function<void(std::error_code, std::size_t)> writer_;
    std::error_code out_end_;
    bool end_requested_ = false;
};

} // namespace wsx::http2::detail

namespace wsx::http2 {

// The transport policy of WebSockets carried by HTTP/2 streams.
struct transport {
    static constexpr const char* scheme = "ws";
    struct context {};

    class stream {
    public:
        using executor_type = asio::io_context::executor_type;
        // Writes go through the session's framing: no synchronous write path.
        static constexpr bool nonblocking_writes = false;

        stream(std::shared_ptr<detail::stream_owner> owner,
               std::shared_ptr<detail::stream_state> state, asio::ip::tcp::endpoint remote)
            : owner_(std::move(owner)), state_(std::move(state)), remote_(remote) {}
        stream(stream&&) noexcept = default;
        stream& operator=(stream&&) noexcept = default;
        ~stream() { close(); }

        executor_type get_executor() const noexcept { return state_->executor(); }
        std::int32_t stream_id() const noexcept { return state_ ? state_->id() : 0; }

        template <class Handler>
        void async_handshake(role, Handler&& h) {
            asio::post(state_->executor(), [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }
        template <class Handler>
        void async_wait_readable(Handler&& h) {
            state_->wait_readable(std::forward<Handler>(h));
        }
        std::size_t read_some(asio::mutable_buffer b, std::error_code& ec) {
            const std::size_t n = state_->read_some(b, ec);
            if (n) owner_->stream_consumed(state_->id(), n);
            return n;
        }
        template <class Buffers>
        std::size_t try_write_some(const Buffers&, std::error_code& ec) {
            ec = {};
            return 0;
        }
        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& h) {
            if (state_->start_write(buffers, std::forward<Handler>(h))) owner_->stream_output(state_->id());
        }
        // END_STREAM after what was written (the HTTP/2 form of TCP's FIN).
        template <class Handler>
        void async_shutdown(Handler&& h) {
            state_->request_end();
            owner_->stream_output(state_->id());
            asio::post(state_->executor(), [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }
        // RST_STREAM if the stream is still open; the session's other streams
        // are not affected.
        void close() noexcept {
            if (!state_ || !owner_) return;
            state_->end(make_error_code(asio::error::operation_aborted));
            owner_->stream_reset(state_->id());
            owner_.reset();
        }
        asio::ip::tcp::endpoint remote_endpoint() const { return remote_; }

    private:
        std::shared_ptr<detail::stream_owner> owner_;
        std::shared_ptr<detail::stream_state> state_;
        asio::ip::tcp::endpoint remote_;
    };
};

static_assert(wsx::transport::policy<transport>,
              "wsx::http2::transport must model wsx::transport::policy");

} // namespace wsx::http2

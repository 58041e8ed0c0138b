#pragma once
// wsx::connection — one open WebSocket connection, as handlers see it — and
// basic_connection<Transport>, which moves its bytes.
//
// The protocol rules live in the sans-I/O layer (protocol/); this class only
// shuttles bytes between the transport and the message assembler, keeps the
// outgoing queue, and runs the closing handshake and the deadlines. The logic
// is not a template: only the few I/O primitives at the bottom depend on the
// transport, which keeps compile times and binary size down.
//
// Threading: a connection is pinned to one I/O thread. Its handlers run there,
// one at a time. send(), ping() and close() are safe from any thread (off that
// thread they post); the other members are for the I/O thread (handlers), except
// where a comment says otherwise.
#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <wsx/detail/out_queue.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/detail/worker.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/error.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/compression.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/role.hpp>
#include <wsx/protocol/utf8.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx {

// Counters readable from any thread (relaxed: a snapshot, not a transaction).
struct connection_stats {
    std::uint64_t messages_in = 0;
    std::uint64_t messages_out = 0;
    std::uint64_t bytes_in = 0;   // payload bytes of received messages
    std::uint64_t bytes_out = 0;  // payload bytes of sent messages
    std::uint64_t dropped = 0;    // messages refused by backpressure_policy::drop
};

// Where a connection is in its life.
enum class connection_state : std::uint8_t {
    open,     // messages flow both ways
    closing,  // a close frame was sent or received; no more data is sent
    closed,   // the socket is closed; on_close has run
};

// Fixed facts about a connection, gathered before it opens.
struct connection_info {
    std::string path;         // request path, without the query
    std::string subprotocol;  // negotiated, or empty
    std::string user;         // set by the upgrade hook, or empty
    std::any user_data;       // set by the upgrade hook
    asio::ip::tcp::endpoint remote;
    // permessage-deflate as negotiated in the handshake (enabled = false: not in use).
    protocol::deflate_config deflate{};
};

class registry;

class connection : public std::enable_shared_from_this<connection>, protected detail::timed_node {
public:
    using executor_type = asio::io_context::executor_type;

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    virtual ~connection() = default;

    // ---- sending: safe from any thread -------------------------------------
    // Each returns true when the message was queued. False when the connection
    // is not open, the text is not valid UTF-8 (RFC 6455 §8.1 forbids sending
    // it), or the backpressure policy refused it.
    bool send(std::string_view text) { return send(opcode::text, text); }
    bool send_binary(std::string_view bytes) { return send(opcode::binary, bytes); }
    bool send_binary(std::span<const std::uint8_t> bytes) {
        return send(opcode::binary,
                    {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    }
    bool send(const message& m) {
        // A received text message was validated as it arrived: echoing or
        // forwarding it does not validate it again.
        if (m.validated_) return send_valid(m.type(), m.text());
        return send(m.type(), m.text());
    }
    bool send(opcode type, std::string_view payload) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::connection::send: type must be text or binary");
        if (type == opcode::text && !protocol::is_valid_utf8(payload)) return false;
        return send_valid(type, payload);
    }
private:
    bool send_valid(opcode type, std::string_view payload) {
        // Checked before the executor is touched: a handle kept after its
        // server (and io_context) are gone only ever sees a closed connection.
        if (!accepting_.load(std::memory_order_relaxed)) return false;
        if (on_own_thread()) return enqueue_data(type, payload);
        if (compress_out_ && payload.size() >= limits_->deflate.threshold) {
            // The compressor belongs to the connection's thread: compress there.
            asio::post(executor_, [self = shared_from_this(), type, p = std::string(payload)] {
                self->enqueue_data(type, p);
            });
            return true;
        }
        std::string frame;
        encode(frame, type, payload, true);
        asio::post(executor_, [self = shared_from_this(), frame = std::move(frame),
                               size = payload.size()]() mutable {
            self->enqueue_encoded(std::move(frame), size);
        });
        return true;
    }

public:
    // Queues a frame encoded once for many connections (broadcast).
    bool send(const prepared_message& m) {
        if (!m.valid_text()) return false;
        if (info_role_ == role::client) return send(m.type(), m.payload());
        if (!accepting_.load(std::memory_order_relaxed)) return false;
        if (on_own_thread()) return enqueue_prepared(m);
        asio::post(executor_, [self = shared_from_this(), m] { self->enqueue_prepared(m); });
        return true;
    }

    // Sends one message as a sequence of frames, for data produced piece by
    // piece: the first call starts a text or binary message, each later call
    // (same type) continues it, and `fin` ends it (RFC 6455 §5.4). Text pieces
    // may split a UTF-8 sequence; the whole must be valid. While a message is
    // being sent this way, other data messages are refused (send returns
    // false); pings, pongs and close still go out.
    bool send_fragment(opcode type, std::string_view piece, bool fin) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::connection::send_fragment: type must be text or binary");
        if (!accepting_.load(std::memory_order_relaxed)) return false;
        if (on_own_thread()) return enqueue_fragment(type, piece, fin);
        asio::post(executor_, [self = shared_from_this(), type, p = std::string(piece), fin] {
            self->enqueue_fragment(type, p, fin);
        });
        return true;
    }

    // Sends a ping (payload at most 125 bytes: longer is misuse and throws).
    bool ping(std::string_view payload = {}) { return send_control(opcode::ping, payload); }
    bool pong(std::string_view payload = {}) { return send_control(opcode::pong, payload); }

    // Starts the closing handshake (RFC 6455 §7.1.2). The code must be one that
    // may be sent (1000-1003, 1007-1014, 3000-4999) and the reason valid UTF-8
    // (it is cut to 123 bytes); otherwise this throws std::invalid_argument.
    void close(close_code code = close_code::normal, std::string_view reason = {}) {
        if (!is_valid_wire_close_code(static_cast<std::uint16_t>(code)))
            throw std::invalid_argument("wsx::connection::close: this close code may not be sent");
        if (!protocol::is_valid_utf8(reason))
            throw std::invalid_argument("wsx::connection::close: reason must be valid UTF-8");
        if (state() == connection_state::closed) return;
        if (on_own_thread()) return start_close(code, reason);
        asio::post(executor_, [self = shared_from_this(), code, r = std::string(reason)] {
            self->start_close(code, r);
        });
    }

    // ---- state: safe from any thread ---------------------------------------
    connection_state state() const noexcept { return state_.load(std::memory_order_relaxed); }
    bool is_open() const noexcept { return state() == connection_state::open; }
    // Bytes queued for this peer and not yet taken by the socket.
    std::size_t buffered_amount() const noexcept {
        return buffered_.load(std::memory_order_relaxed);
    }
    connection_stats stats() const noexcept {
        return {messages_in_.load(std::memory_order_relaxed),
                messages_out_.load(std::memory_order_relaxed),
                bytes_in_.load(std::memory_order_relaxed),
                bytes_out_.load(std::memory_order_relaxed),
                dropped_.load(std::memory_order_relaxed)};
    }

    // ---- fixed facts: safe from any thread (never change after open) -------
    // A short, URL-safe, unpredictable identifier, unique within the process.
    std::string_view id() const noexcept { return id_; }
    const std::string& path() const noexcept { return info_.path; }
    const std::string& subprotocol() const noexcept { return info_.subprotocol; }
    // permessage-deflate (RFC 7692) as negotiated; .enabled is false when not in use.
    const protocol::deflate_config& deflate() const noexcept { return info_.deflate; }
    // Heap bytes the permessage-deflate codec holds now (0 when not in use, or
    // idle without context takeover). Call on the I/O thread.
    std::size_t deflate_memory() const noexcept {
        return (inflater_ ? inflater_->memory_usage() : 0) + (deflater_ ? deflater_->memory_usage() : 0);
    }
    const std::string& user() const noexcept { return info_.user; }
    const asio::ip::tcp::endpoint& remote_endpoint() const noexcept { return info_.remote; }
    role local_role() const noexcept { return info_role_; }
    executor_type get_executor() const noexcept { return executor_; }

    // Set by the upgrade hook; read and write it on the I/O thread.
    std::any& user_data() noexcept { return info_.user_data; }

    // The error that ended the connection (wsx::error or a transport error).
    std::error_code error() const noexcept { return error_; }

protected:
    connection(detail::worker& w, const endpoint& ep, const connection_options& limits,
               role r, connection_info info)
        : executor_(w.context().get_executor()),
          endpoint_(&ep),
          limits_(&limits),
          info_(std::move(info)),
          info_role_(r),
          assembler_(protocol::assembler_options{r, limits.max_message_size, ep.streaming}) {
        setup_deflate(limits.deflate);
        make_id();
        w.link(this);
        last_rx_ = w.now();
    }

    // Opens the connection: queues `preface` (the 101 response) ahead of
    // anything on_open sends, runs on_open, then handles `early` — bytes that
    // arrived behind the handshake — and starts reading.
    void start(std::string_view preface, std::span<std::uint8_t> early) {
        queue_.append(preface);
        if (endpoint_->on_open) guarded([&] { endpoint_->on_open(*this); });
        if (!early.empty() && state() != connection_state::closed) handle_input(early);
        else flush();
        if (state() != connection_state::closed) wait_readable();
    }

    // ---- the transport primitives, implemented by basic_connection ---------
    // Completion of io_wait_readable calls on_readable(ec).
    virtual void io_wait_readable() = 0;
    virtual std::size_t io_read_some(std::span<std::uint8_t> into, std::error_code& ec) = 0;
    // May return 0 without error when the transport cannot write synchronously.
    virtual std::size_t io_try_write(const std::vector<asio::const_buffer>& b,
                                     std::error_code& ec) = 0;
    // Writes all of `b`; completion calls on_write_done(ec, bytes).
    virtual void io_async_write(const std::vector<asio::const_buffer>& b) = 0;
    virtual bool io_nonblocking_writes() const noexcept = 0;
    // Ends our sending direction (FIN, or TLS close_notify then FIN).
    virtual void io_shutdown() = 0;
    virtual void io_close() noexcept = 0;

    void on_readable(std::error_code ec) {
        reading_ = false;
        if (state() == connection_state::closed) return;
        if (ec) return finish(ec);
        detail::worker* w = owner();
        if (!w) return finish(error::operation_aborted);
        const std::span<std::uint8_t> buffer = w->read_buffer();
        // A read that did not fill the buffer took everything there was: wait
        // again (Asio re-arms the descriptor when a wait starts, so nothing
        // left behind is missed) rather than pay a read that finds nothing.
        // After a few full buffers, give other connections a turn.
        for (int round = 0; round < 8; ++round) {
            std::error_code rec;
            const std::size_t n = io_read_some(buffer, rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again)
                return wait_readable();
            if (rec) return on_read_end(rec);
            if (n == 0) return wait_readable();
            last_rx_ = w->now();
            ping_sent_ = false;
            handle_input(buffer.first(n));
            if (state() == connection_state::closed) return;
            if (n < buffer.size()) return wait_readable();
        }
        reading_ = true;
        asio::post(executor_, [self = shared_from_this()] { self->on_readable({}); });
    }

    void on_write_done(std::error_code ec, std::size_t written) {
        writing_ = false;
        if (state() == connection_state::closed) return;
        queue_.consume(written);
        if (ec) return finish(ec);
        after_write();
    }

    void on_shutdown_done(std::error_code) {
        // Nothing to do: the read side keeps draining until EOF or the close
        // deadline, then the socket is closed.
    }

private:
    friend class registry;

    // Broadcast fast path, on the connection's thread: queue the shared frame
    // and post one flush, so that the broadcasts which follow before it runs
    // (a handler broadcasting in a read turn, a burst of batches from another
    // thread or from a backplane's read) leave in one write. Once a full write
    // is waiting, write now: a burst must not pile up in memory, where it
    // could look like a slow reader to the backpressure limit. Held back is
    // at most a quarter of that limit, so a reader keeps three quarters of it
    // for what the kernel cannot take.
    bool deliver(const prepared_message& m) {
        if (info_role_ == role::client) return send(m.type(), m.payload());
        const std::size_t hold = std::min(coalesce_bytes, limits_->max_buffered_bytes / 4);
        const bool full_write_waiting = queue_.segments() >= max_gather || queue_.size() >= hold;
        return enqueue_prepared(m, full_write_waiting);
    }

    // ---- input --------------------------------------------------------------
    void wait_readable() {
        if (reading_ || state() == connection_state::closed) return;
        reading_ = true;
        io_wait_readable();
    }

    void on_read_end(std::error_code ec) {
        // EOF after the closing handshake is the normal end; before it, the
        // peer vanished (1006, RFC 6455 §7.1.5).
        if (ec == asio::error::eof) ec = close_received_ ? make_error_code(error::closed) : ec;
        finish(ec);
    }

    void handle_input(std::span<std::uint8_t> bytes) {
        begin_turn();
        while (!bytes.empty()) {
            const auto r = assembler_.consume(bytes);
            bytes = bytes.subspan(r.consumed);
            dispatch(r.ev);
            if (state() == connection_state::closed) break;
        }
        end_turn();
    }

    void dispatch(const protocol::event& ev) {
        using protocol::event_type;
        switch (ev.type) {
        case event_type::need_more: break;
        case event_type::message:
            if (ev.fin) messages_in_.fetch_add(1, std::memory_order_relaxed);
            bytes_in_.fetch_add(ev.payload.size(), std::memory_order_relaxed);
            if (endpoint_->on_message)
                guarded([&] {
                    endpoint_->on_message(*this, message{ev.message_type, ev.payload, ev.fin,
                                                         message::validated_tag{}});
                });
            break;
        case event_type::ping:
            // §5.5.2: answer with a pong carrying the same payload, unless we
            // are already closing (no frames after our close frame).
            // A peer that pings but never reads must not grow the queue
            // without bound: pongs obey max_buffered_bytes like data.
            if (!close_sent_ && admit(ev.payload.size() + protocol::max_frame_header_size))
                enqueue_frame(opcode::pong, ev.payload);
            if (endpoint_->on_ping) guarded([&] { endpoint_->on_ping(*this, ev.payload); });
            break;
        case event_type::pong:
            if (endpoint_->on_pong) guarded([&] { endpoint_->on_pong(*this, ev.payload); });
            break;
        case event_type::close: on_close_frame(ev.code, ev.payload); break;
        case event_type::error: fail(ev.code, ev.what); break;
        }
    }

    // §5.5.1: a close frame from the peer. Echo its code (none if it sent none),
    // then the server closes TCP first (§7.1.1); a client waits for that.
    void on_close_frame(close_code code, std::string_view reason) {
        close_received_ = true;
        close_code_ = code;
        close_reason_.assign(reason);
        if (!close_sent_) {
            close_sent_ = true;
            enqueue_close_frame(code, {});
            set_state(connection_state::closing);
            close_deadline_ = deadline(limits_->close_timeout);
        }
        fin_when_flushed_ = fin_when_flushed_ || info_role_ == role::server;
        after_write_if_idle();
    }

    // §7.1.7 "Fail the WebSocket Connection": send a close frame with the code
    // that says what was wrong, then end the TCP connection without waiting for
    // the peer's answer.
    void fail(close_code code, std::string_view what) {
        if (!error_) error_ = error_for(code);
        if (!close_received_) {
            close_code_ = code;
            close_reason_.assign(what);
        }
        if (!close_sent_) {
            close_sent_ = true;
            enqueue_close_frame(code, what);
            set_state(connection_state::closing);
            close_deadline_ = deadline(limits_->close_timeout);
        }
        fin_when_flushed_ = true;
        after_write_if_idle();
    }

    static std::error_code error_for(close_code code) noexcept {
        switch (code) {
        case close_code::message_too_big: return make_error_code(error::message_too_big);
        case close_code::invalid_payload: return make_error_code(error::invalid_utf8);
        default: return make_error_code(error::protocol_violation);
        }
    }

    // ---- output -------------------------------------------------------------
    bool on_own_thread() const noexcept { return executor_.running_in_this_thread(); }

    void encode(std::string& out, opcode type, std::string_view payload, bool fin,
                bool rsv1 = false) const {
        if (info_role_ == role::client) {
            const auto key = detail::random_mask_key();
            protocol::append_frame(out, type, payload, fin, &key, rsv1);
        } else {
            protocol::append_frame(out, type, payload, fin, nullptr, rsv1);
        }
    }

    // ---- permessage-deflate (RFC 7692) ---------------------------------------
    // The codec comes from the options (wsx/deflate.hpp); the negotiated
    // parameters from the handshake. Nothing is allocated here: the codec
    // allocates its zlib state on the first message that needs it.
    void setup_deflate(const deflate_options& o) {
        const protocol::deflate_config& c = info_.deflate;
        if (!c.enabled || o.codec == nullptr) return;
        inflater_ = o.codec->make_inflater({c.recv_window_bits, c.recv_no_context_takeover});
        assembler_.set_inflater(inflater_.get());
        // zlib cannot compress with a 256-byte window: then we send uncompressed (§6).
        if (c.send_window_bits >= 9) {
            deflater_ = o.codec->make_deflater(
                {c.send_window_bits, o.mem_level, o.level, c.send_no_context_takeover});
            compress_out_ = true;
        }
    }

    bool compresses(std::size_t payload_size) const noexcept {
        return deflater_ && payload_size >= limits_->deflate.threshold;
    }

    // What makes two connections' compressed frames of one payload identical
    // (without context takeover): the compressor's parameters.
    std::uint32_t compressor_key() const noexcept {
        const deflate_options& o = limits_->deflate;
        return (std::uint32_t{info_.deflate.send_window_bits} << 16) |
               (std::uint32_t{o.mem_level} << 8) | static_cast<std::uint8_t>(o.level);
    }

    // §7.2.1: a whole message, compressed, with RSV1 on its (only) frame.
    void encode_compressed(std::string& out, opcode type, std::string_view payload) {
        // One scratch buffer per thread for the compressed payload, trimmed
        // after a large message so it does not pin memory.
        thread_local std::string scratch;
        scratch.clear();
        deflater_->compress(payload, scratch);
        encode(out, type, scratch, true, true);
        if (scratch.capacity() > (1u << 20)) std::string{}.swap(scratch);
    }

    // A whole data message: compressed when permessage-deflate is on and it
    // is not below the threshold; control frames never are (§6.1).
    void encode_message(std::string& out, opcode type, std::string_view payload) {
        if (compresses(payload.size())) encode_compressed(out, type, payload);
        else encode(out, type, payload, true);
    }

    void enqueue_message(opcode type, std::string_view payload) {
        if (corked_) encode_message(cork(), type, payload);
        else queue_.append_with([&](std::string& s) { encode_message(s, type, payload); });
        schedule_flush();
    }

    // Backpressure (architecture: never unbounded memory). A message that finds
    // the queue empty is always taken, so one message larger than the limit
    // can still be sent.
    bool admit(std::size_t frame_size) {
        const std::size_t queued = pending_bytes();
        if (queued == 0 || queued + frame_size <= limits_->max_buffered_bytes) return true;
        if (limits_->on_backpressure == backpressure_policy::drop) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return false;
        }
        if (!error_) error_ = make_error_code(error::backpressure);
        fail(close_code::policy_violation, "send queue over limit");
        return false;
    }

    bool enqueue_data(opcode type, std::string_view payload) {
        if (close_sent_ || fragmenting_ || state() != connection_state::open) return false;
        if (!admit(payload.size() + protocol::max_frame_header_size)) return false;
        enqueue_message(type, payload);
        count_out(payload.size());
        return true;
    }

    void enqueue_encoded(std::string&& frame, std::size_t payload_size) {
        if (close_sent_ || fragmenting_ || state() != connection_state::open) return;
        if (!admit(frame.size())) return;
        if (corked_) cork().append(frame);
        else queue_.append(std::move(frame));
        count_out(payload_size);
        schedule_flush();
    }

    bool enqueue_prepared(const prepared_message& m, bool flush_now = false) {
        if (close_sent_ || fragmenting_ || state() != connection_state::open) return false;
        const std::shared_ptr<const std::string>* frame = &m.frame();
        std::shared_ptr<const std::string> compressed;
        if (compresses(m.payload().size())) {
            // With context takeover our compressor's history is ours alone, so
            // the message is compressed for this connection; without it, once
            // for every connection with the same compressor parameters.
            if (!info_.deflate.send_no_context_takeover) return enqueue_data(m.type(), m.payload());
            compressed = m.compressed_frame(compressor_key(), [&](std::string& out) {
                encode_compressed(out, m.type(), m.payload());
            });
            frame = &compressed;
        }
        if (!admit((*frame)->size())) return false;
        if (corked_) cork().append(**frame);
        else queue_.append(*frame);
        count_out(m.payload().size());
        if (flush_now && !in_turn_) {
            update_buffered();
            after_write_if_idle();
        } else {
            schedule_flush();
        }
        return true;
    }

    bool enqueue_fragment(opcode type, std::string_view piece, bool fin) {
        if (close_sent_ || state() != connection_state::open) return false;
        if (fragmenting_ && type != out_type_) return false;
        if (type == opcode::text) {
            if (!fragmenting_) out_utf8_.reset();
            if (!out_utf8_.feed(piece) || (fin && !out_utf8_.finish())) return false;
        }
        if (!admit(piece.size() + protocol::max_frame_header_size)) return false;
        const opcode op = fragmenting_ ? opcode::continuation : type;
        if (corked_) encode(cork(), op, piece, fin);
        else queue_.append_with([&](std::string& s) { encode(s, op, piece, fin); });
        out_type_ = type;
        fragmenting_ = !fin;
        bytes_out_.fetch_add(piece.size(), std::memory_order_relaxed);
        if (fin) messages_out_.fetch_add(1, std::memory_order_relaxed);
        schedule_flush();
        return true;
    }

    bool send_control(opcode type, std::string_view payload) {
        if (payload.size() > 125)
            throw std::invalid_argument("wsx: control frame payloads are at most 125 bytes");
        if (!accepting_.load(std::memory_order_relaxed)) return false;
        if (on_own_thread()) {
            if (close_sent_ || state() != connection_state::open) return false;
            enqueue_frame(type, payload);
            return true;
        }
        if (!accepting_.load(std::memory_order_relaxed)) return false;
        asio::post(executor_, [self = shared_from_this(), type, p = std::string(payload)] {
            self->send_control(type, p);
        });
        return true;
    }

    void enqueue_frame(opcode type, std::string_view payload) {
        if (corked_) encode(cork(), type, payload, true);
        else queue_.append_with([&](std::string& s) { encode(s, type, payload, true); });
        schedule_flush();
    }

    void enqueue_close_frame(close_code code, std::string_view reason) {
        accepting_.store(false, std::memory_order_relaxed);
        auto write = [&](std::string& s) {
            if (info_role_ == role::client) {
                const auto key = detail::random_mask_key();
                protocol::append_close_frame(s, code, reason, &key);
            } else {
                protocol::append_close_frame(s, code, reason);
            }
        };
        if (corked_) write(cork());
        else queue_.append_with(write);
        schedule_flush();
    }

    void start_close(close_code code, std::string_view reason) {
        if (close_sent_ || state() == connection_state::closed) return;
        close_sent_ = true;
        set_state(connection_state::closing);
        close_deadline_ = deadline(limits_->close_timeout);
        enqueue_close_frame(code, reason);
    }

    void count_out(std::size_t payload_size) {
        messages_out_.fetch_add(1, std::memory_order_relaxed);
        bytes_out_.fetch_add(payload_size, std::memory_order_relaxed);
    }

    std::string& cork() { return owner()->cork_buffer(); }
    std::size_t pending_bytes() const noexcept {
        return queue_.size() + (corked_ ? owner()->cork_buffer().size() : 0);
    }

    // While one read is handled, frames go to the thread's cork buffer and leave
    // in one write at the end (architecture: corking). Only when nothing else is
    // queued, so ordering holds, and only where writes can be non-blocking.
    void begin_turn() {
        in_turn_ = true;
        // Kept for the whole turn: if the connection finished meanwhile its
        // owner() is already gone, but the cork buffer must still be handed back.
        turn_worker_ = owner();
        detail::worker* w = turn_worker_;
        if (!w) return;
        if (!w->cork_owner && queue_.empty() && !writing_ && io_nonblocking_writes()) {
            w->cork_owner = this;
            corked_ = true;
        }
    }

    void end_turn() {
        in_turn_ = false;
        detail::worker* w = std::exchange(turn_worker_, nullptr);
        if (corked_ && w) {
            corked_ = false;
            std::string& c = w->cork_buffer();
            w->cork_owner = nullptr;
            if (!c.empty() && state() != connection_state::closed) {
                write_bufs_.assign(1, asio::buffer(c));
                std::error_code ec;
                std::size_t n = io_try_write(write_bufs_, ec);
                if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
                    c.clear();
                    return finish(ec);
                }
                wrote_ = wrote_ || n > 0;
                if (n < c.size()) queue_.append(std::string_view{c}.substr(n));
            }
            // A burst of large frames should not pin memory for the thread's lifetime.
            if (c.capacity() > (1u << 20)) std::string{}.swap(c);
            else c.clear();
        }
        after_write_if_idle();
    }

    void schedule_flush() {
        update_buffered();
        if (in_turn_ || writing_ || flush_posted_) return;
        flush_posted_ = true;
        asio::post(executor_, [self = shared_from_this()] {
            self->flush_posted_ = false;
            self->after_write_if_idle();
        });
    }

    // Writes what is queued: synchronously while the socket takes it, then
    // asynchronously for the rest.
    void flush() {
        if (writing_ || state() == connection_state::closed) return;
        while (!queue_.empty()) {
            queue_.gather(write_bufs_, max_gather);
            if (io_nonblocking_writes()) {
                std::error_code ec;
                const std::size_t n = io_try_write(write_bufs_, ec);
                queue_.consume(n);
                wrote_ = wrote_ || n > 0;
                if (!ec) continue;
                if (ec != asio::error::would_block && ec != asio::error::try_again)
                    return finish(ec);
                queue_.gather(write_bufs_, max_gather);
            }
            writing_ = true;
            wrote_ = true;
            update_buffered();
            return io_async_write(write_bufs_);
        }
        after_write();
    }

    void after_write_if_idle() {
        if (!writing_ && !in_turn_) flush();
    }

    // Everything handed to us is written: tell the application (a producer
    // pacing itself sends its next batch now), or finish the close.
    void after_write() {
        if (!queue_.empty()) return flush();
        update_buffered();
        if (wrote_) {
            wrote_ = false;
            if (endpoint_->on_drain && state() == connection_state::open && !close_sent_) {
                guarded([&] { endpoint_->on_drain(*this); });
                if (!queue_.empty()) return;  // it sent more: the scheduled flush takes it
            }
        }
        if (fin_when_flushed_ && !fin_sent_) {
            fin_sent_ = true;
            io_shutdown();
        }
    }

    // What buffered_amount() reports: the queue, and while a read is being
    // handled the bytes this connection has put in the thread's cork buffer.
    void update_buffered() noexcept {
        buffered_.store(pending_bytes(), std::memory_order_relaxed);
    }

    // ---- deadlines (called by the worker's sweep) --------------------------
    std::uint32_t deadline(std::chrono::milliseconds d) const noexcept {
        detail::worker* w = owner();
        return w ? w->now() + w->ticks(d) : 0;
    }

    void on_tick(std::uint32_t now) override {
        const connection_state s = state();
        if (s == connection_state::closing) {
            if (static_cast<std::int32_t>(now - close_deadline_) >= 0) {
                if (!error_) error_ = make_error_code(error::close_timeout);
                finish(make_error_code(error::close_timeout));
            }
            return;
        }
        if (s != connection_state::open || limits_->idle_timeout.count() <= 0) return;
        const std::uint32_t limit = owner()->ticks(limits_->idle_timeout);
        const std::uint32_t quiet = now - last_rx_;
        if (quiet >= limit) {
            // §7.1.7 lets us drop a peer that stopped answering; say why first.
            error_ = make_error_code(error::idle_timeout);
            fail(close_code::going_away, "idle timeout");
        } else if (quiet >= limit / 2 && !ping_sent_) {
            ping_sent_ = true;
            enqueue_frame(opcode::ping, {});
        }
    }

    void on_stop(bool force) override {
        if (force) return finish(error::operation_aborted);
        if (state() == connection_state::open) start_close(close_code::going_away, "server shutting down");
    }

    // ---- the end ------------------------------------------------------------
    void finish(std::error_code ec) {
        if (state() == connection_state::closed) return;
        if (!error_ && ec && ec != asio::error::eof) error_ = ec;
        if (!error_) error_ = close_received_ ? make_error_code(error::closed) : ec;
        set_state(connection_state::closed);
        accepting_.store(false, std::memory_order_relaxed);
        if (detail::worker* w = owner()) {
            if (w->cork_owner == this) w->cork_owner = nullptr;
            w->unlink(this);
        }
        io_close();
        queue_.clear();
        update_buffered();
        assembler_.reset();
        // The codec's memory goes with the connection's end, not its handle's.
        assembler_.set_inflater(nullptr);
        inflater_.reset();
        deflater_.reset();
        const close_code code = close_code_ ? *close_code_ : close_code::abnormal;
        if (endpoint_->on_close) {
            try {
                endpoint_->on_close(*this, code, close_reason_);
            } catch (...) {
                // The connection is gone already; nothing left to fail.
            }
        }
    }

    // A handler that throws fails its own connection with 1011 and nothing
    // else: the I/O thread and the other connections carry on.
    template <class F>
    void guarded(F&& f) {
        try {
            f();
        } catch (const std::exception&) {
            fail(close_code::internal_error, "internal error");
        } catch (...) {
            fail(close_code::internal_error, "internal error");
        }
    }

    void set_state(connection_state s) noexcept { state_.store(s, std::memory_order_relaxed); }

    void make_id() {
        // A process-wide counter keeps ids unique; mixing it with a random key
        // (a bijection) makes them unguessable. 11 base-62 characters fit in
        // the string's inline storage.
        static const std::uint64_t key = detail::random_pool::for_this_thread().next<std::uint64_t>();
        static std::atomic<std::uint64_t> counter{0};
        std::uint64_t x = counter.fetch_add(1, std::memory_order_relaxed) ^ key;
        x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
        x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
        x ^= x >> 33;
        static constexpr char digits[] =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        char buf[11];
        for (char& c : buf) {
            c = digits[x % 62];
            x /= 62;
        }
        id_.assign(buf, sizeof buf);
    }

    // Up to 64 buffers per write: well under IOV_MAX, enough to drain a
    // backlog of small broadcast frames in one system call.
    static constexpr std::size_t max_gather = 64;
    // Broadcast frames are held back for one posted flush up to this much
    // (less under a small max_buffered_bytes, see deliver()).
    static constexpr std::size_t coalesce_bytes = 64 * 1024;

    executor_type executor_;
    const endpoint* endpoint_;
    const connection_options* limits_;
    connection_info info_;
    std::string id_;
    role info_role_;
    protocol::message_assembler assembler_;
    std::unique_ptr<protocol::message_inflater> inflater_; // permessage-deflate, when negotiated
    std::unique_ptr<protocol::message_deflater> deflater_; // idem, unless we send uncompressed
    bool compress_out_ = false; // deflater_ was set up (read from any thread, never changes)
    detail::out_queue queue_;
    std::vector<asio::const_buffer> write_bufs_;
    std::optional<close_code> close_code_;
    std::string close_reason_;
    std::error_code error_;

    std::atomic<connection_state> state_{connection_state::open};
    std::atomic<bool> accepting_{true};
    std::atomic<std::size_t> buffered_{0};
    std::atomic<std::uint64_t> messages_in_{0}, messages_out_{0}, bytes_in_{0}, bytes_out_{0},
        dropped_{0};

    std::uint32_t last_rx_ = 0;
    std::uint32_t close_deadline_ = 0;
    bool reading_ = false;
    bool writing_ = false;
    bool in_turn_ = false;
    bool corked_ = false;
    bool flush_posted_ = false;
    bool wrote_ = false;
    detail::worker* turn_worker_ = nullptr;
    bool fragmenting_ = false;
    opcode out_type_ = opcode::text;
    protocol::utf8_validator out_utf8_;
    bool close_sent_ = false;
    bool close_received_ = false;
    bool fin_when_flushed_ = false;
    bool fin_sent_ = false;
    bool ping_sent_ = false;
};

// The I/O half of a connection over a transport (see transport/concept.hpp).
template <transport::policy Transport>
class basic_connection final : public connection {
public:
    using transport_type = Transport;
    using stream_type = typename Transport::stream;

    // Creates an open connection over a stream whose opening handshake is done.
    // Use it through basic_server or basic_client.
    static std::shared_ptr<basic_connection> open(detail::worker& w, stream_type&& stream,
                                                  const endpoint& ep,
                                                  const connection_options& limits, role r,
                                                  connection_info info, std::string_view preface,
                                                  std::span<std::uint8_t> early) {
        // make_shared: the object and its control block in one allocation.
        auto c = std::make_shared<basic_connection>(construct_key{}, w, std::move(stream), ep,
                                                    limits, r, std::move(info));
        c->start(preface, early);
        return c;
    }

    // The stream, while the connection is not closed (nullptr after).
    stream_type* stream() noexcept { return stream_ ? &*stream_ : nullptr; }

    // Public for make_shared only: the key can be made by open() alone.
    class construct_key {
        friend class basic_connection;
        construct_key() = default;
    };
    basic_connection(construct_key, detail::worker& w, stream_type&& stream, const endpoint& ep,
                     const connection_options& limits, role r, connection_info info)
        : connection(w, ep, limits, r, std::move(info)), stream_(std::move(stream)) {}

private:

    auto self() { return std::static_pointer_cast<basic_connection>(shared_from_this()); }

    void io_wait_readable() override {
        stream_->async_wait_readable([s = self()](std::error_code ec) { s->on_readable(ec); });
    }
    std::size_t io_read_some(std::span<std::uint8_t> into, std::error_code& ec) override {
        return stream_->read_some(asio::buffer(into.data(), into.size()), ec);
    }
    std::size_t io_try_write(const std::vector<asio::const_buffer>& b,
                             std::error_code& ec) override {
        return stream_->try_write_some(b, ec);
    }
    void io_async_write(const std::vector<asio::const_buffer>& b) override {
        stream_->async_write(b, [s = self()](std::error_code ec, std::size_t n) {
            s->on_write_done(ec, n);
        });
    }
    bool io_nonblocking_writes() const noexcept override { return stream_type::nonblocking_writes; }
    void io_shutdown() override {
        stream_->async_shutdown([s = self()](std::error_code ec) { s->on_shutdown_done(ec); });
    }
    // Closing also destroys the stream, so a handle the application keeps
    // after the server and its io_context are gone holds no socket.
    void io_close() noexcept override {
        if (!stream_) return;
        stream_->close();
        stream_.reset();
    }

    std::optional<stream_type> stream_;
};

} // namespace wsx

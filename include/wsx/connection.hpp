// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::connection — one open WebSocket connection, as handlers see it — and
// basic_connection<Transport>, which moves its bytes.
//
// The protocol rules live in the sans-I/O layers: the message assembler reads,
// detail::message_encoder makes frames, detail::outbox admits, queues and
// corks what goes out. This class only drives them: it moves bytes between
// the transport and them, and runs the closing handshake and the deadlines.
// The logic is not a template: only the few I/O primitives at the bottom
// depend on the transport, which keeps compile times and binary size down.
//
// Threading: a connection is pinned to one I/O thread. Its handlers run there,
// one at a time, never inside another connection's handler. send(), ping()
// and close() are safe from any thread: off that thread a send is admitted
// in the caller's thread and waits in the outbox's inbox, and one posted drain
// takes a burst. The other members are for the I/O thread (handlers), except
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

#include <wsx/detail/message_encoder.hpp>
#include <wsx/detail/outbox.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/detail/worker.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/error.hpp>
#include <wsx/log.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/send_result.hpp>
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
    // The HTTP version the WebSocket was opened over: "http/1.1", or "h2" for a
    // stream of an HTTP/2 connection (RFC 8441). A static string.
    std::string_view protocol = "http/1.1";
    // Which of the server's endpoints accepted it: its row in the thread's
    // counters (wsx/metrics.hpp). Set by the server; no row by default.
    std::size_t endpoint_index = static_cast<std::size_t>(-1);
};

class registry;

namespace detail {
// Names connection::adapter_state() as the endpoint adapters' own.
struct adapter_key {};
} // namespace detail

class connection : public std::enable_shared_from_this<connection>, protected detail::timed_node {
    using outgoing_kind = detail::outgoing_kind;

public:
    using executor_type = asio::io_context::executor_type;

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    virtual ~connection() = default;

    // ---- sending: safe from any thread -------------------------------------
    // Each returns a send_result: true (converted to bool) when the message was
    // queued; otherwise status() says why not: the connection is not open, the
    // text is not valid UTF-8 (RFC 6455 §8.1 forbids sending it), or the
    // backpressure policy refused it. The bytes are charged against
    // max_buffered_bytes here, in the caller's thread, before anything is
    // copied or posted: what a connection has accepted and not yet written
    // never exceeds the limit by more than one message, whatever thread sends.
    send_result send(std::string_view text) { return send(opcode::text, text); }
    send_result send_binary(std::string_view bytes) { return send(opcode::binary, bytes); }
    send_result send_binary(std::span<const std::uint8_t> bytes) {
        return send(opcode::binary,
                    {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    }
    send_result send(const message& m) {
        // A received text message was validated as it arrived: echoing or
        // forwarding it does not validate it again.
        if (m.validated_) return send_valid(m.type(), m.text());
        return send(m.type(), m.text());
    }
    send_result send(opcode type, std::string_view payload) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::connection::send: type must be text or binary");
        if (type == opcode::text && !protocol::is_valid_utf8(payload))
            return send_status::invalid_utf8;
        return send_valid(type, payload);
    }

    // Queues a frame encoded once for many connections (broadcast). Its text
    // was validated once, when it was prepared.
    send_result send(const prepared_message& m) { return offer(m, nullptr); }

    // Sends one message as a sequence of frames, for data produced piece by
    // piece: the first call starts a text or binary message, each later call
    // (same type) continues it, and `fin` ends it (RFC 6455 §5.4). Text pieces
    // may split a UTF-8 sequence; the whole must be valid. While a message is
    // being sent this way, other data messages are refused (status
    // fragmenting); pings, pongs and close still go out. From another thread
    // the piece is admitted at once and checked on the connection's thread,
    // in order with that thread's other sends; one that fails the check there
    // (bad UTF-8, wrong type) is dropped and counted in stats().dropped.
    send_result send_fragment(opcode type, std::string_view piece, bool fin) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::connection::send_fragment: type must be text or binary");
        if (!accepting_.load(std::memory_order_relaxed)) return send_status::not_open;
        if (on_own_thread()) return enqueue_fragment(type, piece, fin);
        const std::size_t charged = piece.size() + protocol::max_frame_header_size;
        if (auto r = admit(charged); !r) return r;
        push(detail::outgoing_frame::of_fragment(type, piece, fin, charged));
        return send_status::queued;
    }

    // Sends a ping (payload at most 125 bytes: longer is misuse and throws).
    send_result ping(std::string_view payload = {}) { return send_control(opcode::ping, payload); }
    send_result pong(std::string_view payload = {}) { return send_control(opcode::pong, payload); }

    // Starts the closing handshake (RFC 6455 §7.1.2). The code must be one that
    // may be sent (1000-1003, 1007-1014, 3000-4999) and the reason valid UTF-8
    // (it is cut to 123 bytes); otherwise this throws std::invalid_argument.
    // From another thread it follows, in order, what that thread sent before.
    void close(close_code code = close_code::normal, std::string_view reason = {}) {
        if (!is_valid_wire_close_code(static_cast<std::uint16_t>(code)))
            throw std::invalid_argument("wsx::connection::close: this close code may not be sent");
        if (!protocol::is_valid_utf8(reason))
            throw std::invalid_argument("wsx::connection::close: reason must be valid UTF-8");
        if (state() == connection_state::closed) return;
        if (on_own_thread()) return start_close(code, reason);
        // Nothing is accepted after a close, from any thread; what was
        // accepted before it still goes out first.
        accepting_.store(false, std::memory_order_relaxed);
        push(detail::outgoing_frame::of_close(code, reason));
    }

    // ---- state: safe from any thread ---------------------------------------
    connection_state state() const noexcept { return state_.load(std::memory_order_relaxed); }
    bool is_open() const noexcept { return state() == connection_state::open; }
    // Bytes this connection has accepted and not yet handed to the socket:
    // queued, corked, or on their way from another thread.
    std::size_t buffered_amount() const noexcept { return outbox_.accepted(); }
    connection_stats stats() const noexcept {
        return {messages_in_.load(std::memory_order_relaxed),
                messages_out_.load(std::memory_order_relaxed),
                bytes_in_.load(std::memory_order_relaxed),
                bytes_out_.load(std::memory_order_relaxed),
                dropped_.load(std::memory_order_relaxed)};
    }

    // ---- fixed facts: safe from any thread (never change after open) -------
    // A short, URL-safe, unpredictable identifier, unique within the process.
    std::string_view id() const noexcept { return {id_, sizeof id_}; }
    const std::string& path() const noexcept { return path_; }
    const std::string& subprotocol() const noexcept { return named_ ? named_->subprotocol : no_name(); }
    // "http/1.1", or "h2" when the WebSocket is a stream of an HTTP/2 connection.
    std::string_view protocol() const noexcept { return {protocol_, protocol_size_}; }
    // permessage-deflate (RFC 7692) as negotiated; .enabled is false when not in use.
    const protocol::deflate_config& deflate() const noexcept { return deflate_; }
    // Heap bytes the permessage-deflate codec holds now (0 when not in use, or
    // idle without context takeover). Call on the I/O thread.
    std::size_t deflate_memory() const noexcept {
        return (inflater_ ? inflater_->memory_usage() : 0) + encoder_.memory_usage();
    }
    const std::string& user() const noexcept { return named_ ? named_->user : no_name(); }
    const asio::ip::tcp::endpoint& remote_endpoint() const noexcept { return remote_; }
    role local_role() const noexcept { return info_role_; }
    executor_type get_executor() const noexcept { return executor_; }

    // Set by the upgrade hook; read and write it on the I/O thread.
    std::any& user_data() noexcept { return user_data_; }

    // The error that ended the connection (wsx::error or a transport error).
    std::error_code error() const noexcept { return error_; }

    // ---- for code that waits for room (wsx/coroutine_endpoint.hpp) ---------
    // Sends like send(type, payload) when the message fits under
    // max_buffered_bytes now. When it does not, it returns send_status::dropped
    // having charged, counted and closed nothing (the backpressure policy is
    // not applied): the caller waits for on_drain and tries again. Any thread.
    send_result try_send(opcode type, std::string_view payload) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::connection::try_send: type must be text or binary");
        if (type == opcode::text && !protocol::is_valid_utf8(payload))
            return send_status::invalid_utf8;
        return send_valid(type, payload, true);
    }

    // Fails this connection with 1011 as a handler that throws `e` does (the
    // log hook says what it was), for work a handler started that fails later
    // (a coroutine). I/O thread.
    void fail_with(std::exception_ptr e) {
        if (state() != connection_state::closed) return guarded([&] { std::rethrow_exception(e); });
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            log(owner(), "a handler threw after its connection closed: " + std::string{x.what()});
        } catch (...) {
            log(owner(), "a handler threw a non-standard exception after its connection closed");
        }
    }

    // Stops reading from the socket once the bytes already read are handled,
    // so a consumer that falls behind holds the peer back through TCP instead
    // of queueing its messages without bound; resume_reading() reads again.
    // The idle timeout does not run meanwhile (the peer is not idle, we are),
    // and the closing handshake reads regardless. I/O thread; resume_reading
    // must not be called from inside this connection's own handlers (post it).
    void pause_reading() noexcept { read_paused_ = true; }
    void resume_reading() {
        if (!std::exchange(read_paused_, false)) return;
        if (detail::worker* w = owner()) last_rx_ = w->now();
        wait_readable();
    }

    // One object an endpoint adapter keeps per connection (the State of
    // wsx::typed_endpoint, the stream of wsx::coroutine_endpoint); the adapter
    // sets it in on_open and resets it in on_close. Not for applications:
    // they have user_data(). I/O thread.
    std::shared_ptr<void>& adapter_state(detail::adapter_key) noexcept { return adapter_state_; }

protected:
    connection(detail::worker& w, const endpoint& ep, const connection_options& limits,
               role r, connection_info info)
        : executor_(w.context().get_executor()),
          endpoint_(&ep),
          limits_(&limits),
          info_role_(r),
          assembler_(protocol::assembler_options{r, limits.max_message_size, ep.streaming}),
          encoder_(r),
          outbox_(limits.max_buffered_bytes) {
        keep_info(std::move(info));
        setup_deflate(limits.deflate);
        make_id();
        w.link(this);
        w.metrics().opened(endpoint_index());
        last_rx_ = w.now();
    }

    // Opens the connection: queues `preface` (the 101 response) ahead of
    // anything on_open sends, runs on_open, then handles `early` — bytes that
    // arrived behind the handshake — and starts reading.
    void start(std::string_view preface, std::span<std::uint8_t> early) {
        append_charged(0, [&](std::string& out) { out.append(preface); });
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
        if (read_paused_ && state() == connection_state::open) return;
        detail::worker* w = owner();
        if (!w) return finish(error::operation_aborted);
        const std::span<std::uint8_t> buffer = w->read_buffer();
        // A read that did not fill the buffer took everything there was: wait
        // again (Asio re-arms the descriptor when a wait starts, so nothing
        // left behind is missed) rather than pay a read that finds nothing.
        // After a few full buffers, give other connections a turn.
        for (int round = 0; round < 8; ++round) {
            std::error_code rec;
            // The rest of a large payload goes straight into the message (no copy).
            if (assembler_.may_take_direct(direct_read_min)) {
                const std::span<std::uint8_t> direct = assembler_.direct_target(direct_read_min);
                if (!direct.empty()) {
                    if (read_direct(*w, direct)) continue;
                    return;
                }
            }
            const std::size_t n = io_read_some(buffer, rec);
            if (rec) return would_block(rec) ? wait_readable() : on_read_end(rec);
            if (n == 0) return wait_readable();
            last_rx_ = w->now();
            ping_sent_ = false;
            handle_input(buffer.first(n));
            if (state() == connection_state::closed) return;
            if (read_paused_ && state() == connection_state::open) return;
            if (n < buffer.size()) return wait_readable();
        }
        reading_ = true;
        asio::post(executor_, [self = shared_from_this()] { self->on_readable({}); });
    }

    // EAGAIN/EWOULDBLOCK from a non-blocking read or write. Callers test `ec` first, so
    // the success path builds no error_code of its own (each comparison with an
    // asio::error value constructs one and asks for its category).
    static bool would_block(const std::error_code& ec) noexcept {
        return ec == asio::error::would_block || ec == asio::error::try_again;
    }

    void on_write_done(std::error_code ec, std::size_t written) {
        if (state() == connection_state::closed) return;
        outbox_.write_done(written);
        if (ec) return finish(ec);
        flush();
    }

    void on_shutdown_done(std::error_code) {
        // Nothing to do: the read side keeps draining until EOF or the close
        // deadline, then the socket is closed.
    }

private:
    friend class registry;

    // ---- input --------------------------------------------------------------
    void wait_readable() {
        if (reading_ || state() == connection_state::closed) return;
        if (read_paused_ && state() == connection_state::open) return;
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
            last_of_read_ = bytes.empty();
            dispatch(r.ev);
            if (state() == connection_state::closed) break;
        }
        last_of_read_ = false;
        end_turn();
    }

    // One read straight into the message buffer, and the event it completes
    // handled as one turn. True: read on; false: this ended the reading (it
    // waits for readability, or the connection ends). Out of line, so that
    // on_readable stays small for the small messages that never come here.
    [[gnu::noinline]] bool read_direct(detail::worker& w, std::span<std::uint8_t> direct) {
        std::error_code rec;
        const std::size_t n = io_read_some(direct, rec);
        const protocol::event ev = assembler_.commit_direct(direct, rec ? 0 : n).ev;
        if (rec) {
            if (would_block(rec)) wait_readable();
            else on_read_end(rec);
            return false;
        }
        if (n == 0) {
            wait_readable();
            return false;
        }
        last_rx_ = w.now();
        ping_sent_ = false;
        if (ev.type != protocol::event_type::need_more) {
            begin_turn();
            last_of_read_ = true;
            dispatch(ev);
            last_of_read_ = false;
            end_turn();
        }
        if (state() == connection_state::closed) return false;
        if (read_paused_ && state() == connection_state::open) return false;
        if (n < direct.size()) {
            wait_readable();
            return false;
        }
        return true;
    }
    // A frame with at least this much payload still to come is read into the
    // message directly; below it, one read into the thread's buffer may bring
    // the next frames too.
    static constexpr std::size_t direct_read_min = 32 * 1024;

    // Inlined in both callers: out of line (g++ 12 stops inlining it once it
    // has two), the call and the event passed by reference cost ~40
    // instructions per 20-byte echoed message (callgrind).
    [[gnu::always_inline]] void dispatch(const protocol::event& ev) {
        using protocol::event_type;
        switch (ev.type) {
        case event_type::need_more: break;
        case event_type::message:
            // One writer (this thread): a load and a store, not a locked add per message.
            if (ev.fin) add_own(messages_in_, 1);
            add_own(bytes_in_, ev.payload.size());
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
            if (const std::size_t charged = ev.payload.size() + protocol::max_frame_header_size;
                !close_sent_ && admit(charged))
                append_charged(charged, [&](std::string& s) { encoder_.frame(s, opcode::pong, ev.payload, true); });
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
        set_close_reason(reason);
        if (!close_sent_) {
            close_sent_ = true;
            enqueue_close_frame(code, {});
            set_state(connection_state::closing);
            close_deadline_ = deadline(limits_->close_timeout);
        }
        fin_when_flushed_ = fin_when_flushed_ || info_role_ == role::server;
        flush();
    }

    // §7.1.7 "Fail the WebSocket Connection": send a close frame with the code
    // that says what was wrong, then end the TCP connection without waiting for
    // the peer's answer.
    void fail(close_code code, std::string_view what) {
        if (!error_) error_ = error_for(code);
        if (!close_received_) {
            close_code_ = code;
            set_close_reason(what);
        }
        if (!close_sent_) {
            close_sent_ = true;
            enqueue_close_frame(code, what);
            set_state(connection_state::closing);
            close_deadline_ = deadline(limits_->close_timeout);
        }
        fin_when_flushed_ = true;
        read_for_close();
        flush();
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

    // ---- permessage-deflate (RFC 7692) ---------------------------------------
    // The codec comes from the options (wsx/deflate.hpp); the negotiated
    // parameters from the handshake. Nothing is allocated here: the codec
    // allocates its zlib state on the first message that needs it.
    void setup_deflate(const deflate_options& o) {
        const protocol::deflate_config& c = deflate_;
        if (!c.enabled || o.codec == nullptr) return;
        inflater_ = o.codec->make_inflater({c.recv_window_bits, c.recv_no_context_takeover});
        assembler_.set_inflater(inflater_.get());
        encoder_.setup_deflate(c, o);
    }

    // ---- output: admission (any thread) --------------------------------------
    // Charges `n` bytes against max_buffered_bytes, or applies the policy.
    // With policy close the message is refused at once and the connection
    // closes with 1008 on its own turn, never inside the caller's.
    send_result admit(std::size_t n, bool no_policy = false) {
        if (outbox_.try_admit(n)) return send_status::queued;
        if (no_policy) return send_status::dropped;  // try_send: the caller waits
        if (limits_->on_backpressure == backpressure_policy::drop) {
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return send_status::dropped;
        }
        if (!accepting_.exchange(false, std::memory_order_relaxed)) return send_status::not_open;
        asio::post(executor_, [self = shared_from_this()] { self->close_for_backpressure(); });
        return send_status::closing_backpressure;
    }

    // Why a frame cannot be sent now (queued: it can). Off the connection's
    // thread only `accepting_` can be read; the rest is checked again when the
    // frame reaches that thread. An unfinished fragmented message holds back
    // data, not control frames.
    send_result data_status(bool data = true) const noexcept { return data_status_on(on_own_thread(), data); }
    // The same, for a caller that already knows whether it runs on the connection's thread.
    send_result data_status_on(bool own, bool data = true) const noexcept {
        if (!accepting_.load(std::memory_order_relaxed)) return send_status::not_open;
        if (!own) return send_status::queued;
        if (close_sent_ || state() != connection_state::open) return send_status::not_open;
        if (data && fragmenting_) return send_status::fragmenting;
        return send_status::queued;
    }

    send_result send_valid(opcode type, std::string_view payload, bool no_policy = false) {
        const bool own = on_own_thread();
        if (own) take_inbox_first();
        if (auto r = data_status_on(own); !r) return r;
        const std::size_t charged = payload.size() + protocol::max_frame_header_size;
        if (auto r = admit(charged, no_policy); !r) return r;
        if (own) {
            if (payload.size() < write_in_place_min || !last_of_read_ ||
                !write_in_place(type, payload, charged))
                append_charged(charged, [&](std::string& s) { encoder_.message(s, type, payload); });
            count_out(payload.size());
            kick();
            return send_status::queued;
        }
        detail::outgoing_frame f;
        f.type = type;
        f.payload = payload.size();
        if (encoder_.compresses(payload.size())) {
            f.kind = outgoing_kind::compress;
            f.bytes.assign(payload);
            f.charged = charged;
        } else {
            encoder_.frame(f.bytes, type, payload, true);
            f.charged = settle(charged, f.bytes.size());
        }
        push(std::move(f));
        return send_status::queued;
    }

    send_result send_control(opcode type, std::string_view payload) {
        if (payload.size() > 125)
            throw std::invalid_argument("wsx: control frame payloads are at most 125 bytes");
        if (auto r = data_status(false); !r) return r;
        const std::size_t charged = payload.size() + protocol::max_frame_header_size;
        if (auto r = admit(charged); !r) return r;
        if (on_own_thread()) {
            append_charged(charged, [&](std::string& s) { encoder_.frame(s, type, payload, true); });
            kick();
            return send_status::queued;
        }
        detail::outgoing_frame f;
        f.kind = outgoing_kind::control;
        encoder_.frame(f.bytes, type, payload, true);
        f.charged = settle(charged, f.bytes.size());
        push(std::move(f));
        return send_status::queued;
    }

    // ---- output: the connection's thread -------------------------------------
    // Appends what `encode(std::string&)` writes and settles the charge with
    // what it wrote, so accepted() counts exactly the bytes waiting.
    template <class Encode>
    void append_charged(std::size_t charged, Encode&& encode) {
        const std::size_t before = outbox_.pending();
        outbox_.append_with(std::forward<Encode>(encode));
        settle(charged, outbox_.pending() - before);
    }

    // Corrects a charge to the bytes actually encoded; returns them.
    std::size_t settle(std::size_t charged, std::size_t actual) noexcept {
        if (actual > charged) outbox_.charge(actual - charged);
        else if (actual < charged) outbox_.refund(charged - actual);
        return actual;
    }

    // A prepared message, admitted: the shared frame, or with permessage-deflate
    // a compressed one (shared too without context takeover, else ours alone).
    bool enqueue_shared(const prepared_message& m, std::size_t charged) {
        if (close_sent_ || fragmenting_ || state() != connection_state::open) {
            outbox_.refund(charged);
            return false;
        }
        append_shared(m, charged);
        return true;
    }
    // enqueue_shared once the connection is known to take data (data_status_on
    // checked the same three conditions on this thread).
    void append_shared(const prepared_message& m, std::size_t charged) {
        const std::size_t before = outbox_.pending();
        if (auto frame = encoder_.shared_frame(m)) outbox_.append(std::move(frame));
        else outbox_.append_with([&](std::string& s) { encoder_.message(s, m.type(), m.payload()); });
        settle(charged, outbox_.pending() - before);
        count_out(m.payload().size());
    }

    send_result enqueue_fragment(opcode type, std::string_view piece, bool fin,
                                 std::size_t charged = 0) {
        auto refuse = [&](send_status s) {
            if (charged) outbox_.refund(charged);
            return s;
        };
        if (close_sent_ || state() != connection_state::open) return refuse(send_status::not_open);
        if (fragmenting_ && type != out_type_) return refuse(send_status::fragmenting);
        if (type == opcode::text) {
            if (!fragmenting_) out_utf8_.reset();
            if (!out_utf8_.feed(piece) || (fin && !out_utf8_.finish()))
                return refuse(send_status::invalid_utf8);
        }
        if (!charged) {
            charged = piece.size() + protocol::max_frame_header_size;
            if (auto r = admit(charged); !r) return r;
        }
        const opcode op = fragmenting_ ? opcode::continuation : type;
        append_charged(charged, [&](std::string& s) { encoder_.frame(s, op, piece, fin); });
        out_type_ = type;
        fragmenting_ = !fin;
        add_own(bytes_out_, piece.size());
        if (fin) add_own(messages_out_, 1);
        kick();
        return send_status::queued;
    }

    // A large received message sent back or on (an echo) by the handler of
    // the last event a read held goes out at once in one gathered write: what the turn corked before it, its
    // header, and its payload from where it lies (the read buffer, the
    // assembler's message), instead of being copied into the cork to be
    // written at the turn's end anyway. Only in this connection's own corked
    // turn (nothing queued or being written, a transport that writes without
    // blocking), so order holds and no other connection's handler is running.
    // What the socket does not take is queued; a write error ends
    // the connection on a posted turn (on_close must not run inside this
    // handler). False: nothing was done, frame it the usual way.
    [[gnu::noinline]] bool write_in_place(opcode type, std::string_view payload, std::size_t charged) {
        if (!outbox_.holds_cork() || !turn_worker_) return false;
        // Only a payload that would otherwise be lost with the read (the received
        // message, echoed or forwarded): what a handler makes itself is corked,
        // and nothing of it reaches the socket before the handler returns.
        const std::span<std::uint8_t> input = turn_worker_->read_buffer();
        const auto at = reinterpret_cast<std::uintptr_t>(payload.data());
        const auto begin = reinterpret_cast<std::uintptr_t>(input.data());
        const bool in_read = at >= begin && at - begin <= input.size() && payload.size() <= input.size() - (at - begin);
        if (!in_read && !assembler_.holds(payload)) return false;
        std::uint8_t header[protocol::max_frame_header_size];
        const std::size_t header_size = encoder_.plain_header(header, type, payload.size());
        if (header_size == 0) return false;
        const std::string_view corked = outbox_.corked_bytes();
        std::vector<asio::const_buffer>& bufs = gather_scratch();
        bufs.clear();
        if (!corked.empty()) bufs.emplace_back(corked.data(), corked.size());
        bufs.emplace_back(header, header_size);
        bufs.emplace_back(payload.data(), payload.size());
        std::error_code ec;
        std::size_t written = io_try_write(bufs, ec);
        if (ec) {
            written = 0;
            // A broken socket ends the connection, on its own turn: not inside this handler.
            if (!would_block(ec))
                asio::post(executor_, [self = shared_from_this(), ec] { self->finish(ec); });
        }
        const std::size_t from_cork = std::min(written, corked.size());
        outbox_.cork_written(from_cork);
        written -= from_cork;
        outbox_.written_directly(written);
        // What is left of the frame waits; the charge is settled to it. When
        // the socket took less than the frame, it is full: queue the rest
        // (one copy) rather than cork it to be queued at the turn's end (two).
        if (written < header_size + payload.size())
            if (std::string* cork = outbox_.uncork(); cork && turn_worker_) turn_worker_->return_cork();
        const std::size_t header_left = written < header_size ? header_size - written : 0;
        const std::size_t payload_done = written - (header_size - header_left);
        const std::string_view rest_header{reinterpret_cast<const char*>(header) + header_size - header_left,
                                           header_left};
        append_charged(charged - std::min(charged, written), [&](std::string& s) {
            s.append(rest_header);
            s.append(payload.substr(payload_done));
        });
        return true;
    }
    // Below this a copy into the cork costs less than a write of its own.
    static constexpr std::size_t write_in_place_min = 8 * 1024;

    // Frames the connection makes itself (pong, keep-alive ping, close) are
    // charged but never refused, except pongs (below).
    void enqueue_control(opcode type, std::string_view payload) {
        append_charged(0, [&](std::string& s) { encoder_.frame(s, type, payload, true); });
        kick();
    }

    void enqueue_close_frame(close_code code, std::string_view reason) {
        accepting_.store(false, std::memory_order_relaxed);
        append_charged(0, [&](std::string& s) { encoder_.close_frame(s, code, reason); });
        kick();
    }

    void start_close(close_code code, std::string_view reason) {
        if (close_sent_ || state() == connection_state::closed) return;
        close_sent_ = true;
        set_state(connection_state::closing);
        close_deadline_ = deadline(limits_->close_timeout);
        enqueue_close_frame(code, reason);
        read_for_close();
    }

    // A paused reader still reads the peer's close frame (RFC 6455 §7.1.1).
    // Posted: this may run inside the read loop, which re-arms by itself.
    void read_for_close() {
        if (!std::exchange(read_paused_, false)) return;
        asio::post(executor_, [self = shared_from_this()] { self->wait_readable(); });
    }

    void close_for_backpressure() {
        if (close_sent_ || state() != connection_state::open) return;
        if (!error_) error_ = make_error_code(error::backpressure);
        if (detail::worker* w = owner()) w->metrics().backpressure_closes.add();
        fail(close_code::policy_violation, "send queue over limit");
    }

    void count_out(std::size_t payload_size) {
        add_own(messages_out_, 1);
        add_own(bytes_out_, payload_size);
    }
    // The message and byte counters have one writer, the connection's thread
    // (stats() reads them from anywhere): a load and a store, not a locked
    // read-modify-write per message.
    static void add_own(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    // Folds this connection's counters (stats(), buffered_amount()) into its
    // I/O thread's (wsx/metrics.hpp), which a scrape sums: at each sweep tick
    // and at the end, never per message, so the message path pays nothing
    // for metrics and a scrape lags by one timer_resolution at most. On the
    // connection's thread, the only writer of the thread's counters.
    void report_to_thread(detail::worker* w) noexcept {
        if (!w) return;
        detail::thread_metrics& m = w->metrics();
        const connection_stats now = stats();
        auto fold = [](detail::owned_counter& c, std::uint64_t value, std::uint64_t& reported) {
            if (value != reported) c.add(value - reported);
            reported = value;
        };
        fold(m.messages_in, now.messages_in, reported_.messages_in);
        fold(m.messages_out, now.messages_out, reported_.messages_out);
        fold(m.bytes_in, now.bytes_in, reported_.bytes_in);
        fold(m.bytes_out, now.bytes_out, reported_.bytes_out);
        fold(m.messages_dropped, now.dropped, reported_.dropped);
        const std::size_t b = state() == connection_state::closed ? 0 : outbox_.accepted();
        if (b > buffered_reported_) m.buffered_bytes.add(b - buffered_reported_);
        else if (b < buffered_reported_) m.buffered_bytes.sub(buffered_reported_ - b);
        buffered_reported_ = b;
    }


    // ---- output: frames from other threads ----------------------------------
    // The first frame into an empty inbox posts the drain; the rest ride on it.
    void push(detail::outgoing_frame&& f) {
        if (outbox_.push(std::move(f))) post_drain();
    }
    void post_drain() {
        asio::post(executor_, [self = shared_from_this()] { self->drain_and_flush(); });
    }

    // send(prepared_message), and the registry's fan-out: admits `m` in the
    // caller's thread and queues it. From another thread it waits in the
    // inbox; when the inbox was empty, the connection joins `drains` (for one
    // posted handler per I/O thread to drain them all) or, without `drains`,
    // posts its own drain.
    send_result offer(const prepared_message& m, std::vector<std::shared_ptr<connection>>* drains) {
        if (!m.valid_text()) return send_status::invalid_utf8;
        if (info_role_ == role::client) return send_valid(m.type(), m.payload());  // masked: ours alone
        // Which thread, asked once per delivery (a thread-local lookup in Asio).
        const bool own = on_own_thread();
        if (own) take_inbox_first();
        if (auto r = data_status_on(own); !r) return r;
        const std::size_t charged = m.frame()->size();
        if (auto r = admit(charged); !r) return r;
        if (own) {
            append_shared(m, charged);  // data_status_on saw it open, on this thread
            // A fan-out flushes every connection it queued on with one posted
            // handler per thread (`drains`), not one asio::post per connection.
            if (!drains) kick();
            else if (outbox_.needs_posted_flush()) drains->push_back(shared_from_this());
        } else if (outbox_.push(detail::outgoing_frame::of_shared(m, charged))) {
            if (drains) drains->push_back(shared_from_this());
            else post_drain();
        }
        return send_status::queued;
    }

    // On the connection's thread, frames other threads pushed before this send
    // are queued ahead of it: sends ordered by the caller (a topic's publishes,
    // serialised by its lock, from several threads) reach the wire in that
    // order. Before the status check, so a close waiting there is seen.
    // Only on the connection's thread.
    void take_inbox_first() {
        if (outbox_.inbox_waiting()) drain_inbox();
    }

    void drain_and_flush() {
        outbox_.flush_arrived();  // it may stand for the flush offer() did not post
        take_inbox_first();  // a fan-out on this thread posts it with the inbox empty: no lock then
        flush();
    }

    void drain_inbox() {
        std::vector<detail::outgoing_frame>& inbox_ = inbox_scratch();
        outbox_.take_inbox(inbox_);
        for (detail::outgoing_frame& f : inbox_) take(f);
        // A burst should not pin memory: keep the vector only while it is small.
        if (inbox_.capacity() > 64) std::vector<detail::outgoing_frame>{}.swap(inbox_);
        else inbox_.clear();
    }

    void take(detail::outgoing_frame& f) {
        switch (f.kind) {
        case outgoing_kind::close: return start_close(f.code, f.bytes);
        case outgoing_kind::fragment:
            if (!enqueue_fragment(f.type, f.bytes, f.fin, f.charged))
                dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        case outgoing_kind::shared: enqueue_shared(*f.shared, f.charged); return;
        case outgoing_kind::control:
            if (close_sent_ || state() != connection_state::open) return outbox_.refund(f.charged);
            outbox_.append(std::move(f.bytes));
            return;
        case outgoing_kind::frame:
        case outgoing_kind::compress: break;
        }
        if (close_sent_ || fragmenting_ || state() != connection_state::open)
            return outbox_.refund(f.charged);
        if (f.kind == outgoing_kind::compress) {
            append_charged(f.charged, [&](std::string& s) { encoder_.message(s, f.type, f.bytes); });
        } else {
            outbox_.append(std::move(f.bytes));
        }
        count_out(f.payload);
    }

    // ---- output: writing -------------------------------------------------------
    // While one read is handled, frames go to the thread's cork buffer and leave
    // in one write at the end (architecture: corking). Only when nothing else is
    // queued, so ordering holds, and only where writes can be non-blocking.
    void begin_turn() {
        // Kept for the whole turn: if the connection finished meanwhile its
        // owner() is already gone, but the cork buffer must still be handed back.
        turn_worker_ = owner();
        std::string* cork = turn_worker_ && io_nonblocking_writes() ? turn_worker_->lend_cork() : nullptr;
        outbox_.begin_turn(cork);
        if (cork && !outbox_.holds_cork()) turn_worker_->return_cork();
    }

    [[gnu::always_inline]] void end_turn() {
        detail::worker* w = std::exchange(turn_worker_, nullptr);
        std::error_code ec;
        std::size_t written = 0;
        const std::string_view corked = outbox_.corked_bytes();
        std::vector<asio::const_buffer>& write_bufs_ = gather_scratch();
        if (!corked.empty() && state() != connection_state::closed) {
            write_bufs_.assign(1, asio::buffer(corked.data(), corked.size()));
            written = io_try_write(write_bufs_, ec);
            if (ec && would_block(ec)) ec = {};
        }
        if (std::string* cork = outbox_.end_turn(written)) {
            // A burst of large frames should not pin memory for the thread's lifetime.
            if (cork->capacity() > (1u << 20)) std::string{}.swap(*cork);
            if (w) w->return_cork();
        }
        if (ec) return finish(ec);
        flush();
    }

    // Bytes were appended: make sure something will write them. Never writes
    // here, since the caller may be another connection's handler: a write
    // error found now would run this connection's on_close inside it.
    void kick() {
        if (outbox_.needs_posted_flush())
            asio::post(executor_, [self = shared_from_this()] {
                self->outbox_.flush_arrived();
                self->flush();
            });
    }

    // Writes what is queued: synchronously while the socket takes it, then
    // asynchronously for the rest. Only on this connection's own turn.
    void flush() {
        if (!outbox_.may_write() || state() == connection_state::closed) return;
        std::vector<asio::const_buffer>& write_bufs_ = gather_scratch();
        while (outbox_.has_queued()) {
            outbox_.gather(write_bufs_, max_gather);
            if (io_nonblocking_writes()) {
                std::error_code ec;
                outbox_.written(io_try_write(write_bufs_, ec));
                if (!ec) continue;
                if (!would_block(ec)) return finish(ec);
                outbox_.gather(write_bufs_, max_gather);
            }
            outbox_.write_started();
            return io_async_write(write_bufs_);
        }
        after_flush();
    }

    // Everything handed to us is written: tell the application (a producer
    // pacing itself sends its next batch now), or finish the close.
    void after_flush() {
        if (outbox_.take_drained() && endpoint_->on_drain && state() == connection_state::open &&
            !close_sent_) {
            guarded([&] { endpoint_->on_drain(*this); });
            if (outbox_.has_queued()) return;  // it sent more: the posted flush takes it
        }
        if (fin_when_flushed_ && !fin_sent_) {
            fin_sent_ = true;
            io_shutdown();
        }
    }

    // ---- deadlines (called by the worker's sweep) --------------------------
    std::uint32_t deadline(std::chrono::milliseconds d) const noexcept {
        detail::worker* w = owner();
        return w ? w->now() + w->ticks(d) : 0;
    }

    void on_tick(std::uint32_t now) override {
        report_to_thread(owner());
        outbox_.trim();  // an emptied queue's buffers, kept for the next burst, go
        const connection_state s = state();
        if (s == connection_state::closing) {
            if (static_cast<std::int32_t>(now - close_deadline_) >= 0) {
                if (!error_) error_ = make_error_code(error::close_timeout);
                finish(make_error_code(error::close_timeout));
            }
            return;
        }
        if (s != connection_state::open || limits_->idle_timeout.count() <= 0 || read_paused_) return;
        const std::uint32_t limit = owner()->ticks(limits_->idle_timeout);
        const std::uint32_t quiet = now - last_rx_;
        if (quiet >= limit) {
            // §7.1.7 lets us drop a peer that stopped answering; say why first.
            error_ = make_error_code(error::idle_timeout);
            if (ping_sent_) owner()->metrics().pings_unanswered.add();
            fail(close_code::going_away, "idle timeout");
        } else if (quiet >= limit / 2 && !ping_sent_) {
            ping_sent_ = true;
            owner()->metrics().pings_sent.add();
            enqueue_control(opcode::ping, {});
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
        detail::worker* w = owner();  // kept: on_close may throw, and its worker logs it
        report_to_thread(w);  // closed: takes back its buffered bytes
        if (w) {
            w->metrics().closed(endpoint_index(),
                                static_cast<std::uint16_t>(close_code_ ? *close_code_ : close_code::abnormal));
            w->unlink(this);
        }
        io_close();
        outbox_.clear();
        assembler_.reset();
        // The codec's memory goes with the connection's end, not its handle's.
        assembler_.set_inflater(nullptr);
        inflater_.reset();
        encoder_.release();
        const close_code code = close_code_ ? *close_code_ : close_code::abnormal;
        if (endpoint_->on_close) {
            try {
                endpoint_->on_close(*this, code,
                                    close_reason_ ? std::string_view{*close_reason_} : std::string_view{});
            } catch (const std::exception& e) {
                // The connection is gone already; nothing left to fail, but say so.
                log(w, "on_close threw: " + std::string{e.what()});
            } catch (...) {
                log(w, "on_close threw a non-standard exception");
            }
        }
        adapter_state_.reset();  // an adapter's on_close resets it; this makes sure
    }

    // A handler that throws fails its own connection with 1011 and nothing
    // else: the I/O thread and the other connections carry on. The log hook
    // says what was thrown; the peer learns only "internal error".
    template <class F>
    [[gnu::always_inline]] void guarded(F&& f) {
        try {
            f();
        } catch (const std::exception& e) {
            log(owner(), "a handler threw: " + std::string{e.what()} + "; closing with 1011");
            fail(close_code::internal_error, "internal error");
        } catch (...) {
            log(owner(), "a handler threw a non-standard exception; closing with 1011");
            fail(close_code::internal_error, "internal error");
        }
    }

    // Through the worker's hook (server_options::log, client_options::log), or
    // default_log once the connection has left its worker.
    void log(detail::worker* w, std::string_view message) const noexcept {
        if (w) w->log(log_level::error, "websocket", message);
        else detail::dispatch_log(nullptr, log_level::error, "websocket", message);
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
        for (char& c : id_) {
            c = digits[x % 62];
            x /= 62;
        }
    }

    // connection_info, kept small: the strings that are usually empty
    // (subprotocol, user) in one block made only when one is not; the rest
    // inline. Fixed from here on, so any thread may read them.
    void keep_info(connection_info&& info) {
        path_ = std::move(info.path);
        if (!info.subprotocol.empty() || !info.user.empty())
            named_ = std::make_unique<named_info>(
                named_info{std::move(info.subprotocol), std::move(info.user)});
        user_data_ = std::move(info.user_data);
        remote_ = info.remote;
        deflate_ = info.deflate;
        protocol_ = info.protocol.data();
        protocol_size_ = static_cast<std::uint8_t>(std::min<std::size_t>(info.protocol.size(), 255));
        endpoint_row_ = info.endpoint_index == static_cast<std::size_t>(-1)
                            ? 0
                            : static_cast<std::uint32_t>(info.endpoint_index + 1);
    }
    std::size_t endpoint_index() const noexcept {
        return endpoint_row_ == 0 ? static_cast<std::size_t>(-1) : endpoint_row_ - 1;
    }
    static const std::string& no_name() noexcept {
        static const std::string empty;
        return empty;
    }

    // The close reason is allocated only when the connection closes.
    void set_close_reason(std::string_view reason) {
        if (close_reason_) close_reason_->assign(reason);
        else if (!reason.empty()) close_reason_ = std::make_unique<std::string>(reason);
    }

    // Vectors used only within one turn on the connection's thread live in its
    // worker, shared by all its connections (an idle connection keeps none).
    // After the worker is gone (the connection is closing), the thread's spare.
    // Neither is in use when a handler runs, so no other connection finds it
    // taken. The gather vector is reused as soon as io_async_write returns:
    // the transport's async_write copies the buffer sequence (asio::async_write does).
    std::vector<asio::const_buffer>& gather_scratch() {
        if (detail::worker* w = owner()) return w->gather_buffers();
        static thread_local std::vector<asio::const_buffer> spare;
        return spare;
    }
    std::vector<detail::outgoing_frame>& inbox_scratch() {
        if (detail::worker* w = owner()) return w->inbox_frames();
        static thread_local std::vector<detail::outgoing_frame> spare;
        return spare;
    }

    // Up to 64 buffers per write: well under IOV_MAX, enough to drain a
    // backlog of small broadcast frames in one system call.
    static constexpr std::size_t max_gather = 64;

    executor_type executor_;
    const endpoint* endpoint_;
    const connection_options* limits_;
    // connection_info (see keep_info)
    struct named_info {
        std::string subprotocol;
        std::string user;
    };
    std::string path_;
    std::unique_ptr<const named_info> named_;
    std::any user_data_;
    asio::ip::tcp::endpoint remote_;
    protocol::deflate_config deflate_{};
    std::uint8_t protocol_size_ = 0;
    std::uint32_t endpoint_row_ = 0;  // endpoint_index + 1; 0: no row
    const char* protocol_ = "";
    char id_[11];
    role info_role_;
    std::optional<close_code> close_code_;  // here: fills the padding before the assembler
    protocol::message_assembler assembler_;
    std::unique_ptr<protocol::message_inflater> inflater_; // permessage-deflate, when negotiated
    detail::message_encoder encoder_;
    detail::outbox outbox_;
    std::unique_ptr<std::string> close_reason_;
    std::error_code error_;

    std::atomic<connection_state> state_{connection_state::open};
    std::atomic<bool> accepting_{true};
    std::atomic<std::uint64_t> messages_in_{0}, messages_out_{0}, bytes_in_{0}, bytes_out_{0},
        dropped_{0};
    // What report_to_thread() has told the thread's counters so far.
    connection_stats reported_{};
    std::size_t buffered_reported_ = 0;

    detail::worker* turn_worker_ = nullptr;
    std::uint32_t last_rx_ = 0;
    std::uint32_t close_deadline_ = 0;
    bool reading_ = false;
    bool fragmenting_ = false;
    opcode out_type_ = opcode::text;
    protocol::utf8_validator out_utf8_;
    bool close_sent_ = false;
    bool close_received_ = false;
    bool fin_when_flushed_ = false;
    bool fin_sent_ = false;
    bool ping_sent_ = false;
    bool read_paused_ = false;
    bool last_of_read_ = false;  // the event being handled ends what the last read held
    std::shared_ptr<void> adapter_state_;
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

// Separate compilation (wsx/impl/src.hpp): with WSX_SEPARATE_COMPILATION the
// common instantiations are compiled once, in the unit that includes
// <wsx/impl/src.hpp>, and only declared here. [temp.explicit]: the unit that
// defines them may see these declarations first.
#if defined(WSX_SEPARATE_COMPILATION)
#include <wsx/transport/plain.hpp>
namespace wsx {
extern template class basic_connection<transport::plain>;
} // namespace wsx
#if defined(WSX_SEPARATE_COMPILATION_TLS)
#include <wsx/transport/tls.hpp>
namespace wsx {
extern template class basic_connection<transport::tls>;
} // namespace wsx
#endif
#endif

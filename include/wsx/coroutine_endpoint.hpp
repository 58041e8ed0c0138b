// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::coroutine_endpoint: a WebSocket endpoint written as one coroutine per
// connection, with backpressure as suspension:
//
//   srv.websocket("/echo", wsx::coroutine_endpoint(
//       [](wsx::coroutine_stream s) -> asio::awaitable<void> {
//           while (auto m = co_await s.read()) co_await s.send(*m);
//       }));
//
// Outgoing: co_await s.send(m) queues the message when it fits under the
// connection's max_buffered_bytes, and otherwise suspends until what is queued
// has been written (the connection's on_drain), then queues it: the sender is
// paced, never refused for backpressure, and the connection never holds more
// than the budget plus one message. Incoming: received messages wait for
// read() in a queue bounded by coroutine_options::max_queued_bytes; past it
// the connection stops reading from the socket (TCP then holds the peer back)
// until read() has taken the queue down to half.
//
// The coroutine runs on the connection's I/O thread (co_spawned there when the
// connection opens). Other coroutines, on any executor, may send through a
// copy of the stream: they are resumed on their own executor. When the peer
// leaves or the connection closes, every pending read() returns an empty
// optional and every pending send() returns send_status::not_open: nothing
// waits for ever. When the handler returns, the connection closes with 1000
// if it is still open; when it throws, it fails with 1011 (the log hook says
// what was thrown), as a handler that throws does.
//
// With clang and Asio 1.22, include this header before any Asio or wsx header
// (or define ASIO_HAS_CO_AWAIT and ASIO_HAS_STD_COROUTINE yourself): that
// Asio only looks for the Coroutines TS under clang.
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#if __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif
#endif

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#if !defined(ASIO_HAS_CO_AWAIT)
#error "wsx/coroutine_endpoint.hpp needs Asio's co_await support: include it before any Asio header, or define ASIO_HAS_CO_AWAIT"
#endif

#include <wsx/connection.hpp>
#include <wsx/detail/completion.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/send_result.hpp>

namespace wsx {

// A received message that owns its payload, as read() returns it.
class owned_message {
public:
    owned_message(opcode type, std::string payload) noexcept
        : payload_(std::move(payload)), type_(type) {}

    opcode type() const noexcept { return type_; }
    bool is_text() const noexcept { return type_ == opcode::text; }
    bool is_binary() const noexcept { return type_ == opcode::binary; }
    // The payload; valid UTF-8 for text messages.
    std::string_view text() const noexcept { return payload_; }
    std::span<const std::uint8_t> data() const noexcept {
        return {reinterpret_cast<const std::uint8_t*>(payload_.data()), payload_.size()};
    }
    std::size_t size() const noexcept { return payload_.size(); }
    // Moves the payload out.
    std::string take() && noexcept { return std::move(payload_); }
    // A view, for code written for on_message's wsx::message.
    operator message() const noexcept { return message{type_, payload_}; }

private:
    std::string payload_;
    opcode type_;
};

struct coroutine_options {
    // As endpoint::on_upgrade: decides before the 101 response.
    std::function<void(upgrade_context&)> on_upgrade{};
    std::vector<std::string> subprotocols{};
    // Limits for this endpoint (max_buffered_bytes is the send budget); the
    // server's options.websocket when empty.
    std::optional<connection_options> limits{};
    // Received messages waiting for read(), in payload bytes plus a small
    // overhead per message. Past it the connection stops reading from the
    // socket; at most one read's worth of bytes (64 KiB) and one message more
    // arrive meanwhile.
    std::size_t max_queued_bytes = 1u << 20;
};

namespace detail {

// What a connection's coroutine and the connection share: the messages
// received and not yet read, the coroutines waiting to read or for room to
// send, and how the connection closed. The connection's handlers feed it on
// the I/O thread; the stream's side is safe from any thread (one mutex, held
// for a few instructions).
class coroutine_channel final : public std::enable_shared_from_this<coroutine_channel> {
public:
    // Counted for each queued message besides its payload, so that a flood of
    // empty messages is bounded too.
    static constexpr std::size_t message_overhead = 64;

    coroutine_channel(std::shared_ptr<connection> c, std::size_t max_queued)
        : conn_(std::move(c)), max_queued_(max_queued ? max_queued : 1) {}

    connection& conn() const noexcept { return *conn_; }

    // ---- the connection's side: its I/O thread -------------------------------
    void deliver(const message& m) {
        completion<> reader;
        {
            std::lock_guard lock(mutex_);
            queue_.emplace_back(m.type(), std::string{m.text()});
            queued_ += m.size() + message_overhead;
            reader = std::move(reader_);
            if (!paused_ && queued_ >= max_queued_) {
                paused_ = true;
                conn_->pause_reading();
            }
        }
        reader.complete();
    }

    // Everything queued was written: the senders try again.
    void drained() { wake_writers(); }

    void closed(close_code code, std::string_view reason) {
        completion<> reader;
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
            code_ = code;
            reason_.assign(reason);
            reader = std::move(reader_);
        }
        reader.complete();
        wake_writers();
    }

    // The coroutine ended: close if it left the connection open; fail with
    // 1011 if it threw.
    void handler_done(std::exception_ptr e) {
        if (e) return conn_->fail_with(e);
        if (conn_->is_open()) conn_->close(close_code::normal);
    }

    // ---- the stream's side: any thread ---------------------------------------
    // True when read() is done: `out` holds the next message, or stays empty
    // once the connection has closed and every message was read.
    bool try_read(std::optional<owned_message>& out) {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return closed_;
        out.emplace(std::move(queue_.front()));
        queue_.pop_front();
        queued_ -= out->size() + message_overhead;
        if (paused_ && !resume_posted_ && queued_ <= max_queued_ / 2) {
            // Read again on the connection's thread, and never inside its
            // handlers (this may run in one, or on another thread).
            resume_posted_ = true;
            asio::post(conn_->get_executor(), [self = shared_from_this()] { self->resume(); });
        }
        return true;
    }

    // Completes when a message or the close is there (at once if one is).
    template <class Token>
    auto async_wait_readable(Token&& token) {
        return asio::async_initiate<Token, void()>(
            [this](auto handler) {
                completion<> c(std::move(handler), conn_->get_executor());
                {
                    std::lock_guard lock(mutex_);
                    if (queue_.empty() && !closed_) {
                        reader_ = std::move(c);
                        return;
                    }
                }
                c.complete();
            },
            token);
    }

    // Completes when the connection has written what it had queued, or has
    // closed (at once if nothing is queued now).
    template <class Token>
    auto async_wait_room(Token&& token) {
        return asio::async_initiate<Token, void()>(
            [this](auto handler) {
                completion<> c(std::move(handler), conn_->get_executor());
                {
                    std::lock_guard lock(mutex_);
                    // Checked under the lock that drained() takes: a drain
                    // between the refused send and here left nothing queued.
                    if (!closed_ && conn_->buffered_amount() != 0) {
                        writers_.push_back(std::move(c));
                        return;
                    }
                }
                c.complete();
            },
            token);
    }

    // One read() at a time: two coroutines reading one stream would each get
    // some of the messages.
    void begin_read() {
        if (reading_.exchange(true))
            throw std::logic_error("wsx::coroutine_stream: read() while another read() is pending");
    }
    void end_read() noexcept { reading_.store(false); }

    bool closed() const {
        std::lock_guard lock(mutex_);
        return closed_;
    }
    close_code code() const {
        std::lock_guard lock(mutex_);
        return code_;
    }
    std::string reason() const {
        std::lock_guard lock(mutex_);
        return reason_;
    }
    std::size_t queued_bytes() const {
        std::lock_guard lock(mutex_);
        return queued_;
    }

private:
    void resume() {
        {
            std::lock_guard lock(mutex_);
            resume_posted_ = false;
            if (!paused_ || queued_ > max_queued_ / 2) return;
            paused_ = false;
        }
        conn_->resume_reading();
    }

    void wake_writers() {
        std::vector<completion<>> writers;
        {
            std::lock_guard lock(mutex_);
            writers.swap(writers_);
        }
        for (auto& w : writers) w.complete();
    }

    const std::shared_ptr<connection> conn_;
    const std::size_t max_queued_;
    mutable std::mutex mutex_;
    std::deque<owned_message> queue_;
    std::size_t queued_ = 0;
    completion<> reader_;
    std::vector<completion<>> writers_;
    bool closed_ = false;
    bool paused_ = false;         // the connection was told to stop reading
    bool resume_posted_ = false;  // a resume() is on its way
    close_code code_ = close_code::abnormal;
    std::string reason_;
    std::atomic<bool> reading_{false};
};

} // namespace detail

// The coroutine's handle on its connection. Copyable: copies share the
// connection, and may be used from other threads (read() by one coroutine at
// a time). Arguments of send() are referenced until its co_await completes:
// co_await it in the expression that makes them.
class coroutine_stream {
public:
    using executor_type = wsx::connection::executor_type;

    explicit coroutine_stream(std::shared_ptr<detail::coroutine_channel> ch) noexcept
        : ch_(std::move(ch)) {}

    // The next message; empty once the connection has closed (after the
    // messages that arrived before the close). close_code() then says how.
    asio::awaitable<std::optional<owned_message>> read() {
        const std::shared_ptr<detail::coroutine_channel> ch = ch_;
        ch->begin_read();
        struct end_read {
            detail::coroutine_channel* ch;
            ~end_read() { ch->end_read(); }
        } guard{ch.get()};
        std::optional<owned_message> m;
        while (!ch->try_read(m)) co_await ch->async_wait_readable(asio::use_awaitable);
        co_return m;
    }

    // Queues a message, first waiting for room under max_buffered_bytes if
    // there is none. The result is never dropped or closing_backpressure;
    // not_open once the connection closes (also while waiting), invalid_utf8
    // for text that is not UTF-8, fragmenting while a send_fragment message
    // on the connection is unfinished.
    asio::awaitable<send_result> send(opcode type, std::string_view payload) {
        const std::shared_ptr<detail::coroutine_channel> ch = ch_;
        for (;;) {
            const send_result r = ch->conn().try_send(type, payload);
            if (r.status() != send_status::dropped) co_return r;
            co_await ch->async_wait_room(asio::use_awaitable);
        }
    }
    asio::awaitable<send_result> send(std::string_view text) { return send(opcode::text, text); }
    asio::awaitable<send_result> send_binary(std::string_view bytes) {
        return send(opcode::binary, bytes);
    }
    asio::awaitable<send_result> send_binary(std::span<const std::uint8_t> bytes) {
        return send(opcode::binary, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    }
    asio::awaitable<send_result> send(const owned_message& m) { return send(m.type(), m.text()); }

    // Starts the closing handshake (see connection::close); a pending read()
    // then returns the messages still queued and the close. Any thread.
    void close(wsx::close_code code = wsx::close_code::normal, std::string_view reason = {}) {
        ch_->conn().close(code, reason);
    }

    bool is_open() const noexcept { return ch_->conn().is_open(); }
    // How the connection closed (as on_close says it), once read() has
    // returned empty; close_code::abnormal before.
    wsx::close_code close_code() const { return ch_->code(); }
    std::string close_reason() const { return ch_->reason(); }
    // Bytes of received messages waiting for read() (see max_queued_bytes).
    std::size_t queued_bytes() const { return ch_->queued_bytes(); }

    // The connection (id, stats, buffered_amount, user_data on its thread...).
    wsx::connection& connection() const noexcept { return ch_->conn(); }
    // Its I/O thread's executor: co_spawn a producer there to run beside it.
    executor_type get_executor() const noexcept { return ch_->conn().get_executor(); }

private:
    std::shared_ptr<detail::coroutine_channel> ch_;
};

// The coroutine for each connection: called with its stream when the
// connection opens.
using coroutine_handler = std::function<asio::awaitable<void>(coroutine_stream)>;

// The endpoint that runs `handler` for each connection (see the top of this file).
inline endpoint coroutine_endpoint(coroutine_handler handler, coroutine_options options = {}) {
    if (!handler) throw std::invalid_argument("wsx::coroutine_endpoint: the handler is empty");
    auto h = std::make_shared<const coroutine_handler>(std::move(handler));
    const std::size_t max_queued = options.max_queued_bytes;
    auto channel_of = [](connection& c) {
        return static_cast<detail::coroutine_channel*>(c.adapter_state(detail::adapter_key{}).get());
    };
    endpoint ep;
    ep.on_upgrade = std::move(options.on_upgrade);
    ep.subprotocols = std::move(options.subprotocols);
    ep.limits = std::move(options.limits);
    ep.on_open = [h, max_queued](connection& c) {
        auto ch = std::make_shared<detail::coroutine_channel>(c.shared_from_this(), max_queued);
        c.adapter_state(detail::adapter_key{}) = ch;
        // `h` rides with the coroutine: a lambda's captures live in it.
        asio::co_spawn(c.get_executor(), (*h)(coroutine_stream{ch}),
                       [ch, h](std::exception_ptr e) { ch->handler_done(e); });
    };
    ep.on_message = [channel_of](connection& c, message m) {
        if (auto* ch = channel_of(c)) ch->deliver(m);
    };
    ep.on_drain = [channel_of](connection& c) {
        if (auto* ch = channel_of(c)) ch->drained();
    };
    // Wakes whatever waits, and breaks the cycle connection -> channel -> connection.
    ep.on_close = [](connection& c, close_code code, std::string_view reason) {
        std::shared_ptr<void> held = std::move(c.adapter_state(detail::adapter_key{}));
        if (held) static_cast<detail::coroutine_channel*>(held.get())->closed(code, reason);
    };
    return ep;
}

} // namespace wsx

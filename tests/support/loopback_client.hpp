// SPDX-License-Identifier: BSL-1.0
#pragma once
// A small blocking test client over a real loopback TCP socket.
//
// It speaks raw bytes, so a test can send anything (a malformed request line, an
// unmasked frame, a header byte every 50 ms), and decodes what comes back with
// wsx's own sans-I/O layers: http::response_parser for HTTP answers and
// protocol::message_assembler (role::client) for WebSocket frames.
//
// Every blocking call has a timeout, so a server that misbehaves makes a test fail,
// never hang. Not thread-safe: one client per thread (several clients may live in
// one thread; each has its own io_context).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <wsx/http/fields.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/message.hpp>
#include <wsx/http/parser.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/role.hpp>

namespace wsx::test {

using namespace std::chrono_literals;
using test_clock = std::chrono::steady_clock;

// What read_event() saw.
struct ws_event {
    enum class kind {
        message,  // a data message (or a streamed piece): `type`, `payload`, `fin`
        ping,     // payload
        pong,     // payload
        close,    // `code` (no_status for an empty body) and `payload` = the reason
        error,    // the server broke the protocol: `code` to fail with, `payload` = what
        eof,      // the server closed TCP (`ec` is eof or connection_reset)
        timeout,  // nothing complete arrived in time
    };
    kind what = kind::timeout;
    opcode type = opcode::text;
    bool fin = true;
    std::string payload;
    close_code code = close_code::no_status;
    std::error_code ec;

    bool is_message() const noexcept { return what == kind::message; }
    bool is_close() const noexcept { return what == kind::close; }
    bool is_eof() const noexcept { return what == kind::eof; }
};

inline const char* to_string(ws_event::kind k) noexcept {
    switch (k) {
    case ws_event::kind::message: return "message";
    case ws_event::kind::ping: return "ping";
    case ws_event::kind::pong: return "pong";
    case ws_event::kind::close: return "close";
    case ws_event::kind::error: return "error";
    case ws_event::kind::eof: return "eof";
    case ws_event::kind::timeout: return "timeout";
    }
    return "?";
}

// True for the errors that mean "the peer closed the connection".
inline bool is_closed_error(const std::error_code& ec) noexcept {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

// What a decoded frame event means to a test (the payload is copied: the
// assembler's view dies with its next consume()).
inline ws_event to_ws_event(const protocol::event& e) {
    ws_event ev;
    ev.payload.assign(e.payload);
    switch (e.type) {
    case protocol::event_type::need_more: ev.what = ws_event::kind::timeout; break;
    case protocol::event_type::message:
        ev.what = ws_event::kind::message;
        ev.type = e.message_type;
        ev.fin = e.fin;
        break;
    case protocol::event_type::ping: ev.what = ws_event::kind::ping; break;
    case protocol::event_type::pong: ev.what = ws_event::kind::pong; break;
    case protocol::event_type::close:
        ev.what = ws_event::kind::close;
        ev.code = e.code;
        break;
    case protocol::event_type::error:
        ev.what = ws_event::kind::error;
        ev.code = e.code;
        ev.payload.assign(e.what);
        break;
    }
    return ev;
}

class loopback_client {
public:
    // Connects to 127.0.0.1:port. `receive_buffer`, when not zero, sets SO_RCVBUF
    // before connecting (a small window makes a non-reading client fill up fast).
    explicit loopback_client(std::uint16_t port, std::size_t receive_buffer = 0)
        : socket_(io_), rng_(std::random_device{}()) {
        const asio::ip::tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
        socket_.open(ep.protocol());
        if (receive_buffer != 0)
            socket_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(receive_buffer)));
        socket_.set_option(asio::ip::tcp::no_delay(true));
        std::error_code ec;
        bool done = false;
        socket_.async_connect(ep, [&](std::error_code e) {
            ec = e;
            done = true;
        });
        run_until(done, 2s);
        if (!done) throw std::runtime_error("loopback_client: connect timed out");
        if (ec) throw std::system_error(ec, "loopback_client: connect");
    }

    loopback_client(const loopback_client&) = delete;
    loopback_client& operator=(const loopback_client&) = delete;

    asio::ip::tcp::socket& socket() noexcept { return socket_; }
    bool is_open() const noexcept { return socket_.is_open(); }

    // ---- raw bytes -----------------------------------------------------------
    // Writes every byte (or fails: broken pipe, reset, timeout). Returns the error.
    std::error_code send_raw(std::string_view bytes, std::chrono::milliseconds timeout = 2s) {
        std::error_code ec;
        bool done = false;
        asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                          [&](std::error_code e, std::size_t) {
                              ec = e;
                              done = true;
                          });
        run_until(done, timeout);
        if (!done) {
            cancel_and_drain(done);
            return asio::error::timed_out;
        }
        return ec;
    }

    // Reads once into the pending input (the bytes that the HTTP and WebSocket
    // readers consume). Returns eof / connection_reset when the peer is gone,
    // timed_out when nothing came.
    std::error_code read_more(std::chrono::milliseconds timeout) {
        if (eof_) return eof_ec_;
        std::array<char, 16 * 1024> chunk;
        std::error_code ec;
        std::size_t n = 0;
        bool done = false;
        socket_.async_read_some(asio::buffer(chunk), [&](std::error_code e, std::size_t k) {
            ec = e;
            n = k;
            done = true;
        });
        run_until(done, timeout);
        if (!done) {
            cancel_and_drain(done);
            if (ec == asio::error::operation_aborted) ec = asio::error::timed_out;
        }
        pending_.insert(pending_.end(), chunk.data(), chunk.data() + n);
        if (ec && ec != asio::error::timed_out) {
            eof_ = true;
            eof_ec_ = ec;
            // RFC 6455 §7.1.1: once the server has closed TCP, the client closes
            // too (the server waits for that before it reports the close).
            if (upgraded_) close();
        }
        if (!ec && n == 0) return asio::error::timed_out;
        return ec;
    }

    // Bytes received and not consumed by a reader yet.
    std::string_view pending() const noexcept {
        return {reinterpret_cast<const char*>(pending_.data()), pending_.size()};
    }
    // Takes and returns every pending byte.
    std::string take_pending() {
        std::string s{pending()};
        pending_.clear();
        return s;
    }

    // Reads until the server closes TCP. Returns eof or connection_reset when it
    // did, timed_out otherwise. Everything received meanwhile stays in pending().
    std::error_code read_until_eof(std::chrono::milliseconds timeout = 2s) {
        const auto deadline = test_clock::now() + timeout;
        for (;;) {
            const auto left = remaining(deadline);
            if (left.count() <= 0) return asio::error::timed_out;
            const std::error_code ec = read_more(left);
            if (ec == asio::error::timed_out) continue;
            if (ec) return ec;
        }
    }
    // True once the server closed TCP. After an upgrade the client then closes
    // its socket as RFC 6455 §7.1.1 asks; before, it stays half-open until close().
    bool saw_eof() const noexcept { return eof_; }

    // Half-closes our side (the server reads EOF).
    void shutdown_send() {
        std::error_code ec;
        socket_.shutdown(asio::socket_base::shutdown_send, ec);
    }
    void close() {
        std::error_code ec;
        socket_.close(ec);
    }

    // ---- HTTP ----------------------------------------------------------------
    // Reads one complete HTTP response (a body delimited by Content-Length or by
    // the end of the connection). Bytes after it stay pending (a pipelined answer,
    // or the first WebSocket frames after a 101).
    std::optional<http::response> read_response(std::chrono::milliseconds timeout = 2s) {
        const auto deadline = test_clock::now() + timeout;
        http::response_parser parser;
        for (;;) {
            const std::size_t used = parser.feed(pending());
            pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
            if (parser.status() == http::parse_status::complete) return std::move(parser.get());
            if (parser.status() == http::parse_status::error) return std::nullopt;
            const auto left = remaining(deadline);
            if (left.count() <= 0) return std::nullopt;
            const std::error_code ec = read_more(left);
            if (ec && ec != asio::error::timed_out) {
                if (parser.feed_eof() == http::parse_status::complete) return std::move(parser.get());
                return std::nullopt;
            }
        }
    }

    // Reads the status line and headers only, for an answer that has no body
    // although its headers announce one (a response to HEAD).
    std::optional<http::response> read_response_head(std::chrono::milliseconds timeout = 2s) {
        const auto deadline = test_clock::now() + timeout;
        for (;;) {
            const auto end = pending().find("\r\n\r\n");
            if (end != std::string_view::npos) {
                http::response_parser parser;
                parser.feed(pending().substr(0, end + 4));
                pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(end + 4));
                if (parser.status() == http::parse_status::error) return std::nullopt;
                return std::move(parser.get());
            }
            const auto left = remaining(deadline);
            if (left.count() <= 0) return std::nullopt;
            const std::error_code ec = read_more(left);
            if (ec && ec != asio::error::timed_out) return std::nullopt;
        }
    }

    // Sends `raw` and reads the answer.
    std::optional<http::response> request(std::string_view raw, std::chrono::milliseconds timeout = 2s) {
        if (send_raw(raw)) return std::nullopt;
        return read_response(timeout);
    }

    // A GET for `target` with Host and whatever `extra_headers` holds (each line
    // ending in \r\n).
    static std::string get_request(std::string_view target, std::string_view extra_headers = {},
                                   std::string_view method = "GET") {
        std::string s{method};
        s.append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        s.append(extra_headers).append("\r\n");
        return s;
    }

    // A fresh Sec-WebSocket-Key.
    std::string make_key() {
        std::array<std::uint8_t, 16> nonce{};
        for (auto& b : nonce) b = static_cast<std::uint8_t>(rng_());
        return http::make_client_key(nonce);
    }

    // The upgrade request wsx's handshake layer builds; `extra` lines replace or
    // add headers (Origin, Sec-WebSocket-Version, ...).
    std::string upgrade_request(std::string_view target, std::span<const std::string> subprotocols = {},
                                const http::fields& extra = {}) {
        key_ = make_key();
        return http::to_string(http::make_upgrade_request("127.0.0.1", target, key_, subprotocols, extra));
    }

    // Performs the opening handshake. Returns the server's answer (nullopt when
    // none came); a 101 is also checked against RFC 6455 §4.1 (accept key,
    // subprotocol) and, when good, switches this client to WebSocket mode.
    std::optional<http::response> upgrade(std::string_view target = "/",
                                          std::span<const std::string> subprotocols = {},
                                          const http::fields& extra = {},
                                          std::chrono::milliseconds timeout = 2s) {
        auto res = request(upgrade_request(target, subprotocols, extra), timeout);
        check_upgrade(res, subprotocols);
        return res;
    }

    // The opening handshake with `early` bytes (frames) sent in the same write
    // as the request, before the 101 has arrived.
    std::optional<http::response> upgrade_with_early_data(std::string_view target, std::string_view early,
                                                          std::chrono::milliseconds timeout = 2s) {
        auto res = request(upgrade_request(target) + std::string{early}, timeout);
        check_upgrade(res, {});
        return res;
    }
    bool upgraded() const noexcept { return upgraded_; }
    // Why a 101 answer failed the client's checks ("" when it passed).
    std::string_view handshake_problem() const noexcept { return handshake_error_.what; }

    // ---- WebSocket -------------------------------------------------------------
    // Sends one frame, masked with a fresh key unless `masked` is false (which a
    // server must refuse with 1002).
    std::error_code send_frame(opcode op, std::string_view payload, bool fin = true, bool masked = true,
                               bool rsv1 = false) {
        return send_raw(encode_frame(op, payload, fin, masked, rsv1));
    }
    std::string encode_frame(opcode op, std::string_view payload, bool fin = true, bool masked = true,
                             bool rsv1 = false) {
        std::string out;
        const protocol::mask_key key = next_key();
        protocol::append_frame(out, op, payload, fin, masked ? &key : nullptr, rsv1);
        return out;
    }
    std::error_code send_text(std::string_view text) { return send_frame(opcode::text, text); }
    std::error_code send_binary(std::string_view bytes) { return send_frame(opcode::binary, bytes); }
    std::error_code send_close(close_code code, std::string_view reason = {}) {
        std::string out;
        const protocol::mask_key key = next_key();
        protocol::append_close_frame(out, code, reason, &key);
        return send_raw(out);
    }

    // When set, read_event() answers every ping with a pong carrying the same
    // payload and does not return it (pings_answered() counts them).
    void answer_pings(bool on) noexcept { answer_pings_ = on; }
    std::size_t pings_answered() const noexcept { return pings_answered_; }

    // Reads until one WebSocket event is complete, the server closes TCP, or the
    // timeout passes.
    ws_event read_event(std::chrono::milliseconds timeout = 2s) {
        const auto deadline = test_clock::now() + timeout;
        for (;;) {
            while (!pending_.empty()) {
                const auto r = assembler_.consume(std::span<std::uint8_t>(pending_));
                ws_event ev = to_ws_event(r.ev);
                pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
                if (r.ev.type == protocol::event_type::need_more) continue;
                if (ev.what == ws_event::kind::ping && answer_pings_) {
                    ++pings_answered_;
                    send_frame(opcode::pong, ev.payload);
                    continue;
                }
                return ev;
            }
            const auto left = remaining(deadline);
            if (left.count() <= 0) return ws_event{};
            const std::error_code ec = read_more(left);
            if (ec && ec != asio::error::timed_out && pending_.empty()) {
                ws_event ev;
                ev.what = ws_event::kind::eof;
                ev.ec = ec;
                return ev;
            }
        }
    }

    // Reads events until one that is not a data message or ping/pong, and
    // returns it; `skipped` counts the messages passed over.
    ws_event read_until_close(std::chrono::milliseconds timeout = 2s, std::size_t* skipped = nullptr) {
        const auto deadline = test_clock::now() + timeout;
        for (;;) {
            ws_event ev = read_event(remaining(deadline));
            if (ev.what == ws_event::kind::message || ev.what == ws_event::kind::ping ||
                ev.what == ws_event::kind::pong) {
                if (skipped && ev.what == ws_event::kind::message && ev.fin) ++*skipped;
                continue;
            }
            return ev;
        }
    }

    // The client's whole closing handshake (RFC 6455 §7.1.2): sends a close
    // frame, reads until the server's close frame (skipping data and pings)
    // and then until the server closes TCP. Returns the server's close frame,
    // or the event that came instead (eof, timeout).
    ws_event close_handshake(close_code code = close_code::normal, std::string_view reason = {},
                             std::chrono::milliseconds timeout = 2s) {
        const auto deadline = test_clock::now() + timeout;
        if (const auto ec = send_close(code, reason)) {
            ws_event ev;
            ev.what = ws_event::kind::eof;
            ev.ec = ec;
            return ev;
        }
        ws_event ev = read_until_close(remaining(deadline));
        if (ev.what != ws_event::kind::close) return ev;
        const ws_event end = read_event(remaining(deadline));
        if (end.what != ws_event::kind::eof) return end;
        return ev;
    }

    // Sends a text message and reads the next event (the echo, for an echo
    // endpoint).
    ws_event round_trip(std::string_view text, std::chrono::milliseconds timeout = 2s) {
        if (const auto ec = send_text(text)) {
            ws_event ev;
            ev.what = ws_event::kind::eof;
            ev.ec = ec;
            return ev;
        }
        return read_event(timeout);
    }

private:
    void check_upgrade(const std::optional<http::response>& res, std::span<const std::string> subprotocols) {
        if (!res || res->status != 101) return;
        handshake_error_ = http::validate_upgrade_response(*res, key_, subprotocols);
        upgraded_ = !handshake_error_;
    }

    static std::chrono::milliseconds remaining(test_clock::time_point deadline) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - test_clock::now());
    }

    void run_until(bool& done, std::chrono::milliseconds timeout) {
        io_.restart();
        const auto deadline = test_clock::now() + timeout;
        while (!done && test_clock::now() < deadline) {
            io_.run_one_until(deadline);
            if (io_.stopped()) break;
        }
    }

    // Cancels the operation in flight and runs its handler (with
    // operation_aborted, unless it completed meanwhile).
    void cancel_and_drain(bool& done) {
        std::error_code ignored;
        socket_.cancel(ignored);
        io_.restart();
        while (!done)
            if (io_.run_one() == 0) break;  // nothing left to run: cannot happen, but never spin
    }

    protocol::mask_key next_key() {
        const std::uint32_t v = static_cast<std::uint32_t>(rng_());
        return {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
    }

    asio::io_context io_{1};
    asio::ip::tcp::socket socket_;
    std::mt19937 rng_;
    std::vector<std::uint8_t> pending_;
    bool eof_ = false;
    std::error_code eof_ec_;
    std::string key_;
    bool upgraded_ = false;
    http::handshake_error handshake_error_{};
    protocol::message_assembler assembler_{protocol::assembler_options{role::client, 64u << 20, false}};
    bool answer_pings_ = false;
    std::size_t pings_answered_ = 0;
};

// Polls `pred` every `poll` until it holds or `timeout` passes (for state
// another thread or process sets; a longer `poll` for predicates that cost
// something, such as listing /proc/<pid>/fd).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(3),
                std::chrono::milliseconds poll = std::chrono::milliseconds(2)) {
    const auto deadline = test_clock::now() + timeout;
    while (!pred()) {
        if (test_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(poll);
    }
    return true;
}

// Whole milliseconds since `t0`, for deadlines and the figures a test reports.
inline std::chrono::milliseconds since(test_clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(test_clock::now() - t0);
}

// Runs `io` (on this thread) until `pred` holds or `timeout` passes: for
// asynchronous operations whose handlers run on the test's own io_context,
// such as wsx's client. Returns whether `pred` came to hold.
template <class Pred>
bool run_until(asio::io_context& io, Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = test_clock::now() + timeout;
    while (!pred()) {
        if (test_clock::now() >= deadline) return false;
        io.restart();
        if (io.run_one_for(10ms) == 0) std::this_thread::sleep_for(1ms);
    }
    return true;
}

inline int code_of(close_code c) { return static_cast<int>(c); }

inline std::string header(const http::response& r, std::string_view name) {
    return std::string{r.headers.get(name)};
}

} // namespace wsx::test

// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::basic_server<Transport>: accepts connections, reads each HTTP request
// under the handshake deadline, and routes it to a WebSocket endpoint (upgrade)
// or to an HTTP route, on one port.
//
// Threading: run(n) / start(n) run n I/O threads, each with its own
// io_context; every connection stays on the thread that accepted it (shared
// nothing, no locks on the hot path). With a user-supplied io_context, run that
// context on one thread (see the constructor). Register endpoints and routes
// before listen() or start(); stop() and the const members are safe from any
// thread.
//
// Lifetime: what the I/O handlers need (options, routes, acceptor, workers)
// lives in a state they share, so a handler still queued in an io_context when
// the server is destroyed finds it alive and does nothing. The destructor stops
// accepting and closes every connection at once; no handler of yours runs
// after it has returned.
#include <algorithm>
#include <any>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <asio/bind_allocator.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/signal_set.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <wsx/connection.hpp>
#include <wsx/detail/worker.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/message.hpp>
#include <wsx/http/parser.hpp>
#include <wsx/http/permessage_deflate.hpp>
#include <wsx/log.hpp>
#include <wsx/metrics.hpp>
#include <wsx/options.hpp>
#include <wsx/protocol/role.hpp>
#include <wsx/timers.hpp>
#include <wsx/transport/concept.hpp>
#include <wsx/transport/plain.hpp>
#include <wsx/typed_endpoint.hpp>

namespace wsx {

// An HTTP route: fill in the response (status 200 and an empty body to begin
// with). Runs on an I/O thread: do not block. An exception becomes a 500, and
// is reported to server_options::log (category "http").
using http_handler = std::function<void(const http::request&, http::response&)>;

namespace detail {

struct route_table {
    struct ws_route {
        endpoint ep;
        connection_options limits;
        std::size_t index = 0;  // its row in each thread's counters, in path order (set at start)
    };
    std::map<std::string, std::unique_ptr<ws_route>, std::less<>> websockets;
    std::map<std::string, http_handler, std::less<>> exact;
    std::vector<std::pair<std::string, http_handler>> prefixes;  // longest first
    // Set by wsx::http2::enable(): an http2_handoff<Transport> that takes over
    // connections that speak HTTP/2. Empty: HTTP/1.1 only.
    std::any http2;

    const ws_route* find_websocket(std::string_view path) const {
        auto it = websockets.find(path);
        return it == websockets.end() ? nullptr : it->second.get();
    }
    const http_handler* find_http(std::string_view path) const {
        if (auto it = exact.find(path); it != exact.end()) return &it->second;
        for (const auto& [pattern, handler] : prefixes) {
            // "/api/*" matches "/api" and everything below "/api/".
            const std::string_view below = std::string_view{pattern}.substr(0, pattern.size() - 1);
            const std::string_view dir = below.substr(0, below.size() - 1);
            if (path == dir || path.starts_with(below)) return &handler;
        }
        return nullptr;
    }
};

// Takes over a connection that speaks HTTP/2 (the h2c preface, or ALPN "h2"),
// with the bytes already read. Set by wsx::http2::enable (<wsx/http2.hpp>),
// so this header needs no HTTP/2 library.
template <transport::policy Transport>
using http2_handoff = std::function<void(worker&, typename Transport::stream&&, const route_table&,
                                         const server_options&, std::shared_ptr<const void>,
                                         std::span<const std::uint8_t>)>;

// RFC 9113 §3.4: a client that knows the server speaks HTTP/2 opens with this.
inline constexpr std::string_view http2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Reads HTTP requests on a fresh connection until one upgrades to WebSocket
// (the stream then moves into a basic_connection) or the connection ends.
template <transport::policy Transport>
class http_session final : public std::enable_shared_from_this<http_session<Transport>>,
                           private timed_node {
public:
    using stream_type = typename Transport::stream;

    // `keep_alive` owns `routes` and `options` (the server's shared state): a
    // session may outlive the server, until its last handler has run.
    http_session(worker& w, stream_type&& stream, const route_table& routes,
                 const server_options& options, std::shared_ptr<const void> keep_alive)
        : stream_(std::move(stream)), keep_alive_(std::move(keep_alive)), routes_(routes),
          options_(options), parser_(options.http_limits) {
        w.link(this);
        deadline_ = w.now() + w.ticks(options.handshake_timeout);
    }

    void start() {
        stream_.async_handshake(role::server, [self = this->shared_from_this()](std::error_code ec) {
            if (ec) {
                self->report_handshake_failure(ec);
                return self->finish();
            }
            if (self->chose_http2()) return;
            self->wait_readable();
        });
    }

private:
    // Only a TLS transport's handshake can fail. A peer that leaves during it
    // (a port check, a client that gave up) is routine: debug. Anything else
    // (a plain-text client on a TLS port, no common protocol version, a
    // refused client certificate) says something is misconfigured: warning.
    void report_handshake_failure(std::error_code ec) {
        worker* w = owner();
        if (done_ || !w) return;  // stop() or the deadline closed it: not a failure
        const bool left = ec == asio::error::eof || ec == asio::error::connection_reset ||
                          ec == asio::error::broken_pipe;
        const asio::ip::tcp::endpoint remote = stream_.remote_endpoint();
        w->log(left ? log_level::debug : log_level::warning, "tls",
               "handshake with " + remote.address().to_string() + ":" +
                   std::to_string(remote.port()) + " failed: " + ec.message());
    }

    // Says which route threw what, for server_options::log.
    void report_exception(std::string_view what_ran, std::string_view path) {
        worker* w = owner();
        if (!w) return;
        std::string line{what_ran};
        line += " for ";
        line += parser_.get().method;
        line += ' ';
        line += path;
        line += " threw";
        try {
            throw;
        } catch (const std::exception& e) {
            line += ": ";
            line += e.what();
        } catch (...) {
            line += " an exception that is not a std::exception";
        }
        w->log(log_level::error, "http", line + "; answered 500");
    }

    void wait_readable() {
        if (done_) return;
        stream_.async_wait_readable([self = this->shared_from_this()](std::error_code ec) {
            self->on_readable(ec);
        });
    }

    void on_readable(std::error_code ec) {
        if (done_) return;
        if (ec || !owner()) return finish();
        const std::span<std::uint8_t> buffer = owner()->read_buffer();
        // Read until the socket is drained, but give the thread's other
        // connections (and the deadline sweep) a turn after a few full buffers:
        // a peer that streams bytes faster than we discard them must not
        // monopolise the thread.
        for (int round = 0; round < max_read_rounds; ++round) {
            std::error_code rec;
            const std::size_t n = stream_.read_some(asio::buffer(buffer.data(), buffer.size()), rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again) return wait_readable();
            if (rec || n == 0) return finish();  // the peer left (or answered our FIN)
            if (draining_) continue;             // after an error response: discard until EOF
            if (!handle_bytes(buffer.first(n))) return;
        }
        asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->on_readable({}); });
    }

    static constexpr int max_read_rounds = 8;

    // Feeds bytes to the parser. Returns false once the session has handed the
    // stream over, or has a write in flight (reading resumes after it).
    bool handle_bytes(std::span<std::uint8_t> bytes) {
        const std::string_view text{reinterpret_cast<const char*>(bytes.data()), bytes.size()};
        // h2c with prior knowledge (RFC 9113 §3.3): the first bytes are the
        // preface, which may arrive in pieces.
        if (first_bytes_) {
            if (auto* h2 = std::any_cast<http2_handoff<Transport>>(&routes_.http2)) {
                if (!preface_seen_.empty()) {
                    preface_seen_.append(text);
                    return handle_preface(*h2, preface_seen_);
                }
                if (text.size() < http2_preface.size() && http2_preface.starts_with(text)) {
                    preface_seen_.assign(text);
                    return true;
                }
                if (text.starts_with(http2_preface)) {
                    hand_to_http2(*h2, bytes);
                    return false;
                }
            }
        }
        first_bytes_ = false;
        const std::size_t used = parser_.feed(text);
        switch (parser_.status()) {
        case http::parse_status::need_more:
            // RFC 7231 §5.1.1: a client that asked "Expect: 100-continue" waits
            // for this before sending the body; answer, then read on.
            if (!continue_sent_ && parser_.awaiting_body() &&
                http::iequals(parser_.get().headers.get("Expect"), "100-continue")) {
                continue_sent_ = true;
                send_continue();
                return false;
            }
            return true;
        case http::parse_status::error:
            respond_error(parser_.error_status(), parser_.error_message());
            return false;
        case http::parse_status::complete: break;
        }
        return handle_request(bytes.subspan(used));
    }

    bool handle_request(std::span<std::uint8_t> rest) {
        http::request& req = parser_.get();
        const std::string_view path = req.path();
        const route_table::ws_route* ws = routes_.find_websocket(path);
        if (ws && http::is_websocket_upgrade(req)) {
            upgrade(req, *ws, rest);
            return false;
        }
        if (const http_handler* h = routes_.find_http(path)) {
            // Routes may decide by peer (the REST hook serves only loopback
            // peers unless it has a token).
            req.remote_address = stream_.remote_endpoint().address().to_string();
            http::response res;
            try {
                (*h)(req, res);
            } catch (...) {  // any exception, as documented on http_handler
                report_exception("handler", path);
                res = http::make_error_response(500, "internal error");
            }
            const bool keep = req.keep_alive() && !res.headers.has_token("Connection", "close");
            if (!keep) res.headers.set("Connection", "close");
            if (req.method == "HEAD") {
                res.headers.set("Content-Length", std::to_string(res.body.size()));
                res.body.clear();
            }
            pending_in_.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
            write_response(res, keep);
            return false;
        }
        if (ws)
            respond_error(400, "this path only accepts WebSocket upgrades (Upgrade: websocket)");
        else
            refuse_upgrade(http::is_websocket_upgrade(req), 404, "no route for this path");
        return false;
    }

    void upgrade(http::request& req, const route_table::ws_route& route,
                 std::span<std::uint8_t> early) {
        if (const auto err = http::validate_upgrade_request(req))
            return refuse_upgrade(true, err.status, err.what);
        const asio::ip::tcp::endpoint remote = stream_.remote_endpoint();
        upgrade_context ctx{req, remote};
        ctx.subprotocol = std::string{http::select_subprotocol(req, route.ep.subprotocols)};
        if (route.ep.on_upgrade) {
            try {
                route.ep.on_upgrade(ctx);
            } catch (...) {
                report_exception("on_upgrade", req.path());
                return refuse_upgrade(true, 500, "internal error");
            }
            if (ctx.rejected())
                return refuse_upgrade(true, ctx.rejected_status(), ctx.rejected_message());
        }
        // RFC 7692 §7.1: permessage-deflate, when this endpoint has a codec
        // and the client offered something we can honour.
        std::optional<http::deflate_agreement> pmd;
        if (route.limits.deflate.enabled())
            pmd = http::negotiate_permessage_deflate(req.headers, route.limits.deflate.preferences());
        http::response res = http::make_upgrade_response(
            req, ctx.subprotocol, pmd ? std::string_view{pmd->response} : std::string_view{});
        for (const auto& [name, value] : ctx.response_headers) res.headers.add(name, value);
        const std::string preface = http::to_string(res);

        worker& w = *owner();
        done_ = true;
        w.unlink(this);
        connection_info info{std::string{req.path()}, std::move(ctx.subprotocol),
                             std::move(ctx.user), std::move(ctx.user_data), remote};
        if (pmd) info.deflate = pmd->config;
        info.endpoint_index = route.index;
        basic_connection<Transport>::open(w, std::move(stream_), route.ep, route.limits,
                                          role::server, std::move(info), preface, early);
    }

    // An error answer, counted as a refused WebSocket handshake (wsx/metrics.hpp)
    // when the request asked for one.
    void refuse_upgrade(bool handshake, int status, std::string_view what) {
        if (worker* w = owner(); w && handshake) w->metrics().refused(static_cast<std::uint16_t>(status));
        respond_error(status, what);
    }

    // Over TLS, ALPN may have chosen h2 (RFC 9113 §3.2): the connection
    // speaks HTTP/2 from its first byte.
    bool chose_http2() {
        if constexpr (requires(stream_type& s) { s.alpn_protocol(); }) {
            if (stream_.alpn_protocol() != "h2" || done_ || !owner()) return false;
            if (auto* h2 = std::any_cast<http2_handoff<Transport>>(&routes_.http2)) {
                hand_to_http2(*h2, {});
                return true;
            }
        }
        return false;
    }

    // The start of the preface came in an earlier read; `seen` is all so far.
    bool handle_preface(const http2_handoff<Transport>& h2, std::string& seen) {
        if (seen.size() < http2_preface.size() && http2_preface.starts_with(seen)) return true;
        std::string bytes = std::move(seen);
        seen.clear();
        first_bytes_ = false;
        if (bytes.starts_with(http2_preface)) {
            hand_to_http2(h2, {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
            return false;
        }
        // Not HTTP/2 after all: the HTTP/1.1 parser gets every byte.
        const std::span<std::uint8_t> buffer = owner()->read_buffer();
        if (bytes.size() > buffer.size()) return respond_error(400, "bad request"), false;
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buffer.data()));
        return handle_bytes(buffer.first(bytes.size()));
    }

    void hand_to_http2(const http2_handoff<Transport>& h2, std::span<const std::uint8_t> early) {
        worker& w = *owner();
        done_ = true;
        w.unlink(this);
        h2(w, std::move(stream_), routes_, options_, keep_alive_, early);
    }

    void respond_error(int status, std::string_view what) {
        http::response res = http::make_error_response(status, what);
        if (parser_.get().method == "HEAD") {  // RFC 7231 §4.3.2: a GET's headers, no body
            res.headers.set("Content-Length", std::to_string(res.body.size()));
            res.body.clear();
        }
        write_response(res, false);
    }

    void write_response(const http::response& res, bool keep_alive) {
        out_.clear();
        http::serialize(res, out_);
        bufs_.assign(1, asio::buffer(out_));
        // A large response to a slow reader may take longer than a request
        // may: allow the longer of the handshake and idle timeouts to write it.
        if (worker* w = owner())
            deadline_ = w->now() + w->ticks(std::max(options_.handshake_timeout,
                                                     options_.websocket.idle_timeout));
        stream_.async_write(bufs_, [self = this->shared_from_this(), keep_alive](
                                       std::error_code ec, std::size_t) {
            // stop() or the deadline may have closed the session after the
            // write had completed: its owner is gone, there is nothing to do.
            if (self->done_) return;
            if (ec) return self->finish();
            if (keep_alive) return self->next_request();
            // Lingering close: FIN, then read until the peer closes, so our
            // response is not destroyed by a reset (RFC 7230 §6.6).
            self->draining_ = true;
            if (worker* w = self->owner())
                self->deadline_ = w->now() + w->ticks(self->options_.handshake_timeout);
            self->stream_.async_shutdown([self](std::error_code) { self->wait_readable(); });
        });
    }

    void send_continue() {
        static constexpr std::string_view interim = "HTTP/1.1 100 Continue\r\n\r\n";
        bufs_.assign(1, asio::buffer(interim));
        stream_.async_write(bufs_, [self = this->shared_from_this()](std::error_code ec, std::size_t) {
            if (self->done_) return;
            if (ec) return self->finish();
            self->wait_readable();
        });
    }

    void next_request() {
        parser_.reset();
        continue_sent_ = false;
        if (worker* w = owner()) deadline_ = w->now() + w->ticks(options_.handshake_timeout);
        std::string pending = std::move(pending_in_);
        pending_in_.clear();
        if (!pending.empty()) {
            // Pipelined bytes: copy into the thread buffer and handle them first.
            const std::span<std::uint8_t> buffer = owner()->read_buffer();
            if (pending.size() > buffer.size()) return respond_error(400, "pipelined data too large");
            std::copy(pending.begin(), pending.end(), reinterpret_cast<char*>(buffer.data()));
            if (!handle_bytes(buffer.first(pending.size()))) return;
        }
        wait_readable();
    }

    void on_tick(std::uint32_t now) override {
        if (static_cast<std::int32_t>(now - deadline_) >= 0) finish();
    }
    void on_stop(bool) override { finish(); }

    void finish() {
        if (done_) return;
        done_ = true;
        if (worker* w = owner()) w->unlink(this);
        stream_.close();
    }

    stream_type stream_;
    std::shared_ptr<const void> keep_alive_;
    const route_table& routes_;
    const server_options& options_;
    http::request_parser parser_;
    std::string out_;
    std::string pending_in_;
    std::vector<asio::const_buffer> bufs_;
    std::uint32_t deadline_ = 0;
    bool done_ = false;
    bool draining_ = false;
    bool continue_sent_ = false;
    bool first_bytes_ = true;
    std::string preface_seen_;  // the start of an HTTP/2 preface split across reads
};

// Allocates with plain new and delete, bypassing Asio's per-thread cache of
// operation blocks. Asio hands a cached block to any later operation it fits:
// an accept's block (the largest of a connection's operations) would become
// the next connection's pending wait, twice that wait's size, and stay pinned
// for as long as the connection is idle.
template <class T>
struct uncached_allocator {
    using value_type = T;
    uncached_allocator() = default;
    template <class U>
    uncached_allocator(const uncached_allocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>{}.deallocate(p, n); }
    template <class U>
    bool operator==(const uncached_allocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const uncached_allocator<U>&) const noexcept { return false; }
};

// What a server's I/O handlers use, shared with them: a handler still queued
// in an io_context (the user's, or an owned one during teardown) keeps it
// alive, so it never touches a destroyed server. Members are used on the
// first slot's thread once started, except where noted.
template <transport::policy Transport>
class server_state final : public std::enable_shared_from_this<server_state<Transport>> {
public:
    struct slot {
        std::unique_ptr<asio::io_context> owned;
        asio::io_context* ctx = nullptr;
        std::unique_ptr<worker> w;
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    };

    server_state(server_options o, typename Transport::context c, asio::io_context* external)
        : options(std::move(o)), transport_context(std::move(c)), external(external) {}

    // Before start: adds slots until there are n (one io_context and one
    // worker each; a user io_context has exactly one).
    void grow(std::size_t n) {
        while (slots.size() < n) {
            slot& s = slots.emplace_back();
            if (external) {
                s.ctx = external;
            } else {
                s.owned = std::make_unique<asio::io_context>(1);
                s.ctx = s.owned.get();
                s.guard.emplace(s.ctx->get_executor());
            }
            s.w = std::make_unique<worker>(*s.ctx, options.timer_resolution);
            s.w->set_log(&options.log);
            // Per-io_context state of the transport (plain TCP's epoll set on
            // Linux) is made now: the server's own descriptors exist before it serves.
            if constexpr (requires { Transport::prepare(*s.ctx); }) Transport::prepare(*s.ctx);
        }
    }

    void log(log_level level, std::string_view category, std::string_view message) const noexcept {
        dispatch_log(&options.log, level, category, message);
    }

    // Any thread. Each slot stops on its own thread.
    void stop() {
        if (!started.load() || stopping.exchange(true)) return;
        timers.stop();
        for (std::size_t i = 0; i < slots.size(); ++i) {
            asio::post(*slots[i].ctx, [st = this->shared_from_this(), i] {
                slot& s = st->slots[i];
                if (i == 0) st->stop_accepting();
                if (s.w) s.w->stop(st->options.stop_timeout);
                s.guard.reset();
            });
        }
    }

    void accept() {
        if (stopping.load() || !acceptor) return;
        const std::size_t target = next_slot;
        next_slot = (next_slot + 1) % slots.size();
        acceptor->async_accept(*slots[target].ctx,
                               asio::bind_allocator(uncached_allocator<void>{},
                                                    [st = this->shared_from_this(), target](
                                                        std::error_code ec, transport::tcp_socket socket) {
                                                        st->on_accept(ec, std::move(socket), target);
                                                    }));
    }

    // The server is being destroyed (its threads, if any, have ended; with a
    // user io_context, on the thread that runs it or while it is not running):
    // stop accepting, close every session and connection now (their on_close
    // runs before this returns), and, for owned io_contexts, drop the
    // handlers they still hold, which may refer to this state.
    void shutdown() {
        stopping.store(true);
        timers.stop();
        stop_accepting();
        acceptor.reset();
        retry_timer.reset();
        signals.reset();
        for (auto& s : slots) {
            s.guard.reset();
            s.w.reset();  // force-closes what is still linked to it
        }
        for (auto& s : slots) s.owned.reset();
    }

    server_options options;
    typename Transport::context transport_context;
    asio::io_context* const external;
    route_table routes;
    std::vector<slot> slots;  // fixed once started
    // On the io_context's executor, as the sockets it accepts (transport::tcp_socket):
    // a smaller accept operation, whose recycled block a connection's wait reuses.
    using acceptor_type = asio::basic_socket_acceptor<asio::ip::tcp, asio::io_context::executor_type>;
    std::unique_ptr<acceptor_type> acceptor;
    std::unique_ptr<asio::steady_timer> retry_timer;
    std::unique_ptr<asio::signal_set> signals;
    std::size_t next_slot = 0;
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};
    timer_set timers;  // after() and every(): on the first slot's thread

    // How long accept waits after a failure before trying again.
    static constexpr std::chrono::milliseconds accept_retry_delay{50};

private:
    void stop_accepting() {
        std::error_code ec;
        if (acceptor) acceptor->close(ec);
        if (retry_timer) retry_timer->cancel();
        if (signals) signals->cancel(ec);
    }

    void on_accept(std::error_code ec, transport::tcp_socket socket, std::size_t target) {
        if (ec == asio::error::operation_aborted || stopping.load()) return;
        if (ec) {
            // Out of file descriptors (EMFILE, ENFILE), of buffers, or similar:
            // the connection stays in the backlog. Say so, back off briefly
            // instead of spinning, and keep serving the connections we have.
            log(log_level::error, "accept",
                "accept failed: " + ec.message() + "; retrying in " +
                    std::to_string(accept_retry_delay.count()) + " ms");
            if (!retry_timer) retry_timer = std::make_unique<asio::steady_timer>(*slots.front().ctx);
            retry_timer->expires_after(accept_retry_delay);
            retry_timer->async_wait([st = this->shared_from_this()](std::error_code e) {
                if (!e) st->accept();
            });
            return;
        }
        asio::post(*slots[target].ctx,
                   asio::bind_allocator(uncached_allocator<void>{}, [st = this->shared_from_this(), target,
                                                                     s = std::move(socket)]() mutable {
            worker* w = st->slots[target].w.get();
            if (st->stopping.load() || !w) return;
            auto session = std::make_shared<http_session<Transport>>(
                *w, typename Transport::stream(std::move(s), st->transport_context), st->routes,
                st->options, st);
            session->start();
        }));
        accept();
    }
};

} // namespace detail

template <transport::policy Transport>
class basic_server {
public:
    using transport_type = Transport;
    using context_type = typename Transport::context;
    using connection_type = basic_connection<Transport>;

    explicit basic_server(server_options options = {}, context_type context = {})
        : state_(std::make_shared<state>(std::move(options), std::move(context), nullptr)) {}

    // Runs on the caller's io_context, which the caller runs on one thread.
    // One thread, because a server thread's worker (its read buffer, cork
    // buffer and deadline sweep, shared by every connection on it) has no lock:
    // two threads running the context would run two connections' handlers on
    // it at once. For more threads, let the server own them (run(n)/start(n)).
    // Destroy the server on the thread that runs `io`, or while `io` is not
    // running; `io` may be run (or destroyed) after the server is gone.
    basic_server(asio::io_context& io, server_options options = {}, context_type context = {})
        : state_(std::make_shared<state>(std::move(options), std::move(context), &io)) {}

    basic_server(const basic_server&) = delete;
    basic_server& operator=(const basic_server&) = delete;

    ~basic_server() {
        stop();
        join();
        state_->shutdown();
    }

    // A WebSocket endpoint at an exact path ("/", "/chat"). Before listen() or
    // start(): open connections refer to their route, which must not change.
    void websocket(std::string path, endpoint ep) {
        check_routes_open();
        auto route = std::make_unique<detail::route_table::ws_route>();
        route->limits = ep.limits.value_or(state_->options.websocket);
        route->ep = std::move(ep);
        state_->routes.websockets[std::move(path)] = std::move(route);
    }

    // A WebSocket endpoint whose handlers receive a State made for each
    // connection (see wsx/typed_endpoint.hpp): srv.websocket<State>(path, {...}).
    template <class State>
    void websocket(std::string path, typed_endpoint<State> ep) {
        websocket(std::move(path), std::move(ep).to_endpoint());
    }

    // An HTTP route at an exact path, or under a prefix when `path` ends in
    // "/*" ("/api/*" serves "/api" and "/api/anything"). A path may have both a
    // WebSocket endpoint and an HTTP route: upgrades go to the endpoint.
    // Before listen() or start(), as websocket().
    void http(std::string path, http_handler handler) {
        check_routes_open();
        detail::route_table& routes = state_->routes;
        if (path.size() >= 2 && path.ends_with("/*")) {
            routes.prefixes.emplace_back(std::move(path), std::move(handler));
            std::stable_sort(routes.prefixes.begin(), routes.prefixes.end(),
                             [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
        } else {
            routes.exact[std::move(path)] = std::move(handler);
        }
    }

    // Lets wsx::http2::enable() take over the connections that speak HTTP/2;
    // call that rather than this. Before listen() or start(), as websocket().
    void set_http2_handoff(detail::http2_handoff<Transport> handoff) {
        check_routes_open();
        state_->routes.http2 = std::move(handoff);
    }

    // Binds and listens now (start and run call it if you have not). Throws
    // std::system_error saying which address failed and why (port in use...).
    // The number of threads is decided by run()/start(), not here.
    void listen() {
        state& st = *state_;
        if (st.acceptor) return;
        check_threads(st.options.threads);
        st.grow(1);
        asio::io_context& io = *st.slots.front().ctx;
        std::error_code ec;
        const auto address = asio::ip::make_address(st.options.host, ec);
        if (ec)
            throw std::system_error(ec, "wsx: bad listen address '" + st.options.host + "'");
        const asio::ip::tcp::endpoint ep{address, st.options.port};
        auto acceptor = std::make_unique<typename state::acceptor_type>(io);
        acceptor->open(ep.protocol());
        acceptor->set_option(asio::socket_base::reuse_address(true));
        acceptor->bind(ep, ec);
        if (ec)
            throw std::system_error(ec, "wsx: cannot listen on " + st.options.host + ":" +
                                            std::to_string(st.options.port));
        acceptor->listen(st.options.listen_backlog);
        port_ = acceptor->local_endpoint().port();
        st.acceptor = std::move(acceptor);
    }

    // The port the server listens on (useful with port 0).
    std::uint16_t port() const noexcept { return port_; }
    // options().threads is the number of threads the server runs (or will run).
    const server_options& options() const noexcept { return state_->options; }
    context_type& transport_context() noexcept { return state_->transport_context; }

    // Starts accepting and blocks, serving on `threads` threads (the calling
    // one included) until stop(). 0 means options().threads. With a user
    // io_context it only starts accepting and returns: run that context.
    void run(unsigned threads = 0) {
        start_threads(threads, true);
        join();
    }

    // Starts accepting on background threads and returns. With a user-supplied
    // io_context it only starts accepting: run that context yourself.
    void start(unsigned threads = 0) { start_threads(threads, false); }

    // Stops accepting and closes every connection with 1001; connections still
    // open after options().stop_timeout are dropped. Safe from any thread and
    // from handlers. Returns at once; run() returns (or join() does) when done.
    void stop() { state_->stop(); }

    // Makes SIGINT and SIGTERM call stop(), for servers that run until killed.
    // Call before run() or start().
    void stop_on_signals() { stop_on_signals_ = true; }

    // Waits for the background threads started by start().
    void join() {
        for (auto& t : threads_)
            if (t.get_id() == std::this_thread::get_id())
                throw std::logic_error("wsx: join() called from one of the server's own threads "
                                       "would wait for itself; call stop() there instead");
        for (auto& t : threads_)
            if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
        threads_.clear();
    }

    // The executor of the server's first I/O thread, the one after() and
    // every() run on: post work there to run beside the connections, or
    // co_spawn a coroutine on it. Call it before start() from the thread that
    // sets the server up, or from any thread once started.
    asio::io_context::executor_type executor() {
        state_->grow(1);
        return state_->slots.front().ctx->get_executor();
    }

    // Runs `fn` once on the server's first I/O thread after `delay`, or every
    // `interval` from one interval from now, until the handle cancels it or the
    // server stops: no timer function starts after stop() (nor, before
    // start(), until the server runs). `fn` must not block; what it throws is
    // reported to options().log (category "timer") and a repeating timer
    // carries on. Any thread once started; before start(), from the thread
    // that sets the server up (as executor()).
    timer_handle after(std::chrono::steady_clock::duration delay, std::function<void()> fn) {
        state_->grow(1);
        return state_->timers.add(*state_->slots.front().ctx, delay, {}, std::move(fn),
                                  state_->options.log);
    }
    timer_handle every(std::chrono::steady_clock::duration interval, std::function<void()> fn) {
        if (interval <= std::chrono::steady_clock::duration::zero())
            throw std::invalid_argument("wsx: every() needs an interval above zero");
        state_->grow(1);
        return state_->timers.add(*state_->slots.front().ctx, interval, interval, std::move(fn),
                                  state_->options.log);
    }

    // Open connections and pending HTTP sessions, summed over all threads
    // (approximate while they change).
    std::size_t session_count() const noexcept {
        std::size_t n = 0;
        for (const auto& s : state_->slots) n += s.w ? s.w->size() : 0;
        return n;
    }

    // The counters of every I/O thread, summed (wsx/metrics.hpp): a snapshot,
    // safe from any thread once started (all zero before). GET /metrics
    // renders it (wsx/metrics_endpoint.hpp).
    server_metrics metrics() const {
        server_metrics m;
        for (const auto& [path, route] : state_->routes.websockets) m.endpoints.push_back({path, 0, 0});
        if (!state_->started.load()) return m;
        for (const auto& s : state_->slots)
            if (s.w) s.w->metrics().sum_into(m);
        return m;
    }

private:
    using state = detail::server_state<Transport>;

    void check_routes_open() const {
        if (state_->acceptor || state_->started.load())
            throw std::logic_error(
                "wsx: register routes before listen()/start(): open connections refer to "
                "their route, so the route table is fixed once the server listens");
    }

    // A user io_context is served by one thread (see its constructor).
    void check_threads(unsigned n) const {
        if (state_->external && n > 1)
            throw std::logic_error(
                "wsx: a server on your io_context runs on that context's one thread, but " +
                std::to_string(n) +
                " threads were asked for (options.threads or run(n)/start(n)); let the server "
                "own its threads (construct it without an io_context) to use more");
    }

    void start_threads(unsigned threads, bool use_caller) {
        state& st = *state_;
        if (st.started.load()) throw std::logic_error("wsx: server already started");
        // One source of truth: the count asked for here, else options.threads;
        // options().threads then says what runs. listen() made only the first
        // thread's context, so asking for n here is honoured after it too.
        const unsigned n = std::max(1u, threads ? threads : st.options.threads);
        check_threads(n);
        st.options.threads = n;
        listen();
        st.grow(n);
        // The routes are fixed now: give each endpoint its row in every
        // thread's counters, before any connection can count into them.
        std::size_t rows = 0;
        for (auto& route : st.routes.websockets) route.second->index = rows++;
        for (auto& s : st.slots) s.w->metrics().set_endpoints(rows);
        st.started.store(true);
        if (stop_on_signals_) {
            st.signals = std::make_unique<asio::signal_set>(*st.slots.front().ctx, SIGINT, SIGTERM);
            st.signals->async_wait([weak = std::weak_ptr<state>(state_)](std::error_code ec, int) {
                if (auto s = weak.lock(); s && !ec) s->stop();
            });
        }
        asio::post(*st.slots.front().ctx, [s = state_] { s->accept(); });
        if (st.external) return;
        const std::size_t spawned = use_caller ? st.slots.size() - 1 : st.slots.size();
        for (std::size_t i = 0; i < spawned; ++i) {
            asio::io_context* io = st.slots[st.slots.size() - spawned + i].ctx;
            threads_.emplace_back([io] { io->run(); });
        }
        if (use_caller) st.slots.front().ctx->run();
    }

    std::shared_ptr<state> state_;
    bool stop_on_signals_ = false;
    std::vector<std::thread> threads_;
    std::uint16_t port_ = 0;
};

// The plain-TCP (ws://) server. wsx::tls_server comes with transport/tls.hpp.
using server = basic_server<transport::plain>;

} // namespace wsx

// Separate compilation (wsx/impl/src.hpp): with WSX_SEPARATE_COMPILATION the
// server's instantiations are compiled once, in the unit that includes
// <wsx/impl/src.hpp>, and only declared here.
#if defined(WSX_SEPARATE_COMPILATION)
namespace wsx {
namespace detail {
extern template class http_session<transport::plain>;
extern template class server_state<transport::plain>;
} // namespace detail
extern template class basic_server<transport::plain>;
} // namespace wsx
#if defined(WSX_SEPARATE_COMPILATION_TLS)
#include <wsx/transport/tls.hpp>
namespace wsx {
namespace detail {
extern template class http_session<transport::tls>;
extern template class server_state<transport::tls>;
} // namespace detail
extern template class basic_server<transport::tls>;
} // namespace wsx
#endif
#endif

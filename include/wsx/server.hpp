#pragma once
// wsx::basic_server<Transport>: accepts connections, reads each HTTP request
// under the handshake deadline, and routes it to a WebSocket endpoint (upgrade)
// or to an HTTP route, on one port.
//
// Threading: run(n) / start(n) run n I/O threads, each with its own
// io_context; every connection stays on the thread that accepted it (shared
// nothing, no locks on the hot path). With a user-supplied io_context, run that
// context on one thread. Register endpoints and routes before starting; stop()
// and the const members are safe from any thread.
#include <algorithm>
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
#include <wsx/options.hpp>
#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>
#include <wsx/transport/plain.hpp>

namespace wsx {

// An HTTP route: fill in the response (status 200 and an empty body to begin
// with). Runs on an I/O thread: do not block. An exception becomes a 500.
using http_handler = std::function<void(const http::request&, http::response&)>;

namespace detail {

struct route_table {
    struct ws_route {
        endpoint ep;
        connection_options limits;
    };
    std::map<std::string, std::unique_ptr<ws_route>, std::less<>> websockets;
    std::map<std::string, http_handler, std::less<>> exact;
    std::vector<std::pair<std::string, http_handler>> prefixes;  // longest first

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

// Reads HTTP requests on a fresh connection until one upgrades to WebSocket
// (the stream then moves into a basic_connection) or the connection ends.
template <transport::policy Transport>
class http_session final : public std::enable_shared_from_this<http_session<Transport>>,
                           private timed_node {
public:
    using stream_type = typename Transport::stream;

    http_session(worker& w, stream_type&& stream, const route_table& routes,
                 const server_options& options)
        : stream_(std::move(stream)), routes_(routes), options_(options),
          parser_(options.http_limits) {
        w.link(this);
        deadline_ = w.now() + w.ticks(options.handshake_timeout);
    }

    void start() {
        stream_.async_handshake(role::server, [self = this->shared_from_this()](std::error_code ec) {
            if (ec) return self->finish();
            self->wait_readable();
        });
    }

private:
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
            respond_error(404, "no route for this path");
        return false;
    }

    void upgrade(http::request& req, const route_table::ws_route& route,
                 std::span<std::uint8_t> early) {
        if (const auto err = http::validate_upgrade_request(req))
            return respond_error(err.status, err.what);
        const asio::ip::tcp::endpoint remote = stream_.remote_endpoint();
        upgrade_context ctx{req, remote};
        ctx.subprotocol = std::string{http::select_subprotocol(req, route.ep.subprotocols)};
        if (route.ep.on_upgrade) {
            try {
                route.ep.on_upgrade(ctx);
            } catch (...) {
                return respond_error(500, "internal error");
            }
            if (ctx.rejected()) return respond_error(ctx.rejected_status(), ctx.rejected_message());
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
        basic_connection<Transport>::open(w, std::move(stream_), route.ep, route.limits,
                                          role::server, std::move(info), preface, early);
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
};

} // namespace detail

template <transport::policy Transport>
class basic_server {
public:
    using transport_type = Transport;
    using context_type = typename Transport::context;
    using connection_type = basic_connection<Transport>;

    explicit basic_server(server_options options = {}, context_type context = {})
        : options_(std::move(options)), transport_context_(std::move(context)) {}

    // Runs on the caller's io_context (which the caller runs, on one thread).
    basic_server(asio::io_context& io, server_options options = {}, context_type context = {})
        : options_(std::move(options)), transport_context_(std::move(context)), external_(&io) {}

    basic_server(const basic_server&) = delete;
    basic_server& operator=(const basic_server&) = delete;

    ~basic_server() {
        stop();
        join();
        // Asio objects before their io_contexts; workers before io_contexts too,
        // since handlers the contexts still hold may refer to sessions.
        retry_timer_.reset();
        signals_.reset();
        acceptor_.reset();
        for (auto& s : slots_) s.w.reset();
        slots_.clear();
    }

    // A WebSocket endpoint at an exact path ("/", "/chat").
    void websocket(std::string path, endpoint ep) {
        auto route = std::make_unique<detail::route_table::ws_route>();
        route->limits = ep.limits.value_or(options_.websocket);
        route->ep = std::move(ep);
        routes_.websockets[std::move(path)] = std::move(route);
    }

    // An HTTP route at an exact path, or under a prefix when `path` ends in
    // "/*" ("/api/*" serves "/api" and "/api/anything"). A path may have both a
    // WebSocket endpoint and an HTTP route: upgrades go to the endpoint.
    void http(std::string path, http_handler handler) {
        if (path.size() >= 2 && path.ends_with("/*")) {
            routes_.prefixes.emplace_back(std::move(path), std::move(handler));
            std::stable_sort(routes_.prefixes.begin(), routes_.prefixes.end(),
                             [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
        } else {
            routes_.exact[std::move(path)] = std::move(handler);
        }
    }

    // Binds and listens now (start and run call it if you have not). Throws
    // std::system_error saying which address failed and why (port in use...).
    void listen() {
        if (acceptor_) return;
        make_slots(options_.threads ? options_.threads : 1);
        asio::io_context& io = *slots_.front().ctx;
        std::error_code ec;
        const auto address = asio::ip::make_address(options_.host, ec);
        if (ec)
            throw std::system_error(ec, "wsx: bad listen address '" + options_.host + "'");
        const asio::ip::tcp::endpoint ep{address, options_.port};
        auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(io);
        acceptor->open(ep.protocol());
        acceptor->set_option(asio::socket_base::reuse_address(true));
        acceptor->bind(ep, ec);
        if (ec)
            throw std::system_error(ec, "wsx: cannot listen on " + options_.host + ":" +
                                            std::to_string(options_.port));
        acceptor->listen(options_.listen_backlog);
        port_ = acceptor->local_endpoint().port();
        acceptor_ = std::move(acceptor);
    }

    // The port the server listens on (useful with port 0).
    std::uint16_t port() const noexcept { return port_; }
    const server_options& options() const noexcept { return options_; }
    context_type& transport_context() noexcept { return transport_context_; }

    // Starts accepting and blocks, serving on `threads` threads (the calling
    // one included) until stop(). 0 means options().threads.
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
    void stop() {
        if (!started_.load() || stopping_.exchange(true)) return;
        for (auto& s : slots_) {
            asio::post(*s.ctx, [this, &s] {
                if (&s == &slots_.front() && acceptor_) {
                    std::error_code ec;
                    acceptor_->close(ec);
                    retry_timer_.reset();
                    if (signals_) signals_->cancel(ec);
                }
                s.w->stop(options_.stop_timeout);
                s.guard.reset();
            });
        }
    }

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

    // Open connections and pending HTTP sessions, summed over all threads
    // (approximate while they change).
    std::size_t session_count() const noexcept {
        std::size_t n = 0;
        for (const auto& s : slots_) n += s.w ? s.w->size() : 0;
        return n;
    }

private:
    struct slot {
        std::unique_ptr<asio::io_context> owned;
        asio::io_context* ctx = nullptr;
        std::unique_ptr<detail::worker> w;
        std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    };

    void make_slots(unsigned n) {
        if (!slots_.empty()) return;
        if (external_) n = 1;
        slots_.resize(n);
        for (auto& s : slots_) {
            if (external_) {
                s.ctx = external_;
            } else {
                s.owned = std::make_unique<asio::io_context>(1);
                s.ctx = s.owned.get();
                s.guard.emplace(s.ctx->get_executor());
            }
            s.w = std::make_unique<detail::worker>(*s.ctx, options_.timer_resolution);
        }
    }

    void start_threads(unsigned threads, bool use_caller) {
        if (threads && slots_.empty()) options_.threads = threads;
        listen();
        if (started_.exchange(true)) throw std::logic_error("wsx: server already started");
        if (stop_on_signals_) {
            signals_ = std::make_unique<asio::signal_set>(*slots_.front().ctx, SIGINT, SIGTERM);
            signals_->async_wait([this](std::error_code ec, int) {
                if (!ec) stop();
            });
        }
        asio::post(*slots_.front().ctx, [this] { accept(); });
        if (external_) return;
        const std::size_t spawned = use_caller ? slots_.size() - 1 : slots_.size();
        for (std::size_t i = 0; i < spawned; ++i) {
            asio::io_context* io = slots_[slots_.size() - spawned + i].ctx;
            threads_.emplace_back([io] { io->run(); });
        }
        if (use_caller) slots_.front().ctx->run();
    }

    void accept() {
        if (stopping_.load() || !acceptor_) return;
        slot& target = slots_[next_slot_];
        next_slot_ = (next_slot_ + 1) % slots_.size();
        acceptor_->async_accept(*target.ctx, [this, &target](std::error_code ec,
                                                             asio::ip::tcp::socket socket) {
            if (ec == asio::error::operation_aborted || stopping_.load()) return;
            if (ec) {
                // Out of file descriptors or similar: back off briefly instead
                // of spinning, and keep serving the connections we have.
                retry_timer_ = std::make_unique<asio::steady_timer>(*slots_.front().ctx);
                retry_timer_->expires_after(std::chrono::milliseconds(50));
                retry_timer_->async_wait([this](std::error_code e) {
                    if (!e) accept();
                });
                return;
            }
            asio::post(*target.ctx, [this, &target, s = std::move(socket)]() mutable {
                if (stopping_.load()) return;
                auto session = std::make_shared<detail::http_session<Transport>>(
                    *target.w, typename Transport::stream(std::move(s), transport_context_),
                    routes_, options_);
                session->start();
            });
            accept();
        });
    }

    server_options options_;
    context_type transport_context_;
    asio::io_context* external_ = nullptr;
    detail::route_table routes_;
    std::vector<slot> slots_;
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
    std::unique_ptr<asio::steady_timer> retry_timer_;
    std::unique_ptr<asio::signal_set> signals_;
    bool stop_on_signals_ = false;
    std::vector<std::thread> threads_;
    std::size_t next_slot_ = 0;
    std::uint16_t port_ = 0;
    std::atomic<bool> started_{false};
    std::atomic<bool> stopping_{false};
};

// The plain-TCP (ws://) server. wsx::tls_server comes with transport/tls.hpp.
using server = basic_server<transport::plain>;

} // namespace wsx

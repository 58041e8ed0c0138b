// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::basic_client<Transport>: connects to a ws:// (wsx::client) or wss://
// (wsx::tls_client, with <wsx/transport/tls.hpp>) URL, performs the opening
// handshake, and then speaks through the same basic_connection as the server,
// in role::client (every frame masked with a fresh random key; the same
// fragmentation, UTF-8, size-limit and close-code rules).
//
// Two styles, which can be mixed:
//  - handlers: pass a wsx::endpoint (on_open, on_message, on_close, ...), as for
//    a server endpoint;
//  - pull: async_read() yields the next message as an owning value; async_send()
//    completes once the message has left the queue; async_close() once the
//    connection is closed. Each takes any Asio completion token: a callback,
//    asio::use_awaitable (co_await c.async_read(asio::use_awaitable)), ...
// Messages go to endpoint::on_message when it is set, else to async_read.
//
//     asio::io_context io;
//     wsx::client c(io);
//     c.async_connect("ws://127.0.0.1:9001/chat?room=1", [&](std::error_code ec) {
//         if (!ec) c.send("hello");
//     });
//
// Threading: the client lives on its io_context, which must be run by one
// thread at a time (several clients on one io_context share its per-thread
// state: one read buffer, one deadline sweep). Members say what is safe from
// other threads. Handlers run on the io_context's thread.
//
// Errors (std::error_code) tell what failed:
//   wsx::error::bad_url                the URL is not ws:// (wss:// for tls_client) with a host
//   asio::error::host_not_found, ...   DNS (asio's netdb and addrinfo categories)
//   asio::error::connection_refused... TCP
//   asio::error::timed_out             no TCP connection within connect_timeout
//   tls_certificate_category() errors  the server's certificate was refused (TLS)
//   asio SSL category errors           any other TLS failure
//   wsx::error::handshake_timeout      no complete handshake within handshake_timeout
//   asio::error::eof                   the server closed the connection during the handshake
//   wsx::error::upgrade_rejected       the server answered with another status than 101:
//                                      handshake_response().status has it (403, ...)
//   wsx::error::bad_accept_key         Sec-WebSocket-Accept missing or not matching our key
//   wsx::error::bad_handshake          any other fault in the 101 answer (handshake_failure()
//                                      says which)
//   wsx::error::operation_aborted      close() or the client's destruction ended the attempt;
//                                      once open, the connection was dropped without a closing
//                                      handshake because its io_context went away (the same
//                                      value a server connection reports when stop() forces it)
//   once open, as connection::error(): wsx::error::closed (the closing handshake
//   completed), protocol_violation, invalid_utf8, message_too_big, idle_timeout...
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/async_result.hpp>
#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <wsx/connection.hpp>
#include <wsx/detail/completion.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/detail/worker.hpp>
#include <wsx/detail/worker_service.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/error.hpp>
#include <wsx/http/fields.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/message.hpp>
#include <wsx/http/parser.hpp>
#include <wsx/http/permessage_deflate.hpp>
#include <wsx/http/url.hpp>
#include <wsx/log.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/opcode.hpp>
#include <wsx/protocol/role.hpp>
#include <wsx/protocol/utf8.hpp>
#include <wsx/transport/concept.hpp>
#include <wsx/transport/plain.hpp>

namespace wsx {

struct client_options {
    // DNS resolution and the TCP connection. Zero disables.
    std::chrono::milliseconds connect_timeout = std::chrono::seconds{10};
    // From the TCP connection to the server's complete 101 answer, TLS
    // handshake included. Zero disables.
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds{10};
    // Subprotocols to offer, in order of preference (Sec-WebSocket-Protocol).
    std::vector<std::string> subprotocols{};
    // Extra request headers (Authorization, Origin, Cookie...). One with the
    // name of a handshake header replaces it.
    http::fields headers{};
    // Limits once open (incoming message size, outgoing queue, idle pings,
    // close timeout); endpoint::limits wins when set.
    connection_options websocket{};
    // Limits on the server's handshake answer.
    http::parser_limits http_limits{};
    // Pull style: received messages not yet taken by async_read, in bytes. A
    // client that falls this far behind closes with 1008 and its reads end
    // with wsx::error::backpressure (memory stays bounded).
    std::size_t max_unread_bytes = 64u << 20;
    // Where the client reports what it handles by itself: an exception thrown
    // by endpoint::on_close ("websocket"; nothing is left to fail). Called on
    // the io_context's thread. Empty: wsx::default_log (stderr, rate-limited).
    // Failures of the client's own operations are not logged: they complete
    // them with an error. See <wsx/log.hpp>.
    log_handler log{};
};

// A message as async_read yields it: it owns its payload.
struct received_message {
    opcode type = opcode::text;
    std::string payload;

    bool is_text() const noexcept { return type == opcode::text; }
    bool is_binary() const noexcept { return type == opcode::binary; }
};

// How the connection ended: the code and reason of the peer's close frame,
// else the code wsx failed the connection with (1002, 1007, 1009...), else
// 1006 (abnormal: the connection dropped).
struct close_status {
    close_code code = close_code::abnormal;
    std::string reason;
};

namespace detail {

class client_session_base {
public:
    virtual ~client_session_base() = default;
    virtual void abort() = 0;
};

// The client's state, shared with its connection's handlers. Not a template,
// to keep compile times down. Everything here runs on the I/O thread, except
// where `mutex_` guards it.
class client_core : public std::enable_shared_from_this<client_core> {
public:
    using done_handler = completion<std::error_code>;
    using read_handler = completion<std::error_code, received_message>;

    client_core(asio::io_context& io, endpoint user, client_options options)
        : io_(io),
          user_(std::move(user)),
          options_(std::move(options)),
          limits_(user_.limits.value_or(options_.websocket)) {
        worker_service::of(io_);  // make the shared worker now, on any thread
        internal_.on_open = [this](connection& c) { on_open(c); };
        internal_.on_message = [this](connection& c, message m) { on_message(c, m); };
        internal_.on_close = [this](connection& c, close_code code, std::string_view reason) {
            on_close(c, code, reason);
        };
        internal_.on_drain = [this](connection& c) { on_drain(c); };
        internal_.on_ping = user_.on_ping;
        internal_.on_pong = user_.on_pong;
        // Streaming pieces only make sense for a handler; async_read wants whole messages.
        internal_.streaming = user_.streaming && static_cast<bool>(user_.on_message);
    }
    client_core(const client_core&) = delete;
    client_core& operator=(const client_core&) = delete;
    virtual ~client_core() = default;

    asio::io_context::executor_type executor() const noexcept { return io_.get_executor(); }
    worker& get_worker() { return worker_service::of(io_); }
    const client_options& options() const noexcept { return options_; }
    const endpoint& internal_endpoint() const noexcept { return internal_; }
    const connection_options& limits() const noexcept { return limits_; }

    // ---- any thread ----------------------------------------------------------
    std::shared_ptr<connection> get_connection() const {
        std::lock_guard lock{mutex_};
        return conn_;
    }

    // ---- I/O thread ------------------------------------------------------------
    enum class phase : std::uint8_t { idle, connecting, open, closed };

    void connect(std::string_view text, done_handler done) {
        if (phase_ == phase::connecting) return done.complete(asio::error::in_progress);
        if (phase_ == phase::open) return done.complete(asio::error::already_connected);
        std::optional<http::url> url = http::parse_url(text);
        if (!url || url->scheme != scheme()) return done.complete(error::bad_url);
        // A new attempt (possibly after an earlier connection closed).
        reset();
        phase_ = phase::connecting;
        connector_ = std::move(done);
        session_ = start_session(std::move(*url));
    }

    void read(read_handler r) {
        if (!inbox_.empty()) {
            received_message m = std::move(inbox_.front());
            inbox_.pop_front();
            unread_ -= m.payload.size();
            return r.complete({}, std::move(m));
        }
        if (phase_ == phase::closed) return r.complete(final_, {});
        if (phase_ == phase::idle) return r.complete(error::not_open, {});
        readers_.push_back(std::move(r));
    }

    void send(opcode type, std::string_view payload, done_handler done) {
        const std::shared_ptr<connection> c = get_connection();
        if (!c || phase_ != phase::open) return done.complete(not_open_error());
        if (!c->send(type, payload)) {
            std::error_code ec = error::backpressure;
            if (!c->is_open()) ec = not_open_error();
            else if (type == opcode::text && !protocol::is_valid_utf8(payload)) ec = error::invalid_utf8;
            return done.complete(ec);
        }
        if (!done) return;
        // Runs after the flush that send() scheduled: by then the frame is
        // written, or an asynchronous write is under way and on_drain follows.
        asio::post(io_, [self = shared_from_this(), done = std::move(done)]() mutable {
            self->after_send(std::move(done));
        });
    }

    void close(close_code code, const std::string& reason, done_handler done) {
        switch (phase_) {
        case phase::idle: return done.complete(error::not_open);
        case phase::closed: return done.complete(close_result());
        case phase::connecting:
            if (auto s = session_.lock()) s->abort();
            return done.complete({});
        case phase::open:
            if (done) closers_.push_back(std::move(done));
            if (const auto c = get_connection()) c->close(code, reason);
            return;
        }
    }

    // The owning basic_client is gone: end what is going on, politely.
    void release() {
        if (phase_ == phase::connecting) {
            if (auto s = session_.lock()) s->abort();
        } else if (phase_ == phase::open) {
            if (const auto c = get_connection()) c->close(close_code::going_away);
        }
    }

    // ---- results of the opening handshake (session, I/O thread) -----------
    void set_response(http::response r) { response_ = std::move(r); }
    void connect_failed(std::error_code ec, std::string_view detail) {
        failure_.assign(detail);
        phase_ = phase::idle;
        final_ = ec;
        fail_waiters(ec);
        connector_.complete(ec);
    }
    void connect_succeeded() { connector_.complete({}); }

    // ---- state, read on the I/O thread or after the operation completed ------
    const http::response& response() const noexcept { return response_; }
    const std::string& failure() const noexcept { return failure_; }
    const close_status& status() const noexcept { return status_; }
    phase current_phase() const noexcept { return phase_; }

protected:
    virtual std::string_view scheme() const noexcept = 0;
    virtual std::weak_ptr<client_session_base> start_session(http::url url) = 0;

    asio::io_context& io_;

private:
    void reset() {
        {
            std::lock_guard lock{mutex_};
            conn_.reset();
        }
        inbox_.clear();
        unread_ = 0;
        overflow_ = false;
        final_ = {};
        status_ = {};
        response_ = {};
        failure_.clear();
    }

    std::error_code not_open_error() const {
        return phase_ == phase::closed && final_ ? final_ : make_error_code(error::not_open);
    }
    std::error_code close_result() const {
        return final_ == error::closed ? std::error_code{} : final_;
    }

    void after_send(done_handler done) {
        const std::shared_ptr<connection> c = get_connection();
        if (phase_ != phase::open || !c) return done.complete(not_open_error());
        if (c->buffered_amount() == 0) return done.complete({});
        senders_.push_back(std::move(done));
    }

    void fail_waiters(std::error_code ec) {
        for (auto& r : std::exchange(readers_, {})) r.complete(ec, {});
        for (auto& s : std::exchange(senders_, {})) s.complete(ec);
    }

    // ---- the connection's handlers ------------------------------------------
    void on_open(connection& c) {
        {
            std::lock_guard lock{mutex_};
            conn_ = c.shared_from_this();
        }
        phase_ = phase::open;
        // The connection refers to our endpoint and limits: stay alive until
        // it has closed, whatever happens to the basic_client.
        self_ = shared_from_this();
        if (user_.on_open) user_.on_open(c);
    }

    void on_message(connection& c, message m) {
        if (user_.on_message) return user_.on_message(c, m);
        received_message r{m.type(), std::string{m.text()}};
        if (!readers_.empty()) {
            read_handler h = std::move(readers_.front());
            readers_.pop_front();
            return h.complete({}, std::move(r));
        }
        unread_ += r.payload.size();
        inbox_.push_back(std::move(r));
        if (unread_ > options_.max_unread_bytes && !overflow_) {
            overflow_ = true;
            c.close(close_code::policy_violation, "client is not reading");
        }
    }

    void on_drain(connection& c) {
        for (auto& s : std::exchange(senders_, {})) s.complete({});
        if (user_.on_drain) user_.on_drain(c);
    }

    void on_close(connection& c, close_code code, std::string_view reason) {
        phase_ = phase::closed;
        status_ = {code, std::string{reason}};
        final_ = overflow_ ? make_error_code(error::backpressure) : c.error();
        if (!final_) final_ = error::closed;
        fail_waiters(final_);
        for (auto& d : std::exchange(closers_, {})) d.complete(close_result());
        if (user_.on_close) {
            try {
                user_.on_close(c, code, reason);
            } catch (const std::exception& e) {
                // As for a server connection: nothing is left to fail; say it.
                detail::dispatch_log(&options_.log, log_level::error, "websocket",
                                     std::string{"on_close threw: "} + e.what());
            } catch (...) {
                detail::dispatch_log(&options_.log, log_level::error, "websocket",
                                     "on_close threw an exception that is not a std::exception");
            }
        }
        // Let go of ourselves once this handler has returned.
        asio::post(io_, [keep = std::move(self_)] {});
    }

    endpoint user_;
    endpoint internal_;
    client_options options_;
    connection_options limits_;

    mutable std::mutex mutex_;
    std::shared_ptr<connection> conn_;  // guarded by mutex_

    phase phase_ = phase::idle;
    std::shared_ptr<client_core> self_;
    std::weak_ptr<client_session_base> session_;
    done_handler connector_;
    std::deque<read_handler> readers_;
    std::vector<done_handler> senders_;
    std::vector<done_handler> closers_;
    std::deque<received_message> inbox_;
    std::size_t unread_ = 0;
    bool overflow_ = false;
    std::error_code final_;
    close_status status_;
    http::response response_;
    std::string failure_;
};

template <transport::policy Transport>
class client_impl;

// The opening handshake: resolve, connect, transport handshake (TLS), upgrade
// request, 101 answer; then the stream moves into a basic_connection. Linked
// to the worker's sweep for its deadlines, like the server's http_session.
template <transport::policy Transport>
class client_session final : public client_session_base,
                             public std::enable_shared_from_this<client_session<Transport>>,
                             private timed_node {
public:
    using stream_type = typename Transport::stream;

    client_session(std::shared_ptr<client_impl<Transport>> core, http::url url)
        : core_(std::move(core)), url_(std::move(url)), resolver_(core_->executor()),
          socket_(core_->executor()), parser_(core_->options().http_limits) {}

    void start() {
        worker& w = core_->get_worker();
        w.link(this);
        set_deadline(core_->options().connect_timeout);
        resolver_.async_resolve(url_.host, std::to_string(url_.port),
                                asio::ip::tcp::resolver::numeric_service,
                                [self = this->shared_from_this()](
                                    std::error_code ec, asio::ip::tcp::resolver::results_type r) {
                                    self->on_resolved(ec, std::move(r));
                                });
    }

    void abort() override { fail(error::operation_aborted); }

private:
    enum class stage : std::uint8_t { connecting, handshaking };

    void set_deadline(std::chrono::milliseconds d) {
        worker* w = owner();
        has_deadline_ = w && d.count() > 0;
        if (has_deadline_) deadline_ = w->now() + w->ticks(d);
    }

    void on_resolved(std::error_code ec, asio::ip::tcp::resolver::results_type results) {
        if (done_) return;
        if (ec) return fail(ec);
        asio::async_connect(socket_, results,
                            [self = this->shared_from_this()](std::error_code e,
                                                              const asio::ip::tcp::endpoint&) {
                                self->on_connected(e);
                            });
    }

    void on_connected(std::error_code ec) {
        if (done_) return;
        if (ec) return fail(ec);
        stage_ = stage::handshaking;
        set_deadline(core_->options().handshake_timeout);
        stream_.emplace(std::move(socket_), core_->context());
        if constexpr (requires(stream_type& s, const std::string& h) { s.set_host_name(h); })
            stream_->set_host_name(url_.host);
        stream_->async_handshake(role::client, [self = this->shared_from_this()](std::error_code e) {
            self->on_transport_ready(e);
        });
    }

    void on_transport_ready(std::error_code ec) {
        if (done_) return;
        if (ec) return fail(ec);
        // RFC 6455 §4.1: a fresh key, 16 random bytes, for every handshake.
        std::array<std::uint8_t, 16> nonce{};
        detail::fill_random(nonce.data(), nonce.size());
        key_ = http::make_client_key(nonce);
        const client_options& o = core_->options();
        http::request req = http::make_upgrade_request(http::host_header(url_), url_.target, key_,
                                                       o.subprotocols, o.headers);
        // RFC 7692 §7.1: offer permessage-deflate when a codec is set, unless
        // the application negotiates extensions itself (its own header).
        const deflate_options& pmd = core_->limits().deflate;
        if (pmd.enabled() && !req.headers.contains("Sec-WebSocket-Extensions")) {
            req.headers.add("Sec-WebSocket-Extensions",
                            http::make_permessage_deflate_offer(pmd.preferences()));
            offered_deflate_ = true;
        }
        http::serialize(req, out_);
        bufs_.assign(1, asio::buffer(out_));
        stream_->async_write(bufs_, [self = this->shared_from_this()](std::error_code e, std::size_t) {
            if (self->done_) return;
            if (e) return self->fail(e);
            self->wait_readable();
        });
    }

    void wait_readable() {
        stream_->async_wait_readable([self = this->shared_from_this()](std::error_code ec) {
            self->on_readable(ec);
        });
    }

    void on_readable(std::error_code ec) {
        if (done_) return;
        if (ec) return fail(ec);
        worker* w = owner();
        if (!w) return fail(error::operation_aborted);
        const std::span<std::uint8_t> buffer = w->read_buffer();
        // As the server's sessions and connections do: after a few full
        // buffers, give the other clients on this thread (and the deadline
        // sweep) a turn. A server that streams a refusal's body faster than we
        // parse it must not hold the thread until the body ends.
        for (int round = 0; round < max_read_rounds; ++round) {
            std::error_code rec;
            const std::size_t n = stream_->read_some(asio::buffer(buffer.data(), buffer.size()), rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again) return wait_readable();
            if (rec) {
                // A refusal whose body runs until the connection closes is complete now.
                if (parser_.feed_eof() == http::parse_status::complete) return on_response({});
                return fail(rec);
            }
            if (n == 0) return wait_readable();
            const std::string_view text{reinterpret_cast<const char*>(buffer.data()), n};
            const std::size_t used = parser_.feed(text);
            switch (parser_.status()) {
            case http::parse_status::need_more: continue;
            case http::parse_status::error:
                return fail(error::bad_handshake, parser_.error_message());
            case http::parse_status::complete: return on_response(buffer.subspan(used, n - used));
            }
        }
        asio::post(core_->executor(), [self = this->shared_from_this()] { self->on_readable({}); });
    }

    static constexpr int max_read_rounds = 8;

    void on_response(std::span<std::uint8_t> early) {
        http::response& res = parser_.get();
        const client_options& o = core_->options();
        const bool offered_extensions = offered_deflate_ || o.headers.contains("Sec-WebSocket-Extensions");
        if (const auto err = http::validate_upgrade_response(res, key_, o.subprotocols, offered_extensions)) {
            std::error_code ec = error::bad_handshake;
            if (res.status != 101) ec = error::upgrade_rejected;
            else if (res.headers.count("Sec-WebSocket-Accept") != 1 ||
                     res.headers.get("Sec-WebSocket-Accept") != http::websocket_accept_key(key_))
                ec = error::bad_accept_key;
            const std::string what = http::to_string(err);
            core_->set_response(std::move(res));
            return fail(ec, what);
        }
        // §7.1: the client MUST fail the connection on an answer it cannot accept.
        http::deflate_response_check pmd;
        if (offered_deflate_) {
            pmd = http::accept_permessage_deflate_response(res.headers, core_->limits().deflate.preferences());
            if (!pmd.error.empty()) {
                const std::string what{pmd.error};
                core_->set_response(std::move(res));
                return fail(error::bad_handshake, what);
            }
        }
        done_ = true;
        worker& w = *owner();
        w.unlink(this);
        const std::string_view target = url_.target;
        connection_info info{std::string{target.substr(0, target.find('?'))},
                             std::string{res.headers.get("Sec-WebSocket-Protocol")},
                             {},
                             {},
                             stream_->remote_endpoint()};
        info.deflate = pmd.config;
        core_->set_response(std::move(res));
        basic_connection<Transport>::open(w, std::move(*stream_), core_->internal_endpoint(),
                                          core_->limits(), role::client, std::move(info), {}, early);
        core_->connect_succeeded();
    }

    void on_tick(std::uint32_t now) override {
        if (has_deadline_ && static_cast<std::int32_t>(now - deadline_) >= 0)
            fail(stage_ == stage::connecting ? std::error_code(asio::error::timed_out)
                                             : make_error_code(error::handshake_timeout));
    }
    void on_stop(bool) override { fail(error::operation_aborted); }

    // Ends the attempt now; the operations in flight complete later and find
    // done_ set.
    void fail(std::error_code ec, std::string_view detail = {}) {
        if (done_) return;
        done_ = true;
        if (worker* w = owner()) w->unlink(this);
        resolver_.cancel();
        std::error_code ignored;
        socket_.close(ignored);
        if (stream_) stream_->close();
        core_->connect_failed(ec, detail);
    }

    std::shared_ptr<client_impl<Transport>> core_;
    http::url url_;
    asio::ip::tcp::resolver resolver_;
    transport::tcp_socket socket_;
    std::optional<stream_type> stream_;
    http::response_parser parser_;
    std::string key_;
    std::string out_;
    std::vector<asio::const_buffer> bufs_;
    std::uint32_t deadline_ = 0;
    bool has_deadline_ = false;
    stage stage_ = stage::connecting;
    bool done_ = false;
    bool offered_deflate_ = false; // our request offered permessage-deflate
};

template <transport::policy Transport>
class client_impl final : public client_core {
public:
    using context_type = typename Transport::context;

    client_impl(asio::io_context& io, endpoint user, client_options options, context_type context)
        : client_core(io, std::move(user), std::move(options)), context_(std::move(context)) {}

    context_type& context() noexcept { return context_; }

private:
    std::string_view scheme() const noexcept override { return Transport::scheme; }

    std::weak_ptr<client_session_base> start_session(http::url url) override {
        auto self = std::static_pointer_cast<client_impl>(shared_from_this());
        auto s = std::make_shared<client_session<Transport>>(std::move(self), std::move(url));
        s->start();
        return s;
    }

    context_type context_;
};

} // namespace detail

template <transport::policy Transport>
class basic_client {
public:
    using transport_type = Transport;
    using context_type = typename Transport::context;
    using connection_type = basic_connection<Transport>;
    using executor_type = asio::io_context::executor_type;

    // A client on `io`. Messages go to async_read. `context` configures the
    // transport (for TLS: which CAs to trust; the default verifies the server
    // against the system's CAs).
    explicit basic_client(asio::io_context& io, client_options options = {},
                          context_type context = {})
        : basic_client(io, endpoint{}, std::move(options), std::move(context)) {}

    // A client whose events go to `handlers` (on_open, on_message, on_close,
    // on_drain, on_ping, on_pong; on_upgrade and subprotocols are not used).
    basic_client(asio::io_context& io, endpoint handlers, client_options options = {},
                 context_type context = {})
        : core_(std::make_shared<detail::client_impl<Transport>>(
              io, std::move(handlers), std::move(options), std::move(context))) {}

    basic_client(const basic_client&) = delete;
    basic_client& operator=(const basic_client&) = delete;
    basic_client(basic_client&&) noexcept = default;
    basic_client& operator=(basic_client&& other) noexcept {
        if (this != &other) {
            release();
            core_ = std::move(other.core_);
        }
        return *this;
    }

    // Closes an open connection with 1001 (going away) and aborts a connection
    // attempt, without waiting: operations in flight complete with an error,
    // and the handlers are called as usual until the connection has closed.
    // Destroy a client before its io_context (destroying the io_context then
    // drops whatever is still open).
    ~basic_client() { release(); }

    // Connects and performs the opening handshake. Completes with
    // void(std::error_code): success once the connection is open (on_open has
    // run). A client that has closed may connect again. Safe from any thread.
    template <class Token>
    auto async_connect(std::string_view url, Token&& token) {
        return asio::async_initiate<Token, void(std::error_code)>(
            [core = core_](auto handler, std::string u) {
                detail::completion<std::error_code> done(std::move(handler), core->executor());
                asio::dispatch(core->executor(), [core, u = std::move(u), done = std::move(done)]() mutable {
                    core->connect(u, std::move(done));
                });
            },
            token, std::string{url});
    }

    // The next message, as void(std::error_code, received_message). Messages
    // that arrived before the connection closed are all delivered; after them
    // the read fails with how it ended: wsx::error::closed after a closing
    // handshake, otherwise the error (see close_status() for the code). With
    // endpoint::on_message set, messages go there and reads wait for the end.
    // Reads may be queued; they complete in order. Safe from any thread.
    template <class Token>
    auto async_read(Token&& token) {
        return asio::async_initiate<Token, void(std::error_code, received_message)>(
            [core = core_](auto handler) {
                detail::completion<std::error_code, received_message> done(std::move(handler),
                                                                           core->executor());
                asio::dispatch(core->executor(), [core, done = std::move(done)]() mutable {
                    core->read(std::move(done));
                });
            },
            token);
    }

    // Sends a text (UTF-8) or binary message; completes with
    // void(std::error_code) once it has left the outgoing queue (written to the
    // socket), so a loop of co_await async_send(...) never outruns the peer.
    // Errors: not_open, invalid_utf8, backpressure (the drop policy refused
    // it), or how the connection ended before the queue drained. The payload
    // is copied before this returns, so the caller's buffer may go away at
    // once, even with a token that launches the operation later
    // (asio::deferred, a parallel_group...). Safe from any thread.
    template <class Token>
    auto async_send(opcode type, std::string_view payload, Token&& token) {
        if (type != opcode::text && type != opcode::binary)
            throw std::invalid_argument("wsx::basic_client::async_send: type must be text or binary");
        // The initiation's arguments are what a deferring token stores: pass
        // an owning copy, never a view of the caller's buffer.
        return asio::async_initiate<Token, void(std::error_code)>(
            [core = core_](auto handler, opcode t, std::string p) {
                detail::completion<std::error_code> done(std::move(handler), core->executor());
                if (core->executor().running_in_this_thread())
                    return core->send(t, p, std::move(done));
                asio::post(core->executor(), [core, t, p = std::move(p), done = std::move(done)]() mutable {
                    core->send(t, p, std::move(done));
                });
            },
            token, type, std::string{payload});
    }
    template <class Token>
    auto async_send(std::string_view text, Token&& token) {
        return async_send(opcode::text, text, std::forward<Token>(token));
    }

    // Starts the closing handshake and completes with void(std::error_code)
    // once the connection is closed: success when the handshake completed
    // (close_status() then has the server's answer). Aborts a connection
    // attempt. A code that may not be sent or a reason that is not UTF-8
    // throws std::invalid_argument. Safe from any thread.
    template <class Token>
    auto async_close(close_code code, std::string_view reason, Token&& token) {
        check_close(code, reason);
        return asio::async_initiate<Token, void(std::error_code)>(
            [core = core_](auto handler, close_code c, std::string r) {
                detail::completion<std::error_code> done(std::move(handler), core->executor());
                asio::dispatch(core->executor(), [core, c, r = std::move(r), done = std::move(done)]() mutable {
                    core->close(c, r, std::move(done));
                });
            },
            token, code, std::string{reason});
    }

    // ---- fire and forget: safe from any thread ---------------------------------
    // As connection::send: true when queued; false when not open, invalid
    // UTF-8, or refused by the backpressure policy.
    bool send(std::string_view text) { return send(opcode::text, text); }
    bool send_binary(std::string_view bytes) { return send(opcode::binary, bytes); }
    bool send(opcode type, std::string_view payload) {
        const auto c = core_->get_connection();
        return c && c->send(type, payload);
    }
    // A ping (at most 125 bytes); the pong goes to endpoint::on_pong.
    bool ping(std::string_view payload = {}) {
        const auto c = core_->get_connection();
        return c && c->ping(payload);
    }
    // Starts the closing handshake (or aborts a connection attempt).
    void close(close_code code = close_code::normal, std::string_view reason = {}) {
        check_close(code, reason);
        asio::dispatch(core_->executor(), [core = core_, code, r = std::string{reason}] {
            core->close(code, r, {});
        });
    }

    // ---- state ---------------------------------------------------------------
    // The open (or last) connection, nullptr before one opened. Safe from any
    // thread; the handle stays valid after the client is gone.
    std::shared_ptr<connection> get_connection() const { return core_->get_connection(); }
    // Safe from any thread.
    bool is_open() const {
        const auto c = core_->get_connection();
        return c && c->is_open();
    }
    executor_type get_executor() const noexcept { return core_->executor(); }
    context_type& transport_context() noexcept { return core_->context(); }

    // Read these on the I/O thread, or once the operation they describe has
    // completed:
    // The server's answer to the upgrade request (status 101, or the refusal
    // with its headers and body).
    const http::response& handshake_response() const noexcept { return core_->response(); }
    // Why the handshake failed, in words ("server refused the upgrade with
    // status 403", "Sec-WebSocket-Accept does not match the key"...), or "".
    std::string_view handshake_failure() const noexcept { return core_->failure(); }
    // The negotiated subprotocol, or "".
    std::string_view subprotocol() const noexcept {
        return core_->response().headers.get("Sec-WebSocket-Protocol");
    }
    // How the connection ended (once closed).
    const close_status& closed_with() const noexcept { return core_->status(); }

private:
    static void check_close(close_code code, std::string_view reason) {
        if (!is_valid_wire_close_code(static_cast<std::uint16_t>(code)))
            throw std::invalid_argument("wsx::basic_client::close: this close code may not be sent");
        if (!protocol::is_valid_utf8(reason))
            throw std::invalid_argument("wsx::basic_client::close: reason must be valid UTF-8");
    }

    void release() {
        if (!core_) return;
        asio::post(core_->executor(), [core = core_] { core->release(); });
    }

    std::shared_ptr<detail::client_impl<Transport>> core_;
};

// The plain-TCP (ws://) client. wsx::tls_client comes with transport/tls.hpp.
using client = basic_client<transport::plain>;

} // namespace wsx

// Separate compilation (wsx/impl/src.hpp): with WSX_SEPARATE_COMPILATION the
// client's instantiations are compiled once, in the unit that includes
// <wsx/impl/src.hpp>, and only declared here.
#if defined(WSX_SEPARATE_COMPILATION)
namespace wsx {
namespace detail {
extern template class client_session<transport::plain>;
extern template class client_impl<transport::plain>;
} // namespace detail
extern template class basic_client<transport::plain>;
} // namespace wsx
#if defined(WSX_SEPARATE_COMPILATION_TLS)
#include <wsx/transport/tls.hpp>
namespace wsx {
namespace detail {
extern template class client_session<transport::tls>;
extern template class client_impl<transport::tls>;
} // namespace detail
extern template class basic_client<transport::tls>;
} // namespace wsx
#endif
#endif

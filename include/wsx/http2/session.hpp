// SPDX-License-Identifier: BSL-1.0
#pragma once
// One HTTP/2 connection on the server (RFC 9113), on nghttp2's session API:
// nghttp2 does the framing, HPACK, stream states and flow control; this class
// moves bytes between it and the socket, and decides what each stream is:
//  - an extended CONNECT with :protocol = websocket (RFC 8441) becomes a
//    basic_connection<http2::transport> on that stream, with the endpoint's
//    handlers, upgrade hook, limits and negotiation as over HTTP/1.1;
//  - any other request goes to the server's HTTP routes.
//
// The socket has one read and one write in flight at most; the output of all
// streams leaves in one write per turn. A WebSocket stream's input is taken
// from the flow-control window only as its connection reads it, and its
// output only as the peer's window allows (see stream_transport.hpp): a
// stalled stream holds its own window, not the session's other streams.
//
// Threading: a session lives on the worker thread that accepted its socket,
// with its WebSocket connections.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nghttp2/nghttp2.h>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/post.hpp>

#include <wsx/connection.hpp>
#include <wsx/detail/worker.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/permessage_deflate.hpp>
#include <wsx/http2/extended_connect.hpp>
#include <wsx/http2/stream_transport.hpp>
#include <wsx/log.hpp>
#include <wsx/options.hpp>
#include <wsx/server.hpp>

namespace wsx::http2 {

// Limits of the HTTP/2 side. Header sizes and request bodies use the server's
// http_limits, WebSocket messages its websocket options, as over HTTP/1.1.
struct session_options {
    // SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at once
    // (WebSockets and requests together). nghttp2 refuses the ones beyond.
    std::uint32_t max_concurrent_streams = 256;
    // SETTINGS_INITIAL_WINDOW_SIZE: input a stream may have in flight before
    // its connection reads it (the per-stream receive buffer bound).
    std::uint32_t stream_window = 256 * 1024;
    // The connection's receive window, shared by all streams.
    std::uint32_t connection_window = 16 * 1024 * 1024;
    // SETTINGS frames a client may send in a short time before nghttp2 ends
    // the connection (a SETTINGS flood).
    std::size_t max_settings = 32;
};

namespace detail {

// Each stream's request, as its header block and body arrive.
struct stream_entry {
    std::int32_t id = 0;
    pseudo_headers pseudo;
    http::fields headers;
    std::string body;
    std::size_t header_bytes = 0;
    std::size_t header_count = 0;
    int refuse_status = 0;  // 431 or 413 found while receiving; answered at the end
    bool answered = false;
    std::string response_body;
    std::size_t response_pos = 0;
    bool deferred = false;                // its DATA waits for output (NGHTTP2_ERR_DEFERRED)
    std::shared_ptr<stream_state> ws;     // set once the stream carries a WebSocket
};

template <wsx::transport::policy Under>
class session final : public std::enable_shared_from_this<session<Under>>,
                      public stream_owner,
                      private wsx::detail::timed_node {
public:
    using under_stream = typename Under::stream;

    session(wsx::detail::worker& w, under_stream&& sock, const wsx::detail::route_table& routes,
            const server_options& options, const session_options& h2,
            std::shared_ptr<const void> keep_alive)
        : sock_(std::move(sock)), keep_alive_(std::move(keep_alive)), routes_(routes),
          options_(options), remote_(sock_.remote_endpoint()),
          executor_(w.context().get_executor()) {
        w.link(this);
        deadline_ = w.now() + w.ticks(options.handshake_timeout);
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &on_begin_headers_cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, &on_header_cb);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame_recv_cb);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data_chunk_cb);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_stream_close_cb);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, &on_frame_send_cb);
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        // Windows open as connections read, not as nghttp2 receives.
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_settings(opt, h2.max_settings);
        nghttp2_session_server_new2(&ng_, cb, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        const nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h2.max_concurrent_streams},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, h2.stream_window},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
             static_cast<std::uint32_t>(options.http_limits.max_header_bytes)},
            {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441 §3
        };
        nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
        nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0,
                                              static_cast<std::int32_t>(h2.connection_window));
    }

    ~session() override {
        if (ng_) nghttp2_session_del(ng_);
    }

    // Starts with the bytes already read (the client preface, when the HTTP/1.1
    // session recognised it); they are consumed before this returns.
    void start(std::span<const std::uint8_t> early) {
        if (!early.empty() && !receive(early)) return;
        flush();
        wait_readable();
    }

    std::size_t stream_count() const noexcept { return streams_.size(); }

    // ---- stream_owner -------------------------------------------------------
    void stream_consumed(std::int32_t id, std::size_t n) override {
        if (done_) return;
        nghttp2_session_consume(ng_, id, n);
        schedule_flush();
    }
    void stream_output(std::int32_t id) override {
        if (done_) return;
        if (auto* e = find(id); e && e->deferred) {
            e->deferred = false;
            nghttp2_session_resume_data(ng_, id);
        }
        schedule_flush();
    }
    void stream_reset(std::int32_t id) override {
        if (done_) return;
        stream_entry* e = find(id);
        if (!e) return;  // already closed in nghttp2's terms
        // Input the connection will never read must not keep the connection's
        // window shut for the other streams.
        if (e->ws)
            if (const std::size_t unread = e->ws->discard_input()) nghttp2_session_consume(ng_, id, unread);
        // After the closing handshake both sides ended the stream or are about
        // to: let our END_STREAM go. Otherwise the WebSocket was dropped: the
        // RFC 8441 §6 equivalent of a TCP reset.
        if (!(e->ws && e->ws->end_requested())) {
            nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        } else if (e->deferred) {
            e->deferred = false;
            nghttp2_session_resume_data(ng_, id);
        }
        schedule_flush();
    }

private:
    // ---- socket I/O ---------------------------------------------------------
    void wait_readable() {
        if (done_) return;
        sock_.async_wait_readable([self = this->shared_from_this()](std::error_code ec) {
            self->on_readable(ec);
        });
    }

    void on_readable(std::error_code ec) {
        if (done_) return;
        wsx::detail::worker* w = owner();
        if (ec || !w) return finish();
        const std::span<std::uint8_t> buffer = w->read_buffer();
        for (int round = 0; round < 8; ++round) {
            std::error_code rec;
            const std::size_t n = sock_.read_some(asio::buffer(buffer.data(), buffer.size()), rec);
            if (rec == asio::error::would_block || rec == asio::error::try_again) {
                flush();
                return wait_readable();
            }
            if (rec || n == 0) return finish();
            if (streams_.empty()) deadline_ = w->now() + w->ticks(idle_limit());
            if (!receive(buffer.first(n))) return;
        }
        flush();
        asio::post(executor_, [self = this->shared_from_this()] { self->on_readable({}); });
    }

    // Feeds nghttp2; false once the session has ended (a connection error:
    // nghttp2 has queued the GOAWAY, which goes out before the socket closes).
    bool receive(std::span<const std::uint8_t> bytes) {
        const auto rv = nghttp2_session_mem_recv(ng_, bytes.data(), bytes.size());
        if (rv < 0) {
            log(log_level::debug, std::string{"HTTP/2 connection error: "} + nghttp2_strerror(static_cast<int>(rv)));
            flush();
            return finish_after_write(), false;
        }
        return !done_;
    }

    void schedule_flush() {
        if (flush_posted_ || done_) return;
        flush_posted_ = true;
        asio::post(executor_, [self = this->shared_from_this()] {
            self->flush_posted_ = false;
            self->flush();
        });
    }

    void flush() {
        if (done_ || writing_) return;
        out_.clear();
        for (;;) {
            const std::uint8_t* data = nullptr;
            const auto n = nghttp2_session_mem_send(ng_, &data);
            if (n < 0) return finish();
            if (n == 0) break;
            out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
            if (out_.size() >= max_write) break;
        }
        if (out_.empty()) {
            if (closing_after_write_ || (!nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_)))
                finish();
            return;
        }
        writing_ = true;
        bufs_.assign(1, asio::buffer(out_));
        sock_.async_write(bufs_, [self = this->shared_from_this()](std::error_code ec, std::size_t) {
            self->writing_ = false;
            if (self->done_) return;
            if (ec) return self->finish();
            self->flush();
        });
    }

    void finish_after_write() {
        closing_after_write_ = true;
        if (!writing_) flush();
    }

    // Closes the socket and ends every stream (their connections see a reset).
    void finish() {
        if (done_) return;
        done_ = true;
        if (wsx::detail::worker* w = owner()) w->unlink(this);
        auto streams = std::move(streams_);
        streams_.clear();
        for (auto& [id, e] : streams)
            if (e->ws) e->ws->end(make_error_code(asio::error::connection_reset));
        sock_.close();
    }

    // ---- timed_node ---------------------------------------------------------
    std::chrono::milliseconds idle_limit() const {
        return std::max(options_.handshake_timeout, options_.websocket.idle_timeout);
    }
    void on_tick(std::uint32_t now) override {
        if (done_ || !streams_.empty()) return;
        if (static_cast<std::int32_t>(now - deadline_) >= 0) {
            nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR,
                                  nullptr, 0);
            finish_after_write();
        }
    }
    // Server stop: each WebSocket connection, linked to the same worker, closes
    // with 1001 on its stream; new streams are refused (REFUSED_STREAM, safe
    // to retry, RFC 9113 §8.7); once the last WebSocket stream has ended, a
    // GOAWAY and the socket's close. The GOAWAY waits for the close frames
    // because some clients (python-h2) drop every frame that follows one.
    void on_stop(bool force) override {
        if (done_) return;
        if (force) return finish();
        stopping_ = true;
        goaway_when_idle();
    }

    void goaway_when_idle() {
        if (done_ || !stopping_) return;
        for (const auto& [id, e] : streams_)
            if (e->ws) return;
        nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_),
                              NGHTTP2_NO_ERROR, nullptr, 0);
        finish_after_write();
    }

    // ---- nghttp2 callbacks ---------------------------------------------------
    static session& self_of(void* user) { return *static_cast<session*>(user); }

    stream_entry* find(std::int32_t id) {
        auto it = streams_.find(id);
        return it == streams_.end() ? nullptr : it->second.get();
    }

    static int on_begin_headers_cb(nghttp2_session*, const nghttp2_frame* f, void* user) {
        if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
        session& s = self_of(user);
        if (s.stopping_) {
            nghttp2_submit_rst_stream(s.ng_, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
            return 0;
        }
        auto e = std::make_unique<stream_entry>();
        e->id = f->hd.stream_id;
        s.streams_[e->id] = std::move(e);
        return 0;
    }

    static int on_header_cb(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name,
                            std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                            std::uint8_t, void* user) {
        session& s = self_of(user);
        stream_entry* e = s.find(f->hd.stream_id);
        if (!e || e->answered) return 0;
        const std::string_view n{reinterpret_cast<const char*>(name), namelen};
        const std::string_view v{reinterpret_cast<const char*>(value), valuelen};
        // RFC 9113 §6.5.2 counts 32 bytes of overhead per field.
        e->header_bytes += namelen + valuelen + 32;
        if (e->header_bytes > s.options_.http_limits.max_header_bytes ||
            ++e->header_count > s.options_.http_limits.max_header_count) {
            e->refuse_status = 431;  // RFC 6585 §5, answered once the block is complete
            return 0;
        }
        if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
        if (n == ":method") e->pseudo.method = v;
        else if (n == ":scheme") e->pseudo.scheme = v;
        else if (n == ":authority") e->pseudo.authority = v;
        else if (n == ":path") e->pseudo.path = v;
        else if (n == ":protocol") {
            e->pseudo.protocol = v;
            e->pseudo.has_protocol = true;
        } else
            e->headers.add(n, v);
        return 0;
    }

    static int on_data_chunk_cb(nghttp2_session* ng, std::uint8_t, std::int32_t id,
                                const std::uint8_t* data, std::size_t len, void* user) {
        session& s = self_of(user);
        stream_entry* e = s.find(id);
        if (e && e->ws) {
            // The window reopens as the connection reads; input nobody will
            // read gives its credit back now.
            if (!e->ws->deliver(data, len)) nghttp2_session_consume(ng, id, len);
            return 0;
        }
        nghttp2_session_consume(ng, id, len);
        if (!e || e->answered) return 0;
        if (e->body.size() + len > s.options_.http_limits.max_body_size) {
            e->refuse_status = 413;  // RFC 9110 §15.5.14
            e->body.clear();
            return 0;
        }
        if (!e->refuse_status) e->body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_frame_recv_cb(nghttp2_session*, const nghttp2_frame* f, void* user) {
        session& s = self_of(user);
        if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
        stream_entry* e = s.find(f->hd.stream_id);
        if (!e) return 0;
        const bool end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if (e->ws) {
            if (end_stream) e->ws->end_input(make_error_code(asio::error::eof));
            return 0;
        }
        if (e->answered) return 0;
        if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (e->refuse_status) return s.answer_error(*e, e->refuse_status, "request header fields too large"), 0;
            const request_check c = check_request(e->pseudo, e->headers);
            if (c.kind == request_kind::rejected) {
                if (e->pseudo.method == "CONNECT") return s.refuse_websocket(*e, c.status, c.what), 0;
                return s.answer_error(*e, c.status, c.what), 0;
            }
            if (c.kind == request_kind::websocket) return s.open_websocket(*e), 0;
        }
        if (end_stream) {
            if (e->refuse_status) return s.answer_error(*e, e->refuse_status, "request body too large"), 0;
            s.serve_http(*e);
        }
        return 0;
    }

    // RFC 9113 §8.1: a response sent complete before the request was (a
    // refused CONNECT, a 413) is followed by RST_STREAM NO_ERROR, so a client
    // that keeps sending does not hold a stream slot.
    static int on_frame_send_cb(nghttp2_session* ng, const nghttp2_frame* f, void* user) {
        if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
            !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            return 0;
        stream_entry* e = self_of(user).find(f->hd.stream_id);
        if (e && !e->ws && nghttp2_session_get_stream_remote_close(ng, f->hd.stream_id) == 0)
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
        return 0;
    }

    static int on_stream_close_cb(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user) {
        session& s = self_of(user);
        auto it = s.streams_.find(id);
        if (it == s.streams_.end()) return 0;
        if (it->second->ws)
            it->second->ws->end(error_code == NGHTTP2_NO_ERROR
                                    ? make_error_code(asio::error::eof)
                                    : make_error_code(asio::error::connection_reset));
        s.streams_.erase(it);
        s.goaway_when_idle();
        if (s.streams_.empty())
            if (wsx::detail::worker* w = s.owner()) s.deadline_ = w->now() + w->ticks(s.idle_limit());
        return 0;
    }

    static ssize_t read_ws_cb(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                              std::uint32_t* flags, nghttp2_data_source* src, void*) {
        auto* e = static_cast<stream_entry*>(src->ptr);
        stream_state& st = *e->ws;
        const std::size_t n = st.take_output(buf, len);
        if (!st.write_pending() && st.end_requested()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;  // the WebSocket's FIN (RFC 8441 §6)
            return static_cast<ssize_t>(n);
        }
        if (n == 0) {
            e->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        return static_cast<ssize_t>(n);
    }

    static ssize_t read_body_cb(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                                std::uint32_t* flags, nghttp2_data_source* src, void*) {
        auto* e = static_cast<stream_entry*>(src->ptr);
        const std::size_t n = std::min(len, e->response_body.size() - e->response_pos);
        std::copy_n(e->response_body.data() + e->response_pos, n, buf);
        e->response_pos += n;
        if (e->response_pos == e->response_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
    }

    // ---- requests -------------------------------------------------------------
    // Submits the response's HEADERS (and its body, if any and `with_body`).
    void submit(stream_entry& e, const http::response& res, bool with_body,
                nghttp2_data_source_read_callback body_source = nullptr) {
        e.answered = true;
        std::vector<std::string> names;
        names.reserve(res.headers.size() + 2);
        std::vector<nghttp2_nv> nva;
        nva.reserve(res.headers.size() + 2);
        const std::string status = std::to_string(res.status);
        auto add = [&](std::string_view name, std::string_view value) {
            nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                           name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
        };
        add(":status", status);
        for (const auto& f : res.headers) {
            if (is_connection_specific(f.name)) continue;
            std::string& lower = names.emplace_back(f.name);  // RFC 9113 §8.2.1: lowercase
            for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
            add(lower, f.value);
        }
        std::string length;
        if (!res.headers.contains("Content-Length") && res.status != 204 && !body_source) {
            length = std::to_string(res.body.size());
            add("content-length", length);
        }
        nghttp2_data_provider provider{};
        provider.source.ptr = &e;
        if (body_source) {
            provider.read_callback = body_source;
        } else if (with_body && !res.body.empty()) {
            e.response_body = res.body;
            provider.read_callback = &read_body_cb;
        }
        nghttp2_submit_response(ng_, e.id, nva.data(), nva.size(),
                                provider.read_callback ? &provider : nullptr);
    }

    void answer_error(stream_entry& e, int status, std::string_view what) {
        submit(e, http::make_error_response(status, what), e.pseudo.method != "HEAD");
    }

    // An error answer to an extended CONNECT, counted as a refused WebSocket
    // handshake (wsx/metrics.hpp) as over HTTP/1.1.
    void refuse_websocket(stream_entry& e, int status, std::string_view what) {
        if (wsx::detail::worker* w = owner()) w->metrics().refused(static_cast<std::uint16_t>(status));
        answer_error(e, status, what);
    }

    void serve_http(stream_entry& e) {
        http::request req = to_request(e.pseudo, e.headers);
        req.body = std::move(e.body);
        const std::string path{req.path()};
        const http_handler* h = routes_.find_http(path);
        if (!h) {
            if (routes_.find_websocket(path))
                return answer_error(e, 400, "this path only accepts WebSockets (extended CONNECT)");
            return answer_error(e, 404, "no route for this path");
        }
        req.remote_address = remote_.address().to_string();
        http::response res;
        try {
            (*h)(req, res);
        } catch (...) {
            report_exception("handler", req);
            res = http::make_error_response(500, "internal error");
        }
        submit(e, res, req.method != "HEAD");
    }

    void open_websocket(stream_entry& e) {
        http::request req = to_request(e.pseudo, e.headers);
        // An idle WebSocket stream keeps nothing of its request.
        e.headers = http::fields{};
        e.pseudo = pseudo_headers{};
        const auto* route = routes_.find_websocket(req.path());
        if (!route) return refuse_websocket(e, 404, "no WebSocket endpoint at this path");
        upgrade_context ctx{req, remote_};
        ctx.subprotocol = std::string{http::select_subprotocol(req, route->ep.subprotocols)};
        if (route->ep.on_upgrade) {
            try {
                route->ep.on_upgrade(ctx);
            } catch (...) {
                report_exception("on_upgrade", req);
                return refuse_websocket(e, 500, "internal error");
            }
            if (ctx.rejected()) return refuse_websocket(e, ctx.rejected_status(), ctx.rejected_message());
        }
        std::optional<http::deflate_agreement> pmd;
        if (route->limits.deflate.enabled())
            pmd = http::negotiate_permessage_deflate(req.headers, route->limits.deflate.preferences());
        http::response res =
            make_connect_response(ctx.subprotocol, pmd ? std::string_view{pmd->response} : std::string_view{});
        for (const auto& [name, value] : ctx.response_headers) res.headers.add(name, value);
        e.ws = std::make_shared<stream_state>(e.id, executor_);
        submit(e, res, false, &read_ws_cb);

        connection_info info{std::string{req.path()}, std::move(ctx.subprotocol), std::move(ctx.user),
                             std::move(ctx.user_data), remote_};
        if (pmd) info.deflate = pmd->config;
        info.protocol = "h2";
        info.endpoint_index = route->index;
        basic_connection<transport>::open(*owner(), transport::stream(this->shared_from_this(), e.ws, remote_),
                                          route->ep, route->limits, role::server, std::move(info), {}, {});
    }

    void report_exception(std::string_view what_ran, const http::request& req) {
        std::string line{what_ran};
        line += " for ";
        line += req.method;
        line += ' ';
        line += req.path();
        line += " (HTTP/2) threw";
        try {
            throw;
        } catch (const std::exception& ex) {
            line += ": ";
            line += ex.what();
        } catch (...) {
            line += " an exception that is not a std::exception";
        }
        if (wsx::detail::worker* w = owner()) w->log(log_level::error, "http", line + "; answered 500");
    }

    void log(log_level level, const std::string& message) {
        if (wsx::detail::worker* w = owner()) w->log(level, "http2", message);
    }

    static constexpr std::size_t max_write = 256 * 1024;

    under_stream sock_;
    std::shared_ptr<const void> keep_alive_;
    const wsx::detail::route_table& routes_;
    const server_options& options_;
    asio::ip::tcp::endpoint remote_;
    asio::io_context::executor_type executor_;
    nghttp2_session* ng_ = nullptr;
    std::map<std::int32_t, std::unique_ptr<stream_entry>> streams_;
    std::string out_;
    std::vector<asio::const_buffer> bufs_;
    std::uint32_t deadline_ = 0;
    bool writing_ = false;
    bool flush_posted_ = false;
    bool closing_after_write_ = false;
    bool stopping_ = false;
    bool done_ = false;
};

} // namespace detail
} // namespace wsx::http2

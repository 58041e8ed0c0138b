// SPDX-License-Identifier: BSL-1.0
#pragma once
// A small blocking HTTP/2 client for the tests, on nghttp2's client session
// over a real loopback socket: opens streams (requests, extended CONNECTs),
// sends DATA, and records what comes back per stream. WebSocket frames on a
// stream are written with wsx's frame writer (masked) and read back with
// protocol::message_assembler (role::client).
//
// `auto_window = false` stops the client from reopening flow-control windows:
// a stream's peer that does not read, for the backpressure tests; consume()
// opens one stream's window by hand.
//
// Every wait has a timeout, so a misbehaving server fails a test, never hangs
// it. Not thread-safe.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <poll.h>

#include <nghttp2/nghttp2.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <wsx/http/fields.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>

namespace wsx::test {

class h2_test_client {
public:
    struct stream {
        int status = 0;
        http::fields headers;
        std::string data;          // DATA payloads as received
        std::string out;           // waiting to be framed
        bool end_after_out = false;
        bool deferred = false;
        bool ended = false;        // END_STREAM received
        bool closed = false;
        std::uint32_t reset = 0;   // error code of the close (RST_STREAM, GOAWAY)
    };

    explicit h2_test_client(std::uint16_t port, bool auto_window = true, std::uint32_t stream_window = 65535)
        : socket_(io_) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), port});
        nghttp2_session_callbacks* cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(cb, &on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &on_frame);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, &on_close);
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        if (!auto_window) nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_session_client_new2(&ng_, cb, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        const nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window}};
        nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, s, 1);
        nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    }
    ~h2_test_client() { nghttp2_session_del(ng_); }

    // A request; `data` streams get a body source fed by send().
    std::int32_t submit(const std::vector<std::pair<std::string, std::string>>& headers, bool end_stream) {
        std::vector<nghttp2_nv> nva;
        for (const auto& [n, v] : headers)
            nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                           reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                           v.size(), NGHTTP2_NV_FLAG_NONE});
        nghttp2_data_provider p{};
        p.read_callback = &read_out;
        const std::int32_t id = nghttp2_submit_request(ng_, nullptr, nva.data(), nva.size(),
                                                       end_stream ? nullptr : &p, nullptr);
        streams[id];
        return id;
    }
    // An extended CONNECT (RFC 8441 §4) to `path`.
    std::int32_t open_websocket(std::string path,
                                std::vector<std::pair<std::string, std::string>> extra = {}) {
        std::vector<std::pair<std::string, std::string>> h{
            {":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"},
            {":path", std::move(path)}, {":authority", "127.0.0.1"}, {"sec-websocket-version", "13"}};
        h.insert(h.end(), extra.begin(), extra.end());
        return submit(h, false);
    }

    void send(std::int32_t id, std::string_view bytes, bool end = false) {
        stream& s = streams[id];
        s.out.append(bytes);
        s.end_after_out = s.end_after_out || end;
        if (s.deferred) {
            s.deferred = false;
            nghttp2_session_resume_data(ng_, id);
        }
    }
    // A masked WebSocket frame on stream `id`.
    void send_frame(std::int32_t id, opcode op, std::string_view payload, bool fin = true) {
        std::string f;
        const protocol::mask_key key{1, 2, 3, 4};
        protocol::append_frame(f, op, payload, fin, &key);
        send(id, f);
    }
    void consume(std::int32_t id, std::size_t n) { nghttp2_session_consume(ng_, id, n); }
    // Opens the connection's window only: the stream's own stays shut.
    void consume_connection(std::size_t n) { nghttp2_session_consume_connection(ng_, n); }

    // The whole WebSocket messages received on `id` so far (text, binary, close payloads).
    std::vector<std::pair<protocol::event_type, std::string>> messages(std::int32_t id) {
        protocol::message_assembler a{protocol::assembler_options{role::client, 64u << 20, false}};
        std::string bytes = streams[id].data;
        std::vector<std::pair<protocol::event_type, std::string>> out;
        std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
        while (!in.empty()) {
            const auto r = a.consume(in);
            in = in.subspan(r.consumed);
            if (r.ev.type == protocol::event_type::need_more) break;
            if (r.ev.type == protocol::event_type::close)
                out.emplace_back(r.ev.type, std::to_string(static_cast<int>(r.ev.code)));
            else
                out.emplace_back(r.ev.type, std::string{r.ev.payload});
        }
        return out;
    }

    // Exchanges bytes until `done()` or the timeout; returns done().
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds{5}) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            flush();
            if (done()) return true;
            if (std::chrono::steady_clock::now() >= deadline || eof_) return done();
            pollfd p{socket_.native_handle(), POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            char buf[65536];
            std::error_code ec;
            const std::size_t n = socket_.read_some(asio::buffer(buf), ec);
            if (ec || n == 0) {
                eof_ = true;
                continue;
            }
            if (nghttp2_session_mem_recv(ng_, reinterpret_cast<std::uint8_t*>(buf), n) < 0) eof_ = true;
        }
    }

    // Raw bytes under nghttp2's feet (frames it would refuse to send).
    void write_raw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }
    std::uint32_t remote_setting(nghttp2_settings_id id) { return nghttp2_session_get_remote_settings(ng_, id); }

    std::map<std::int32_t, stream> streams;
    bool goaway = false;
    std::uint32_t goaway_code = 0;
    bool eof() const noexcept { return eof_; }

private:
    void flush() {
        for (;;) {
            const std::uint8_t* data = nullptr;
            const auto n = nghttp2_session_mem_send(ng_, &data);
            if (n <= 0) return;
            std::error_code ec;
            asio::write(socket_, asio::buffer(data, static_cast<std::size_t>(n)), ec);
            if (ec) return;
        }
    }
    static h2_test_client& self(void* u) { return *static_cast<h2_test_client*>(u); }
    static ssize_t read_out(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t len,
                            std::uint32_t* flags, nghttp2_data_source*, void* u) {
        stream& s = self(u).streams[id];
        const std::size_t n = std::min(len, s.out.size());
        std::copy_n(s.out.data(), n, buf);
        s.out.erase(0, n);
        if (s.out.empty() && s.end_after_out) *flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0) {
            s.deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
        return static_cast<ssize_t>(n);
    }
    static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
                         const std::uint8_t* v, std::size_t vl, std::uint8_t, void* u) {
        stream& s = self(u).streams[f->hd.stream_id];
        const std::string_view name{reinterpret_cast<const char*>(n), nl}, value{reinterpret_cast<const char*>(v), vl};
        if (name == ":status") s.status = std::stoi(std::string{value});
        else s.headers.add(name, value);
        return 0;
    }
    static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
        if (f->hd.type == NGHTTP2_GOAWAY) {
            self(u).goaway = true;
            self(u).goaway_code = f->goaway.error_code;
        }
        if ((f->hd.type == NGHTTP2_DATA || f->hd.type == NGHTTP2_HEADERS) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            self(u).streams[f->hd.stream_id].ended = true;
        return 0;
    }
    static int on_data(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d, std::size_t n, void* u) {
        self(u).streams[id].data.append(reinterpret_cast<const char*>(d), n);
        return 0;
    }
    static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* u) {
        stream& s = self(u).streams[id];
        s.closed = true;
        s.reset = code;
        return 0;
    }

    asio::io_context io_;
    asio::ip::tcp::socket socket_;
    nghttp2_session* ng_ = nullptr;
    bool eof_ = false;
};

} // namespace wsx::test

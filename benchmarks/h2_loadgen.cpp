// SPDX-License-Identifier: BSL-1.0
// wsx_h2_loadgen: the HTTP/2 counterpart of wsx_loadgen's echo mode, for the
// benchmark rows that put WebSockets over HTTP/2 (RFC 8441) beside HTTP/1.1.
// Single-threaded, epoll. The HTTP/2 side is nghttp2's client session API
// (framing, HPACK, flow control; the API of nghttp2 1.34+, as wsx/http2 uses)
// and this file only moves bytes and writes the
// WebSocket frames that travel in the DATA frames.
//
//   wsx_h2_loadgen h2echo [--port P] [--conns C] [--streams S] [--inflight K]
//                  [--size BYTES] [--binary] [--duration S] [--warmup S]
//                  [--messages N] [--timeout S] [--server-pid PID] [--path /]
//
// Opens --conns h2c connections (prior knowledge, RFC 9113 §3.3), waits for
// the server's SETTINGS to carry SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441
// §3), then opens --streams extended CONNECT streams (:protocol websocket) on
// each. Every stream keeps --inflight masked messages outstanding and sends
// the next one when an echo comes back. Counts echoes over --duration after
// --warmup (or until --messages echoes) and prints one line
//   RESULT mode=h2echo msgs=.. seconds=.. rate=.. srv_us_per_msg=.. srv_cpu=.. lg_cpu=..
// and exits 0, or says what went wrong and exits 1. srv_us_per_msg is the
// server's CPU time (utime + stime, /proc/PID/stat) per echoed message.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "bench_support.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using namespace wsx::bench;

struct options {
    int port = 9001;
    int conns = 1;
    int streams = 100;
    int inflight = 1;
    std::size_t size = 20;
    bool binary = false;
    double duration = 2;
    double warmup = 0.5;
    std::uint64_t messages = 0;
    double timeout = 30;
    int server_pid = 0;
    std::string path = "/";
};


[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "wsx_h2_loadgen: %s\n", what);
    std::exit(1);
}


struct stream_state {
    std::int32_t id = -1;
    std::string out;          // WebSocket bytes not yet handed to nghttp2
    std::size_t out_pos = 0;
    std::string in;           // the server's WebSocket bytes not yet parsed
    bool deferred = false;    // the data source returned DEFERRED
    bool open = false;        // :status 200 seen
};

struct client;

struct run_state {
    options o;
    std::string frame;
    std::uint64_t echoes = 0;
    int streams_open = 0;
    std::string error;
};

struct client {
    run_state* run = nullptr;
    int fd = -1;
    nghttp2_session* session = nullptr;
    bool connect_enabled = false;
    bool requested = false;
    bool want_out = false;  // EPOLLOUT registered
    std::unordered_map<std::int32_t, std::unique_ptr<stream_state>> streams;
    std::vector<std::unique_ptr<stream_state>> pending;  // before their ids are known
};

stream_state* find(client& c, std::int32_t id) {
    auto it = c.streams.find(id);
    return it == c.streams.end() ? nullptr : it->second.get();
}

void queue_message(client& c, stream_state& s) {
    s.out += c.run->frame;
    if (s.deferred) {
        s.deferred = false;
        nghttp2_session_resume_data(c.session, s.id);
    }
}

// Parses the server's frames (unmasked, §5.1); each complete data frame is an
// echo: count it and send the next message on this stream.
void on_websocket_bytes(client& c, stream_state& s) {
    std::size_t pos = 0;
    for (;;) {
        const std::size_t avail = s.in.size() - pos;
        if (avail < 2) break;
        const auto* p = reinterpret_cast<const unsigned char*>(s.in.data() + pos);
        if (p[1] & 0x80) {
            c.run->error = "the server masked a frame (RFC 6455 §5.1)";
            break;
        }
        std::uint64_t len = p[1] & 0x7f;
        std::size_t header = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = (std::uint64_t{p[2]} << 8) | p[3];
            header = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
            header = 10;
        }
        if (avail < header + len) break;
        const unsigned opcode = p[0] & 0x0f;
        pos += header + len;
        if (opcode == 0x8) {
            c.run->error = "the server closed a WebSocket stream";
            break;
        }
        if (opcode == 0x1 || opcode == 0x2) {
            if (len != c.run->o.size) {
                c.run->error = "an echo of the wrong size";
                break;
            }
            ++c.run->echoes;
            queue_message(c, s);
        }
    }
    s.in.erase(0, pos);
}

// ---- nghttp2 callbacks ------------------------------------------------------------

ssize_t send_cb(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
    auto& c = *static_cast<client*>(user);
    const ssize_t n = ::send(c.fd, data, length, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return NGHTTP2_ERR_WOULDBLOCK;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return n;
}

ssize_t read_body_cb(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto& s = *static_cast<stream_state*>(source->ptr);
    const std::size_t avail = s.out.size() - s.out_pos;
    if (avail == 0) {
        s.out.clear();
        s.out_pos = 0;
        s.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    const std::size_t n = std::min(avail, length);
    std::memcpy(buf, s.out.data() + s.out_pos, n);
    s.out_pos += n;
    (void)flags;
    return static_cast<ssize_t>(n);
}

int on_header_cb(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                 const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& c = *static_cast<client*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    stream_state* s = find(c, frame->hd.stream_id);
    if (!s) return 0;
    if (std::string_view(reinterpret_cast<const char*>(name), namelen) == ":status") {
        if (std::string_view(reinterpret_cast<const char*>(value), valuelen) == "200") {
            s->open = true;
            ++c.run->streams_open;
        } else {
            c.run->error = "the extended CONNECT was refused with :status " +
                           std::string(reinterpret_cast<const char*>(value), valuelen);
        }
    }
    return 0;
}

int on_frame_recv_cb(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& c = *static_cast<client*>(user);
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
        c.connect_enabled =
            nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
        if (!c.connect_enabled) c.run->error = "the server does not offer SETTINGS_ENABLE_CONNECT_PROTOCOL";
    }
    return 0;
}

int on_data_chunk_cb(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len, void* user) {
    auto& c = *static_cast<client*>(user);
    stream_state* s = find(c, stream_id);
    if (!s) return 0;
    s->in.append(reinterpret_cast<const char*>(data), len);
    on_websocket_bytes(c, *s);
    return 0;
}

int on_stream_close_cb(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
    auto& c = *static_cast<client*>(user);
    if (find(c, stream_id) && c.run->error.empty())
        c.run->error = "the server closed stream " + std::to_string(stream_id) + " (error " +
                       std::to_string(error_code) + ")";
    return 0;
}

// Opens this connection's WebSocket streams: RFC 8441 §4's extended CONNECT.
void open_streams(client& c) {
    const std::string authority = "127.0.0.1:" + std::to_string(c.run->o.port);
    auto nv = [](std::string_view n, std::string_view v) {
        return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                          reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                          NGHTTP2_NV_FLAG_NONE};
    };
    const nghttp2_nv headers[] = {
        nv(":method", "CONNECT"),       nv(":protocol", "websocket"),       nv(":scheme", "http"),
        nv(":path", c.run->o.path),     nv(":authority", authority),        nv("sec-websocket-version", "13"),
    };
    for (int i = 0; i < c.run->o.streams; ++i) {
        auto s = std::make_unique<stream_state>();
        // The first messages are queued before the answer: the server reads
        // them once the stream is open (RFC 8441 §5: the stream is the socket).
        for (int k = 0; k < c.run->o.inflight; ++k) s->out += c.run->frame;
        nghttp2_data_provider body{};
        body.source.ptr = s.get();
        body.read_callback = read_body_cb;
        const int32_t id = nghttp2_submit_request(c.session, nullptr, headers, std::size(headers), &body, nullptr);
        if (id < 0) fail(nghttp2_strerror(id));
        s->id = id;
        c.streams.emplace(id, std::move(s));
    }
    c.requested = true;
}

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket()");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 && errno != EINPROGRESS) fail("connect()");
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool parse(int argc, char** argv, options& o) {
    if (argc < 2 || std::string_view(argv[1]) != "h2echo") return false;
    for (int i = 2; i < argc; ++i) {
        const std::string_view f = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) fail("a flag lacks its value");
            return argv[++i];
        };
        if (f == "--port") o.port = std::atoi(next());
        else if (f == "--conns") o.conns = std::atoi(next());
        else if (f == "--streams") o.streams = std::atoi(next());
        else if (f == "--inflight") o.inflight = std::atoi(next());
        else if (f == "--size") o.size = std::strtoull(next(), nullptr, 10);
        else if (f == "--binary") o.binary = true;
        else if (f == "--duration") o.duration = std::atof(next());
        else if (f == "--warmup") o.warmup = std::atof(next());
        else if (f == "--messages") o.messages = std::strtoull(next(), nullptr, 10);
        else if (f == "--timeout") o.timeout = std::atof(next());
        else if (f == "--server-pid") o.server_pid = std::atoi(next());
        else if (f == "--path") o.path = next();
        else return false;
    }
    return o.conns > 0 && o.streams > 0 && o.inflight > 0;
}

} // namespace

int main(int argc, char** argv) {
    run_state run;
    if (!parse(argc, argv, run.o)) {
        std::fprintf(stderr,
                     "usage: %s h2echo [--port P] [--conns C] [--streams S] [--inflight K] [--size BYTES] [--binary]\n"
                     "       [--duration S] [--warmup S] [--messages N] [--timeout S] [--server-pid PID] [--path /]\n",
                     argv[0]);
        return 2;
    }
    const options& o = run.o;
    run.frame = masked_frame(o.binary ? 0x2 : 0x1, std::string(o.size, 'a'));

    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);

    const int ep = epoll_create1(0);
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < o.conns; ++i) {
        auto c = std::make_unique<client>();
        c->run = &run;
        c->fd = connect_to(o.port);
        if (nghttp2_session_client_new(&c->session, cbs, c.get()) != 0) fail("nghttp2_session_client_new");
        // Large windows: the benchmark measures the server, not flow control.
        const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
                                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
        nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, std::size(settings));
        nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 1 << 26);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;  // EPOLLOUT: the connect completes, the preface goes out
        ev.data.ptr = c.get();
        c->want_out = true;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        clients.push_back(std::move(c));
    }

    auto flush = [&](client& c) {
        const int rv = nghttp2_session_send(c.session);
        if (rv != 0) fail(nghttp2_strerror(rv));
        // More to write than the socket took: wait for EPOLLOUT.
        const bool more = nghttp2_session_want_write(c.session) != 0;
        if (more != c.want_out) {
            epoll_event ev{};
            ev.events = EPOLLIN | (more ? EPOLLOUT : 0u);
            ev.data.ptr = &c;
            epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
            c.want_out = more;
        }
    };

    const double start = now_s();
    const int want_streams = o.conns * o.streams;
    bool measuring = false, warm = false;
    double t0 = 0, self0 = 0, srv0 = 0, warm_at = 0;
    std::uint64_t echoes0 = 0;
    std::vector<char> buf(1 << 16);
    std::vector<epoll_event> events(256);
    for (;;) {
        const double t = now_s();
        if (!run.error.empty()) fail(run.error.c_str());
        if (!warm && run.streams_open == want_streams) {
            warm = true;
            warm_at = t;
        }
        if (!warm && t - start > o.timeout) fail("timed out opening the WebSocket streams");
        if (warm && !measuring && t - warm_at >= o.warmup) {
            measuring = true;
            t0 = t;
            self0 = self_cpu_s();
            srv0 = proc_cpu_s(o.server_pid);
            echoes0 = run.echoes;
        }
        if (measuring) {
            const bool done = o.messages ? run.echoes - echoes0 >= o.messages : t - t0 >= o.duration;
            if (done) break;
            if (t - t0 > o.timeout) fail("timed out before --messages echoes");
        }
        const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            client& c = *static_cast<client*>(events[i].data.ptr);
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                for (;;) {
                    const ssize_t got = ::recv(c.fd, buf.data(), buf.size(), 0);
                    if (got > 0) {
                        const ssize_t rv =
                            nghttp2_session_mem_recv(c.session, reinterpret_cast<uint8_t*>(buf.data()),
                                                      static_cast<size_t>(got));
                        if (rv < 0) fail(nghttp2_strerror(static_cast<int>(rv)));
                        if (got < static_cast<ssize_t>(buf.size())) break;
                    } else if (got == 0) {
                        fail("the server closed a connection");
                    } else {
                        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                        fail("recv()");
                    }
                }
            }
            if (c.connect_enabled && !c.requested) open_streams(c);
            flush(c);
        }
    }
    const double elapsed = now_s() - t0;
    const std::uint64_t got = run.echoes - echoes0;
    const double srv = o.server_pid ? proc_cpu_s(o.server_pid) - srv0 : -1;
    const double self = self_cpu_s() - self0;
    std::printf("RESULT mode=h2echo conns=%d streams=%d msgs=%" PRIu64 " seconds=%.3f rate=%.0f srv_us_per_msg=%.3f "
                "srv_cpu=%.0f lg_cpu=%.0f\n",
                o.conns, o.streams, got, elapsed, static_cast<double>(got) / elapsed,
                got && srv >= 0 ? 1e6 * srv / static_cast<double>(got) : -1.0,
                srv >= 0 ? 100.0 * srv / elapsed : -1.0, 100.0 * self / elapsed);
    for (auto& c : clients) {
        nghttp2_session_del(c->session);
        ::close(c->fd);
    }
    nghttp2_session_callbacks_del(cbs);
    ::close(ep);
    return 0;
}

// SPDX-License-Identifier: BSL-1.0
// wsx_loadgen: a single-threaded epoll WebSocket load generator for the
// benchmark suite (benchmarks/run.sh). It speaks RFC 6455 as a client: every
// frame it sends is masked (§5.3) with a per-frame key; the frames are encoded
// and masked once at start-up into a pool that every connection streams from,
// so masking never costs anything on the hot path.
//
//   wsx_loadgen MODE [--port P] [--conns N] [--inflight K] [--size BYTES]
//               [--binary] [--duration S] [--warmup S] [--messages N]
//               [--rate MSG_PER_S] [--rounds R] [--window W]
//               [--concurrency C] [--server-pid PID] [--raw] [--verify] [--tls]
//
// Modes (each prints one line "RESULT key=value ..." and exits 0, or prints
// what went wrong and exits 1):
//   probe      connect until the server answers (up to --timeout), echo one
//              message, close: readiness check and warm-up
//   echo       --conns connections each keep --inflight messages outstanding;
//              counts echoes over --duration after --warmup (or until
//              --messages echoes when given)
//   latency    open loop: --rate messages per second over --conns connections
//              on a fixed schedule; latency from the scheduled send time (so a
//              stalled server is not hidden: no coordinated omission); also
//              reports how late the load generator itself sent (max_send_late_us)
//   broadcast  --conns clients; client 0 sends, the server sends each message
//              to every client. --rounds single broadcasts (time to last
//              delivery), then --window broadcasts kept outstanding for
//              --duration (deliveries per second)
//   churn      --concurrency slots, each: connect, handshake, close handshake,
//              again; counts completed cycles per second
//   idle       opens --conns connections, echoes one message on each, then
//              reads the server's RSS (--server-pid) and reports bytes per
//              connection
//   feed       opens --conns connections (at --path; wsx_bench_server's
//              cross-thread mode serves /feed) and only reads: the server
//              sends on its own. Counts the --size byte messages delivered
//              over --duration after --warmup, and the server's CPU time per
//              delivered message (srv_us_per_msg)
//
// With --server-pid, the CPU time of the server over the measured window is
// reported next to the load generator's own (srv_cpu, lg_cpu, in percent of
// one core), so a reader can tell which side was the bottleneck.
//
// --tls: wss:// (TLS over each connection, OpenSSL, non-blocking; the
// server's certificate is not verified: loopback benchmarks only). Every
// mode works over it; the frame pool is written record by record.
//
// --raw: the peer is the raw TCP echo (benchmarks/raw_echo_server.cpp). It
// answers the handshake but echoes our frames verbatim (masked) and does not
// take part in the closing handshake: after our close frame comes back, we
// close the socket ourselves.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cctype>
#include <deque>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <wsx/detail/base64.hpp>
#include <wsx/detail/sha1.hpp>

#include "bench_support.hpp"

#ifdef WSX_LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

namespace {

using namespace wsx::bench;

[[noreturn]] void die(const char* fmt, ...) {
    std::va_list ap;
    va_start(ap, fmt);
    std::fputs("wsx_loadgen: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(1);
}


struct options {
    std::string mode;
    std::string host = "127.0.0.1";
    std::uint16_t port = 9001;
    std::string path = "/";
    int conns = 100;
    int inflight = 1;
    std::size_t size = 20;
    bool binary = false;
    double duration = 3;
    double warmup = 1;
    std::uint64_t messages = 0;
    double rate = 10000;
    int rounds = 20;
    int window = 32;
    int concurrency = 32;
    int server_pid = 0;
    bool raw = false;
    bool verify = false;
    bool tls = false;
    double timeout = 60;    // any phase that takes longer fails the run
    int source_addresses = 16;  // 127.0.0.1..N as source: more ephemeral ports
};

// ---- CPU accounting -------------------------------------------------------------


struct cpu_window {
    double wall = 0, self = 0, server = 0;
    int pid = 0;
    void start(int server_pid) {
        pid = server_pid;
        wall = now_s();
        self = self_cpu_s();
        server = proc_cpu_s(pid);
    }
    // "srv_cpu=.. lg_cpu=..": percent of one core over the window.
    std::string finish() const {
        const double w = now_s() - wall;
        char buf[96];
        std::snprintf(buf, sizeof buf, "srv_cpu=%.0f lg_cpu=%.0f",
                      pid ? 100.0 * (proc_cpu_s(pid) - server) / w : -1.0,
                      100.0 * (self_cpu_s() - self) / w);
        return buf;
    }
};

// ---- the frames we send ---------------------------------------------------------

constexpr std::string_view websocket_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";



// A pool of `count` masked frames of the same payload, each with its own key,
// laid out back to back: a connection's outgoing stream is this pool repeated,
// so a send of k frames is one contiguous write.
struct frame_pool {
    std::string bytes;
    std::size_t frame_size = 0;
    std::string payload;  // unmasked, for --verify

    void build(std::uint8_t opcode, std::string payload_in, std::size_t count) {
        payload = std::move(payload_in);
        bytes.clear();
        for (std::size_t i = 0; i < count; ++i) bytes += masked_frame(opcode, payload);
        frame_size = bytes.size() / count;
    }
    std::size_t period() const { return bytes.size(); }
};

std::string make_payload(std::size_t size, bool binary) {
    std::string p(size, '\0');
    if (binary) {
        for (auto& c : p) c = static_cast<char>(rng()());
    } else {
        for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<char>('a' + i % 26);
    }
    return p;
}

// ---- connections ------------------------------------------------------------------

enum class conn_state : std::uint8_t { idle, connecting, tls_handshaking, handshaking, open, closing, closed };

#ifndef WSX_LOADGEN_TLS
using SSL = void;  // built without OpenSSL: --tls is refused
#endif

struct connection {
    int fd = -1;
    SSL* ssl = nullptr;  // --tls
    conn_state state = conn_state::idle;
    bool want_write = false;  // EPOLLOUT armed
    bool close_sent = false;
    std::uint8_t key_index = 0;
    std::string handshake;  // response bytes during the handshake

    // Receive side: a frame header split across reads, the current frame.
    std::uint8_t header[14];
    std::uint8_t header_len = 0;
    bool in_payload = false;
    std::uint8_t frame_op = 0;
    bool frame_fin = false;
    bool frame_masked = false;
    std::uint8_t frame_key[4];
    std::uint64_t frame_left = 0;
    std::uint64_t frame_pos = 0;    // payload bytes of this frame seen
    std::uint64_t message_bytes = 0;  // payload bytes of the current message so far
    std::string control;           // payload of the current control frame

    // Send side: bytes of the endless pool stream sent and wanted.
    std::uint64_t out_sent = 0;
    std::uint64_t out_target = 0;
    std::string control_out;  // pong / close frames, sent between data frames

    std::uint64_t received = 0;  // whole messages
    std::uint64_t sent_messages = 0;
    std::deque<std::int64_t> sent_at;  // latency mode: scheduled send times
};

class loadgen {
public:
    explicit loadgen(options o) : o_(std::move(o)) {
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0) die("epoll_create1: %s", std::strerror(errno));
        rx_.resize(256 * 1024);
        for (int i = 0; i < 64; ++i) {
            std::uint8_t raw[16];
            for (auto& b : raw) b = static_cast<std::uint8_t>(rng()());
            const std::string key = wsx::detail::base64_encode(std::span<const std::uint8_t>(raw, 16));
            std::string both = key;
            both += websocket_guid;
            const auto digest = wsx::detail::sha1(both);
            keys_.push_back(key);
            accepts_.push_back(wsx::detail::base64_encode(std::span<const std::uint8_t>(digest.data(), 20)));
        }
        // A close frame with status 1000 (§5.5.1, §7.4.1).
        close_frame_ = masked_frame(0x8, std::string_view("\x03\xe8", 2));
        if (o_.tls) {
#ifdef WSX_LOADGEN_TLS
            tls_ctx_ = SSL_CTX_new(TLS_client_method());
            if (!tls_ctx_) die("SSL_CTX_new failed");
            SSL_CTX_set_verify(tls_ctx_, SSL_VERIFY_NONE, nullptr);  // loopback, a throw-away certificate
            SSL_CTX_set_mode(tls_ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#else
            die("--tls: this wsx_loadgen was built without OpenSSL");
#endif
        }
    }

    int run() {
        const std::string& m = o_.mode;
        if (m == "probe") return probe();
        if (m == "echo") return echo();
        if (m == "latency") return latency();
        if (m == "broadcast") return broadcast();
        if (m == "churn") return churn();
        if (m == "idle") return idle();
        if (m == "feed") return feed();
        die("unknown mode '%s'", m.c_str());
    }

private:
    // ---- events ------------------------------------------------------------
    enum class why { none, message, handshake_done, closed };

    void arm(connection& c, std::size_t index, bool write) {
        epoll_event ev{};
        ev.events = EPOLLIN | (write ? EPOLLOUT : 0u);
        ev.data.u64 = index;
        if (epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev) != 0) die("epoll_ctl: %s", std::strerror(errno));
        c.want_write = write;
    }

    bool start_connect(std::size_t index, bool retry_refused = false) {
        connection& c = conns_[index];
        c = connection{};
        c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) die("socket: %s (raise ulimit -n?)", std::strerror(errno));
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        // Spread the source addresses over 127.0.0.1..N so churn and 10,000
        // connections do not run out of ephemeral ports.
        if (o_.source_addresses > 1) {
            setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            sockaddr_in src{};
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl(0x7F000001u + static_cast<std::uint32_t>(next_source_++ % o_.source_addresses));
            if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0)
                die("bind source address: %s", std::strerror(errno));
        }
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(o_.port);
        inet_pton(AF_INET, o_.host.c_str(), &sa.sin_addr);
        const int r = connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        if (r != 0 && errno != EINPROGRESS) {
            if (retry_refused && errno == ECONNREFUSED) {
                ::close(c.fd);
                c.fd = -1;
                return false;
            }
            die("connect: %s", std::strerror(errno));
        }
        c.state = conn_state::connecting;
        c.key_index = static_cast<std::uint8_t>(index % keys_.size());
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = index;
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl add: %s", std::strerror(errno));
        c.want_write = true;
        ++connecting_;
        return true;
    }

    void close_conn(connection& c) {
#ifdef WSX_LOADGEN_TLS
        if (c.ssl) SSL_free(c.ssl);
#endif
        c.ssl = nullptr;
        if (c.fd >= 0) {
            epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
        }
        c.fd = -1;
        c.state = conn_state::closed;
    }

    void send_handshake(connection& c, std::size_t index) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            if (err == ECONNREFUSED && refused_ok_) {
                close_conn(c);
                --connecting_;
                refused_ = true;
                return;
            }
            die("connect to %s:%u: %s", o_.host.c_str(), o_.port, std::strerror(err));
        }
#ifdef WSX_LOADGEN_TLS
        if (o_.tls) {
            c.ssl = SSL_new(tls_ctx_);
            if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) die("SSL_new / SSL_set_fd failed");
            SSL_set_connect_state(c.ssl);
            c.state = conn_state::tls_handshaking;
            return drive_tls_handshake(c, index);
        }
#endif
        send_request(c, index);
    }

#ifdef WSX_LOADGEN_TLS
    // The TLS handshake, resumed on every event of the connection until done.
    void drive_tls_handshake(connection& c, std::size_t index) {
        const int r = SSL_do_handshake(c.ssl);
        if (r == 1) return send_request(c, index);
        const int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_WANT_READ) return arm_if(c, index, false);
        if (e == SSL_ERROR_WANT_WRITE) return arm_if(c, index, true);
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        die("TLS handshake with %s:%u failed: %s", o_.host.c_str(), o_.port, buf);
    }
#endif

    // Plain or TLS: like send(2)/recv(2), -1 with errno EAGAIN when the
    // transport must wait (for TLS either direction: the event loop retries
    // on both), 0 for the peer's end of stream.
    ssize_t io_send(connection& c, const void* p, std::size_t n) {
#ifdef WSX_LOADGEN_TLS
        if (c.ssl) {
            ERR_clear_error();
            errno = 0;
            const int r = SSL_write(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1u << 30)));
            if (r > 0) return r;
            return tls_failure(c, r);
        }
#endif
        return ::send(c.fd, p, n, MSG_NOSIGNAL);
    }

    ssize_t io_recv(connection& c, void* p, std::size_t n) {
#ifdef WSX_LOADGEN_TLS
        if (c.ssl) {
            ERR_clear_error();
            errno = 0;
            const int r = SSL_read(c.ssl, p, static_cast<int>(std::min<std::size_t>(n, 1u << 30)));
            if (r > 0) return r;
            return tls_failure(c, r);
        }
#endif
        return ::recv(c.fd, p, n, 0);
    }

#ifdef WSX_LOADGEN_TLS
    ssize_t tls_failure(connection& c, int r) {
        switch (SSL_get_error(c.ssl, r)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
        case SSL_ERROR_ZERO_RETURN: return 0;  // close_notify
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_error() == 0 && errno == 0) return 0;  // TCP end of stream
            if (errno == 0) errno = EPROTO;
            return -1;
        default: errno = EPROTO; return -1;
        }
    }
#endif

    void send_request(connection& c, std::size_t index) {        char req[512];
        const int n = std::snprintf(req, sizeof req,
                                    "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
                                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                                    "Sec-WebSocket-Version: 13\r\n\r\n",
                                    o_.path.c_str(), o_.host.c_str(), o_.port,
                                    keys_[c.key_index].c_str());
        // A fresh socket takes a few hundred bytes at once.
        if (io_send(c, req, static_cast<std::size_t>(n)) != n)
            die("sending the handshake failed: %s", std::strerror(errno));
        c.state = conn_state::handshaking;
        arm(c, index, false);
    }

    // Takes the handshake response; returns the bytes after it (frames).
    std::string_view on_handshake_bytes(connection& c, std::string_view in) {
        c.handshake.append(in);
        const std::size_t end = c.handshake.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (c.handshake.size() > 8192) die("handshake response too long");
            return {};
        }
        const std::string_view head(c.handshake.data(), end + 2);
        if (!head.starts_with("HTTP/1.1 101"))
            die("handshake refused: %.*s", static_cast<int>(std::min<std::size_t>(head.size(), 200)), head.data());
        // Sec-WebSocket-Accept, matched case-insensitively (§4.2.2, §4.1).
        std::string lower(head);
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const std::size_t at = lower.find("\r\nsec-websocket-accept:");
        if (at == std::string::npos) die("handshake response without Sec-WebSocket-Accept");
        std::size_t v = at + 23;
        while (v < head.size() && (head[v] == ' ' || head[v] == '\t')) ++v;
        std::size_t e = head.find("\r\n", v);
        std::string_view value = head.substr(v, e - v);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        if (value != accepts_[c.key_index]) die("wrong Sec-WebSocket-Accept '%.*s'", static_cast<int>(value.size()), value.data());
        c.state = conn_state::open;
        --connecting_;
        ++open_;
        rest_ = c.handshake.substr(end + 4);
        std::string().swap(c.handshake);
        return rest_;
    }

    // ---- receive: frames from the server ------------------------------------
    // Calls on_message(c, index) for each whole data message, handles control
    // frames. The server's frames are unmasked; the raw echo's are our own
    // masked frames, so masked frames are accepted too.
    template <class OnMessage>
    void on_frames(connection& c, std::size_t index, const std::uint8_t* p, std::size_t n, OnMessage&& on_message) {
        while (n > 0) {
            if (!c.in_payload) {
                // Header: take what is needed (2, then the extended length and key).
                while (n > 0) {
                    std::size_t need = 2;
                    if (c.header_len >= 2) {
                        const std::uint8_t l = c.header[1] & 0x7F;
                        need = 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((c.header[1] & 0x80) ? 4 : 0);
                    }
                    if (c.header_len == need) break;
                    const std::size_t take = std::min<std::size_t>(need - c.header_len, n);
                    std::memcpy(c.header + c.header_len, p, take);
                    c.header_len = static_cast<std::uint8_t>(c.header_len + take);
                    p += take;
                    n -= take;
                }
                std::size_t need = 2;
                if (c.header_len >= 2) {
                    const std::uint8_t l = c.header[1] & 0x7F;
                    need = 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + ((c.header[1] & 0x80) ? 4 : 0);
                }
                if (c.header_len < need) return;
                c.frame_fin = (c.header[0] & 0x80) != 0;
                c.frame_op = c.header[0] & 0x0F;
                if (c.header[0] & 0x70) die("server frame with reserved bits set");
                c.frame_masked = (c.header[1] & 0x80) != 0;
                if (c.frame_masked && !o_.raw) die("masked frame from a server (RFC 6455 5.1)");
                std::uint64_t len = c.header[1] & 0x7F;
                std::size_t pos = 2;
                if (len == 126) {
                    len = (std::uint64_t{c.header[2]} << 8) | c.header[3];
                    pos = 4;
                } else if (len == 127) {
                    len = 0;
                    for (int i = 2; i < 10; ++i) len = (len << 8) | c.header[i];
                    pos = 10;
                }
                if (c.frame_masked) std::memcpy(c.frame_key, c.header + pos, 4);
                c.header_len = 0;
                c.in_payload = true;
                c.frame_left = len;
                c.frame_pos = 0;
                if (c.frame_op >= 8) c.control.clear();
            }
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(c.frame_left, n));
            if (c.frame_op >= 8) {
                c.control.append(reinterpret_cast<const char*>(p), take);
            } else if (o_.verify && take > 0) {
                verify_payload(c, p, take);
            }
            p += take;
            n -= take;
            c.frame_left -= take;
            c.frame_pos += take;
            if (c.frame_op < 8) c.message_bytes += take;
            if (c.frame_left != 0) return;
            c.in_payload = false;
            if (c.frame_op >= 8) {
                on_control(c, index);
                if (c.state == conn_state::closed) return;
            } else if (c.frame_fin) {
                ++c.received;
                const std::uint64_t bytes = c.message_bytes;
                c.message_bytes = 0;
                on_message(c, index, bytes);
            }
        }
    }

    void verify_payload(connection& c, const std::uint8_t* p, std::size_t take) {
        const std::string& want = pool_.payload;
        for (std::size_t i = 0; i < take; ++i) {
            const std::uint64_t off = c.message_bytes + i;
            std::uint8_t b = p[i];
            if (c.frame_masked) b ^= c.frame_key[(c.frame_pos + i) & 3];
            if (off >= want.size() || b != static_cast<std::uint8_t>(want[off]))
                die("echoed payload differs at byte %" PRIu64, off);
        }
    }

    void on_control(connection& c, std::size_t index) {
        switch (c.frame_op) {
        case 0x9:  // ping: answer with a pong carrying the same payload (§5.5.2)
            c.control_out += masked_frame(0xA, c.control);
            flush(c, index);
            break;
        case 0xA: break;
        case 0x8:
            if (!closing_expected_) die("the server closed the connection unexpectedly (close frame)");
            if (o_.raw) {  // the raw echo sent our own close frame back
                finish_close(c);
                return;
            }
            c.state = conn_state::closing;  // wait for the server's TCP close (§7.1.1)
            break;
        default: die("server frame with reserved opcode %d", c.frame_op);
        }
    }

    void finish_close(connection& c) {
        close_conn(c);
        ++closed_;
    }

    // ---- send ----------------------------------------------------------------
    // Writes what is wanted: control frames at frame boundaries, then the pool
    // stream, with one writev per call (two pieces when the stream wraps).
    void flush(connection& c, std::size_t index) {
        if (c.state != conn_state::open && c.state != conn_state::closing) return;
        for (;;) {
            const bool boundary = pool_.frame_size == 0 || c.out_sent % pool_.frame_size == 0;
            if (!c.control_out.empty() && boundary) {
                const ssize_t n = io_send(c, c.control_out.data(), c.control_out.size());
                if (n < 0) {
                    if (errno == EAGAIN) return arm_if(c, index, true);
                    return on_error(c, "send");
                }
                c.control_out.erase(0, static_cast<std::size_t>(n));
                if (!c.control_out.empty()) return arm_if(c, index, true);
                continue;
            }
            if (c.out_sent == c.out_target) return arm_if(c, index, false);
            const std::size_t period = pool_.period();
            const std::size_t off = static_cast<std::size_t>(c.out_sent % period);
            std::uint64_t want = c.out_target - c.out_sent;
            iovec iov[2];
            int cnt = 1;
            iov[0].iov_base = pool_.bytes.data() + off;
            iov[0].iov_len = static_cast<std::size_t>(std::min<std::uint64_t>(want, period - off));
            want -= iov[0].iov_len;
            if (want > 0) {
                iov[1].iov_base = pool_.bytes.data();
                iov[1].iov_len = static_cast<std::size_t>(std::min<std::uint64_t>(want, period));
                cnt = 2;
            }
            const std::size_t asked = iov[0].iov_len + (cnt == 2 && !c.ssl ? iov[1].iov_len : 0);
            msghdr mh{};
            mh.msg_iov = iov;
            mh.msg_iovlen = static_cast<std::size_t>(cnt);
            // TLS: the first piece only (a record layer takes one buffer); the
            // loop comes back for the rest.
            const ssize_t n = c.ssl ? io_send(c, iov[0].iov_base, iov[0].iov_len) : ::sendmsg(c.fd, &mh, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return arm_if(c, index, true);
                return on_error(c, "send");
            }
            c.out_sent += static_cast<std::uint64_t>(n);
            if (static_cast<std::size_t>(n) < asked) return arm_if(c, index, true);
        }
    }

    void arm_if(connection& c, std::size_t index, bool write) {
        if (c.want_write != write) arm(c, index, write);
    }

    void queue_messages(connection& c, std::uint64_t k) {
        c.out_target += k * pool_.frame_size;
        c.sent_messages += k;
    }

    void on_error(connection& c, const char* what) {
        if (c.state == conn_state::closing && closing_expected_) return finish_close(c);
        die("%s: %s", what, std::strerror(errno));
    }

    // ---- the loop ------------------------------------------------------------
    // Runs one epoll_wait (up to `timeout_ns`) and dispatches; on_message is
    // called for every whole message received.
    template <class OnMessage>
    void poll_once(std::int64_t timeout_ns, OnMessage&& on_message) {
        epoll_event events[512];
        timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
        const int n = epoll_pwait2(epoll_, events, 512, timeout_ns < 0 ? nullptr : &ts, nullptr);
        if (n < 0) {
            if (errno == EINTR) return;
            die("epoll_wait: %s", std::strerror(errno));
        }
        for (int i = 0; i < n; ++i) {
            const std::size_t index = events[i].data.u64;
            connection& c = conns_[index];
            if (c.fd < 0) continue;
            if (c.state == conn_state::connecting) {
                send_handshake(c, index);
                continue;
            }
#ifdef WSX_LOADGEN_TLS
            if (c.state == conn_state::tls_handshaking) {
                drive_tls_handshake(c, index);
                continue;
            }
#endif
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(c, index, on_message);
                if (c.fd < 0) continue;
            }
            if (events[i].events & EPOLLOUT) flush(c, index);
        }
    }

    template <class OnMessage>
    void on_readable(connection& c, std::size_t index, OnMessage& on_message) {
        for (;;) {
            const ssize_t n = io_recv(c, rx_.data(), rx_.size());
            if (n < 0) {
                if (errno == EAGAIN) break;
                if (c.state == conn_state::closing && closing_expected_) return finish_close(c);
                die("recv: %s", std::strerror(errno));
            }
            if (n == 0) {
                if ((c.state == conn_state::closing || c.close_sent) && closing_expected_) return finish_close(c);
                die("the server closed the connection unexpectedly (%s)",
                    c.state == conn_state::handshaking ? "during the handshake" : "EOF");
            }
            const std::uint8_t* p = rx_.data();
            std::size_t len = static_cast<std::size_t>(n);
            if (c.state == conn_state::handshaking) {
                const std::string_view rest = on_handshake_bytes(c, {reinterpret_cast<const char*>(p), len});
                if (c.state != conn_state::open) continue;
                on_open_(c, index);
                if (!rest.empty()) {
                    // Copy: on_open may have reused rest_ (it does not today).
                    std::string copy(rest);
                    on_frames(c, index, reinterpret_cast<const std::uint8_t*>(copy.data()), copy.size(), on_message);
                }
            } else {
                on_frames(c, index, p, len, on_message);
            }
            if (c.fd < 0) return;
            // A TLS read returns one record at most: read until it would block.
            if (!c.ssl && static_cast<std::size_t>(n) < rx_.size()) break;
        }
        flush(c, index);
    }

    // Opens `count` connections (at most `parallel` handshakes at once) and
    // waits until all are open.
    void open_all(int count, int parallel = 256) {
        conns_.assign(static_cast<std::size_t>(count), connection{});
        std::size_t next = 0;
        const double deadline = now_s() + o_.timeout;
        auto noop = [](connection&, std::size_t, std::uint64_t) {};
        while (open_ < count) {
            while (next < conns_.size() && connecting_ < parallel) start_connect(next++);
            poll_once(10'000'000, noop);
            if (now_s() > deadline) die("only %d of %d connections opened in %.0f s", open_, count, o_.timeout);
        }
    }

    void check_size(std::uint64_t bytes, std::size_t want) const {
        if (bytes != want) die("message of %" PRIu64 " bytes where %zu were sent", bytes, want);
    }

    std::uint8_t data_opcode() const { return o_.binary ? 0x2 : 0x1; }

    // ---- modes -----------------------------------------------------------------
    int probe() {
        pool_.build(data_opcode(), make_payload(o_.size, o_.binary), 1);
        conns_.assign(1, connection{});
        const double deadline = now_s() + o_.timeout;
        refused_ok_ = true;
        bool got = false;
        auto on_msg = [&](connection&, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            got = true;
        };
        on_open_ = [this](connection& c, std::size_t i) {
            queue_messages(c, 1);
            flush(c, i);
        };
        while (!got) {
            if (conns_[0].fd < 0) {
                refused_ = false;
                if (!start_connect(0, true)) refused_ = true;
            }
            poll_once(20'000'000, on_msg);
            if (refused_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                conns_[0].fd = -1;
                refused_ = false;
            }
            if (now_s() > deadline) die("no echo from %s:%u within %.0f s", o_.host.c_str(), o_.port, o_.timeout);
        }
        close_gracefully();
        std::printf("RESULT mode=probe ok=1\n");
        return 0;
    }

    // Sends a close frame on every open connection and waits (briefly) for the
    // server to finish the handshake; no failure if it does not.
    void close_gracefully() {
        closing_expected_ = true;
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            connection& c = conns_[i];
            if (c.fd < 0 || c.state != conn_state::open) continue;
            c.out_target = c.out_sent;  // nothing more after the current frame
            if (pool_.frame_size && c.out_sent % pool_.frame_size != 0)
                c.out_target = (c.out_sent / pool_.frame_size + 1) * pool_.frame_size;
            c.control_out += close_frame_;
            c.close_sent = true;
            flush(c, i);
        }
        const double deadline = now_s() + 2;
        auto noop = [](connection&, std::size_t, std::uint64_t) {};
        while (now_s() < deadline) {
            bool any = false;
            for (auto& c : conns_) any = any || c.fd >= 0;
            if (!any) break;
            poll_once(10'000'000, noop);
        }
        for (auto& c : conns_) close_conn(c);
    }

    int echo() {
        const std::size_t pool_count = std::max<std::size_t>(1, std::min<std::size_t>(64, (8u << 20) / (o_.size + 14)));
        pool_.build(data_opcode(), make_payload(o_.size, o_.binary), std::max<std::size_t>(pool_count, 1));
        on_open_ = [](connection&, std::size_t) {};
        open_all(o_.conns);
        std::uint64_t total = 0, sent_budget = 0;
        const bool counted = o_.messages > 0;
        auto can_send = [&] {
            if (!counted) return true;
            if (sent_budget >= o_.messages) return false;
            ++sent_budget;
            return true;
        };
        auto on_msg = [&](connection& c, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            ++total;
            if (can_send()) queue_messages(c, 1);
        };
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            std::uint64_t k = 0;
            for (int j = 0; j < o_.inflight && can_send(); ++j) ++k;
            queue_messages(conns_[i], k);
            flush(conns_[i], i);
        }
        cpu_window cpu;
        double t0 = now_s();
        std::uint64_t base = 0;
        const double deadline = t0 + o_.timeout + o_.warmup + o_.duration;
        if (counted) {
            cpu.start(o_.server_pid);
            while (total < o_.messages) {
                poll_once(100'000'000, on_msg);
                if (now_s() > deadline) die("only %" PRIu64 " of %" PRIu64 " echoes", total, o_.messages);
            }
        } else {
            while (now_s() < t0 + o_.warmup) poll_once(10'000'000, on_msg);
            base = total;
            t0 = now_s();
            cpu.start(o_.server_pid);
            while (now_s() < t0 + o_.duration) poll_once(10'000'000, on_msg);
        }
        const double elapsed = now_s() - t0;
        const std::string cpu_text = cpu.finish();
        const std::uint64_t got = total - base;
        if (got == 0) die("no echo in the measured window");
        std::printf("RESULT mode=echo msgs=%" PRIu64 " seconds=%.3f rate=%.0f mib_s=%.2f %s\n", got, elapsed,
                    static_cast<double>(got) / elapsed,
                    static_cast<double>(got) * static_cast<double>(o_.size) / elapsed / 1048576.0,
                    cpu_text.c_str());
        std::fflush(stdout);
        close_gracefully();
        return 0;
    }

    int latency() {
        pool_.build(data_opcode(), make_payload(o_.size, o_.binary), 64);
        on_open_ = [](connection&, std::size_t) {};
        open_all(o_.conns);
        std::vector<std::int64_t> samples;
        samples.reserve(static_cast<std::size_t>(o_.rate * o_.duration * 1.1) + 16);
        std::int64_t now = now_ns();
        auto on_msg = [&](connection& c, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            if (c.sent_at.empty()) die("more echoes than messages sent");
            const std::int64_t at = c.sent_at.front();
            c.sent_at.pop_front();
            if (at >= 0) samples.push_back(now_ns() - at);
        };
        const double interval_ns = 1e9 / o_.rate;
        const std::int64_t start = now_ns();
        const std::int64_t warm_end = start + static_cast<std::int64_t>(o_.warmup * 1e9);
        const std::int64_t end = warm_end + static_cast<std::int64_t>(o_.duration * 1e9);
        std::uint64_t j = 0;
        std::int64_t max_late = 0;
        cpu_window cpu;
        bool cpu_started = false;
        for (;;) {
            now = now_ns();
            if (!cpu_started && now >= warm_end) {
                cpu.start(o_.server_pid);
                cpu_started = true;
            }
            if (now >= end) break;
            // Send everything that is due, each on its own connection in turn.
            for (;;) {
                const std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(j) * interval_ns);
                if (due > now) break;
                const std::size_t i = j % conns_.size();
                connection& c = conns_[i];
                c.sent_at.push_back(due >= warm_end ? due : -1);
                if (due >= warm_end) max_late = std::max(max_late, now - due);
                queue_messages(c, 1);
                flush(c, i);
                ++j;
            }
            const std::int64_t next = start + static_cast<std::int64_t>(static_cast<double>(j) * interval_ns);
            const std::int64_t wait = next - now_ns();
            // Sleep in epoll until the next send is due (timer slack is 1 ns,
            // see main). No spinning: on a shared core a spinning process
            // loses its slice to the other work and sends late, while a
            // sleeper is woken promptly.
            poll_once(wait > 0 ? wait : 0, on_msg);
        }
        const std::string cpu_text = cpu.finish();
        // Wait for the answers still on their way (they count: they were sent in the window).
        const std::int64_t drain_end = now_ns() + static_cast<std::int64_t>(o_.timeout * 1e9);
        for (;;) {
            bool pending = false;
            for (auto& c : conns_) pending = pending || !c.sent_at.empty();
            if (!pending) break;
            if (now_ns() > drain_end) die("echoes still missing %.0f s after the last send", o_.timeout);
            poll_once(1'000'000, on_msg);
        }
        if (samples.empty()) die("no latency sample");
        std::sort(samples.begin(), samples.end());
        auto pct = [&](double q) {
            const std::size_t k = std::min(samples.size() - 1, static_cast<std::size_t>(q * static_cast<double>(samples.size())));
            return static_cast<double>(samples[k]) / 1000.0;
        };
        std::printf("RESULT mode=latency samples=%zu rate=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
                    "max_send_late_us=%.1f %s\n",
                    samples.size(), static_cast<double>(samples.size()) / o_.duration, pct(0.5), pct(0.99),
                    pct(0.999), static_cast<double>(samples.back()) / 1000.0,
                    static_cast<double>(max_late) / 1000.0, cpu_text.c_str());
        std::fflush(stdout);
        close_gracefully();
        return 0;
    }

    int broadcast() {
        pool_.build(data_opcode(), make_payload(o_.size, o_.binary), 64);
        on_open_ = [](connection&, std::size_t) {};
        open_all(o_.conns);
        const std::uint64_t n = conns_.size();
        // done[k % ring]: clients that have received broadcast k. Each client
        // receives in order, so broadcast k is complete when done reaches n.
        const std::size_t ring = 4096;
        std::vector<std::uint32_t> done(ring, 0);
        std::vector<std::int64_t> sent_at(ring, 0);
        std::uint64_t sent = 0, completed = 0, deliveries = 0;
        std::vector<double> last_ms, first_ms;
        std::vector<std::int64_t> first_at(ring, 0);
        auto on_msg = [&](connection& c, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            const std::uint64_t k = c.received - 1;
            if (k >= sent) die("a client received more broadcasts than were sent");
            ++deliveries;
            std::uint32_t& d = done[k % ring];
            if (d == 0) first_at[k % ring] = now_ns();
            if (++d == n) {
                if (k != completed) die("broadcast %" PRIu64 " completed out of order", k);
                ++completed;
                d = 0;
                const std::int64_t t = now_ns();
                last_ms.push_back(static_cast<double>(t - sent_at[k % ring]) / 1e6);
                first_ms.push_back(static_cast<double>(first_at[k % ring] - sent_at[k % ring]) / 1e6);
            }
        };
        auto send_one = [&] {
            sent_at[sent % ring] = now_ns();
            ++sent;
            queue_messages(conns_[0], 1);
            flush(conns_[0], 0);
        };
        // Phase 1: one broadcast at a time.
        const double deadline1 = now_s() + o_.timeout;
        for (int r = 0; r < o_.rounds; ++r) {
            send_one();
            while (completed < sent) {
                poll_once(10'000'000, on_msg);
                if (now_s() > deadline1) die("broadcast round %d incomplete after %.0f s", r, o_.timeout);
            }
        }
        std::vector<double> lat = last_ms, first = first_ms;
        std::sort(lat.begin(), lat.end());
        std::sort(first.begin(), first.end());
        // Phase 2: `window` broadcasts outstanding.
        last_ms.clear();
        const std::uint64_t window = static_cast<std::uint64_t>(std::max(1, o_.window));
        cpu_window cpu;
        cpu.start(o_.server_pid);
        const double t0 = now_s();
        const double deadline2 = t0 + o_.duration + o_.timeout;
        const std::uint64_t measured_from = deliveries;
        bool stop_sending = false;
        while (completed < sent || !stop_sending) {
            if (!stop_sending && now_s() >= t0 + o_.duration) stop_sending = true;
            while (!stop_sending && sent - completed < window) send_one();
            poll_once(10'000'000, on_msg);
            if (now_s() > deadline2) die("broadcasts incomplete %.0f s after the window", o_.timeout);
        }
        const double elapsed = now_s() - t0;
        const std::string cpu_text = cpu.finish();
        const double rate = static_cast<double>(deliveries - measured_from) / elapsed;
        std::printf("RESULT mode=broadcast clients=%" PRIu64 " last_ms_p50=%.3f last_ms_max=%.3f first_ms_p50=%.3f "
                    "deliveries=%" PRIu64 " seconds=%.3f rate=%.0f %s\n",
                    n, lat[lat.size() / 2], lat.back(), first[first.size() / 2], deliveries - measured_from,
                    elapsed, rate, cpu_text.c_str());
        std::fflush(stdout);
        close_gracefully();
        return 0;
    }

    int churn() {
        pool_.build(data_opcode(), make_payload(1, false), 1);
        closing_expected_ = true;
        conns_.assign(static_cast<std::size_t>(o_.concurrency), connection{});
        std::uint64_t cycles = 0;
        bool counting = false;
        bool stopping = false;
        on_open_ = [this](connection& c, std::size_t i) {
            // Open: start the closing handshake at once.
            c.control_out += close_frame_;
            c.close_sent = true;
            flush(c, i);
        };
        auto noop = [](connection&, std::size_t, std::uint64_t) {};
        for (std::size_t i = 0; i < conns_.size(); ++i) start_connect(i);
        const double t0 = now_s();
        const double warm_end = t0 + o_.warmup;
        const double end = warm_end + o_.duration;
        cpu_window cpu;
        double measured_start = 0;
        std::uint64_t last_closed = 0;
        double last_progress = t0;
        for (;;) {
            const double t = now_s();
            if (!counting && t >= warm_end) {
                counting = true;
                cycles = 0;
                measured_start = t;
                cpu.start(o_.server_pid);
            }
            if (t >= end) stopping = true;
            poll_once(5'000'000, noop);
            // Recycle the slots whose connection finished.
            if (closed_ != last_closed) {
                if (counting && !stopping) cycles += closed_ - last_closed;
                last_closed = closed_;
                last_progress = now_s();
                for (std::size_t i = 0; i < conns_.size(); ++i) {
                    if (conns_[i].state == conn_state::closed && !stopping) {
                        --open_;
                        start_connect(i);
                    }
                }
            }
            if (stopping) break;
            if (now_s() - last_progress > 5) die("no connection finished its close in 5 s");
        }
        const double elapsed = now_s() - measured_start;
        const std::string cpu_text = cpu.finish();
        if (cycles == 0) die("no connection cycle completed");
        std::printf("RESULT mode=churn cycles=%" PRIu64 " seconds=%.3f rate=%.0f %s\n", cycles, elapsed,
                    static_cast<double>(cycles) / elapsed, cpu_text.c_str());
        std::fflush(stdout);
        for (auto& c : conns_) close_conn(c);
        return 0;
    }

    int idle() {
        if (o_.server_pid <= 0) die("idle needs --server-pid");
        pool_.build(data_opcode(), make_payload(o_.size, o_.binary), 64);
        const long long before = proc_rss(o_.server_pid);
        on_open_ = [this](connection& c, std::size_t i) {
            queue_messages(c, 1);
            flush(c, i);
        };
        std::uint64_t echoed = 0;
        auto on_msg = [&](connection&, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            ++echoed;
        };
        conns_.assign(static_cast<std::size_t>(o_.conns), connection{});
        std::size_t next = 0;
        const double deadline = now_s() + o_.timeout;
        while (echoed < conns_.size()) {
            while (next < conns_.size() && connecting_ < 256) start_connect(next++);
            poll_once(10'000'000, on_msg);
            if (now_s() > deadline) die("only %" PRIu64 " of %d connections echoed in %.0f s", echoed, o_.conns, o_.timeout);
        }
        // Let the server settle (deferred work, sweeps), then read its RSS.
        const double settle = now_s() + 1.0;
        while (now_s() < settle) poll_once(10'000'000, on_msg);
        const long long after = proc_rss(o_.server_pid);
        std::printf("RESULT mode=idle conns=%d rss_before=%lld rss_after=%lld bytes_per_conn=%.0f\n", o_.conns,
                    before, after, static_cast<double>(after - before) / o_.conns);
        std::fflush(stdout);
        close_gracefully();
        return 0;
    }

    int feed() {
        on_open_ = [](connection&, std::size_t) {};
        open_all(o_.conns);
        std::uint64_t deliveries = 0;
        auto on_msg = [&](connection&, std::size_t, std::uint64_t bytes) {
            check_size(bytes, o_.size);
            ++deliveries;
        };
        double t0 = now_s();
        while (now_s() < t0 + o_.warmup) poll_once(10'000'000, on_msg);
        const std::uint64_t base = deliveries;
        cpu_window cpu;
        cpu.start(o_.server_pid);
        const double server_cpu0 = proc_cpu_s(o_.server_pid);
        t0 = now_s();
        while (now_s() < t0 + o_.duration) poll_once(10'000'000, on_msg);
        const double elapsed = now_s() - t0;
        const double server_cpu = proc_cpu_s(o_.server_pid) - server_cpu0;
        const std::string cpu_text = cpu.finish();
        const std::uint64_t got = deliveries - base;
        if (got == 0) die("no message delivered in the measured window");
        std::printf("RESULT mode=feed clients=%zu deliveries=%" PRIu64 " seconds=%.3f rate=%.0f srv_us_per_msg=%.3f %s\n",
                    conns_.size(), got, elapsed, static_cast<double>(got) / elapsed,
                    o_.server_pid ? server_cpu / static_cast<double>(got) * 1e6 : -1.0, cpu_text.c_str());
        std::fflush(stdout);
        close_gracefully();
        return 0;
    }

    options o_;
#ifdef WSX_LOADGEN_TLS
    SSL_CTX* tls_ctx_ = nullptr;
#endif
    int epoll_ = -1;
    std::vector<std::uint8_t> rx_;
    std::vector<connection> conns_;
    std::vector<std::string> keys_, accepts_;
    std::string close_frame_;
    std::string rest_;
    frame_pool pool_;
    std::function<void(connection&, std::size_t)> on_open_ = [](connection&, std::size_t) {};
    int connecting_ = 0;
    int open_ = 0;
    std::uint64_t closed_ = 0;
    std::uint64_t next_source_ = 0;
    bool closing_expected_ = false;
    bool refused_ok_ = false;
    bool refused_ = false;
};

options parse(int argc, char** argv) {
    options o;
    if (argc < 2) die("usage: wsx_loadgen probe|echo|latency|broadcast|churn|idle|feed [options] (see the source)");
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string_view a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) die("%s needs a value", argv[i]);
            return argv[++i];
        };
        if (a == "--host") o.host = value();
        else if (a == "--port") o.port = static_cast<std::uint16_t>(std::atoi(value()));
        else if (a == "--path") o.path = value();
        else if (a == "--conns") o.conns = std::atoi(value());
        else if (a == "--inflight") o.inflight = std::atoi(value());
        else if (a == "--size") o.size = static_cast<std::size_t>(std::strtoull(value(), nullptr, 10));
        else if (a == "--binary") o.binary = true;
        else if (a == "--duration") o.duration = std::atof(value());
        else if (a == "--warmup") o.warmup = std::atof(value());
        else if (a == "--messages") o.messages = std::strtoull(value(), nullptr, 10);
        else if (a == "--rate") o.rate = std::atof(value());
        else if (a == "--rounds") o.rounds = std::atoi(value());
        else if (a == "--window") o.window = std::atoi(value());
        else if (a == "--concurrency") o.concurrency = std::atoi(value());
        else if (a == "--server-pid") o.server_pid = std::atoi(value());
        else if (a == "--timeout") o.timeout = std::atof(value());
        else if (a == "--source-addresses") o.source_addresses = std::atoi(value());
        else if (a == "--raw") o.raw = true;
        else if (a == "--verify") o.verify = true;
        else if (a == "--tls") o.tls = true;
        else die("unknown option %s", argv[i]);
    }
    if (o.conns < 1 || o.inflight < 0 || o.concurrency < 1 || o.rate <= 0) die("bad option value");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    // Precise epoll timeouts for the latency schedule (the default slack is 50 µs).
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    loadgen lg(parse(argc, argv));
    return lg.run();
}

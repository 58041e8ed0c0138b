// SPDX-License-Identifier: BSL-1.0
// raw_echo_server: the physical limit for the benchmark suite. One thread, one
// epoll set, no WebSocket framing at all: it answers the opening handshake
// (RFC 6455 §4.2.2, so the load generator can treat it like any server), then
// echoes every byte it reads (echo mode) or writes it to every connection
// (broadcast mode). The load generator's masked frames come back verbatim,
// which it accepts from this peer only (--raw).
//
//   raw_echo_server [--port P] [--mode echo|broadcast]
//
// A connection costs its fd, a slot in a table indexed by fd, and an output
// buffer only while the socket refuses bytes: the least any server can hold.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <wsx/detail/base64.hpp>
#include <wsx/detail/sha1.hpp>

namespace {

volatile sig_atomic_t stop_requested = 0;

struct peer {
    std::string pending;     // handshake bytes until upgraded; then unsent output
    std::uint32_t sent = 0;  // bytes of `pending` already written
    std::int32_t member = -1;  // index in the broadcast list
    bool open = false;
    bool upgraded = false;
    bool want_write = false;
};

class raw_server {
public:
    raw_server(std::uint16_t port, bool broadcast) : broadcast_(broadcast), buffer_(256 * 1024) {
        listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(listener_, 4096) != 0) {
            std::perror("raw_echo_server: bind/listen");
            std::exit(1);
        }
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = listener_;
        epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    }

    void run() {
        epoll_event events[256];
        while (!stop_requested) {
            const int n = epoll_wait(epoll_, events, 256, -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                std::perror("raw_echo_server: epoll_wait");
                return;
            }
            for (int i = 0; i < n; ++i) {
                const int fd = events[i].data.fd;
                if (fd == listener_) {
                    accept_all();
                    continue;
                }
                if (static_cast<std::size_t>(fd) >= peers_.size() || !peers_[fd].open) continue;
                if (events[i].events & EPOLLOUT) on_writable(fd);
                if (peers_[fd].open && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(fd);
            }
        }
    }

private:
    void accept_all() {
        for (;;) {
            const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;  // EAGAIN, or out of fds: try again on the next event
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (static_cast<std::size_t>(fd) >= peers_.size()) peers_.resize(static_cast<std::size_t>(fd) + 1024);
            peers_[fd] = peer{};
            peers_[fd].open = true;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
        }
    }

    void set_events(int fd, bool read, bool write) {
        epoll_event ev{};
        ev.events = (read ? EPOLLIN : 0u) | (write ? EPOLLOUT : 0u);
        ev.data.fd = fd;
        epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
        peers_[fd].want_write = write;
    }

    void drop(int fd) {
        peer& p = peers_[fd];
        if (p.member >= 0) {
            const int last = members_.back();
            members_[static_cast<std::size_t>(p.member)] = last;
            peers_[last].member = p.member;
            members_.pop_back();
        }
        p = peer{};
        epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
        ::close(fd);
    }

    void on_readable(int fd) {
        const ssize_t n = ::recv(fd, buffer_.data(), buffer_.size(), 0);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) return drop(fd);
        std::string_view bytes(buffer_.data(), static_cast<std::size_t>(n));
        peer& p = peers_[fd];
        if (!p.upgraded) {
            p.pending.append(bytes);
            const std::size_t end = p.pending.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (p.pending.size() > 8192) drop(fd);
                return;
            }
            std::string request = std::move(p.pending);
            p.pending = std::string{};
            if (!answer_handshake(fd, std::string_view(request).substr(0, end + 4))) return drop(fd);
            bytes = std::string_view(request).substr(end + 4);
            if (bytes.empty()) return;
        }
        if (broadcast_) return send_all(bytes);
        if (!send_to(fd, bytes)) drop(fd);
    }

    bool answer_handshake(int fd, std::string_view request) {
        // Find Sec-WebSocket-Key (header names are case-insensitive).
        std::string lower(request);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const std::size_t at = lower.find("\r\nsec-websocket-key:");
        if (at == std::string::npos) return false;
        std::size_t v = at + 20;
        while (v < request.size() && request[v] == ' ') ++v;
        const std::size_t e = request.find("\r\n", v);
        std::string key(request.substr(v, e - v));
        while (!key.empty() && key.back() == ' ') key.pop_back();
        key += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        const auto digest = wsx::detail::sha1(key);
        const std::string accept = wsx::detail::base64_encode(std::span<const std::uint8_t>(digest.data(), digest.size()));
        const std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                     "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n";
        peers_[fd].upgraded = true;
        if (broadcast_) {
            peers_[fd].member = static_cast<std::int32_t>(members_.size());
            members_.push_back(fd);
        }
        return send_to(fd, response);
    }

    // Writes now what the socket takes; keeps the rest and, in echo mode,
    // stops reading from that peer until it is written (backpressure).
    // Returns false when the peer is gone (the caller drops it).
    bool send_to(int fd, std::string_view bytes) {
        peer& p = peers_[fd];
        if (!p.pending.empty()) {
            p.pending.append(bytes);
            return true;
        }
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) return false;
        const std::size_t done = n < 0 ? 0 : static_cast<std::size_t>(n);
        if (done == bytes.size()) return true;
        p.pending.assign(bytes.substr(done));
        p.sent = 0;
        set_events(fd, broadcast_, true);
        return true;
    }

    void send_all(std::string_view bytes) {
        // Dropping reorders members_: drop after the loop.
        for (const int fd : members_)
            if (!send_to(fd, bytes)) dead_.push_back(fd);
        for (const int fd : dead_) drop(fd);
        dead_.clear();
    }

    void on_writable(int fd) {
        peer& p = peers_[fd];
        while (p.sent < p.pending.size()) {
            const ssize_t n = ::send(fd, p.pending.data() + p.sent, p.pending.size() - p.sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN) return;
                return drop(fd);
            }
            p.sent += static_cast<std::uint32_t>(n);
        }
        std::string{}.swap(p.pending);
        p.sent = 0;
        set_events(fd, true, false);
    }

    bool broadcast_;
    int listener_ = -1;
    int epoll_ = -1;
    std::vector<char> buffer_;
    std::vector<peer> peers_;
    std::vector<int> members_;
    std::vector<int> dead_;
};

} // namespace

int main(int argc, char** argv) {
    std::uint16_t port = 9004;
    bool broadcast = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--mode") broadcast = std::string_view(argv[i + 1]) == "broadcast";
        else {
            std::fprintf(stderr, "usage: %s [--port P] [--mode echo|broadcast]\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa{};
    sa.sa_handler = [](int) { stop_requested = 1; };
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    raw_server server(port, broadcast);
    std::printf("raw echo server on 127.0.0.1:%u (%s)\n", port, broadcast ? "broadcast" : "echo");
    std::fflush(stdout);
    server.run();
}

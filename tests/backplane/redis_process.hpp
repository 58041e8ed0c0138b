// SPDX-License-Identifier: BSL-1.0
#pragma once
// A redis-server child process for the backplane tests and benchmark: started
// on a free loopback port with persistence off, killed with SIGKILL (a crash,
// as an operator would see it) and started again on the same port.
//
// Every wait has a deadline: a server that does not come up fails the test
// instead of hanging it. Linux only (PR_SET_PDEATHSIG).
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace wsx::test {

namespace redis_detail {

// A connected loopback socket, closed on scope exit.
class fd_guard {
public:
    explicit fd_guard(int fd) : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    int get() const noexcept { return fd_; }

private:
    int fd_;
};

inline sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

} // namespace redis_detail

// A port nobody listens on right now (the kernel picks it).
inline std::uint16_t free_loopback_port() {
    redis_detail::fd_guard s(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a = redis_detail::loopback(0);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error(std::string("free_loopback_port: bind: ") + std::strerror(errno));
    socklen_t len = sizeof a;
    ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

// Sends one inline command (e.g. "PING", "CLIENT KILL TYPE pubsub") to the
// Redis at 127.0.0.1:port and returns the first line of the reply, or "" when
// nothing answered within `timeout`.
inline std::string redis_command(std::uint16_t port, std::string_view command,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) {
    redis_detail::fd_guard s(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a = redis_detail::loopback(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
    std::string line{command};
    line += "\r\n";
    if (::send(s.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) return {};
    std::string reply;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (reply.find("\r\n") == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return {};
        pollfd p{s.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
        char buf[512];
        const ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
        if (n <= 0) return {};
        reply.append(buf, static_cast<std::size_t>(n));
    }
    return reply.substr(0, reply.find("\r\n"));
}

class redis_process {
public:
    // `extra` arguments go to redis-server as given (e.g. {"--requirepass", "s3cret"}).
    explicit redis_process(std::string executable, std::vector<std::string> extra = {})
        : exe_(std::move(executable)), extra_(std::move(extra)) {}
    ~redis_process() { kill(); }
    redis_process(const redis_process&) = delete;
    redis_process& operator=(const redis_process&) = delete;

    // Picks a free port (the first time) and starts; returns once Redis
    // answers PING. Throws with the reason when it cannot.
    void start() {
        if (running()) return;
        for (int attempt = 0;; ++attempt) {
            if (port_ == 0) port_ = free_loopback_port();
            if (spawn_and_wait()) return;
            // Another process took the port between the probe and the bind:
            // a fresh port, unless this is a restart on a fixed one.
            if (started_once_ || attempt == 3)
                throw std::runtime_error("redis-server did not come up on port " + std::to_string(port_));
            port_ = 0;
        }
    }

    // SIGKILL: no shutdown, clients see their connections reset or closed.
    void kill() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    bool running() const noexcept { return pid_ > 0; }
    std::uint16_t port() const noexcept { return port_; }
    // The port to use before start() (a test that starts Redis late).
    std::uint16_t reserve_port() {
        if (port_ == 0) port_ = free_loopback_port();
        return port_;
    }

private:
    bool spawn_and_wait() {
        const std::string port = std::to_string(port_);
        std::vector<std::string> args = {exe_,    "--port",         port,        "--bind",    "127.0.0.1",
                                         "--save", "",              "--appendonly", "no",     "--daemonize",
                                         "no",     "--loglevel",    "warning",   "--protected-mode", "no"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);

        // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: if the test
        // process dies (a failed assertion under a sanitizer aborts), Redis dies
        // too instead of holding the port, and CTest's output pipe, open. Its
        // output goes nowhere for the same reason. Between fork and exec the
        // child only makes async-signal-safe calls.
        const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);  // the parent is already gone
            if (devnull >= 0) {
                ::dup2(devnull, STDOUT_FILENO);
                ::dup2(devnull, STDERR_FILENO);
            }
            ::execv(exe_.c_str(), argv.data());
            ::_exit(127);
        }
        if (devnull >= 0) ::close(devnull);
        pid_ = pid;

        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;  // exited: the port was taken, or bad arguments
                return false;
            }
            const std::string reply = redis_command(port_, "PING", std::chrono::milliseconds(200));
            // With --requirepass, PING answers -NOAUTH: the server is up all the same.
            if (reply == "+PONG" || reply.starts_with("-NOAUTH")) {
                started_once_ = true;
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        kill();
        return false;
    }

    std::string exe_;
    std::vector<std::string> extra_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
    bool started_once_ = false;
};

} // namespace wsx::test

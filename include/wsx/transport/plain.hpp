// SPDX-License-Identifier: BSL-1.0
#pragma once
// Plain TCP transport (ws://).
#include <cstddef>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#if defined(__linux__)
#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <wsx/detail/epoll_poller.hpp>
#endif
#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx::transport {

struct plain {
    static constexpr const char* scheme = "ws";

    struct context {};  // nothing to configure for plain TCP

    // Bound to the io_context's executor: see transport::tcp_socket.
    using socket_type = tcp_socket;

#if defined(__linux__)
    // Makes the io_context's poller (and its epoll descriptor) now rather
    // than at the first connection.
    static void prepare(asio::io_context& io) { wsx::detail::epoll_poller::of(io); }

    // On Linux the socket leaves Asio's reactor: it is registered once, edge-
    // triggered, in its io_context's detail::epoll_poller, so a wait costs no
    // system call and an idle connection no Asio descriptor state or
    // operation (see epoll_poller.hpp). Errors are those Asio's socket gives
    // (system category errno values, asio::error::eof at end of stream).
    class stream {
    public:
        using executor_type = socket_type::executor_type;
        // Writes go straight to the kernel when it has room, so a connection
        // can write from a per-thread buffer and keep nothing of its own.
        static constexpr bool nonblocking_writes = true;

        stream(socket_type socket, context&) : poller_(&wsx::detail::epoll_poller::of(socket.get_executor().context())) {
            if (!socket.is_open()) return;
            std::error_code ec;
            socket.set_option(asio::ip::tcp::no_delay(true), ec);
            const int fd = socket.release(ec);
            if (ec) return;
            int on = 1;
            ::ioctl(fd, FIONBIO, &on);
            entry_ = poller_->add(fd, ec);
            if (!entry_) ::close(fd);
        }
        // A socket on an any_io_executor moves to the io_context behind it
        // (the descriptor is kept); one on another kind of executor cannot.
        stream(asio::ip::tcp::socket&& socket, context& ctx) : stream(rebind(std::move(socket)), ctx) {}

        stream(stream&& o) noexcept : poller_(o.poller_), entry_(std::exchange(o.entry_, nullptr)) {}
        stream& operator=(stream&& o) noexcept {
            if (this != &o) {
                close();
                poller_ = o.poller_;
                entry_ = std::exchange(o.entry_, nullptr);
            }
            return *this;
        }
        ~stream() { close(); }

        executor_type get_executor() noexcept { return poller_->context().get_executor(); }
        // The socket's descriptor (-1 once closed). It stays registered with
        // the poller: do not close it or change its blocking mode.
        int native_handle() const noexcept { return entry_ ? entry_->fd : -1; }

        template <class Handler>
        void async_handshake(role, Handler&& handler) {
            post_result(std::forward<Handler>(handler), std::error_code{});
        }

        template <class Handler>
        void async_wait_readable(Handler&& handler) {
            if (!entry_) return post_result(std::forward<Handler>(handler), asio::error::bad_descriptor);
            if (entry_->ready || entry_->hangup) return post_result(std::forward<Handler>(handler), std::error_code{});
            poller_->wait_readable(*entry_, std::forward<Handler>(handler));
        }

        std::size_t read_some(asio::mutable_buffer buffer, std::error_code& ec) {
            if (!entry_) {
                ec = asio::error::bad_descriptor;
                return 0;
            }
            if (buffer.size() == 0) {
                ec.clear();
                return 0;
            }
            for (;;) {
                const ssize_t n = ::recv(entry_->fd, buffer.data(), buffer.size(), 0);
                if (n > 0) {
                    ec.clear();
                    // Fewer bytes than asked: the socket is drained; bytes
                    // arriving later raise a new edge.
                    if (static_cast<std::size_t>(n) < buffer.size()) entry_->ready = false;
                    return static_cast<std::size_t>(n);
                }
                if (n == 0) {
                    ec = asio::error::eof;
                    entry_->hangup = true;
                    return 0;
                }
                if (errno == EINTR) continue;
                ec.assign(errno, asio::error::get_system_category());
                if (errno == EAGAIN || errno == EWOULDBLOCK) entry_->ready = false;
                return 0;
            }
        }

        template <class Buffers>
        std::size_t try_write_some(const Buffers& buffers, std::error_code& ec) {
            if (!entry_) {
                ec = asio::error::bad_descriptor;
                return 0;
            }
            iovec iov[max_iov];
            std::size_t count = 0;
            for (auto it = asio::buffer_sequence_begin(buffers), last = asio::buffer_sequence_end(buffers);
                 it != last && count < max_iov; ++it) {
                const asio::const_buffer b(*it);
                if (b.size() == 0) continue;
                iov[count++] = iovec{const_cast<void*>(b.data()), b.size()};
            }
            return send(entry_->fd, iov, count, ec);
        }

        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& handler) {
            if (!entry_)
                return post_result(std::forward<Handler>(handler), asio::error::bad_descriptor, std::size_t{0});
            auto op = std::make_unique<write_op<std::decay_t<Handler>>>(std::forward<Handler>(handler));
            for (auto it = asio::buffer_sequence_begin(buffers), last = asio::buffer_sequence_end(buffers);
                 it != last; ++it) {
                const asio::const_buffer b(*it);
                if (b.size() != 0) op->iov.push_back(iovec{const_cast<void*>(b.data()), b.size()});
            }
            // Write what the kernel takes now; wait for EPOLLOUT only if it is full.
            if (!op->perform(entry_->fd)) return poller_->wait_writable(*entry_, op.release());
            // Completes through the executor, never inline; the posted function
            // owns the operation, so an io_context destroyed first frees it.
            asio::post(poller_->context(), [done = std::unique_ptr<write_op_base>(op.release())]() mutable {
                done.release()->complete();
            });
        }

        // Sends FIN; the peer sees end of stream once it has read what we sent.
        template <class Handler>
        void async_shutdown(Handler&& handler) {
            std::error_code ec = asio::error::bad_descriptor;
            if (entry_) {
                ec.clear();
                if (::shutdown(entry_->fd, SHUT_WR) != 0) ec.assign(errno, asio::error::get_system_category());
            }
            post_result(std::forward<Handler>(handler), ec);
        }

        // Closes the socket; a pending wait or write completes with
        // operation_aborted (posted).
        void close() noexcept {
            if (entry_) poller_->remove(*std::exchange(entry_, nullptr));
        }

        asio::ip::tcp::endpoint remote_endpoint() const {
            asio::ip::tcp::endpoint ep;
            if (!entry_) return ep;
            socklen_t len = static_cast<socklen_t>(ep.capacity());
            if (::getpeername(entry_->fd, ep.data(), &len) != 0) return asio::ip::tcp::endpoint{};
            ep.resize(len);
            return ep;
        }

    private:
        // As Asio's socket operations: at most 64 buffers per system call.
        static constexpr std::size_t max_iov = 64;

        static std::size_t send(int fd, iovec* iov, std::size_t count, std::error_code& ec) {
            if (count == 0) {
                ec.clear();
                return 0;
            }
            msghdr msg{};
            msg.msg_iov = iov;
            msg.msg_iovlen = count;
            for (;;) {
                const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
                if (n >= 0) {
                    ec.clear();
                    return static_cast<std::size_t>(n);
                }
                if (errno == EINTR) continue;
                ec.assign(errno, asio::error::get_system_category());
                return 0;
            }
        }

        struct write_op_base : wsx::detail::writable_op {
            std::vector<iovec> iov;
            std::size_t next = 0;     // first iovec not fully written
            std::size_t written = 0;  // bytes so far
            std::error_code ec;

            // Writes until done, an error, or the kernel is full (false).
            bool perform(int fd) override {
                while (next < iov.size()) {
                    const std::size_t count = std::min(iov.size() - next, max_iov);
                    std::size_t n = send(fd, iov.data() + next, count, ec);
                    if (ec) {
                        if (ec != asio::error::would_block && ec != asio::error::try_again) return true;
                        ec.clear();
                        return false;
                    }
                    written += n;
                    while (n > 0 && next < iov.size()) {
                        iovec& v = iov[next];
                        const std::size_t k = std::min(n, v.iov_len);
                        v.iov_base = static_cast<char*>(v.iov_base) + k;
                        v.iov_len -= k;
                        n -= k;
                        if (v.iov_len == 0) ++next;
                    }
                }
                return true;
            }
        };

        template <class Handler>
        struct write_op final : write_op_base {
            Handler handler;
            explicit write_op(Handler&& h) : handler(std::move(h)) {}
            explicit write_op(const Handler& h) : handler(h) {}
            void complete() override {
                Handler h = std::move(handler);
                const std::error_code e = this->ec;
                const std::size_t n = this->written;
                delete this;
                h(e, n);
            }
            void abort(asio::io_context& io) override {
                this->ec = asio::error::operation_aborted;
                asio::post(io, [op = std::unique_ptr<write_op>(this)]() mutable { op.release()->complete(); });
            }
        };

        template <class Handler, class... Args>
        void post_result(Handler&& handler, Args... args) {
            asio::post(poller_->context(),
                       [h = std::forward<Handler>(handler), args...]() mutable { h(args...); });
        }

        static socket_type rebind(asio::ip::tcp::socket&& socket) {
            const asio::ip::tcp::socket::executor_type any = socket.get_executor();
            const auto* ex = any.target<executor_type>();
            if (!ex)
                throw std::invalid_argument(
                    "wsx::transport::plain::stream: the socket must run on an io_context executor");
            if (!socket.is_open()) return socket_type(*ex);
            const auto protocol = socket.local_endpoint().protocol();
            return socket_type(*ex, protocol, socket.release());
        }

        wsx::detail::epoll_poller* poller_;
        wsx::detail::epoll_poller::entry* entry_ = nullptr;
    };
#else
    class stream {
    public:
        using executor_type = socket_type::executor_type;
        // Writes go straight to the kernel when it has room, so a connection
        // can write from a per-thread buffer and keep nothing of its own.
        static constexpr bool nonblocking_writes = true;

        stream(socket_type socket, context&) : socket_(std::move(socket)) {
            std::error_code ec;
            socket_.non_blocking(true, ec);
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        }
        // A socket on an any_io_executor moves to the io_context behind it
        // (the descriptor is kept); one on another kind of executor cannot.
        stream(asio::ip::tcp::socket&& socket, context& ctx) : stream(rebind(std::move(socket)), ctx) {}

        executor_type get_executor() noexcept { return socket_.get_executor(); }
        socket_type& socket() noexcept { return socket_; }
        int native_handle() noexcept { return socket_.is_open() ? static_cast<int>(socket_.native_handle()) : -1; }

        template <class Handler>
        void async_handshake(role, Handler&& handler) {
            asio::post(socket_.get_executor(),
                       [h = std::forward<Handler>(handler)]() mutable { h(std::error_code{}); });
        }

        template <class Handler>
        void async_wait_readable(Handler&& handler) {
            socket_.async_wait(asio::socket_base::wait_read, std::forward<Handler>(handler));
        }

        std::size_t read_some(asio::mutable_buffer buffer, std::error_code& ec) {
            return socket_.read_some(buffer, ec);
        }

        template <class Buffers>
        std::size_t try_write_some(const Buffers& buffers, std::error_code& ec) {
            return socket_.write_some(buffers, ec);
        }

        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& handler) {
            asio::async_write(socket_, buffers, std::forward<Handler>(handler));
        }

        // Sends FIN; the peer sees end of stream once it has read what we sent.
        template <class Handler>
        void async_shutdown(Handler&& handler) {
            std::error_code ec;
            socket_.shutdown(asio::socket_base::shutdown_send, ec);
            asio::post(socket_.get_executor(),
                       [h = std::forward<Handler>(handler), ec]() mutable { h(ec); });
        }

        void close() noexcept {
            std::error_code ec;
            socket_.close(ec);
        }

        asio::ip::tcp::endpoint remote_endpoint() const {
            std::error_code ec;
            return socket_.remote_endpoint(ec);
        }

    private:
        static socket_type rebind(asio::ip::tcp::socket&& socket) {
            const asio::ip::tcp::socket::executor_type any = socket.get_executor();
            const auto* ex = any.target<executor_type>();
            if (!ex)
                throw std::invalid_argument(
                    "wsx::transport::plain::stream: the socket must run on an io_context executor");
            if (!socket.is_open()) return socket_type(*ex);
            const auto protocol = socket.local_endpoint().protocol();
            return socket_type(*ex, protocol, socket.release());
        }

        socket_type socket_;
    };
#endif
};

static_assert(policy<plain>, "wsx::transport::plain must model wsx::transport::policy");

} // namespace wsx::transport

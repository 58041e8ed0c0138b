// SPDX-License-Identifier: BSL-1.0
#pragma once
// Plain TCP transport (ws://).
#include <cstddef>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx::transport {

struct plain {
    static constexpr const char* scheme = "ws";

    struct context {};  // nothing to configure for plain TCP

    // Bound to the io_context's executor: see transport::tcp_socket.
    using socket_type = tcp_socket;

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
};

static_assert(policy<plain>, "wsx::transport::plain must model wsx::transport::policy");

} // namespace wsx::transport

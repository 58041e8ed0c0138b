// SPDX-License-Identifier: BSL-1.0
#pragma once
// Plain TCP transport (ws://).
#include <cstddef>
#include <system_error>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx::transport {

struct plain {
    static constexpr const char* scheme = "ws";

    struct context {};  // nothing to configure for plain TCP

    class stream {
    public:
        using executor_type = asio::ip::tcp::socket::executor_type;
        // Writes go straight to the kernel when it has room, so a connection
        // can write from a per-thread buffer and keep nothing of its own.
        static constexpr bool nonblocking_writes = true;

        stream(asio::ip::tcp::socket socket, context&) : socket_(std::move(socket)) {
            std::error_code ec;
            socket_.non_blocking(true, ec);
            socket_.set_option(asio::ip::tcp::no_delay(true), ec);
        }

        executor_type get_executor() noexcept { return socket_.get_executor(); }
        asio::ip::tcp::socket& socket() noexcept { return socket_; }

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
        asio::ip::tcp::socket socket_;
    };
};

static_assert(policy<plain>, "wsx::transport::plain must model wsx::transport::policy");

} // namespace wsx::transport

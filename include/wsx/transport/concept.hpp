// SPDX-License-Identifier: BSL-1.0
#pragma once
// The transport concept: the few operations a connection needs from a byte
// stream. wsx ships two models (plain.hpp, tls.hpp); a test transport or a
// Unix-domain socket is another model and needs no change elsewhere.
//
// A transport T provides:
//   T::context                      shared configuration (certificates, ...)
//   T::stream                       one connection's byte stream, constructible
//                                   from (asio::ip::tcp::socket&&, T::context&)
//   T::scheme                       "ws" or "wss"
// and T::stream provides:
//   get_executor()
//   async_handshake(role, h)        transport-level handshake (TLS); h(error_code)
//   async_wait_readable(h)          h(error_code) when read_some may have data
//   read_some(mutable_buffer, ec)   never blocks: would_block when nothing is there
//   async_write(buffers, h)         writes every byte; h(error_code, size_t)
//   try_write_some(buffers, ec)     never blocks; may write nothing
//   nonblocking_writes              true when try_write_some can write (plain);
//                                   false routes every write through async_write
//   async_shutdown(h)               graceful end of our sending side; h(error_code)
//   close()                         drop the connection now
//   remote_endpoint()
// and, optionally, T::prepare(asio::io_context&): per-io_context state of the
// transport, made by the server for each I/O thread before it serves (plain
// TCP's epoll set on Linux, detail/epoll_poller.hpp).
#include <concepts>
#include <cstddef>
#include <system_error>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <wsx/protocol/role.hpp>

namespace wsx::transport {

// The socket the server accepts and the client connects: bound to an
// io_context's executor (8 bytes) rather than asio::any_io_executor (56), which
// shrinks the socket and every Asio operation that carries its executor (the
// pending wait of each idle connection among them). A stream constructible
// from asio::ip::tcp::socket&& still takes it: the socket converts.
using tcp_socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

namespace detail {
struct probe_handler {
    void operator()(std::error_code) const {}
    void operator()(std::error_code, std::size_t) const {}
};
} // namespace detail

template <class S>
concept stream = requires(S& s, asio::mutable_buffer mb, std::error_code& ec,
                          const std::vector<asio::const_buffer>& cb, detail::probe_handler h) {
    s.get_executor();
    s.async_handshake(role::server, h);
    s.async_wait_readable(h);
    { s.read_some(mb, ec) } -> std::convertible_to<std::size_t>;
    s.async_write(cb, h);
    { s.try_write_some(cb, ec) } -> std::convertible_to<std::size_t>;
    { S::nonblocking_writes } -> std::convertible_to<bool>;
    s.async_shutdown(h);
    s.close();
    { s.remote_endpoint() } -> std::convertible_to<asio::ip::tcp::endpoint>;
};

template <class T>
concept policy = requires {
    typename T::context;
    typename T::stream;
    { T::scheme } -> std::convertible_to<const char*>;
} && stream<typename T::stream>;

} // namespace wsx::transport

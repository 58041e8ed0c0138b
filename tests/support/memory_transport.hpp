// SPDX-License-Identifier: BSL-1.0
#pragma once
// An in-memory transport that models wsx::transport::policy, so every path of
// the connection (including its error paths) runs without sockets.
//
// The test holds a memory_transport::pipe: it feeds the bytes the connection
// will read, collects what the connection wrote, closes the far end, limits how
// many bytes a write may take (a slow reader), makes the Nth I/O operation
// fail, and chooses the remote endpoint the stream reports.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx::test {

struct memory_transport {
    static constexpr const char* scheme = "mem";
    struct context {};

    struct pipe {
        explicit pipe(asio::io_context& io) : io(io) {}
        asio::io_context& io;
        std::string inbound;   // fed by the test, read by the connection
        std::string outbound;  // written by the connection
        bool peer_eof = false;           // the far end closed its sending side
        bool shut_down = false;          // the connection sent its FIN
        bool closed = false;             // the connection closed the stream
        std::size_t write_budget = static_cast<std::size_t>(-1);  // bytes writes may still take
        int fail_at = -1;                // 0-based index of the operation that fails
        int operations = 0;
        std::size_t write_calls = 0;     // how many times bytes were written (syscalls, for a socket)
        std::vector<const void*> written_from;  // start of every buffer a write took bytes from
        // What remote_endpoint() reports: any address a test needs to play
        // (a documentation address by default; no traffic ever goes there).
        asio::ip::tcp::endpoint remote{asio::ip::make_address("192.0.2.1"), 40000};
        std::function<void(std::error_code)> read_waiter;
        std::function<void()> write_waiter;

        void feed(std::string_view bytes) {
            inbound.append(bytes);
            wake_reader();
        }
        void close_peer() {
            peer_eof = true;
            wake_reader();
        }
        // Lets blocked writes continue with `n` more bytes of room.
        void allow_writes(std::size_t n = static_cast<std::size_t>(-1)) {
            write_budget = n;
            if (write_waiter) asio::post(io, std::exchange(write_waiter, nullptr));
        }
        std::string take_output() { return std::exchange(outbound, {}); }

        bool fail_now() { return operations++ == fail_at; }
        void wake_reader() {
            if (read_waiter)
                asio::post(io, [h = std::exchange(read_waiter, nullptr)] { h(std::error_code{}); });
        }
    };

    class stream {
    public:
        static constexpr bool nonblocking_writes = true;
        using executor_type = asio::io_context::executor_type;

        explicit stream(std::shared_ptr<pipe> p) : p_(std::move(p)) {}
        stream(asio::ip::tcp::socket&&, context&) {
            throw std::logic_error("memory_transport streams are made by tests");
        }

        executor_type get_executor() const { return p_->io.get_executor(); }

        template <class Handler>
        void async_handshake(role, Handler&& h) {
            asio::post(p_->io, [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }

        template <class Handler>
        void async_wait_readable(Handler&& h) {
            if (p_->closed) {
                asio::post(p_->io, [h = std::forward<Handler>(h)]() mutable {
                    h(asio::error::operation_aborted);
                });
                return;
            }
            p_->read_waiter = std::forward<Handler>(h);
            if (!p_->inbound.empty() || p_->peer_eof) p_->wake_reader();
        }

        std::size_t read_some(asio::mutable_buffer b, std::error_code& ec) {
            ec = {};
            if (p_->fail_now()) {
                ec = asio::error::connection_reset;
                return 0;
            }
            if (p_->inbound.empty()) {
                ec = p_->peer_eof ? std::error_code(asio::error::eof)
                                  : std::error_code(asio::error::would_block);
                return 0;
            }
            const std::size_t n = asio::buffer_copy(b, asio::buffer(p_->inbound));
            p_->inbound.erase(0, n);
            return n;
        }

        template <class Buffers>
        std::size_t try_write_some(const Buffers& buffers, std::error_code& ec) {
            ec = {};
            if (p_->fail_now()) {
                ec = asio::error::broken_pipe;
                return 0;
            }
            std::size_t n = 0;
            for (const asio::const_buffer& b : buffers) {
                const std::size_t take = std::min(b.size(), p_->write_budget);
                if (take > 0) p_->written_from.push_back(b.data());
                p_->outbound.append(static_cast<const char*>(b.data()), take);
                p_->write_budget -= take;
                n += take;
                if (take < b.size()) break;
            }
            if (n > 0) ++p_->write_calls;
            if (n == 0 && asio::buffer_size(buffers) > 0) ec = asio::error::would_block;
            return n;
        }

        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& h) {
            // Copy the buffer list: the caller keeps the bytes alive, not the list.
            std::vector<asio::const_buffer> list(asio::buffer_sequence_begin(buffers),
                                                 asio::buffer_sequence_end(buffers));
            write_more(std::move(list), 0, std::forward<Handler>(h));
        }

        template <class Handler>
        void async_shutdown(Handler&& h) {
            p_->shut_down = true;
            asio::post(p_->io, [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }

        void close() noexcept {
            p_->closed = true;
            p_->write_waiter = nullptr;  // it refers to this stream, which may go away now
            if (p_->read_waiter)
                asio::post(p_->io, [h = std::exchange(p_->read_waiter, nullptr)] {
                    h(asio::error::operation_aborted);
                });
        }

        asio::ip::tcp::endpoint remote_endpoint() const { return p_->remote; }

    private:
        template <class Handler>
        void write_more(std::vector<asio::const_buffer> list, std::size_t done, Handler&& h) {
            std::error_code ec;
            const std::size_t n = try_write_some(list, ec);
            done += n;
            std::size_t left = n;
            while (!list.empty() && left >= list.front().size()) {
                left -= list.front().size();
                list.erase(list.begin());
            }
            if (!list.empty()) list.front() += left;
            if (ec && ec != asio::error::would_block) {
                asio::post(p_->io, [h = std::forward<Handler>(h), ec, done]() mutable { h(ec, done); });
                return;
            }
            if (list.empty()) {
                asio::post(p_->io, [h = std::forward<Handler>(h), done]() mutable {
                    h(std::error_code{}, done);
                });
                return;
            }
            p_->write_waiter = [this, list = std::move(list), done,
                                h = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(h))]() mutable {
                write_more(std::move(list), done, std::move(*h));
            };
        }

        std::shared_ptr<pipe> p_;
    };
};

static_assert(transport::policy<memory_transport>,
              "the test transport must model wsx::transport::policy");

} // namespace wsx::test

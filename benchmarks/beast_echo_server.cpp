// SPDX-License-Identifier: BSL-1.0
// beast_echo_server: the Boost.Beast peer of the benchmark suite, written the
// way Beast's documentation writes an asynchronous WebSocket server: a
// listener that accepts each socket onto its own strand, one session object
// per connection owned by its pending operations (shared_from_this), the
// suggested server timeouts, and for broadcast a shared state holding the
// sessions, where each session keeps a queue of shared immutable messages and
// writes them one at a time. One io_context, one thread. Sockets get
// TCP_NODELAY, as wsx's and the raw echo's do.
//
//   beast_echo_server [--port P] [--mode echo|broadcast]
#include <boost/asio/dispatch.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

void fail(beast::error_code ec, char const* what) {
    // The ordinary ways for a connection to end are not worth a line.
    if (ec == websocket::error::closed || ec == net::error::operation_aborted || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == beast::error::timeout)
        return;
    std::cerr << what << ": " << ec.message() << "\n";
}

class session;

// What the broadcast sessions share: who is connected.
class shared_state {
public:
    void join(session* s) { sessions_.insert(s); }
    void leave(session* s) { sessions_.erase(s); }
    void send(std::string message);

private:
    std::unordered_set<session*> sessions_;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, std::shared_ptr<shared_state> state)
        : ws_(std::move(socket)), state_(std::move(state)) {}

    ~session() {
        if (state_) state_->leave(this);
    }

    void run() {
        // Start on the session's strand: the stream is not thread-safe.
        net::dispatch(ws_.get_executor(), beast::bind_front_handler(&session::on_run, shared_from_this()));
    }

    // Broadcast: queue a message for this client.
    void send(std::shared_ptr<std::string const> const& message) {
        queue_.push_back(message);
        if (queue_.size() > 1) return;  // a write is in progress
        do_write();
    }

private:
    void on_run() {
        // Small frames leave at once (Nagle would hold Beast's 4 KiB
        // auto-fragments of a larger message until the peer's delayed ACK).
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ec);
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(http::field::server, "beast-bench"); }));
        ws_.async_accept(beast::bind_front_handler(&session::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec) {
        if (ec) return fail(ec, "accept");
        if (state_) state_->join(this);
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "read");
        if (state_) {
            state_->send(beast::buffers_to_string(buffer_.data()));
            buffer_.consume(buffer_.size());
            return do_read();
        }
        // Echo: the same kind of message back, from the same buffer.
        ws_.text(ws_.got_text());
        ws_.async_write(buffer_.data(), beast::bind_front_handler(&session::on_echo_written, shared_from_this()));
    }

    void on_echo_written(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        buffer_.consume(buffer_.size());
        do_read();
    }

    void do_write() {
        ws_.text(true);
        ws_.async_write(net::buffer(*queue_.front()),
                        beast::bind_front_handler(&session::on_queued_written, shared_from_this()));
    }

    void on_queued_written(beast::error_code ec, std::size_t) {
        if (ec) return fail(ec, "write");
        queue_.erase(queue_.begin());
        if (!queue_.empty()) do_write();
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::shared_ptr<shared_state> state_;  // null in echo mode
    std::vector<std::shared_ptr<std::string const>> queue_;
};

void shared_state::send(std::string message) {
    // One copy of the payload, shared by every session's queue.
    auto const ss = std::make_shared<std::string const>(std::move(message));
    for (session* s : sessions_) s->send(ss);
}

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint endpoint, std::shared_ptr<shared_state> state)
        : ioc_(ioc), acceptor_(ioc), state_(std::move(state)) {
        beast::error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
        if (ec) {
            std::cerr << "listen: " << ec.message() << "\n";
            std::exit(1);
        }
    }

    void run() { do_accept(); }

private:
    void do_accept() {
        // Each connection gets its own strand.
        acceptor_.async_accept(net::make_strand(ioc_),
                               beast::bind_front_handler(&listener::on_accept, shared_from_this()));
    }

    void on_accept(beast::error_code ec, tcp::socket socket) {
        if (ec) fail(ec, "accept");
        else std::make_shared<session>(std::move(socket), state_)->run();
        do_accept();
    }

    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<shared_state> state_;
};

} // namespace

int main(int argc, char** argv) {
    unsigned short port = 9002;
    bool broadcast = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
        else if (flag == "--mode") broadcast = std::string_view(argv[i + 1]) == "broadcast";
        else {
            std::cerr << "usage: " << argv[0] << " [--port P] [--mode echo|broadcast]\n";
            return 2;
        }
    }

    net::io_context ioc{1};
    std::make_shared<listener>(ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), port},
                               broadcast ? std::make_shared<shared_state>() : nullptr)
        ->run();

    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](beast::error_code const&, int) { ioc.stop(); });

    std::printf("beast %s server on ws://127.0.0.1:%u/\n", broadcast ? "broadcast" : "echo", port);
    std::fflush(stdout);
    ioc.run();
}

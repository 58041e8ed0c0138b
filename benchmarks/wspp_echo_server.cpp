// SPDX-License-Identifier: BSL-1.0
// wspp_echo_server: the websocketpp peer of the benchmark suite, in
// websocketpp's own style: a server endpoint of the stock asio (no TLS)
// config on standalone Asio, handlers bound to free functions or a small
// class, connections identified by connection_hdl kept in an owner_less set
// for broadcast. One io_service, run on the main thread.
//
//   wspp_echo_server [--port P] [--mode echo|broadcast]
//
// Access logging is switched off: by default websocketpp writes a line per
// connection to stdout, which would measure the terminal, not the library.
#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string_view>

namespace {

using server = websocketpp::server<websocketpp::config::asio>;
using websocketpp::connection_hdl;
using websocketpp::lib::placeholders::_1;
using websocketpp::lib::placeholders::_2;

void on_echo_message(server* s, connection_hdl hdl, server::message_ptr msg) {
    websocketpp::lib::error_code ec;
    s->send(hdl, msg->get_payload(), msg->get_opcode(), ec);
}

// Every message received goes to every open connection.
class broadcaster {
public:
    explicit broadcaster(server& s) : server_(s) {
        server_.set_open_handler(websocketpp::lib::bind(&broadcaster::on_open, this, _1));
        server_.set_close_handler(websocketpp::lib::bind(&broadcaster::on_close, this, _1));
        server_.set_message_handler(websocketpp::lib::bind(&broadcaster::on_message, this, _1, _2));
    }

private:
    void on_open(connection_hdl hdl) { connections_.insert(hdl); }
    void on_close(connection_hdl hdl) { connections_.erase(hdl); }
    void on_message(connection_hdl, server::message_ptr msg) {
        websocketpp::lib::error_code ec;
        for (auto const& hdl : connections_) server_.send(hdl, msg, ec);
    }

    server& server_;
    std::set<connection_hdl, std::owner_less<connection_hdl>> connections_;
};

} // namespace

int main(int argc, char** argv) {
    unsigned short port = 9003;
    bool broadcast = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
        else if (flag == "--mode") broadcast = std::string_view(argv[i + 1]) == "broadcast";
        else {
            std::fprintf(stderr, "usage: %s [--port P] [--mode echo|broadcast]\n", argv[0]);
            return 2;
        }
    }

    server s;
    s.clear_access_channels(websocketpp::log::alevel::all);
    s.init_asio();
    s.set_reuse_addr(true);
    // TCP_NODELAY, as wsx and the other servers of the suite set it.
    s.set_socket_init_handler([](connection_hdl, asio::ip::tcp::socket& socket) {
        asio::error_code ec;
        socket.set_option(asio::ip::tcp::no_delay(true), ec);
    });

    websocketpp::lib::unique_ptr<broadcaster> b;
    if (broadcast) b.reset(new broadcaster(s));
    else s.set_message_handler(websocketpp::lib::bind(&on_echo_message, &s, _1, _2));

    asio::signal_set signals(s.get_io_service(), SIGINT, SIGTERM);
    signals.async_wait([&s](asio::error_code const&, int) {
        websocketpp::lib::error_code ec;
        s.stop_listening(ec);
        s.stop();
    });

    s.listen(asio::ip::tcp::endpoint(asio::ip::address::from_string("127.0.0.1"), port));
    s.start_accept();
    std::printf("websocketpp %s server on ws://127.0.0.1:%u/\n", broadcast ? "broadcast" : "echo", port);
    std::fflush(stdout);
    s.run();
}

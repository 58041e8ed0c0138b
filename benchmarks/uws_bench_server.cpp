// SPDX-License-Identifier: BSL-1.0
// uws_bench_server: the uWebSockets peer of the benchmark suite (issue #15), one
// thread, the way uWebSockets' own examples write servers. Built only when the
// uWebSockets sources are found (see benchmarks/CMakeLists.txt); this file is
// ours, uWebSockets itself is compiled from a copy of its sources in the build
// directory.
//
//   uws_bench_server [--port P] [--mode echo|broadcast] [--cert CHAIN.pem --key KEY.pem]
//
// echo       every message comes back with its opcode (uWS::WebSocket::send)
// broadcast  every client subscribes to one topic on open; every message
//            received is published to it with uWS::App::publish (the sender
//            included, as wsx's registry::broadcast does)
// --cert/--key: wss:// (uWS::SSLApp); only in the binary built with OpenSSL
// (uws_bench_server_tls).
//
// SIGINT / SIGTERM end it through exit() on the loop's thread (callgrind
// writes its profile at exit).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "App.h"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_signal(int) { stop_requested = 1; }

struct per_socket {};

template <bool SSL>
int serve(uWS::TemplatedApp<SSL>& app, int port, const std::string& mode) {
    using app_type = uWS::TemplatedApp<SSL>;
    typename app_type::template WebSocketBehavior<per_socket> behavior;
    behavior.compression = uWS::DISABLED;
    // The suite sends up to 1 MiB messages and keeps up to 32 of them
    // outstanding; uWS's defaults (16 KiB, 64 KiB) would refuse or drop them.
    behavior.maxPayloadLength = 100 * 1024 * 1024;
    behavior.maxBackpressure = 100 * 1024 * 1024;
    behavior.closeOnBackpressureLimit = false;
    app_type* self = &app;
    if (mode == "echo") {
        behavior.message = [](auto* ws, std::string_view message, uWS::OpCode op) { ws->send(message, op, false); };
    } else if (mode == "broadcast") {
        behavior.open = [](auto* ws) { ws->subscribe("all"); };
        behavior.message = [self](auto*, std::string_view message, uWS::OpCode op) {
            self->publish("all", message, op, false);
        };
    } else {
        std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
        return 2;
    }
    bool listening = false;
    app.template ws<per_socket>("/*", std::move(behavior)).listen("127.0.0.1", port, [&](us_listen_socket_t* s) {
        listening = s != nullptr;
    });
    if (!listening) {
        std::fprintf(stderr, "uws_bench_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    // A signal only sets a flag; a timer on the loop ends the process from there.
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    us_timer_t* timer = us_create_timer(reinterpret_cast<us_loop_t*>(uWS::Loop::get()), 0, 0);
    us_timer_set(
        timer, [](us_timer_t*) {
            if (stop_requested) std::exit(0);
        },
        50, 50);
    std::printf("uWebSockets bench server (%s) on %s://127.0.0.1:%d/\n", mode.c_str(), SSL ? "wss" : "ws", port);
    std::fflush(stdout);
    app.run();
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    int port = 9001;
    std::string mode = "echo", cert, key;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") port = std::atoi(argv[i + 1]);
        else if (flag == "--mode") mode = argv[i + 1];
        else if (flag == "--cert") cert = argv[i + 1];
        else if (flag == "--key") key = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: %s [--port P] [--mode echo|broadcast] [--cert CHAIN.pem --key KEY.pem]\n",
                         argv[0]);
            return 2;
        }
    }
#ifdef WSX_UWS_TLS
    if (cert.empty() || key.empty()) {
        std::fprintf(stderr, "uws_bench_server_tls: --cert and --key are required\n");
        return 2;
    }
    uWS::SSLApp app({.key_file_name = key.c_str(), .cert_file_name = cert.c_str()});
    if (app.constructorFailed()) {
        std::fprintf(stderr, "uws_bench_server_tls: cannot load %s / %s\n", cert.c_str(), key.c_str());
        return 1;
    }
    return serve(app, port, mode);
#else
    if (!cert.empty() || !key.empty()) {
        std::fprintf(stderr, "uws_bench_server: built without TLS; use uws_bench_server_tls\n");
        return 2;
    }
    uWS::App app;
    return serve(app, port, mode);
#endif
}

// SPDX-License-Identifier: BSL-1.0
// The server that tests/net/fault_test.cpp puts under load, in a process of
// its own: ten thousand loopback connections need a descriptor at each end,
// and the two ends together would not fit under one process's RLIMIT_NOFILE.
// Running apart also lets the test count the server's descriptors and memory
// from /proc without its own sockets and allocations in the figures.
//
//   fault_server [--threads N] [--handshake-timeout MS] [--idle-timeout MS]
//                [--close-timeout MS] [--stop-timeout MS] [--max-buffered BYTES]
//                [--timer-resolution MS]
//
// It listens on 127.0.0.1, port 0, and prints "port <n>" on stdout once
// SIGTERM and SIGINT are wired to a graceful stop. It exits 0 when stop()
// has finished, so under AddressSanitizer a leak report turns into a failing
// exit status the test sees.
//
// Routes:
//   /echo   WebSocket: every message comes back unchanged.
//   /feed   WebSocket, tracked by a registry: every message is broadcast to
//           the other /feed clients (a publisher and its readers).
//   /stats  HTTP: {"sessions":S,"feed":F,"heap":H}: S includes this request's
//           session; H is the bytes glibc's malloc has handed out and not had
//           back (-1 elsewhere), a leak signal that fragmentation cannot blur.
//   /trim   HTTP: returns the heap's free pages to the kernel (see below).
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <wsx/endpoints.hpp>
#include <wsx/registry.hpp>
#include <wsx/server.hpp>

namespace {

long number(const char* flag, const char* value) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < 0) {
        std::fprintf(stderr, "fault_server: %s needs a non-negative integer, not '%s'\n", flag, value);
        std::exit(2);
    }
    return v;
}

#if defined(__SANITIZE_ADDRESS__)
#define WSX_FAULT_SERVER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WSX_FAULT_SERVER_ASAN 1
#endif
#endif

// Bytes allocated with malloc and not freed (mmapped blocks included); -1
// where glibc's malloc is not the one in use (AddressSanitizer replaces it).
long long heap_in_use() {
#if !defined(WSX_FAULT_SERVER_ASAN) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    const struct mallinfo2 mi = mallinfo2();
    return static_cast<long long>(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

} // namespace

int main(int argc, char** argv) {
    wsx::server_options options{.host = "127.0.0.1", .port = 0, .threads = 2, .listen_backlog = 4096};
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "fault_server: %s needs a value\n", argv[i]);
            return 2;
        }
        const long v = number(argv[i], argv[i + 1]);
        ++i;
        const std::chrono::milliseconds ms{v};
        if (flag == "--threads") options.threads = static_cast<unsigned>(v);
        else if (flag == "--handshake-timeout") options.handshake_timeout = ms;
        else if (flag == "--idle-timeout") options.websocket.idle_timeout = ms;
        else if (flag == "--close-timeout") options.websocket.close_timeout = ms;
        else if (flag == "--stop-timeout") options.stop_timeout = ms;
        else if (flag == "--max-buffered") options.websocket.max_buffered_bytes = static_cast<std::size_t>(v);
        else if (flag == "--timer-resolution") options.timer_resolution = ms;
        else {
            std::fprintf(stderr, "fault_server: unknown option %s\n", argv[i - 1]);
            return 2;
        }
    }

    // Declared before the server: the /feed handlers use it until the server is gone.
    wsx::registry feed;
    wsx::server server(options);
    server.websocket("/echo", wsx::endpoints::echo());
    server.websocket("/feed", feed.track(wsx::endpoint{
                                  .on_message = [&feed](wsx::connection& c, wsx::message m) {
                                      feed.broadcast_except(c.id(), wsx::prepared_message{m.type(), m.text()});
                                  },
                              }));
    server.http("/stats", [&](const wsx::http::request&, wsx::http::response& res) {
        res.headers.set("Content-Type", "application/json");
        res.body = "{\"sessions\":" + std::to_string(server.session_count()) +
                   ",\"feed\":" + std::to_string(feed.count()) + ",\"heap\":" + std::to_string(heap_in_use()) +
                   "}";
    });
    // glibc keeps freed memory in its arenas (one per thread that allocated),
    // so after ten thousand connections have come and gone RSS says more about
    // the allocator's high-water mark than about what the server still holds.
    // malloc_trim(0) hands every free page back; what RSS shows afterwards is
    // live memory plus fragmentation, which is what a leak check can bound.
    server.http("/trim", [](const wsx::http::request&, wsx::http::response& res) {
#if defined(__GLIBC__)
        malloc_trim(0);
        res.body = "trimmed";
#else
        res.body = "not glibc";
#endif
    });
    server.stop_on_signals();
    server.start();  // the signal handlers are in place once this returns
    std::printf("port %u\n", static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    server.join();
    return 0;
}

// SPDX-License-Identifier: BSL-1.0
// The stream server written as coroutines: each connection is one loop that
// reads commands and co_awaits its sends, which suspend while the connection's
// budget is full, so memory stays flat however slowly a client reads. A timer
// on the server's thread broadcasts how many clients are streaming.
//   coroutine_stream_server [--host 0.0.0.0] [--port 9001] [--threads 1]
// A client sends "start [N]" for N readings (default 1,000,000); "stop" ends
// the stream early (read by a second coroutine while the first one sends).
#include <wsx/coroutine_endpoint.hpp>  // first: it enables co_await in Asio (clang)

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <asio/detached.hpp>

#include <wsx/wsx.hpp>

namespace {

std::string reading(std::uint64_t i) {
    char buf[96];
    const int n = std::snprintf(buf, sizeof buf, R"({"sensor":"sensor-%u","seq":%llu,"value":%.2f})",
                                static_cast<unsigned>(i % 16), static_cast<unsigned long long>(i),
                                20.0 + static_cast<double>(i % 1000) / 100.0);
    return {buf, static_cast<std::size_t>(n)};
}

std::atomic<int> streaming{0};

// Sends n readings; each co_await returns once the reading is queued, after
// waiting for the socket to take what was before it if the budget is full.
asio::awaitable<void> stream(wsx::coroutine_stream s, std::uint64_t n, std::shared_ptr<std::atomic<bool>> stop) {
    ++streaming;
    for (std::uint64_t i = 0; i < n && !*stop; ++i)
        if (!co_await s.send(reading(i))) break;  // not_open: the client left
    --streaming;
}

asio::awaitable<void> session(wsx::coroutine_stream s) {
    auto stop = std::make_shared<std::atomic<bool>>(true);
    while (auto m = co_await s.read()) {
        const std::string_view cmd = m->text();
        if (cmd == "stop") *stop = true;
        if (!cmd.starts_with("start") || !*stop) continue;
        const auto space = cmd.find(' ');
        const std::uint64_t n = space == std::string_view::npos
                                    ? 1'000'000
                                    : std::strtoull(std::string(cmd.substr(space + 1)).c_str(), nullptr, 10);
        stop = std::make_shared<std::atomic<bool>>(false);
        // Beside this loop, on the connection's thread, so "stop" is read meanwhile.
        asio::co_spawn(s.get_executor(), stream(s, n, stop), asio::detached);
    }
    *stop = true;
}

} // namespace

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9001};
    // The send budget: enough to keep the pipe full, small enough that a slow
    // client costs the server almost nothing.
    options.websocket.max_buffered_bytes = 64 * 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--host") options.host = argv[i + 1];
        else if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: %s [--host H] [--port P] [--threads N]\n", argv[0]);
            return 2;
        }
    }

    wsx::server server(options);
    server.websocket("/", wsx::coroutine_endpoint(session));
    server.every(std::chrono::seconds(10), [] {
        std::printf("%d clients streaming\n", streaming.load());
        std::fflush(stdout);
    });
    server.stop_on_signals();
    server.listen();
    std::printf("wsx coroutine stream server listening on ws://%s:%u/\n", options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

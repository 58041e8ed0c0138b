// SPDX-License-Identifier: BSL-1.0
// Streams sensor readings to every client that asks, pacing itself on the
// connection's buffer so memory stays flat however slowly a client reads.
//   stream_server [--host 0.0.0.0] [--port 9001] [--threads 1]
// A client sends "start [N]" for N readings as N messages (default 1,000,000),
// or "array [N]" for one JSON array sent as a fragmented message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <wsx/wsx.hpp>

namespace {

struct stream_state {
    std::uint64_t next = 0, total = 0;
    bool array = false;
};

// Keeps about this much queued: enough to fill the pipe, small enough that a
// slow reader costs the server almost nothing.
constexpr std::size_t high_water = 64 * 1024;

std::string reading(std::uint64_t i) {
    char buf[96];
    const int n = std::snprintf(buf, sizeof buf, R"({"sensor":"sensor-%u","seq":%llu,"value":%.2f})",
                                static_cast<unsigned>(i % 16), static_cast<unsigned long long>(i),
                                20.0 + static_cast<double>(i % 1000) / 100.0);
    return {buf, static_cast<std::size_t>(n)};
}

void produce(wsx::connection& c) {
    auto* s = std::any_cast<stream_state>(&c.user_data());
    if (!s) return;
    while (s->next < s->total && c.buffered_amount() < high_water) {
        const std::uint64_t i = s->next++;
        const bool last = s->next == s->total;
        if (!s->array) {
            c.send(reading(i));
        } else {
            std::string piece = (i == 0 ? "[" : ",") + reading(i) + (last ? "]" : "");
            c.send_fragment(wsx::opcode::text, piece, last);
        }
    }
    if (s->next == s->total) c.user_data().reset();
}

} // namespace

int main(int argc, char** argv) {
    wsx::server_options options{.port = 9001};
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
    server.websocket("/", {
        .on_message = [](wsx::connection& c, wsx::message m) {
            const std::string_view cmd = m.text();
            const bool array = cmd.starts_with("array");
            if (!array && !cmd.starts_with("start")) return;
            if (c.user_data().has_value()) return;  // already streaming
            const auto space = cmd.find(' ');
            const std::uint64_t n = space == std::string_view::npos
                                        ? 1'000'000
                                        : std::strtoull(std::string(cmd.substr(space + 1)).c_str(), nullptr, 10);
            if (n == 0) return;
            c.user_data() = stream_state{0, n, array};
            produce(c);
        },
        .on_drain = produce,
    });
    server.stop_on_signals();
    server.listen();
    std::printf("wsx stream server listening on ws://%s:%u/\n", options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

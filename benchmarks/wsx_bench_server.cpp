// wsx_bench_server: the wsx side of the benchmark suite, on one I/O thread.
//
//   wsx_bench_server [--port P] [--mode echo|broadcast|broadcast-list] [--threads N]
//
// echo            wsx::endpoints::echo(), as examples/echo_server serves it
// broadcast       every message received is sent to every connection through
//                 wsx::registry::broadcast (one prepared_message, encoded once)
// broadcast-list  the same with the benchmark's own list of connections and
//                 connection::send(const prepared_message&) to each
//
// SIGINT / SIGTERM stop it cleanly (callgrind writes its profile at exit).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <wsx/wsx.hpp>
#if __has_include(<wsx/registry.hpp>)
#include <wsx/registry.hpp>
#define WSX_BENCH_HAS_REGISTRY 1
#endif

namespace {

// The connections of the broadcast-list mode. One I/O thread: no lock.
class connection_list {
public:
    wsx::endpoint endpoint() {
        return {
            .on_open = [this](wsx::connection& c) {
                index_[&c] = conns_.size();
                conns_.push_back(c.shared_from_this());
            },
            .on_message = [this](wsx::connection&, wsx::message m) {
                const wsx::prepared_message frame{m.type(), m.text()};
                for (const auto& c : conns_) c->send(frame);
            },
            .on_close = [this](wsx::connection& c, wsx::close_code, std::string_view) {
                const auto it = index_.find(&c);
                if (it == index_.end()) return;
                const std::size_t i = it->second;
                index_.erase(it);
                if (i + 1 != conns_.size()) {
                    conns_[i] = std::move(conns_.back());
                    index_[conns_[i].get()] = i;
                }
                conns_.pop_back();
            },
        };
    }

private:
    std::vector<std::shared_ptr<wsx::connection>> conns_;
    std::unordered_map<const wsx::connection*, std::size_t> index_;
};

} // namespace

int main(int argc, char** argv) {
    wsx::server_options options{.host = "127.0.0.1", .port = 9001, .threads = 1};
    std::string mode = "echo";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--mode") mode = argv[i + 1];
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr, "usage: %s [--port P] [--mode echo|broadcast|broadcast-list] [--threads N]\n",
                         argv[0]);
            return 2;
        }
    }

    wsx::server server(options);
    connection_list list;
#ifdef WSX_BENCH_HAS_REGISTRY
    wsx::registry registry;
#endif
    if (mode == "echo") {
        server.websocket("/", wsx::endpoints::echo());
    } else if (mode == "broadcast-list") {
        server.websocket("/", list.endpoint());
    } else if (mode == "broadcast") {
#ifdef WSX_BENCH_HAS_REGISTRY
        server.websocket("/", registry.track({.on_message = [&registry](wsx::connection&, wsx::message m) {
                             registry.broadcast(wsx::prepared_message{m.type(), m.text()});
                         }}));
#else
        server.websocket("/", list.endpoint());
#endif
    } else {
        std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
        return 2;
    }
    server.stop_on_signals();
    server.listen();
    std::printf("wsx bench server (%s) on ws://%s:%u/\n", mode.c_str(), options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

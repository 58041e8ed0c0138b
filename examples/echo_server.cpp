// A WebSocket echo server: every message on "/" comes back unchanged.
//   echo_server [--host 0.0.0.0] [--port 9001] [--threads 1]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <wsx/wsx.hpp>

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
    server.websocket("/", wsx::endpoints::echo());
    server.stop_on_signals();
    server.listen();
    std::printf("wsx echo server listening on ws://%s:%u/\n", options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
}

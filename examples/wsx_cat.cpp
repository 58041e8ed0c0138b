// SPDX-License-Identifier: BSL-1.0
// wsx_cat: a websocat-like client. Sends each line of stdin as a message and
// prints each message that arrives on its own line. At the end of stdin it
// closes (1000); it exits when the connection has closed, saying how on stderr:
// status 0 after a normal close (1000), 3 after any other, 1 when it could not
// connect, 2 on bad usage.
//   wsx_cat [--binary] [--header "Name: value"]... [--insecure] [--ca CA.pem] URL
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <wsx/client.hpp>
#if defined(WSX_CAT_TLS)
#include <wsx/transport/tls.hpp>
#endif

namespace {

struct settings {
    std::string url, ca;
    bool binary = false, insecure = false;
    wsx::client_options options;
};

template <class Client>
int run(asio::io_context& io, Client& c, const settings& s, int& status) {
    c.async_connect(s.url, [&](std::error_code ec) {
        if (ec) {
            std::fprintf(stderr, "wsx_cat: cannot connect to %s: %s%s%s\n", s.url.c_str(),
                         ec.message().c_str(), c.handshake_failure().empty() ? "" : ": ",
                         std::string{c.handshake_failure()}.c_str());
            return;
        }
        // stdin has a thread of its own: connection::send is safe from any thread.
        std::thread([conn = c.get_connection(), binary = s.binary] {
            for (std::string line; std::getline(std::cin, line);)
                if (!(binary ? conn->send_binary(line) : conn->send(line)) && conn->is_open())
                    std::fprintf(stderr, "wsx_cat: line not sent (not UTF-8? try --binary)\n");
            conn->close();
        }).detach();
    });
    io.run();
    return status;
}

} // namespace

int main(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--binary") s.binary = true;
        else if (a == "--insecure") s.insecure = true;
        else if (a == "--ca" && i + 1 < argc) s.ca = argv[++i];
        else if (a == "--header" && i + 1 < argc) {
            const std::string_view h = argv[++i];  // "Name: value"
            const auto colon = std::min(h.find(':'), h.size());
            std::string_view value = h.substr(std::min(colon + 1, h.size()));
            while (value.starts_with(' ')) value.remove_prefix(1);
            s.options.headers.add(h.substr(0, colon), value);
        } else if (s.url.empty() && !a.starts_with("--")) s.url = a;
        else s.url.clear(), i = argc;
    }
    if (s.url.empty()) {
        std::fprintf(stderr,
                     "usage: %s [--binary] [--header 'Name: value']... [--insecure] [--ca CA.pem] URL\n",
                     argv[0]);
        return 2;
    }

    int status = 1;
    const wsx::endpoint ep{
        .on_message = [](wsx::connection&, wsx::message m) {
            std::fwrite(m.text().data(), 1, m.size(), stdout);
            std::fputc('\n', stdout);
            std::fflush(stdout);
        },
        .on_close = [&status](wsx::connection&, wsx::close_code code, std::string_view reason) {
            std::fprintf(stderr, "wsx_cat: closed with %u%s%.*s\n", static_cast<unsigned>(code),
                         reason.empty() ? "" : " ", static_cast<int>(reason.size()), reason.data());
            status = code == wsx::close_code::normal ? 0 : 3;
        },
    };
    asio::io_context io;
    try {
        if (s.url.starts_with("wss://")) {
#if defined(WSX_CAT_TLS)
            auto tls = wsx::transport::tls::context::client({.ca_file = s.ca, .verify_peer = !s.insecure});
            wsx::tls_client c(io, ep, s.options, std::move(tls));
            return run(io, c, s, status);
#else
            std::fprintf(stderr, "wsx_cat: built without TLS, wss:// is not available\n");
            return 1;
#endif
        }
        wsx::client c(io, ep, s.options);
        return run(io, c, s, status);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "wsx_cat: %s\n", e.what());
        return 1;
    }
}

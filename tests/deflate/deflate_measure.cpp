// SPDX-License-Identifier: BSL-1.0
// Measures what permessage-deflate costs, in one run (not a test: it prints figures).
//
//   deflate_measure [connections=200] [messages=4000]
//
// 1. Memory per connection (heap bytes from mallinfo2, over N in-memory server
//    connections), deflate off / negotiated but idle / after one message each way with and
//    without context takeover.
// 2. Echo throughput over loopback TCP, deflate on as a ratio to off: one wsx server thread,
//    one client thread (a small blocking client built from wsx's sans-I/O parts), JSON
//    messages, 8 in flight.
#include <wsx/deflate.hpp>
#include <wsx/wsx.hpp>

#include <asio/connect.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <array>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../support/memory_transport.hpp"

using namespace std::chrono_literals;
namespace protocol = wsx::protocol;
using wsx::test::memory_transport;

namespace {

std::size_t heap_in_use() { return mallinfo2().uordblks; }

// A JSON document of about n bytes; `seed` varies its numbers, as successive messages of a
// real feed vary.
std::string json(std::size_t n, unsigned seed = 0) {
    std::string s = "[";
    for (unsigned i = seed * 7919; s.size() < n; ++i)
        s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item-" + std::to_string(i * 7 % 1000) +
             "\",\"tags\":[\"alpha\",\"beta\"],\"price\":" + std::to_string((i * 37 % 10007) * 1.25) +
             ",\"in_stock\":" + (i % 3 ? "true" : "false") + "},";
    s.back() = ']';
    return s.substr(0, n); // the echo does not parse it
}

// ---- 1. memory ---------------------------------------------------------------------------

struct memory_row {
    const char* name;
    bool negotiated;
    bool no_context_takeover;
    bool exchange; // one message each way
    std::uint8_t window_bits = 15; // both directions
    std::uint8_t mem_level = 8;
};

double per_connection(const memory_row& row, int n) {
    asio::io_context io{1};
    wsx::detail::worker worker{io, 10ms};
    wsx::endpoint ep{.on_message = [](wsx::connection& c, wsx::message m) { c.send(m); }};
    wsx::connection_options limits{.idle_timeout = 0ms};
    limits.deflate = wsx::permessage_deflate({.mem_level = row.mem_level});
    const std::string msg = json(2048);
    protocol::detail::zstate_cache::local().clear();

    struct peer {
        std::shared_ptr<memory_transport::pipe> pipe;
        std::shared_ptr<wsx::basic_connection<memory_transport>> conn;
    };
    std::deque<peer> peers;
    // The client side's frames, made once.
    std::string frame;
    {
        protocol::deflate_compressor c({.window_bits = row.window_bits, .no_context_takeover = row.no_context_takeover});
        std::string z;
        c.compress(msg, z);
        const protocol::mask_key key{1, 2, 3, 4};
        if (row.negotiated)
            protocol::append_frame(frame, wsx::opcode::text, z, true, &key, true);
        else
            protocol::append_frame(frame, wsx::opcode::text, msg, true, &key);
    }
    auto poll = [&] {
        io.restart();
        io.poll();
    };
    poll();
    const std::size_t before = heap_in_use();
    for (int i = 0; i < n; ++i) {
        peer p{std::make_shared<memory_transport::pipe>(io), nullptr};
        wsx::connection_info info{"/", {}, {}, {}, {}};
        if (row.negotiated)
            info.deflate = {.enabled = true,
                            .send_window_bits = row.window_bits,
                            .recv_window_bits = row.window_bits,
                            .send_no_context_takeover = row.no_context_takeover,
                            .recv_no_context_takeover = row.no_context_takeover};
        p.conn = wsx::basic_connection<memory_transport>::open(
            worker, memory_transport::stream(p.pipe), ep, limits, wsx::role::server, std::move(info), {}, {});
        peers.push_back(std::move(p));
    }
    poll();
    if (row.exchange) {
        for (auto& p : peers) p.pipe->feed(frame);
        poll();
        for (auto& p : peers) std::string().swap(p.pipe->outbound);
        poll();
    }
    const std::size_t after = heap_in_use();
    const std::size_t cache = protocol::deflate_thread_cache_memory();
    std::size_t codec = 0;
    for (auto& p : peers) codec += p.conn->deflate_memory();
    std::printf("  %-46s %9.0f B/conn  (zlib state %7.0f B/conn; thread cache %zu B once)\n", row.name,
                double(after - before - cache) / n, double(codec) / n, cache);
    return double(after - before - cache) / n;
}

// ---- 2. throughput ------------------------------------------------------------------------

// A blocking client: upgrade (offering permessage-deflate or not), then echo rounds.
class bench_client {
public:
    bench_client(std::uint16_t port, bool deflate, int level) : socket_(io_) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), port});
        socket_.set_option(asio::ip::tcp::no_delay(true));
        std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
        if (deflate) req += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
        req += "\r\n";
        asio::write(socket_, asio::buffer(req));
        std::string head;
        char c;
        while (head.find("\r\n\r\n") == std::string::npos) {
            asio::read(socket_, asio::buffer(&c, 1));
            head.push_back(c);
        }
        negotiated_ = head.find("permessage-deflate") != std::string::npos;
        if (deflate && !negotiated_) throw std::runtime_error("deflate was not negotiated");
        if (negotiated_) {
            deflater_.emplace(protocol::compressor_params{.level = static_cast<std::int8_t>(level)});
            inflater_.emplace(protocol::decompressor_params{});
            assembler_.set_inflater(&*inflater_);
        }
    }

    // Sends `rounds` x `window` messages, `window` in flight; returns wire bytes sent.
    std::size_t run(const std::vector<std::string>& msgs, int rounds, int window) {
        std::string out;
        std::string z;
        std::size_t wire = 0;
        const protocol::mask_key key{1, 2, 3, 4};
        for (int r = 0; r < rounds; ++r) {
            out.clear();
            for (int i = 0; i < window; ++i) {
                const std::string& msg = msgs[next_++ % msgs.size()];
                if (negotiated_) {
                    z.clear();
                    deflater_->compress(msg, z);
                    protocol::append_frame(out, wsx::opcode::text, z, true, &key, true);
                } else {
                    protocol::append_frame(out, wsx::opcode::text, msg, true, &key);
                }
            }
            wire += out.size();
            asio::write(socket_, asio::buffer(out));
            for (int got = 0; got < window;) {
                if (pending_.empty()) {
                    const std::size_t n = socket_.read_some(asio::buffer(buf_));
                    pending_.assign(buf_.data(), n);
                }
                std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(pending_.data()), pending_.size()};
                const auto res = assembler_.consume(in);
                const std::size_t used = res.consumed; // the payload may point into pending_
                if (res.ev.type == protocol::event_type::message) {
                    const std::string& want = msgs[checked_++ % msgs.size()];
                    if (res.ev.payload != want) {
                        std::fprintf(stderr, "bad echo #%zu: got %zu bytes [%.*s], want %zu [%s] (deflate %d)\n", checked_ - 1, res.ev.payload.size(), int(res.ev.payload.size()), res.ev.payload.data(),
                                     want.size(), want.c_str(), int(negotiated_));
                        throw std::runtime_error("bad echo");
                    }
                    ++got;
                } else if (res.ev.type != protocol::event_type::need_more) {
                    throw std::runtime_error("unexpected event");
                }
                pending_.erase(0, used);
            }
        }
        return wire;
    }

private:
    asio::io_context io_;
    asio::ip::tcp::socket socket_;
    bool negotiated_ = false;
    std::optional<protocol::deflate_compressor> deflater_;
    std::optional<protocol::deflate_decompressor> inflater_;
    protocol::message_assembler assembler_{{.local_role = wsx::role::client, .max_message_size = 1u << 30}};
    std::array<char, 65536> buf_{};
    std::string pending_;
    std::size_t next_ = 0;
    std::size_t checked_ = 0;
};

struct throughput {
    double msgs_per_s = 0;      // wall clock
    double cpu_us_per_msg = 0;  // CPU of the whole process (server and client threads)
    double wire_ratio = 0;      // bytes the client sent / payload bytes
};

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

throughput echo_rate(std::uint16_t port, bool deflate, int level, const std::vector<std::string>& msgs,
                     int messages) {
    bench_client c(port, deflate, level);
    const int window = 8;
    const int rounds = messages / window;
    c.run(msgs, 4, window); // warm up
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t wire = c.run(msgs, rounds, window);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double n = rounds * window;
    return {n / s, (cpu_seconds() - cpu0) * 1e6 / n, double(wire) / (double(msgs[0].size()) * n)};
}

// The best of `tries` runs of each configuration, interleaved, so that other load on the
// machine touches them alike.
void compare(std::size_t size, int count, int tries, std::uint16_t off_port, std::uint16_t l6_port,
             std::uint16_t l1_port) {
    std::vector<std::string> msgs;
    for (unsigned i = 0; i < 64; ++i) msgs.push_back(json(size, i));
    throughput best[3];
    for (int t = 0; t < tries; ++t) {
        const throughput r[3] = {echo_rate(off_port, false, 0, msgs, count),
                                 echo_rate(l6_port, true, 6, msgs, count),
                                 echo_rate(l1_port, true, 1, msgs, count)};
        for (int i = 0; i < 3; ++i) {
            if (r[i].msgs_per_s > best[i].msgs_per_s) best[i].msgs_per_s = r[i].msgs_per_s;
            if (best[i].cpu_us_per_msg == 0 || r[i].cpu_us_per_msg < best[i].cpu_us_per_msg)
                best[i].cpu_us_per_msg = r[i].cpu_us_per_msg;
            best[i].wire_ratio = r[i].wire_ratio;
        }
    }
    std::printf("  %6zu B | off %7.0f msg/s %6.1f us | level 6 %7.0f msg/s = %.2fx, %6.1f us = %.2fx cpu,"
                " wire %.2f | level 1 %7.0f msg/s = %.2fx, %6.1f us = %.2fx cpu, wire %.2f\n",
                size, best[0].msgs_per_s, best[0].cpu_us_per_msg, best[1].msgs_per_s,
                best[1].msgs_per_s / best[0].msgs_per_s, best[1].cpu_us_per_msg,
                best[1].cpu_us_per_msg / best[0].cpu_us_per_msg, best[1].wire_ratio, best[2].msgs_per_s,
                best[2].msgs_per_s / best[0].msgs_per_s, best[2].cpu_us_per_msg,
                best[2].cpu_us_per_msg / best[0].cpu_us_per_msg, best[2].wire_ratio);
}

} // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 200;
    const int messages = argc > 2 ? std::atoi(argv[2]) : 4000;
    std::printf("zlib %s\n\n1. heap per server connection (%d in-memory connections, 2 KiB JSON echo)\n",
                zlibVersion(), n);
    const memory_row rows[] = {
        {"deflate off, before any message", false, false, false},
        {"deflate off, after one message each way", false, false, true},
        {"deflate negotiated, before any message", true, false, false},
        {"deflate, context takeover, after a message", true, false, true},
        {"deflate, no context takeover, after a message", true, true, true},
        {"deflate, context takeover, windows 2^10, memLevel 4", true, false, true, 10, 4},
        {"deflate, context takeover, windows 2^12, memLevel 6", true, false, true, 12, 6},
    };
    for (const auto& r : rows) per_connection(r, n);

    std::printf("\n2. echo over loopback TCP, 1 server thread, 8 messages in flight, %d messages\n", messages);
    wsx::server plain({.host = "127.0.0.1", .port = 0, .threads = 1});
    plain.websocket("/", wsx::endpoints::echo());
    plain.start();
    wsx::server_options o{.host = "127.0.0.1", .port = 0, .threads = 1};
    o.websocket.deflate = wsx::permessage_deflate();
    wsx::server compressed(o);
    compressed.websocket("/", wsx::endpoints::echo());
    compressed.start();
    wsx::server_options o1 = o;
    o1.websocket.deflate.level = 1;
    wsx::server fast(o1);
    fast.websocket("/", wsx::endpoints::echo());
    fast.start();

    std::printf("  (JSON messages, 64 different ones in turn; client and server use the same level;\n"
                "   best of 3 interleaved runs; us = process CPU per echoed message, both ends)\n");
    for (std::size_t size : {256u, 2048u, 16384u, 131072u}) {
        const int count = size >= 131072 ? messages / 32 : size >= 16384 ? messages / 8 : messages;
        compare(size, count, 3, plain.port(), compressed.port(), fast.port());
    }
    plain.stop();
    compressed.stop();
    fast.stop();
    plain.join();
    compressed.join();
    fast.join();
}

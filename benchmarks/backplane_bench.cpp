// SPDX-License-Identifier: BSL-1.0
// backplane_bench: cross-instance broadcast through the Redis backplane
// (wsx/backplane/redis.hpp). Starts redis-server on a free loopback port, two
// instances in this process (A: a registry and its backplane; B: a wsx::server,
// its registry and backplane) and N WebSocket clients of B (wsx::client, on one
// thread). A broadcasts; the clients of B receive through Redis.
//
//   backplane_bench [--clients 100] [--size 64] [--latency-messages 2000] [--rate 1000]
//                   [--messages 20000] [--window 2000] [--redis-server /usr/bin/redis-server]
//
// Two phases:
//  - latency: messages paced at --rate per second; for every delivery, the time
//    from A's broadcast() call to the client's on_message (one steady clock: one
//    process); p50 / p99 / max over all deliveries.
//  - throughput: --messages as fast as A can publish, with at most --window
//    messages not yet received by every client (the backplane never queues
//    without bound); messages/s and deliveries/s (messages x clients) from the
//    first broadcast to the last receipt.
// Every message must reach every client once and in order, and A must count
// nothing lost: otherwise the run fails (exit 1). Use a Release build.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <wsx/backplane/redis.hpp>
#include <wsx/wsx.hpp>

#include "redis_process.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct settings {
    int clients = 100;
    std::size_t size = 64;
    int latency_messages = 2000;
    int rate = 1000;
    int messages = 20000;
    int window = 2000;
    std::string redis_server = "/usr/bin/redis-server";
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// A payload "<sequence>;" padded to the wanted size.
std::string payload(int sequence, std::size_t size) {
    std::string p = std::to_string(sequence) + ";";
    if (p.size() < size) p.append(size - p.size(), 'x');
    return p;
}

// What the clients record; each client only on the client thread.
struct receiver {
    std::atomic<int> received{0};  // messages of the current phase
    int expected_next = 0;
    bool out_of_order = false;
    std::vector<std::int64_t> latencies_ns;
};

struct phase_clock {
    std::vector<std::atomic<std::int64_t>> sent_at;  // by sequence
    explicit phase_clock(int n) : sent_at(static_cast<std::size_t>(n)) {}
};

double percentile(std::vector<std::int64_t>& v, double p) {
    if (v.empty()) return 0;
    const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]) / 1e6;
}

int min_received(const std::vector<std::unique_ptr<receiver>>& rs) {
    int m = 1 << 30;
    for (const auto& r : rs) m = std::min(m, r->received.load(std::memory_order_acquire));
    return m;
}

bool wait_all(const std::vector<std::unique_ptr<receiver>>& rs, int n, std::chrono::seconds limit) {
    const auto deadline = clock_type::now() + limit;
    while (min_received(rs) < n) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(200us);
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    settings s;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        const char* v = argv[i + 1];
        if (flag == "--clients") s.clients = std::atoi(v);
        else if (flag == "--size") s.size = static_cast<std::size_t>(std::atoi(v));
        else if (flag == "--latency-messages") s.latency_messages = std::atoi(v);
        else if (flag == "--rate") s.rate = std::max(1, std::atoi(v));
        else if (flag == "--messages") s.messages = std::atoi(v);
        else if (flag == "--window") s.window = std::max(1, std::atoi(v));
        else if (flag == "--redis-server") s.redis_server = v;
        else {
            std::fprintf(stderr, "usage: %s [--clients N] [--size BYTES] [--latency-messages N] [--rate PER_S] "
                                 "[--messages N] [--window N] [--redis-server PATH]\n", argv[0]);
            return 2;
        }
    }

    wsx::test::redis_process redis{s.redis_server};
    redis.start();
    wsx::backplane::redis_options bp_options;
    bp_options.port = redis.port();
    bp_options.max_queued_bytes = 256u << 20;

    // Instance A: publishes only.
    wsx::registry reg_a;
    asio::io_context io_a;
    bp_options.instance_id = "A";
    wsx::backplane::redis bp_a(io_a.get_executor(), reg_a, bp_options);
    bp_a.start();
    std::thread thread_a([&] { io_a.run(); });

    // Instance B: the server with the clients.
    wsx::registry reg_b;
    wsx::server server_b({.host = "127.0.0.1", .port = 0, .threads = 1});
    server_b.websocket("/ws", reg_b.track({}));
    server_b.start(1);
    asio::io_context io_b;
    bp_options.instance_id = "B";
    wsx::backplane::redis bp_b(io_b.get_executor(), reg_b, bp_options);
    bp_b.start();
    std::thread thread_b([&] { io_b.run(); });

    // The clients, on one thread. The phase's send times are read on receipt.
    std::vector<std::unique_ptr<receiver>> receivers;
    std::shared_ptr<phase_clock> clock = std::make_shared<phase_clock>(s.latency_messages);
    std::atomic<phase_clock*> current{clock.get()};
    asio::io_context io_clients;
    auto guard = asio::make_work_guard(io_clients);
    std::vector<std::unique_ptr<wsx::client>> clients;
    std::atomic<int> open{0};
    for (int i = 0; i < s.clients; ++i) {
        receivers.push_back(std::make_unique<receiver>());
        receiver* r = receivers.back().get();
        wsx::endpoint handlers;
        handlers.on_message = [r, &current](wsx::connection&, wsx::message m) {
            const auto t = now_ns();
            int seq = -1;
            std::from_chars(m.text().data(), m.text().data() + m.text().size(), seq);
            if (seq != r->expected_next) r->out_of_order = true;
            r->expected_next = seq + 1;
            phase_clock* pc = current.load(std::memory_order_acquire);
            if (pc && seq >= 0 && static_cast<std::size_t>(seq) < pc->sent_at.size())
                r->latencies_ns.push_back(t - pc->sent_at[static_cast<std::size_t>(seq)].load(std::memory_order_acquire));
            r->received.fetch_add(1, std::memory_order_release);
        };
        clients.push_back(std::make_unique<wsx::client>(io_clients, std::move(handlers)));
        clients.back()->async_connect("ws://127.0.0.1:" + std::to_string(server_b.port()) + "/ws",
                                      [&open](std::error_code ec) {
                                          if (!ec) ++open;
                                          else std::fprintf(stderr, "client: %s\n", ec.message().c_str());
                                      });
    }
    std::thread thread_clients([&] { io_clients.run(); });

    // The cluster is formed when A has heard B and B has all its clients.
    const auto deadline = clock_type::now() + 30s;
    while (!(open.load() == s.clients && reg_b.count() == static_cast<std::size_t>(s.clients) &&
             bp_a.status().instances == 2 && bp_b.status().instances == 2 &&
             bp_a.status().state == wsx::cluster_state::connected)) {
        if (clock_type::now() > deadline) {
            std::fprintf(stderr, "the cluster did not form (clients open: %d)\n", open.load());
            return 1;
        }
        std::this_thread::sleep_for(10ms);
    }

    bool ok = true;
    // ---- latency, paced --------------------------------------------------------------
    const auto interval = std::chrono::nanoseconds(1'000'000'000 / s.rate);
    auto next = clock_type::now();
    for (int i = 0; i < s.latency_messages; ++i) {
        std::this_thread::sleep_until(next);
        next += interval;
        const std::string p = payload(i, s.size);
        clock->sent_at[static_cast<std::size_t>(i)].store(now_ns(), std::memory_order_release);
        reg_a.broadcast(p);
    }
    if (!wait_all(receivers, s.latency_messages, 60s)) {
        std::fprintf(stderr, "latency phase: not every client got every message\n");
        ok = false;
    }
    std::vector<std::int64_t> lat;
    // The client thread is idle now (everything was received): its vectors are safe to read.
    for (auto& r : receivers) {
        lat.insert(lat.end(), r->latencies_ns.begin(), r->latencies_ns.end());
        if (r->out_of_order) ok = false;
    }
    const std::size_t deliveries = lat.size();
    const double p50 = percentile(lat, 0.50), p99 = percentile(lat, 0.99), pmax = percentile(lat, 1.0);

    // ---- throughput, windowed -------------------------------------------------------------
    auto tclock = std::make_shared<phase_clock>(s.messages);
    // Switch phases on the client thread, where the receivers are read.
    std::atomic<bool> switched{false};
    asio::post(io_clients, [&] {
        current.store(tclock.get(), std::memory_order_release);
        for (auto& r : receivers) {
            r->received.store(0);
            r->expected_next = 0;
            r->latencies_ns.clear();
            r->latencies_ns.reserve(static_cast<std::size_t>(s.messages));
        }
        switched = true;
    });
    while (!switched) std::this_thread::sleep_for(1ms);
    const auto lost_before = bp_a.status().lost;
    const auto t0 = clock_type::now();
    for (int i = 0; i < s.messages; ++i) {
        while (i - min_received(receivers) >= s.window) std::this_thread::yield();
        const std::string p = payload(i, s.size);
        tclock->sent_at[static_cast<std::size_t>(i)].store(now_ns(), std::memory_order_release);
        reg_a.broadcast(p);
    }
    if (!wait_all(receivers, s.messages, 120s)) {
        std::fprintf(stderr, "throughput phase: not every client got every message\n");
        ok = false;
    }
    const double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    std::vector<std::int64_t> tlat;
    for (auto& r : receivers) {
        tlat.insert(tlat.end(), r->latencies_ns.begin(), r->latencies_ns.end());
        if (r->out_of_order) ok = false;
    }
    const auto st = bp_a.status();
    if (st.lost != lost_before || st.lost != 0) ok = false;

    std::printf("backplane_bench: redis-server on 127.0.0.1:%u, instance A publishes, %d clients on instance B, "
                "%zu-byte messages, %u cores\n",
                redis.port(), s.clients, s.size, std::thread::hardware_concurrency());
    std::printf("latency    %d messages at %d/s, %zu deliveries: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                s.latency_messages, s.rate, deliveries, p50, p99, pmax);
    std::printf("throughput %d messages (window %d) in %.3f s: %.0f messages/s, %.0f deliveries/s; "
                "latency under load p50 %.3f ms, p99 %.3f ms\n",
                s.messages, s.window, seconds, s.messages / seconds, s.messages * double(s.clients) / seconds,
                percentile(tlat, 0.50), percentile(tlat, 0.99));
    std::printf("A: published %llu, lost %llu; B: received %llu, missed %llu; order kept: %s\n",
                static_cast<unsigned long long>(st.published), static_cast<unsigned long long>(st.lost),
                static_cast<unsigned long long>(bp_b.status().received),
                static_cast<unsigned long long>(bp_b.status().missed), ok ? "yes" : "NO");

    // Shutdown: clients, then backplanes, then the server.
    asio::post(io_clients, [&] {
        for (auto& c : clients) c->close();
    });
    guard.reset();
    thread_clients.join();
    clients.clear();
    bp_a.stop();
    bp_b.stop();
    thread_a.join();
    thread_b.join();
    server_b.stop();
    server_b.join();
    return ok ? 0 : 1;
}

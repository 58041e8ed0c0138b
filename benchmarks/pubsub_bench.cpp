// SPDX-License-Identifier: BSL-1.0
// pubsub_bench: resumable topics (wsx/pubsub/). A wsx::server with the
// pubsub endpoint, and wsx::pubsub::resuming_client subscribers on one thread
// of their own; offsets and history in memory, or in Redis with --redis
// (starts its own redis-server on a free loopback port).
//
//   pubsub_bench [--subscribers 10] [--messages 5000] [--rate 2000] [--replay 10000]
//                [--redis] [--redis-server /usr/bin/redis-server]
//
// Two phases:
//  - latency: --messages published at --rate per second with topics::publish;
//    for every delivery, the time from the publish call to the subscriber's
//    on_message (one steady clock: one process); p50 / p99 / max.
//  - replay: --replay messages published with nobody listening, then one client
//    subscribes with since {epoch, 0}: the time from start() to the last
//    replayed message, and messages per second.
// Every subscriber must get every offset once and in order, or the run fails
// (exit 1). Use a Release build.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <wsx/pubsub/client.hpp>
#include <wsx/pubsub/endpoint.hpp>
#include <wsx/wsx.hpp>

#if WSX_HAS_REDIS
#include <wsx/backplane/redis_topics.hpp>

#include "redis_process.hpp"
#endif

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct settings {
    int subscribers = 10;
    int messages = 5000;
    int rate = 2000;
    int replay = 10000;
    bool redis = false;
    std::string redis_server = "/usr/bin/redis-server";
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

double percentile(std::vector<std::int64_t>& v, double p) {
    if (v.empty()) return 0;
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return static_cast<double>(v[i]) / 1000.0;  // microseconds
}

// Subscribers on one io_context thread.
struct subscribers {
    asio::io_context io;
    std::vector<std::unique_ptr<wsx::pubsub::resuming_client>> clients;
    std::mutex mutex;
    std::vector<std::int64_t> latencies;
    std::vector<std::uint64_t> next;  // the offset each client expects
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> in_order{true};
    std::thread runner;

    subscribers(const std::string& url, int n, std::string_view topic, std::optional<wsx::pubsub::position> since,
                bool measure) {
        next.assign(static_cast<std::size_t>(n), since ? since->offset + 1 : 0);
        for (int i = 0; i < n; ++i) {
            auto c = std::make_unique<wsx::pubsub::resuming_client>(
                io, url,
                wsx::pubsub::resuming_client_handlers{
                    .on_message = [this, i, measure](std::string_view, const wsx::pubsub::position& p,
                                                     std::string_view json) {
                        auto& want = next[static_cast<std::size_t>(i)];
                        if (want != 0 && p.offset != want) in_order = false;
                        want = p.offset + 1;
                        if (measure) {
                            const std::int64_t sent = std::atoll(std::string{json}.c_str());
                            std::lock_guard lock(mutex);
                            latencies.push_back(now_ns() - sent);
                        }
                        received.fetch_add(1, std::memory_order_relaxed);
                    }});
            c->subscribe(topic, since);
            clients.push_back(std::move(c));
        }
        for (auto& c : clients) c->start();
        runner = std::thread([this] {
            auto guard = asio::make_work_guard(io);
            io.run();
        });
    }
    ~subscribers() {
        asio::post(io, [this] {
            for (auto& c : clients) c->stop();
        });
        std::this_thread::sleep_for(50ms);
        io.stop();
        runner.join();
        asio::post(io, [this] { clients.clear(); });
        io.restart();
        io.poll();
    }
};

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!pred()) {
        if (clock_type::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    settings s;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--subscribers" && has_value) s.subscribers = std::atoi(argv[++i]);
        else if (a == "--messages" && has_value) s.messages = std::atoi(argv[++i]);
        else if (a == "--rate" && has_value) s.rate = std::atoi(argv[++i]);
        else if (a == "--replay" && has_value) s.replay = std::atoi(argv[++i]);
        else if (a == "--redis") s.redis = true;
        else if (a == "--redis-server" && has_value) s.redis_server = argv[++i];
        else {
            std::fprintf(stderr, "usage: %s [--subscribers N] [--messages N] [--rate N] [--replay N] [--redis]"
                                 " [--redis-server PATH]\n", argv[0]);
            return 2;
        }
    }

    wsx::registry registry;
    wsx::pubsub::topics topics(registry, {.history = {.max_messages = static_cast<std::size_t>(s.replay) + 1000,
                                                      .max_age = std::chrono::minutes(10)}});
#if WSX_HAS_REDIS
    std::optional<wsx::test::redis_process> redis;
    std::shared_ptr<wsx::backplane::redis_topics> store;
    if (s.redis) {
        redis.emplace(s.redis_server);
        redis->start();
        store = wsx::backplane::redis_topics::start(
            topics, {.port = redis->port(),
                     .history = {.max_messages = static_cast<std::size_t>(s.replay) + 1000,
                                 .max_age = std::chrono::minutes(10)}});
    }
#else
    if (s.redis) {
        std::fprintf(stderr, "built without wsx::redis: no --redis\n");
        return 2;
    }
#endif
    wsx::server server(wsx::server_options{.host = "127.0.0.1", .port = 0});
    server.websocket("/pubsub", wsx::endpoints::pubsub(topics));
    server.start(1);
    const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/pubsub";
    std::printf("pubsub_bench: history in %s, %d subscribers\n", s.redis ? "Redis" : "memory", s.subscribers);
    bool ok = true;

    // ---- latency ----------------------------------------------------------------------
    {
        subscribers subs(url, s.subscribers, "latency", std::nullopt, true);
        if (!wait_for([&] { return topics.subscribers("latency") == static_cast<std::size_t>(s.subscribers); }, 10s)) {
            std::fprintf(stderr, "subscribers did not subscribe in time\n");
            return 1;
        }
        const auto gap = std::chrono::nanoseconds(1'000'000'000LL / std::max(1, s.rate));
        auto next = clock_type::now();
        for (int i = 0; i < s.messages; ++i) {
            topics.publish("latency", std::to_string(now_ns()));
            next += gap;
            std::this_thread::sleep_until(next);
        }
        const auto expected = static_cast<std::uint64_t>(s.messages) * static_cast<std::uint64_t>(s.subscribers);
        if (!wait_for([&] { return subs.received.load() >= expected; }, 20s) || !subs.in_order) {
            std::fprintf(stderr, "latency: %llu of %llu deliveries, %s\n",
                         static_cast<unsigned long long>(subs.received.load()),
                         static_cast<unsigned long long>(expected), subs.in_order ? "in order" : "OUT OF ORDER");
            ok = false;
        }
        std::lock_guard lock(subs.mutex);
        auto& l = subs.latencies;
        const double p50 = percentile(l, 0.50), p99 = percentile(l, 0.99), max = percentile(l, 1.0);
        std::printf("latency  %d messages at %d/s to %d subscribers: p50 %.0f us, p99 %.0f us, max %.0f us\n",
                    s.messages, s.rate, s.subscribers, p50, p99, max);
    }

    // ---- replay -------------------------------------------------------------------------
    {
        for (int i = 1; i <= s.replay; ++i) topics.publish("replay", R"({"type":"ORDER_CREATED","id":)" + std::to_string(i) + "}");
        const auto epoch = topics.newest("replay")->epoch;
        const auto start = clock_type::now();
        subscribers subs(url, 1, "replay", wsx::pubsub::position{epoch, 0}, false);
        if (!wait_for([&] { return subs.received.load() >= static_cast<std::uint64_t>(s.replay); }, 30s) ||
            !subs.in_order) {
            std::fprintf(stderr, "replay: %llu of %d messages\n", static_cast<unsigned long long>(subs.received.load()),
                         s.replay);
            ok = false;
        }
        const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
        std::printf("replay   %d messages resumed from offset 0: %.1f ms, %.0f messages/s\n", s.replay, secs * 1000,
                    s.replay / secs);
    }

    server.stop();
    server.join();
#if WSX_HAS_REDIS
    if (store) store->stop();
#endif
    return ok ? 0 : 1;
}

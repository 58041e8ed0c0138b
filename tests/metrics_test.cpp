// SPDX-License-Identifier: BSL-1.0
// The counter set of include/wsx/metrics.hpp without a socket: counters that
// one thread writes and any reads, the fixed table of close codes and HTTP
// statuses (and its overflow row), and several threads' counters summed while
// they are being written.
#include "wsx/metrics.hpp"

#include "catch.hpp"

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

using wsx::code_count;
using wsx::server_metrics;
using wsx::detail::thread_metrics;

} // namespace

TEST_CASE("owned_counter adds and takes back exactly", "[metrics]") {
    wsx::detail::owned_counter c;
    CHECK(c.get() == 0);
    c.add();
    c.add(41);
    CHECK(c.get() == 42);
    c.sub(40);
    CHECK(c.get() == 2);
}

TEST_CASE("code_counters count per code, sorted, with an overflow row", "[metrics]") {
    wsx::detail::code_counters<3> t;
    t.add(1008);
    t.add(1000);
    t.add(1000);
    t.add(4000);
    t.add(1001);  // the table is full: counted under "other" (code 0)
    t.add(1002);
    t.add(1008);
    std::vector<code_count> out;
    t.sum_into(out);
    CHECK(out == std::vector<code_count>{{0, 2}, {1000, 2}, {1008, 2}, {4000, 1}});

    // Summing a second table merges rows with the same code.
    wsx::detail::code_counters<3> u;
    u.add(1000);
    u.add(1006);
    u.sum_into(out);
    CHECK(out == std::vector<code_count>{{0, 2}, {1000, 3}, {1006, 1}, {1008, 2}, {4000, 1}});
}

TEST_CASE("thread_metrics: endpoints, codes and counters summed into a snapshot", "[metrics]") {
    thread_metrics a, b;
    a.set_endpoints(2);
    b.set_endpoints(2);
    a.opened(0);
    a.opened(0);
    a.opened(1);
    b.opened(1);
    a.closed(0, 1000);
    b.closed(1, 1008);
    a.opened(7);  // no such endpoint (a client's worker has none): ignored
    a.refused(403);
    b.refused(403);
    b.refused(400);
    a.messages_in.add(3);
    b.messages_in.add(4);
    a.bytes_out.add(100);
    b.buffered_bytes.add(10);
    a.messages_dropped.add(2);
    b.backpressure_closes.add();
    a.pings_sent.add();
    a.pings_unanswered.add();

    server_metrics m;
    m.endpoints = {{"/a"}, {"/b"}};
    a.sum_into(m);
    b.sum_into(m);
    CHECK(m.threads == 2);
    CHECK(m.endpoints[0].accepted == 2);
    CHECK(m.endpoints[0].closed == 1);
    CHECK(m.endpoints[0].open() == 1);
    CHECK(m.endpoints[1].accepted == 2);
    CHECK(m.endpoints[1].open() == 1);
    CHECK(m.closed_by_code == std::vector<code_count>{{1000, 1}, {1008, 1}});
    CHECK(m.refused_by_status == std::vector<code_count>{{400, 1}, {403, 2}});
    CHECK(m.messages_in == 7);
    CHECK(m.bytes_out == 100);
    CHECK(m.buffered_bytes == 10);
    CHECK(m.messages_dropped == 2);
    CHECK(m.backpressure_closes == 1);
    CHECK(m.pings_sent == 1);
    CHECK(m.pings_unanswered == 1);
}

TEST_CASE("several writer threads, summed while they write, end exact", "[metrics]") {
    constexpr int threads = 4;
    constexpr std::uint64_t per_thread = 200000;
    std::vector<thread_metrics> counters(threads);
    for (auto& c : counters) c.set_endpoints(1);
    std::atomic<bool> done{false};
    // A scraper reads all along: every snapshot is monotonic and never above the end.
    std::uint64_t last = 0;
    bool monotonic = true;
    std::thread scraper([&] {
        while (!done.load()) {
            server_metrics m;
            m.endpoints = {{"/"}};
            for (const auto& c : counters) c.sum_into(m);
            if (m.messages_in < last || m.messages_in > threads * per_thread) monotonic = false;
            last = m.messages_in;
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t)
        writers.emplace_back([&, t] {
            thread_metrics& m = counters[static_cast<std::size_t>(t)];
            for (std::uint64_t i = 0; i < per_thread; ++i) {
                m.messages_in.add();
                m.bytes_in.add(3);
                if (i % 1000 == 0) m.closed(0, static_cast<std::uint16_t>(1000 + t));
            }
        });
    for (auto& w : writers) w.join();
    done.store(true);
    scraper.join();
    CHECK(monotonic);

    server_metrics m;
    m.endpoints = {{"/"}};
    for (const auto& c : counters) c.sum_into(m);
    CHECK(m.threads == threads);
    CHECK(m.messages_in == threads * per_thread);
    CHECK(m.bytes_in == 3 * threads * per_thread);
    CHECK(m.endpoints[0].closed == threads * per_thread / 1000);
    REQUIRE(m.closed_by_code.size() == threads);
    for (int t = 0; t < threads; ++t)
        CHECK(m.closed_by_code[static_cast<std::size_t>(t)] == code_count{static_cast<std::uint16_t>(1000 + t), per_thread / 1000});
}

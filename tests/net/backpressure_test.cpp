// SPDX-License-Identifier: BSL-1.0
// Issue #14: max_buffered_bytes holds for sends made from ANY thread, however
// busy the connection's I/O thread is. Over real loopback sockets, against the
// public API only:
//
//   - one I/O thread, max_buffered_bytes = 4 MiB;
//   - client A completes the handshake and never reads (small SO_RCVBUF);
//   - client B's message makes its on_message hold the I/O thread;
//   - meanwhile producer threads call a->send_binary(256 KiB) in a loop, up to
//     64 MiB attempted.
//
// While the I/O thread is held, nothing the producers hand over can reach the
// socket, so what send() accepted is what the server holds for A. The test
// checks it against the limit (plus one message, plus whatever the kernel
// provably took for A: the server socket's send queue and A's receive queue),
// checks what each policy does with the refused sends, and watches the
// process's peak RSS: the server runs in this process.
//
// send() returns bool today and wsx::send_result (which converts to bool,
// true = queued) after issue #14: the test only uses the conversion.
#include "wsx/connection.hpp"
#include "wsx/server.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"

#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define WSX_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define WSX_TEST_SANITIZED 1
#endif
#endif

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::test::code_of;
using wsx::test::loopback_client;
using wsx::test::since;
using wsx::test::test_clock;
using wsx::test::wait_until;
using wsx::test::ws_event;
using kind = ws_event::kind;

constexpr std::size_t limit = 4u << 20;           // max_buffered_bytes
constexpr std::size_t message_size = 256u << 10;  // one send_binary
constexpr std::size_t attempt_cap = 64u << 20;    // what the producers try in all
// Peak RSS growth allowed while the producers run: the 4 MiB the connection may
// hold, a message in the producers' hands, and room for the allocator and
// thread stacks. Before issue #14 every refused-later send held a 256 KiB copy
// in a posted handler: 64 MiB for the 64 MiB attempted.
constexpr std::int64_t rss_allowance = 32 << 20;

// ---- what the process and the kernel hold ------------------------------------

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), -1 when unreadable.
std::int64_t status_bytes(std::string_view field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 && line[field.size()] == ':')
            return std::strtoll(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
    }
    return -1;
}

// Peak RSS over a stretch of the test: the kernel's high-water mark, reset at
// the start (writing 5 to clear_refs, Linux 4.0+), and a sampling thread as a
// second opinion where the reset is not allowed.
class rss_watch {
public:
    rss_watch() : baseline_(status_bytes("VmRSS")) {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";
        clear.flush();
        hwm_reset_ = static_cast<bool>(clear);
        peak_.store(baseline_);
        sampler_ = std::thread([this] {
            while (!stop_.load()) {
                const std::int64_t now = status_bytes("VmRSS");
                std::int64_t seen = peak_.load();
                while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
                }
                std::this_thread::sleep_for(1ms);
            }
        });
    }
    ~rss_watch() { finish(); }
    rss_watch(const rss_watch&) = delete;
    rss_watch& operator=(const rss_watch&) = delete;

    // Growth of the peak over the baseline, in bytes.
    std::int64_t finish() {
        if (sampler_.joinable()) {
            stop_.store(true);
            sampler_.join();
        }
        std::int64_t peak = peak_.load();
        if (hwm_reset_) peak = std::max(peak, status_bytes("VmHWM"));
        return peak - baseline_;
    }

private:
    std::int64_t baseline_;
    bool hwm_reset_ = false;
    std::atomic<std::int64_t> peak_{0};
    std::atomic<bool> stop_{false};
    std::thread sampler_;
};

std::uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || ss.ss_family != AF_INET) return 0;
    return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}
std::uint16_t peer_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || ss.ss_family != AF_INET) return 0;
    return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

// The server's end of client A's TCP connection: the server runs in this
// process, so its socket is one of our descriptors (local port = the server's,
// peer port = A's). -1 when not found.
int server_side_socket(std::uint16_t server_port, std::uint16_t client_port) {
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    while (dirent* e = readdir(d)) {
        const int fd = std::atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
        if (local_port(fd) == server_port && peer_port(fd) == client_port) {
            found = fd;
            break;
        }
    }
    closedir(d);
    return found;
}

// Bytes the kernel holds for A: written by the server and not yet read by A
// (the server socket's send queue, SIOCOUTQ, and A's receive queue, FIONREAD).
// Those left the connection's queue: they do not count against its limit.
// nullopt when the server's socket cannot be found.
std::optional<std::size_t> kernel_held(std::uint16_t server_port, loopback_client& a) {
    const int client_fd = a.socket().native_handle();
    const int server_fd = server_side_socket(server_port, local_port(client_fd));
    if (server_fd < 0) return std::nullopt;
    int outq = 0, inq = 0;
    if (ioctl(server_fd, SIOCOUTQ, &outq) != 0 || ioctl(client_fd, FIONREAD, &inq) != 0) return std::nullopt;
    return static_cast<std::size_t>(outq) + static_cast<std::size_t>(inq);
}

// ---- the server ------------------------------------------------------------------

// Shared by the handlers (the server's thread) and the test. Declared before
// the server: the handlers use it until the server is gone.
struct scene {
    std::mutex m;
    std::condition_variable cv;
    std::weak_ptr<wsx::connection> a;  // the client that never reads
    bool holding = false;              // B's handler holds the I/O thread
    bool release = false;              // the test lets it go
    std::optional<int> a_close_code;
    std::error_code a_error;

    std::shared_ptr<wsx::connection> connection_a() {
        std::lock_guard lock{m};
        return a.lock();
    }
    void wait_holding() {
        std::unique_lock lock{m};
        REQUIRE(cv.wait_for(lock, 5s, [&] { return holding; }));
    }
    void let_go() {
        std::lock_guard lock{m};
        release = true;
        cv.notify_all();
    }
    std::optional<int> close_code_of_a() {
        std::lock_guard lock{m};
        return a_close_code;
    }
};

wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1",
                               .port = 0,
                               .threads = 1,
                               .handshake_timeout = 2s,
                               .stop_timeout = 500ms,
                               .timer_resolution = 20ms};
}

// "/a": the slow client's endpoint, with the limit and `policy`.
// "/b": a message there holds the I/O thread until the test releases it (10 s
// at most, so a failing test cannot hang), then answers "released".
void add_endpoints(wsx::server& srv, scene& s, wsx::backpressure_policy policy) {
    srv.websocket("/a", wsx::endpoint{
                            .on_open = [&s](wsx::connection& c) {
                                std::lock_guard lock{s.m};
                                s.a = c.shared_from_this();
                            },
                            .on_close = [&s](wsx::connection& c, close_code code, std::string_view) {
                                std::lock_guard lock{s.m};
                                s.a_close_code = code_of(code);
                                s.a_error = c.error();
                            },
                            .limits = wsx::connection_options{.max_buffered_bytes = limit,
                                                              .on_backpressure = policy,
                                                              .close_timeout = 2s},
                        });
    srv.websocket("/b", wsx::endpoint{
                            .on_message = [&s](wsx::connection& c, wsx::message) {
                                {
                                    std::unique_lock lock{s.m};
                                    s.holding = true;
                                    s.cv.notify_all();
                                    s.cv.wait_for(lock, 10s, [&] { return s.release; });
                                }
                                c.send("released");
                            },
                        });
}

// What the producers saw.
struct tally {
    std::size_t attempted = 0;  // messages
    std::size_t accepted = 0;   // send returned true
    std::size_t refused = 0;    // send returned false
};

// `producers` threads share `attempt_cap` bytes of 256 KiB sends to `a`. Each
// stops at its share, or after 10 s (slow sanitizer builds), never earlier:
// the refusals are what the test looks at.
tally produce(const std::shared_ptr<wsx::connection>& a, int producers) {
    const std::string payload(message_size, '\x5a');
    const std::size_t share = attempt_cap / message_size / static_cast<std::size_t>(producers);
    std::atomic<std::size_t> accepted{0}, refused{0};
    std::vector<std::thread> threads;
    const auto t0 = test_clock::now();
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, a] {
            for (std::size_t i = 0; i < share && since(t0) < 10s; ++i) {
                const bool ok = static_cast<bool>(a->send_binary(std::string_view{payload}));
                (ok ? accepted : refused).fetch_add(1);
            }
        });
    }
    for (auto& t : threads) t.join();
    return {accepted.load() + refused.load(), accepted.load(), refused.load()};
}

// The scenario up to the end of the producers, with the I/O thread still held.
struct held_run {
    tally t;
    std::optional<std::size_t> kernel;  // bytes the kernel took for A
    std::int64_t rss_growth = 0;
    wsx::connection_stats stats{};      // A's, read while still held
};

held_run run_held(std::uint16_t port, scene& s, loopback_client& a_client, loopback_client& b_client,
                  int producers) {
    const auto a = s.connection_a();
    REQUIRE(a);
    REQUIRE_FALSE(b_client.send_text("hold the I/O thread"));
    s.wait_holding();

    held_run r;
    {
        rss_watch rss;
        r.t = produce(a, producers);
        r.rss_growth = rss.finish();
    }
    r.kernel = kernel_held(port, a_client);
    r.stats = a->stats();
    return r;
}

void report(const char* what, const held_run& r) {
    std::printf("backpressure_test %s: %zu sends of %zu KiB attempted, %zu accepted (%zu KiB), %zu refused, "
                "kernel held %s KiB, dropped=%llu, peak RSS growth %lld KiB\n",
                what, r.t.attempted, message_size >> 10, r.t.accepted, r.t.accepted * (message_size >> 10),
                r.t.refused, r.kernel ? std::to_string(*r.kernel >> 10).c_str() : "?",
                static_cast<unsigned long long>(r.stats.dropped), static_cast<long long>(r.rss_growth >> 10));
    std::fflush(stdout);
}

// The bound of issue #14: accepted and not yet written <= limit + one message.
// Written = what the kernel holds for A (nothing reached A's application).
// Each accepted message may also carry a frame header (at most 14 bytes)
// however the implementation counts it. Without a reading of the kernel's
// queues, a generous 8 MiB stands in for them.
void check_bound(const held_run& r) {
    const std::size_t kernel = r.kernel.value_or(8u << 20);
    if (!r.kernel) WARN("server-side socket not found: assuming the kernel took up to 8 MiB");
    const std::size_t accepted_bytes = r.t.accepted * message_size;
    INFO("accepted " << r.t.accepted << " sends (" << accepted_bytes << " bytes) of " << r.t.attempted
                     << "; kernel held " << kernel << " bytes");
    CHECK(accepted_bytes <= limit + message_size + kernel + 14 * r.t.accepted);
    // The producers ran to their cap: the refusals came from admission, not time.
    CHECK(r.t.attempted == attempt_cap / message_size);
}

void check_rss(const held_run& r) {
    INFO("peak RSS growth " << (r.rss_growth >> 10) << " KiB while " << r.t.attempted << " sends of "
                            << (message_size >> 10) << " KiB were attempted");
#ifdef WSX_TEST_SANITIZED
    // Shadow memory and the allocator's quarantine make RSS meaningless here.
    (void)r;
#else
    CHECK(r.rss_growth < rss_allowance);
#endif
}

// The I/O thread runs again: B gets its answer.
void release_and_check_b(scene& s, loopback_client& b_client) {
    s.let_go();
    const ws_event ev = b_client.read_event(10s);
    REQUIRE(ev.what == kind::message);
    CHECK(ev.payload == "released");
}

// The stage of every case: a server with one I/O thread and the two endpoints,
// client A (never reads; a 4 KiB receive window) and client B, both upgraded.
// The clients go before the server stops.
struct stage {
    scene s;
    wsx::server srv{test_options()};
    std::optional<loopback_client> a_client, b_client;

    explicit stage(wsx::backpressure_policy policy) {
        add_endpoints(srv, s, policy);
        srv.start(1);
        a_client.emplace(srv.port(), 4096);
        REQUIRE(a_client->upgrade("/a")->status == 101);
        b_client.emplace(srv.port());
        REQUIRE(b_client->upgrade("/b")->status == 101);
        REQUIRE(wait_until([&] { return s.connection_a() != nullptr; }));
    }
    ~stage() {
        a_client.reset();
        b_client.reset();
        srv.stop();
        srv.join();
    }
    held_run run(int producers) { return run_held(srv.port(), s, *a_client, *b_client, producers); }
};
} // namespace

TEST_CASE("backpressure: drop refuses cross-thread sends at the caller while the I/O thread is busy",
          "[net][backpressure]") {
    stage st(wsx::backpressure_policy::drop);
    scene& s = st.s;
    loopback_client& a_client = *st.a_client;
    loopback_client& b_client = *st.b_client;
    {
        const held_run r = st.run(1);
        report("drop, 1 producer", r);
        check_bound(r);
        check_rss(r);
        // Refused at once, in the producer's thread, and counted as drops.
        CHECK(r.t.refused > 0);
        CHECK(r.stats.dropped == r.t.refused);

        release_and_check_b(s, b_client);
        // The connection survives the drops, and A, once it reads, gets every
        // message that send() accepted and nothing else.
        const auto a = s.connection_a();
        REQUIRE(a);
        CHECK(a->is_open());
        std::size_t got = 0;
        while (got < r.t.accepted) {
            const ws_event ev = a_client.read_event(5s);
            if (ev.what != kind::message) break;
            CHECK(ev.payload.size() == message_size);
            ++got;
        }
        CHECK(got == r.t.accepted);
        CHECK(a_client.read_event(200ms).what == kind::timeout);
        CHECK(a->is_open());
        CHECK_FALSE(s.close_code_of_a());
        CHECK(code_of(a_client.close_handshake(close_code::normal, {}, 5s).code) == 1000);
    }
}

TEST_CASE("backpressure: close refuses cross-thread sends and closes with 1008 when the I/O thread runs",
          "[net][backpressure]") {
    stage st(wsx::backpressure_policy::close);
    scene& s = st.s;
    loopback_client& a_client = *st.a_client;
    loopback_client& b_client = *st.b_client;
    {

        const held_run r = st.run(1);
        report("close, 1 producer", r);
        check_bound(r);
        check_rss(r);
        CHECK(r.t.refused > 0);
        CHECK(r.stats.dropped == 0);
        // The close runs on the connection's own thread, which is held: A has
        // not been told anything yet.
        CHECK_FALSE(s.close_code_of_a());

        release_and_check_b(s, b_client);
        // A reads: every message send() accepted, then the 1008 close.
        std::size_t messages = 0;
        const ws_event ev = a_client.read_until_close(10s, &messages);
        CHECK(ev.what == kind::close);
        CHECK(code_of(ev.code) == 1008);
        CHECK(messages == r.t.accepted);
        a_client.send_close(close_code::policy_violation);
        REQUIRE(wait_until([&] { return s.close_code_of_a().has_value(); }, 5s));
        CHECK(*s.close_code_of_a() == code_of(close_code::policy_violation));
        std::lock_guard lock{s.m};
        CHECK(s.a_error == wsx::error::backpressure);
    }
}

TEST_CASE("backpressure: four producer threads share one connection's budget", "[net][backpressure]") {
    // Run under ThreadSanitizer too (tests/run_all.sh): the admission's shared
    // count is charged and given back from five threads at once.
    const auto policy = GENERATE(wsx::backpressure_policy::drop, wsx::backpressure_policy::close);
    const bool drop = policy == wsx::backpressure_policy::drop;
    stage st(policy);
    scene& s = st.s;
    loopback_client& a_client = *st.a_client;
    loopback_client& b_client = *st.b_client;
    {

        const held_run r = st.run(4);
        report(drop ? "drop, 4 producers" : "close, 4 producers", r);
        check_bound(r);
        check_rss(r);
        CHECK(r.t.refused > 0);
        CHECK(r.stats.dropped == (drop ? r.t.refused : 0));

        release_and_check_b(s, b_client);
        if (drop) {
            std::size_t got = 0;
            while (got < r.t.accepted) {
                const ws_event ev = a_client.read_event(5s);
                if (ev.what != kind::message) break;
                ++got;
            }
            CHECK(got == r.t.accepted);
            CHECK(code_of(a_client.close_handshake(close_code::normal, {}, 5s).code) == 1000);
        } else {
            const ws_event ev = a_client.read_until_close(10s);
            CHECK(ev.what == kind::close);
            CHECK(code_of(ev.code) == 1008);
            a_client.send_close(close_code::policy_violation);
            REQUIRE(wait_until([&] { return s.close_code_of_a().has_value(); }, 5s));
            CHECK(*s.close_code_of_a() == code_of(close_code::policy_violation));
        }
    }
}

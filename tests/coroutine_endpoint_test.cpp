// SPDX-License-Identifier: BSL-1.0
// wsx::coroutine_endpoint over real sockets: an echo; a stream of many
// messages to a slow reader (the sender suspended, never refused, and the
// buffered bytes never past the budget plus one message); a client that
// disappears while the coroutine waits in send() or read() (it resumes with
// not_open / the close, and the connection is freed); a producer on another
// thread that co_awaits send(); incoming messages bounded when the coroutine
// does not read; the coroutine's return and exception closing the connection.
#include "wsx/coroutine_endpoint.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"

#include <wsx/server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using wsx::test::loopback_client;
using wsx::test::wait_until;
using wsx::test::ws_event;
using kind = ws_event::kind;

wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1", .port = 0, .handshake_timeout = 2s,
                               .stop_timeout = 500ms, .timer_resolution = 20ms};
}

// What the tests watch of a coroutine, from their own thread.
struct watch {
    std::atomic<int> started{0}, finished{0};
    std::atomic<int> sent{0}, refused{0};
    std::atomic<std::size_t> max_buffered{0};
    std::atomic<int> last_status{-1};
    std::atomic<int> end_code{0};
    std::mutex mutex;
    std::weak_ptr<wsx::connection> conn;

    void note_buffered(std::size_t n) {
        std::size_t cur = max_buffered.load();
        while (n > cur && !max_buffered.compare_exchange_weak(cur, n)) {}
    }
    void keep(wsx::coroutine_stream& s) {
        std::lock_guard lock(mutex);
        conn = s.connection().shared_from_this();
    }
    bool connection_freed() {
        std::lock_guard lock(mutex);
        return conn.expired();
    }
};

// Counts the coroutine in and out, however it ends.
struct scope {
    watch& w;
    explicit scope(watch& x) : w(x) { ++w.started; }
    ~scope() { ++w.finished; }
};

// 1000 bytes: the streams below are several MB, more than the kernel's socket
// buffers hold (Linux grows a send buffer up to tcp_wmem's 4 MB), so the
// sender must wait for the reader.
std::string reading(int i) {
    std::string s = "reading " + std::to_string(i) + " ";
    s.resize(1000, '.');
    return s;
}

} // namespace

TEST_CASE("coroutine_endpoint: echo, then the close ends read() and the coroutine", "[coroutine]") {
    watch w;
    wsx::server srv(test_options());
    srv.websocket("/echo", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        scope sc(w);
        w.keep(s);
        while (auto m = co_await s.read()) {
            const wsx::send_result r = co_await s.send(*m);
            if (!r) ++w.refused;
        }
        w.end_code = static_cast<int>(s.close_code());
    }));
    srv.start(1);

    loopback_client c(srv.port());
    REQUIRE(c.upgrade("/echo"));
    for (int i = 0; i < 50; ++i) REQUIRE_FALSE(c.send_text("hello " + std::to_string(i)));
    REQUIRE_FALSE(c.send_binary(std::string("\x00\x01\xff", 3)));
    for (int i = 0; i < 50; ++i) {
        const ws_event ev = c.read_event();
        REQUIRE(ev.is_message());
        CHECK(ev.type == opcode::text);
        CHECK(ev.payload == "hello " + std::to_string(i));
    }
    const ws_event bin = c.read_event();
    REQUIRE(bin.is_message());
    CHECK(bin.type == opcode::binary);
    CHECK(bin.payload == std::string("\x00\x01\xff", 3));
    CHECK(c.close_handshake(close_code::normal, "done").is_close());
    REQUIRE(wait_until([&] { return w.finished.load() == 1; }));
    CHECK(w.end_code == 1000);
    CHECK(w.refused == 0);
    CHECK(wait_until([&] { return w.connection_freed(); }));
}

TEST_CASE("coroutine_endpoint: a stream to a slow reader suspends the sender within the budget",
          "[coroutine][backpressure]") {
    constexpr std::size_t budget = 64 * 1024;
    constexpr int total = 12000;  // 12 MB: 180 budgets
    watch w;
    wsx::connection_options limits;
    limits.max_buffered_bytes = budget;  // policy: close (the default), so a refusal would show
    wsx::server srv(test_options());
    srv.websocket("/stream", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        scope sc(w);
        w.keep(s);
        for (int i = 0; i < total; ++i) {
            const wsx::send_result r = co_await s.send(reading(i));
            w.note_buffered(s.connection().buffered_amount());
            if (!r) {
                ++w.refused;
                w.last_status = static_cast<int>(r.status());
                break;
            }
            ++w.sent;
        }
        while (co_await s.read()) {}
    }, {.limits = limits}));
    srv.start(1);

    loopback_client c(srv.port(), 16 * 1024);
    REQUIRE(c.upgrade("/stream"));
    // The reader does not read: the sender fills the budget and the socket's
    // buffers, then waits.
    REQUIRE(wait_until([&] { return w.sent.load() > 0; }));
    int stalled_at = -1;
    CHECK(wait_until([&] {  // suspended, not spinning nor refused: the count stops
        const int now = w.sent.load();
        return std::exchange(stalled_at, now) == now;
    }, 5s, 150ms));
    CHECK(stalled_at < total);
    CHECK(w.refused == 0);

    // Then it reads slowly at first, and the stream comes whole and in order.
    int got = 0;
    while (got < total) {
        const ws_event ev = c.read_event(3s);
        REQUIRE(ev.is_message());
        REQUIRE(ev.payload == reading(got));
        ++got;
        if (got % 1000 == 0 && got <= 3000) std::this_thread::sleep_for(20ms);
    }
    CHECK(w.sent == total);
    CHECK(w.refused == 0);
    const std::size_t one_message = reading(0).size() + 14;
    CHECK(w.max_buffered.load() <= budget + one_message);
    CHECK(w.max_buffered.load() >= budget / 2);  // it did fill the budget
    CHECK(c.close_handshake().is_close());
    REQUIRE(wait_until([&] { return w.finished.load() == 1; }));
    CHECK(wait_until([&] { return w.connection_freed(); }));
}

TEST_CASE("coroutine_endpoint: a client that disappears mid-co_await resumes the coroutine",
          "[coroutine][cancel]") {
    watch w;
    std::atomic<int> send_ended{0}, read_ended{0};
    wsx::connection_options limits;
    limits.max_buffered_bytes = 32 * 1024;
    wsx::server srv(test_options());
    // Waits in send(): the client never reads.
    srv.websocket("/send", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        scope sc(w);
        w.keep(s);
        const std::string big(1000, 'x');
        for (;;) {
            const wsx::send_result r = co_await s.send(big);
            if (!r) {
                w.last_status = static_cast<int>(r.status());
                break;
            }
            ++w.sent;
        }
        ++send_ended;
    }, {.limits = limits}));
    // Waits in read(): the client never sends.
    srv.websocket("/read", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        scope sc(w);
        const std::optional<wsx::owned_message> m = co_await s.read();
        if (!m) {
            w.end_code = static_cast<int>(s.close_code());
            ++read_ended;
        }
    }));
    srv.start(2);

    {
        loopback_client c(srv.port(), 8 * 1024);
        REQUIRE(c.upgrade("/send"));
        REQUIRE(wait_until([&] { return w.sent.load() > 0; }));
        // Stuck in send() once the budget and the socket buffers are full.
        int before = -1;
        REQUIRE(wait_until([&] {
            const int now = w.sent.load();
            return std::exchange(before, now) == now;
        }, 5s, 150ms));
        CHECK(send_ended == 0);
        // Vanish without a closing handshake: a reset.
        c.socket().set_option(asio::socket_base::linger(true, 0));
        c.close();
    }
    REQUIRE(wait_until([&] { return send_ended.load() == 1; }));
    CHECK(w.last_status == static_cast<int>(wsx::send_status::not_open));

    {
        loopback_client c(srv.port());
        REQUIRE(c.upgrade("/read"));
        REQUIRE(wait_until([&] { return w.started.load() == 2; }));
        std::this_thread::sleep_for(50ms);
        CHECK(read_ended == 0);
        c.close();
    }
    REQUIRE(wait_until([&] { return read_ended.load() == 1; }));
    CHECK(w.end_code == static_cast<int>(close_code::abnormal));
    REQUIRE(wait_until([&] { return w.finished.load() == 2; }));
    CHECK(wait_until([&] { return w.connection_freed(); }));
    CHECK(wait_until([&] { return srv.session_count() == 0; }));
}

namespace {

// What a producer on another thread saw.
struct producer_watch {
    asio::io_context::executor_type ex;
    std::size_t budget;
    int total;
    std::atomic<int> sent{0}, refused{0}, wrong_thread{0}, full_before_send{0};
    std::atomic<bool> done{false};
    std::atomic<std::size_t> max_buffered{0};
};

asio::awaitable<void> produce(wsx::coroutine_stream out, producer_watch* pw) {
    for (int i = 0; i < pw->total; ++i) {
        const std::string m = reading(i);
        if (out.connection().buffered_amount() + m.size() + 14 > pw->budget) ++pw->full_before_send;
        const wsx::send_result r = co_await out.send(m);
        if (!pw->ex.running_in_this_thread()) ++pw->wrong_thread;  // resumed on its own thread
        std::size_t b = out.connection().buffered_amount(), cur = pw->max_buffered.load();
        while (b > cur && !pw->max_buffered.compare_exchange_weak(cur, b)) {}
        if (!r) {
            ++pw->refused;
            break;
        }
        ++pw->sent;
    }
    pw->done = true;
}

} // namespace

TEST_CASE("coroutine_endpoint: a producer on another thread co_awaits send()", "[coroutine][threads]") {
    asio::io_context producer_io;
    auto guard = asio::make_work_guard(producer_io);
    std::thread producer_thread([&] { producer_io.run(); });
    producer_watch pw{producer_io.get_executor(), 16 * 1024, 8000};  // 8 MB

    wsx::connection_options limits;
    limits.max_buffered_bytes = pw.budget;
    wsx::server srv(test_options());
    srv.websocket("/", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        // The producer gets a copy of the stream and runs on its own thread.
        asio::co_spawn(producer_io, produce(s, &pw), [](std::exception_ptr) {});
        while (co_await s.read()) {}
    }, {.limits = limits}));
    srv.start(1);

    loopback_client c(srv.port(), 16 * 1024);
    REQUIRE(c.upgrade("/"));
    std::this_thread::sleep_for(200ms);  // the producer fills the budget and waits
    CHECK(pw.sent.load() < pw.total);
    for (int got = 0; got < pw.total; ++got) {
        const ws_event ev = c.read_event(3s);
        REQUIRE(ev.is_message());
        REQUIRE(ev.payload == reading(got));
    }
    REQUIRE(wait_until([&] { return pw.done.load(); }));
    CHECK(pw.sent == pw.total);
    CHECK(pw.refused == 0);
    CHECK(pw.wrong_thread == 0);
    CHECK(pw.full_before_send > 0);
    CHECK(pw.max_buffered.load() <= pw.budget + reading(0).size() + 14);
    CHECK(c.close_handshake().is_close());
    srv.stop();
    srv.join();
    guard.reset();
    producer_thread.join();
}

TEST_CASE("coroutine_endpoint: a coroutine that does not read holds the peer back",
          "[coroutine][backpressure]") {
    constexpr std::size_t max_queued = 64 * 1024;
    constexpr int total = 8000;  // 8 MB of 1 KB messages: more than the socket buffers hold
    std::atomic<bool> release{false};
    std::atomic<int> read_count{0};
    std::atomic<std::size_t> max_queued_seen{0};
    std::mutex stream_mutex;
    std::optional<wsx::coroutine_stream> stream;
    wsx::server srv(test_options());
    srv.websocket("/", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
        {
            std::lock_guard lock(stream_mutex);
            stream = s;
        }
        asio::steady_timer t(s.get_executor());
        while (!release.load()) {
            t.expires_after(5ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        while (auto m = co_await s.read()) {
            if (m->size() != 1000) break;
            ++read_count;
        }
    }, {.max_queued_bytes = max_queued}));
    srv.start(1);

    loopback_client c(srv.port());
    REQUIRE(c.upgrade("/"));
    // A small send buffer, so that what the kernel holds is small beside `total`.
    c.socket().set_option(asio::socket_base::send_buffer_size(32 * 1024));
    std::vector<std::string> frames;
    for (int i = 0; i < 16; ++i) frames.push_back(c.encode_frame(opcode::binary, std::string(1000, char('a' + i))));
    std::atomic<int> written{0};
    std::thread writer([&] {
        std::error_code ec;
        for (int i = 0; i < total && !ec; ++i) {
            asio::write(c.socket(), asio::buffer(frames[static_cast<std::size_t>(i) % frames.size()]), ec);
            if (!ec) ++written;
        }
    });
    auto queued = [&] {
        std::lock_guard lock(stream_mutex);
        return stream ? stream->queued_bytes() : 0;
    };
    // Sample while the coroutine does not read: the queue stops growing.
    for (int i = 0; i < 40; ++i) {
        const std::size_t q = queued();
        if (q > max_queued_seen) max_queued_seen = q;
        std::this_thread::sleep_for(10ms);
    }
    const int written_while_held = written.load();
    CHECK(written_while_held < total);  // the writer is held back by TCP
    // The queue: at most the limit, one read's worth (64 KiB) and one message.
    const std::size_t bound = max_queued + 64 * 1024 + 1000 + 64;
    CHECK(max_queued_seen.load() <= bound);
    CHECK(max_queued_seen.load() >= max_queued);
    CHECK(queued() <= bound);

    release = true;  // it reads now: the connection reads again, everything arrives
    writer.join();
    CHECK(written == total);
    REQUIRE(wait_until([&] { return read_count.load() == total; }, 5s));
    {
        std::lock_guard lock(stream_mutex);
        stream.reset();
    }
    CHECK(c.close_handshake().is_close());
}

TEST_CASE("coroutine_endpoint: returning closes with 1000, throwing fails with 1011", "[coroutine]") {
    std::vector<std::string> logged;
    std::mutex log_mutex;
    wsx::server_options o = test_options();
    o.log = [&](wsx::log_level, std::string_view, std::string_view what) {
        std::lock_guard lock(log_mutex);
        logged.emplace_back(what);
    };
    wsx::server srv(o);
    srv.websocket("/return", wsx::coroutine_endpoint([](wsx::coroutine_stream s) -> asio::awaitable<void> {
        co_await s.send("bye");
    }));
    srv.websocket("/throw", wsx::coroutine_endpoint([](wsx::coroutine_stream s) -> asio::awaitable<void> {
        auto m = co_await s.read();
        if (m) throw std::runtime_error("bad " + std::string{m->text()});
    }));
    srv.start(1);

    loopback_client a(srv.port());
    REQUIRE(a.upgrade("/return"));
    const ws_event bye = a.read_event();
    REQUIRE(bye.is_message());
    CHECK(bye.payload == "bye");
    const ws_event end = a.read_until_close();
    REQUIRE(end.is_close());
    CHECK(end.code == close_code::normal);

    loopback_client b(srv.port());
    REQUIRE(b.upgrade("/throw"));
    REQUIRE_FALSE(b.send_text("input"));
    const ws_event failed = b.read_until_close();
    REQUIRE(failed.is_close());
    CHECK(failed.code == close_code::internal_error);
    std::lock_guard lock(log_mutex);
    REQUIRE(logged.size() == 1);
    CHECK(logged[0].find("bad input") != std::string::npos);
}

TEST_CASE("coroutine_endpoint: coroutines waiting when the server is destroyed are freed",
          "[coroutine][cancel]") {
    watch w;
    std::optional<loopback_client> reader, sender;
    {
        wsx::connection_options limits;
        limits.max_buffered_bytes = 16 * 1024;
        wsx::server srv(test_options());
        srv.websocket("/read", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
            scope sc(w);
            while (co_await s.read()) {}
        }));
        srv.websocket("/send", wsx::coroutine_endpoint([&](wsx::coroutine_stream s) -> asio::awaitable<void> {
            scope sc(w);
            w.keep(s);
            const std::string big(1000, 'y');
            while (co_await s.send(big)) ++w.sent;
        }, {.limits = limits}));
        srv.start(2);
        reader.emplace(srv.port());
        REQUIRE(reader->upgrade("/read"));
        sender.emplace(srv.port(), 8 * 1024);
        REQUIRE(sender->upgrade("/send"));
        REQUIRE(wait_until([&] { return w.started.load() == 2 && w.sent.load() > 0; }));
        std::this_thread::sleep_for(50ms);
        CHECK(w.finished == 0);
    }  // the destructor closes both connections at once: the coroutines end or are destroyed
    CHECK(w.finished == 2);
    CHECK(w.connection_freed());
}

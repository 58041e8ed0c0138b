// SPDX-License-Identifier: BSL-1.0
// wsx::basic_client over plain TCP: against wsx's own server on loopback
// (pull style, handlers, coroutines, close codes both ways, many clients on one
// io_context), and against a scripted fake server on the client's io_context
// for every way a server can answer badly (refusal, bad accept key, masked
// frames, invalid UTF-8, a close in the middle of the handshake...).
#include "asio_coroutines.hpp"  // first: before any Asio header

#include "wsx/client.hpp"

#include "catch.hpp"
#include "client_sync.hpp"
#include "loopback_client.hpp"

#include <asio/read_until.hpp>
#include <asio/write.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <wsx/detail/base64.hpp>
#include <wsx/http/handshake.hpp>
#include <wsx/http/parser.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/server.hpp>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using tcp = asio::ip::tcp;

using wsx::test::close_sync;
using wsx::test::code_of;
using wsx::test::connect_sync;
using wsx::test::read_sync;
using wsx::test::run_until;
using wsx::test::send_sync;
using wsx::test::test_clock;
using wsx::test::wait_until;

// ---- wsx's own server on a thread of its own ------------------------------------

// What the server's handlers saw (written on the server thread).
struct server_log {
    struct upgrade {
        std::string path, query, host, authorization, offered, custom;
    };
    std::mutex m;
    std::vector<upgrade> upgrades;
    std::vector<std::weak_ptr<wsx::connection>> opened;
    std::vector<std::pair<int, std::string>> closes;
    std::vector<std::string> pongs;

    template <class F>
    auto with(F&& f) {
        std::lock_guard lock{m};
        return f();
    }
    std::shared_ptr<wsx::connection> connection(std::size_t i) {
        if (!wait_until([&] { return with([&] { return opened.size() > i; }); }, 5s)) return nullptr;
        return with([&] { return opened[i].lock(); });
    }
    bool wait_closes(std::size_t n, std::chrono::milliseconds t = 5s) {
        return wait_until([&] { return with([&] { return closes.size() >= n; }); }, t);
    }
    std::pair<int, std::string> close_record(std::size_t i) {
        return with([&] { return closes.at(i); });
    }
};

// Echo on "/" and "/chat", subprotocols "v2" then "v1"; "/deny" refuses with 403.
class test_server {
public:
    explicit test_server(std::string host = "127.0.0.1")
        : srv_(wsx::server_options{.host = std::move(host),
                                   .port = 0,
                                   .handshake_timeout = 2s,
                                   .stop_timeout = 500ms,
                                   .timer_resolution = 20ms}) {
        wsx::endpoint ep{
            .on_upgrade =
                [this](wsx::upgrade_context& u) {
                    if (u.path() == "/deny") return u.reject(403, "no entry");
                    log.with([&] {
                        log.upgrades.push_back({std::string{u.path()}, std::string{u.query()},
                                                std::string{u.header("Host")},
                                                std::string{u.header("Authorization")},
                                                std::string{u.header("Sec-WebSocket-Protocol")},
                                                std::string{u.header("X-Custom")}});
                    });
                },
            .on_open = [this](wsx::connection& c) {
                log.with([&] { log.opened.push_back(c.shared_from_this()); });
            },
            .on_message = [](wsx::connection& c, wsx::message m) { c.send(m); },
            .on_close =
                [this](wsx::connection&, close_code code, std::string_view reason) {
                    log.with([&] { log.closes.emplace_back(code_of(code), std::string{reason}); });
                },
            .on_pong =
                [this](wsx::connection&, std::string_view p) {
                    log.with([&] { log.pongs.emplace_back(p); });
                },
            .subprotocols = {"v2", "v1"},
        };
        srv_.websocket("/", ep);
        srv_.websocket("/chat", ep);
        srv_.websocket("/deny", ep);
        srv_.start(1);
    }
    ~test_server() {
        srv_.stop();
        srv_.join();
    }

    std::uint16_t port() const { return srv_.port(); }
    std::string url(std::string_view path = "/", std::string_view host = "127.0.0.1") const {
        return "ws://" + std::string{host} + ":" + std::to_string(port()) + std::string{path};
    }

    server_log log;  // before srv_: its handlers write here until the server is gone

private:
    wsx::server srv_;
};

// ---- a scripted fake server on the client's io_context -----------------------------

// One frame as the fake server decodes it from the client.
struct client_frame {
    opcode op = opcode::text;
    bool fin = true;
    bool masked = false;
    std::array<std::uint8_t, 4> key{};
    std::string payload;  // unmasked
};

// Decodes the complete frames in `bytes` (the test controls what is sent, so
// no validation beyond the framing).
std::vector<client_frame> parse_frames(std::string_view bytes) {
    std::vector<client_frame> out;
    std::size_t i = 0;
    while (bytes.size() - i >= 2) {
        const auto b0 = static_cast<std::uint8_t>(bytes[i]);
        const auto b1 = static_cast<std::uint8_t>(bytes[i + 1]);
        std::size_t pos = i + 2;
        std::uint64_t len = b1 & 0x7F;
        if (len == 126 || len == 127) {
            const std::size_t n = len == 126 ? 2 : 8;
            if (bytes.size() - pos < n) break;
            len = 0;
            for (std::size_t k = 0; k < n; ++k) len = (len << 8) | static_cast<std::uint8_t>(bytes[pos + k]);
            pos += n;
        }
        client_frame f;
        f.op = static_cast<opcode>(b0 & 0x0F);
        f.fin = (b0 & 0x80) != 0;
        f.masked = (b1 & 0x80) != 0;
        if (f.masked) {
            if (bytes.size() - pos < 4) break;
            for (std::size_t k = 0; k < 4; ++k) f.key[k] = static_cast<std::uint8_t>(bytes[pos + k]);
            pos += 4;
        }
        if (bytes.size() - pos < len) break;
        f.payload.assign(bytes.substr(pos, len));
        if (f.masked)
            for (std::size_t k = 0; k < f.payload.size(); ++k) f.payload[k] ^= static_cast<char>(f.key[k % 4]);
        out.push_back(std::move(f));
        i = pos + len;
    }
    return out;
}

std::string server_frame(opcode op, std::string_view payload, bool fin = true, bool masked = false) {
    std::string out;
    const wsx::protocol::mask_key key{9, 8, 7, 6};
    wsx::protocol::append_frame(out, op, payload, fin, masked ? &key : nullptr);
    return out;
}

std::string server_close(close_code code, std::string_view reason = {}) {
    std::string out;
    wsx::protocol::append_close_frame(out, code, reason);
    return out;
}

// A 101 answer for `key`; `accept` replaces the right Sec-WebSocket-Accept.
std::string switching(const std::string& key, std::string_view extra_headers = {},
                      std::optional<std::string> accept = std::nullopt) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           accept.value_or(wsx::http::websocket_accept_key(key)) + "\r\n" + std::string{extra_headers} +
           "\r\n";
}

// Accepts one connection, reads the upgrade request, writes answer(key) (if
// not empty; and closes at once when close_after_answer), then records every
// byte the client sends, closing its side when the client closes. Can be told
// not to read (a peer whose buffers fill up).
class raw_server {
public:
    using answer_fn = std::function<std::string(const std::string& key)>;

    raw_server(asio::io_context& io, answer_fn answer, bool close_after_answer = false)
        : io_(io), acceptor_(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}), socket_(io),
          answer_(std::move(answer)), close_after_answer_(close_after_answer) {
        acceptor_.async_accept(socket_, [this](std::error_code ec) {
            if (ec) return;
            accepted = true;
            read_request();
        });
    }

    raw_server(const raw_server&) = delete;
    raw_server& operator=(const raw_server&) = delete;
    // Runs the handlers of the cancelled operations while they can still
    // touch this object.
    ~raw_server() {
        std::error_code ec;
        acceptor_.close(ec);
        socket_.close(ec);
        io_.restart();
        io_.poll();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string url(std::string_view target = "/") const {
        return "ws://127.0.0.1:" + std::to_string(port()) + std::string{target};
    }

    void send(std::string bytes) {
        auto data = std::make_shared<std::string>(std::move(bytes));
        asio::async_write(socket_, asio::buffer(*data), [data](std::error_code, std::size_t) {});
    }
    void close() {
        std::error_code ec;
        socket_.close(ec);
    }
    // Stops (false) or resumes (true) reading what the client sends.
    void set_reading(bool on) {
        reading_ = on;
        if (on && handshake_done_ && !read_pending_) read_more();
    }

    std::vector<client_frame> frames() const { return parse_frames(received); }

    bool accepted = false;
    std::string request_text;
    wsx::http::request request;
    std::string received;  // bytes after the request
    bool eof = false;

private:
    void read_request() {
        asio::async_read_until(socket_, asio::dynamic_buffer(buf_), "\r\n\r\n",
                               [this](std::error_code ec, std::size_t n) {
                                   if (ec) return;
                                   request_text = buf_.substr(0, n);
                                   received = buf_.substr(n);
                                   wsx::http::request_parser p;
                                   p.feed(request_text);
                                   request = p.get();
                                   const std::string out =
                                       answer_(std::string{request.headers.get("Sec-WebSocket-Key")});
                                   if (close_after_answer_) {
                                       auto data = std::make_shared<std::string>(out);
                                       asio::async_write(socket_, asio::buffer(*data),
                                                         [this, data](std::error_code, std::size_t) { close(); });
                                       return;
                                   }
                                   if (!out.empty()) send(out);
                                   handshake_done_ = true;
                                   if (reading_) read_more();
                               });
    }

    void read_more() {
        read_pending_ = true;
        socket_.async_read_some(asio::buffer(chunk_), [this](std::error_code ec, std::size_t n) {
            read_pending_ = false;
            received.append(chunk_.data(), n);
            if (ec) {
                eof = true;
                close();  // the client closed: so do we (RFC 6455 §7.1.1 has the server close first)
                return;
            }
            if (reading_) read_more();
        });
    }

    asio::io_context& io_;
    tcp::acceptor acceptor_;
    tcp::socket socket_;
    answer_fn answer_;
    bool close_after_answer_;
    std::string buf_;
    std::array<char, 64 * 1024> chunk_{};
    bool reading_ = true;
    bool read_pending_ = false;
    bool handshake_done_ = false;
};

// A TCP port with nothing listening on it.
std::uint16_t closed_port() {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

} // namespace

// ---- against wsx's server -----------------------------------------------------------

TEST_CASE("client: pull style echo of text, binary, empty and 8 MiB messages", "[client]") {
    test_server s;
    asio::io_context io;
    wsx::client c(io);
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    CHECK(c.is_open());
    CHECK(c.handshake_response().status == 101);
    CHECK(c.handshake_failure().empty());

    auto round_trip = [&](opcode type, const std::string& payload) {
        CHECK_FALSE(send_sync(io, c, type, payload, 30s));
        auto [ec, m] = read_sync(io, c, 30s);
        CHECK_FALSE(ec);
        CHECK(m.type == type);
        CHECK(m.payload.size() == payload.size());
        CHECK(m.payload == payload);
    };
    round_trip(opcode::text, "hello");
    round_trip(opcode::text, "héllo wörld ✓ 😀");
    round_trip(opcode::text, "");
    round_trip(opcode::binary, std::string("\x00\x01\x02\xFF", 4));
    round_trip(opcode::binary, "");
    std::string big(8u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 9));
    round_trip(opcode::binary, big);

    // Several sends in flight; reads complete in order.
    std::vector<std::string> got;
    for (int i = 0; i < 50; ++i) c.async_send("m" + std::to_string(i), [](std::error_code) {});
    for (int i = 0; i < 50; ++i)
        c.async_read([&](std::error_code ec, wsx::received_message m) {
            if (!ec) got.push_back(std::move(m.payload));
        });
    REQUIRE(run_until(io, [&] { return got.size() == 50; }));
    for (int i = 0; i < 50; ++i) CHECK(got[static_cast<std::size_t>(i)] == "m" + std::to_string(i));

    // Invalid UTF-8 is refused before it is sent.
    CHECK(send_sync(io, c, opcode::text, "\xC3\x28") == wsx::error::invalid_utf8);
    CHECK_FALSE(close_sync(io, c, close_code::normal, "done"));
    CHECK(code_of(c.closed_with().code) == 1000);
    REQUIRE(s.log.wait_closes(1));
    CHECK(s.log.close_record(0) == std::make_pair(1000, std::string{"done"}));
    CHECK(read_sync(io, c).first == wsx::error::closed);
    CHECK(send_sync(io, c, opcode::text, "late") == wsx::error::closed);
}

TEST_CASE("client: handlers style, and close codes both ways", "[client][close]") {
    test_server s;
    asio::io_context io;
    std::vector<std::string> messages;
    std::vector<std::pair<int, std::string>> closes;
    int opens = 0;
    wsx::endpoint ep{
        .on_open = [&](wsx::connection& c) {
            ++opens;
            CHECK(c.local_role() == wsx::role::client);
            c.send("from on_open");
        },
        .on_message = [&](wsx::connection&, wsx::message m) { messages.emplace_back(m.text()); },
        .on_close = [&](wsx::connection&, close_code code, std::string_view reason) {
            closes.emplace_back(code_of(code), std::string{reason});
        },
    };

    SECTION("the client closes with 4001") {
        wsx::client c(io, ep);
        REQUIRE_FALSE(connect_sync(io, c, s.url()));
        CHECK(opens == 1);
        CHECK(c.send("second"));
        REQUIRE(run_until(io, [&] { return messages.size() == 2; }));
        CHECK(messages == std::vector<std::string>{"from on_open", "second"});
        CHECK_FALSE(close_sync(io, c, close_code(4001), "bye"));
        REQUIRE(s.log.wait_closes(1));
        CHECK(s.log.close_record(0) == std::make_pair(4001, std::string{"bye"}));
        REQUIRE(closes.size() == 1);
        CHECK(closes[0].first == 4001);  // the server echoes the code
        CHECK(c.get_connection()->error() == wsx::error::closed);
    }
    SECTION("the server closes with 4002") {
        wsx::client c(io, ep);
        REQUIRE_FALSE(connect_sync(io, c, s.url()));
        auto server_side = s.log.connection(0);
        REQUIRE(server_side);
        server_side->close(close_code(4002), "server says bye");
        REQUIRE(run_until(io, [&] { return closes.size() == 1; }));
        CHECK(closes[0] == std::make_pair(4002, std::string{"server says bye"}));
        CHECK(code_of(c.closed_with().code) == 4002);
        CHECK(c.closed_with().reason == "server says bye");
        CHECK(c.get_connection()->error() == wsx::error::closed);
        REQUIRE(s.log.wait_closes(1));
        CHECK(s.log.close_record(0).first == 4002);
        // A pull read after the end says how it ended.
        CHECK(read_sync(io, c).first == wsx::error::closed);
    }
}

TEST_CASE("client: ping and pong both ways", "[client]") {
    test_server s;
    asio::io_context io;
    std::vector<std::string> pongs;
    wsx::client c(io, wsx::endpoint{.on_pong = [&](wsx::connection&, std::string_view p) {
                      pongs.emplace_back(p);
                  }});
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    CHECK(c.ping("are you there"));
    REQUIRE(run_until(io, [&] { return pongs.size() == 1; }));
    CHECK(pongs[0] == "are you there");
    // The client answers the server's ping by itself.
    auto server_side = s.log.connection(0);
    REQUIRE(server_side);
    server_side->ping("and you?");
    REQUIRE(run_until(io, [&] { return s.log.with([&] { return s.log.pongs.size() == 1; }); }));
    CHECK(s.log.with([&] { return s.log.pongs[0]; }) == "and you?");
    CHECK_THROWS_AS(c.ping(std::string(126, 'x')), std::invalid_argument);
    CHECK_FALSE(close_sync(io, c, close_code::normal));
}

TEST_CASE("client: path, query, Host, subprotocols and extra headers reach the server", "[client]") {
    test_server s;
    asio::io_context io;
    wsx::client_options o;
    o.subprotocols = {"v1", "v2"};
    o.headers.add("Authorization", "Bearer secret-token");
    o.headers.add("X-Custom", "yes");
    wsx::client c(io, o);
    REQUIRE_FALSE(connect_sync(io, c, s.url("/chat?room=1&name=a%20b")));
    const auto u = s.log.with([&] { return s.log.upgrades.at(0); });
    CHECK(u.path == "/chat");
    CHECK(u.query == "room=1&name=a%20b");
    CHECK(u.host == "127.0.0.1:" + std::to_string(s.port()));
    CHECK(u.authorization == "Bearer secret-token");
    CHECK(u.offered == "v1, v2");
    CHECK(u.custom == "yes");
    // The server's preference wins.
    CHECK(c.subprotocol() == "v2");
    CHECK(c.get_connection()->subprotocol() == "v2");
    CHECK(c.get_connection()->path() == "/chat");
    CHECK_FALSE(close_sync(io, c, close_code::normal));
}

TEST_CASE("client: IPv6 literals and host names through the resolver", "[client]") {
    asio::io_context io;
    SECTION("ws://[::1]:port/") {
        test_server s("::1");
        wsx::client c(io);
        REQUIRE_FALSE(connect_sync(io, c, "ws://[::1]:" + std::to_string(s.port()) + "/"));
        CHECK(c.get_connection()->remote_endpoint().address().is_v6());
        CHECK_FALSE(send_sync(io, c, opcode::text, "v6"));
        CHECK(read_sync(io, c).second.payload == "v6");
        CHECK_FALSE(close_sync(io, c, close_code::normal));
    }
    SECTION("ws://localhost:port/") {
        test_server s("127.0.0.1");
        wsx::client c(io);
        REQUIRE_FALSE(connect_sync(io, c, s.url("/", "localhost")));
        CHECK_FALSE(send_sync(io, c, opcode::text, "name"));
        CHECK(read_sync(io, c).second.payload == "name");
        CHECK_FALSE(close_sync(io, c, close_code::normal));
    }
}

#if defined(ASIO_HAS_CO_AWAIT)
TEST_CASE("client: C++20 coroutines with asio::use_awaitable", "[client][coroutine]") {
    test_server s;
    asio::io_context io;
    wsx::client c(io);
    std::vector<std::string> got;
    std::error_code refused, end;
    int closed_code = 0;
    bool done = false;
    const std::string refused_url = "ws://127.0.0.1:" + std::to_string(closed_port()) + "/";
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            wsx::client other(io);
            try {
                co_await other.async_connect(refused_url, asio::use_awaitable);
            } catch (const std::system_error& e) {
                refused = e.code();
            }
            co_await c.async_connect(s.url(), asio::use_awaitable);
            for (const char* m : {"one", "two", "three"}) co_await c.async_send(m, asio::use_awaitable);
            for (int i = 0; i < 3; ++i) {
                wsx::received_message m = co_await c.async_read(asio::use_awaitable);
                got.push_back(std::move(m.payload));
            }
            co_await c.async_close(close_code::normal, "bye", asio::use_awaitable);
            closed_code = code_of(c.closed_with().code);
            try {
                co_await c.async_read(asio::use_awaitable);
            } catch (const std::system_error& e) {
                end = e.code();
            }
            done = true;
        },
        asio::detached);
    REQUIRE(run_until(io, [&] { return done; }));
    CHECK(refused == asio::error::connection_refused);
    CHECK(got == std::vector<std::string>{"one", "two", "three"});
    CHECK(closed_code == 1000);
    CHECK(end == wsx::error::closed);
}
#endif

TEST_CASE("client: many clients share one worker on their io_context", "[client]") {
    test_server s;
    asio::io_context io;
    constexpr int n = 100;
    std::vector<std::unique_ptr<wsx::client>> clients;
    int connected = 0, closed = 0;
    for (int i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<wsx::client>(
            io, wsx::endpoint{.on_close = [&](wsx::connection&, close_code, std::string_view) { ++closed; }}));
        clients.back()->async_connect(s.url(), [&](std::error_code ec) { connected += !ec; });
    }
    REQUIRE(run_until(io, [&] { return connected == n; }, 20s));
    wsx::detail::worker& w = wsx::detail::worker_service::of(io);
    CHECK(w.size() == static_cast<std::size_t>(n));  // n connections, one sweep, one read buffer
    for (auto& c : clients) c->close();
    REQUIRE(run_until(io, [&] { return closed == n; }, 20s));
    CHECK(w.size() == 0u);
    // Nothing is left to do: the io_context runs out of work (run_for returns
    // early and leaves it stopped; work left would keep it running to the end).
    io.restart();
    io.run_for(10s);
    CHECK(io.stopped());
}

TEST_CASE("client: sends from another thread, and reconnecting after a close", "[client][threads]") {
    test_server s;
    asio::io_context io;
    wsx::client c(io);
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    std::thread t([&] {
        for (int i = 0; i < 20; ++i) c.send("t" + std::to_string(i));
    });
    std::vector<std::string> got;
    for (int i = 0; i < 20; ++i) got.push_back(read_sync(io, c).second.payload);
    t.join();
    for (int i = 0; i < 20; ++i) CHECK(got[static_cast<std::size_t>(i)] == "t" + std::to_string(i));
    CHECK_FALSE(close_sync(io, c, close_code::normal));
    CHECK_FALSE(c.is_open());
    // The same client connects again.
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    CHECK_FALSE(send_sync(io, c, opcode::text, "again"));
    CHECK(read_sync(io, c).second.payload == "again");
    CHECK(connect_sync(io, c, s.url()) == asio::error::already_connected);
    CHECK_FALSE(close_sync(io, c, close_code::normal));
}

TEST_CASE("client: a pull client that stops reading is bounded", "[client][limits]") {
    test_server s;
    asio::io_context io;
    wsx::client c(io, wsx::client_options{.max_unread_bytes = 1000});
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    for (int i = 0; i < 10; ++i) c.send(std::string(200, 'a'));
    REQUIRE(run_until(io, [&] { return s.log.with([&] { return !s.log.closes.empty(); }); }));
    CHECK(s.log.close_record(0).first == 1008);
    // What arrived is still delivered, then the reason.
    std::error_code ec;
    int messages = 0;
    while (!ec) {
        auto r = read_sync(io, c);
        ec = r.first;
        if (!ec) ++messages;
    }
    CHECK(messages >= 5);
    CHECK(ec == wsx::error::backpressure);
}

TEST_CASE("client: destroying a client closes its connection or aborts its attempt", "[client]") {
    test_server s;
    asio::io_context io;
    {
        wsx::client c(io);
        REQUIRE_FALSE(connect_sync(io, c, s.url()));
    }
    REQUIRE(run_until(io, [&] { return s.log.with([&] { return s.log.closes.size() == 1; }); }));
    CHECK(s.log.close_record(0).first == 1001);

    raw_server silent(io, [](const std::string&) { return std::string{}; });
    std::optional<std::error_code> r;
    {
        wsx::client c(io);
        c.async_connect(silent.url(), [&](std::error_code ec) { r = ec; });
        REQUIRE(run_until(io, [&] { return silent.accepted && !silent.request_text.empty(); }));
    }
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    CHECK(*r == wsx::error::operation_aborted);

    // An io_context destroyed with a client open closes and frees everything
    // (the sanitizer builds check for leaks).
    auto io2 = std::make_unique<asio::io_context>();
    auto c2 = std::make_unique<wsx::client>(*io2);
    REQUIRE_FALSE(connect_sync(*io2, *c2, s.url()));
    c2.reset();
    io2.reset();
}

// ---- errors before the connection opens --------------------------------------------

TEST_CASE("client: errors before the upgrade say what failed", "[client][errors]") {
    asio::io_context io;
    wsx::client c(io, wsx::client_options{.connect_timeout = 300ms, .handshake_timeout = 300ms});
    for (const char* bad : {"http://127.0.0.1/", "127.0.0.1:80", "ws://", "ws://host:0/",
                            "ws://host/#fragment", "wss://127.0.0.1/"})
        CHECK(connect_sync(io, c, bad) == wsx::error::bad_url);

    // TCP.
    CHECK(connect_sync(io, c, "ws://127.0.0.1:" + std::to_string(closed_port()) + "/") ==
          asio::error::connection_refused);

    // DNS (.invalid never resolves, RFC 2606), with time for a slow resolver.
    wsx::client patient(io, wsx::client_options{.connect_timeout = 8s});
    const std::error_code dns = connect_sync(io, patient, "ws://wsx-test.invalid/", 10s);
    INFO(dns.message());
    CHECK((dns.category() == asio::error::get_netdb_category() ||
           dns.category() == asio::error::get_addrinfo_category()));

    // A listener whose accept queue is full never completes the TCP handshake.
    tcp::acceptor full(io);
    const tcp::endpoint any_port{asio::ip::make_address("127.0.0.1"), 0};
    full.open(any_port.protocol());
    full.bind(any_port);
    full.listen(0);
    std::vector<std::unique_ptr<tcp::socket>> fillers;
    for (int i = 0; i < 8; ++i) {
        auto sock = std::make_unique<tcp::socket>(io);
        auto done = std::make_shared<bool>(false);  // may complete after this loop
        sock->async_connect(full.local_endpoint(), [done](std::error_code) { *done = true; });
        const bool ok = run_until(io, [&] { return *done; }, 200ms);
        fillers.push_back(std::move(sock));
        if (!ok) break;
    }
    const auto t0 = test_clock::now();
    CHECK(connect_sync(io, c, "ws://127.0.0.1:" + std::to_string(full.local_endpoint().port()) + "/") ==
          asio::error::timed_out);
    CHECK(test_clock::now() - t0 < 2s);
    for (auto& f : fillers) f->close();

    // A server that accepts and never answers.
    raw_server silent(io, [](const std::string&) { return std::string{}; });
    CHECK(connect_sync(io, c, silent.url()) == wsx::error::handshake_timeout);
    CHECK_FALSE(c.is_open());
}

TEST_CASE("client: a refused upgrade reports the status", "[client][errors]") {
    asio::io_context io;
    SECTION("from wsx's server") {
        test_server s;
        wsx::client c(io);
        CHECK(connect_sync(io, c, s.url("/deny")) == wsx::error::upgrade_rejected);
        CHECK(c.handshake_response().status == 403);
        CHECK(c.handshake_response().body == "no entry\n");
        CHECK(c.handshake_failure() == "server refused the upgrade with status 403");
        CHECK(connect_sync(io, c, s.url("/nowhere")) == wsx::error::upgrade_rejected);
        CHECK(c.handshake_response().status == 404);
    }
    SECTION("a body that ends with the connection") {
        raw_server srv(
            io,
            [](const std::string&) {
                return std::string{"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\nwho are you?"};
            },
            true);
        wsx::client c(io);
        CHECK(connect_sync(io, c, srv.url()) == wsx::error::upgrade_rejected);
        CHECK(c.handshake_response().status == 401);
        CHECK(c.handshake_response().body == "who are you?");
    }
}

TEST_CASE("client: bad 101 answers fail the handshake", "[client][errors]") {
    asio::io_context io;
    struct bad_answer {
        const char* name;
        raw_server::answer_fn answer;
        std::error_code expected;
        bool close_after = false;
    };
    const std::vector<bad_answer> cases = {
        {"wrong accept key",
         [](const std::string& key) { return switching(key, {}, wsx::http::websocket_accept_key(key + "x")); },
         wsx::error::bad_accept_key},
        {"no accept key",
         [](const std::string&) {
             return std::string{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n\r\n"};
         },
         wsx::error::bad_accept_key},
        {"no Upgrade header",
         [](const std::string& key) {
             return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
                    wsx::http::websocket_accept_key(key) + "\r\n\r\n";
         },
         wsx::error::bad_handshake},
        {"a subprotocol that was not offered",
         [](const std::string& key) { return switching(key, "Sec-WebSocket-Protocol: chat\r\n"); },
         wsx::error::bad_handshake},
        {"an extension that was not offered",
         [](const std::string& key) { return switching(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n"); },
         wsx::error::bad_handshake},
        {"not HTTP", [](const std::string&) { return std::string{"SSH-2.0-OpenSSH_9.2\r\n\r\n"}; },
         wsx::error::bad_handshake},
        {"closed in the middle of the answer",
         [](const std::string&) { return std::string{"HTTP/1.1 101 Switching Proto"}; }, asio::error::eof, true},
        {"closed without an answer", [](const std::string&) { return std::string{}; }, asio::error::eof, true},
    };
    for (const auto& t : cases) {
        INFO(t.name);
        raw_server srv(io, t.answer, t.close_after);
        wsx::client c(io);
        const std::error_code ec = connect_sync(io, c, srv.url());
        INFO(ec.message() << " / " << c.handshake_failure());
        CHECK(ec == t.expected);
        CHECK_FALSE(c.is_open());
        CHECK(c.get_connection() == nullptr);
    }
}

// ---- a server that breaks the protocol after the upgrade ---------------------------------

TEST_CASE("client: the handshake request and masking", "[client][masking]") {
    asio::io_context io;
    std::set<std::string> keys;
    for (int i = 0; i < 2; ++i) {
        raw_server srv(io, [](const std::string& key) { return switching(key); });
        wsx::client c(io);
        REQUIRE_FALSE(connect_sync(io, c, srv.url("/path?x=1")));
        const auto& req = srv.request;
        CHECK(req.method == "GET");
        CHECK(req.target == "/path?x=1");
        CHECK(req.headers.get("Host") == "127.0.0.1:" + std::to_string(srv.port()));
        CHECK(req.headers.has_token("Upgrade", "websocket"));
        CHECK(req.headers.has_token("Connection", "upgrade"));
        CHECK(req.headers.get("Sec-WebSocket-Version") == "13");
        const std::string key{req.headers.get("Sec-WebSocket-Key")};
        std::array<std::uint8_t, 16> nonce{};
        const auto size = wsx::detail::base64_decode_into(key, nonce);
        CHECK((size && *size == 16));
        keys.insert(key);

        // Every frame is masked, each with its own key.
        for (int k = 0; k < 20; ++k) c.send("message " + std::to_string(k));
        c.ping("p");
        REQUIRE(run_until(io, [&] { return srv.frames().size() >= 21; }));
        const auto frames = srv.frames();
        std::set<std::array<std::uint8_t, 4>> masks;
        for (std::size_t k = 0; k < 20; ++k) {
            CHECK(frames[k].masked);
            CHECK(frames[k].payload == "message " + std::to_string(k));
            masks.insert(frames[k].key);
        }
        CHECK(masks.size() >= 19);  // 2^-32 per pair to collide
        CHECK(frames[20].op == opcode::ping);
        CHECK(frames[20].masked);
        // The closing handshake: the client's close is masked too, and it waits
        // for the server to close TCP.
        c.close(close_code::normal, "end");
        REQUIRE(run_until(io, [&] { return srv.frames().size() >= 22; }));
        CHECK(srv.frames()[21].op == opcode::close);
        CHECK(srv.frames()[21].masked);
        srv.send(server_close(close_code::normal));
        srv.close();
        REQUIRE(run_until(io, [&] { return !c.is_open() && c.get_connection()->state() == wsx::connection_state::closed; }));
        CHECK(c.get_connection()->error() == wsx::error::closed);
    }
    CHECK(keys.size() == 2);  // a fresh key for every handshake
}

TEST_CASE("client: fragments, pings and early frames from the server", "[client]") {
    asio::io_context io;
    // Frames in the same write as the 101: a fragmented text message with a
    // ping in the middle of it.
    raw_server srv(io, [](const std::string& key) {
        return switching(key) + server_frame(opcode::text, "frag", false) + server_frame(opcode::ping, "p") +
               server_frame(opcode::continuation, "ment", false) +
               server_frame(opcode::continuation, "ed ✓", true);
    });
    wsx::client c(io);
    REQUIRE_FALSE(connect_sync(io, c, srv.url()));
    auto [ec, m] = read_sync(io, c);
    CHECK_FALSE(ec);
    CHECK(m.type == opcode::text);
    CHECK(m.payload == "fragmented ✓");
    REQUIRE(run_until(io, [&] { return !srv.frames().empty(); }));
    CHECK(srv.frames()[0].op == opcode::pong);
    CHECK(srv.frames()[0].payload == "p");
    // A binary message in many fragments, larger than the read buffer.
    const std::string part(100 * 1024, 'z');
    std::string burst = server_frame(opcode::binary, part, false);
    for (int i = 0; i < 3; ++i) burst += server_frame(opcode::continuation, part, i == 2);
    srv.send(burst);
    auto big = read_sync(io, c);
    CHECK_FALSE(big.first);
    CHECK(big.second.type == opcode::binary);
    CHECK(big.second.payload.size() == 4 * part.size());
}

TEST_CASE("client: protocol violations by the server fail the connection", "[client][errors]") {
    asio::io_context io;
    struct violation {
        const char* name;
        std::string frames;
        close_code code;
        std::error_code error;
    };
    const std::vector<violation> cases = {
        {"a masked frame", server_frame(opcode::text, "masked", true, true), close_code::protocol_error,
         wsx::error::protocol_violation},
        {"invalid UTF-8", server_frame(opcode::text, "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xED\xA0\x80"),
         close_code::invalid_payload, wsx::error::invalid_utf8},
        {"a message over max_message_size", server_frame(opcode::binary, std::string(2000, 'b')),
         close_code::message_too_big, wsx::error::message_too_big},
        {"a reserved opcode", std::string("\x83\x00", 2), close_code::protocol_error,
         wsx::error::protocol_violation},
    };
    for (const auto& v : cases) {
        INFO(v.name);
        raw_server srv(io, [](const std::string& key) { return switching(key); });
        wsx::client_options o;
        o.websocket.max_message_size = 1000;
        wsx::client c(io, o);
        REQUIRE_FALSE(connect_sync(io, c, srv.url()));
        srv.send(v.frames);
        auto [ec, m] = read_sync(io, c);
        CHECK(ec == v.error);
        CHECK(c.closed_with().code == v.code);
        // The client told the server why, in a masked close frame, and closed TCP.
        REQUIRE(run_until(io, [&] { return srv.eof; }));
        const auto frames = srv.frames();
        REQUIRE_FALSE(frames.empty());
        CHECK(frames.back().op == opcode::close);
        CHECK(frames.back().masked);
        REQUIRE(frames.back().payload.size() >= 2);
        const int sent = (static_cast<std::uint8_t>(frames.back().payload[0]) << 8) |
                         static_cast<std::uint8_t>(frames.back().payload[1]);
        CHECK(sent == code_of(v.code));
    }
}

TEST_CASE("client: async_send completes when the queue has drained", "[client][backpressure]") {
    asio::io_context io;
    raw_server srv(io, [](const std::string& key) { return switching(key); });
    wsx::client_options o;
    o.websocket.max_buffered_bytes = 64u << 20;
    wsx::client c(io, o);
    REQUIRE_FALSE(connect_sync(io, c, srv.url()));
    srv.set_reading(false);
    std::optional<std::error_code> sent;
    const std::string big(24u << 20, 'q');
    c.async_send(opcode::binary, big, [&](std::error_code ec) { sent = ec; });
    run_until(io, [] { return false; }, 300ms);
    CHECK_FALSE(sent.has_value());
    CHECK(c.get_connection()->buffered_amount() > 0);
    srv.set_reading(true);
    const bool done = run_until(io, [&] { return sent.has_value(); }, 20s);
    INFO("received " << srv.received.size() << ", buffered " << c.get_connection()->buffered_amount());
    REQUIRE(done);
    CHECK_FALSE(*sent);
    CHECK(c.get_connection()->buffered_amount() == 0u);
}

TEST_CASE("client: an exception from on_close goes to client_options::log", "[client][log]") {
    test_server s;
    asio::io_context io;
    std::vector<std::tuple<wsx::log_level, std::string, std::string>> lines;  // on io's thread
    wsx::client_options options;
    options.log = [&](wsx::log_level l, std::string_view cat, std::string_view msg) {
        lines.emplace_back(l, std::string{cat}, std::string{msg});
    };
    bool closed = false;
    wsx::client c(io,
                  wsx::endpoint{.on_close = [&](wsx::connection&, close_code, std::string_view) {
                      closed = true;
                      throw std::runtime_error("on_close failed on purpose");
                  }},
                  options);
    REQUIRE_FALSE(connect_sync(io, c, s.url()));
    CHECK_FALSE(close_sync(io, c, close_code::normal, ""));
    CHECK(closed);
    REQUIRE(lines.size() == 1);
    CHECK(std::get<0>(lines[0]) == wsx::log_level::error);
    CHECK(std::get<1>(lines[0]) == "websocket");
    CHECK(std::get<2>(lines[0]).find("on_close failed on purpose") != std::string::npos);
}

// ---- completion tokens that launch the operation later -------------------------------

#if __has_include(<asio/deferred.hpp>)
#include <asio/deferred.hpp>
namespace {
constexpr auto deferred_token = asio::deferred;
}
#else  // Asio before 1.24: the same token, still experimental
#include <asio/experimental/deferred.hpp>
namespace {
constexpr auto deferred_token = asio::experimental::deferred;
}
#endif

TEST_CASE("client: async_send owns its payload when the token launches it later", "[client][lifetime]") {
    // asio::deferred stores the initiation's arguments and runs it only when
    // the operation is launched: a view of the caller's string would dangle
    // (ASan: heap-use-after-free) or send whatever the buffer holds by then.
    test_server s;
    asio::io_context io;
    wsx::client c(io);
    REQUIRE_FALSE(connect_sync(io, c, s.url()));

    SECTION("the source string is overwritten before the launch") {
        std::string payload = "the payload as it was when async_send was called";
        auto op = c.async_send(opcode::text, payload, deferred_token);
        std::fill(payload.begin(), payload.end(), 'X');
        std::optional<std::error_code> sent;
        std::move(op)([&](std::error_code ec) { sent = ec; });
        REQUIRE(run_until(io, [&] { return sent.has_value(); }));
        CHECK_FALSE(*sent);
        CHECK(read_sync(io, c).second.payload == "the payload as it was when async_send was called");
    }
    SECTION("the source string is destroyed before the launch") {
        auto payload = std::make_unique<std::string>(4096, 'p');
        auto op = c.async_send(opcode::binary, *payload, deferred_token);
        payload.reset();
        // Reuse the freed block, so a dangling view sees other bytes even
        // without a sanitizer.
        const auto reuse = std::make_unique<std::string>(4096, 'r');
        std::optional<std::error_code> sent;
        std::move(op)([&](std::error_code ec) { sent = ec; });
        REQUIRE(run_until(io, [&] { return sent.has_value(); }));
        CHECK_FALSE(*sent);
        const auto got = read_sync(io, c);
        CHECK(got.second.is_binary());
        CHECK(got.second.payload.size() == 4096u);
        CHECK(std::count(got.second.payload.begin(), got.second.payload.end(), 'p') == 4096);
        CHECK(reuse->front() == 'r');
    }
    CHECK_FALSE(close_sync(io, c, close_code::normal));
}

// ---- one operation_aborted for the client and the connection ---------------------------

TEST_CASE("client: a stopped client and a force-stopped connection report the same operation_aborted",
          "[client][errors]") {
    // What a user compares against: one value, whichever side stopped.
    const std::error_code aborted = wsx::error::operation_aborted;

    // A connection attempt that the client stops.
    asio::io_context io;
    tcp::acceptor silent(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});  // never answers
    std::optional<std::error_code> attempt;
    {
        wsx::client c(io);
        c.async_connect("ws://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/",
                        [&](std::error_code ec) { attempt = ec; });
        run_until(io, [] { return false; }, 100ms);
        c.close();
        REQUIRE(run_until(io, [&] { return attempt.has_value(); }));
    }
    CHECK(*attempt == aborted);

    // A server connection dropped by stop() because its peer never answers the
    // closing handshake (the client's io_context is not run), and that open
    // client connection, dropped when its io_context goes away.
    std::mutex m;
    std::optional<std::error_code> server_side;
    std::shared_ptr<wsx::connection> client_side;
    {
        wsx::server srv(wsx::server_options{.host = "127.0.0.1",
                                            .port = 0,
                                            .handshake_timeout = 2s,
                                            .stop_timeout = 200ms,
                                            .timer_resolution = 20ms});
        srv.websocket("/", wsx::endpoint{.on_close = [&](wsx::connection& c, close_code, std::string_view) {
                          std::lock_guard lock{m};
                          server_side = c.error();
                      }});
        srv.start(1);
        auto io2 = std::make_unique<asio::io_context>();
        {
            wsx::client c(*io2);
            REQUIRE_FALSE(connect_sync(*io2, c, "ws://127.0.0.1:" + std::to_string(srv.port()) + "/"));
            client_side = c.get_connection();
            srv.stop();
            srv.join();  // after stop_timeout: the server gave up on the silent peer
        }
        io2.reset();
    }
    REQUIRE(server_side.has_value());
    CHECK(*server_side == aborted);
    REQUIRE(client_side);
    CHECK_FALSE(client_side->is_open());
    CHECK(client_side->error() == aborted);
}

// ---- a flooded connection does not starve the others on its thread ---------------------

namespace {

// The far end of a scripted_transport stream, driven by the test on the
// client's io_context: what the client wrote, what its next reads return, and
// a flood of filler bytes that is always ready to read (a server faster than
// the client).
struct script {
    explicit script(asio::io_context& io) : io(io) {}
    asio::io_context& io;
    std::function<std::string(const std::string& key)> answer;  // to the upgrade request
    std::string written;
    std::string inbound;
    std::size_t flood = 0;       // filler bytes after `inbound`, returned in full reads
    std::size_t reads = 0;       // reads that returned bytes
    std::function<void()> after_read;
    std::function<void(std::error_code)> waiter;

    void feed(std::string_view bytes) {
        inbound.append(bytes);
        wake();
    }
    void wake() {
        if (waiter && (!inbound.empty() || flood > 0))
            asio::post(io, [h = std::exchange(waiter, nullptr)] { h(std::error_code{}); });
    }
};

// A transport over a real loopback TCP connection (for the client's connect)
// whose bytes come from a script instead of the socket.
struct scripted_transport {
    static constexpr const char* scheme = "ws";
    struct context {
        std::shared_ptr<script> s;
    };

    class stream {
    public:
        static constexpr bool nonblocking_writes = true;

        stream(tcp::socket&& socket, context& c) : socket_(std::move(socket)), s_(c.s) {}

        auto get_executor() noexcept { return socket_.get_executor(); }

        template <class Handler>
        void async_handshake(wsx::role, Handler&& h) {
            asio::post(s_->io, [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }
        template <class Handler>
        void async_wait_readable(Handler&& h) {
            s_->waiter = std::forward<Handler>(h);
            s_->wake();
        }
        std::size_t read_some(asio::mutable_buffer b, std::error_code& ec) {
            ec = {};
            std::size_t n = 0;
            if (!s_->inbound.empty()) {
                n = asio::buffer_copy(b, asio::buffer(s_->inbound));
                s_->inbound.erase(0, n);
            } else if (s_->flood > 0) {
                n = std::min(b.size(), s_->flood);
                std::memset(b.data(), 'x', n);
                s_->flood -= n;
            } else {
                ec = asio::error::would_block;
                return 0;
            }
            ++s_->reads;
            if (s_->after_read) s_->after_read();
            return n;
        }
        template <class Buffers>
        std::size_t try_write_some(const Buffers& buffers, std::error_code& ec) {
            ec = {};
            const std::size_t before = s_->written.size();
            for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
                s_->written.append(static_cast<const char*>(it->data()), it->size());
            if (s_->answer && s_->written.find("\r\n\r\n") != std::string::npos) {
                wsx::http::request_parser p;
                p.feed(s_->written);
                s_->feed(std::exchange(s_->answer, nullptr)(std::string{p.get().headers.get("Sec-WebSocket-Key")}));
            }
            return s_->written.size() - before;
        }
        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& h) {
            std::error_code ec;
            const std::size_t n = try_write_some(buffers, ec);
            asio::post(s_->io, [h = std::forward<Handler>(h), ec, n]() mutable { h(ec, n); });
        }
        template <class Handler>
        void async_shutdown(Handler&& h) {
            asio::post(s_->io, [h = std::forward<Handler>(h)]() mutable { h(std::error_code{}); });
        }
        void close() noexcept {
            std::error_code ec;
            socket_.close(ec);
            if (s_->waiter)
                asio::post(s_->io, [h = std::exchange(s_->waiter, nullptr)] { h(asio::error::operation_aborted); });
        }
        tcp::endpoint remote_endpoint() const {
            std::error_code ec;
            return socket_.remote_endpoint(ec);
        }

    private:
        tcp::socket socket_;
        std::shared_ptr<script> s_;
    };
};
static_assert(wsx::transport::policy<scripted_transport>);

using scripted_client = wsx::basic_client<scripted_transport>;

} // namespace

TEST_CASE("client: a client flooded during its handshake lets the others on its thread run",
          "[client][fairness]") {
    // Two clients on one io_context. `quiet` is open and waits for a message;
    // `flooded` gets a refusal whose 4 MiB body is always ready to read. The
    // message for `quiet` arrives while the flood is being read: it must be
    // delivered before the flood is over, not after.
    asio::io_context io;
    tcp::acceptor listener(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});  // TCP only
    const std::string url = "ws://127.0.0.1:" + std::to_string(listener.local_endpoint().port()) + "/";

    auto quiet_script = std::make_shared<script>(io);
    quiet_script->answer = [](const std::string& key) { return switching(key); };
    scripted_client quiet(io, {}, scripted_transport::context{quiet_script});
    REQUIRE_FALSE(connect_sync(io, quiet, url));

    constexpr std::size_t body = 4u << 20;  // 64 reads of the 64 KiB read buffer
    auto flood_script = std::make_shared<script>(io);
    flood_script->answer = [&](const std::string&) {
        flood_script->flood = body;
        return "HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(body) + "\r\n\r\n";
    };
    flood_script->after_read = [&] {
        if (flood_script->reads == 2) quiet_script->feed(server_frame(opcode::text, "your turn"));
    };
    wsx::client_options o;
    o.http_limits.max_body_size = body;
    scripted_client flooded(io, o, scripted_transport::context{flood_script});

    std::vector<std::string> order;
    std::size_t reads_when_quiet_ran = 0;
    quiet.async_read([&](std::error_code ec, wsx::received_message m) {
        order.push_back(ec ? "quiet: " + ec.message() : "quiet: " + m.payload);
        reads_when_quiet_ran = flood_script->reads;
    });
    std::optional<std::error_code> refused;
    flooded.async_connect(url, [&](std::error_code ec) {
        order.push_back("flooded: done");
        refused = ec;
    });
    REQUIRE(run_until(io, [&] { return order.size() == 2; }, 20s));
    CHECK(*refused == wsx::error::upgrade_rejected);
    CHECK(flooded.handshake_response().body.size() == body);
    CHECK(order == std::vector<std::string>{"quiet: your turn", "flooded: done"});
    INFO("the flood took " << flood_script->reads << " reads; the quiet client ran after " << reads_when_quiet_ran);
    CHECK(reads_when_quiet_ran < flood_script->reads / 2);
    CHECK(quiet.is_open());
}

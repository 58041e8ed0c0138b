// SPDX-License-Identifier: BSL-1.0
// wsx::transport::tls: contexts, the stream's read path and shutdown, and
// wsx::tls_client against wsx::tls_server over loopback (data, ping/pong,
// close codes, certificate checks, mutual TLS, deadlines). Certificates are
// made at test time (support/test_certs.hpp).
//
// Hidden measurements (not run by CTest):
//   transport_tls_test "[.bench]"    echo throughput, TLS as a ratio to plain TCP
//   transport_tls_test "[.memory]"   heap bytes per idle server-side connection
#include "wsx/transport/tls.hpp"

#include "catch.hpp"
#include "client_sync.hpp"
#include "loopback_client.hpp"
#include "test_certs.hpp"

#include <asio/read.hpp>
#include <asio/ssl.hpp>  // the peers of these tests: an independent TLS stack
#include <asio/write.hpp>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <wsx/client.hpp>
#include <wsx/endpoints.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>
#include <wsx/server.hpp>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::opcode;
using wsx::transport::tls;
using wsx::test::test_pki;
using wsx::test::test_clock;
using tcp = asio::ip::tcp;

static_assert(wsx::transport::policy<tls>);
static_assert(tls::stream::nonblocking_writes);
static_assert(std::string_view{tls::scheme} == "wss");
static_assert(std::is_same_v<wsx::tls_client, wsx::basic_client<tls>>);
static_assert(std::is_same_v<wsx::tls_server, wsx::basic_server<tls>>);

using wsx::test::close_sync;
using wsx::test::code_of;
using wsx::test::connect_sync;
using wsx::test::read_sync;
using wsx::test::run_until;
using wsx::test::send_sync;
using wsx::test::wait_until;

// Deadlines of the blocking client calls: an opening or closing handshake
// (connect_sync, close_sync), and one message (send_sync, read_sync).
constexpr auto handshake_deadline = 10s;
constexpr auto message_deadline = 30s;

tls::context server_context(const wsx::test::cert_files& cert) {
    return tls::context::server({.certificate_chain = cert.cert_pem, .private_key = cert.key_pem});
}

tls::context trusting(const std::string& ca_file) { return tls::context::client({.ca_file = ca_file}); }

// What the server saw (written on its thread).
struct server_log {
    std::mutex m;
    std::vector<std::weak_ptr<wsx::connection>> opened;
    std::vector<std::pair<int, std::error_code>> closes;
    std::vector<std::string> pongs;
    std::string sni, alpn;
    int version = 0;

    template <class F>
    auto with(F&& f) {
        std::lock_guard lock{m};
        return f();
    }
    std::size_t open_count() {
        return with([&] { return opened.size(); });
    }
    std::shared_ptr<wsx::connection> connection(std::size_t i) {
        if (!wait_until([&] { return open_count() > i; }, 5s)) return nullptr;
        return with([&] { return opened[i].lock(); });
    }
};

// A wss:// echo server on its own thread.
class tls_test_server {
public:
    explicit tls_test_server(tls::context ctx, std::string host = "127.0.0.1")
        : srv_(wsx::server_options{.host = std::move(host),
                                   .port = 0,
                                   .handshake_timeout = 400ms,
                                   .stop_timeout = 500ms,
                                   .timer_resolution = 20ms,
                                   .websocket = {.close_timeout = 400ms}},
               std::move(ctx)) {
        srv_.websocket("/", wsx::endpoint{
            .on_open = [this](wsx::connection& c) {
                auto* tc = dynamic_cast<wsx::basic_connection<tls>*>(&c);
                SSL* ssl = tc && tc->stream() ? tc->stream()->native_handle() : nullptr;
                log.with([&] {
                    log.opened.push_back(c.shared_from_this());
                    if (!ssl) return;
                    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
                    log.sni = name ? name : "";
                    log.alpn = std::string{tc->stream()->alpn_protocol()};
                    log.version = SSL_version(ssl);
                });
            },
            .on_message = [](wsx::connection& c, wsx::message m) { c.send(m); },
            .on_close = [this](wsx::connection& c, close_code code, std::string_view) {
                log.with([&] { log.closes.emplace_back(code_of(code), c.error()); });
            },
            .on_pong = [this](wsx::connection&, std::string_view p) {
                log.with([&] { log.pongs.emplace_back(p); });
            },
        });
        srv_.start(1);
    }
    ~tls_test_server() {
        srv_.stop();
        srv_.join();
    }
    std::uint16_t port() const { return srv_.port(); }
    std::string url(std::string_view host = "localhost") const {
        return "wss://" + std::string{host} + ":" + std::to_string(port()) + "/";
    }

    server_log log;

private:
    wsx::tls_server srv_;
};

// A TLS peer written by hand over asio::ssl, for what wsx's client would not
// do (never answer, check the close_notify). Every call has a timeout.
class raw_tls_peer {
public:
    explicit raw_tls_peer(std::uint16_t port, std::optional<int> max_version = std::nullopt)
        : ctx_(asio::ssl::context::tls_client), stream_(io_, ctx_) {
        if (max_version) {
            SSL_set_min_proto_version(stream_.native_handle(), 0);
            SSL_set_max_proto_version(stream_.native_handle(), *max_version);
            SSL_set_security_level(stream_.native_handle(), 0);
        }
        SSL_set_verify(stream_.native_handle(), SSL_VERIFY_NONE, nullptr);
        bool done = false;
        stream_.next_layer().async_connect({asio::ip::make_address("127.0.0.1"), port},
                                           [&](std::error_code e) { ec_ = e, done = true; });
        run_until(io_, [&] { return done; });
    }

    std::error_code handshake() {
        std::optional<std::error_code> r;
        stream_.async_handshake(asio::ssl::stream_base::client, [&](std::error_code e) { r = e; });
        if (!run_until(io_, [&] { return r.has_value(); })) return asio::error::timed_out;
        return *r;
    }
    std::error_code write(std::string_view bytes) {
        std::optional<std::error_code> r;
        asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()),
                          [&](std::error_code e, std::size_t) { r = e; });
        if (!run_until(io_, [&] { return r.has_value(); })) return asio::error::timed_out;
        return *r;
    }
    // Reads until the peer ends the stream (or the timeout): returns how it
    // ended and appends the data.
    std::error_code read_to_end(std::string& data, std::chrono::milliseconds timeout = 3s) {
        const auto deadline = test_clock::now() + timeout;
        for (;;) {
            std::array<char, 4096> buf;
            std::optional<std::error_code> r;
            std::size_t n = 0;
            stream_.async_read_some(asio::buffer(buf), [&](std::error_code e, std::size_t k) { r = e, n = k; });
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - test_clock::now());
            if (!run_until(io_, [&] { return r.has_value(); }, left)) {
                std::error_code ignored;
                stream_.next_layer().cancel(ignored);
                run_until(io_, [&] { return r.has_value(); });
                return asio::error::timed_out;
            }
            data.append(buf.data(), n);
            if (*r) return *r;
        }
    }
    // The opening handshake by hand.
    std::error_code upgrade() {
        if (auto e = write("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
            return e;
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
            std::array<char, 1> c;
            std::optional<std::error_code> r;
            asio::async_read(stream_, asio::buffer(c), [&](std::error_code e, std::size_t) { r = e; });
            if (!run_until(io_, [&] { return r.has_value(); })) return asio::error::timed_out;
            if (*r) return *r;
            head.push_back(c[0]);
        }
        return head.starts_with("HTTP/1.1 101") ? std::error_code{} : std::error_code(wsx::error::upgrade_rejected);
    }
    std::error_code connect_error() const { return ec_; }
    SSL* native_handle() { return stream_.native_handle(); }

private:
    asio::io_context io_;
    asio::ssl::context ctx_;
    asio::ssl::stream<tcp::socket> stream_;
    std::error_code ec_;
};

std::string masked_close(close_code code, std::string_view reason = {}) {
    std::string out;
    const wsx::protocol::mask_key key{1, 2, 3, 4};
    wsx::protocol::append_close_frame(out, code, reason, &key);
    return out;
}

} // namespace

TEST_CASE("tls: contexts refuse a bad setup and say what to fix", "[tls][context]") {
    const auto& pki = test_pki::get();
    CHECK_THROWS_WITH(tls::context::server({}), Catch::Contains("needs a certificate"));
    CHECK_THROWS_WITH(tls::context::server({.certificate_chain_file = pki.dir() + "/missing.pem",
                                            .private_key_file = pki.server.key_file}),
                      Catch::Contains("missing.pem"));
    CHECK_THROWS_WITH(tls::context::server({.certificate_chain_file = pki.server.cert_file}),
                      Catch::Contains("private key"));
    CHECK_THROWS_WITH(tls::context::server({.certificate_chain_file = pki.server.cert_file,
                                            .private_key_file = pki.client.key_file}),
                      Catch::Contains("does not match"));
    CHECK_THROWS_WITH(tls::context::client({.ca_file = pki.dir() + "/nope.pem"}), Catch::Contains("nope.pem"));
    CHECK_NOTHROW(tls::context::server({.certificate_chain_file = pki.server.cert_file,
                                        .private_key_file = pki.server.key_file}));
    // TLS 1.2 at least, for both sides; ALPN offered by clients.
    tls::context s = server_context(pki.server);
    tls::context c = trusting(pki.ca.cert_file);
    CHECK(SSL_CTX_get_min_proto_version(s.native().native_handle()) == TLS1_2_VERSION);
    CHECK(SSL_CTX_get_min_proto_version(c.native().native_handle()) == TLS1_2_VERSION);
    CHECK(c.is_client());
    CHECK(c.verifies_peer());
    CHECK_FALSE(s.is_client());
    CHECK(tls::context{}.verifies_peer());  // the default checks the server
}

TEST_CASE("tls: the stream reads without blocking and ends with close_notify", "[tls][stream]") {
    const auto& pki = test_pki::get();
    asio::io_context io;
    tls::context sctx = server_context(pki.server);
    asio::ssl::context cctx(asio::ssl::context::tls_client);
    tcp::acceptor acceptor(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
    asio::ssl::stream<tcp::socket> peer(io, cctx);
    peer.next_layer().connect(acceptor.local_endpoint());
    tls::stream s(acceptor.accept(), sctx);

    std::optional<std::error_code> hs_server, hs_peer;
    s.async_handshake(wsx::role::server, [&](std::error_code ec) { hs_server = ec; });
    peer.async_handshake(asio::ssl::stream_base::client, [&](std::error_code ec) { hs_peer = ec; });
    REQUIRE(run_until(io, [&] { return hs_server && hs_peer; }));
    REQUIRE_FALSE(*hs_server);
    REQUIRE_FALSE(*hs_peer);
    CHECK(s.remote_endpoint().port() == peer.next_layer().local_endpoint().port());

    std::array<std::uint8_t, 64 * 1024> buf;
    std::error_code ec;
    CHECK(s.read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::would_block);

    // 200 KB: many TLS records, handed out in 64 KiB reads.
    std::string sent(200 * 1000, '\0');
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7);
    bool written = false;
    asio::async_write(peer, asio::buffer(sent), [&](std::error_code, std::size_t) { written = true; });
    std::string got;
    while (got.size() < sent.size()) {
        std::optional<std::error_code> readable;
        s.async_wait_readable([&](std::error_code e) { readable = e; });
        REQUIRE(run_until(io, [&] { return readable.has_value(); }));
        REQUIRE_FALSE(*readable);
        for (;;) {
            const std::size_t n = s.read_some(asio::buffer(buf), ec);
            if (ec) break;
            CHECK(n > 0);
            got.append(reinterpret_cast<const char*>(buf.data()), n);
        }
        REQUIRE(ec == asio::error::would_block);
    }
    CHECK(got == sent);
    REQUIRE(run_until(io, [&] { return written; }));

    // Our writes; then our close_notify, which the peer reads as a clean end.
    std::vector<asio::const_buffer> bufs{asio::buffer("ab", 2), asio::buffer("cd", 2)};
    std::optional<std::error_code> wrote;
    s.async_write(bufs, [&](std::error_code e, std::size_t n) {
        wrote = e;
        CHECK(n == 4u);
    });
    REQUIRE(run_until(io, [&] { return wrote.has_value(); }));
    std::optional<std::error_code> shut;
    s.async_shutdown([&](std::error_code e) { shut = e; });
    REQUIRE(run_until(io, [&] { return shut.has_value(); }));
    CHECK_FALSE(*shut);
    std::string tail;
    std::optional<std::error_code> end;
    std::function<void()> pump = [&] {
        peer.async_read_some(asio::buffer(buf), [&](std::error_code e, std::size_t n) {
            tail.append(reinterpret_cast<const char*>(buf.data()), n);
            if (e) end = e;
            else pump();
        });
    };
    pump();
    REQUIRE(run_until(io, [&] { return end.has_value(); }));
    CHECK(tail == "abcd");
    CHECK(*end == asio::error::eof);  // close_notify came: not stream_truncated

    // Our side still reads after its shutdown; the peer's close_notify is eof.
    std::optional<std::error_code> peer_shut;
    peer.async_shutdown([&](std::error_code e) { peer_shut = e; });
    std::optional<std::error_code> readable;
    s.async_wait_readable([&](std::error_code e) { readable = e; });
    REQUIRE(run_until(io, [&] { return readable.has_value() && peer_shut.has_value(); }));
    CHECK(s.read_some(asio::buffer(buf), ec) == 0);
    CHECK(ec == asio::error::eof);
    s.close();
}

namespace {
// A handshaken pair over loopback: our stream `s` (server) and an
// asio::ssl::stream peer (client). No session tickets, so that after the
// handshake the only bytes on the wire are the ones a test writes.
struct stream_pair {
    asio::io_context io;
    tls::context sctx = server_context(test_pki::get().server);
    asio::ssl::context cctx{asio::ssl::context::tls_client};
    tcp::acceptor acceptor{io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}};
    asio::ssl::stream<tcp::socket> peer{io, cctx};
    std::optional<tls::stream> s;

    stream_pair() {
        SSL_CTX_set_num_tickets(sctx.native().native_handle(), 0);
        peer.next_layer().connect(acceptor.local_endpoint());
        s.emplace(acceptor.accept(), sctx);
        std::optional<std::error_code> hs_server, hs_peer;
        s->async_handshake(wsx::role::server, [&](std::error_code ec) { hs_server = ec; });
        peer.async_handshake(asio::ssl::stream_base::client, [&](std::error_code ec) { hs_peer = ec; });
        REQUIRE(run_until(io, [&] { return hs_server && hs_peer; }));
        REQUIRE_FALSE(*hs_server);
        REQUIRE_FALSE(*hs_peer);
    }

    // Reads `size` decrypted bytes on the peer.
    std::string peer_read(std::size_t size) {
        std::string got(size, '\0');
        std::optional<std::error_code> r;
        asio::async_read(peer, asio::buffer(got), [&](std::error_code e, std::size_t) { r = e; });
        REQUIRE(run_until(io, [&] { return r.has_value(); }));
        REQUIRE_FALSE(*r);
        return got;
    }
};
} // namespace

TEST_CASE("tls: small buffers leave in one full record, not one record each", "[tls][stream]") {
    stream_pair p;
    std::vector<std::string> pieces;
    std::vector<asio::const_buffer> bufs;
    for (int i = 0; i < 100; ++i) pieces.push_back(std::string(10, static_cast<char>('a' + i % 26)));
    for (const auto& x : pieces) bufs.push_back(asio::buffer(x));
    std::error_code ec;
    CHECK(p.s->try_write_some(bufs, ec) == 1000u);
    CHECK_FALSE(ec);
    // The raw bytes on the wire: RFC 8446 §5.1 record headers.
    std::array<std::uint8_t, 4096> raw{};
    std::size_t got = 0;
    while (got < 5 || got < 5 + static_cast<std::size_t>((raw[3] << 8) | raw[4])) {
        std::error_code rec;
        got += p.peer.next_layer().read_some(asio::buffer(raw.data() + got, raw.size() - got), rec);
        REQUIRE_FALSE(rec);
    }
    const std::size_t first = 5 + ((raw[3] << 8) | raw[4]);
    CHECK(first == got);   // one record...
    CHECK(first < 1100u);  // ...holding all 1,000 bytes (plus header, type and tag)
}

TEST_CASE("tls: what the kernel does not take is sent by the stream itself", "[tls][stream]") {
    stream_pair p;
    // Far more than loopback buffers while the peer does not read.
    std::string big(16 * 1024 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13);
    std::error_code ec;
    const std::size_t n = p.s->try_write_some(asio::buffer(big), ec);
    CHECK_FALSE(ec);
    REQUIRE(n > 0);
    REQUIRE(n < big.size());
    // A tail of ciphertext is waiting: nothing more is taken meanwhile.
    CHECK(p.s->try_write_some(asio::buffer(big.data() + n, big.size() - n), ec) == 0);
    CHECK(ec == asio::error::would_block);
    // The peer gets all n bytes with no further call on our side...
    CHECK(p.peer_read(n) == big.substr(0, n));
    // ...and async_write completes once the rest is out.
    std::optional<std::error_code> wrote;
    std::size_t written = 0;
    p.s->async_write(asio::buffer(big.data() + n, big.size() - n), [&](std::error_code e, std::size_t k) {
        wrote = e;
        written = k;
    });
    CHECK_FALSE(wrote.has_value());  // never completes inside the initiating call
    CHECK(p.peer_read(big.size() - n) == big.substr(n));
    REQUIRE(run_until(p.io, [&] { return wrote.has_value(); }));
    CHECK_FALSE(*wrote);
    CHECK(written == big.size() - n);
    CHECK(p.s->try_write_some(asio::buffer("x", 1), ec) == 1u);  // the tail is gone
}

TEST_CASE("tls: close aborts a write in flight; the stream may go right after", "[tls][stream]") {
    stream_pair p;
    std::string big(16 * 1024 * 1024, 'w');
    std::optional<std::error_code> wrote, readable;
    p.s->async_write(asio::buffer(big), [&](std::error_code e, std::size_t) { wrote = e; });
    p.s->async_wait_readable([&](std::error_code e) { readable = e; });
    p.s->close();
    p.s.reset();
    REQUIRE(run_until(p.io, [&] { return wrote.has_value() && readable.has_value(); }));
    CHECK(*wrote == asio::error::operation_aborted);
    CHECK(*readable == asio::error::operation_aborted);
}

TEST_CASE("tls: a peer that closes TCP without close_notify reads as eof", "[tls][stream]") {
    stream_pair p;
    std::error_code ec;
    asio::write(p.peer, asio::buffer("hi", 2), ec);
    REQUIRE_FALSE(ec);
    p.peer.next_layer().shutdown(tcp::socket::shutdown_send, ec);  // FIN, no close_notify
    std::string got;
    std::array<std::uint8_t, 64> buf{};
    for (;;) {
        std::optional<std::error_code> readable;
        p.s->async_wait_readable([&](std::error_code e) { readable = e; });
        REQUIRE(run_until(p.io, [&] { return readable.has_value(); }));
        const std::size_t n = p.s->read_some(asio::buffer(buf), ec);
        got.append(reinterpret_cast<const char*>(buf.data()), n);
        if (ec && ec != asio::error::would_block) break;
    }
    CHECK(got == "hi");
    CHECK(ec == asio::error::eof);
}

TEST_CASE("tls: ALPN chooses h2 only on a context that offers it (offer_http2)", "[tls][alpn]") {
    const auto& pki = test_pki::get();
    // What a client offering h2 then http/1.1 gets from a server context.
    auto chosen = [&](tls::context& sctx) {
        asio::io_context io;
        asio::ssl::context cctx(asio::ssl::context::tls_client);
        static constexpr unsigned char offer[] = "\x02h2\x08http/1.1";
        SSL_CTX_set_alpn_protos(cctx.native_handle(), offer, sizeof offer - 1);
        tcp::acceptor acceptor(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
        asio::ssl::stream<tcp::socket> peer(io, cctx);
        peer.next_layer().connect(acceptor.local_endpoint());
        tls::stream s(acceptor.accept(), sctx);
        std::optional<std::error_code> hs_server, hs_peer;
        s.async_handshake(wsx::role::server, [&](std::error_code ec) { hs_server = ec; });
        peer.async_handshake(asio::ssl::stream_base::client, [&](std::error_code ec) { hs_peer = ec; });
        REQUIRE(run_until(io, [&] { return hs_server && hs_peer; }));
        REQUIRE_FALSE(*hs_server);
        return std::string{s.alpn_protocol()};
    };
    tls::context plain = server_context(pki.server);
    CHECK(chosen(plain) == "http/1.1");
    tls::context h2 = server_context(pki.server);
    h2.offer_http2();
    CHECK(chosen(h2) == "h2");
}

TEST_CASE("tls: client and server over loopback", "[tls][client]") {
    const auto& pki = test_pki::get();
    tls_test_server s(server_context(pki.server));
    asio::io_context io;
    std::vector<std::string> pongs;
    wsx::tls_client c(io, wsx::endpoint{.on_pong = [&](wsx::connection&, std::string_view p) { pongs.emplace_back(p); }},
                      {}, trusting(pki.ca.cert_file));
    REQUIRE_FALSE(connect_sync(io, c, s.url(), handshake_deadline));
    auto* conn = dynamic_cast<wsx::basic_connection<tls>*>(c.get_connection().get());
    REQUIRE(conn);
    CHECK(conn->stream()->alpn_protocol() == "http/1.1");
    CHECK(SSL_version(conn->stream()->native_handle()) >= TLS1_2_VERSION);
    REQUIRE(s.log.connection(0));
    s.log.with([&] {
        CHECK(s.log.sni == "localhost");
        CHECK(s.log.alpn == "http/1.1");
    });

    auto round_trip = [&](opcode type, const std::string& payload) {
        CHECK_FALSE(send_sync(io, c, type, payload, message_deadline));
        auto [ec, m] = read_sync(io, c, message_deadline);
        CHECK_FALSE(ec);
        CHECK(m.type == type);
        CHECK(m.payload.size() == payload.size());
        CHECK(m.payload == payload);
    };
    round_trip(opcode::text, "hello over TLS ✓");
    round_trip(opcode::binary, std::string("\x00\xFF\x10", 3));
    round_trip(opcode::text, "");
    std::string big(8u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 13) ^ (i >> 11));
    round_trip(opcode::binary, big);
    // Many small messages in flight (gathered into few records).
    std::vector<std::string> got;
    for (int i = 0; i < 200; ++i) c.send("m" + std::to_string(i));
    for (int i = 0; i < 200; ++i)
        c.async_read([&](std::error_code ec, wsx::received_message m) {
            if (!ec) got.push_back(std::move(m.payload));
        });
    REQUIRE(run_until(io, [&] { return got.size() == 200; }));
    CHECK(got.front() == "m0");
    CHECK(got.back() == "m199");

    // Ping and pong both ways.
    CHECK(c.ping("tls ping"));
    REQUIRE(run_until(io, [&] { return !pongs.empty(); }));
    CHECK(pongs[0] == "tls ping");
    s.log.connection(0)->ping("server ping");
    REQUIRE(run_until(io, [&] { return s.log.with([&] { return !s.log.pongs.empty(); }); }));

    SECTION("the client closes") {
        CHECK_FALSE(close_sync(io, c, close_code(4001), "bye", handshake_deadline));
        CHECK(code_of(c.closed_with().code) == 4001);
        REQUIRE(wait_until([&] { return s.log.with([&] { return !s.log.closes.empty(); }); }, 5s));
        s.log.with([&] {
            CHECK(s.log.closes[0].first == 4001);
            CHECK(s.log.closes[0].second == wsx::error::closed);
        });
    }
    SECTION("the server closes") {
        s.log.connection(0)->close(close_code(4002), "server bye");
        auto [ec, m] = read_sync(io, c, message_deadline);
        CHECK(ec == wsx::error::closed);
        CHECK(code_of(c.closed_with().code) == 4002);
        CHECK(c.closed_with().reason == "server bye");
        REQUIRE(wait_until([&] { return s.log.with([&] { return !s.log.closes.empty(); }); }, 5s));
        s.log.with([&] { CHECK(s.log.closes[0].second == wsx::error::closed); });
    }
}

TEST_CASE("tls: IP addresses are checked against the certificate too", "[tls][client]") {
    const auto& pki = test_pki::get();
    asio::io_context io;
    SECTION("127.0.0.1 is in the certificate") {
        tls_test_server s(server_context(pki.server));
        wsx::tls_client c(io, {}, trusting(pki.ca.cert_file));
        REQUIRE_FALSE(connect_sync(io, c, s.url("127.0.0.1"), handshake_deadline));
        CHECK(s.log.with([&] { return s.log.sni; }).empty());  // no SNI for an address (RFC 6066 §3)
        CHECK_FALSE(close_sync(io, c, close_code::normal, {}, handshake_deadline));
    }
    SECTION("::1 is in the certificate") {
        tls_test_server s(server_context(pki.server), "::1");
        wsx::tls_client c(io, {}, trusting(pki.ca.cert_file));
        REQUIRE_FALSE(connect_sync(io, c, s.url("[::1]"), handshake_deadline));
        CHECK_FALSE(close_sync(io, c, close_code::normal, {}, handshake_deadline));
    }
    SECTION("127.0.0.1 is not in the certificate") {
        tls_test_server s(server_context(pki.wrong_host));
        wsx::tls_client c(io, {}, trusting(pki.ca.cert_file));
        const std::error_code ec = connect_sync(io, c, s.url("127.0.0.1"), handshake_deadline);
        CHECK(wsx::is_certificate_error(ec));
        CHECK(ec.value() == X509_V_ERR_IP_ADDRESS_MISMATCH);
    }
}

TEST_CASE("tls: refused certificates give a clear error and no connection", "[tls][client][verify]") {
    const auto& pki = test_pki::get();
    asio::io_context io;
    struct refusal {
        const char* name;
        const wsx::test::cert_files* server;
        std::string trusted_ca;  // empty: the system's store
        int expected;
    };
    const std::vector<refusal> cases = {
        {"wrong host name", &pki.wrong_host, pki.ca.cert_file, X509_V_ERR_HOSTNAME_MISMATCH},
        {"expired", &pki.expired, pki.ca.cert_file, X509_V_ERR_CERT_HAS_EXPIRED},
        {"unknown CA", &pki.stranger, pki.ca.cert_file, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
        {"trusting another CA", &pki.server, pki.other_ca.cert_file, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
        {"not in the system store", &pki.server, "", X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY},
    };
    for (const auto& r : cases) {
        INFO(r.name);
        tls_test_server s(server_context(*r.server));
        wsx::tls_client c(io, {}, r.trusted_ca.empty() ? tls::context{} : trusting(r.trusted_ca));
        const std::error_code ec = connect_sync(io, c, s.url(), handshake_deadline);
        INFO(ec.message());
        CHECK(wsx::is_certificate_error(ec));
        CHECK(ec.value() == r.expected);
        CHECK_FALSE(ec.message().empty());
        CHECK(c.get_connection() == nullptr);
        CHECK_FALSE(c.is_open());
        std::this_thread::sleep_for(50ms);
        CHECK(s.log.open_count() == 0u);
    }
    // The message says it in words.
    CHECK(std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, wsx::tls_certificate_category()).message() ==
          "certificate verification failed: hostname mismatch");

    // Without verification (tests only) the same server is accepted.
    tls_test_server s(server_context(pki.wrong_host));
    wsx::tls_client c(io, {}, tls::context::client({.verify_peer = false}));
    REQUIRE_FALSE(connect_sync(io, c, s.url(), handshake_deadline));
    CHECK_FALSE(close_sync(io, c, close_code::normal, {}, handshake_deadline));
}

TEST_CASE("tls: mutual TLS", "[tls][client][verify]") {
    const auto& pki = test_pki::get();
    asio::io_context io;
    tls_test_server s(tls::context::server({.certificate_chain_file = pki.server.cert_file,
                                            .private_key_file = pki.server.key_file,
                                            .client_ca_file = pki.ca.cert_file}));
    {
        wsx::tls_client anonymous(io, {}, trusting(pki.ca.cert_file));
        const std::error_code ec = connect_sync(io, anonymous, s.url(), handshake_deadline);
        INFO(ec.message());
        CHECK(ec);
        CHECK(s.log.open_count() == 0u);
    }
    wsx::tls_client c(io, {},
                      tls::context::client({.ca_file = pki.ca.cert_file,
                                            .certificate_chain = pki.client.cert_pem,
                                            .private_key = pki.client.key_pem}));
    REQUIRE_FALSE(connect_sync(io, c, s.url(), handshake_deadline));
    CHECK(s.log.open_count() == 1u);
    CHECK_FALSE(close_sync(io, c, close_code::normal, {}, handshake_deadline));
}

TEST_CASE("tls: TLS 1.2 works, older versions are refused", "[tls]") {
    const auto& pki = test_pki::get();
    tls_test_server s(server_context(pki.server));
    {
        raw_tls_peer old(s.port(), TLS1_1_VERSION);
        REQUIRE_FALSE(old.connect_error());
        CHECK(old.handshake());
    }
    raw_tls_peer v12(s.port(), TLS1_2_VERSION);
    REQUIRE_FALSE(v12.handshake());
    CHECK(SSL_version(v12.native_handle()) == TLS1_2_VERSION);
    CHECK_FALSE(v12.upgrade());
}

TEST_CASE("tls: deadlines cover the TLS handshake and the closing handshake", "[tls][timeout]") {
    const auto& pki = test_pki::get();
    tls_test_server s(server_context(pki.server));
    asio::io_context io;

    SECTION("a client that never starts TLS is dropped by the server") {
        tcp::socket sock(io);
        sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
        std::array<char, 16> b;
        std::optional<std::error_code> r;
        const auto t0 = test_clock::now();
        sock.async_read_some(asio::buffer(b), [&](std::error_code e, std::size_t) { r = e; });
        REQUIRE(run_until(io, [&] { return r.has_value(); }, 3s));
        CHECK(test_clock::now() - t0 < 2s);
    }
    SECTION("a server that never answers the ClientHello") {
        tcp::acceptor silent(io, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0});
        tcp::socket accepted(io);
        silent.async_accept(accepted, [](std::error_code) {});
        wsx::tls_client c(io, wsx::client_options{.handshake_timeout = 300ms}, trusting(pki.ca.cert_file));
        const auto t0 = test_clock::now();
        const std::string url = "wss://localhost:" + std::to_string(silent.local_endpoint().port()) + "/";
        CHECK(connect_sync(io, c, url, handshake_deadline) == wsx::error::handshake_timeout);
        CHECK(test_clock::now() - t0 < 2s);
    }
    SECTION("the server's close_notify, then TCP close, after the closing handshake") {
        raw_tls_peer peer(s.port());
        REQUIRE_FALSE(peer.handshake());
        REQUIRE_FALSE(peer.upgrade());
        REQUIRE(s.log.connection(0));
        REQUIRE_FALSE(peer.write(masked_close(close_code::normal, "bye")));
        std::string data;
        CHECK(peer.read_to_end(data) == asio::error::eof);  // not stream_truncated
        CHECK(data.size() >= 4);                            // the close frame came first
        CHECK(static_cast<std::uint8_t>(data[0]) == 0x88);
    }
    SECTION("a peer that never answers our close cannot hang the server") {
        raw_tls_peer peer(s.port());
        REQUIRE_FALSE(peer.handshake());
        REQUIRE_FALSE(peer.upgrade());
        auto conn = s.log.connection(0);
        REQUIRE(conn);
        const auto t0 = test_clock::now();
        conn->close(close_code::going_away, "bye");
        REQUIRE(wait_until([&] { return s.log.with([&] { return !s.log.closes.empty(); }); }, 3s));
        CHECK(test_clock::now() - t0 < 2s);
        s.log.with([&] { CHECK(s.log.closes[0].second == wsx::error::close_timeout); });
    }
}

// ---- measurements (hidden: run them by tag) --------------------------------------

namespace {

// Round trips of `size`-byte binary messages, `count` times; seconds taken.
template <class Client>
double echo_seconds(asio::io_context& io, Client& c, std::size_t size, int count) {
    const std::string payload(size, 'x');
    int left = count;
    std::function<void()> next = [&] {
        c.async_send(opcode::binary, payload, [](std::error_code) {});
        c.async_read([&](std::error_code ec, wsx::received_message) {
            if (!ec && --left > 0) next();
        });
    };
    const auto t0 = test_clock::now();
    next();
    REQUIRE(run_until(io, [&] { return left == 0; }, 300s));
    return std::chrono::duration<double>(test_clock::now() - t0).count();
}

} // namespace

TEST_CASE("tls: echo throughput as a ratio to plain TCP", "[.bench]") {
    const auto& pki = test_pki::get();
    wsx::server plain_srv(wsx::server_options{.host = "127.0.0.1", .port = 0});
    plain_srv.websocket("/", wsx::endpoints::echo());
    plain_srv.start(1);
    wsx::tls_server tls_srv(wsx::server_options{.host = "127.0.0.1", .port = 0}, server_context(pki.server));
    tls_srv.websocket("/", wsx::endpoints::echo());
    tls_srv.start(1);

    asio::io_context io;
    wsx::client pc(io);
    wsx::tls_client tc(io, {}, trusting(pki.ca.cert_file));
    REQUIRE_FALSE(connect_sync(io, pc, "ws://127.0.0.1:" + std::to_string(plain_srv.port()) + "/",
                               handshake_deadline));
    REQUIRE_FALSE(connect_sync(io, tc, "wss://localhost:" + std::to_string(tls_srv.port()) + "/",
                               handshake_deadline));
    struct load {
        std::size_t size;
        int count;
    };
    std::printf("%10s %8s %12s %12s %12s %12s %7s\n", "size", "trips", "plain s", "plain MB/s", "tls s",
                "tls MB/s", "tls/plain");
    for (const load l : {load{64, 20000}, load{4096, 10000}, load{16 * 1024, 4000}, load{64 * 1024, 2000},
                         load{1 << 20, 200}}) {
        echo_seconds(io, pc, l.size, l.count / 10);  // warm up
        echo_seconds(io, tc, l.size, l.count / 10);
        const double p = echo_seconds(io, pc, l.size, l.count);
        const double t = echo_seconds(io, tc, l.size, l.count);
        const double mb = 2.0 * static_cast<double>(l.size) * l.count / 1e6;  // both directions
        std::printf("%10zu %8d %12.3f %12.1f %12.3f %12.1f %7.2f\n", l.size, l.count, p, mb / p, t, mb / t,
                    p / t);
    }
    CHECK_FALSE(close_sync(io, pc, close_code::normal, {}, handshake_deadline));
    CHECK_FALSE(close_sync(io, tc, close_code::normal, {}, handshake_deadline));
}

namespace {

// Heap bytes each idle server-side connection holds: the clients run in a
// child process, the server on this thread (one malloc arena to read).
template <class Server>
double server_bytes_per_connection(Server& srv, asio::io_context& io, const std::string& url, int n,
                                   const std::string& ca_file) {
    int up[2], down[2];
    REQUIRE(::pipe(up) == 0);
    REQUIRE(::pipe(down) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        asio::io_context cio;
        std::vector<std::unique_ptr<wsx::client>> plain;
        std::vector<std::unique_ptr<wsx::tls_client>> secure;
        int opened = 0;
        for (int i = 0; i < n; ++i) {
            auto done = [&](std::error_code ec) { opened += !ec; };
            if (url.starts_with("wss")) {
                secure.push_back(std::make_unique<wsx::tls_client>(cio, wsx::client_options{}, trusting(ca_file)));
                secure.back()->async_connect(url, done);
            } else {
                plain.push_back(std::make_unique<wsx::client>(cio));
                plain.back()->async_connect(url, done);
            }
        }
        while (opened < n) cio.run_one_for(1s);
        char b = 1;
        (void)!::write(up[1], &b, 1);
        (void)!::read(down[0], &b, 1);
        ::_exit(0);
    }
    ::close(up[1]);
    ::close(down[0]);
    const std::size_t before = ::mallinfo2().uordblks;
    std::atomic<bool> ready{false};
    std::thread waiter([&] {
        char b;
        (void)!::read(up[0], &b, 1);
        ready = true;
    });
    while (!ready || srv.session_count() < static_cast<std::size_t>(n)) io.run_one_for(10ms);
    for (int i = 0; i < 50; ++i) io.poll();
    const std::size_t after = ::mallinfo2().uordblks;
    char b = 1;
    (void)!::write(down[1], &b, 1);
    waiter.join();
    int status = 0;
    ::waitpid(child, &status, 0);
    while (srv.session_count() > 0) io.run_one_for(10ms);
    ::close(up[0]);
    ::close(down[1]);
    return (static_cast<double>(after) - static_cast<double>(before)) / n;
}

} // namespace

TEST_CASE("tls: heap bytes per idle server-side connection", "[.memory]") {
    const auto& pki = test_pki::get();
    constexpr int n = 200;
    double plain = 0, secure = 0;
    {
        asio::io_context io;
        wsx::server srv(io, wsx::server_options{.host = "127.0.0.1", .port = 0});
        srv.websocket("/", wsx::endpoints::echo());
        srv.start();
        plain = server_bytes_per_connection(srv, io, "ws://127.0.0.1:" + std::to_string(srv.port()) + "/", n,
                                            pki.ca.cert_file);
        srv.stop();
        io.run_for(1s);
    }
    {
        asio::io_context io;
        wsx::tls_server srv(io, wsx::server_options{.host = "127.0.0.1", .port = 0}, server_context(pki.server));
        srv.websocket("/", wsx::endpoints::echo());
        srv.start();
        secure = server_bytes_per_connection(srv, io, "wss://localhost:" + std::to_string(srv.port()) + "/", n,
                                             pki.ca.cert_file);
        srv.stop();
        io.run_for(1s);
    }
    std::printf("heap per idle server connection (%d connections): plain %.0f B, TLS %.0f B\n", n, plain, secure);
    CHECK(secure > plain);
}

TEST_CASE("tls: a failed TLS handshake is reported to the server's log hook", "[tls][log]") {
    const auto& pki = test_pki::get();
    std::mutex m;
    std::vector<std::tuple<wsx::log_level, std::string, std::string>> lines;
    wsx::tls_server srv(wsx::server_options{.host = "127.0.0.1",
                                            .port = 0,
                                            .handshake_timeout = 1s,
                                            .stop_timeout = 500ms,
                                            .timer_resolution = 20ms,
                                            .log = [&](wsx::log_level l, std::string_view cat,
                                                       std::string_view msg) {
                                                std::lock_guard lock{m};
                                                lines.emplace_back(l, std::string{cat}, std::string{msg});
                                            }},
                        server_context(pki.server));
    srv.websocket("/", wsx::endpoints::echo());
    srv.start();
    // A plain-text client on the TLS port: its request is no ClientHello.
    asio::io_context io;
    tcp::socket sock(io);
    sock.connect({asio::ip::make_address("127.0.0.1"), srv.port()});
    const std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    asio::write(sock, asio::buffer(request));
    const auto logged = [&] {
        std::lock_guard lock{m};
        return !lines.empty();
    };
    REQUIRE(wait_until(logged, 3s));
    std::lock_guard lock{m};
    const auto& [level, category, message] = lines.front();
    CHECK(level == wsx::log_level::warning);
    CHECK(category == "tls");
    INFO(message);
    CHECK(message.find("handshake with 127.0.0.1:") == 0);
    CHECK(message.find("failed: ") != std::string::npos);
}

// SPDX-License-Identifier: BSL-1.0
// The TLS record pump without sockets: two engines talking to each other
// through strings, as the stream drives one against a socket.
#include "wsx/transport/tls_engine.hpp"

#include "catch.hpp"
#include "test_certs.hpp"

#include <openssl/pem.h>

#include <cstdint>
#include <memory>
#include <string>

namespace {

using wsx::transport::detail::tls_engine;
using wsx::test::test_pki;
using status = tls_engine::status;

struct ctx_deleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

ctx_ptr server_ctx() {
    const auto& pki = test_pki::get();
    ctx_ptr c(SSL_CTX_new(TLS_server_method()));
    REQUIRE(SSL_CTX_use_certificate_file(c.get(), pki.server.cert_file.c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(c.get(), pki.server.key_file.c_str(), SSL_FILETYPE_PEM) == 1);
    return c;
}

ctx_ptr client_ctx() {
    const auto& pki = test_pki::get();
    ctx_ptr c(SSL_CTX_new(TLS_client_method()));
    REQUIRE(SSL_CTX_load_verify_locations(c.get(), pki.ca.cert_file.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
    return c;
}

// Hands `wire` (what the other side sent) to `e` for one operation, then
// lets the engine keep what it did not take and empties the wire, as the
// stream does with its per-thread receive buffer.
template <class F>
auto with_input(tls_engine& e, std::string& wire, F&& op) {
    e.set_input(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size());
    auto r = op();
    e.keep_input();
    wire.assign(wire.size(), 'X');  // the lender reuses its buffer: nothing may still point into it
    wire.clear();
    return r;
}

struct pair {
    ctx_ptr sctx = server_ctx(), cctx = client_ctx();
    tls_engine client{cctx.get()}, server{sctx.get()};
    std::string c2s, s2c;  // bytes in flight

    void handshake() {
        client.set_role(true);
        server.set_role(false);
        status cs = status::want_input, ss = status::want_input;
        for (int i = 0; i < 10 && (cs != status::ok || ss != status::ok); ++i) {
            cs = with_input(client, s2c, [&] { return client.handshake(c2s); });
            ss = with_input(server, c2s, [&] { return server.handshake(s2c); });
        }
        REQUIRE(cs == status::ok);
        REQUIRE(ss == status::ok);
        REQUIRE(client.handshake_done());
        REQUIRE(server.handshake_done());
        // TLS 1.3: the server's session tickets reach the client with its
        // first read; nothing is decrypted from them.
        std::uint8_t b[16];
        std::size_t n = 0;
        CHECK(with_input(client, s2c, [&] { return client.read(b, sizeof b, n, c2s); }) == status::want_input);
        CHECK(n == 0);
    }
};

} // namespace

TEST_CASE("tls_engine: handshake, then data both ways through memory", "[tls_engine]") {
    pair p;
    p.handshake();
    CHECK(SSL_version(p.client.native_handle()) == TLS1_3_VERSION);

    // 100,000 bytes written as many small pieces; read back in 4 KiB steps.
    std::string sent;
    for (int i = 0; i < 1000; ++i) {
        std::string piece(100, static_cast<char>('a' + i % 26));
        sent += piece;
        REQUIRE(p.client.write(reinterpret_cast<const std::uint8_t*>(piece.data()), piece.size(), p.c2s) ==
                status::ok);
    }
    CHECK(p.c2s.size() > sent.size());  // ciphertext: each record has a header and a tag

    std::string got;
    std::uint8_t buf[4096];
    p.server.set_input(reinterpret_cast<const std::uint8_t*>(p.c2s.data()), p.c2s.size());
    for (;;) {
        std::size_t n = 0;
        const status s = p.server.read(buf, sizeof buf, n, p.s2c);
        got.append(reinterpret_cast<const char*>(buf), n);
        if (s == status::want_input) break;
        REQUIRE(s == status::ok);
        REQUIRE(n == sizeof buf);  // ok means the buffer is full
    }
    p.server.keep_input();
    p.c2s.clear();
    CHECK(got == sent);
    CHECK(p.server.unread_input() == 0);
    CHECK(p.server.buffered_plaintext() == 0);
    CHECK(p.s2c.empty());  // reading sends nothing
}

TEST_CASE("tls_engine: input left over when the reader's buffer is full is kept, then read", "[tls_engine]") {
    pair p;
    p.handshake();
    const std::string sent(50000, 'z');
    REQUIRE(p.client.write(reinterpret_cast<const std::uint8_t*>(sent.data()), sent.size(), p.c2s) == status::ok);
    // Records of up to 16 KiB: a 20,000-byte buffer leaves whole records unread.
    std::string got(20000, '\0');
    std::size_t n = 0;
    CHECK(with_input(p.server, p.c2s, [&] {
              return p.server.read(reinterpret_cast<std::uint8_t*>(got.data()), got.size(), n, p.s2c);
          }) == status::ok);
    CHECK(n == got.size());
    CHECK(p.server.unread_input() > 0);  // copied out of the lender's (now overwritten) buffer
    std::string rest(sent.size(), '\0');
    std::size_t m = 0;
    CHECK(p.server.read(reinterpret_cast<std::uint8_t*>(rest.data()), rest.size(), m, p.s2c) ==
          status::want_input);
    CHECK(n + m == sent.size());
    got.resize(n);
    rest.resize(m);
    CHECK(got + rest == sent);
    CHECK(p.server.unread_input() == 0);
}

TEST_CASE("tls_engine: a large write is cut into records of at most 16 KiB", "[tls_engine]") {
    pair p;
    p.handshake();
    const std::string sent(64 * 1024, 'q');
    REQUIRE(p.client.write(reinterpret_cast<const std::uint8_t*>(sent.data()), sent.size(), p.c2s) == status::ok);
    // Walk the record headers (RFC 8446 §5.1: type, version, 2-byte length).
    std::size_t records = 0;
    for (std::size_t at = 0; at + 5 <= p.c2s.size(); ++records) {
        const std::size_t len = (static_cast<unsigned char>(p.c2s[at + 3]) << 8) |
                                static_cast<unsigned char>(p.c2s[at + 4]);
        CHECK(len <= 16384 + 256);
        at += 5 + len;
    }
    CHECK(records == 4);
}

TEST_CASE("tls_engine: close_notify ends the peer's reads; shutdown is sent once", "[tls_engine]") {
    pair p;
    p.handshake();
    CHECK_FALSE(p.client.shutdown_sent());
    REQUIRE(p.client.shutdown(p.c2s) == status::ok);
    CHECK(p.client.shutdown_sent());
    const std::size_t alert = p.c2s.size();
    CHECK(alert > 0);
    REQUIRE(p.client.shutdown(p.c2s) == status::ok);
    CHECK(p.c2s.size() == alert);  // not twice
    std::uint8_t b[64];
    std::size_t n = 0;
    CHECK(with_input(p.server, p.c2s, [&] { return p.server.read(b, sizeof b, n, p.s2c); }) == status::closed);
    CHECK(n == 0);
}

TEST_CASE("tls_engine: tampered ciphertext is a fatal error", "[tls_engine]") {
    pair p;
    p.handshake();
    const std::string msg = "hello";
    REQUIRE(p.client.write(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(), p.c2s) == status::ok);
    p.c2s[p.c2s.size() - 3] ^= 0x01;  // inside the authentication tag
    std::uint8_t b[64];
    std::size_t n = 0;
    CHECK(with_input(p.server, p.c2s, [&] { return p.server.read(b, sizeof b, n, p.s2c); }) == status::error);
    CHECK(n == 0);
    CHECK(p.server.error().category() == asio::error::get_ssl_category());
    CHECK_FALSE(p.s2c.empty());  // the alert that tells the peer why
    CHECK(p.server.shutdown(p.s2c) == status::error);  // no close_notify after a fatal error
}

TEST_CASE("tls_engine: a refused certificate fails the client's handshake", "[tls_engine]") {
    const auto& pki = test_pki::get();
    ctx_ptr sctx(SSL_CTX_new(TLS_server_method()));
    REQUIRE(SSL_CTX_use_certificate_file(sctx.get(), pki.stranger.cert_file.c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(sctx.get(), pki.stranger.key_file.c_str(), SSL_FILETYPE_PEM) == 1);
    ctx_ptr cctx = client_ctx();
    tls_engine client(cctx.get()), server(sctx.get());
    client.set_role(true);
    server.set_role(false);
    std::string c2s, s2c;
    status cs = status::want_input, ss = status::want_input;
    for (int i = 0; i < 10 && cs == status::want_input; ++i) {
        cs = with_input(client, s2c, [&] { return client.handshake(c2s); });
        ss = with_input(server, c2s, [&] { return server.handshake(s2c); });
    }
    CHECK(cs == status::error);
    CHECK(SSL_get_verify_result(client.native_handle()) == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(ss == status::error);  // the client's alert told the server
}

#include <malloc.h>

#include <cstdio>
#include <vector>

// What OpenSSL keeps per idle server-side connection once the handshake is
// over (record buffers released): the floor under the stream's memory.
TEST_CASE("tls_engine: heap bytes an idle server engine holds", "[.memory]") {
    constexpr int n = 200;
    auto measure = [&](bool tickets) {
        ctx_ptr sctx = server_ctx(), cctx = client_ctx();
        if (!tickets) SSL_CTX_set_num_tickets(sctx.get(), 0);
        std::vector<std::unique_ptr<tls_engine>> servers;
        const auto before = mallinfo2().uordblks;
        for (int i = 0; i < n; ++i) {
            auto client = std::make_unique<tls_engine>(cctx.get());
            auto server = std::make_unique<tls_engine>(sctx.get());
            client->set_role(true);
            server->set_role(false);
            std::string c2s, s2c;
            status cs = status::want_input, ss = status::want_input;
            for (int k = 0; k < 10 && (cs != status::ok || ss != status::ok); ++k) {
                cs = with_input(*client, s2c, [&] { return client->handshake(c2s); });
                ss = with_input(*server, c2s, [&] { return server->handshake(s2c); });
            }
            REQUIRE(ss == status::ok);
            servers.push_back(std::move(server));
        }
        return static_cast<double>(mallinfo2().uordblks - before) / n;
    };
    const double with_tickets = measure(true);
    const double without = measure(false);
    std::printf("heap per idle server engine after the handshake: %.0f B (no session tickets: %.0f B)\n",
                with_tickets, without);
    CHECK(with_tickets > 0);
}

// SPDX-License-Identifier: BSL-1.0
#pragma once
// TLS transport (wss://): asio::ssl::stream over TCP, target wsx::tls.
//
// The only wsx header that includes OpenSSL. Including it also declares
//   wsx::tls_server = basic_server<transport::tls>   (complete with <wsx/server.hpp>)
//   wsx::tls_client = basic_client<transport::tls>   (complete with <wsx/client.hpp>)
//
// Contexts: tls::context::server({...}) from a certificate chain and key (files
// or PEM text), optionally verifying client certificates; tls::context::client({...})
// verifies the server's certificate against the system store (or one CA) and
// its host name, unless told otherwise. TLS 1.2 minimum; ALPN "http/1.1".
//
// How the read path maps onto SSL: the transport concept reads by "wait until
// readable, then read_some without blocking into the thread's buffer". Here
// async_wait_readable reads (async_read_some) into a 16-byte buffer that the
// stream owns, so the wait ends when at least one byte of application data is
// decrypted; read_some hands out those bytes and then drains what OpenSSL has
// already received (SSL_read on data in memory, never blocking) straight into
// the caller's buffer. No per-connection 16 KiB plaintext buffer is needed.
// Writes always go through async_write (nonblocking_writes = false).
//
// Shutdown sends close_notify (then FIN) without waiting for the peer's own
// close_notify: the connection keeps reading until the peer closes or its close
// deadline passes, so a peer that never answers cannot hang it. A peer that
// closes TCP without close_notify reads as asio::error::eof, as on plain TCP:
// the WebSocket closing handshake already protects against truncation.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>

namespace wsx {

namespace detail {
class tls_certificate_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "wsx.tls.certificate"; }
    std::string message(int value) const override {
        return std::string("certificate verification failed: ") +
               X509_verify_cert_error_string(static_cast<long>(value));
    }
};
} // namespace detail

// The category of the errors that a TLS handshake fails with when the peer's
// certificate is refused. The value is OpenSSL's X509_V_ERR_* code, for example
// X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_CERT_HAS_EXPIRED or
// X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY; message() says it in words.
// Other TLS failures carry asio's SSL category (asio::error::get_ssl_category()).
inline const std::error_category& tls_certificate_category() noexcept {
    static const detail::tls_certificate_category_impl instance;
    return instance;
}

// True when `ec` says the peer's certificate was refused.
inline bool is_certificate_error(const std::error_code& ec) noexcept {
    return ec.category() == tls_certificate_category();
}

namespace transport {

// What a server presents, and which clients it accepts. Give the chain and
// key either as files or as PEM text.
struct tls_server_config {
    std::string certificate_chain_file{};  // PEM: the server certificate first, then intermediates
    std::string private_key_file{};        // PEM, unencrypted
    std::string certificate_chain{};       // the same, as PEM text
    std::string private_key{};
    // Mutual TLS: the CAs (PEM file or text) whose client certificates are
    // accepted. Empty: no client certificate is asked for.
    std::string client_ca_file{};
    std::string client_ca{};
    // With client CAs: refuse clients that present no certificate.
    bool require_client_certificate = true;
};

// How a client checks the server. The defaults verify the certificate
// chain against the system's trust store and the certificate's names
// against the host of the URL.
struct tls_client_config {
    // Trust only this CA (PEM file or text) instead of the system store.
    std::string ca_file{};
    std::string ca{};
    // false turns off every check of the server's certificate and name:
    // anyone on the path can then read and change the traffic. For tests.
    bool verify_peer = true;
    // A client certificate, for servers that ask for one (mutual TLS).
    std::string certificate_chain_file{};
    std::string private_key_file{};
    std::string certificate_chain{};
    std::string private_key{};
};

struct tls {
    static constexpr const char* scheme = "wss";

    using server_config = tls_server_config;
    using client_config = tls_client_config;

    // Shared configuration (an SSL_CTX). Movable; streams keep what they need
    // alive on their own, so a context may be destroyed before its streams.
    // Setup errors (a missing file, a key that does not match) throw
    // std::system_error saying what to fix.
    class context {
    public:
        // A client context with the default checks (see client_config).
        context() : context(client(client_config{})) {}

        static context server(const server_config& c) {
            context ctx(asio::ssl::context::tls_server, false, false);
            SSL_CTX* h = ctx.ssl_.native_handle();
            if (!c.certificate_chain.empty())
                ctx.load(c.certificate_chain, "certificate chain", [&](std::error_code& ec) {
                    ctx.ssl_.use_certificate_chain(asio::buffer(c.certificate_chain), ec);
                });
            else if (!c.certificate_chain_file.empty())
                ctx.load(c.certificate_chain_file, "certificate chain file", [&](std::error_code& ec) {
                    ctx.ssl_.use_certificate_chain_file(c.certificate_chain_file, ec);
                });
            else
                throw std::invalid_argument(
                    "wsx::tls: a server needs a certificate: set certificate_chain_file "
                    "(or certificate_chain) and private_key_file (or private_key)");
            ctx.load_key(c.private_key, c.private_key_file);
            if (SSL_CTX_check_private_key(h) != 1)
                throw std::invalid_argument(
                    "wsx::tls: the private key does not match the server certificate (the "
                    "first certificate of the chain)");
            if (!c.client_ca.empty() || !c.client_ca_file.empty()) {
                ctx.load_ca(c.client_ca, c.client_ca_file);
                if (!c.client_ca_file.empty()) {
                    // Tell clients which CAs we accept (the CertificateRequest list).
                    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(c.client_ca_file.c_str()))
                        SSL_CTX_set_client_CA_list(h, names);
                }
                int mode = SSL_VERIFY_PEER;
                if (c.require_client_certificate) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
                SSL_CTX_set_verify(h, mode, nullptr);
            }
            // Needed for session resumption once client certificates are verified.
            static constexpr unsigned char sid[] = "wsx";
            SSL_CTX_set_session_id_context(h, sid, sizeof sid - 1);
            SSL_CTX_set_alpn_select_cb(h, &select_alpn, nullptr);
            return ctx;
        }

        static context client(const client_config& c = {}) {
            context ctx(asio::ssl::context::tls_client, true, c.verify_peer);
            SSL_CTX* h = ctx.ssl_.native_handle();
            if (c.verify_peer) {
                if (!c.ca.empty() || !c.ca_file.empty()) {
                    ctx.load_ca(c.ca, c.ca_file);
                } else {
                    std::error_code ec;
                    ctx.ssl_.set_default_verify_paths(ec);
                    if (ec)
                        throw std::system_error(ec, "wsx::tls: cannot load the system's trusted CAs; "
                                                    "set client_config::ca_file");
                }
                SSL_CTX_set_verify(h, SSL_VERIFY_PEER, nullptr);
            } else {
                SSL_CTX_set_verify(h, SSL_VERIFY_NONE, nullptr);
            }
            if (!c.certificate_chain.empty() || !c.certificate_chain_file.empty()) {
                if (!c.certificate_chain.empty())
                    ctx.load(c.certificate_chain, "client certificate chain", [&](std::error_code& ec) {
                        ctx.ssl_.use_certificate_chain(asio::buffer(c.certificate_chain), ec);
                    });
                else
                    ctx.load(c.certificate_chain_file, "client certificate chain file",
                             [&](std::error_code& ec) {
                                 ctx.ssl_.use_certificate_chain_file(c.certificate_chain_file, ec);
                             });
                ctx.load_key(c.private_key, c.private_key_file);
                if (SSL_CTX_check_private_key(h) != 1)
                    throw std::invalid_argument(
                        "wsx::tls: the client private key does not match the client certificate");
            }
            // RFC 7301: we speak HTTP/1.1 until the upgrade.
            static constexpr unsigned char protos[] = "\x08http/1.1";
            SSL_CTX_set_alpn_protos(h, protos, sizeof protos - 1);
            return ctx;
        }

        // Server contexts: ALPN offers "h2" before "http/1.1" (RFC 7301, RFC
        // 9113 §3.2). wsx::http2::enable() calls it; the server then hands a
        // connection that chose h2 to its HTTP/2 side.
        void offer_http2() { SSL_CTX_set_alpn_select_cb(ssl_.native_handle(), &select_alpn_h2, nullptr); }

        // The underlying Asio context, to set what this class does not offer
        // (ciphers, a verify callback, session caching...).
        asio::ssl::context& native() noexcept { return ssl_; }
        bool is_client() const noexcept { return client_; }
        // Client contexts: whether streams check the server's certificate and name.
        bool verifies_peer() const noexcept { return verify_; }

    private:
        context(asio::ssl::context::method m, bool client, bool verify)
            : ssl_(m), client_(client), verify_(verify) {
            SSL_CTX* h = ssl_.native_handle();
            // RFC 8996 deprecates TLS 1.0 and 1.1.
            SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
            ssl_.set_options(asio::ssl::context::default_workarounds |
                             asio::ssl::context::no_compression);
        }

        template <class F>
        void load(const std::string& what_text, const char* what, F&& f) {
            std::error_code ec;
            f(ec);
            if (ec) {
                const bool is_file = std::string_view(what).ends_with("file");
                throw std::system_error(
                    ec, std::string("wsx::tls: cannot load the ") + what +
                            (is_file ? " '" + what_text + "'" : std::string()) +
                            " (it must exist and be PEM, the leaf certificate first)");
            }
        }

        void load_key(const std::string& pem, const std::string& file) {
            std::error_code ec;
            if (!pem.empty()) ssl_.use_private_key(asio::buffer(pem), asio::ssl::context::pem, ec);
            else if (!file.empty()) ssl_.use_private_key_file(file, asio::ssl::context::pem, ec);
            else
                throw std::invalid_argument(
                    "wsx::tls: a certificate needs its private key: set private_key_file "
                    "(or private_key)");
            if (ec && ec.category() == asio::error::get_ssl_category() &&
                ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
                throw std::invalid_argument(
                    "wsx::tls: the private key does not match the certificate (the first "
                    "certificate of the chain)");
            if (ec)
                throw std::system_error(
                    ec, "wsx::tls: cannot load the private key" +
                            (pem.empty() ? " '" + file + "'" : std::string()) +
                            " (it must exist, be PEM and not be encrypted)");
        }

        void load_ca(const std::string& pem, const std::string& file) {
            std::error_code ec;
            if (!pem.empty()) ssl_.add_certificate_authority(asio::buffer(pem), ec);
            else ssl_.load_verify_file(file, ec);
            if (ec)
                throw std::system_error(
                    ec, "wsx::tls: cannot load the CA certificate" +
                            (pem.empty() ? " '" + file + "'" : std::string()) + " (it must be PEM)");
        }

        // Chooses http/1.1 when the client offers it; otherwise the handshake
        // goes on without ALPN (refusing would only lose clients).
        static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                               const unsigned char* in, unsigned int inlen, void*) {
            static constexpr unsigned char ours[] = "\x08http/1.1";
            unsigned char* chosen = nullptr;
            if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) ==
                OPENSSL_NPN_NEGOTIATED) {
                *out = chosen;
                return SSL_TLSEXT_ERR_OK;
            }
            return SSL_TLSEXT_ERR_NOACK;
        }

        // The same with h2 first, for servers that serve HTTP/2.
        static int select_alpn_h2(SSL*, const unsigned char** out, unsigned char* outlen,
                                  const unsigned char* in, unsigned int inlen, void*) {
            static constexpr unsigned char ours[] = "\x02h2\x08http/1.1";
            unsigned char* chosen = nullptr;
            if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) ==
                OPENSSL_NPN_NEGOTIATED) {
                *out = chosen;
                return SSL_TLSEXT_ERR_OK;
            }
            return SSL_TLSEXT_ERR_NOACK;
        }

        asio::ssl::context ssl_;
        bool client_ = true;
        bool verify_ = true;
    };

    class stream {
    public:
        using executor_type = asio::ip::tcp::socket::executor_type;
        using ssl_stream_type = asio::ssl::stream<asio::ip::tcp::socket>;
        // Every write goes through async_write: SSL cannot write "what the
        // socket takes now" without keeping the rest of a record itself.
        static constexpr bool nonblocking_writes = false;

        stream(asio::ip::tcp::socket socket, context& ctx)
            : p_(std::make_shared<state>(std::move(socket), ctx)) {
            std::error_code ec;
            p_->ssl.next_layer().set_option(asio::ip::tcp::no_delay(true), ec);
        }
        stream(const stream&) = delete;
        stream& operator=(const stream&) = delete;
        stream(stream&&) noexcept = default;
        stream& operator=(stream&&) noexcept = default;

        executor_type get_executor() noexcept { return p_->ssl.get_executor(); }
        ssl_stream_type& ssl_stream() noexcept { return p_->ssl; }
        SSL* native_handle() noexcept { return p_->ssl.native_handle(); }

        // Client side, before the handshake: the server's host name (or IP
        // address) from the URL. Sends it as SNI (names only, RFC 6066 §3) and,
        // when the context verifies, requires the certificate to match it.
        void set_host_name(const std::string& host) {
            SSL* ssl = native_handle();
            std::error_code ec;
            const auto address = asio::ip::make_address(host, ec);
            if (ec) SSL_set_tlsext_host_name(ssl, host.c_str());
            if (!p_->verify) return;
            if (ec) {
                SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                SSL_set1_host(ssl, host.c_str());
            } else {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.to_string().c_str());
            }
        }

        // The protocol ALPN selected ("http/1.1"), or "" when none was.
        std::string_view alpn_protocol() const noexcept {
            const unsigned char* data = nullptr;
            unsigned int size = 0;
            SSL_get0_alpn_selected(p_->ssl.native_handle(), &data, &size);
            return {reinterpret_cast<const char*>(data), size};
        }

        // The TLS handshake. A refused certificate completes with an error of
        // tls_certificate_category() telling why.
        template <class Handler>
        void async_handshake(role r, Handler&& handler) {
            const auto type = r == role::client ? asio::ssl::stream_base::client
                                                : asio::ssl::stream_base::server;
            p_->ssl.async_handshake(type, [p = p_, h = std::forward<Handler>(handler)](
                                              std::error_code ec) mutable {
                SSL* ssl = p->ssl.native_handle();
                if (ec && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
                    const long v = SSL_get_verify_result(ssl);
                    if (v != X509_V_OK)
                        ec = std::error_code(static_cast<int>(v), tls_certificate_category());
                }
                h(ec);
            });
        }

        template <class Handler>
        void async_wait_readable(Handler&& handler) {
            state& st = *p_;
            if (st.peek_pos < st.peek_size || st.read_error || SSL_pending(st.ssl.native_handle()) > 0) {
                asio::post(st.ssl.get_executor(), [h = std::forward<Handler>(handler)]() mutable {
                    h(std::error_code{});
                });
                return;
            }
            st.ssl.async_read_some(asio::buffer(st.peek), [p = p_, h = std::forward<Handler>(handler)](
                                                               std::error_code ec, std::size_t n) mutable {
                p->peek_pos = 0;
                p->peek_size = static_cast<std::uint8_t>(n);
                if (ec == asio::error::operation_aborted) return h(ec);
                if (ec) p->read_error = normalize(ec);
                h(std::error_code{});
            });
        }

        // Never blocks: the bytes of the last wait, then whatever OpenSSL can
        // decrypt from data already received; would_block when there is none.
        std::size_t read_some(asio::mutable_buffer buffer, std::error_code& ec) {
            state& st = *p_;
            ec = {};
            auto* out = static_cast<std::uint8_t*>(buffer.data());
            std::size_t n = 0;
            if (st.peek_pos < st.peek_size) {
                n = std::min<std::size_t>(buffer.size(), st.peek_size - st.peek_pos);
                std::memcpy(out, st.peek.data() + st.peek_pos, n);
                st.peek_pos = static_cast<std::uint8_t>(st.peek_pos + n);
            }
            if (n < buffer.size() && !st.read_error) n += st.drain(out + n, buffer.size() - n);
            if (n > 0) return n;
            ec = st.read_error ? st.read_error : std::error_code(asio::error::would_block);
            return 0;
        }

        template <class Buffers>
        std::size_t try_write_some(const Buffers&, std::error_code& ec) {
            ec = asio::error::would_block;
            return 0;
        }

        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& handler) {
            asio::async_write(p_->ssl, buffers,
                              [p = p_, h = std::forward<Handler>(handler)](std::error_code ec,
                                                                            std::size_t n) mutable {
                                  h(ec, n);
                              });
        }

        // Sends close_notify, then FIN. Completes once they are written; it
        // does not wait for the peer's close_notify (reads go on meanwhile).
        template <class Handler>
        void async_shutdown(Handler&& handler) {
            SSL* ssl = native_handle();
            if (!SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
                std::error_code ec;
                p_->ssl.next_layer().shutdown(asio::socket_base::shutdown_send, ec);
                asio::post(p_->ssl.get_executor(),
                           [h = std::forward<Handler>(handler), ec]() mutable { h(ec); });
                return;
            }
            // asio's shutdown sends close_notify and then reads until the peer's
            // arrives. With RECEIVED_SHUTDOWN set for the duration of the call,
            // SSL_shutdown is done once close_notify is out and the operation
            // only writes (a pending read goes on undisturbed). OpenSSL looks at
            // the flag only inside that SSL_shutdown, which runs synchronously
            // in the initiating call.
            const int before = SSL_get_shutdown(ssl);
            SSL_set_shutdown(ssl, before | SSL_RECEIVED_SHUTDOWN);
            p_->ssl.async_shutdown([p = p_, h = std::forward<Handler>(handler)](std::error_code ec) mutable {
                std::error_code ignored;
                p->ssl.next_layer().shutdown(asio::socket_base::shutdown_send, ignored);
                h(ec);
            });
            SSL_set_shutdown(ssl, (SSL_get_shutdown(ssl) & ~SSL_RECEIVED_SHUTDOWN) |
                                      (before & SSL_RECEIVED_SHUTDOWN));
        }

        // Closes the socket: operations in flight complete with
        // operation_aborted. They keep what they use alive, so the stream may
        // be destroyed right after.
        void close() noexcept {
            std::error_code ec;
            p_->ssl.next_layer().close(ec);
        }

        asio::ip::tcp::endpoint remote_endpoint() const {
            std::error_code ec;
            return p_->ssl.next_layer().remote_endpoint(ec);
        }

    private:
        // On the heap and shared with the handlers in flight: Asio's SSL
        // operations refer to the stream until they complete, even after a
        // close, so it must outlive them (and moving a stream is always safe).
        struct state {
            state(asio::ip::tcp::socket&& socket, context& ctx)
                : ssl(std::move(socket), ctx.native()), verify(ctx.is_client() && ctx.verifies_peer()) {}

            // SSL_read on bytes already in memory: never waits for the socket.
            std::size_t drain(std::uint8_t* out, std::size_t size) {
                SSL* h = ssl.native_handle();
                std::size_t n = 0;
                while (n < size) {
                    ERR_clear_error();
                    const int want = static_cast<int>(std::min<std::size_t>(size - n, 1u << 30));
                    const int r = SSL_read(h, out + n, want);
                    if (r > 0) {
                        n += static_cast<std::size_t>(r);
                        continue;
                    }
                    switch (SSL_get_error(h, r)) {
                    case SSL_ERROR_WANT_READ:
                    case SSL_ERROR_WANT_WRITE: break;  // the next wait asks asio for more
                    case SSL_ERROR_ZERO_RETURN: read_error = asio::error::eof; break;
                    case SSL_ERROR_SSL:
                        read_error = std::error_code(static_cast<int>(ERR_get_error()),
                                                     asio::error::get_ssl_category());
                        break;
                    default: read_error = asio::error::eof; break;
                    }
                    break;
                }
                return n;
            }

            ssl_stream_type ssl;
            std::error_code read_error;
            // Enough for the wait to prove data is there; the rest is drained.
            std::array<std::uint8_t, 16> peek{};
            std::uint8_t peek_pos = 0;
            std::uint8_t peek_size = 0;
            bool verify = false;
        };

        // TCP closed without close_notify reads as a plain end of stream.
        static std::error_code normalize(std::error_code ec) noexcept {
            if (ec == asio::ssl::error::stream_truncated) return asio::error::eof;
            return ec;
        }

        std::shared_ptr<state> p_;
    };
};

static_assert(policy<tls>, "wsx::transport::tls must model wsx::transport::policy");

} // namespace transport

template <transport::policy Transport>
class basic_server;
template <transport::policy Transport>
class basic_client;

// The wss:// server and client. Include <wsx/server.hpp> or <wsx/client.hpp>
// (or <wsx/wsx.hpp>) as well to use them.
using tls_server = basic_server<transport::tls>;
using tls_client = basic_client<transport::tls>;

} // namespace wsx

// SPDX-License-Identifier: BSL-1.0
#pragma once
// TLS transport (wss://): OpenSSL driven by wsx over TCP, target wsx::tls.
//
// The only wsx headers that include OpenSSL are this one and tls_engine.hpp.
// Including it also declares
//   wsx::tls_server = basic_server<transport::tls>   (complete with <wsx/server.hpp>)
//   wsx::tls_client = basic_client<transport::tls>   (complete with <wsx/client.hpp>)
//
// Contexts: tls::context::server({...}) from a certificate chain and key (files
// or PEM text), optionally verifying client certificates; tls::context::client({...})
// verifies the server's certificate against the system store (or one CA) and
// its host name, unless told otherwise. TLS 1.2 minimum; ALPN "http/1.1".
//
// The stream moves bytes between the socket and a tls_engine (the record pump,
// tls_engine.hpp) itself, instead of asio::ssl::stream, whose per-stream 17 KiB
// buffers and BIO pair cost ~68 KiB per idle connection and one system call
// per record:
//  - reads: wait for readability, then one non-blocking recv into the thread's
//    buffer, decrypted by SSL_read straight into the caller's buffer of
//    read_some. Only ciphertext left over when that buffer is full is kept per
//    connection, and only until it is read.
//  - writes: the caller's buffers are gathered into full 16 KiB records,
//    encrypted into the thread's buffer and sent in one call; only the
//    ciphertext the kernel did not take is kept per connection (see
//    nonblocking_writes).
//  - SSL_MODE_RELEASE_BUFFERS: an idle connection holds no record buffer.
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
#include <vector>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/socket_base.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <wsx/protocol/role.hpp>
#include <wsx/transport/concept.hpp>
#include <wsx/transport/tls_engine.hpp>

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

namespace detail {
// Per-thread buffers of the TLS streams, used only inside one call, so every
// connection of a thread shares them.
struct tls_scratch {
    static constexpr std::size_t in_size = 256 * 1024;  // one receive
    static constexpr std::size_t record = 16 * 1024;    // TLS's largest record payload

    std::unique_ptr<std::uint8_t[]> in_;
    std::unique_ptr<std::uint8_t[]> stage_;
    std::string out;                       // ciphertext to send
    std::vector<asio::const_buffer> bufs;  // try_write_some's buffers

    std::uint8_t* input() {
        if (!in_) in_ = std::make_unique<std::uint8_t[]>(in_size);
        return in_.get();
    }
    std::uint8_t* staging() {
        if (!stage_) stage_ = std::make_unique<std::uint8_t[]>(record);
        return stage_.get();
    }
    static tls_scratch& get() {
        thread_local tls_scratch s;
        return s;
    }
};
} // namespace detail

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
        struct state;
        using status = detail::tls_engine::status;

    public:
        using executor_type = asio::ip::tcp::socket::executor_type;
        // try_write_some encrypts, sends what the kernel takes now and keeps
        // the rest of that ciphertext (the "tail", at most one pass of
        // write_pass bytes of plaintext), which the stream then sends by
        // itself once the socket is writable. While a tail is there it writes
        // nothing (would_block), so the connection falls back to async_write,
        // which sends the tail first and completes when everything is out: the
        // connection always learns when its bytes have left.
        static constexpr bool nonblocking_writes = true;
        // Plaintext encrypted per pass before sending.
        static constexpr std::size_t write_pass = 512 * 1024;

        stream(asio::ip::tcp::socket socket, context& ctx)
            : p_(std::make_shared<state>(std::move(socket), ctx)) {
            std::error_code ec;
            p_->socket.non_blocking(true, ec);
            p_->socket.set_option(asio::ip::tcp::no_delay(true), ec);
        }
        stream(const stream&) = delete;
        stream& operator=(const stream&) = delete;
        stream(stream&&) noexcept = default;
        stream& operator=(stream&&) noexcept = default;

        executor_type get_executor() noexcept { return p_->socket.get_executor(); }
        // The TCP socket under the TLS layer.
        asio::ip::tcp::socket& socket() noexcept { return p_->socket; }
        // The OpenSSL connection, to set or read what this class does not offer.
        SSL* native_handle() noexcept { return p_->engine.native_handle(); }

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
            SSL_get0_alpn_selected(p_->engine.native_handle(), &data, &size);
            return {reinterpret_cast<const char*>(data), size};
        }

        // The TLS handshake. A refused certificate completes with an error of
        // tls_certificate_category() telling why.
        template <class Handler>
        void async_handshake(role r, Handler&& handler) {
            p_->engine.set_role(r == role::client);
            handshake_op<std::decay_t<Handler>>{p_, std::forward<Handler>(handler)}.step(true);
        }

        // Ready at once when decrypted or received bytes are waiting in memory
        // (a previous read_some stopped at the end of the caller's buffer);
        // otherwise when the socket is readable.
        template <class Handler>
        void async_wait_readable(Handler&& handler) {
            state& st = *p_;
            if (st.read_error || st.engine.unread_input() > 0 || st.engine.buffered_plaintext() > 0) {
                asio::post(st.socket.get_executor(), [h = std::forward<Handler>(handler)]() mutable {
                    h(std::error_code{});
                });
                return;
            }
            // A socket destroyed with the wait pending completes it with
            // operation_aborted, so the wait need not keep the state alive.
            st.socket.async_wait(asio::socket_base::wait_read, std::forward<Handler>(handler));
        }

        // Never blocks. Decrypts what is in memory straight into `buffer`;
        // when that runs out, receives once (non-blocking) into the thread's
        // buffer about as much ciphertext as the rest of `buffer` can take,
        // and goes on. would_block when nothing is there.
        std::size_t read_some(asio::mutable_buffer buffer, std::error_code& ec) {
            state& st = *p_;
            ec = {};
            if (st.read_error) {
                ec = st.read_error;
                return 0;
            }
            auto* out = static_cast<std::uint8_t*>(buffer.data());
            const std::size_t size = buffer.size();
            detail::tls_scratch& sc = detail::tls_scratch::get();
            std::size_t n = 0;
            bool drained = false;  // the kernel had less than we asked for
            for (;;) {
                std::size_t got = 0;
                const status s = st.engine.read(out + n, size - n, got, sc.out);
                n += got;
                if (s == status::ok) break;
                if (s == status::closed) {
                    st.read_error = asio::error::eof;
                    break;
                }
                if (s == status::error) {
                    st.read_error = st.engine.error();
                    break;
                }
                if (drained) break;
                // Enough for the plaintext the caller has room for, and at
                // least a whole record so a nearly full buffer still progresses.
                const std::size_t room = size - n;
                const std::size_t cap = std::min(
                    detail::tls_scratch::in_size,
                    std::max<std::size_t>(room + (room / 16384 + 1) * 64, 16 * 1024 + 512));
                std::error_code rec;
                const std::size_t r = st.socket.read_some(asio::buffer(sc.input(), cap), rec);
                if (rec == asio::error::would_block || rec == asio::error::try_again) break;
                if (rec) {
                    // TCP closed without close_notify reads as a plain end of
                    // stream, as on plain TCP: the WebSocket closing handshake
                    // already protects against truncation.
                    st.read_error = rec == asio::error::eof ? std::error_code(asio::error::eof) : rec;
                    break;
                }
                if (r < cap) drained = true;
                st.engine.set_input(sc.input(), r);
            }
            st.engine.keep_input();
            if (!sc.out.empty()) {  // alerts, key updates
                std::error_code wec;
                st.emit(sc.out, wec);
                st.arm_flush(p_);
            }
            if (n > 0) return n;
            ec = st.read_error ? st.read_error : std::error_code(asio::error::would_block);
            return 0;
        }

        // Never blocks; returns the plaintext bytes taken (see nonblocking_writes).
        template <class Buffers>
        std::size_t try_write_some(const Buffers& buffers, std::error_code& ec) {
            state& st = *p_;
            ec = st.write_error;
            if (ec) return 0;
            if (st.has_tail()) {
                ec = asio::error::would_block;
                return 0;
            }
            std::vector<asio::const_buffer>& bufs = detail::tls_scratch::get().bufs;
            bufs.assign(asio::buffer_sequence_begin(buffers), asio::buffer_sequence_end(buffers));
            std::size_t index = 0, offset = 0, n = 0;
            while (index < bufs.size() && !ec && !st.has_tail())
                n += st.encrypt_pass(bufs.data(), bufs.size(), index, offset, ec);
            bufs.clear();
            st.arm_flush(p_);
            return n;
        }

        // Writes every byte (the tail of earlier writes first); completes
        // with the plaintext bytes written.
        template <class Buffers, class Handler>
        void async_write(const Buffers& buffers, Handler&& handler) {
            write_op<std::decay_t<Handler>> op{p_, {}, 0, 0, 0, std::forward<Handler>(handler)};
            op.bufs.assign(asio::buffer_sequence_begin(buffers), asio::buffer_sequence_end(buffers));
            op.step(true);
        }

        // Sends close_notify, then FIN. Completes once they are written; it
        // does not wait for the peer's close_notify (reads go on meanwhile).
        template <class Handler>
        void async_shutdown(Handler&& handler) {
            state& st = *p_;
            std::error_code ec;
            if (st.engine.handshake_done() && !st.engine.shutdown_sent() && !st.write_error) {
                std::string& out = detail::tls_scratch::get().out;
                if (st.engine.shutdown(out) == status::ok) st.emit(out, ec);
                out.clear();
            }
            shutdown_op<std::decay_t<Handler>>{p_, std::forward<Handler>(handler)}.step(true);
        }

        // Closes the socket: operations in flight complete with
        // operation_aborted. They keep what they use alive, so the stream may
        // be destroyed right after.
        void close() noexcept {
            state& st = *p_;
            std::error_code ec;
            st.socket.close(ec);
            std::string{}.swap(st.tail);
            st.tail_pos = 0;
        }

        asio::ip::tcp::endpoint remote_endpoint() const {
            std::error_code ec;
            return p_->socket.remote_endpoint(ec);
        }

    private:
        // On the heap and shared with the operations in flight, which may
        // outlive the stream (a close, then the destructor).
        struct state {
            state(asio::ip::tcp::socket&& s, context& ctx)
                : socket(std::move(s)),
                  engine(ctx.native().native_handle()),
                  verify(ctx.is_client() && ctx.verifies_peer()) {}

            bool has_tail() const noexcept { return tail_pos < tail.size(); }

            // Sends [data, data + size) without blocking; what was sent.
            std::size_t send(const char* data, std::size_t size, std::error_code& ec) {
                std::size_t sent = 0;
                while (sent < size) {
                    sent += socket.write_some(asio::buffer(data + sent, size - sent), ec);
                    if (ec == asio::error::would_block || ec == asio::error::try_again) {
                        ec = {};
                        break;
                    }
                    if (ec) {
                        write_error = ec;
                        break;
                    }
                }
                return sent;
            }

            // Sends the ciphertext in `out` behind any tail; keeps what the
            // kernel did not take. Clears `out`.
            void emit(std::string& out, std::error_code& ec) {
                if (out.empty()) return;
                if (has_tail()) {
                    tail.append(out);
                } else {
                    const std::size_t sent = send(out.data(), out.size(), ec);
                    if (sent < out.size() && !ec) {
                        tail.assign(out, sent);
                        tail_pos = 0;
                    }
                }
                out.clear();
                // A burst of huge writes should not pin memory for the thread's lifetime.
                if (out.capacity() > 2 * write_pass) std::string{}.swap(out);
            }

            // True when no tail is left.
            bool flush_tail(std::error_code& ec) {
                if (!has_tail()) return true;
                tail_pos += send(tail.data() + tail_pos, tail.size() - tail_pos, ec);
                if (has_tail()) return false;
                std::string{}.swap(tail);
                tail_pos = 0;
                return true;
            }

            // Sends the tail once the socket takes it, with no operation of
            // the caller's waiting on it.
            void arm_flush(const std::shared_ptr<state>& self) {
                if (flush_armed || !has_tail() || write_error) return;
                flush_armed = true;
                socket.async_wait(asio::socket_base::wait_write, [p = self](std::error_code ec) {
                    p->flush_armed = false;
                    if (ec) return;
                    if (!p->flush_tail(ec)) p->arm_flush(p);
                });
            }

            // Encrypts up to write_pass bytes of plaintext from bufs at
            // (index, offset) and sends them; the plaintext bytes taken. Small
            // buffers are gathered so that records are full (16 KiB), not one
            // per buffer.
            std::size_t encrypt_pass(const asio::const_buffer* bufs, std::size_t count,
                                     std::size_t& index, std::size_t& offset, std::error_code& ec) {
                constexpr std::size_t record = detail::tls_scratch::record;
                detail::tls_scratch& sc = detail::tls_scratch::get();
                std::uint8_t* stage = sc.staging();
                std::size_t staged = 0, taken = 0;
                bool failed = false;
                auto seal = [&](const std::uint8_t* data, std::size_t size) {
                    if (!failed && engine.write(data, size, sc.out) != status::ok) failed = true;
                };
                while (index < count && taken < write_pass) {
                    const auto* data = static_cast<const std::uint8_t*>(bufs[index].data()) + offset;
                    const std::size_t left = bufs[index].size() - offset;
                    std::size_t take = std::min(left, write_pass - taken);
                    if (staged == 0 && take >= record) {
                        take -= take % record;  // whole records straight from the caller's buffer
                        seal(data, take);
                    } else {
                        take = std::min(take, record - staged);
                        std::memcpy(stage + staged, data, take);
                        staged += take;
                        if (staged == record) {
                            seal(stage, staged);
                            staged = 0;
                        }
                    }
                    taken += take;
                    offset += take;
                    if (offset == bufs[index].size()) {
                        ++index;
                        offset = 0;
                    }
                }
                if (staged > 0) seal(stage, staged);
                if (failed) {
                    sc.out.clear();
                    ec = write_error = engine.error();
                    return taken;
                }
                emit(sc.out, ec);
                return taken;
            }

            // The error a failed handshake completes with.
            std::error_code handshake_error(std::error_code ec) const {
                SSL* ssl = engine.native_handle();
                if (ec && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)) {
                    const long v = SSL_get_verify_result(ssl);
                    if (v != X509_V_OK) ec = std::error_code(static_cast<int>(v), tls_certificate_category());
                }
                return ec;
            }

            asio::ip::tcp::socket socket;
            detail::tls_engine engine;
            std::string tail;  // ciphertext the kernel did not take yet
            std::size_t tail_pos = 0;
            std::error_code read_error;   // sticky: returned once the bytes before it are read
            std::error_code write_error;  // sticky
            bool flush_armed = false;
            bool verify = false;
        };

        // Completes an operation: through the executor when still inside the
        // initiating call (Asio's rule: never inline), directly otherwise.
        template <class Handler, class... Args>
        static void complete(state& st, bool initiating, Handler& h, Args... args) {
            if (initiating)
                asio::post(st.socket.get_executor(),
                           [h = std::move(h), args...]() mutable { h(args...); });
            else
                h(args...);
        }

        template <class Handler>
        struct handshake_op {
            std::shared_ptr<state> p;
            Handler h;

            void operator()(std::error_code ec) {  // the socket is readable
                if (ec) return complete(*p, false, h, p->handshake_error(ec));
                step(false);
            }

            void step(bool initiating) {
                state& st = *p;
                detail::tls_scratch& sc = detail::tls_scratch::get();
                for (;;) {
                    const status s = st.engine.handshake(sc.out);
                    st.engine.keep_input();  // bytes behind the handshake stay for read_some
                    std::error_code ec;
                    st.emit(sc.out, ec);  // our flight, or the alert that tells the peer why not
                    st.arm_flush(p);
                    if (s == status::ok) return complete(st, initiating, h, ec);
                    if (s == status::closed) return complete(st, initiating, h, st.handshake_error(asio::error::eof));
                    if (s == status::error) return complete(st, initiating, h, st.handshake_error(st.engine.error()));
                    if (ec) return complete(st, initiating, h, st.handshake_error(ec));
                    const std::size_t r = st.socket.read_some(
                        asio::buffer(sc.input(), detail::tls_scratch::in_size), ec);
                    if (ec == asio::error::would_block || ec == asio::error::try_again) {
                        st.socket.async_wait(asio::socket_base::wait_read, std::move(*this));
                        return;
                    }
                    if (ec) return complete(st, initiating, h, st.handshake_error(ec));
                    st.engine.set_input(sc.input(), r);
                }
            }
        };

        template <class Handler>
        struct write_op {
            std::shared_ptr<state> p;
            std::vector<asio::const_buffer> bufs;
            std::size_t index, offset, done;
            Handler h;

            void operator()(std::error_code ec) {  // the socket is writable
                if (ec) return complete(*p, false, h, ec, done);
                step(false);
            }

            void step(bool initiating) {
                state& st = *p;
                for (;;) {
                    std::error_code ec = st.write_error;
                    if (!ec && st.flush_tail(ec)) {
                        if (index == bufs.size()) return complete(st, initiating, h, std::error_code{}, done);
                        done += st.encrypt_pass(bufs.data(), bufs.size(), index, offset, ec);
                        if (!ec) continue;
                    }
                    if (ec) return complete(st, initiating, h, ec, done);
                    st.socket.async_wait(asio::socket_base::wait_write, std::move(*this));
                    return;
                }
            }
        };

        template <class Handler>
        struct shutdown_op {
            std::shared_ptr<state> p;
            Handler h;

            void operator()(std::error_code ec) {
                if (ec) return complete(*p, false, h, ec);
                step(false);
            }

            void step(bool initiating) {
                state& st = *p;
                std::error_code ec = st.write_error;
                if (!ec && !st.flush_tail(ec) && !ec) {
                    st.socket.async_wait(asio::socket_base::wait_write, std::move(*this));
                    return;
                }
                std::error_code ignored;
                st.socket.shutdown(asio::socket_base::shutdown_send, ignored);
                complete(st, initiating, h, ec);
            }
        };

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

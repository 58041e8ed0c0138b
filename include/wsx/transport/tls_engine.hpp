// SPDX-License-Identifier: BSL-1.0
#pragma once
// The TLS record pump without I/O: ciphertext in -> plaintext out, plaintext
// in -> ciphertext out. transport::tls::stream (tls.hpp) moves the bytes
// between this and the socket; a test can connect two engines directly.
//
// OpenSSL talks to a BIO of ours instead of a socket or a memory BIO pair:
//  - reads take ciphertext straight from a span the caller lends
//    (set_input), typically the thread's receive buffer, so nothing is copied
//    into per-connection storage. What OpenSSL did not take by the end of the
//    call is copied (keep_input) and freed as soon as it is consumed.
//  - writes append ciphertext to the std::string the caller passes to each
//    operation, typically a per-thread buffer that is sent at once.
// With SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers whenever
// they are empty, so an idle connection holds no record buffer at all.
//
// Renegotiation is refused (SSL_OP_NO_RENEGOTIATION): it would make a write
// wait for a read, which a WebSocket transport never needs.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <system_error>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace wsx::transport::detail {

class tls_engine {
public:
    enum class status {
        ok,          // done (handshake finished, buffer filled, record written)
        want_input,  // needs more ciphertext from the peer (set_input)
        closed,      // the peer sent close_notify
        error        // fatal; error() says why
    };

    // The SSL object takes a reference to `ctx`, which may then go away.
    explicit tls_engine(SSL_CTX* ctx) {
        ssl_ = SSL_new(ctx);
        if (!ssl_) throw std::bad_alloc();
        BIO* bio = BIO_new(bio_method());
        if (!bio) {
            SSL_free(ssl_);
            throw std::bad_alloc();
        }
        BIO_set_data(bio, this);
        SSL_set_bio(ssl_, bio, bio);  // one BIO both ways: SSL_free frees it once
        SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
        SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
    }
    tls_engine(const tls_engine&) = delete;
    tls_engine& operator=(const tls_engine&) = delete;
    ~tls_engine() { SSL_free(ssl_); }

    SSL* native_handle() const noexcept { return ssl_; }

    // Before the first handshake() call.
    void set_role(bool client) noexcept {
        if (client) SSL_set_connect_state(ssl_);
        else SSL_set_accept_state(ssl_);
    }

    // ---- input ---------------------------------------------------------------
    // Lends `size` bytes of ciphertext; the engine reads them in place until
    // keep_input() or the next set_input(), whichever comes first.
    void set_input(const std::uint8_t* data, std::size_t size) noexcept {
        view_ = data;
        view_size_ = size;
    }
    // Copies what OpenSSL has not taken of the lent bytes, so the lender may
    // reuse its buffer. Call before the lent bytes change.
    void keep_input() {
        if (view_size_ == 0) return;
        if (kept_pos_ == kept_.size()) {
            kept_.assign(reinterpret_cast<const char*>(view_), view_size_);
        } else {
            kept_.erase(0, kept_pos_);
            kept_.append(reinterpret_cast<const char*>(view_), view_size_);
        }
        kept_pos_ = 0;
        view_ = nullptr;
        view_size_ = 0;
    }
    // Ciphertext given that OpenSSL has not read yet.
    std::size_t unread_input() const noexcept { return kept_.size() - kept_pos_ + view_size_; }
    // Decrypted bytes waiting in OpenSSL for read().
    std::size_t buffered_plaintext() const noexcept {
        const int n = SSL_pending(ssl_);
        return n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    // ---- operations; each appends what must be sent to `out` --------------
    status handshake(std::string& out) {
        const sink s(*this, out);
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_);
        if (r == 1) return status::ok;
        return fail(r);
    }
    bool handshake_done() const noexcept { return SSL_is_init_finished(ssl_) == 1; }

    // Decrypts into [dst, dst + size) until it is full (ok) or the input runs
    // out (want_input); `n` says how much was written either way.
    status read(std::uint8_t* dst, std::size_t size, std::size_t& n, std::string& out) {
        const sink s(*this, out);
        n = 0;
        while (n < size) {
            // Nothing decrypted and no ciphertext left to give: SSL_read could
            // only ask for more (a partial record is already inside OpenSSL).
            // Saves a call per read, the one that finds nothing.
            if (unread_input() == 0 && SSL_pending(ssl_) == 0 && !fatal_ && SSL_is_init_finished(ssl_) == 1 &&
                !(SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN))
                return status::want_input;
            ERR_clear_error();
            std::size_t got = 0;
            const int r = SSL_read_ex(ssl_, dst + n, size - n, &got);
            if (r == 1) {
                n += got;
                continue;
            }
            return fail(r);
        }
        return status::ok;
    }

    // Encrypts all of [data, data + size): records of up to 16 KiB, as
    // OpenSSL cuts them. Never waits: the output is memory.
    status write(const std::uint8_t* data, std::size_t size, std::string& out) {
        const sink s(*this, out);
        while (size > 0) {
            ERR_clear_error();
            std::size_t written = 0;
            const int r = SSL_write_ex(ssl_, data, size, &written);
            if (r != 1) return fail(r);
            data += written;
            size -= written;
        }
        return status::ok;
    }

    // Appends close_notify. Does not wait for the peer's.
    status shutdown(std::string& out) {
        if (fatal_ || !handshake_done()) return status::error;
        if (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) return status::ok;
        const sink s(*this, out);
        ERR_clear_error();
        const int r = SSL_shutdown(ssl_);
        if (r >= 0) return status::ok;  // 0: sent, the peer's not received yet
        return fail(r);
    }
    bool shutdown_sent() const noexcept { return (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) != 0; }

    // Why the last operation returned status::error (asio's SSL category,
    // OpenSSL's packed error code, as asio::ssl::stream reports it).
    std::error_code error() const noexcept { return error_; }

private:
    // Points the BIO's output at `out` for one operation.
    struct sink {
        sink(tls_engine& e, std::string& out) : e_(e) { e_.out_ = &out; }
        ~sink() { e_.out_ = nullptr; }
        sink(const sink&) = delete;
        sink& operator=(const sink&) = delete;
        tls_engine& e_;
    };

    status fail(int r) {
        switch (SSL_get_error(ssl_, r)) {
        case SSL_ERROR_WANT_READ: return status::want_input;
        case SSL_ERROR_ZERO_RETURN: return status::closed;
        case SSL_ERROR_SSL: {
            fatal_ = true;
            const unsigned long e = ERR_get_error();
            error_ = e ? std::error_code(static_cast<int>(e), asio::error::get_ssl_category())
                       : std::error_code(asio::error::no_protocol_option);
            return status::error;
        }
        default:
            // WANT_WRITE cannot happen (the output is memory); SYSCALL would
            // mean the BIO failed, which ours does not.
            fatal_ = true;
            error_ = asio::error::fault;
            return status::error;
        }
    }

    // ---- our BIO -------------------------------------------------------------
    static BIO_METHOD* bio_method() {
        static BIO_METHOD* const m = [] {
            BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsx tls engine");
            if (!bm) throw std::bad_alloc();
            BIO_meth_set_write(bm, &bio_write);
            BIO_meth_set_read(bm, &bio_read);
            BIO_meth_set_ctrl(bm, &bio_ctrl);
            BIO_meth_set_create(bm, [](BIO* b) {
                BIO_set_init(b, 1);
                return 1;
            });
            return bm;
        }();
        return m;
    }

    static int bio_write(BIO* b, const char* data, int size) {
        BIO_clear_retry_flags(b);
        auto* e = static_cast<tls_engine*>(BIO_get_data(b));
        if (!e->out_ || size < 0) return -1;
        e->out_->append(data, static_cast<std::size_t>(size));
        return size;
    }

    static int bio_read(BIO* b, char* data, int size) {
        BIO_clear_retry_flags(b);
        auto* e = static_cast<tls_engine*>(BIO_get_data(b));
        std::size_t want = size > 0 ? static_cast<std::size_t>(size) : 0;
        std::size_t n = 0;
        if (e->kept_pos_ < e->kept_.size()) {
            n = std::min(want, e->kept_.size() - e->kept_pos_);
            std::memcpy(data, e->kept_.data() + e->kept_pos_, n);
            e->kept_pos_ += n;
            if (e->kept_pos_ == e->kept_.size()) {
                std::string{}.swap(e->kept_);  // consumed: hold no memory
                e->kept_pos_ = 0;
            }
        }
        if (n < want && e->view_size_ > 0) {
            const std::size_t m = std::min(want - n, e->view_size_);
            std::memcpy(data + n, e->view_, m);
            e->view_ += m;
            e->view_size_ -= m;
            n += m;
        }
        if (n == 0) {
            BIO_set_retry_read(b);
            return -1;
        }
        return static_cast<int>(n);
    }

    static long bio_ctrl(BIO*, int cmd, long, void*) {
        switch (cmd) {
        case BIO_CTRL_FLUSH: return 1;  // the caller sends what was appended
        default: return 0;
        }
    }

    SSL* ssl_ = nullptr;
    std::string* out_ = nullptr;
    const std::uint8_t* view_ = nullptr;
    std::size_t view_size_ = 0;
    std::string kept_;
    std::size_t kept_pos_ = 0;
    std::error_code error_;
    bool fatal_ = false;
};

} // namespace wsx::transport::detail

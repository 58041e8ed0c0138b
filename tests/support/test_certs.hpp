// SPDX-License-Identifier: BSL-1.0
#pragma once
// Certificates for the TLS tests, made at test time with OpenSSL's C API (no
// private key is committed): a CA, a second CA nobody trusts, and leaf
// certificates signed by the first CA:
//   server      localhost, 127.0.0.1 and ::1
//   expired     localhost and 127.0.0.1, valid until yesterday
//   wrong_host  wrong.example only
//   client      a client certificate (mutual TLS)
//   stranger    localhost, signed by the untrusted CA
// Each is available as PEM text and as files in a temporary directory that
// is removed when the test_pki is destroyed. EC P-256 keys: fast to make.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace wsx::test {

struct cert_files {
    std::string cert_pem, key_pem;    // PEM text
    std::string cert_file, key_file;  // the same, as files
};

class test_pki {
public:
    test_pki() {
        char tmpl[] = "/tmp/wsx-test-pki-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("test_pki: mkdtemp failed");
        dir_ = tmpl;

        key ca_key, other_key;
        X509* ca_cert = make_cert(ca_key.get(), "wsx test CA", nullptr, nullptr, true, nullptr, 1, 0, 3650);
        X509* other_cert =
            make_cert(other_key.get(), "wsx untrusted CA", nullptr, nullptr, true, nullptr, 2, 0, 3650);
        ca = save("ca", ca_cert, ca_key.get());
        other_ca = save("other_ca", other_cert, other_key.get());

        auto leaf = [&](const char* name, const char* cn, const char* san, long from_days,
                        long to_days, X509* issuer, EVP_PKEY* issuer_key, long serial) {
            key k;
            X509* x = make_cert(k.get(), cn, issuer, issuer_key, false, san, serial, from_days, to_days);
            cert_files f = save(name, x, k.get());
            X509_free(x);
            return f;
        };
        server = leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", 0, 365, ca_cert,
                      ca_key.get(), 10);
        expired = leaf("expired", "localhost", "DNS:localhost,IP:127.0.0.1", -30, -1, ca_cert,
                       ca_key.get(), 11);
        wrong_host = leaf("wrong_host", "wrong.example", "DNS:wrong.example", 0, 365, ca_cert,
                          ca_key.get(), 12);
        client = leaf("client", "wsx test client", nullptr, 0, 365, ca_cert, ca_key.get(), 13);
        stranger = leaf("stranger", "localhost", "DNS:localhost,IP:127.0.0.1", 0, 365, other_cert,
                        other_key.get(), 14);
        X509_free(ca_cert);
        X509_free(other_cert);
    }
    test_pki(const test_pki&) = delete;
    test_pki& operator=(const test_pki&) = delete;
    ~test_pki() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // One set per test binary.
    static const test_pki& get() {
        static const test_pki pki;
        return pki;
    }

    const std::string& dir() const noexcept { return dir_; }

    cert_files ca, other_ca, server, expired, wrong_host, client, stranger;

private:
    struct key {
        key() {
            EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
            if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 ||
                EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) <= 0 ||
                EVP_PKEY_keygen(ctx, &p) <= 0)
                throw std::runtime_error("test_pki: key generation failed");
            EVP_PKEY_CTX_free(ctx);
        }
        ~key() { EVP_PKEY_free(p); }
        key(const key&) = delete;
        key& operator=(const key&) = delete;
        EVP_PKEY* get() const noexcept { return p; }
        EVP_PKEY* p = nullptr;
    };

    static void add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
        X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
        if (!e) throw std::runtime_error(std::string("test_pki: bad extension ") + value);
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }

    // A certificate for `k`, signed by issuer_key (self-signed without one),
    // valid from `from_days` to `to_days` days from now.
    static X509* make_cert(EVP_PKEY* k, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool is_ca,
                           const char* san, long serial, long from_days, long to_days) {
        X509* x = X509_new();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
        X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400 - (from_days == 0 ? 3600 : 0));
        X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
        X509_set_pubkey(x, k);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                                   -1, -1, 0);
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, issuer ? issuer : x, x, nullptr, nullptr, 0);
        add_ext(x, &v3, NID_subject_key_identifier, "hash");
        if (is_ca) {
            add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
            add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
        } else {
            add_ext(x, &v3, NID_basic_constraints, "CA:FALSE");
            add_ext(x, &v3, NID_key_usage, "critical,digitalSignature");
            add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth");
            add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
        }
        if (san) add_ext(x, &v3, NID_subject_alt_name, san);
        if (X509_sign(x, issuer_key ? issuer_key : k, EVP_sha256()) <= 0)
            throw std::runtime_error("test_pki: signing failed");
        return x;
    }

    static std::string to_pem(X509* x, EVP_PKEY* k) {
        BIO* b = BIO_new(BIO_s_mem());
        if (x) PEM_write_bio_X509(b, x);
        else PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
        char* data = nullptr;
        const long n = BIO_get_mem_data(b, &data);
        std::string s(data, static_cast<std::size_t>(n));
        BIO_free(b);
        return s;
    }

    cert_files save(const std::string& name, X509* x, EVP_PKEY* k) const {
        cert_files f{to_pem(x, nullptr), to_pem(nullptr, k), dir_ + "/" + name + ".pem",
                     dir_ + "/" + name + ".key"};
        std::ofstream(f.cert_file) << f.cert_pem;
        std::ofstream(f.key_file) << f.key_pem;
        return f;
    }

    std::string dir_;
};

} // namespace wsx::test

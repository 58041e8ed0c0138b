// SPDX-License-Identifier: BSL-1.0
// Compiles wsx/transport/tls.hpp through the installed wsx::tls target and
// links OpenSSL through it: creating an SSL context calls into libssl.
#include <wsx/transport/concept.hpp>
#include <wsx/transport/tls.hpp>

#include <asio/ssl/context.hpp>

#include <cstdio>

static_assert(wsx::transport::policy<wsx::transport::tls>,
              "wsx::transport::tls should model the transport policy concept");

int main() {
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    std::printf("wsx::tls: compiled and linked (SSL_CTX %s)\n", ctx.native_handle() ? "created" : "missing");
    return ctx.native_handle() ? 0 : 1;
}

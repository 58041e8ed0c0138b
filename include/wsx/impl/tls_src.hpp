// SPDX-License-Identifier: BSL-1.0
// wsx/impl/tls_src.hpp: the compiled part of wsx for wss://, the companion of
// <wsx/impl/src.hpp> for programs that also define
// WSX_SEPARATE_COMPILATION_TLS (with WSX_SEPARATE_COMPILATION). With both
// macros, server.hpp, connection.hpp and client.hpp include
// <wsx/transport/tls.hpp> and declare the transport::tls instantiations
// `extern template`; exactly one unit of the program includes this header
// (it needs OpenSSL, as wsx::tls does). CMake: link wsx::compiled_tls.
#pragma once

#include <wsx/client.hpp>
#include <wsx/connection.hpp>
#include <wsx/server.hpp>
#include <wsx/transport/tls.hpp>

namespace wsx {
template class basic_connection<transport::tls>;
namespace detail {
template class http_session<transport::tls>;
template class server_state<transport::tls>;
template class client_session<transport::tls>;
template class client_impl<transport::tls>;
} // namespace detail
template class basic_server<transport::tls>;
template class basic_client<transport::tls>;
} // namespace wsx

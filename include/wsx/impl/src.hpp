// SPDX-License-Identifier: BSL-1.0
// wsx/impl/src.hpp: the compiled part of wsx, for programs that build with
// WSX_SEPARATE_COMPILATION (as Asio's <asio/impl/src.hpp> is for
// ASIO_SEPARATE_COMPILATION).
//
// With WSX_SEPARATE_COMPILATION defined in every unit of a program, server.hpp,
// connection.hpp and client.hpp declare their ws:// instantiations
// (basic_server, basic_connection, the HTTP session, basic_client) as
// `extern template`: the units that use them no longer generate their code,
// which is most of the time a unit naming a server takes to compile (figures
// in benchmarks/BENCHMARKS.md). Exactly one unit of the program includes this
// header and defines them. CMake: link wsx::compiled, which is that unit and
// defines the macro for its users. wss:// is in <wsx/impl/tls_src.hpp>.
//
// The macros of Asio (ASIO_SEPARATE_COMPILATION, the io_uring ones) must be
// the same in this unit as in the rest of the program, as for any header.
#pragma once

#include <wsx/client.hpp>
#include <wsx/connection.hpp>
#include <wsx/server.hpp>
#include <wsx/transport/plain.hpp>

namespace wsx {
template class basic_connection<transport::plain>;
namespace detail {
template class http_session<transport::plain>;
template class server_state<transport::plain>;
template class client_session<transport::plain>;
template class client_impl<transport::plain>;
} // namespace detail
template class basic_server<transport::plain>;
template class basic_client<transport::plain>;
} // namespace wsx

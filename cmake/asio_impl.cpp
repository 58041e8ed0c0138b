// SPDX-License-Identifier: BSL-1.0
// Compiles Asio's implementation once for wsx's own tests, examples and
// benchmarks (ASIO_SEPARATE_COMPILATION). Not part of the installed library.
#include <asio/impl/src.hpp>

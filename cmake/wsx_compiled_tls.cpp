// SPDX-License-Identifier: BSL-1.0
// wsx::compiled_tls (option WSX_SEPARATE_COMPILATION, with wsx::tls): the
// wss:// instantiations, compiled once.
#include <wsx/impl/tls_src.hpp>

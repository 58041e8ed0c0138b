// SPDX-License-Identifier: BSL-1.0
// wsx::compiled (option WSX_SEPARATE_COMPILATION): the one unit that compiles
// the instantiations every other unit of the program declares extern.
#include <wsx/impl/src.hpp>

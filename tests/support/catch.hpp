// SPDX-License-Identifier: BSL-1.0
#pragma once
// Lets the tests build against Catch2 v2 (Debian) and Catch2 v3 (vcpkg, Conan).
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#else
#include <catch2/catch.hpp>
#endif

// SPDX-License-Identifier: BSL-1.0
#pragma once
// Include this first, before any Asio header, in a test that uses co_await.
//
// Asio 1.22 enables co_await for clang only with the Coroutines TS; clang 14
// has C++20 coroutines and libstdc++ the <coroutine> header, so say so before
// Asio looks (GCC needs nothing: Asio detects its coroutines by itself).
#if defined(__clang__) && defined(__cpp_impl_coroutine) && !defined(ASIO_HAS_CO_AWAIT)
#if __has_include(<coroutine>)
#define ASIO_HAS_CO_AWAIT 1
#define ASIO_HAS_STD_COROUTINE 1
#endif
#endif

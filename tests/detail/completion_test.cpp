// SPDX-License-Identifier: BSL-1.0
// wsx::detail::completion: the client's type-erased completion handler. What
// Asio asks of an operation's handler, and what the header promises: it runs
// once, never inside complete(), on the handler's associated executor (the
// fallback when it has none), with its arguments moved through, and keeps that
// executor's io_context from running out of work until then.
#include "wsx/detail/completion.hpp"

#include "catch.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <asio/async_result.hpp>
#include <asio/bind_executor.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>

using wsx::detail::completion;

TEST_CASE("an empty completion is false and completing it does nothing") {
    completion<std::error_code> c;
    CHECK_FALSE(c);
    c.complete(std::error_code{});  // no handler, no crash
    CHECK_FALSE(c);
}

TEST_CASE("complete() posts: the handler never runs inside it, and runs once") {
    asio::io_context io;
    int calls = 0;
    std::error_code seen;
    completion<std::error_code> c([&](std::error_code ec) {
        ++calls;
        seen = ec;
    }, io.get_executor());
    CHECK(c);

    // Completed from a handler running on the handler's own executor, where a
    // dispatch would run it at once: it must still wait its turn.
    int calls_right_after = -1;
    asio::post(io, [&] {
        c.complete(asio::error::operation_aborted);
        calls_right_after = calls;
        CHECK_FALSE(c);                 // the handler has left the completion
        c.complete(std::error_code{});  // a second complete() finds nothing to post
    });
    io.run();
    CHECK(calls_right_after == 0);  // not inline: Asio forbids that in an initiating function
    CHECK(calls == 1);
    CHECK(seen == asio::error::operation_aborted);
}

TEST_CASE("the handler runs on its associated executor, not on the fallback") {
    asio::io_context fallback, own;
    bool ran = false;
    bool on_own_thread = false;
    completion<int> c(asio::bind_executor(own, [&](int v) {
                          ran = v == 7;
                          on_own_thread = own.get_executor().running_in_this_thread();
                      }),
                      fallback.get_executor());
    c.complete(7);
    fallback.poll();
    CHECK_FALSE(ran);  // nothing was posted to the fallback
    own.run();
    CHECK(ran);
    CHECK(on_own_thread);
}

TEST_CASE("a handler with no executor of its own runs on the fallback") {
    asio::io_context fallback;
    bool on_fallback = false;
    completion<> c([&] { on_fallback = fallback.get_executor().running_in_this_thread(); },
                   fallback.get_executor());
    c.complete();
    fallback.run();
    CHECK(on_fallback);
}

TEST_CASE("a pending completion keeps its io_context from running out of work") {
    asio::io_context io;
    bool ran = false;
    completion<std::error_code> c([&](std::error_code) { ran = true; }, io.get_executor());

    // With outstanding work, poll() finds nothing to run but the context does not stop.
    CHECK(io.poll() == 0);
    CHECK_FALSE(io.stopped());

    c.complete(std::error_code{});
    CHECK(io.poll() == 1);
    CHECK(ran);
    // The work is given back with the post: nothing keeps the context now.
    CHECK(io.poll() == 0);
    CHECK(io.stopped());
}

TEST_CASE("destroying a completion that was never completed gives the work back") {
    asio::io_context io;
    bool ran = false;
    {
        completion<std::error_code> c([&](std::error_code) { ran = true; }, io.get_executor());
        CHECK(io.poll() == 0);
        CHECK_FALSE(io.stopped());
    }
    CHECK(io.run() == 0);  // returns: no work left
    CHECK_FALSE(ran);
}

TEST_CASE("move-only handlers and arguments pass through") {
    asio::io_context io;
    auto owned = std::make_unique<int>(5);
    int sum = 0;
    completion<std::unique_ptr<int>> c(
        [&, mine = std::move(owned)](std::unique_ptr<int> p) { sum = *mine + *p; },
        io.get_executor());
    completion<std::unique_ptr<int>> moved = std::move(c);
    CHECK_FALSE(c);
    CHECK(moved);
    moved.complete(std::make_unique<int>(6));
    io.run();
    CHECK(sum == 11);
}

TEST_CASE("any completion token: a future gets the result through the completion") {
    // What basic_client does: async_initiate hands the token's handler to a completion.
    asio::io_context io;
    completion<std::error_code, std::string> pending;
    std::future<std::string> f = asio::async_initiate<decltype(asio::use_future),
                                                      void(std::error_code, std::string)>(
        [&](auto handler) {
            pending = completion<std::error_code, std::string>(std::move(handler), io.get_executor());
        },
        asio::use_future);
    REQUIRE(pending);
    pending.complete(std::error_code{}, "hello");
    io.run();
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    CHECK(f.get() == "hello");

    std::future<std::string> g = asio::async_initiate<decltype(asio::use_future),
                                                      void(std::error_code, std::string)>(
        [&](auto handler) {
            pending = completion<std::error_code, std::string>(std::move(handler), io.get_executor());
        },
        asio::use_future);
    pending.complete(asio::error::connection_reset, {});
    io.restart();
    io.run();
    CHECK_THROWS_AS(g.get(), std::system_error);
}

// SPDX-License-Identifier: BSL-1.0
// wsx/log.hpp: the line format, the per-category rate limiter (driven by an
// injected clock: no sleeping), the default logger's level filter and
// "suppressed K lines" report, a hook that throws, and the worker's way to
// reach the hook.
#include "wsx/log.hpp"

#include "catch.hpp"

#include <asio/io_context.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "wsx/detail/worker.hpp"

namespace {

using namespace std::chrono_literals;
using wsx::log_level;
using wsx::detail::log_rate_limiter;
using wsx::detail::rate_limited_logger;
using time_point = log_rate_limiter::clock::time_point;

// A logger whose clock the test moves and whose lines it keeps.
struct captured {
    time_point now{};
    std::vector<std::string> lines;
    rate_limited_logger logger;

    explicit captured(unsigned per_second, log_level min = log_level::info)
        : logger(per_second, min, [this] { return now; },
                 [this](std::string_view line) { lines.emplace_back(line); }) {}
};

} // namespace

TEST_CASE("log: levels have names and a line says level, category and message", "[log]") {
    CHECK(wsx::to_string(log_level::debug) == "debug");
    CHECK(wsx::to_string(log_level::info) == "info");
    CHECK(wsx::to_string(log_level::warning) == "warning");
    CHECK(wsx::to_string(log_level::error) == "error");
    CHECK(log_level::debug < log_level::info);
    CHECK(log_level::warning < log_level::error);
    CHECK(wsx::detail::format_log_line(log_level::error, "http", "handler threw: boom") ==
          "wsx error http: handler threw: boom");
}

TEST_CASE("log: the limiter lets N lines per second per category through", "[log]") {
    log_rate_limiter limiter(3);
    const time_point t0{};
    for (int i = 0; i < 3; ++i) {
        const auto v = limiter.admit("accept", t0 + std::chrono::milliseconds(i));
        CHECK(v.write);
        CHECK(v.suppressed == 0);
    }
    // The fourth and fifth in the same second are held back...
    CHECK_FALSE(limiter.admit("accept", t0 + 500ms).write);
    CHECK_FALSE(limiter.admit("accept", t0 + 999ms).write);
    // ...while another category has its own budget.
    CHECK(limiter.admit("tls", t0 + 999ms).write);
    // A second later the next line gets through and carries the count.
    const auto v = limiter.admit("accept", t0 + 1000ms);
    CHECK(v.write);
    CHECK(v.suppressed == 2);
    // The count was handed over once.
    const auto w = limiter.admit("accept", t0 + 1001ms);
    CHECK(w.write);
    CHECK(w.suppressed == 0);
}

TEST_CASE("log: the default logger filters debug, limits and reports what it held back",
          "[log]") {
    captured c(2);
    c.logger(log_level::debug, "tls", "handshake with a peer that left");
    CHECK(c.lines.empty());
    for (int i = 0; i < 10; ++i) c.logger(log_level::error, "accept", "accept failed " + std::to_string(i));
    REQUIRE(c.lines.size() == 2);
    CHECK(c.lines[0] == "wsx error accept: accept failed 0");
    CHECK(c.lines[1] == "wsx error accept: accept failed 1");
    c.now += 1s;
    c.logger(log_level::error, "accept", "accept failed 10");
    REQUIRE(c.lines.size() == 4);
    CHECK(c.lines[2] == "wsx warning accept: suppressed 8 lines");
    CHECK(c.lines[3] == "wsx error accept: accept failed 10");
}

TEST_CASE("log: default_log is safe from several threads", "[log]") {
    // Writes a few lines to stderr; the test is that it neither crashes nor
    // trips a sanitizer (run under TSan).
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([t] {
            for (int i = 0; i < 50; ++i)
                wsx::default_log(log_level::info, "log_test", "thread " + std::to_string(t));
        });
    for (auto& th : threads) th.join();
}

TEST_CASE("log: the worker reaches its hook, and a throwing hook does not escape", "[log]") {
    asio::io_context io;
    wsx::detail::worker w(io, 10ms);
    struct entry {
        log_level level;
        std::string category;
        std::string message;
    };
    std::vector<entry> seen;
    const wsx::log_handler hook = [&](log_level l, std::string_view cat, std::string_view msg) {
        seen.push_back({l, std::string{cat}, std::string{msg}});
    };
    w.set_log(&hook);
    w.log(log_level::error, "websocket", "on_close threw: boom");
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].level == log_level::error);
    CHECK(seen[0].category == "websocket");
    CHECK(seen[0].message == "on_close threw: boom");

    const wsx::log_handler throwing = [](log_level, std::string_view, std::string_view) {
        throw std::runtime_error("the hook failed");
    };
    w.set_log(&throwing);
    CHECK_NOTHROW(w.log(log_level::warning, "log_test", "a line for the default log"));

    // No hook, or an empty one: the default log, no exception.
    w.set_log(nullptr);
    CHECK_NOTHROW(w.log(log_level::info, "log_test", "default"));
    const wsx::log_handler empty;
    w.set_log(&empty);
    CHECK_NOTHROW(w.log(log_level::info, "log_test", "default"));
    CHECK(seen.size() == 1);
}

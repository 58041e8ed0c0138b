// SPDX-License-Identifier: BSL-1.0
#pragma once
// One hook for the failures wsx handles by itself and would otherwise swallow:
// an HTTP handler that throws (answered 500), accept() failing (out of file
// descriptors), a TLS handshake that fails, a backplane that loses Redis, a
// handler exception that nothing else can report. Set it in
// server_options::log / client_options::log; an empty hook means default_log,
// one line on stderr, rate-limited per category.
//
// Categories (what the server and client pass; a hook may match on them):
//   "http"       an HTTP route or on_upgrade handler threw (the client got a 500)
//   "websocket"  a WebSocket handler threw where no connection is left to fail
//                (on_close)
//   "accept"     accepting a connection failed (EMFILE, ENFILE, ENOBUFS...);
//                the server backs off briefly and keeps accepting
//   "tls"        a TLS handshake failed (a plain-text client, an unknown CA...)
//   "backplane"  the Redis backplane's state changes (see backplane/redis.hpp)
//
// Contract for a hook: it may be called from any of the server's I/O threads
// at once (make it thread-safe), it should not block (it runs on an I/O
// thread), and the views are valid only during the call. An exception it
// throws is caught and the line goes to default_log instead.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace wsx {

enum class log_level : std::uint8_t { debug, info, warning, error };

constexpr std::string_view to_string(log_level level) noexcept {
    switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    }
    return "unknown";
}

using log_handler =
    std::function<void(log_level level, std::string_view category, std::string_view message)>;

namespace detail {

// "wsx error http: handler for GET /x threw: boom": the line default_log writes
// (without the newline).
inline std::string format_log_line(log_level level, std::string_view category,
                                   std::string_view message) {
    std::string line;
    line.reserve(16 + category.size() + message.size());
    line += "wsx ";
    line += to_string(level);
    line += ' ';
    line += category;
    line += ": ";
    line += message;
    return line;
}

// At most `per_second` lines per category in each one-second window; what is
// held back is counted and reported with the category's next line that gets
// through ("suppressed K lines"). A flood of identical failures (a port scan
// hitting a TLS port, a descriptor shortage that lasts) then costs a few lines
// a second instead of filling the disk. The caller passes the time, so tests
// drive the windows without sleeping. Not thread-safe: the logger locks.
class log_rate_limiter {
public:
    using clock = std::chrono::steady_clock;

    explicit log_rate_limiter(unsigned per_second = 10) noexcept : per_second_(per_second) {}

    struct verdict {
        bool write = false;          // write this line
        std::uint64_t suppressed = 0; // lines of this category held back before it
    };

    verdict admit(std::string_view category, clock::time_point now) {
        auto it = windows_.find(category);
        if (it == windows_.end()) it = windows_.emplace(std::string{category}, window{now}).first;
        window& w = it->second;
        if (now - w.start >= std::chrono::seconds(1)) {
            w.start = now;
            w.written = 0;
        }
        if (w.written >= per_second_) {
            ++w.suppressed;
            return {};
        }
        ++w.written;
        return {true, std::exchange(w.suppressed, 0)};
    }

private:
    struct window {
        clock::time_point start;
        unsigned written = 0;
        std::uint64_t suppressed = 0;
    };
    unsigned per_second_;
    // Categories are a handful of fixed names: the map stays tiny.
    std::map<std::string, window, std::less<>> windows_;
};

// The default hook's machinery, with its clock and output injectable for
// tests: lines of `min_level` and above, rate-limited, each written whole by
// one call to `sink` under a lock (lines of concurrent threads never mix).
class rate_limited_logger {
public:
    using clock_fn = std::function<log_rate_limiter::clock::time_point()>;
    using sink_fn = std::function<void(std::string_view line)>;

    rate_limited_logger(unsigned per_second, log_level min_level, clock_fn now, sink_fn sink)
        : limiter_(per_second), min_level_(min_level), now_(std::move(now)), sink_(std::move(sink)) {}

    void operator()(log_level level, std::string_view category, std::string_view message) {
        if (level < min_level_) return;
        std::lock_guard lock{mutex_};
        const log_rate_limiter::verdict v = limiter_.admit(category, now_());
        if (!v.write) return;
        if (v.suppressed)
            sink_(format_log_line(log_level::warning, category,
                                  "suppressed " + std::to_string(v.suppressed) + " lines"));
        sink_(format_log_line(level, category, message));
    }

private:
    std::mutex mutex_;
    log_rate_limiter limiter_;
    log_level min_level_;
    clock_fn now_;
    sink_fn sink_;
};

} // namespace detail

// The default hook: info and above, one line each on stderr ("wsx warning tls:
// handshake with 10.0.0.7:51234 failed: wrong version number"), at most 10
// lines per second per category, then one "suppressed K lines" line with the
// category's next line that gets through. Thread-safe. Debug lines are
// dropped: install a hook to see them.
inline void default_log(log_level level, std::string_view category, std::string_view message) {
    static detail::rate_limited_logger logger{
        10, log_level::info, [] { return std::chrono::steady_clock::now(); },
        [](std::string_view line) {
            // One fwrite of the whole line: stderr is unbuffered, so a line
            // written in pieces could interleave with another thread's.
            std::string out{line};
            out += '\n';
            std::fwrite(out.data(), 1, out.size(), stderr);
        }};
    logger(level, category, message);
}

namespace detail {

// Calls `hook` (or default_log when it is empty). A hook that throws must not
// take an I/O thread down: its line goes to default_log.
inline void dispatch_log(const log_handler* hook, log_level level, std::string_view category,
                         std::string_view message) noexcept {
    try {
        if (hook && *hook) return (*hook)(level, category, message);
    } catch (...) {
    }
    try {
        default_log(level, category, message);
    } catch (...) {  // out of memory formatting the line: nothing better to do
    }
}

} // namespace detail

} // namespace wsx

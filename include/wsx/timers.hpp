// SPDX-License-Identifier: BSL-1.0
#pragma once
// Functions a server runs on its I/O thread after a delay or at an interval
// (basic_server::after / every), so a periodic broadcast needs no sleeping
// thread of the application's, and the list of them that stops them all when
// the server stops.
//
// A timer lives on one io_context: its asio::steady_timer is only touched on
// the thread that runs it; cancel() from another thread posts there. What
// keeps a timer alive is its pending wait, not the handle nor the list (they
// hold weak references), so a timer whose io_context is destroyed with it
// pending is freed with it, and nothing forms a cycle with the server.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <wsx/log.hpp>

namespace wsx {

namespace detail {

class timer_entry final : public std::enable_shared_from_this<timer_entry> {
public:
    using clock = std::chrono::steady_clock;

    // `interval` zero: runs once. `log` says what `fn` threw (category "timer").
    timer_entry(asio::io_context& io, clock::duration interval, std::function<void()> fn,
                log_handler log)
        : timer_(io), interval_(interval), fn_(std::move(fn)), log_(std::move(log)) {}

    // Any thread: the first run is `delay` from now.
    void start(clock::duration delay) {
        const clock::time_point at = clock::now() + delay;
        asio::post(timer_.get_executor(), [self = shared_from_this(), at] { self->arm(at); });
    }

    // Any thread. The function does not start again; a run in progress on the
    // I/O thread finishes.
    void cancel() {
        if (cancelled_.exchange(true)) return;
        asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
    }

    bool active() const noexcept { return !cancelled_.load() && !done_.load(); }

private:
    void arm(clock::time_point at) {
        if (cancelled_.load()) return done_.store(true);
        timer_.expires_at(at);
        timer_.async_wait([self = shared_from_this()](std::error_code ec) { self->fired(ec); });
    }

    void fired(std::error_code ec) {
        if (ec || cancelled_.load()) return done_.store(true);
        try {
            fn_();
        } catch (const std::exception& e) {
            dispatch_log(&log_, log_level::error, "timer", std::string{"a timer function threw: "} + e.what());
        } catch (...) {
            dispatch_log(&log_, log_level::error, "timer", "a timer function threw a non-standard exception");
        }
        if (interval_ == clock::duration::zero()) return done_.store(true);
        // On the schedule, without drift; after a stall (a slow function, a
        // busy thread) the missed runs are skipped, not made up in a burst.
        clock::time_point next = timer_.expiry() + interval_;
        if (const clock::time_point now = clock::now(); next <= now) next = now + interval_;
        arm(next);
    }

    asio::steady_timer timer_;
    const clock::duration interval_;
    std::function<void()> fn_;
    log_handler log_;
    std::atomic<bool> cancelled_{false};
    std::atomic<bool> done_{false};
};

} // namespace detail

// What basic_server::after and every return: cancels that timer. Copyable,
// safe from any thread, and it keeps nothing alive: dropping it does not
// cancel the timer (the server's stop() does).
class timer_handle {
public:
    timer_handle() = default;
    explicit timer_handle(std::weak_ptr<detail::timer_entry> e) noexcept : entry_(std::move(e)) {}

    // The function does not start again once this returns (a run in progress
    // on the I/O thread finishes). Any thread, also from the function itself.
    void cancel() const {
        if (auto e = entry_.lock()) e->cancel();
    }
    // True until it is cancelled, has run its one time (after), or its server stopped.
    bool active() const noexcept {
        const auto e = entry_.lock();
        return e && e->active();
    }

private:
    std::weak_ptr<detail::timer_entry> entry_;
};

namespace detail {

// A server's timers: stop() cancels them all and refuses new ones. Any thread.
class timer_set {
public:
    using clock = timer_entry::clock;

    // Runs `fn` on `io`'s thread after `delay`, then every `interval` (zero:
    // once). After stop(), returns an inactive handle and runs nothing.
    timer_handle add(asio::io_context& io, clock::duration delay, clock::duration interval,
                     std::function<void()> fn, const log_handler& log) {
        if (!fn) throw std::invalid_argument("wsx: a timer needs a function");
        if (delay < clock::duration::zero()) delay = clock::duration::zero();
        auto e = std::make_shared<timer_entry>(io, interval, std::move(fn), log);
        {
            std::lock_guard lock(mutex_);
            if (stopped_) return {};
            // Forget the timers that are over, so a server that calls after()
            // for every event does not grow this list.
            std::erase_if(entries_, [](const std::weak_ptr<timer_entry>& w) {
                const auto p = w.lock();
                return !p || !p->active();
            });
            entries_.push_back(e);
        }
        e->start(delay);
        return timer_handle{e};
    }

    // The server stops: no timer function starts after this returns.
    void stop() {
        std::vector<std::weak_ptr<timer_entry>> entries;
        {
            std::lock_guard lock(mutex_);
            stopped_ = true;
            entries.swap(entries_);
        }
        for (const auto& w : entries)
            if (auto e = w.lock()) e->cancel();
    }

    // Timers not yet over (a snapshot).
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        std::size_t n = 0;
        for (const auto& w : entries_)
            if (const auto e = w.lock(); e && e->active()) ++n;
        return n;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::weak_ptr<timer_entry>> entries_;
    bool stopped_ = false;
};

} // namespace detail
} // namespace wsx

// SPDX-License-Identifier: BSL-1.0
#pragma once
// One I/O thread's shared state. Every connection is pinned to one worker, so
// what lives here is used by one thread at a time and needs no lock:
//  - the read buffer all its connections read into (an idle connection keeps
//    no read buffer of its own);
//  - the cork buffer where the frames produced while handling one read are
//    gathered before one write;
//  - the vectors a connection needs only while it writes or takes the frames
//    other threads sent it (an idle connection keeps neither);
//  - one sweep timer that checks every connection's deadlines (handshake, idle,
//    ping, close) instead of one timer object per connection;
//  - the log hook (server_options::log) through which its nodes report what
//    they swallow;
//  - the thread's counters (wsx/metrics.hpp), which only this thread writes.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <wsx/detail/outbox.hpp>
#include <wsx/log.hpp>
#include <wsx/metrics.hpp>

namespace wsx::detail {

class worker;

// A member of a worker's sweep list: connections and HTTP sessions.
class timed_node {
public:
    timed_node() = default;
    timed_node(const timed_node&) = delete;
    timed_node& operator=(const timed_node&) = delete;

    // Called on the worker's thread once per sweep with the current tick.
    // Must not destroy the node synchronously (completions are always posted).
    virtual void on_tick(std::uint32_t now) = 0;
    // The server is stopping: close gracefully (force == false) or now.
    virtual void on_stop(bool force) = 0;

    // The worker this node is pinned to; nullptr once that worker is gone.
    worker* owner() const noexcept { return owner_; }

protected:
    inline ~timed_node();

private:
    friend class worker;
    worker* owner_ = nullptr;
    timed_node* prev_ = nullptr;
    timed_node* next_ = nullptr;
};

class worker {
public:
    // 64 KiB: one read takes what a busy socket has queued (Linux's default
    // receive window is of that order) without being a burden per thread.
    static constexpr std::size_t read_buffer_size = 64 * 1024;

    worker(asio::io_context& context, std::chrono::milliseconds resolution)
        : context_(context), timer_(context),
          resolution_(resolution.count() > 0 ? resolution : std::chrono::milliseconds(1)) {}
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;
    // Handlers still queued in the io_context may outlive the worker (a
    // user-owned io_context, or the destruction order of an owned one): close
    // every node now and detach it, so it never touches a dead worker.
    ~worker() {
        for_each([](timed_node& n) {
            n.owner_ = nullptr;
            n.prev_ = n.next_ = nullptr;
            n.on_stop(true);
        });
        head_ = nullptr;
    }

    asio::io_context& context() noexcept { return context_; }

    // The hook that log() calls; nullptr or an empty function: default_log.
    // The handler must outlive the worker (the server keeps it in its state).
    void set_log(const log_handler* hook) noexcept { log_ = hook; }
    // Reports a failure that its node handles by itself (a handler exception,
    // a failed handshake). Never throws.
    void log(log_level level, std::string_view category, std::string_view message) const noexcept {
        detail::dispatch_log(log_, level, category, message);
    }
    // This thread's counters: written on this thread only, read by a scrape
    // from any thread (basic_server::metrics()).
    thread_metrics& metrics() noexcept { return metrics_; }
    const thread_metrics& metrics() const noexcept { return metrics_; }
    bool running_in_this_thread() const noexcept {
        return context_.get_executor().running_in_this_thread();
    }

    std::span<std::uint8_t> read_buffer() {
        if (!read_buffer_) read_buffer_ = std::make_unique<std::uint8_t[]>(read_buffer_size);
        return {read_buffer_.get(), read_buffer_size};
    }

    // The cork buffer, lent to one connection at a time for one read turn:
    // nullptr while another holds it (a handler that sends to a second
    // connection on this thread), and handed back with return_cork().
    std::string* lend_cork() noexcept { return std::exchange(cork_lent_, true) ? nullptr : &cork_; }
    void return_cork() noexcept { cork_lent_ = false; }

    // Scratch vectors for one connection at a time, within one call that runs
    // no handler: the buffers of one gathered write (a transport's async_write
    // copies them) and the frames taken from a connection's inbox.
    std::vector<asio::const_buffer>& gather_buffers() noexcept { return gather_; }
    std::vector<outgoing_frame>& inbox_frames() noexcept { return inbox_frames_; }

    std::uint32_t now() const noexcept { return tick_; }
    // A duration in sweep ticks, rounded up so a deadline never fires early;
    // zero stays zero (disabled).
    std::uint32_t ticks(std::chrono::milliseconds d) const noexcept {
        if (d.count() <= 0) return 0;
        return static_cast<std::uint32_t>((d.count() + resolution_.count() - 1) /
                                          resolution_.count()) + 1;
    }

    void link(timed_node* node) noexcept {
        node->owner_ = this;
        node->prev_ = nullptr;
        node->next_ = head_;
        if (head_) head_->prev_ = node;
        head_ = node;
        size_.fetch_add(1, std::memory_order_relaxed);
        if (!sweeping_) start_sweep();
    }
    void unlink(timed_node* node) noexcept {
        if (node->prev_) node->prev_->next_ = node->next_;
        else if (head_ == node) head_ = node->next_;
        else return;  // not linked
        if (node->next_) node->next_->prev_ = node->prev_;
        node->prev_ = node->next_ = nullptr;
        node->owner_ = nullptr;
        size_.fetch_sub(1, std::memory_order_relaxed);
    }
    // Safe from any thread (a snapshot).
    std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

    // Server stop: ask every node to close gracefully; the sweep forces the
    // ones still there after `grace`. The worker's io_context runs out of work
    // once the last node is gone.
    void stop(std::chrono::milliseconds grace) {
        stopping_ = true;
        stop_deadline_ = tick_ + ticks(grace);
        for_each([](timed_node& n) { n.on_stop(false); });
    }

    template <class F>
    void for_each(F&& f) {
        for (timed_node* n = head_; n;) {
            timed_node* next = n->next_;
            f(*n);
            n = next;
        }
    }

private:
    // The tick is elapsed time in resolutions, not a count of sweeps: a thread
    // kept busy (or a starved process) sweeps less often, and a deadline must
    // still fire at its time, not a number of late sweeps after it.
    std::uint32_t elapsed_ticks() const noexcept {
        const auto since = std::chrono::steady_clock::now() - epoch_;
        const auto n = static_cast<std::uint32_t>(since / resolution_);
        // Never backwards, and at least one step per sweep.
        return static_cast<std::int32_t>(n - tick_) > 0 ? n : tick_ + 1;
    }

    void start_sweep() {
        sweeping_ = true;
        timer_.expires_after(resolution_);
        // The handler may run after the worker is gone (its io_context is a
        // user's, or outlives it): cancelled by the destructor, or already
        // due when it ran. Then touch nothing.
        timer_.async_wait([this, alive = std::weak_ptr<const char>(alive_)](std::error_code ec) {
            if (alive.expired()) return;
            if (ec) {
                sweeping_ = false;
                return;
            }
            tick_ = elapsed_ticks();
            for_each([this](timed_node& n) { n.on_tick(tick_); });
            if (stopping_ && static_cast<std::int32_t>(tick_ - stop_deadline_) >= 0)
                for_each([](timed_node& n) { n.on_stop(true); });
            // An empty worker lets its io_context run out of work and return.
            if (head_) start_sweep();
            else sweeping_ = false;
        });
    }

    timed_node* head_ = nullptr;
    std::atomic<std::size_t> size_{0};
    asio::io_context& context_;
    // On the io_context's executor: its wait operation, recycled by Asio
    // through the same per-thread cache as connections' waits, stays small.
    asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                               asio::io_context::executor_type>
        timer_;
    std::chrono::milliseconds resolution_;
    std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
    std::uint32_t tick_ = 0;
    std::uint32_t stop_deadline_ = 0;
    bool sweeping_ = false;
    bool stopping_ = false;
    std::unique_ptr<std::uint8_t[]> read_buffer_;
    std::string cork_;
    bool cork_lent_ = false;
    std::vector<asio::const_buffer> gather_;
    std::vector<outgoing_frame> inbox_frames_;
    const log_handler* log_ = nullptr;
    thread_metrics metrics_;
    // Expires with the worker: what its queued sweep handler checks.
    std::shared_ptr<const char> alive_ = std::make_shared<const char>('\0');
};

inline timed_node::~timed_node() {
    if (owner_) owner_->unlink(this);
}

} // namespace wsx::detail

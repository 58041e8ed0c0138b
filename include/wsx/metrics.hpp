// SPDX-License-Identifier: BSL-1.0
#pragma once
// What a server counts, and the snapshot a scrape reads (GET /metrics, see
// wsx/metrics_endpoint.hpp; basic_server::metrics()). Sans-I/O: no socket,
// no Asio.
//
// Counting is per I/O thread: each detail::worker owns one
// detail::thread_metrics, and only that worker's thread writes it, with a
// relaxed load and store (no lock, no atomic read-modify-write, no cache line
// shared with another writer). A scrape, from any thread, reads every
// thread's counters with relaxed loads and adds them up: a snapshot, not a
// transaction (a message counted in while its echo is not yet counted out is
// possible), and every counter only grows.
//
// The message path pays nothing for it: a connection counts its messages and
// bytes as it always has (connection::stats()), and its thread folds the
// difference into the thread's counters at each sweep tick
// (server_options::timer_resolution) and for good when the connection
// closes. So a scrape lags by one tick at most, and a closed connection's
// counts are all in. Opens, closes, refused upgrades, backpressure closes and
// keep-alive pings are counted when they happen.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wsx {

// A code (close code, HTTP status) and how often it was seen.
struct code_count {
    std::uint16_t code = 0;  // 0: the codes that found no row of their own ("other")
    std::uint64_t count = 0;
    bool operator==(const code_count&) const = default;
};

// One WebSocket endpoint (a path given to basic_server::websocket).
struct endpoint_metrics {
    std::string path;
    std::uint64_t accepted = 0;  // upgrades accepted (101 sent)
    std::uint64_t closed = 0;    // of those, finished (on_close has run)
    std::uint64_t open() const noexcept { return accepted >= closed ? accepted - closed : 0; }
};

// The backplane's view, when one is attached to the registry (see
// wsx::cluster_status in wsx/registry.hpp for each field).
struct backplane_metrics {
    std::string instance;
    std::string state;                // one of `states`
    std::vector<std::string> states;  // every state the link can be in
    bool publishing = false;
    std::uint64_t instances = 0;
    std::uint64_t connections = 0;  // cluster-wide
    std::uint64_t published = 0;
    std::uint64_t received = 0;
    std::uint64_t lost = 0;
    std::uint64_t missed = 0;
    std::uint64_t reconnects = 0;
};

// A server's counters summed over its I/O threads. Counters only grow;
// `buffered_bytes` and the endpoints' open() are gauges.
struct server_metrics {
    std::vector<endpoint_metrics> endpoints;    // in path order
    std::vector<code_count> closed_by_code;     // close code seen by on_close (1006: no close frame)
    std::vector<code_count> refused_by_status;  // WebSocket upgrades answered with this HTTP status
    std::uint64_t messages_in = 0;              // complete messages received
    std::uint64_t messages_out = 0;             // messages queued to send
    std::uint64_t bytes_in = 0;                 // payload bytes received
    std::uint64_t bytes_out = 0;                // payload bytes queued to send
    std::uint64_t messages_dropped = 0;         // as connection::stats().dropped: sends refused by
                                                // backpressure_policy::drop, and fragments from other
                                                // threads that failed their check on arrival
    std::uint64_t backpressure_closes = 0;      // connections closed with 1008 by backpressure_policy::close
    std::uint64_t buffered_bytes = 0;           // accepted and not yet written, as of each connection's last turn
    std::uint64_t pings_sent = 0;               // keep-alive pings (idle_timeout / 2 of silence)
    std::uint64_t pings_unanswered = 0;         // of those, followed by nothing until the idle timeout
    std::size_t threads = 0;                    // I/O threads summed
};

namespace detail {

// A counter that one thread writes and any thread reads. The writer adds
// with a relaxed load and store: no read-modify-write, so it costs what an
// ordinary increment costs, and it is exact because nobody else writes.
class owned_counter {
public:
    void add(std::uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(std::uint64_t n) noexcept { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> v_{0};
};

// Counts per code in a fixed table, written by one thread: a code takes the
// first free row the first time it is seen (its code is stored before its
// count, and a reader skips rows whose code is still 0). Codes that find the
// table full are counted together under code 0: the table never allocates
// and never grows, whatever codes a peer sends.
template <std::size_t Rows>
class code_counters {
public:
    void add(std::uint16_t code) noexcept {
        for (std::size_t i = 0; i < Rows; ++i) {
            const std::uint16_t c = codes_[i].load(std::memory_order_relaxed);
            if (c == code) return counts_[i].add();
            if (c == 0) {
                codes_[i].store(code, std::memory_order_release);
                return counts_[i].add();
            }
        }
        other_.add();
    }

    // Adds this table's counts into `out` (any thread; sorted by code, the
    // overflow row, code 0, first).
    void sum_into(std::vector<code_count>& out) const {
        auto bump = [&](std::uint16_t code, std::uint64_t n) {
            auto it = std::lower_bound(out.begin(), out.end(), code,
                                       [](const code_count& a, std::uint16_t c) { return a.code < c; });
            if (it != out.end() && it->code == code) it->count += n;
            else out.insert(it, code_count{code, n});
        };
        for (std::size_t i = 0; i < Rows; ++i) {
            const std::uint16_t c = codes_[i].load(std::memory_order_acquire);
            if (c == 0) break;
            bump(c, counts_[i].get());
        }
        if (const std::uint64_t n = other_.get()) bump(0, n);
    }

private:
    std::array<std::atomic<std::uint16_t>, Rows> codes_{};
    std::array<owned_counter, Rows> counts_{};
    owned_counter other_;
};

// One I/O thread's counters (a member of detail::worker). Every member is
// written by that thread only; sum_into() may run on any thread.
class thread_metrics {
public:
    struct endpoint_counters {
        owned_counter accepted;
        owned_counter closed;
    };

    // Sets the number of endpoints (their rows: a connection's
    // connection_info::endpoint_index). Once, before the thread runs
    // connections: the rows never move after.
    void set_endpoints(std::size_t n) {
        endpoints_ = std::make_unique<endpoint_counters[]>(n);
        endpoint_count_ = n;
    }
    std::size_t endpoint_count() const noexcept { return endpoint_count_; }

    // ---- the owning thread ---------------------------------------------------
    void opened(std::size_t endpoint) noexcept {
        if (endpoint < endpoint_count_) endpoints_[endpoint].accepted.add();
    }
    void closed(std::size_t endpoint, std::uint16_t code) noexcept {
        if (endpoint < endpoint_count_) endpoints_[endpoint].closed.add();
        closed_.add(code);
    }
    void refused(std::uint16_t status) noexcept { refused_.add(status); }

    owned_counter messages_in, messages_out, bytes_in, bytes_out;
    owned_counter messages_dropped, backpressure_closes;
    owned_counter buffered_bytes;  // a gauge: each connection adds and takes back its own share
    owned_counter pings_sent, pings_unanswered;

    // ---- any thread ------------------------------------------------------------
    // Adds this thread's counters to `m`, whose endpoints must have at least
    // endpoint_count() rows.
    void sum_into(server_metrics& m) const {
        for (std::size_t i = 0; i < endpoint_count_ && i < m.endpoints.size(); ++i) {
            m.endpoints[i].accepted += endpoints_[i].accepted.get();
            m.endpoints[i].closed += endpoints_[i].closed.get();
        }
        closed_.sum_into(m.closed_by_code);
        refused_.sum_into(m.refused_by_status);
        m.messages_in += messages_in.get();
        m.messages_out += messages_out.get();
        m.bytes_in += bytes_in.get();
        m.bytes_out += bytes_out.get();
        m.messages_dropped += messages_dropped.get();
        m.backpressure_closes += backpressure_closes.get();
        m.buffered_bytes += buffered_bytes.get();
        m.pings_sent += pings_sent.get();
        m.pings_unanswered += pings_unanswered.get();
        ++m.threads;
    }

private:
    std::unique_ptr<endpoint_counters[]> endpoints_;
    std::size_t endpoint_count_ = 0;
    // Close codes: 1000-1015 and a few application codes fit; a peer cannot
    // grow the table by sending many different codes.
    code_counters<32> closed_;
    // HTTP statuses an upgrade is refused with (400, 401, 403, 404, 426, 500...).
    code_counters<16> refused_;
};

} // namespace detail
} // namespace wsx

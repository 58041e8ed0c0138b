// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::backplane::backoff: how long to wait before the next reconnection
// attempt. Exponential (each failure doubles the base delay, from `initial` up
// to `max`) with jitter: the delay is drawn uniformly from [base/2, base], so
// instances that lost the same server do not all come back in the same
// millisecond, and no delay is ever shorter than half the base (no retry storm).
// Sans-I/O: the caller supplies the random source and does the waiting.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace wsx::backplane {

class backoff {
public:
    using duration = std::chrono::milliseconds;

    backoff(duration initial, duration max) noexcept
        : initial_(std::max(initial, duration{1})), max_(std::max(max, std::max(initial, duration{1}))) {}

    // The delay before the next attempt; each call doubles the base up to max.
    template <class Random>
    duration next(Random& rng) {
        const duration base = base_delay();
        if (failures_ < 62) ++failures_;
        const auto low = static_cast<std::uint64_t>(base.count() / 2);
        const auto high = static_cast<std::uint64_t>(base.count());
        std::uniform_int_distribution<std::uint64_t> pick(low, high);
        return duration{static_cast<duration::rep>(pick(rng))};
    }

    // After a success: the next failure starts again from `initial`.
    void reset() noexcept { failures_ = 0; }

    // Failures since the last reset (the attempt number of the next retry).
    unsigned failures() const noexcept { return failures_; }

    // The base (before jitter) of the next delay: initial * 2^failures, capped.
    duration base_delay() const noexcept {
        duration d = initial_;
        for (unsigned i = 0; i < failures_ && d < max_; ++i) d *= 2;
        return std::min(d, max_);
    }

    duration initial() const noexcept { return initial_; }
    duration max() const noexcept { return max_; }

private:
    duration initial_;
    duration max_;
    unsigned failures_ = 0;
};

} // namespace wsx::backplane

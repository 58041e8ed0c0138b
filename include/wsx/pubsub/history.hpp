// SPDX-License-Identifier: BSL-1.0
#pragma once
// The history of one topic, and the resume decision, sans-I/O: time is passed
// in, nothing is sent. wsx/pubsub/topics.hpp keeps one history per topic.
//
// Offsets start at 1 and grow by exactly 1 per append. The history holds the
// newest messages only, bounded by count and by age; what falls out can no
// longer be replayed, and a client that asks for it is told so
// (recovered:false), never silently skipped.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

#include <wsx/pubsub/protocol.hpp>

namespace wsx::pubsub {

// Defaults: a client that reconnects after a network change or a redeploy
// is back within seconds to a minute; 5 minutes covers that with margin. 1,000
// messages bound the memory of a busy topic (about 250 KB at 250 bytes a
// message) and a replay (one burst the client must absorb). Raise max_messages
// for fast topics whose clients may be away longer; a zero bound is no bound.
struct history_limits {
    std::size_t max_messages = 1000;
    std::chrono::milliseconds max_age = std::chrono::minutes(5);
};

// What a subscribe with `since` gets, given the topic's newest position and
// the oldest offset its history still holds.
struct resume_plan {
    bool recovered = false;
    std::uint64_t replay_from = 0;  // first offset to send again (when recovered)
    std::uint64_t replay_to = 0;    // last one; replay_from > replay_to: nothing to send
};

// The rule, in one place: recovered only when `since` is in the topic's
// current epoch, not ahead of it, and every offset after it is still held.
// `oldest_held` is newest.offset + 1 when the history is empty.
inline resume_plan plan_resume(const position& since, const position& newest, std::uint64_t oldest_held) noexcept {
    if (since.epoch != newest.epoch || since.offset > newest.offset) return {};
    if (since.offset == newest.offset) return {true, newest.offset + 1, newest.offset};
    if (since.offset + 1 < oldest_held) return {};  // a gap: those messages are gone
    return {true, since.offset + 1, newest.offset};
}

// The newest messages of one topic, T being what is kept of each (the
// encoded frame, for instance). Not thread-safe: the owner locks.
template <class T>
class topic_history {
public:
    using clock = std::chrono::steady_clock;

    explicit topic_history(history_limits limits = {}) : limits_(limits) {}

    // Appends `value` as the next offset (returned), then applies the bounds.
    std::uint64_t append(T value, clock::time_point now) {
        entries_.push_back(entry{++newest_, now, std::move(value)});
        trim(now);
        return newest_;
    }

    // Drops what is over the count or older than max_age at `now`.
    void trim(clock::time_point now) {
        if (limits_.max_messages != 0)
            while (entries_.size() > limits_.max_messages) entries_.pop_front();
        if (limits_.max_age.count() > 0)
            while (!entries_.empty() && now - entries_.front().at > limits_.max_age) entries_.pop_front();
    }

    // The newest offset ever assigned (0 before the first append), held or not.
    std::uint64_t newest() const noexcept { return newest_; }
    // The oldest offset held; newest() + 1 when nothing is held.
    std::uint64_t oldest_held() const noexcept {
        return entries_.empty() ? newest_ + 1 : entries_.front().offset;
    }
    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }

    // Calls f(offset, const T&) for each held message with from <= offset <= to, in order.
    template <class F>
    void for_each(std::uint64_t from, std::uint64_t to, F&& f) const {
        if (entries_.empty() || from > to) return;
        const std::uint64_t first = entries_.front().offset;
        std::size_t i = from > first ? static_cast<std::size_t>(from - first) : 0;
        for (; i < entries_.size() && entries_[i].offset <= to; ++i) f(entries_[i].offset, entries_[i].value);
    }

private:
    struct entry {
        std::uint64_t offset;
        clock::time_point at;
        T value;
    };
    history_limits limits_;
    std::deque<entry> entries_;
    std::uint64_t newest_ = 0;
};

} // namespace wsx::pubsub

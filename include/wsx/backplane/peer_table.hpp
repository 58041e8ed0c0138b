// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::backplane::peer_table: what an instance knows about the other instances
// of its cluster, from the envelopes it receives. Sans-I/O: the caller passes
// the time.
//
//  - Sequence gaps: each origin numbers its envelopes 1, 2, 3... on one
//    channel, which the broker delivers in order, so a jump from n to n+k means
//    k-1 envelopes never reached us (our subscription was down, or the broker
//    dropped them): they are counted as missed. A number that does not grow
//    means the origin started over (an instance restarted with the same id):
//    the count restarts, nothing is counted.
//  - Liveness: a peer is alive while it was heard from within the alive window
//    (three heartbeat intervals); its last heartbeat says how many connections
//    it has, which gives the cluster-wide count.
//  - Memory: an origin not heard from within the forget window is dropped
//    (restarted instances take new ids, so the table would otherwise grow).
//    The forget window is long so that a subscriber that comes back after an
//    outage still knows where each peer's sequence was, and counts the gap.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace wsx::backplane {

class peer_table {
public:
    using clock = std::chrono::steady_clock;

    peer_table(clock::duration alive_window, clock::duration forget_window) noexcept
        : alive_window_(alive_window), forget_window_(forget_window < alive_window ? alive_window : forget_window) {}

    // Records envelope `sequence` of `origin`, heard at `now`. Returns how many
    // envelopes of that origin were missed just before it.
    std::uint64_t on_envelope(std::string_view origin, std::uint64_t sequence, clock::time_point now) {
        auto [it, fresh] = peers_.try_emplace(std::string{origin});
        peer& p = it->second;
        std::uint64_t missed = 0;
        if (!fresh && sequence > p.last_sequence) missed = sequence - p.last_sequence - 1;
        p.last_sequence = sequence;
        p.last_seen = now;
        return missed;
    }

    // Records a heartbeat (after on_envelope for it): `origin` has `connections`.
    void on_heartbeat(std::string_view origin, std::uint64_t connections, clock::time_point now) {
        peer& p = peers_[std::string{origin}];
        p.connections = connections;
        p.has_count = true;
        p.last_seen = now;
    }

    // Drops the origins not heard from within the forget window.
    void expire(clock::time_point now) {
        for (auto it = peers_.begin(); it != peers_.end();) {
            if (now - it->second.last_seen > forget_window_) it = peers_.erase(it);
            else ++it;
        }
    }

    // Peers heard from within the alive window.
    std::size_t alive(clock::time_point now) const noexcept {
        std::size_t n = 0;
        for (const auto& [origin, p] : peers_)
            if (is_alive(p, now)) ++n;
        return n;
    }

    // The connections of the alive peers, by their last heartbeat.
    std::uint64_t connections(clock::time_point now) const noexcept {
        std::uint64_t n = 0;
        for (const auto& [origin, p] : peers_)
            if (is_alive(p, now) && p.has_count) n += p.connections;
        return n;
    }

    // Origins remembered (alive or not yet forgotten).
    std::size_t known() const noexcept { return peers_.size(); }

private:
    struct peer {
        std::uint64_t last_sequence = 0;
        std::uint64_t connections = 0;
        bool has_count = false;
        clock::time_point last_seen{};
    };

    bool is_alive(const peer& p, clock::time_point now) const noexcept { return now - p.last_seen <= alive_window_; }

    clock::duration alive_window_;
    clock::duration forget_window_;
    std::unordered_map<std::string, peer> peers_;
};

} // namespace wsx::backplane

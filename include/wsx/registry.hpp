#pragma once
// wsx::registry — the live connections of one or more endpoints: lookup by id,
// sends to one connection, to a user, to a group, or to everyone.
//
// Thread-safety: every member is safe from any thread. Sends never run with
// the registry's lock held, so a handler may use the registry freely.
// Broadcasts encode the frame once (wsx::prepared_message) and hand each I/O
// thread one batch: the payload is never copied per client, and a connection
// on the calling thread is written to at once.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#include <wsx/connection.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/prepared_message.hpp>

namespace wsx {

// A snapshot of one registered connection, for listings (the REST hook).
struct connection_summary {
    std::string id;
    std::string remote;  // "address:port"
    std::string path;
    std::string user;
    std::chrono::system_clock::time_point connected_at;
    connection_stats stats;
    std::size_t buffered_bytes = 0;
    std::vector<std::string> groups;
};

class registry {
public:
    registry() = default;
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    // Wraps an endpoint so its connections join this registry when they open
    // (before the endpoint's on_open) and leave when they close (before its
    // on_close).
    endpoint track(endpoint ep) {
        auto open = std::move(ep.on_open);
        ep.on_open = [this, open = std::move(open)](connection& c) {
            add(c);
            if (open) open(c);
        };
        auto close = std::move(ep.on_close);
        ep.on_close = [this, close = std::move(close)](connection& c, close_code code,
                                                         std::string_view reason) {
            remove(c);
            if (close) close(c, code, reason);
        };
        return ep;
    }

    void add(connection& c) {
        entry e{c.shared_from_this(), std::chrono::system_clock::now(), {}};
        std::unique_lock lock(mutex_);
        const std::string id{c.id()};
        if (!c.user().empty()) users_[c.user()].insert(id);
        entries_.insert_or_assign(id, std::move(e));
    }

    // Removes the connection (it stays open; use close() to end it).
    void remove(connection& c) { remove(c.id()); }
    void remove(std::string_view id) {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        if (it == entries_.end()) return;
        for (const auto& g : it->second.groups) erase_member(groups_, g, it->first);
        const std::string& user = it->second.conn->user();
        if (!user.empty()) erase_member(users_, user, it->first);
        entries_.erase(it);
    }

    std::size_t count() const {
        std::shared_lock lock(mutex_);
        return entries_.size();
    }

    std::vector<std::string> ids() const {
        std::shared_lock lock(mutex_);
        std::vector<std::string> out;
        out.reserve(entries_.size());
        for (const auto& [id, e] : entries_) out.push_back(id);
        return out;
    }

    // The connection, or nullptr. The pointer keeps the object alive, not open.
    std::shared_ptr<connection> find(std::string_view id) const {
        std::shared_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        return it == entries_.end() ? nullptr : it->second.conn;
    }

    std::optional<connection_summary> summary(std::string_view id) const {
        std::shared_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        if (it == entries_.end()) return std::nullopt;
        return summarize(it->first, it->second);
    }

    // Every registered connection, oldest first.
    std::vector<connection_summary> summaries() const {
        std::vector<connection_summary> out;
        {
            std::shared_lock lock(mutex_);
            out.reserve(entries_.size());
            for (const auto& [id, e] : entries_) out.push_back(summarize(id, e));
        }
        std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
            return a.connected_at < b.connected_at;
        });
        return out;
    }

    // ---- sending --------------------------------------------------------------
    // True when the message was queued: false for an unknown id, or a closing or
    // closed connection (which is then removed).
    bool send_to(std::string_view id, std::string_view text) {
        return send_to(id, prepared_message::text(text));
    }
    bool send_to(std::string_view id, const prepared_message& m) {
        auto c = find(id);
        if (!c) return false;
        if (!c->is_open()) {
            remove(id);
            return false;
        }
        return c->send(m);
    }

    // Returns the number of recipients: open connections the message was
    // handed to (a recipient may still drop it under backpressure_policy::drop).
    std::size_t broadcast(std::string_view text) { return broadcast(prepared_message::text(text)); }
    std::size_t broadcast(const prepared_message& m) { return deliver(snapshot_all({}), m); }

    std::size_t broadcast_except(std::string_view except_id, std::string_view text) {
        return broadcast_except(except_id, prepared_message::text(text));
    }
    std::size_t broadcast_except(std::string_view except_id, const prepared_message& m) {
        return deliver(snapshot_all(except_id), m);
    }

    // All connections whose upgrade hook set upgrade_context::user to `user`.
    std::size_t send_to_user(std::string_view user, std::string_view text) {
        return send_to_user(user, prepared_message::text(text));
    }
    std::size_t send_to_user(std::string_view user, const prepared_message& m) {
        return deliver(snapshot_set(users_, user), m);
    }

    // ---- groups (topics) --------------------------------------------------------
    // False for an unknown id.
    bool join(std::string_view id, std::string_view group) {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        if (it == entries_.end()) return false;
        it->second.groups.insert(std::string{group});
        groups_[std::string{group}].insert(it->first);
        return true;
    }
    bool join(connection& c, std::string_view group) { return join(c.id(), group); }

    bool leave(std::string_view id, std::string_view group) {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        if (it == entries_.end() || !it->second.groups.erase(std::string{group})) return false;
        erase_member(groups_, std::string{group}, it->first);
        return true;
    }
    bool leave(connection& c, std::string_view group) { return leave(c.id(), group); }

    std::size_t publish(std::string_view group, std::string_view text) {
        return publish(group, prepared_message::text(text));
    }
    std::size_t publish(std::string_view group, const prepared_message& m) {
        return deliver(snapshot_set(groups_, group), m);
    }

    std::size_t group_size(std::string_view group) const {
        std::shared_lock lock(mutex_);
        auto it = groups_.find(std::string{group});
        return it == groups_.end() ? 0 : it->second.size();
    }

    // Closes every registered connection (they leave as they finish).
    void close_all(close_code code = close_code::going_away, std::string_view reason = {}) {
        for (auto& c : snapshot_all({})) c->close(code, reason);
    }

private:
    struct entry {
        std::shared_ptr<connection> conn;
        std::chrono::system_clock::time_point connected_at;
        std::unordered_set<std::string> groups;
    };
    using member_map = std::unordered_map<std::string, std::unordered_set<std::string>>;

    static void erase_member(member_map& map, const std::string& key, const std::string& id) {
        auto it = map.find(key);
        if (it == map.end()) return;
        it->second.erase(id);
        if (it->second.empty()) map.erase(it);
    }

    static connection_summary summarize(const std::string& id, const entry& e) {
        connection_summary s;
        s.id = id;
        const auto& ep = e.conn->remote_endpoint();
        s.remote = ep.address().is_v6() ? "[" + ep.address().to_string() + "]:" + std::to_string(ep.port())
                                        : ep.address().to_string() + ":" + std::to_string(ep.port());
        s.path = e.conn->path();
        s.user = e.conn->user();
        s.connected_at = e.connected_at;
        s.stats = e.conn->stats();
        s.buffered_bytes = e.conn->buffered_amount();
        s.groups.assign(e.groups.begin(), e.groups.end());
        std::sort(s.groups.begin(), s.groups.end());
        return s;
    }

    std::vector<std::shared_ptr<connection>> snapshot_all(std::string_view except) const {
        std::vector<std::shared_ptr<connection>> out;
        std::shared_lock lock(mutex_);
        out.reserve(entries_.size());
        for (const auto& [id, e] : entries_)
            if (id != except) out.push_back(e.conn);
        return out;
    }

    std::vector<std::shared_ptr<connection>> snapshot_set(const member_map& map,
                                                          std::string_view key) const {
        std::vector<std::shared_ptr<connection>> out;
        std::shared_lock lock(mutex_);
        auto it = map.find(std::string{key});
        if (it == map.end()) return out;
        out.reserve(it->second.size());
        for (const auto& id : it->second)
            if (auto e = entries_.find(id); e != entries_.end()) out.push_back(e->second.conn);
        return out;
    }

    // Hands the frame to each connection on its own thread: one batch per
    // I/O thread rather than one posted handler per connection.
    std::size_t deliver(std::vector<std::shared_ptr<connection>> targets, const prepared_message& m) {
        if (!m.valid_text()) return 0;
        std::size_t recipients = 0;
        std::vector<std::string> dead;
        std::sort(targets.begin(), targets.end(), [](const auto& a, const auto& b) {
            return &a->get_executor().context() < &b->get_executor().context();
        });
        auto begin = targets.begin();
        while (begin != targets.end()) {
            auto* ctx = &(*begin)->get_executor().context();
            auto end = std::find_if(begin, targets.end(), [ctx](const auto& c) {
                return &c->get_executor().context() != ctx;
            });
            std::vector<std::shared_ptr<connection>> batch;
            for (auto it = begin; it != end; ++it) {
                if ((*it)->is_open()) {
                    ++recipients;
                    batch.push_back(std::move(*it));
                } else {
                    dead.emplace_back((*it)->id());
                }
            }
            if (!batch.empty()) {
                if (batch.front()->get_executor().running_in_this_thread()) {
                    for (auto& c : batch) c->deliver(m);
                } else {
                    auto ex = batch.front()->get_executor();
                    asio::post(ex, [batch = std::move(batch), m] {
                        for (auto& c : batch) c->deliver(m);
                    });
                }
            }
            begin = end;
        }
        for (const auto& id : dead) remove(id);
        return recipients;
    }

    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    member_map users_;
    member_map groups_;
};

} // namespace wsx

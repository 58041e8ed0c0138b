// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::registry — the live connections of one or more endpoints: lookup by id,
// sends to one connection, to a user, to a group, or to everyone.
//
// Thread-safety: every member is safe from any thread. No handler runs with
// a registry lock held (a broadcast walks a thread's list under that list's
// lock, but a send only admits and queues), so a handler may use the registry
// freely.
// Broadcasts encode the frame once (wsx::prepared_message): the payload is
// never copied per client. Each recipient takes or refuses it in the caller's
// thread (its max_buffered_bytes), and one posted drain per I/O thread writes
// what waits in the recipients' inboxes; never a write inside the caller.
//
// Fan-out is sharded by I/O thread: the registry keeps, besides its map of
// ids, one list of connections per io_context, under that list's own lock. A
// broadcast walks each list in place (no snapshot of N shared_ptrs, no sort):
// the caller's own thread's share is queued inline, and each other thread's
// is admitted here and drained by one posted task for that thread.
//
// Scale-out: with a cluster_link attached (a backplane such as
// wsx/backplane/redis.hpp), every send also reaches the matching connections
// of the other instances of the cluster. The return values keep counting this
// instance's recipients only; send() also says whether the message was
// forwarded. The registry knows the link only through the small interface
// below, so it includes nothing of any backplane.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <wsx/connection.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/prepared_message.hpp>

namespace wsx {

// Which connections a send is for.
enum class send_scope : std::uint8_t {
    all,         // every connection
    all_except,  // every connection but the one whose id is the target
    group,       // the members of the group named by the target
    connection,  // the connection whose id is the target
    user,        // every connection of the user named by the target
};

enum class cluster_state : std::uint8_t {
    connecting,  // not connected yet, no failure so far
    connected,   // messages flow both ways
    down,        // a connection failed or was lost; retrying (sends are counted lost)
    stopped,
};

constexpr std::string_view to_string(cluster_state s) noexcept {
    switch (s) {
    case cluster_state::connecting: return "connecting";
    case cluster_state::connected: return "connected";
    case cluster_state::down: return "down";
    case cluster_state::stopped: return "stopped";
    }
    return "unknown";
}

// What a cluster link reports about the cluster (the REST hook shows it).
struct cluster_status {
    std::string instance;           // this instance's id in the cluster
    cluster_state state = cluster_state::connecting;
    bool publishing = false;        // sends are forwarded now (the publisher is up); "down"
                                    // can mean only the subscriber is, while sends still leave
    std::size_t instances = 1;      // instances heard from recently, this one included
    std::uint64_t connections = 0;  // on those instances (others: as of their last heartbeat)
    std::uint64_t published = 0;    // messages forwarded and confirmed by the broker
    std::uint64_t received = 0;     // messages received from other instances
    std::uint64_t lost = 0;         // messages forwarded but not confirmed: the link was down,
                                    // its queue full, or the connection dropped before the broker
                                    // acknowledged them
    std::uint64_t missed = 0;       // messages of other instances that never arrived (gaps)
    std::uint64_t reconnects = 0;   // connections re-established after a failure
    std::string last_error;         // empty until something failed
};

// The registry's side of a backplane: how sends reach the other instances.
// Implementations are thread-safe: the registry calls them from any thread,
// never with its lock held. Messages coming from other instances go back in
// through registry::deliver_local, which never forwards.
class cluster_link {
public:
    virtual ~cluster_link() = default;
    // Sends `m` to the `scope` / `target` connections of the other instances.
    // False when the link could not take it (down, or its queue full): the
    // link counts it lost, and it reached this instance only.
    virtual bool forward(send_scope scope, std::string_view target, const prepared_message& m) = 0;
    virtual cluster_status status() const = 0;
};

// What one send to many did. Each recipient takes or refuses the message in
// the caller's thread (connection::send's rules: closing, backpressure), so
// these counts are final when the call returns.
struct fanout_result {
    std::size_t local = 0;    // connections of this instance that queued the message
    std::size_t refused = 0;  // connections of this instance that refused it
    bool forwarded = false;   // handed to the cluster link, for the other instances
};

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
    std::string protocol;  // "http/1.1", or "h2" for a stream of an HTTP/2 connection
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
        auto [it, fresh] = entries_.try_emplace(id);
        if (!fresh) leave_shard(it->second);  // added again: one place in the lists
        it->second = std::move(e);
        join_shard(it->second);
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
        leave_shard(it->second);
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
    // Every send goes to this instance's matching connections and, with a
    // cluster link attached, to the other instances' (see send()). Return
    // values count this instance's recipients only.

    // True when the message was queued here: false for an id that is not
    // local, or a closing or closed connection (which is then removed). With a
    // cluster link, an id that is not local is forwarded to the other
    // instances (send() says whether it was); a local id never is.
    bool send_to(std::string_view id, std::string_view text) {
        return send_to(id, prepared_message::text(text));
    }
    bool send_to(std::string_view id, const prepared_message& m) {
        return send(send_scope::connection, id, m).local != 0;
    }

    // Returns the number of recipients that queued the message; send() also
    // counts those that refused it (closing, or over their backpressure limit).
    std::size_t broadcast(std::string_view text) { return broadcast(prepared_message::text(text)); }
    std::size_t broadcast(const prepared_message& m) { return send(send_scope::all, {}, m).local; }

    std::size_t broadcast_except(std::string_view except_id, std::string_view text) {
        return broadcast_except(except_id, prepared_message::text(text));
    }
    std::size_t broadcast_except(std::string_view except_id, const prepared_message& m) {
        return send(send_scope::all_except, except_id, m).local;
    }

    // All connections whose upgrade hook set upgrade_context::user to `user`.
    std::size_t send_to_user(std::string_view user, std::string_view text) {
        return send_to_user(user, prepared_message::text(text));
    }
    std::size_t send_to_user(std::string_view user, const prepared_message& m) {
        return send(send_scope::user, user, m).local;
    }

    // The general send, which the ones above use. `target` is the excepted id,
    // the group, the connection id or the user, as `scope` says (ignored for
    // send_scope::all). Text that is not UTF-8 goes nowhere. A message for a
    // local connection id is not forwarded; any other is, when a link is attached.
    fanout_result send(send_scope scope, std::string_view target, const prepared_message& m) {
        if (!m.valid_text()) return {};
        if (scope == send_scope::connection) {
            auto [c, link] = find_with_link(target);
            if (c) return one(send_local(std::move(c), target, m));
            return {.forwarded = link && link->forward(scope, target, m)};
        }
        // Forwarded first: the other instances' clients need not wait for the
        // local fan-out.
        const auto link = cluster();
        const bool forwarded = link && link->forward(scope, target, m);
        fanout_result r = deliver_local(scope, target, m);
        r.forwarded = forwarded;
        return r;
    }

    // For backplanes: delivers a message from another instance to this
    // instance's matching connections, and never forwards it.
    fanout_result deliver_local(send_scope scope, std::string_view target, const prepared_message& m) {
        switch (scope) {
        case send_scope::all: return deliver_all(nullptr, m);
        case send_scope::all_except: {
            const auto except = find(target);  // compared by address in the walk
            return deliver_all(except ? except.get() : nullptr, m);
        }
        case send_scope::group: return deliver(snapshot_set(groups_, target), m);
        case send_scope::user: return deliver(snapshot_set(users_, target), m);
        case send_scope::connection: {
            auto c = find(target);  // connection::send refuses text that is not UTF-8
            return c ? one(send_local(std::move(c), target, m)) : fanout_result{};
        }
        }
        return {};
    }

    // ---- cluster ----------------------------------------------------------------
    // Makes every send also go through `link` (replacing any link attached).
    // The backplane does this when it starts.
    void attach(std::shared_ptr<cluster_link> link) {
        std::unique_lock lock(mutex_);
        link_ = std::move(link);
    }
    // Detaches `link` if it is the one attached (any link when nullptr), so a
    // backplane that stops cannot detach its successor.
    void detach(const cluster_link* link = nullptr) {
        std::shared_ptr<cluster_link> old;  // released after the lock
        std::unique_lock lock(mutex_);
        if (!link || link_.get() == link) old = std::move(link_);
    }
    // The attached link, or nullptr.
    std::shared_ptr<cluster_link> cluster() const {
        std::shared_lock lock(mutex_);
        return link_;
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
        return send(send_scope::group, group, m).local;
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
    struct shard;
    struct entry {
        std::shared_ptr<connection> conn;
        std::chrono::system_clock::time_point connected_at;
        std::unordered_set<std::string> groups;
        // Its place in its I/O thread's list: written under mutex_ (unique)
        // and that shard's lock (unique).
        shard* home = nullptr;
        std::size_t slot = 0;
    };
    // One I/O thread's (io_context's) registered connections. The entry owns
    // the connection (its shared_ptr), and leaves the list before it is
    // erased, so a pointer read under the shard's lock is alive.
    struct member {
        connection* conn;
        entry* owner;  // entries_ is node-based: the address is stable
    };
    struct shard {
        explicit shard(const asio::io_context* c) noexcept : context(c) {}
        const asio::io_context* context;  // identity only: posts use a member's executor
        std::shared_mutex mutex;          // taken after mutex_, never the other way
        std::vector<member> members;
    };
    using member_map = std::unordered_map<std::string, std::unordered_set<std::string>>;

    std::pair<std::shared_ptr<connection>, std::shared_ptr<cluster_link>> find_with_link(std::string_view id) const {
        std::shared_lock lock(mutex_);
        auto it = entries_.find(std::string{id});
        return {it == entries_.end() ? nullptr : it->second.conn, link_};
    }

    send_result send_local(std::shared_ptr<connection> c, std::string_view id, const prepared_message& m) {
        if (!c->is_open()) {
            remove(id);
            return send_status::not_open;
        }
        return c->send(m);
    }

    // Under mutex_ (unique).
    void join_shard(entry& e) {
        const asio::io_context* ctx = &e.conn->get_executor().context();
        auto it = std::find_if(shards_.begin(), shards_.end(),
                               [ctx](const auto& s) { return s->context == ctx; });
        if (it == shards_.end()) it = shards_.insert(shards_.end(), std::make_shared<shard>(ctx));
        shard& s = **it;
        std::unique_lock lock(s.mutex);
        e.home = &s;
        e.slot = s.members.size();
        s.members.push_back({e.conn.get(), &e});
    }
    // Under mutex_ (unique). Swaps the last member into the hole; an empty
    // list is dropped (a broadcast walking it holds its own reference).
    void leave_shard(entry& e) {
        shard* s = std::exchange(e.home, nullptr);
        if (!s) return;
        {
            std::unique_lock lock(s->mutex);
            auto& v = s->members;
            if (e.slot + 1 != v.size()) {
                v[e.slot] = v.back();
                v[e.slot].owner->slot = e.slot;
            }
            v.pop_back();
            if (!v.empty()) return;
        }
        std::erase_if(shards_, [s](const auto& p) { return p.get() == s; });
    }

    // Every registered connection but `except`, shard by shard. The other
    // threads' shares first, so their drains start while this thread queues
    // its own; each recipient is admitted here (connection::offer), and one
    // task per thread drains and flushes those that need it.
    fanout_result deliver_all(const connection* except, const prepared_message& m) {
        fanout_result r;
        if (!m.valid_text()) return r;
        std::vector<std::shared_ptr<shard>> shards;
        {
            std::shared_lock lock(mutex_);
            shards = shards_;
        }
        std::vector<std::string> dead;
        shard* own = nullptr;
        for (const auto& s : shards)
            if (!deliver_shard(*s, except, m, r, dead, true)) own = s.get();
        if (own) deliver_shard(*own, except, m, r, dead, false);
        for (const auto& id : dead) remove(id);
        return r;
    }

    // False, having done nothing, when `defer_own` and the caller runs on
    // the shard's thread.
    bool deliver_shard(shard& s, const connection* except, const prepared_message& m,
                       fanout_result& r, std::vector<std::string>& dead, bool defer_own) {
        drain_list drains;
        std::optional<connection::executor_type> ex;
        {
            std::shared_lock lock(s.mutex);
            if (s.members.empty()) return true;
            if (defer_own && s.members.front().conn->get_executor().running_in_this_thread())
                return false;
            drains = take_spare_drains();
            // offer() runs no handler and never calls back into the registry.
            for (const member& x : s.members) {
                if (x.conn == except) continue;
                offer_one(*x.conn, m, r, dead, drains);
                // One that needs a drain: most of the list will (the first
                // broadcast of a burst), so room for all at once, not by doubling.
                if (drains.size() == 1 && drains.capacity() < s.members.size()) drains.reserve(s.members.size());
            }
            if (!drains.empty()) ex.emplace(s.members.front().conn->get_executor());
        }
        if (ex) post_drains(*ex, std::move(drains));
        else give_back_drains(std::move(drains));
        return true;
    }

    using drain_list = std::vector<std::shared_ptr<connection>>;
    // The list of a fan-out's connections to drain comes from this thread's
    // spare, which the last drain that ran here gave back: a broadcast to N
    // connections on the thread that drains them allocates room for N once,
    // not once per broadcast (an allocation of 16 B x N, out of malloc's
    // fast bins). One list per thread, kept up to max_spare_drains entries.
    static constexpr std::size_t max_spare_drains = std::size_t{1} << 16;
    static drain_list& spare_drains() noexcept {
        static thread_local drain_list spare;
        return spare;
    }
    static drain_list take_spare_drains() noexcept { return std::exchange(spare_drains(), {}); }
    static void give_back_drains(drain_list&& v) noexcept {
        drain_list& spare = spare_drains();
        if (v.capacity() <= spare.capacity() || v.capacity() > max_spare_drains) return;
        v.clear();
        spare = std::move(v);
    }

    // One recipient of a fan-out: a closed one is refused and noted for removal.
    static void offer_one(connection& c, const prepared_message& m, fanout_result& r,
                          std::vector<std::string>& dead, drain_list& drains) {
        if (!c.is_open()) {
            dead.emplace_back(c.id());
            ++r.refused;
            return;
        }
        if (c.offer(m, &drains)) ++r.local;
        else ++r.refused;
    }

    // The recipients on one I/O thread that need a flush: one post to that thread.
    static void post_drains(const connection::executor_type& ex, drain_list&& drains) {
        asio::post(ex, [drains = std::move(drains)]() mutable {
            for (const auto& c : drains) c->drain_and_flush();
            give_back_drains(std::move(drains));  // the references go here, on this thread
        });
    }

    static fanout_result one(send_result r) noexcept {
        return r ? fanout_result{.local = 1} : fanout_result{.refused = 1};
    }

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
        s.protocol = e.conn->protocol();
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

    // Hands the message to each connection, charged against its limit here,
    // in the caller's thread. This thread's connections queue it at once;
    // another I/O thread's find it in their inbox, and one posted handler per
    // thread drains the inboxes that were empty (not one post per connection,
    // nor one per message in a burst).
    fanout_result deliver(std::vector<std::shared_ptr<connection>> targets, const prepared_message& m) {
        fanout_result r;
        if (!m.valid_text()) return r;
        std::vector<std::string> dead;
        const auto by_context = [](const auto& a, const auto& b) {
            return &a->get_executor().context() < &b->get_executor().context();
        };
        // With one I/O thread (or a snapshot already grouped) one pass instead of a sort.
        if (!std::is_sorted(targets.begin(), targets.end(), by_context))
            std::sort(targets.begin(), targets.end(), by_context);
        auto begin = targets.begin();
        while (begin != targets.end()) {
            auto* ctx = &(*begin)->get_executor().context();
            auto end = std::find_if(begin, targets.end(), [ctx](const auto& c) {
                return &c->get_executor().context() != ctx;
            });
            drain_list drains = take_spare_drains();
            for (auto it = begin; it != end; ++it) offer_one(**it, m, r, dead, drains);
            if (!drains.empty()) post_drains((*begin)->get_executor(), std::move(drains));
            else give_back_drains(std::move(drains));
            begin = end;
        }
        for (const auto& id : dead) remove(id);
        return r;
    }

    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    member_map users_;
    member_map groups_;
    std::shared_ptr<cluster_link> link_;
    std::vector<std::shared_ptr<shard>> shards_;  // one per io_context with members
};

} // namespace wsx

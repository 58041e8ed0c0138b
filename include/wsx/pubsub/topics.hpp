// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::pubsub::topics — resumable topics over a registry: each publish gets
// the topic's next offset and is kept in the topic's history, so a client that
// drops and comes back resumes from the last offset it saw, exactly once and
// in order (wsx.pubsub.v1, see wsx/pubsub/protocol.hpp).
//
//     wsx::registry reg;
//     wsx::pubsub::topics topics(reg);
//     server.websocket("/pubsub", wsx::endpoints::pubsub(topics));
//     auto p = topics.publish("orders", R"({"id":42})");  // p.epoch, p.offset
//
// Why a class of its own rather than registry::publish: registry::publish
// sends any text to a group and returns how many took it; a resumable publish
// must assign an offset, encode the protocol's message around the data, and
// keep it, and its answer is a position. The registry stays the fan-out (a
// topic's subscribers are the members of the registry group of the same name,
// so the REST hook lists them), and this class owns what the registry has no
// business knowing: offsets, epochs, history.
//
// Thread-safety: every member is safe from any thread. One lock per topic
// orders its publishes and subscribes: a subscriber gets the replay, then
// "subscribed", then every later message, with no gap and no duplicate, even
// while publishes run on other threads. Sends never block (each connection's
// backpressure policy decides); a subscriber too slow to take a message drops
// it under backpressure_policy::drop, so prefer policy close for feeds: the
// client then reconnects and resumes without a gap.
//
// A replay is queued at once and counts against the connection's
// max_buffered_bytes (16 MiB by default): keep history.max_messages times the
// message size well under it, or a resuming client is closed by backpressure.
//
// Epochs: each topic gets a random epoch when it is created in this process.
// History lives in memory, so a restart starts new epochs: clients that
// resume across it get recovered:false, never offsets reused for other data.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <wsx/connection.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/protocol/utf8.hpp>
#include <wsx/pubsub/history.hpp>
#include <wsx/pubsub/protocol.hpp>
#include <wsx/registry.hpp>

namespace wsx::pubsub {

struct topics_options {
    history_limits history{};
};

// What publish() did: the message's position, and how many local
// subscribers took it.
struct publish_result {
    position pos;
    std::size_t delivered = 0;
};

// What subscribe() did. `recovered` is empty for a subscribe without since.
struct subscribe_result {
    position newest;
    std::optional<bool> recovered;
    std::size_t replayed = 0;
    bool pending = false;  // a store answers later
};

// One topic, for listings (GET /api/topics).
struct topic_info {
    std::string name;
    position newest;
    std::size_t held = 0;         // messages in the history
    std::uint64_t oldest_held = 0;
    std::size_t subscribers = 0;  // connections of this instance
};

// Where offsets and history live when they are shared by several instances
// (wsx/backplane/redis_topics.hpp keeps them in Redis). Attached to a topics,
// it takes over publish, subscribe and the listings; it delivers live
// messages to this instance's subscribers itself, through the registry.
// Implementations are thread-safe.
class topic_store {
public:
    virtual ~topic_store() = default;
    // Assigns the next offset and keeps the message, for every instance.
    // Blocks until the store answered; throws std::runtime_error when it
    // cannot (the message may or may not have been stored: what() says).
    virtual position publish(std::string_view topic, std::string_view json) = 0;
    // As topics::subscribe, but the replay arrives later (the store reads
    // it): the answers go to `c` in the same order, or an error message.
    virtual void subscribe(connection& c, std::string_view topic, const std::optional<position>& since) = 0;
    virtual void unsubscribe(connection& c, std::string_view topic) = 0;
    // Connections subscribed to `topic` on every instance (presence).
    virtual std::size_t subscribers(std::string_view topic) const = 0;
    virtual std::optional<position> newest(std::string_view topic) const = 0;
    virtual std::vector<topic_info> list() const = 0;
};

class topics {
public:
    explicit topics(registry& reg, topics_options options = {}) : reg_(reg), options_(options) {}
    topics(const topics&) = delete;
    topics& operator=(const topics&) = delete;

    registry& get_registry() const noexcept { return reg_; }

    // Publishes `json` (one JSON value: an object, a string, a number...) to
    // `topic`: assigns the next offset, keeps it in the history and sends
    // {"op":"message",...} to the topic's subscribers. Throws
    // std::invalid_argument when `json` is not JSON or the topic is empty or
    // not UTF-8.
    publish_result publish(std::string_view topic, std::string_view json) {
        if (topic.empty() || !protocol::is_valid_utf8(topic))
            throw std::invalid_argument("wsx::pubsub::topics::publish: the topic is empty or not UTF-8");
        if (!is_json(json))
            throw std::invalid_argument("wsx::pubsub::topics::publish: data is not one JSON value");
        return publish_valid(topic, json);
    }

    // publish() for data already known to be JSON (parsed from a request).
    // With a store attached, the store assigns the offset (a round trip,
    // during which this blocks) and `delivered` is 0: the store delivers.
    publish_result publish_valid(std::string_view topic, std::string_view json) {
        if (const auto s = store()) return {s->publish(topic, json), 0};
        auto [t, lock] = lock_live(topic);
        const auto now = topic_history<prepared_message>::clock::now();
        position p{t->epoch, t->history.newest() + 1};
        auto m = prepared_message::text(message_json(topic, p, json));
        t->history.append(m, now);
        // Under the topic's lock: a subscriber joining now either got this in
        // its replay or gets it here, never both, never neither.
        const auto r = reg_.deliver_local(send_scope::group, topic, m);
        return {std::move(p), r.local};
    }

    // Subscribes `c` (registered in the registry) to `topic`. With `since`:
    // replays every held message after it, then sends subscribed with
    // recovered:true; or, when the history cannot fill the gap or the epoch is
    // not the topic's, sends recovered:false and replays nothing. Then live
    // messages follow. Meant for the connection's own thread (its handler).
    // With a store attached the answers come later: the result is empty
    // (`pending` is true).
    subscribe_result subscribe(connection& c, std::string_view topic, const std::optional<position>& since) {
        if (const auto s = store()) {
            s->subscribe(c, topic, since);
            subscribe_result later;
            later.pending = true;
            return later;
        }
        auto [t, lock] = lock_live(topic);
        t->history.trim(topic_history<prepared_message>::clock::now());
        subscribe_result out;
        out.newest = position{t->epoch, t->history.newest()};
        if (since) {
            const resume_plan plan = plan_resume(*since, out.newest, t->history.oldest_held());
            out.recovered = plan.recovered;
            if (plan.recovered)
                t->history.for_each(plan.replay_from, plan.replay_to, [&](std::uint64_t, const prepared_message& m) {
                    c.send(m);
                    ++out.replayed;
                });
        }
        c.send(prepared_message::text(subscribed_json(topic, out.newest, out.recovered)));
        reg_.join(c, topic);
        return out;
    }

    // False when `c` was not subscribed.
    bool unsubscribe(connection& c, std::string_view topic) {
        if (const auto s = store()) s->unsubscribe(c, topic);
        const bool was = reg_.leave(c, topic);
        forget_if_unused(topic);
        return was;
    }

    // Drops a topic that has no subscriber here and nothing held any more, so
    // names nobody uses do not accumulate; publishing to it again starts a
    // new epoch. The endpoint calls it when a subscriber leaves.
    void forget_if_unused(std::string_view topic) {
        std::unique_lock lock(mutex_);
        auto it = topics_.find(topic);
        if (it == topics_.end()) return;
        const auto t = it->second;  // keeps the topic alive until after its lock is released
        std::lock_guard topic_lock(t->mutex);
        t->history.trim(topic_history<prepared_message>::clock::now());
        if (t->history.empty() && reg_.group_size(topic) == 0) {
            t->forgotten = true;
            topics_.erase(it);
        }
    }

    // Connections of this instance subscribed to `topic` (presence).
    // With a store attached: on every instance (as of their last report).
    std::size_t subscribers(std::string_view topic) const {
        if (const auto s = store()) return s->subscribers(topic);
        return reg_.group_size(topic);
    }

    // The topic's newest position, or nullopt for a topic not known here.
    std::optional<position> newest(std::string_view topic) const {
        if (const auto s = store()) return s->newest(topic);
        const auto t = find(topic);
        if (!t) return std::nullopt;
        std::lock_guard lock(t->mutex);
        return position{t->epoch, t->history.newest()};
    }

    // Every topic known here, by name.
    std::vector<topic_info> list() const {
        if (const auto s = store()) return s->list();
        std::vector<std::pair<std::string, std::shared_ptr<topic>>> all;
        {
            std::shared_lock lock(mutex_);
            all.assign(topics_.begin(), topics_.end());
        }
        std::vector<topic_info> out;
        out.reserve(all.size());
        const auto now = topic_history<prepared_message>::clock::now();
        for (auto& [name, t] : all) {
            topic_info i;
            i.name = name;
            {
                std::lock_guard lock(t->mutex);
                t->history.trim(now);
                i.newest = position{t->epoch, t->history.newest()};
                i.held = t->history.size();
                i.oldest_held = t->history.oldest_held();
            }
            i.subscribers = reg_.group_size(name);
            out.push_back(std::move(i));
        }
        return out;
    }

    // ---- a shared store ----------------------------------------------------------
    // Makes `s` hold offsets and history from now on (the in-memory history
    // is no longer used). The store does this when it starts.
    void attach(std::shared_ptr<topic_store> s) {
        std::unique_lock lock(mutex_);
        store_ = std::move(s);
    }
    // Detaches `s` if it is the one attached (any store when nullptr).
    void detach(const topic_store* s = nullptr) {
        std::shared_ptr<topic_store> old;  // released after the lock
        std::unique_lock lock(mutex_);
        if (!s || store_.get() == s) old = std::move(store_);
    }
    std::shared_ptr<topic_store> store() const {
        std::shared_lock lock(mutex_);
        return store_;
    }

private:
    struct topic {
        explicit topic(history_limits limits) : epoch(new_epoch()), history(limits) {}
        std::mutex mutex;
        const std::string epoch;
        topic_history<prepared_message> history;
        bool forgotten = false;  // erased from the map: whoever still holds it looks again
    };

    // The topic (created when new) with its lock held.
    std::pair<std::shared_ptr<topic>, std::unique_lock<std::mutex>> lock_live(std::string_view name) {
        for (;;) {
            auto t = get_or_create(name);
            std::unique_lock lock(t->mutex);
            if (!t->forgotten) return {std::move(t), std::move(lock)};
        }
    }

    // 64 random bits, hex: unique enough that a restarted process never
    // meets its predecessor's epoch.
    static std::string new_epoch() {
        unsigned char bytes[8];
        wsx::detail::fill_random(bytes, sizeof bytes);
        static constexpr char hex[] = "0123456789abcdef";
        std::string out;
        for (unsigned char b : bytes) {
            out.push_back(hex[b >> 4]);
            out.push_back(hex[b & 0xf]);
        }
        return out;
    }

    std::shared_ptr<topic> find(std::string_view name) const {
        std::shared_lock lock(mutex_);
        auto it = topics_.find(name);
        return it == topics_.end() ? nullptr : it->second;
    }

    std::shared_ptr<topic> get_or_create(std::string_view name) {
        if (auto t = find(name)) return t;
        std::unique_lock lock(mutex_);
        auto [it, inserted] = topics_.try_emplace(std::string{name}, nullptr);
        if (inserted) it->second = std::make_shared<topic>(options_.history);
        return it->second;
    }

    registry& reg_;
    const topics_options options_;
    mutable std::shared_mutex mutex_;  // guards topics_ (the map, not the topics)
    std::map<std::string, std::shared_ptr<topic>, std::less<>> topics_;
    std::shared_ptr<topic_store> store_;
};

} // namespace wsx::pubsub

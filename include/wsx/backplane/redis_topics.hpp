// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::backplane::redis_topics — the offsets and history of resumable topics
// (wsx/pubsub/topics.hpp) in Redis, so a client resumes on any instance:
//
//     wsx::registry reg;
//     wsx::pubsub::topics topics(reg);
//     auto store = wsx::backplane::redis_topics::start(topics, {.host = "10.0.0.5"});
//     // ... serve; store->stop() (or its destructor) before topics goes away
//
// In Redis (keys under options.prefix, "wsx:pubsub:" by default):
//   t:{topic}:meta   a hash: epoch, seq (the newest offset)
//   t:{topic}        a stream, one entry per message: id "{offset}-0", fields
//                    t (publish time, ms) and m (the protocol's message JSON),
//                    trimmed to history.max_messages
//   topics           the set of topic names
//   presence:{id}    per instance: topic -> local subscribers (expires when the
//                    instance stops reporting)
//   instances        the set of instance ids
// A publish is one Lua script: it reads (or makes) the epoch, increments seq,
// appends to the stream and PUBLISHes the message on options.prefix + "live",
// all atomically, so every instance sees a topic's messages in offset order
// and no offset is ever assigned twice. The epoch and seq live in one hash:
// when Redis loses it (a restart without persistence, an eviction) the next
// script makes a new epoch and empties the stream, so a client resuming
// across it gets recovered:false, never other messages under old offsets.
// Messages older than history.max_age are not replayed (they count as gone).
//
// Delivery: each instance receives every message on its subscriber
// connection and hands it to its local subscribers (registry group = topic). A
// subscribe is answered after a read of the stream and a "sync" marker the
// instance publishes on the live channel after it: when the marker comes back,
// every message the read saw has reached this instance too. Live messages that
// arrive meanwhile wait for it, so the client gets replay, "subscribed", then
// live, with no gap and no duplicate. When the subscriber connection to Redis is
// lost, live messages may have been missed: the instance closes its pubsub
// clients with 1012 (service restart), and they resume, without a gap, once
// Redis is back (or learn recovered:false if Redis lost the history).
//
// Threads: the store runs two threads of its own with blocking hiredis
// connections: one for commands (publish, subscribe reads, listings, the
// presence report every presence_interval) and one for the subscriber.
// publish() blocks its caller for one round trip. Every member is safe from
// any thread.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include <wsx/backplane/resp.hpp>
#include <wsx/connection.hpp>
#include <wsx/detail/json.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/pubsub/history.hpp>
#include <wsx/pubsub/protocol.hpp>
#include <wsx/pubsub/topics.hpp>
#include <wsx/registry.hpp>

namespace wsx::backplane {

struct redis_topics_options {
    std::string host = "127.0.0.1";  // an address or a name
    std::uint16_t port = 6379;
    std::string password{};          // empty: no AUTH
    std::string prefix = "wsx:pubsub:";
    pubsub::history_limits history{};
    // The longest a command may take (connect, or an answer) before it fails.
    std::chrono::milliseconds timeout{2000};
    // How often this instance reports its subscribers per topic; a report
    // lives three intervals.
    std::chrono::milliseconds presence_interval{1000};
    // Delay before reconnecting after a failure.
    std::chrono::milliseconds retry_delay{200};
};

namespace detail {

struct redis_context_deleter {
    void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using redis_context_ptr = std::unique_ptr<redisContext, redis_context_deleter>;

inline timeval to_timeval(std::chrono::milliseconds d) {
    return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

// A command; nullptr when the connection broke (then c->err says why).
inline resp::reply_ptr command(redisContext* c, std::initializer_list<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return resp::reply_ptr(
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

inline std::uint64_t to_u64(std::string_view s) {
    std::uint64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
}

inline std::uint64_t integer_of(const redisReply* r) {
    if (!r) return 0;
    if (r->type == REDIS_REPLY_INTEGER) return static_cast<std::uint64_t>(r->integer);
    return to_u64(resp::text(r));
}

// Reads (or makes) the epoch, then returns {epoch, seq[, entries after ARGV[3]]}.
inline constexpr std::string_view ensure_lua = R"lua(
local meta, stream = KEYS[1], KEYS[2]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', stream)
  redis.call('HSET', meta, 'epoch', epoch, 'seq', 0)
  redis.call('SADD', KEYS[3], ARGV[4])
end
)lua";

inline constexpr std::string_view publish_lua = R"lua(
local n = redis.call('HINCRBY', meta, 'seq', 1)
local msg = ARGV[5] .. epoch .. '","offset":' .. n .. ',"data":' .. ARGV[2] .. '}'
redis.call('XADD', stream, 'MAXLEN', ARGV[3], n .. '-0', 't', ARGV[6], 'm', msg)
redis.call('PUBLISH', ARGV[7], n .. ' ' .. #epoch .. ' ' .. epoch .. ' ' .. #ARGV[4] .. ' ' .. ARGV[4] .. msg)
return {epoch, n}
)lua";

inline constexpr std::string_view resume_lua = R"lua(
local n = tonumber(redis.call('HGET', meta, 'seq'))
if ARGV[2] ~= epoch or tonumber(ARGV[3]) >= n then return {epoch, n} end
return {epoch, n, redis.call('XRANGE', stream, (tonumber(ARGV[3]) + 1) .. '-0', '+')}
)lua";

inline constexpr std::string_view presence_lua = R"lua(
local total = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[1], id)
  else total = total + tonumber(redis.call('HGET', key, ARGV[2]) or '0') end
end
return total
)lua";

// One notification on the live channel: "{offset} {len} {epoch} {len} {topic}{message JSON}".
struct live_message {
    std::uint64_t offset = 0;
    std::string_view epoch, topic, json;
};

inline bool parse_live(std::string_view s, live_message& out) {
    auto number = [&s](std::uint64_t& v) {
        const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc{} || p == s.data() + s.size() || *p != ' ') return false;
        s.remove_prefix(static_cast<std::size_t>(p - s.data()) + 1);
        return true;
    };
    auto field = [&](std::string_view& f, bool space) {
        std::uint64_t len = 0;
        if (!number(len) || len + (space ? 1 : 0) > s.size()) return false;
        f = s.substr(0, len);
        s.remove_prefix(len + (space ? 1 : 0));
        return true;
    };
    if (!number(out.offset) || !field(out.epoch, true) || !field(out.topic, false)) return false;
    out.json = s;
    return !s.empty();
}

} // namespace detail

class redis_topics final : public pubsub::topic_store, public std::enable_shared_from_this<redis_topics> {
public:
    // Connects, subscribes to the live channel (waiting up to options.timeout
    // for it), attaches to `t` and returns. Redis being down is no error: the
    // store keeps retrying, and answers errors meanwhile.
    static std::shared_ptr<redis_topics> start(pubsub::topics& t, redis_topics_options options = {}) {
        auto self = std::shared_ptr<redis_topics>(new redis_topics(t, std::move(options)));
        self->subscriber_ = std::thread([self_raw = self.get()] { self_raw->subscriber_loop(); });
        self->commands_ = std::thread([self_raw = self.get()] { self_raw->command_loop(); });
        {
            std::unique_lock lock(self->mutex_);
            self->cv_.wait_for(lock, self->options_.timeout, [&] { return self->live_.load(); });
        }
        t.attach(self);
        return self;
    }

    // Ends the threads; call stop() first while the topics is alive (the
    // destructor does not touch it, so it may run as the topics goes away).
    ~redis_topics() override { shutdown(); }
    redis_topics(const redis_topics&) = delete;
    redis_topics& operator=(const redis_topics&) = delete;

    // Detaches from the topics and ends both threads. Safe to call twice.
    void stop() {
        topics_.detach(this);
        shutdown();
    }

private:
    void shutdown() {
        {
            std::lock_guard lock(mutex_);
            if (stopping_ && !subscriber_.joinable() && !commands_.joinable()) return;
            stopping_ = true;
            if (sub_fd_ >= 0) ::shutdown(sub_fd_, SHUT_RDWR);  // unblocks the subscriber's read
        }
        cv_.notify_all();
        if (subscriber_.joinable()) subscriber_.join();
        if (commands_.joinable()) commands_.join();
        std::deque<job> left;
        {
            std::lock_guard lock(mutex_);
            left.swap(jobs_);
        }
        for (auto& j : left) j(nullptr, "the topic store stopped");
    }

public:

    const std::string& instance_id() const noexcept { return instance_; }
    // True while the subscriber connection is up (live messages flow).
    bool live() const noexcept { return live_.load(); }

    // ---- pubsub::topic_store ---------------------------------------------------------
    pubsub::position publish(std::string_view topic, std::string_view json) override {
        auto done = std::make_shared<std::promise<pubsub::position>>();
        auto result = done->get_future();
        std::string head = R"({"op":"message","topic":)";
        wsx::detail::append_json_string(head, topic);
        head += R"(,"epoch":")";
        run([this, done, topic = std::string{topic}, json = std::string{json}, head = std::move(head)](
                redisContext* c, const std::string& error) {
            if (!c) return done->set_exception(std::make_exception_ptr(std::runtime_error(error)));
            const std::string max = std::to_string(options_.history.max_messages ? options_.history.max_messages
                                                                                 : std::uint64_t{1} << 62);
            const std::string script = std::string{detail::ensure_lua} + std::string{detail::publish_lua};
            auto r = detail::command(c, {"EVAL", script, "3", meta_key(topic), stream_key(topic),
                                         options_.prefix + "topics", new_epoch(), json, max, topic, head,
                                         std::to_string(now_ms()), live_channel()});
            if (!r) return done->set_exception(std::make_exception_ptr(std::runtime_error(lost(c))));
            if (!resp::is_array(r.get(), 2))
                return done->set_exception(std::make_exception_ptr(
                    std::runtime_error("Redis refused the publish: " + std::string{resp::text(r.get())})));
            done->set_value({std::string{resp::text(r->element[0])}, detail::integer_of(r->element[1])});
        });
        if (result.wait_for(options_.timeout * 2) != std::future_status::ready)
            throw std::runtime_error("Redis did not answer in time; the message may or may not be published");
        return result.get();
    }

    void subscribe(connection& c, std::string_view topic, const std::optional<pubsub::position>& since) override {
        if (!live_.load()) {
            c.send(prepared_message::text(pubsub::error_json(topic, "the topic store (Redis) is unavailable; retry")));
            return;
        }
        const std::uint64_t id = ++next_catchup_;
        {
            std::lock_guard lock(deliver_mutex_);
            catching_[std::string{topic}].push_back(catchup{id, c.shared_from_this(), since});
        }
        run([this, id, topic = std::string{topic}, since](redisContext* rc, const std::string& error) {
            std::string why = error;
            resp::reply_ptr r;
            if (rc) {
                const std::string script = std::string{detail::ensure_lua} + std::string{detail::resume_lua};
                r = detail::command(rc, {"EVAL", script, "3", meta_key(topic), stream_key(topic),
                                         options_.prefix + "topics", new_epoch(), since ? since->epoch : "",
                                         since ? std::to_string(since->offset) : "0", topic});
                if (!r) {
                    why = lost(rc);
                } else if (!resp::is_array(r.get(), 2)) {
                    why = "Redis refused: " + std::string{resp::text(r.get())};
                    r.reset();
                }
            }
            if (!r) return finish_subscribe(id, topic, nullptr, why);
            // Messages up to the newest offset the read saw may still be on
            // their way to this instance's subscriber connection: answering
            // now would let them arrive again as live ones after the replay.
            // Redis delivers a channel's messages in publish order, so once
            // this marker comes back, every message the read saw has come
            // too (and waits in the catchup's live list, filtered by offset).
            if (!keep_read(id, topic, std::move(r))) return;
            const std::string marker = "sync " + instance_ + " " + std::to_string(id) + " " + topic;
            if (!detail::command(rc, {"PUBLISH", live_channel(), marker}))
                finish_subscribe(id, topic, nullptr, lost(rc));
        });
    }

    void unsubscribe(connection& c, std::string_view topic) override {
        std::lock_guard lock(deliver_mutex_);
        auto it = catching_.find(topic);
        if (it == catching_.end()) return;
        std::erase_if(it->second, [&](const catchup& k) { return k.conn.get() == &c; });
        if (it->second.empty()) catching_.erase(it);
    }

    std::size_t subscribers(std::string_view topic) const override {
        report_presence_now();
        return static_cast<std::size_t>(call_blocking<std::uint64_t>([&](redisContext* c) -> std::uint64_t {
            auto r = detail::command(c, {"EVAL", detail::presence_lua, "1", options_.prefix + "instances",
                                         options_.prefix + "presence:", topic});
            return r ? detail::integer_of(r.get()) : 0;
        }).value_or(topics_.get_registry().group_size(topic)));
    }

    std::optional<pubsub::position> newest(std::string_view topic) const override {
        return call_blocking<std::optional<pubsub::position>>([&](redisContext* c) -> std::optional<pubsub::position> {
            auto r = detail::command(c, {"HMGET", meta_key(topic), "epoch", "seq"});
            if (!resp::is_array(r.get(), 2) || r->element[0]->type == REDIS_REPLY_NIL) return std::nullopt;
            return pubsub::position{std::string{resp::text(r->element[0])}, detail::integer_of(r->element[1])};
        }).value_or(std::nullopt);
    }

    std::vector<pubsub::topic_info> list() const override {
        report_presence_now();
        return call_blocking<std::vector<pubsub::topic_info>>([&](redisContext* c) {
            std::vector<pubsub::topic_info> out;
            auto names = detail::command(c, {"SMEMBERS", options_.prefix + "topics"});
            if (!resp::is_array(names.get())) return out;
            for (std::size_t i = 0; i < names->elements; ++i) {
                pubsub::topic_info t;
                t.name = resp::text(names->element[i]);
                auto meta = detail::command(c, {"HMGET", meta_key(t.name), "epoch", "seq"});
                if (!resp::is_array(meta.get(), 2) || meta->element[0]->type == REDIS_REPLY_NIL) continue;
                t.newest = {std::string{resp::text(meta->element[0])}, detail::integer_of(meta->element[1])};
                auto len = detail::command(c, {"XLEN", stream_key(t.name)});
                t.held = static_cast<std::size_t>(detail::integer_of(len.get()));
                auto first = detail::command(c, {"XRANGE", stream_key(t.name), "-", "+", "COUNT", "1"});
                t.oldest_held = t.newest.offset + 1;
                if (resp::is_array(first.get(), 1) && resp::is_array(first->element[0], 1))
                    t.oldest_held = detail::to_u64(resp::text(first->element[0]->element[0]));
                auto sum = detail::command(c, {"EVAL", detail::presence_lua, "1", options_.prefix + "instances",
                                               options_.prefix + "presence:", t.name});
                t.subscribers = static_cast<std::size_t>(detail::integer_of(sum.get()));
                out.push_back(std::move(t));
            }
            std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
            return out;
        }).value_or(std::vector<pubsub::topic_info>{});
    }

private:
    using job = std::function<void(redisContext*, const std::string& error)>;

    // A subscribe waiting for its read: live messages for it wait here.
    struct catchup {
        std::uint64_t id;
        std::shared_ptr<connection> conn;
        std::optional<pubsub::position> since;
        resp::reply_ptr read{};  // the resume script's answer, kept until the sync marker returns
        std::vector<std::pair<std::uint64_t, prepared_message>> live{};  // offsets and messages, in order
        std::string live_epoch{};
    };

    redis_topics(pubsub::topics& t, redis_topics_options options)
        : topics_(t), options_(std::move(options)), instance_(new_epoch()) {}

    std::string meta_key(std::string_view topic) const { return options_.prefix + "t:" + std::string{topic} + ":meta"; }
    std::string stream_key(std::string_view topic) const { return options_.prefix + "t:" + std::string{topic}; }
    std::string live_channel() const { return options_.prefix + "live"; }

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

    static std::uint64_t now_ms() {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    }

    static std::string lost(redisContext* c) {
        return std::string{"connection to Redis lost: "} + (c->errstr[0] ? c->errstr : "unknown error");
    }

    // ---- the command thread ---------------------------------------------------------
    void run(job j) const {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                j(nullptr, "the topic store stopped");
                return;
            }
            jobs_.push_back(std::move(j));
        }
        cv_.notify_all();
    }

    // Runs `f(context)` on the command thread and waits for its value;
    // nullopt when Redis is unavailable or did not answer in time.
    template <class T, class F>
    std::optional<T> call_blocking(F&& f) const {
        auto done = std::make_shared<std::promise<std::optional<T>>>();
        auto result = done->get_future();
        run([done, &f](redisContext* c, const std::string&) {
            if (!c) return done->set_value(std::nullopt);
            done->set_value(f(c));
        });
        // f lives on this frame: wait for the job, however long it takes.
        result.wait();
        return result.get();
    }

    detail::redis_context_ptr connect() const {
        redisContext* raw = redisConnectWithTimeout(options_.host.c_str(), options_.port, detail::to_timeval(options_.timeout));
        detail::redis_context_ptr c(raw);
        if (!c || c->err) return nullptr;
        redisSetTimeout(c.get(), detail::to_timeval(options_.timeout));
        if (!options_.password.empty()) {
            auto r = detail::command(c.get(), {"AUTH", options_.password});
            if (!r || r->type == REDIS_REPLY_ERROR) return nullptr;
        }
        return c;
    }

    void command_loop() {
        detail::redis_context_ptr c;
        std::uint64_t generation = 0;  // of the subscriber connection when c was made
        auto next_report = std::chrono::steady_clock::now();
        for (;;) {
            job j;
            bool report = false;
            {
                std::unique_lock lock(mutex_);
                cv_.wait_until(lock, next_report, [&] { return stopping_ || !jobs_.empty() || report_now_; });
                if (stopping_) return;
                if (!jobs_.empty()) {
                    j = std::move(jobs_.front());
                    jobs_.pop_front();
                }
                report = report_now_ || std::chrono::steady_clock::now() >= next_report;
                report_now_ = false;
            }
            // The subscriber reconnected since c was made: Redis may have
            // restarted, and c would fail the next command. Start afresh.
            if (c && generation != sub_generation_.load()) c.reset();
            if (!c) {
                generation = sub_generation_.load();
                c = connect();
            }
            // Presence first: a listing queued behind it counts this instance's newest figures.
            if (report) {
                if (c) report_presence(c.get());
                if (c && c->err) c.reset();
                next_report = std::chrono::steady_clock::now() + options_.presence_interval;
            }
            if (j) j(c.get(), "Redis at " + options_.host + ":" + std::to_string(options_.port) + " is unavailable");
            if (c && c->err) c.reset();
            if (!c && !j) {
                std::unique_lock lock(mutex_);
                cv_.wait_for(lock, options_.retry_delay, [&] { return stopping_; });
            }
        }
    }

    // Asks the command thread to report presence before the next job it takes
    // (a listing then counts the newest local figures).
    void report_presence_now() const {
        {
            std::lock_guard lock(mutex_);
            report_now_ = true;
        }
        cv_.notify_all();
    }

    void report_presence(redisContext* c) {
        std::vector<std::string> names;
        {
            std::lock_guard lock(deliver_mutex_);
            for (const auto& [name, members] : members_) names.push_back(name);
        }
        const std::string key = options_.prefix + "presence:" + instance_;
        auto r = detail::command(c, {"DEL", key});
        if (!r) return;
        for (const auto& name : names) {
            const std::size_t n = topics_.get_registry().group_size(name);
            if (n == 0) {
                std::lock_guard lock(deliver_mutex_);
                members_.erase(name);
                continue;
            }
            if (!detail::command(c, {"HSET", key, name, std::to_string(n)})) return;
        }
        const auto ttl = std::to_string(3 * options_.presence_interval.count());
        if (!detail::command(c, {"PEXPIRE", key, ttl})) return;
        detail::command(c, {"SADD", options_.prefix + "instances", instance_});
    }

    // ---- answering a subscribe ----------------------------------------------------------
    catchup* find_catchup(std::string_view topic, std::uint64_t id) {
        auto it = catching_.find(topic);
        if (it == catching_.end()) return nullptr;  // unsubscribed meanwhile, or the subscriber was lost
        auto k = std::find_if(it->second.begin(), it->second.end(), [id](const catchup& x) { return x.id == id; });
        return k == it->second.end() ? nullptr : &*k;
    }

    // Keeps the read until the sync marker comes back; false when the
    // subscribe is gone meanwhile.
    bool keep_read(std::uint64_t id, std::string_view topic, resp::reply_ptr r) {
        std::lock_guard lock(deliver_mutex_);
        catchup* k = find_catchup(topic, id);
        if (!k) return false;
        k->read = std::move(r);
        return true;
    }

    // The subscriber connection brought back one of our sync markers.
    void on_sync(std::string_view rest) {
        const auto space = rest.find(' ');
        if (space == std::string_view::npos || rest.substr(0, space) != instance_) return;
        rest.remove_prefix(space + 1);
        std::uint64_t id = 0;
        const auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
        if (ec != std::errc{} || p == rest.data() + rest.size() || *p != ' ') return;
        const std::string topic{rest.substr(static_cast<std::size_t>(p - rest.data()) + 1)};
        std::lock_guard lock(deliver_mutex_);
        if (catchup* k = find_catchup(topic, id); k && k->read) finish_subscribe_locked(id, topic, k->read.get(), {});
    }

    void finish_subscribe(std::uint64_t id, const std::string& topic, const redisReply* r, const std::string& error) {
        std::lock_guard lock(deliver_mutex_);
        finish_subscribe_locked(id, topic, r, error);
    }

    // `r`, when not null, may belong to the catchup itself: read it before
    // the catchup is erased.
    void finish_subscribe_locked(std::uint64_t id, const std::string& topic, const redisReply* r,
                                 const std::string& error) {
        auto it = catching_.find(topic);
        if (it == catching_.end()) return;  // unsubscribed meanwhile, or the subscriber was lost
        auto k = std::find_if(it->second.begin(), it->second.end(), [id](const catchup& x) { return x.id == id; });
        if (k == it->second.end()) return;
        catchup mine = std::move(*k);  // moves the kept read too: `r` stays valid
        it->second.erase(k);
        if (it->second.empty()) catching_.erase(it);
        const std::optional<pubsub::position>& since = mine.since;
        connection& c = *mine.conn;
        if (!r) {
            c.send(prepared_message::text(pubsub::error_json(topic, error)));
            return;
        }
        const pubsub::position newest{std::string{resp::text(r->element[0])}, detail::integer_of(r->element[1])};
        std::optional<bool> recovered;
        if (since) {
            // The entries after since.offset (when the epoch matched), minus
            // those older than max_age: they count as gone.
            std::vector<std::pair<std::uint64_t, std::string_view>> entries;
            const std::uint64_t oldest_allowed =
                options_.history.max_age.count() > 0 ? now_ms() - static_cast<std::uint64_t>(options_.history.max_age.count()) : 0;
            if (r->elements >= 3 && resp::is_array(r->element[2]))
                for (std::size_t i = 0; i < r->element[2]->elements; ++i) {
                    const redisReply* e = r->element[2]->element[i];
                    if (!resp::is_array(e, 2) || !resp::is_array(e->element[1], 4)) continue;
                    const std::uint64_t offset = detail::to_u64(resp::text(e->element[0]));
                    if (detail::to_u64(resp::text(e->element[1]->element[1])) < oldest_allowed) continue;
                    entries.emplace_back(offset, resp::text(e->element[1]->element[3]));
                }
            const std::uint64_t oldest = entries.empty() ? newest.offset + 1 : entries.front().first;
            const pubsub::resume_plan plan = pubsub::plan_resume(*since, newest, oldest);
            recovered = plan.recovered;
            if (plan.recovered)
                for (const auto& [offset, json] : entries)
                    if (offset >= plan.replay_from && offset <= plan.replay_to) c.send(prepared_message::text(json));
        }
        c.send(prepared_message::text(pubsub::subscribed_json(topic, newest, recovered)));
        // Live messages that came during the read, after what it saw.
        for (const auto& [offset, m] : mine.live)
            if (mine.live_epoch == newest.epoch && offset > newest.offset) c.send(m);
        topics_.get_registry().join(c, topic);
        members_[topic];
    }

    // ---- the subscriber thread ------------------------------------------------------------
    void subscriber_loop() {
        bool was_live = false;
        while (!stopping()) {
            auto c = connect();
            if (c) {
                {
                    std::lock_guard lock(mutex_);
                    if (stopping_) return;
                    sub_fd_ = c->fd;
                }
                redisSetTimeout(c.get(), timeval{0, 0});  // block: stop() shuts the socket down
                auto r = detail::command(c.get(), {"SUBSCRIBE", live_channel()});
                if (r && resp::is_array(r.get(), 1)) {
                    sub_generation_.fetch_add(1);
                    live_.store(true);
                    was_live = true;
                    cv_.notify_all();
                    for (;;) {
                        void* raw = nullptr;
                        if (redisGetReply(c.get(), &raw) != REDIS_OK) break;
                        resp::reply_ptr m(static_cast<redisReply*>(raw));
                        if (resp::is_array(m.get(), 3) && resp::text(m->element[0]) == "message")
                            on_live(resp::text(m->element[2]));
                    }
                }
                std::lock_guard lock(mutex_);
                sub_fd_ = -1;
            }
            live_.store(false);
            if (was_live) {
                was_live = false;
                drop_subscribers();
            }
            std::unique_lock lock(mutex_);
            cv_.wait_for(lock, options_.retry_delay, [&] { return stopping_; });
        }
    }

    bool stopping() const {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    void on_live(std::string_view payload) {
        if (payload.starts_with("sync ")) return on_sync(payload.substr(5));
        detail::live_message m;
        if (!detail::parse_live(payload, m)) return;
        const auto frame = prepared_message::text(m.json);
        std::lock_guard lock(deliver_mutex_);
        topics_.get_registry().deliver_local(send_scope::group, m.topic, frame);
        if (auto it = catching_.find(m.topic); it != catching_.end())
            for (auto& k : it->second) {
                if (k.live_epoch != m.epoch) {
                    k.live.clear();
                    k.live_epoch = m.epoch;
                }
                k.live.emplace_back(m.offset, frame);
            }
    }

    // Live messages may have been missed while the subscriber was down: the
    // clients resume (with since) rather than live with a gap.
    void drop_subscribers() {
        std::vector<std::shared_ptr<connection>> to_close;
        {
            std::lock_guard lock(deliver_mutex_);
            for (auto& [topic, list] : catching_)
                for (auto& k : list) to_close.push_back(k.conn);
            catching_.clear();
            for (const auto& s : topics_.get_registry().summaries())
                for (const auto& g : s.groups)
                    if (members_.contains(g)) {
                        if (auto c = topics_.get_registry().find(s.id)) to_close.push_back(std::move(c));
                        break;
                    }
        }
        for (auto& c : to_close) c->close(close_code::service_restart, "the topic store was unreachable; resume");
    }

    pubsub::topics& topics_;
    const redis_topics_options options_;
    const std::string instance_;

    mutable std::mutex mutex_;  // guards jobs_, stopping_, sub_fd_, report_now_
    mutable std::condition_variable cv_;
    mutable std::deque<job> jobs_;
    bool stopping_ = false;
    mutable bool report_now_ = false;
    int sub_fd_ = -1;

    // Orders live deliveries and the end of each subscribe's read.
    std::mutex deliver_mutex_;
    std::map<std::string, std::vector<catchup>, std::less<>> catching_;
    std::map<std::string, bool, std::less<>> members_;  // topics with local subscribers (presence)

    std::atomic<bool> live_{false};
    std::atomic<std::uint64_t> sub_generation_{0};  // subscriber connections made so far
    std::atomic<std::uint64_t> next_catchup_{0};
    std::thread subscriber_;
    std::thread commands_;
};

} // namespace wsx::backplane

// SPDX-License-Identifier: BSL-1.0
#pragma once
// wsx::backplane::redis: scale-out through Redis pub/sub. Several instances of
// a server, each with its own wsx::registry, share one Redis; every registry
// send (broadcast, broadcast_except, publish to a group, send_to an id,
// send_to_user) then reaches the matching clients of every instance.
//
//     wsx::registry reg;
//     asio::io_context io;                       // the backplane's; run it on a thread
//     wsx::backplane::redis cluster(io.get_executor(), reg, {.host = "10.0.0.5", .port = 6379});
//     cluster.start();                           // attaches to reg, connects, returns at once
//
// How it works (link wsx::redis: hiredis parses and formats RESP, Asio does the I/O):
//  - One channel per cluster (redis_options::channel), so messages sent from
//    one thread of one instance reach every instance in the order they were
//    sent. Each instance has two connections: a publisher and a subscriber (a
//    subscribed Redis connection cannot PUBLISH).
//  - A send is delivered locally at once by the registry, and published as an
//    envelope (backplane/envelope.hpp) carrying this instance's id and a
//    sequence number. The subscriber ignores its own instance's envelopes, so
//    each instance delivers each message once; others deliver through
//    registry::deliver_local, which never forwards again. A received message is
//    encoded once (wsx::prepared_message) for all its local recipients.
//  - send_to(id) of a local connection is not published; any other id is, and
//    the instance that has it delivers it.
//  - Every heartbeat_interval each instance publishes its connection count;
//    peers not heard from for three intervals leave the count. status() gives
//    the cluster-wide figures (and the REST hook shows them).
//
// Failures: local delivery never depends on Redis. When Redis is down or
// restarting, each connection retries with exponential backoff and jitter
// (reconnect_initial doubling up to reconnect_max); the state (status().state)
// becomes "down" and one log line says so (and one more when it is back).
// Nothing is queued across an outage: a message forwarded while the publisher
// is down, that finds the queue full (max_queued_bytes), or whose PUBLISH Redis
// had not confirmed when the connection dropped, is counted in status().lost.
// A receiver counts the envelopes of other instances it never got (sequence
// gaps, e.g. while its subscriber was reconnecting) in status().missed.
//
// Threading: every member is safe from any thread. The backplane works on the
// executor it is given (through a strand, so a multi-threaded io_context is
// fine). The registry must outlive the backplane's use of it: once stop() has
// returned, the backplane never touches the registry again. Destroy the
// backplane before its io_context.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <wsx/backplane/backoff.hpp>
#include <wsx/backplane/envelope.hpp>
#include <wsx/backplane/peer_table.hpp>
#include <wsx/backplane/resp.hpp>
#include <wsx/detail/random.hpp>
#include <wsx/log.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>

namespace wsx::backplane {

struct redis_options {
    std::string host = "127.0.0.1";  // a name or an address
    std::uint16_t port = 6379;
    std::string username{};  // Redis 6 ACL user (AUTH user password); empty: AUTH password
    std::string password{};  // empty: no AUTH
    // Instances that share a channel form one cluster.
    std::string channel = "wsx";
    // This instance's id in the cluster (1..255 bytes), unique in it: an
    // instance ignores what arrives with its own id. Empty: a random one.
    std::string instance_id{};
    // How often the connection count is published; peers silent for three
    // intervals are dropped from the count, and a connection that leaves a
    // command unanswered for three intervals (or connect_timeout, if longer)
    // is considered dead.
    std::chrono::milliseconds heartbeat_interval{1000};
    // Resolving, connecting and the handshake (AUTH, SUBSCRIBE) together.
    std::chrono::milliseconds connect_timeout{3000};
    // Reconnection backoff: the first delay, and the cap (backplane/backoff.hpp).
    std::chrono::milliseconds reconnect_initial{100};
    std::chrono::milliseconds reconnect_max{5000};
    // Bytes of messages forwarded and not yet confirmed by Redis; beyond, sends
    // are counted lost rather than queued (a slow Redis cannot exhaust memory).
    std::size_t max_queued_bytes = 16u << 20;
    // One line per state change (connected, lost, back, stopped), called on the
    // backplane's executor. Empty: the line goes to wsx::default_log (category
    // "backplane": "down" as a warning, the others as info; <wsx/log.hpp>).
    std::function<void(std::string_view)> log{};
};

namespace detail {

inline send_scope scope_of(envelope_kind k) noexcept {
    switch (k) {
    case envelope_kind::broadcast_except: return send_scope::all_except;
    case envelope_kind::publish: return send_scope::group;
    case envelope_kind::send_to: return send_scope::connection;
    case envelope_kind::send_to_user: return send_scope::user;
    default: return send_scope::all;
    }
}

inline envelope_kind kind_of(send_scope s) noexcept {
    switch (s) {
    case send_scope::all: return envelope_kind::broadcast;
    case send_scope::all_except: return envelope_kind::broadcast_except;
    case send_scope::group: return envelope_kind::publish;
    case send_scope::connection: return envelope_kind::send_to;
    case send_scope::user: return envelope_kind::send_to_user;
    }
    return envelope_kind::broadcast;
}

inline std::string random_instance_id() {
    static constexpr char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    auto& pool = wsx::detail::random_pool::for_this_thread();
    std::string id(12, '0');
    for (char& c : id) c = digits[pool.next<std::uint8_t>() % 62];
    return id;
}

// The state machine and I/O of one backplane; redis (below) owns it. Every
// handler runs on strand_; forward() and status() are the only entry points
// from other threads.
class redis_link final : public cluster_link, public std::enable_shared_from_this<redis_link> {
public:
    using clock = std::chrono::steady_clock;

    redis_link(asio::any_io_executor ex, registry& reg, redis_options options)
        : strand_(asio::make_strand(std::move(ex))),
          reg_(reg),
          options_(std::move(options)),
          instance_(options_.instance_id.empty() ? random_instance_id() : options_.instance_id),
          address_(options_.host + ":" + std::to_string(options_.port)),
          pub_(strand_, "publisher", options_),
          sub_(strand_, "subscriber", options_),
          heartbeat_timer_(strand_),
          peers_(3 * options_.heartbeat_interval, 60 * options_.heartbeat_interval),
          rng_(wsx::detail::random_pool::for_this_thread().next<std::uint32_t>()) {
        if (instance_.size() > max_origin_size)
            throw std::invalid_argument("wsx::backplane::redis: instance_id must be at most 255 bytes");
        if (options_.channel.empty())
            throw std::invalid_argument("wsx::backplane::redis: the channel must not be empty");
        if (options_.heartbeat_interval <= std::chrono::milliseconds::zero())
            throw std::invalid_argument("wsx::backplane::redis: heartbeat_interval must be positive");
        dead_after_ = std::max<clock::duration>(3 * options_.heartbeat_interval, options_.connect_timeout);
    }

    const std::string& instance() const noexcept { return instance_; }
    const std::string& address() const noexcept { return address_; }

    void start() {
        if (stopped_.load()) throw std::logic_error("wsx::backplane::redis: start() after stop()");
        if (started_.exchange(true)) throw std::logic_error("wsx::backplane::redis: already started");
        reg_.attach(shared_from_this());
        asio::post(strand_, [self = shared_from_this()] {
            if (self->stopped_.load()) return;
            self->connect(self->pub_);
            self->connect(self->sub_);
            self->schedule_tick();
        });
    }

    void stop() {
        {
            // Waits for a delivery or heartbeat in progress: after this block
            // nothing here touches the registry.
            std::lock_guard lock(registry_mutex_);
            if (stopped_.exchange(true)) return;
        }
        pub_up_.store(false);
        reg_.detach(this);
        asio::post(strand_, [self = shared_from_this()] { self->shutdown(); });
    }

    // ---- cluster_link ---------------------------------------------------------
    bool forward(send_scope scope, std::string_view target, const prepared_message& m) override {
        const std::size_t size = encoded_size(envelope{kind_of(scope), m.type(), instance_, 0, target, m.payload()});
        if (stopped_.load() || !pub_up_.load()) {
            lost_.fetch_add(1);
            return false;
        }
        {
            std::lock_guard lock(queue_mutex_);
            if (pending_bytes_ + size > options_.max_queued_bytes) {
                lost_.fetch_add(1);
                return false;
            }
            pending_bytes_ += size;
            queue_.push_back(outgoing{kind_of(scope), std::string{target}, m, size});
            if (flush_posted_) return true;
            flush_posted_ = true;
        }
        asio::post(strand_, [self = shared_from_this()] { self->flush_queue(); });
        return true;
    }

    cluster_status status() const override {
        cluster_status s;
        s.instance = instance_;
        s.state = state_.load();
        s.publishing = pub_up_.load() && !stopped_.load();
        s.instances = instances_.load();
        std::uint64_t local = 0;
        {
            std::lock_guard lock(registry_mutex_);
            if (!stopped_.load()) local = reg_.count();
        }
        s.connections = local + peer_connections_.load();
        s.published = published_.load();
        s.received = received_.load();
        s.lost = lost_.load();
        s.missed = missed_.load();
        s.reconnects = reconnects_.load();
        std::lock_guard lock(error_mutex_);
        s.last_error = last_error_;
        return s;
    }

    // Envelopes on the channel that were not valid (another program publishing there).
    std::uint64_t invalid() const noexcept { return invalid_.load(); }

private:
    enum class phase { idle, connecting, up, waiting };
    enum class command : std::uint8_t { auth, ping, subscribe, publish, heartbeat };
    struct awaited {
        command what;
        std::size_t bytes;  // for publish: what it holds of pending_bytes_
    };

    // One of the two Redis connections.
    struct slot {
        slot(asio::strand<asio::any_io_executor>& s, const char* n, const redis_options& o)
            : name(n), socket(s), resolver(s), timer(s), retry(o.reconnect_initial, o.reconnect_max) {}
        const char* name;
        asio::ip::tcp::socket socket;
        asio::ip::tcp::resolver resolver;
        asio::steady_timer timer;  // the connect deadline, then the retry delay
        std::optional<resp::reader> reader;
        backoff retry;
        phase state = phase::idle;
        bool failed = false;        // since it was last up: the next success is a reconnect
        std::uint64_t epoch = 0;    // bumped on every (re)connect and failure: stale handlers see it
        std::string out;            // commands not yet written
        std::string writing;        // the commands being written
        bool write_in_flight = false;
        std::deque<awaited> awaiting;  // replies expected, oldest first
        clock::time_point awaiting_since{};
    };

    struct outgoing {
        envelope_kind kind;
        std::string target;
        prepared_message message;
        std::size_t bytes;
    };

    // ---- connecting -------------------------------------------------------------
    void connect(slot& s) {
        if (stopped_.load()) return;
        const auto epoch = ++s.epoch;
        s.state = phase::connecting;
        s.timer.expires_after(options_.connect_timeout);
        s.timer.async_wait([self = shared_from_this(), &s, epoch](std::error_code ec) {
            if (ec || epoch != s.epoch || s.state != phase::connecting) return;
            self->fail(s, "timed out after " + std::to_string(self->options_.connect_timeout.count()) + " ms");
        });
        s.resolver.async_resolve(
            options_.host, std::to_string(options_.port),
            [self = shared_from_this(), &s, epoch](std::error_code ec, asio::ip::tcp::resolver::results_type r) {
                if (epoch != s.epoch) return;
                if (ec) return self->fail(s, "resolving " + self->options_.host + ": " + ec.message());
                asio::async_connect(s.socket, r,
                                    [self, &s, epoch](std::error_code ec2, const asio::ip::tcp::endpoint&) {
                                        if (epoch != s.epoch) return;
                                        if (ec2) return self->fail(s, ec2.message());
                                        self->on_connected(s);
                                    });
            });
    }

    void on_connected(slot& s) {
        std::error_code ignored;
        s.socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        s.socket.set_option(asio::socket_base::keep_alive(true), ignored);
        s.reader.emplace();
        if (!options_.password.empty()) {
            if (options_.username.empty()) resp::append_command(s.out, {"AUTH", options_.password});
            else resp::append_command(s.out, {"AUTH", options_.username, options_.password});
            expect(s, command::auth);
        }
        // The connection is usable once Redis has answered the last of these:
        // a PING proves the publisher talks to a working, authorized server.
        if (&s == &pub_) {
            resp::append_command(s.out, {"PING"});
            expect(s, command::ping);
        } else {
            resp::append_command(s.out, {"SUBSCRIBE", options_.channel});
            expect(s, command::subscribe);
        }
        read(s, std::make_shared<std::array<char, 64 * 1024>>());
        write(s);
    }

    void ready(slot& s) {
        s.state = phase::up;
        s.timer.cancel();
        s.retry.reset();
        if (s.failed) reconnects_.fetch_add(1);
        s.failed = false;
        if (&s == &pub_) pub_up_.store(true);
        update_state({}, {});
    }

    // Drops the connection and schedules the next attempt.
    void fail(slot& s, const std::string& why) {
        if (s.state == phase::idle || s.state == phase::waiting) return;
        ++s.epoch;
        close(s);
        set_error(std::string{s.name} + ": " + why);
        if (stopped_.load()) {
            s.state = phase::idle;
            return;
        }
        s.failed = true;
        s.state = phase::waiting;
        failing_ = true;
        const auto delay = s.retry.next(rng_);
        update_state(std::string{s.name} + ": " + why, delay);
        s.timer.expires_after(delay);
        s.timer.async_wait([self = shared_from_this(), &s, epoch = s.epoch](std::error_code ec) {
            if (ec || epoch != s.epoch) return;
            self->connect(s);
        });
    }

    void close(slot& s) {
        std::error_code ignored;
        s.resolver.cancel();
        s.socket.close(ignored);
        s.reader.reset();
        s.out.clear();
        if (&s == &pub_) {
            pub_up_.store(false);
            // PUBLISH commands Redis did not confirm may or may not have gone
            // out: they are not claimed as delivered.
            std::uint64_t unconfirmed = 0;
            std::size_t bytes = 0;
            for (const auto& a : s.awaiting)
                if (a.what == command::publish) {
                    ++unconfirmed;
                    bytes += a.bytes;
                }
            lost_.fetch_add(unconfirmed);
            release_bytes(bytes);
        }
        s.awaiting.clear();
    }

    void shutdown() {
        heartbeat_timer_.cancel();
        for (slot* s : {&pub_, &sub_}) {
            ++s->epoch;
            s->timer.cancel();
            close(*s);
            s->state = phase::idle;
        }
        flush_queue();  // what was queued is lost now
        update_state({}, {});
    }

    // ---- reading and writing ----------------------------------------------------
    void read(slot& s, std::shared_ptr<std::array<char, 64 * 1024>> buffer) {
        // The buffer belongs to this connection attempt: a read of an earlier,
        // closed attempt may still be completing into its own.
        const auto into = asio::buffer(*buffer);  // before the handler takes the pointer
        s.socket.async_read_some(
            into,
            [self = shared_from_this(), &s, epoch = s.epoch, buffer = std::move(buffer)](std::error_code ec,
                                                                                        std::size_t n) mutable {
                if (epoch != s.epoch) return;
                if (ec) return self->fail(s, ec == asio::error::eof ? "Redis closed the connection" : ec.message());
                s.reader->feed(buffer->data(), n);
                while (auto reply = s.reader->next()) {
                    self->on_reply(s, reply.get());
                    if (epoch != s.epoch) return;
                }
                if (s.reader->failed()) return self->fail(s, "bad reply from Redis: " + s.reader->error());
                self->read(s, std::move(buffer));
            });
    }

    void write(slot& s) {
        if (s.write_in_flight || s.out.empty() || s.state == phase::idle || s.state == phase::waiting) return;
        s.writing.swap(s.out);
        s.write_in_flight = true;
        asio::async_write(s.socket, asio::buffer(s.writing),
                          [self = shared_from_this(), &s, epoch = s.epoch](std::error_code ec, std::size_t) {
                              // One write at a time per slot, across attempts: a
                              // new attempt's commands wait for this completion.
                              s.write_in_flight = false;
                              s.writing.clear();
                              if (epoch == s.epoch && ec) return self->fail(s, ec.message());
                              self->write(s);
                          });
    }

    void expect(slot& s, command c, std::size_t bytes = 0) {
        if (s.awaiting.empty()) s.awaiting_since = clock::now();
        s.awaiting.push_back({c, bytes});
    }

    // The reply to the oldest command awaiting one.
    std::optional<awaited> take_awaited(slot& s) {
        if (s.awaiting.empty()) return std::nullopt;
        const awaited a = s.awaiting.front();
        s.awaiting.pop_front();
        s.awaiting_since = clock::now();
        return a;
    }

    void on_reply(slot& s, const redisReply* r) {
        if (&s == &sub_) return on_subscriber_reply(s, r);
        const auto a = take_awaited(s);
        if (!a) return fail(s, "a reply to no command");
        const bool error = r->type == REDIS_REPLY_ERROR;
        switch (a->what) {
        case command::auth:
            if (error) fail(s, "AUTH refused: " + std::string{resp::text(r)});
            return;
        case command::ping:
            if (error) return fail(s, "PING refused: " + std::string{resp::text(r)});
            return ready(s);
        case command::publish:
            release_bytes(a->bytes);
            if (error) {
                lost_.fetch_add(1);
                set_error("PUBLISH refused: " + std::string{resp::text(r)});
            } else {
                published_.fetch_add(1);
            }
            return;
        case command::heartbeat:
            if (error) set_error("PUBLISH refused: " + std::string{resp::text(r)});
            return;
        case command::subscribe: return;
        }
    }

    void on_subscriber_reply(slot& s, const redisReply* r) {
        if (r->type == REDIS_REPLY_ERROR) {
            const bool auth = !s.awaiting.empty() && s.awaiting.front().what == command::auth;
            return fail(s, (auth ? "AUTH refused: " : "Redis: ") + std::string{resp::text(r)});
        }
        if (resp::is_array(r, 3) && resp::text(r->element[0]) == "message") {
            // A busy channel proves the connection works even if the answer
            // to the keep-alive PING is still behind the backlog.
            s.awaiting_since = clock::now();
            if (resp::text(r->element[1]) == options_.channel) on_envelope(resp::text(r->element[2]));
            return;
        }
        const auto a = take_awaited(s);
        if (!a) return fail(s, "a reply to no command");
        if (a->what == command::subscribe) {
            if (!resp::is_array(r, 1) || resp::text(r->element[0]) != "subscribe")
                return fail(s, "SUBSCRIBE refused");
            return ready(s);
        }
        // AUTH's +OK, and ["pong", ""] for the keep-alive PING.
    }

    void on_envelope(std::string_view bytes) {
        envelope e;
        if (decode_envelope(bytes, e) != envelope_error::none) {
            invalid_.fetch_add(1);
            return;
        }
        // Delivered here when it was sent.
        if (e.origin == instance_) return;
        const auto now = clock::now();
        missed_.fetch_add(peers_.on_envelope(e.origin, e.sequence, now));
        if (e.kind == envelope_kind::heartbeat) {
            peers_.on_heartbeat(e.origin, heartbeat_connections(e), now);
            refresh_peers(now);
            return;
        }
        received_.fetch_add(1);
        const prepared_message m{e.type, e.payload};
        std::lock_guard lock(registry_mutex_);
        if (stopped_.load()) return;
        reg_.deliver_local(scope_of(e.kind), e.target, m);
    }

    // ---- publishing -------------------------------------------------------------
    void flush_queue() {
        {
            std::lock_guard lock(queue_mutex_);
            batch_.swap(queue_);
            flush_posted_ = false;
        }
        for (auto& o : batch_) {
            if (pub_.state != phase::up || stopped_.load()) {
                lost_.fetch_add(1);
                release_bytes(o.bytes);
                continue;
            }
            publish(envelope{o.kind, o.message.type(), instance_, ++sequence_, o.target, o.message.payload()});
            expect(pub_, command::publish, o.bytes);
        }
        batch_.clear();
        write(pub_);
    }

    void publish(const envelope& e) {
        scratch_.clear();
        append_envelope(scratch_, e);
        resp::append_command(pub_.out, {"PUBLISH", options_.channel, scratch_});
    }

    void release_bytes(std::size_t bytes) {
        if (bytes == 0) return;
        std::lock_guard lock(queue_mutex_);
        pending_bytes_ -= bytes;
    }

    // ---- heartbeat and liveness ---------------------------------------------------
    void schedule_tick() {
        heartbeat_timer_.expires_after(options_.heartbeat_interval);
        heartbeat_timer_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec || self->stopped_.load()) return;
            self->tick();
            self->schedule_tick();
        });
    }

    void tick() {
        const auto now = clock::now();
        for (slot* s : {&pub_, &sub_})
            if (s->state == phase::up && !s->awaiting.empty() && now - s->awaiting_since > dead_after_)
                fail(*s, "no reply from Redis in " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(dead_after_).count()) +
                             " ms");
        // The subscriber only receives: a PING in subscribed mode proves the
        // connection still works when the channel is quiet.
        if (sub_.state == phase::up && sub_.awaiting.empty()) {
            resp::append_command(sub_.out, {"PING"});
            expect(sub_, command::ping);
            write(sub_);
        }
        if (pub_.state == phase::up) {
            std::uint64_t count = 0;
            {
                std::lock_guard lock(registry_mutex_);
                if (stopped_.load()) return;
                count = reg_.count();
            }
            std::string payload;
            publish(make_heartbeat(instance_, ++sequence_, payload, count));
            expect(pub_, command::heartbeat);
            write(pub_);
        }
        peers_.expire(now);
        refresh_peers(now);
    }

    void refresh_peers(clock::time_point now) {
        instances_.store(1 + peers_.alive(now));
        peer_connections_.store(peers_.connections(now));
    }

    // ---- state and log --------------------------------------------------------------
    void set_error(std::string what) {
        std::lock_guard lock(error_mutex_);
        last_error_ = std::move(what);
    }

    void update_state(const std::string& why, std::chrono::milliseconds retry_in) {
        cluster_state next = cluster_state::connecting;
        if (stopped_.load()) next = cluster_state::stopped;
        else if (pub_.state == phase::up && sub_.state == phase::up) next = cluster_state::connected;
        else if (failing_) next = cluster_state::down;
        // Only the strand writes the state, and a new state becomes visible
        // after its log line: whoever sees "down" can find the line saying why.
        const cluster_state before = state_.load();
        if (before == next) return;
        std::string line = "wsx redis " + address_ + ": ";
        switch (next) {
        case cluster_state::connected:
            failing_ = false;
            if (ever_connected_) line += "connected again";
            else line += "connected (channel \"" + options_.channel + "\", instance " + instance_ + ")";
            ever_connected_ = true;
            if (before == cluster_state::down) {
                const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - down_since_);
                line += " after " + std::to_string(ms.count()) + " ms; " +
                        std::to_string(lost_.load() - lost_at_down_) + " messages lost meanwhile";
            }
            break;
        case cluster_state::down:
            down_since_ = clock::now();
            lost_at_down_ = lost_.load();
            line += before == cluster_state::connected ? "connection lost (" : "cannot connect (";
            line += why + "); retrying in " + std::to_string(retry_in.count()) + " ms";
            break;
        case cluster_state::stopped: line += "stopped"; break;
        case cluster_state::connecting: break;  // on the way: nothing to report yet
        }
        if (next != cluster_state::connecting) {
            if (options_.log) options_.log(line);
            else default_log(next == cluster_state::down ? log_level::warning : log_level::info,
                             "backplane", line);
        }
        state_.store(next);
    }

    asio::strand<asio::any_io_executor> strand_;
    registry& reg_;
    const redis_options options_;
    const std::string instance_;
    const std::string address_;
    clock::duration dead_after_{};

    // On the strand.
    slot pub_;
    slot sub_;
    asio::steady_timer heartbeat_timer_;
    peer_table peers_;
    std::mt19937 rng_;
    std::uint64_t sequence_ = 0;
    std::string scratch_;
    std::vector<outgoing> batch_;
    bool failing_ = false;  // a failure since the cluster was last connected
    bool ever_connected_ = false;
    clock::time_point down_since_{};
    std::uint64_t lost_at_down_ = 0;

    // From any thread.
    std::mutex queue_mutex_;
    std::vector<outgoing> queue_;
    std::size_t pending_bytes_ = 0;
    bool flush_posted_ = false;

    // Recursive: a registry delivery may run a connection's handler on this
    // thread, which may call status() or stop().
    mutable std::recursive_mutex registry_mutex_;
    mutable std::mutex error_mutex_;
    std::string last_error_;

    std::atomic<bool> started_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<bool> pub_up_{false};
    std::atomic<cluster_state> state_{cluster_state::connecting};
    std::atomic<std::size_t> instances_{1};
    std::atomic<std::uint64_t> peer_connections_{0};
    std::atomic<std::uint64_t> published_{0};
    std::atomic<std::uint64_t> received_{0};
    std::atomic<std::uint64_t> lost_{0};
    std::atomic<std::uint64_t> missed_{0};
    std::atomic<std::uint64_t> reconnects_{0};
    std::atomic<std::uint64_t> invalid_{0};
};

} // namespace detail

// The backplane of one instance. Not copyable; the destructor stops it.
class redis {
public:
    // Works on `ex` (run its io_context on some thread), for `reg`. Throws
    // std::invalid_argument for bad options. Does nothing until start().
    redis(asio::any_io_executor ex, registry& reg, redis_options options = {})
        : link_(std::make_shared<detail::redis_link>(std::move(ex), reg, std::move(options))) {}
    ~redis() { stop(); }
    redis(const redis&) = delete;
    redis& operator=(const redis&) = delete;

    // Attaches to the registry (sends are forwarded from now on; counted lost
    // until the connections are up) and connects. Returns at once.
    void start() { link_->start(); }

    // Detaches from the registry, closes both connections and cancels the
    // timers (on the executor, soon after). After it returns, the registry is
    // not used again. Safe to call twice, and from any thread.
    void stop() { link_->stop(); }

    cluster_status status() const { return link_->status(); }
    const std::string& instance_id() const noexcept { return link_->instance(); }
    // "host:port", as in the log lines.
    const std::string& address() const noexcept { return link_->address(); }
    // Messages on the channel that were not wsx envelopes (ignored).
    std::uint64_t invalid_messages() const noexcept { return link_->invalid(); }

private:
    std::shared_ptr<detail::redis_link> link_;
};

} // namespace wsx::backplane

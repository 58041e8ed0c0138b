// SPDX-License-Identifier: BSL-1.0
// The Redis backplane (include/wsx/backplane/redis.hpp) end to end: a real
// redis-server on a free loopback port, two instances in this process (each a
// wsx::server with a registry, the REST hook and a backplane, on its own port)
// and loopback clients on each. Checks that every kind of send reaches the
// right clients of both instances exactly once, that order is kept, that the
// REST hook shows the cluster, and what happens when Redis is killed and
// restarted, refuses the password, or is not there yet.
//
// Nothing here asserts on timing: every wait is for a condition, with a
// generous deadline (the machine may be small and loaded).
#include "wsx/backplane/redis.hpp"

#include "wsx/rest.hpp"
#include "wsx/server.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"
#include "redis_process.hpp"
#include "rest_client.hpp"

#include <simdjson.h>

#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wsx::test::loopback_client;
using wsx::test::redis_process;
using wsx::test::wait_until;
using kind = wsx::test::ws_event::kind;

constexpr auto cluster_deadline = 20s;

wsx::server_options server_options() {
    return wsx::server_options{.host = "127.0.0.1",
                               .port = 0,
                               .handshake_timeout = 5s,
                               .stop_timeout = 500ms,
                               .timer_resolution = 20ms};
}

// A test endpoint over the registry: the query "user=NAME" sets the user, the
// first message a client gets is "id:<its id>", and a message "join:G" joins
// group G and is answered "joined:G".
wsx::endpoint test_endpoint(wsx::registry& reg) {
    wsx::endpoint ep;
    ep.on_upgrade = [](wsx::upgrade_context& u) {
        if (u.query().starts_with("user=")) u.user = std::string{u.query().substr(5)};
    };
    ep.on_open = [](wsx::connection& c) { c.send("id:" + std::string{c.id()}); };
    ep.on_message = [&reg](wsx::connection& c, wsx::message m) {
        if (m.text().starts_with("join:")) {
            reg.join(c, m.text().substr(5));
            c.send("joined:" + std::string{m.text().substr(5)});
        }
    };
    return reg.track(std::move(ep));
}

// One instance of the cluster. Declared in dependency order: the registry
// outlives the server and the backplane, which are stopped in the destructor.
struct instance {
    wsx::registry reg;
    wsx::server srv{server_options()};
    asio::io_context io;
    std::unique_ptr<wsx::backplane::redis> bp;
    std::thread io_thread;
    mutable std::mutex log_mutex;
    std::vector<std::string> log_lines;

    instance(std::uint16_t redis_port, std::string name,
             const std::function<void(wsx::backplane::redis_options&)>& customize = {}) {
        srv.websocket("/ws", test_endpoint(reg));
        wsx::mount_rest(srv, reg);
        srv.start(1);
        wsx::backplane::redis_options o;
        o.port = redis_port;
        o.instance_id = std::move(name);
        o.heartbeat_interval = 200ms;
        o.connect_timeout = 3s;
        o.reconnect_initial = 50ms;
        o.reconnect_max = 500ms;
        o.log = [this](std::string_view line) {
            std::lock_guard lock(log_mutex);
            log_lines.emplace_back(line);
        };
        if (customize) customize(o);
        bp = std::make_unique<wsx::backplane::redis>(io.get_executor(), reg, o);
        bp->start();
        io_thread = std::thread([this] { io.run(); });
    }
    ~instance() {
        bp->stop();
        io_thread.join();  // the backplane has finished: no work is left
        bp.reset();
        srv.stop();
        srv.join();
    }
    instance(const instance&) = delete;
    instance& operator=(const instance&) = delete;

    wsx::cluster_status status() const { return bp->status(); }
    std::uint16_t port() const { return srv.port(); }

    std::size_t log_count(std::string_view needle) const {
        std::lock_guard lock(log_mutex);
        return static_cast<std::size_t>(std::count_if(log_lines.begin(), log_lines.end(), [&](const std::string& l) {
            return l.find(needle) != std::string::npos;
        }));
    }
    std::string log_text() const {
        std::lock_guard lock(log_mutex);
        std::string all;
        for (const auto& l : log_lines) all += l + "\n";
        return all;
    }
};

bool formed(const instance& a, const instance& b, std::size_t n = 2) {
    const auto sa = a.status();
    const auto sb = b.status();
    return sa.state == wsx::cluster_state::connected && sb.state == wsx::cluster_state::connected &&
           sa.instances == n && sb.instances == n;
}

void wait_formed(const instance& a, const instance& b) {
    const bool ok = wait_until([&] { return formed(a, b); }, cluster_deadline);
    INFO("A: " << a.log_text() << "B: " << b.log_text());
    REQUIRE(ok);
}

// The usual start of a test: Redis running, instances A and B connected to it
// and each aware of the other.
struct formed_cluster {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    instance A{(redis.start(), redis.port()), "A"};  // Redis runs before A connects
    instance B{redis.port(), "B"};
    formed_cluster() { wait_formed(A, B); }
};

// A WebSocket client of one instance.
struct client {
    std::string name;
    std::unique_ptr<loopback_client> c;
    std::string id;

    client(std::string n, std::uint16_t port, std::string_view user = {}) : name(std::move(n)) {
        c = std::make_unique<loopback_client>(port);
        c->answer_pings(true);
        const auto res = c->upgrade(user.empty() ? std::string{"/ws"} : "/ws?user=" + std::string{user}, {}, {}, 5s);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        const std::string hello = next();
        REQUIRE(hello.starts_with("id:"));
        id = hello.substr(3);
    }

    std::string next(std::chrono::milliseconds timeout = 10s) {
        const auto ev = c->read_event(timeout);
        INFO(name << " got " << wsx::test::to_string(ev.what) << ": " << ev.payload);
        REQUIRE(ev.what == kind::message);
        return ev.payload;
    }
    void join(const std::string& group) {
        REQUIRE_FALSE(c->send_text("join:" + group));
        CHECK(next() == "joined:" + group);
    }
    // Nothing more arrives within `quiet` (no duplicate, no stray).
    void expect_silence(std::chrono::milliseconds quiet = 300ms) {
        const auto ev = c->read_event(quiet);
        INFO(name << " got " << wsx::test::to_string(ev.what) << ": " << ev.payload);
        CHECK(ev.what == kind::timeout);
    }
};

// Every client in `to` gets `text` next; the others get nothing (checked later
// by their next read or the final expect_silence).
void expect_delivery(std::vector<client*> to, const std::string& text) {
    for (auto* c : to) {
        INFO("expected by " << c->name << ": " << text);
        CHECK(c->next() == text);
    }
}

using wsx::test::parse_json;
using wsx::test::string_field;
using wsx::test::uint_field;


} // namespace

TEST_CASE_METHOD(formed_cluster, "every kind of send reaches the right clients of both instances exactly once") {
    CHECK(A.log_count("connected (channel \"wsx\", instance A)") == 1);

    client a1{"a1", A.port(), "alice"};
    client a2{"a2", A.port(), "bob"};
    client b1{"b1", B.port(), "alice"};
    client b2{"b2", B.port(), "carol"};
    a2.join("news");
    b2.join("news");
    b1.join("sports");
    std::vector<client*> everyone{&a1, &a2, &b1, &b2};

    SECTION("each send") {
        const auto published_before = A.status().published;
        // broadcast, from either side: local recipients counted, everyone served once.
        CHECK(A.reg.broadcast("broadcast from A") == 2);
        expect_delivery(everyone, "broadcast from A");
        CHECK(B.reg.broadcast("broadcast from B") == 2);
        expect_delivery(everyone, "broadcast from B");

        // broadcast_except: the excepted connection may live on either instance.
        CHECK(A.reg.broadcast_except(a1.id, "all but a1") == 1);
        expect_delivery({&a2, &b1, &b2}, "all but a1");
        CHECK(A.reg.broadcast_except(b2.id, "all but b2") == 2);
        expect_delivery({&a1, &a2, &b1}, "all but b2");

        // publish to a group with members on both sides, and one with a member on the other side only.
        CHECK(A.reg.publish("news", "news from A") == 1);
        expect_delivery({&a2, &b2}, "news from A");
        CHECK(B.reg.publish("news", "news from B") == 1);
        expect_delivery({&a2, &b2}, "news from B");
        CHECK(A.reg.publish("sports", "sports from A") == 0);
        expect_delivery({&b1}, "sports from A");

        // send_to an id of the other instance: forwarded, and only that client gets it.
        const auto to_b1 = A.reg.send(wsx::send_scope::connection, b1.id, wsx::prepared_message::text("A to b1"));
        CHECK(to_b1.local == 0);
        CHECK(to_b1.forwarded);
        expect_delivery({&b1}, "A to b1");
        CHECK_FALSE(B.reg.send_to(a2.id, "B to a2"));  // false: not local; delivered by A
        expect_delivery({&a2}, "B to a2");
        // A local id is delivered here and not published.
        const auto to_a1 = A.reg.send(wsx::send_scope::connection, a1.id, wsx::prepared_message::text("A to a1"));
        CHECK(to_a1.local == 1);
        CHECK_FALSE(to_a1.forwarded);
        expect_delivery({&a1}, "A to a1");

        // send_to_user: alice has a connection on each instance.
        CHECK(A.reg.send_to_user("alice", "hi alice from A") == 1);
        expect_delivery({&a1, &b1}, "hi alice from A");
        CHECK(B.reg.send_to_user("alice", "hi alice from B") == 1);
        expect_delivery({&a1, &b1}, "hi alice from B");
        CHECK(B.reg.send_to_user("bob", "hi bob from B") == 0);
        expect_delivery({&a2}, "hi bob from B");

        // Binary messages stay binary.
        const std::string bytes{"\x00\x01\xff\xfe", 4};
        A.reg.broadcast(wsx::prepared_message::binary(bytes));
        for (auto* c : everyone) {
            const auto ev = c->c->read_event(10s);
            REQUIRE(ev.what == kind::message);
            CHECK(ev.type == wsx::opcode::binary);
            CHECK(ev.payload == bytes);
        }

        for (auto* c : everyone) c->expect_silence();
        // Counters: A published 8 messages (its local send_to was not one)
        // and B 5; each was confirmed and received once; nothing lost or missed.
        CHECK(wait_until([&] { return A.status().published == published_before + 8; }, 10s));
        CHECK(B.status().received == 8);
        CHECK(A.status().received == 5);
        CHECK(A.status().lost == 0);
        CHECK(B.status().lost == 0);
        CHECK(A.status().missed == 0);
        CHECK(B.status().missed == 0);
    }

    SECTION("messages that are not envelopes are ignored") {
        CHECK(wsx::test::redis_command(redis.port(), "PUBLISH wsx garbage").starts_with(":"));
        CHECK(wsx::test::redis_command(redis.port(), "PUBLISH wsx wX").starts_with(":"));
        CHECK(wait_until([&] { return A.bp->invalid_messages() == 2 && B.bp->invalid_messages() == 2; }, 10s));
        for (auto* c : everyone) c->expect_silence();
        CHECK(A.reg.broadcast("still working") == 2);
        expect_delivery(everyone, "still working");
    }
}

TEST_CASE_METHOD(formed_cluster, "one publisher's order is kept across instances, 2000 messages") {
    client a1{"a1", A.port()};
    client b1{"b1", B.port()};

    constexpr int count = 2000;
    const auto published = A.status().published;
    // From two threads of A's side in turn would interleave; one thread has one order.
    for (int i = 0; i < count; ++i) A.reg.broadcast("n:" + std::to_string(i));
    for (auto* c : {&a1, &b1})
        for (int i = 0; i < count; ++i) {
            const std::string m = c->next();
            if (m != "n:" + std::to_string(i)) {
                FAIL(c->name << ": message " << i << " was " << m);
            }
        }
    a1.expect_silence();
    b1.expect_silence();
    CHECK(wait_until([&] { return A.status().published == published + count; }, 10s));
    CHECK(A.status().lost == 0);
    CHECK(B.status().missed == 0);
    CHECK(B.status().received == count);
}

TEST_CASE_METHOD(formed_cluster, "the REST hook shows the cluster and forwards to other instances") {
    client a1{"a1", A.port()};
    client b1{"b1", B.port()};
    client b2{"b2", B.port()};

    wsx::test::rest_client rest{A.port()};
    // The cluster-wide count follows the heartbeats: wait until A has heard B's 2.
    std::string body;
    const bool counted = wait_until(
        [&] {
            const auto res = rest.get("/api/connections");
            if (!res || res->status != 200) return false;
            body = res->body;
            return body.find(R"("instances":2,"connections":3)") != std::string::npos;
        },
        cluster_deadline);
    INFO(body);
    REQUIRE(counted);
    {
        const auto doc = parse_json(body);
        CHECK(uint_field(doc->root, "count") == 1);  // this instance's
        simdjson::dom::element cluster;
        REQUIRE(doc->root["cluster"].get(cluster) == simdjson::SUCCESS);
        CHECK(string_field(cluster, "instance") == "A");
        CHECK(string_field(cluster, "state") == "connected");
        bool publishing = false;
        CHECK(cluster["publishing"].get(publishing) == simdjson::SUCCESS);
        CHECK(publishing);
        CHECK(uint_field(cluster, "instances") == 2);
        CHECK(uint_field(cluster, "connections") == 3);
        for (const auto* key : {"published", "received", "lost", "missed", "reconnects"}) uint_field(cluster, key);
        CHECK(uint_field(cluster, "lost") == 0);
        CHECK(string_field(cluster, "last_error").empty());
    }

    // POST send to a connection of B through A: 202, forwarded, delivered by B.
    const auto sent = rest.post("/api/connections/" + b2.id + "/send", R"({"message":"via A"})");
    REQUIRE(sent);
    CHECK(sent->status == 202);
    CHECK(sent->body == R"({"sent":false,"forwarded":true})");
    const auto doc = parse_json(b2.next());
    CHECK(string_field(doc->root, "type") == "server-message");
    CHECK(string_field(doc->root, "message") == "via A");

    // POST broadcast on A: A's recipients counted, B's clients reached too.
    const auto bc = rest.post("/api/connections/broadcast", R"({"message":"to all"})");
    REQUIRE(bc);
    CHECK(bc->status == 200);
    CHECK(bc->body == R"({"recipients":1,"forwarded":true})");
    for (auto* c : {&a1, &b1, &b2}) {
        const auto d = parse_json(c->next());
        CHECK(string_field(d->root, "type") == "server-broadcast");
        CHECK(string_field(d->root, "message") == "to all");
    }
    // A local id still answers 200; GET of a remote id stays local (404).
    const auto local = rest.post("/api/connections/" + a1.id + "/send", R"({"message":"local"})");
    REQUIRE(local);
    CHECK(local->status == 200);
    CHECK(a1.next().find("\"local\"") != std::string::npos);
    const auto remote_get = rest.get("/api/connections/" + b1.id);
    REQUIRE(remote_get);
    CHECK(remote_get->status == 404);
    for (auto* c : {&a1, &b1, &b2}) c->expect_silence();
}

TEST_CASE_METHOD(formed_cluster, "Redis killed: local delivery goes on, the outage shows, sends are counted lost; restarted: recovery") {
    client a1{"a1", A.port(), "alice"};
    client b1{"b1", B.port(), "alice"};
    a1.join("g");
    CHECK(A.reg.broadcast("before") == 1);
    expect_delivery({&a1, &b1}, "before");

    redis.kill();
    const bool down = wait_until(
        [&] {
            // "down" as soon as either connection notices; wait for both publishers too.
            const auto a = A.status(), b = B.status();
            return a.state == wsx::cluster_state::down && b.state == wsx::cluster_state::down &&
                   !a.publishing && !b.publishing;
        },
        cluster_deadline);
    REQUIRE(down);
    const auto lost_before = A.status().lost;

    // Local delivery keeps working; nothing is claimed for the other instance.
    CHECK(A.reg.broadcast("during outage") == 1);
    CHECK(A.reg.publish("g", "group during outage") == 1);
    const auto r = A.reg.send(wsx::send_scope::connection, b1.id, wsx::prepared_message::text("lost"));
    CHECK(r.local == 0);
    CHECK_FALSE(r.forwarded);
    CHECK(A.reg.send_to_user("alice", "user during outage") == 1);
    expect_delivery({&a1}, "during outage");
    expect_delivery({&a1}, "group during outage");
    expect_delivery({&a1}, "user during outage");
    b1.expect_silence(500ms);
    CHECK(A.status().lost == lost_before + 4);

    // The outage is visible: REST status and one log line (not one per retry).
    {
        wsx::test::rest_client rest{A.port()};
        const auto res = rest.get("/api/connections");
        REQUIRE(res);
        const auto doc = parse_json(res->body);
        simdjson::dom::element cluster;
        REQUIRE(doc->root["cluster"].get(cluster) == simdjson::SUCCESS);
        CHECK(string_field(cluster, "state") == "down");
        CHECK(uint_field(cluster, "lost") >= 4);
        CHECK_FALSE(string_field(cluster, "last_error").empty());
    }
    // Let a few retries fail first.
    std::this_thread::sleep_for(1500ms);
    INFO(A.log_text());
    CHECK(A.log_count("connection lost (") == 1);
    CHECK(A.log_count("retrying in ") == 1);

    redis.start();  // the same port
    wait_formed(A, B);
    CHECK(A.status().reconnects >= 2);  // the publisher and the subscriber
    CHECK(A.log_count("connected again after") == 1);
    CHECK(A.status().state == wsx::cluster_state::connected);

    // Cross-instance delivery resumes, both ways.
    CHECK(A.reg.broadcast("after restart") == 1);
    expect_delivery({&a1, &b1}, "after restart");
    CHECK(B.reg.send_to(a1.id, "B to a1") == false);
    expect_delivery({&a1}, "B to a1");
    a1.expect_silence();
    b1.expect_silence();
}

TEST_CASE("a subscriber that drops counts what it missed, and keeps order") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    redis.start();
    instance A{redis.port(), "A"};
    // B waits a while before it subscribes again: A's messages meanwhile are lost to it.
    instance B{redis.port(), "B", [](auto& o) { o.reconnect_initial = 400ms; }};
    wait_formed(A, B);
    client b1{"b1", B.port()};
    const auto missed_before = B.status().missed;

    // Kills the subscribers only (publishers stay up).
    REQUIRE(wsx::test::redis_command(redis.port(), "CLIENT KILL TYPE pubsub").starts_with(":"));
    int sent = 0;
    const bool saw_down = wait_until(
        [&] {
            A.reg.broadcast("n:" + std::to_string(sent++));
            std::this_thread::sleep_for(2ms);
            return B.status().state != wsx::cluster_state::connected;
        },
        cluster_deadline);
    REQUIRE(saw_down);
    CHECK(B.status().publishing);  // only the subscriber was dropped
    // While B's subscriber is away, and on until it is back.
    const bool back = wait_until(
        [&] {
            A.reg.broadcast("n:" + std::to_string(sent++));
            std::this_thread::sleep_for(2ms);
            return formed(A, B);
        },
        cluster_deadline);
    REQUIRE(back);
    A.reg.broadcast("end");

    std::vector<int> got;
    for (;;) {
        const std::string m = b1.next();
        if (m == "end") break;
        REQUIRE(m.starts_with("n:"));
        got.push_back(std::stoi(m.substr(2)));
    }
    b1.expect_silence();
    INFO("sent " << sent << ", received " << got.size());
    CHECK(std::is_sorted(got.begin(), got.end()));
    CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());  // no duplicate
    CHECK(static_cast<int>(got.size()) < sent);
    // Every message that did not arrive is a gap B counted (heartbeats may add more).
    CHECK(B.status().missed - missed_before >= static_cast<std::uint64_t>(sent) - got.size());
    CHECK(B.status().reconnects >= 1);
}

TEST_CASE("Redis not there yet: down, then connects when it comes") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    const auto port = redis.reserve_port();
    instance A{port, "A"};
    CHECK(wait_until([&] { return A.status().state == wsx::cluster_state::down; }, cluster_deadline));
    CHECK(wait_until([&] { return A.log_count("cannot connect (") == 1; }, 5s));
    client a1{"a1", A.port()};
    CHECK(A.reg.broadcast("local only") == 1);
    CHECK(a1.next() == "local only");
    CHECK(A.status().lost == 1);

    redis.start();
    CHECK(wait_until([&] { return A.status().state == wsx::cluster_state::connected; }, cluster_deadline));
    CHECK(A.log_count("connected (channel \"wsx\", instance A) after ") == 1);
}

TEST_CASE("AUTH: the right password connects, a wrong one keeps the link down and says why") {
    redis_process redis{WSX_TEST_REDIS_SERVER, {"--requirepass", "s3cret"}};
    redis.start();
    instance A{redis.port(), "A", [](auto& o) { o.password = "s3cret"; }};
    instance B{redis.port(), "B", [](auto& o) { o.password = "wrong"; }};
    CHECK(wait_until([&] { return A.status().state == wsx::cluster_state::connected; }, cluster_deadline));
    CHECK(wait_until([&] { return B.status().state == wsx::cluster_state::down; }, cluster_deadline));
    INFO(B.status().last_error);
    CHECK(B.status().last_error.find("AUTH") != std::string::npos);
    CHECK(B.log_count("cannot connect (") == 1);
    CHECK_FALSE(B.reg.send(wsx::send_scope::all, {}, wsx::prepared_message::text("x")).forwarded);
}

TEST_CASE("a full queue counts the message lost instead of growing") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    redis.start();
    instance A{redis.port(), "A", [](auto& o) { o.max_queued_bytes = 200; }};
    REQUIRE(wait_until([&] { return A.status().state == wsx::cluster_state::connected; }, cluster_deadline));
    const auto lost = A.status().lost;
    CHECK_FALSE(A.reg.send(wsx::send_scope::all, {}, wsx::prepared_message::text(std::string(1000, 'x'))).forwarded);
    CHECK(A.status().lost == lost + 1);
    CHECK(A.reg.send(wsx::send_scope::all, {}, wsx::prepared_message::text("small")).forwarded);
}

TEST_CASE("stop detaches from the registry; sends are local again") {
    redis_process redis{WSX_TEST_REDIS_SERVER};
    redis.start();
    instance A{redis.port(), "A"};
    REQUIRE(wait_until([&] { return A.status().state == wsx::cluster_state::connected; }, cluster_deadline));
    REQUIRE(A.reg.cluster() != nullptr);
    client a1{"a1", A.port()};
    A.bp->stop();
    A.bp->stop();  // twice is fine
    CHECK(A.reg.cluster() == nullptr);
    CHECK(wait_until([&] { return A.status().state == wsx::cluster_state::stopped; }, 10s));
    CHECK(A.log_count("stopped") == 1);
    const auto r = A.reg.send(wsx::send_scope::all, {}, wsx::prepared_message::text("local"));
    CHECK(r.local == 1);
    CHECK_FALSE(r.forwarded);
    CHECK(a1.next() == "local");
    CHECK_THROWS_AS(A.bp->start(), std::logic_error);
}

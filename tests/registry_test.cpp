// SPDX-License-Identifier: BSL-1.0
#include <wsx/registry.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "memory_connection.hpp"

using wsx::test::memory_hub;
using wsx::test::memory_peer;

namespace {
// Declared in the order a server keeps them: connections (in the hub) die
// first, while the endpoint and registry they point to are still there.
struct fixture {
    wsx::registry reg;
    wsx::endpoint ep = reg.track({});
    memory_hub hub;
    memory_peer& connect(std::string user = {}) { return hub.connect(ep, std::move(user)); }
};
} // namespace

TEST_CASE("connections join on open and leave on close") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    CHECK(f.reg.count() == 2);
    const auto ids = f.reg.ids();
    CHECK(std::set<std::string>(ids.begin(), ids.end()) ==
          std::set<std::string>{std::string{a.conn->id()}, std::string{b.conn->id()}});
    CHECK(f.reg.find(a.conn->id()) == a.conn);
    a.send_close();
    f.hub.poll();
    a.pipe->close_peer();
    f.hub.poll();
    CHECK(f.reg.count() == 1);
    CHECK(f.reg.find(a.conn->id()) == nullptr);
}

TEST_CASE("unknown ids are refused, closing connections too") {
    fixture f;
    auto& a = f.connect();
    CHECK(f.reg.find("nope") == nullptr);
    CHECK_FALSE(f.reg.send_to("nope", "x"));
    CHECK_FALSE(f.reg.summary("nope"));
    a.conn->close();
    f.hub.poll();
    CHECK_FALSE(f.reg.send_to(a.conn->id(), "x"));
    CHECK(f.reg.count() == 0);  // a closing connection is dropped when found
}

TEST_CASE("send_to reaches exactly one connection") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    CHECK(f.reg.send_to(b.conn->id(), "only b"));
    f.hub.poll();
    CHECK(a.messages().empty());
    CHECK(b.messages() == std::vector<std::string>{"only b"});
}

TEST_CASE("broadcast and broadcast_except count their recipients") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    auto& c = f.connect();
    CHECK(f.reg.broadcast("all") == 3);
    CHECK(f.reg.broadcast_except(b.conn->id(), "not b") == 2);
    f.hub.poll();
    CHECK(a.messages() == std::vector<std::string>{"all", "not b"});
    CHECK(b.messages() == std::vector<std::string>{"all"});
    CHECK(c.messages() == std::vector<std::string>{"all", "not b"});
    CHECK(f.reg.broadcast("\xff") == 0);  // not UTF-8: refused for everyone
}

TEST_CASE("a broadcast shares one encoded frame") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    // Over 1 KiB: shared (a small frame is copied, see below).
    const auto m = wsx::prepared_message::text(std::string(4000, 'z'));
    CHECK(f.reg.broadcast(m) == 2);
    f.hub.poll();
    // Both sockets were written straight from the one shared frame: no copy per client.
    for (auto* p : {&a, &b}) {
        REQUIRE(p->pipe->written_from.size() == 1);
        CHECK(p->pipe->written_from[0] == m.frame()->data());
        CHECK(p->messages() == std::vector<std::string>{std::string(4000, 'z')});
    }
}

TEST_CASE("groups: join, leave, publish") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    auto& c = f.connect();
    CHECK(f.reg.join(*a.conn, "prices"));
    CHECK(f.reg.join(c.conn->id(), "prices"));
    CHECK(f.reg.join(c.conn->id(), "news"));
    CHECK_FALSE(f.reg.join("nope", "prices"));
    CHECK(f.reg.group_size("prices") == 2);
    CHECK(f.reg.publish("prices", "p1") == 2);
    CHECK(f.reg.leave(*a.conn, "prices"));
    CHECK_FALSE(f.reg.leave(*a.conn, "prices"));
    CHECK(f.reg.publish("prices", "p2") == 1);
    CHECK(f.reg.publish("empty", "x") == 0);
    f.hub.poll();
    CHECK(a.messages() == std::vector<std::string>{"p1"});
    CHECK(b.messages().empty());
    CHECK(c.messages() == std::vector<std::string>{"p1", "p2"});
    CHECK(f.reg.summary(c.conn->id())->groups == std::vector<std::string>{"news", "prices"});
    // Leaving the registry leaves the groups.
    f.reg.remove(*c.conn);
    CHECK(f.reg.group_size("prices") == 0);
    CHECK(f.reg.group_size("news") == 0);
}

TEST_CASE("send_to_user reaches every connection of that user") {
    fixture f;
    auto& a1 = f.connect("alice");
    auto& a2 = f.connect("alice");
    auto& b = f.connect("bob");
    CHECK(f.reg.send_to_user("alice", "hi alice") == 2);
    CHECK(f.reg.send_to_user("carol", "nobody") == 0);
    f.hub.poll();
    CHECK(a1.messages() == std::vector<std::string>{"hi alice"});
    CHECK(a2.messages() == std::vector<std::string>{"hi alice"});
    CHECK(b.messages().empty());
    f.reg.remove(*a1.conn);
    CHECK(f.reg.send_to_user("alice", "again") == 1);
}

TEST_CASE("summaries describe each connection, oldest first") {
    fixture f;
    auto& a = f.connect("alice");
    a.send_text("hello");
    f.hub.poll();
    f.connect();
    const auto all = f.reg.summaries();
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == a.conn->id());
    CHECK(all[0].user == "alice");
    CHECK(all[0].path == "/ws");
    CHECK(all[0].remote == "192.0.2.1:40000");
    CHECK(all[0].protocol == "http/1.1");  // the default of connection_info
    CHECK(all[0].stats.messages_in == 1);
    CHECK(all[0].stats.bytes_in == 5);
    CHECK(all[0].connected_at <= all[1].connected_at);
}

TEST_CASE("close_all closes every registered connection") {
    fixture f;
    auto& a = f.connect();
    auto& b = f.connect();
    f.reg.close_all(wsx::close_code::going_away, "bye");
    f.hub.poll();
    CHECK(a.conn->state() == wsx::connection_state::closing);
    CHECK(b.conn->state() == wsx::connection_state::closing);
}

TEST_CASE("concurrent adds, removes, sends and broadcasts from several threads") {
    // The I/O thread runs the connections; other threads hammer the registry.
    // Run under ThreadSanitizer in CI (tests/run_all.sh).
    fixture f;
    std::vector<memory_peer*> peers;
    for (int i = 0; i < 50; ++i) peers.push_back(&f.connect());
    std::atomic<bool> done{false};
    std::thread io([&] {
        while (!done) {
            f.hub.io.restart();
            f.hub.io.run_for(std::chrono::milliseconds(1));
        }
    });
    std::vector<std::thread> workers;
    std::atomic<std::size_t> delivered{0};
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                auto& p = *peers[static_cast<std::size_t>((t * 13 + i) % 50)];
                switch (i % 5) {
                case 0: delivered += f.reg.broadcast("b"); break;
                case 1: f.reg.send_to(p.conn->id(), "s"); break;
                case 2: f.reg.join(p.conn->id(), "g" + std::to_string(t)); break;
                case 3: f.reg.publish("g" + std::to_string(t), "p"); break;
                case 4:
                    f.reg.remove(*p.conn);
                    f.reg.add(*p.conn);  // add is safe from any thread too
                    break;
                }
                (void)f.reg.summaries();
            }
        });
    }
    for (auto& w : workers) w.join();
    done = true;
    io.join();
    CHECK(f.reg.count() == 50);
    CHECK(delivered > 0);
}

TEST_CASE("broadcasts from another thread that arrive together leave in one write per connection") {
    // The test thread is not the I/O thread, so every broadcast is posted to
    // it as a batch: the case of a backplane's read or a background job.
    fixture f;
    std::vector<memory_peer*> peers;
    for (int i = 0; i < 3; ++i) peers.push_back(&f.connect());
    std::vector<std::size_t> writes_before;
    for (auto* p : peers) writes_before.push_back(p->pipe->write_calls);

    std::vector<std::string> sent;
    for (int i = 0; i < 10; ++i) {
        sent.push_back("message " + std::to_string(i));
        CHECK(f.reg.broadcast(sent.back()) == 3);
    }
    f.hub.poll();
    for (std::size_t i = 0; i < peers.size(); ++i) {
        CHECK(peers[i]->messages() == sent);
        CHECK(peers[i]->pipe->write_calls - writes_before[i] == 1);
    }
}

TEST_CASE("a burst of broadcasts from another thread within the limit arrives whole, in few writes") {
    // 200 x 4 KiB are all admitted before the I/O thread runs: they wait in
    // the connection's inbox, one posted drain takes them all, and each write
    // gathers many frames.
    fixture f;
    f.hub.limits.max_buffered_bytes = 1024 * 1024;
    memory_peer& p = f.connect();
    const std::size_t writes_before = p.pipe->write_calls;
    std::vector<std::string> sent;
    for (int i = 0; i < 200; ++i) {
        sent.push_back(std::string(4096, static_cast<char>('a' + i % 26)) + std::to_string(i));
        CHECK(f.reg.broadcast(sent.back()) == 1);
    }
    CHECK(p.conn->buffered_amount() >= 200 * 4096);  // charged in this thread, before any write
    f.hub.poll();
    CHECK(p.conn->state() == wsx::connection_state::open);
    const auto got = p.messages();
    CHECK(got.size() == sent.size());
    CHECK((got == sent));  // in parentheses: not 800 KiB of expansion on failure
    const std::size_t writes = p.pipe->write_calls - writes_before;
    CHECK(writes >= 1);
    CHECK(writes <= 200 / 10);  // each write gathers many frames
    CHECK(p.conn->buffered_amount() == 0);
}

TEST_CASE("a burst from another thread over the limit is refused in the caller's thread") {
    // The I/O thread does not run while the burst is sent (a stalled thread):
    // admission alone bounds what the connection holds.
    const auto policy = GENERATE(wsx::backpressure_policy::drop, wsx::backpressure_policy::close);
    INFO((policy == wsx::backpressure_policy::drop ? "drop" : "close"));
    fixture f;
    const std::size_t limit = 256 * 1024;
    f.hub.limits.max_buffered_bytes = limit;
    f.hub.limits.on_backpressure = policy;
    memory_peer& p = f.connect();
    memory_peer& q = f.connect();  // a second connection, with room
    std::size_t queued = 0, refused = 0;
    std::vector<std::string> sent;
    for (int i = 0; i < 200; ++i) {
        sent.push_back(std::string(4096, static_cast<char>('a' + i % 26)) + std::to_string(i));
        const auto r = f.reg.send(wsx::send_scope::connection, p.conn->id(),
                                  wsx::prepared_message::text(sent.back()));
        queued += r.local;
        refused += r.refused;
        CHECK(p.conn->buffered_amount() <= limit + 4200);  // the limit plus one message
    }
    CHECK(queued + refused == 200);
    CHECK(queued >= limit / 4200);
    CHECK(queued <= limit / 4096 + 1);
    CHECK(refused > 0);
    // The other connection is not affected.
    CHECK(f.reg.send_to(q.conn->id(), "still here"));
    f.hub.poll();
    CHECK(q.messages() == std::vector<std::string>{"still here"});
    if (policy == wsx::backpressure_policy::drop) {
        CHECK(p.conn->state() == wsx::connection_state::open);
        CHECK(p.conn->stats().dropped == refused);
        const auto got = p.messages();
        CHECK((got == std::vector<std::string>(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(queued))));
    } else {
        CHECK(p.conn->state() != wsx::connection_state::open);
        CHECK(p.conn->error() == wsx::error::backpressure);
        (void)p.messages();
        CHECK(p.closed_with == wsx::close_code::policy_violation);
    }
}

TEST_CASE("a write error found during another connection's handler reaches its connection on its own turn") {
    // Y's handler broadcasts to X, whose socket fails. X's on_close must not
    // run inside Y's handler (architecture: no nested handlers): Y's handler
    // may hold locks or iterate over state that X's on_close changes.
    wsx::registry reg;
    std::vector<std::string> events;
    wsx::endpoint inner;
    inner.on_message = [&](wsx::connection& c, wsx::message) {
        events.push_back("Y begins");
        for (int i = 0; i < 100; ++i) reg.broadcast_except(c.id(), "to X " + std::to_string(i));
        events.push_back("Y ends");
    };
    inner.on_close = [&](wsx::connection&, wsx::close_code, std::string_view) {
        events.push_back("a close");
    };
    wsx::endpoint ep = reg.track(std::move(inner));
    memory_hub hub;
    memory_peer& x = hub.connect(ep);
    memory_peer& y = hub.connect(ep);
    x.pipe->fail_at = x.pipe->operations;  // X's next transport operation (a write) fails
    y.send_text("go");
    hub.poll();
    CHECK(events == std::vector<std::string>{"Y begins", "Y ends", "a close"});
    CHECK(x.conn->state() == wsx::connection_state::closed);
    CHECK(y.conn->state() == wsx::connection_state::open);
}

// ---- cluster link ------------------------------------------------------------------
namespace {
// Records what the registry forwards; refuses when told to (a link that is down).
struct recording_link final : wsx::cluster_link {
    struct forwarded {
        wsx::send_scope scope;
        std::string target;
        std::string payload;
        bool operator==(const forwarded&) const = default;
    };
    std::vector<forwarded> calls;
    bool accept = true;

    bool forward(wsx::send_scope scope, std::string_view target, const wsx::prepared_message& m) override {
        calls.push_back({scope, std::string{target}, std::string{m.payload()}});
        return accept;
    }
    wsx::cluster_status status() const override { return {}; }
};
using fwd = recording_link::forwarded;
using wsx::send_scope;
} // namespace

TEST_CASE("with a cluster link, every send is delivered locally and forwarded once") {
    fixture f;
    auto link = std::make_shared<recording_link>();
    f.reg.attach(link);
    CHECK(f.reg.cluster() == link);
    auto& a = f.connect("alice");
    auto& b = f.connect();
    f.reg.join(*b.conn, "g");

    CHECK(f.reg.broadcast("all") == 2);
    CHECK(f.reg.broadcast_except(a.conn->id(), "not a") == 1);
    CHECK(f.reg.publish("g", "to g") == 1);
    CHECK(f.reg.publish("elsewhere", "to a group with no member here") == 0);
    CHECK(f.reg.send_to_user("alice", "to alice") == 1);
    CHECK(f.reg.send_to_user("zoe", "to zoe") == 0);
    f.hub.poll();
    CHECK(a.messages() == std::vector<std::string>{"all", "to alice"});
    CHECK(b.messages() == std::vector<std::string>{"all", "not a", "to g"});
    const std::string a_id{a.conn->id()};
    CHECK(link->calls == std::vector<fwd>{{send_scope::all, "", "all"},
                                          {send_scope::all_except, a_id, "not a"},
                                          {send_scope::group, "g", "to g"},
                                          {send_scope::group, "elsewhere", "to a group with no member here"},
                                          {send_scope::user, "alice", "to alice"},
                                          {send_scope::user, "zoe", "to zoe"}});
}

TEST_CASE("send_to: a local id is not forwarded, any other id is") {
    fixture f;
    auto link = std::make_shared<recording_link>();
    f.reg.attach(link);
    auto& a = f.connect();
    CHECK(f.reg.send_to(a.conn->id(), "here"));
    CHECK(link->calls.empty());
    // Not local: forwarded; the return value still means "queued here".
    CHECK_FALSE(f.reg.send_to("elsewhere-id", "there"));
    REQUIRE(link->calls.size() == 1);
    CHECK(link->calls[0] == fwd{send_scope::connection, "elsewhere-id", "there"});
    const auto r = f.reg.send(send_scope::connection, "other-id", wsx::prepared_message::text("x"));
    CHECK(r.local == 0);
    CHECK(r.forwarded);
    // A link that cannot take it says so.
    link->accept = false;
    const auto refused = f.reg.send(send_scope::connection, "other-id", wsx::prepared_message::text("y"));
    CHECK_FALSE(refused.forwarded);
    const auto all = f.reg.send(send_scope::all, {}, wsx::prepared_message::text("z"));
    CHECK(all.local == 1);
    CHECK_FALSE(all.forwarded);
    f.hub.poll();
    CHECK(a.messages() == std::vector<std::string>{"here", "z"});
}

TEST_CASE("deliver_local reaches this instance only and never forwards") {
    fixture f;
    auto link = std::make_shared<recording_link>();
    f.reg.attach(link);
    auto& a = f.connect("alice");
    auto& b = f.connect();
    f.reg.join(*a.conn, "g");
    const auto m = [](std::string_view s) { return wsx::prepared_message::text(s); };
    CHECK(f.reg.deliver_local(send_scope::all, {}, m("1")).local == 2);
    CHECK(f.reg.deliver_local(send_scope::all_except, b.conn->id(), m("2")).local == 1);
    CHECK(f.reg.deliver_local(send_scope::group, "g", m("3")).local == 1);
    CHECK(f.reg.deliver_local(send_scope::user, "alice", m("4")).local == 1);
    CHECK(f.reg.deliver_local(send_scope::connection, b.conn->id(), m("5")).local == 1);
    CHECK(f.reg.deliver_local(send_scope::connection, "unknown", m("6")).local == 0);
    CHECK(f.reg.deliver_local(send_scope::all, {}, m("\xff")).local == 0);  // not UTF-8
    CHECK(f.reg.deliver_local(send_scope::connection, b.conn->id(), m("\xff")).local == 0);
    f.hub.poll();
    CHECK(a.messages() == std::vector<std::string>{"1", "2", "3", "4"});
    CHECK(b.messages() == std::vector<std::string>{"1", "5"});
    CHECK(link->calls.empty());
}

TEST_CASE("invalid text is neither delivered nor forwarded") {
    fixture f;
    auto link = std::make_shared<recording_link>();
    f.reg.attach(link);
    f.connect();
    CHECK(f.reg.broadcast("\xff") == 0);
    CHECK_FALSE(f.reg.send_to("elsewhere", "\xc3"));
    CHECK(link->calls.empty());
}

TEST_CASE("detach only removes the link it names") {
    fixture f;
    auto first = std::make_shared<recording_link>();
    auto second = std::make_shared<recording_link>();
    f.reg.attach(first);
    f.reg.attach(second);  // replaces
    f.reg.detach(first.get());  // a stale link cannot detach its successor
    CHECK(f.reg.cluster() == second);
    f.reg.broadcast("x");
    CHECK(first->calls.empty());
    CHECK(second->calls.size() == 1);
    f.reg.detach(second.get());
    CHECK(f.reg.cluster() == nullptr);
    f.reg.attach(first);
    f.reg.detach();
    CHECK(f.reg.cluster() == nullptr);
    CHECK(f.reg.broadcast("y") == 0);
    CHECK(second->calls.size() == 1);
}

TEST_CASE("sends with a link attached and detached from several threads") {
    // For ThreadSanitizer: attach/detach race with sends; the link itself is thread-safe.
    struct counting_link final : wsx::cluster_link {
        std::atomic<int> n{0};
        bool forward(wsx::send_scope, std::string_view, const wsx::prepared_message&) override {
            ++n;
            return true;
        }
        wsx::cluster_status status() const override { return {}; }
    };
    fixture f;
    for (int i = 0; i < 10; ++i) f.connect();
    auto link = std::make_shared<counting_link>();
    std::atomic<bool> done{false};
    std::thread io([&] {
        while (!done) {
            f.hub.io.restart();
            f.hub.io.run_for(std::chrono::milliseconds(1));
        }
    });
    std::thread toggler([&] {
        for (int i = 0; i < 200; ++i) {
            f.reg.attach(link);
            f.reg.detach(link.get());
        }
        f.reg.attach(link);
    });
    std::vector<std::thread> senders;
    for (int t = 0; t < 3; ++t)
        senders.emplace_back([&] {
            for (int i = 0; i < 200; ++i) {
                f.reg.broadcast("b");
                f.reg.send_to("nowhere", "s");
            }
        });
    for (auto& s : senders) s.join();
    toggler.join();
    f.reg.broadcast("last");
    done = true;
    io.join();
    CHECK(link->n.load() > 0);  // at least the last one, sent while attached
}

TEST_CASE("a broadcast reaches every I/O thread's connections once: its own inline, the others through one drain") {
    // Two io_contexts, as a server with two I/O threads has: the registry
    // keeps one list per thread.
    wsx::registry reg;
    wsx::endpoint ep = reg.track({});
    memory_hub one, two;
    std::vector<memory_peer*> ones, twos;
    for (int i = 0; i < 3; ++i) ones.push_back(&one.connect(ep));
    for (int i = 0; i < 2; ++i) twos.push_back(&two.connect(ep));
    REQUIRE(reg.count() == 5);

    std::size_t counted = 0;
    asio::post(one.io, [&] { counted = reg.broadcast("from one"); });
    one.poll();
    CHECK(counted == 5);  // final when the call returns, the other thread's share too
    for (auto* p : ones) CHECK(p->messages() == std::vector<std::string>{"from one"});
    // The other thread's share waits for that thread to run its drain.
    for (auto* p : twos) CHECK(p->messages().empty());
    for (auto* p : twos) CHECK(p->conn->buffered_amount() > 0);  // charged in the caller's thread
    std::vector<std::size_t> writes;
    for (auto* p : twos) writes.push_back(p->pipe->write_calls);
    two.poll();
    for (std::size_t i = 0; i < twos.size(); ++i) {
        CHECK(twos[i]->messages() == std::vector<std::string>{"from one"});
        CHECK(twos[i]->pipe->write_calls - writes[i] == 1);
    }

    // From a thread that runs neither: both shares are admitted here, each
    // drained by its own thread; broadcast_except skips the one connection.
    CHECK(reg.broadcast_except(twos[0]->conn->id(), "from outside") == 4);
    one.poll();
    two.poll();
    for (auto* p : ones) CHECK(p->messages() == std::vector<std::string>{"from outside"});
    CHECK(twos[0]->messages().empty());
    CHECK(twos[1]->messages() == std::vector<std::string>{"from outside"});
}

TEST_CASE("removing and adding again keeps every connection in the fan-out exactly once") {
    // The per-thread list removes by swapping the last member into the hole:
    // every member must keep the right place, whatever the order.
    fixture f;
    std::vector<memory_peer*> peers;
    for (int i = 0; i < 7; ++i) peers.push_back(&f.connect());
    f.reg.remove(*peers[0]->conn);
    f.reg.remove(*peers[6]->conn);  // the last one
    f.reg.remove(*peers[3]->conn);
    f.reg.add(*peers[3]->conn);     // back, at the end
    f.reg.add(*peers[1]->conn);     // added twice: still one place
    f.reg.remove(*peers[2]->conn);
    REQUIRE(f.reg.count() == 4);    // 1, 3, 4, 5
    CHECK(f.reg.broadcast("x") == 4);
    f.hub.poll();
    const std::vector<std::size_t> want{0, 1, 0, 1, 1, 1, 0};
    for (std::size_t i = 0; i < peers.size(); ++i) {
        INFO("peer " << i);
        CHECK(peers[i]->messages().size() == want[i]);
    }
    // And once they all leave, a broadcast reaches nobody (the list is dropped).
    for (auto* p : peers) f.reg.remove(*p->conn);
    CHECK(f.reg.broadcast("y") == 0);
    f.reg.add(*peers[4]->conn);
    CHECK(f.reg.broadcast("z") == 1);
    f.hub.poll();
    CHECK(peers[4]->messages() == std::vector<std::string>{"z"});
}

TEST_CASE("a burst of small broadcasts: byte-exact, one write per connection, every reference released once written") {
    const bool from_io = GENERATE(true, false);
    INFO((from_io ? "from the I/O thread" : "from another thread"));
    fixture f;
    std::vector<memory_peer*> peers;
    for (int i = 0; i < 3; ++i) peers.push_back(&f.connect());
    std::vector<std::size_t> writes_before;
    for (auto* p : peers) writes_before.push_back(p->pipe->write_calls);

    // Eight 100 B frames, text and binary, each byte telling where it is.
    std::vector<wsx::prepared_message> msgs;
    std::string want;  // the exact bytes every client must read
    for (int i = 0; i < 8; ++i) {
        std::string payload(100, '\0');
        for (std::size_t j = 0; j < payload.size(); ++j) payload[j] = static_cast<char>('a' + (i * 7 + j) % 26);
        msgs.emplace_back(i % 2 ? wsx::opcode::binary : wsx::opcode::text, payload);
        want += *msgs.back().frame();
    }
    const long refs = msgs[0].frame().use_count();
    auto burst = [&] {
        for (const auto& m : msgs) CHECK(f.reg.broadcast(m) == 3);
    };
    if (from_io) asio::post(f.hub.io, burst);
    else burst();
    f.hub.poll();
    for (std::size_t i = 0; i < peers.size(); ++i) {
        CHECK(peers[i]->pipe->write_calls - writes_before[i] == 1);  // the whole burst in one write
        CHECK(peers[i]->pipe->take_output() == want);
        CHECK(peers[i]->conn->buffered_amount() == 0);
    }
    // Written: no connection keeps a reference (the queue keeps its buffers, not the frames).
    for (const auto& m : msgs) CHECK(m.frame().use_count() == refs);
}

TEST_CASE("direct sends and broadcasts, small and large, reach one connection in the order they were made") {
    const bool from_io = GENERATE(true, false);
    INFO((from_io ? "from the I/O thread" : "from another thread"));
    fixture f;
    memory_peer& p = f.connect();
    memory_peer& q = f.connect();
    std::vector<std::string> want_p, want_q;
    auto sends = [&] {
        for (int round = 0; round < 3; ++round) {
            const std::string r = std::to_string(round);
            const std::string small = "small " + r, large = std::string(3000, 'L') + r;
            CHECK(f.reg.broadcast(small) == 2);
            CHECK(p.conn->send("direct " + r));
            CHECK(f.reg.broadcast(large) == 2);
            CHECK(f.reg.send_to(p.conn->id(), "send_to " + r));
            CHECK(p.conn->send(wsx::prepared_message::text(std::string(2000, 'P') + r)));
            CHECK(f.reg.broadcast_except(q.conn->id(), "except " + r) == 1);
            want_p.insert(want_p.end(), {small, "direct " + r, large, "send_to " + r,
                                         std::string(2000, 'P') + r, "except " + r});
            want_q.insert(want_q.end(), {small, large});
        }
    };
    if (from_io) asio::post(f.hub.io, sends);
    else sends();
    f.hub.poll();
    CHECK((p.messages() == want_p));
    CHECK((q.messages() == want_q));
    CHECK(p.conn->buffered_amount() == 0);
}

TEST_CASE("a stalled connection refuses small broadcasts past its limit, counted as dropped") {
    // The socket takes nothing: what the connection accepts must stay within
    // its limit (plus one message) however many broadcasts the I/O thread
    // itself makes, each refusal counted as a drop; the other connection gets all.
    const bool from_io = GENERATE(true, false);
    INFO((from_io ? "from the I/O thread" : "from another thread"));
    fixture f;
    const std::size_t limit = 2048;
    f.hub.limits.max_buffered_bytes = limit;
    f.hub.limits.on_backpressure = wsx::backpressure_policy::drop;
    memory_peer& p = f.connect();
    memory_peer& q = f.connect();
    p.pipe->write_budget = 0;
    std::size_t refused = 0;
    std::vector<std::string> sent;
    for (int round = 0; round < 5; ++round) {
        auto burst = [&] {
            for (int i = 0; i < 10; ++i) {
                sent.push_back(std::string(100, static_cast<char>('a' + round)) + std::to_string(i));
                const auto r = f.reg.send(wsx::send_scope::all, {}, wsx::prepared_message::text(sent.back()));
                CHECK(r.local + r.refused == 2);
                refused += r.refused;
                CHECK(p.conn->buffered_amount() <= limit + 110);  // the limit plus one message
            }
        };
        if (from_io) asio::post(f.hub.io, burst);
        else burst();
        f.hub.poll();
        CHECK(p.conn->buffered_amount() <= limit + 110);
    }
    const std::size_t queued = sent.size() - refused;
    CHECK(queued >= limit / 110);
    CHECK(queued <= limit / 104 + 1);
    CHECK(p.conn->stats().dropped == refused);
    CHECK(q.conn->stats().dropped == 0);
    CHECK((q.messages() == sent));
    // Unstalled, it writes exactly what it accepted, in order.
    p.pipe->allow_writes();
    f.hub.poll();
    CHECK(p.conn->state() == wsx::connection_state::open);
    CHECK((p.messages() == std::vector<std::string>(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(queued))));
    CHECK(p.conn->buffered_amount() == 0);
}

TEST_CASE("fan-outs from two I/O threads in turn, each reusing the drain lists the other gave back, deliver every message once") {
    wsx::registry reg;
    wsx::endpoint ep = reg.track({});
    memory_hub one, two;
    std::vector<memory_peer*> all;
    for (int i = 0; i < 4; ++i) all.push_back(&one.connect(ep));
    for (int i = 0; i < 3; ++i) all.push_back(&two.connect(ep));
    std::vector<std::string> sent;
    for (int round = 0; round < 6; ++round) {
        memory_hub& from = round % 2 ? two : one;
        const std::string a = "round " + std::to_string(round), b = a + " again";
        sent.insert(sent.end(), {a, b});
        asio::post(from.io, [&] {
            CHECK(reg.broadcast(a) == (round > 3 ? 6u : 7u));
            CHECK(reg.broadcast(b) == (round > 3 ? 6u : 7u));
        });
        from.poll();
        one.poll();
        two.poll();
        if (round == 3) reg.remove(*all[1]->conn);  // one leaves: the lists shrink
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        INFO("peer " << i);
        auto want = sent;
        if (i == 1) want.resize(8);
        CHECK(all[i]->messages() == want);
    }
}

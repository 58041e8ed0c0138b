// SPDX-License-Identifier: BSL-1.0
// wsx::typed_endpoint<State> over real sockets: the State is made once when a
// connection opens and destroyed once when it closes (by the client, by the
// server, at stop()), never for a refused upgrade; every handler gets the
// same State; a throwing constructor fails the connection with 1011; the
// untyped endpoint with user_data keeps working beside it.
#include "wsx/typed_endpoint.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"

#include <wsx/server.hpp>

#include <any>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::test::loopback_client;
using wsx::test::wait_until;
using wsx::test::ws_event;
using kind = ws_event::kind;

wsx::server_options test_options() {
    return wsx::server_options{.host = "127.0.0.1", .port = 0, .handshake_timeout = 2s,
                               .stop_timeout = 500ms, .timer_resolution = 20ms};
}

// Counts its lives; each connection's handlers must all see the same one.
struct session {
    static inline std::atomic<int> made{0}, destroyed{0};
    static inline std::mutex mutex;
    static inline std::multiset<std::string> ids;  // connection ids a State was made for

    explicit session(wsx::connection& c) : id(c.id()) {
        if (const auto* name = std::any_cast<std::string>(&c.user_data())) user = *name;
        if (user == "explode") throw std::runtime_error("no session for you");
        ++made;
        std::lock_guard lock(mutex);
        ids.insert(id);
    }
    session(const session&) = delete;
    ~session() { ++destroyed; }

    std::string id;
    std::string user;
    int messages = 0;
    bool opened = false;
};

} // namespace

TEST_CASE("typed_endpoint: one State per connection, made on open, destroyed on close",
          "[typed_endpoint]") {
    session::made = 0;
    session::destroyed = 0;
    session::ids.clear();
    std::atomic<int> closes{0}, closes_with_wrong_state{0}, handlers_without_open{0};
    std::atomic<int> untyped_opens{0};

    wsx::server srv(test_options());
    srv.websocket<session>("/typed", {
        .on_upgrade = [](wsx::upgrade_context& u) {
            if (u.query() == "deny") return u.reject(403, "no");
            u.user_data = std::string{u.query()};
        },
        .on_open = [](wsx::connection& c, session& s) {
            s.opened = true;
            if (s.id != c.id()) throw std::logic_error("another connection's State");
        },
        .on_message = [&](wsx::connection& c, session& s, wsx::message m) {
            if (!s.opened || s.id != c.id()) ++handlers_without_open;
            ++s.messages;
            if (m.text() == "bye") return c.close(close_code::normal, "bye " + s.user);
            c.send(s.user + ":" + std::to_string(s.messages));
        },
        .on_close = [&](wsx::connection& c, session& s, close_code, std::string_view) {
            if (s.id != c.id() || !s.opened) ++closes_with_wrong_state;
            ++closes;
        },
    });
    // The untyped form, with the upgrade hook's std::any, beside it.
    srv.websocket("/untyped", {
        .on_upgrade = [](wsx::upgrade_context& u) { u.user_data = 42; },
        .on_open = [&](wsx::connection& c) {
            if (std::any_cast<int>(c.user_data()) == 42) ++untyped_opens;
        },
    });
    srv.start(2);

    SECTION("clients that close, a server-side close, refused upgrades, and stop()") {
        constexpr int clients = 6;
        std::vector<std::unique_ptr<loopback_client>> cs;
        for (int i = 0; i < clients; ++i) {
            cs.push_back(std::make_unique<loopback_client>(srv.port()));
            REQUIRE(cs.back()->upgrade("/typed?u" + std::to_string(i)));
        }
        // Refused upgrades make no State.
        for (int i = 0; i < 3; ++i) {
            loopback_client refused(srv.port());
            const auto res = refused.upgrade("/typed?deny");
            REQUIRE(res);
            CHECK(res->status == 403);
        }
        loopback_client untyped(srv.port());
        REQUIRE(untyped.upgrade("/untyped"));
        CHECK(wait_until([&] { return untyped_opens.load() == 1; }));

        for (int round = 1; round <= 3; ++round)
            for (int i = 0; i < clients; ++i) {
                REQUIRE_FALSE(cs[i]->send_text("hi"));
                const ws_event ev = cs[i]->read_event();
                REQUIRE(ev.is_message());
                CHECK(ev.payload == "u" + std::to_string(i) + ":" + std::to_string(round));
            }
        CHECK(session::made == clients);
        CHECK(session::destroyed == 0);

        // Closed by the client, by the server, and by a vanishing peer.
        CHECK(cs[0]->close_handshake().is_close());
        REQUIRE_FALSE(cs[1]->send_text("bye"));
        const ws_event bye = cs[1]->read_until_close();
        CHECK(bye.payload == "bye u1");
        cs[1]->send_close(close_code::normal);  // completes the server's closing handshake
        CHECK(cs[1]->read_event().is_eof());   // the server closes TCP; the client then does
        cs[2]->close();
        REQUIRE(wait_until([&] { return session::destroyed.load() == 3; }));
        CHECK(closes == 3);

        // stop() closes the rest: each State goes once.
        srv.stop();
        srv.join();
        CHECK(session::made == clients);
        CHECK(session::destroyed == clients);
        CHECK(closes == clients);
        CHECK(closes_with_wrong_state == 0);
        CHECK(handlers_without_open == 0);
        std::lock_guard lock(session::mutex);
        CHECK(session::ids.size() == static_cast<std::size_t>(clients));
        CHECK(std::set<std::string>(session::ids.begin(), session::ids.end()).size() == session::ids.size());
    }

    SECTION("a constructor that throws fails the connection with 1011 and runs no handler") {
        loopback_client c(srv.port());
        REQUIRE(c.upgrade("/typed?explode"));
        c.send_text("hi");
        const ws_event ev = c.read_until_close();
        REQUIRE(ev.is_close());
        CHECK(ev.code == close_code::internal_error);
        srv.stop();
        srv.join();
        CHECK(session::made == 0);
        CHECK(session::destroyed == 0);
        CHECK(closes == 0);
        CHECK(handlers_without_open == 0);
    }
}

namespace {
struct plain_state {
    static inline std::atomic<int> made{0}, destroyed{0};
    plain_state() { ++made; }
    ~plain_state() { ++destroyed; }
    int pongs = 0;
};
} // namespace

TEST_CASE("typed_endpoint: a default-constructed State, and on_close that throws still destroys it",
          "[typed_endpoint]") {
    std::atomic<bool> closed{false};
    wsx::server srv(test_options());
    srv.websocket<plain_state>("/", {
        .on_close = [&](wsx::connection&, plain_state& s, close_code, std::string_view) {
            closed = s.pongs == 0;
            throw std::runtime_error("on_close fails");
        },
    });
    srv.start(1);
    {
        loopback_client c(srv.port());
        REQUIRE(c.upgrade("/"));
        REQUIRE(wait_until([&] { return plain_state::made.load() == 1; }));
        CHECK(c.close_handshake().is_close());
    }
    REQUIRE(wait_until([&] { return closed.load(); }));
    CHECK(wait_until([&] { return plain_state::destroyed.load() == 1; }));
    CHECK(plain_state::made == 1);
}

// SPDX-License-Identifier: BSL-1.0
// GET /metrics (include/wsx/metrics_endpoint.hpp) against a live server over
// loopback sockets: the counters after a scripted session match what the
// session did, exactly (messages and payload bytes in and out, one close 1000,
// one close 1008 from backpressure, drops, refused handshakes and their
// status, keep-alive pings left unanswered); several I/O threads' counters
// summed; who may scrape (bearer token, loopback-only without one); and, in
// the test tagged [promtool] (CTest: metrics_endpoint_promtool), Prometheus's
// own checker accepting the answer.
#include "wsx/metrics_endpoint.hpp"

#include "wsx/endpoints.hpp"
#include "wsx/registry.hpp"
#include "wsx/server.hpp"

#include "catch.hpp"
#include "loopback_client.hpp"
#include "rest_client.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using wsx::close_code;
using wsx::test::loopback_client;
using wsx::test::rest_client;
using wsx::test::wait_until;
using wsx::test::ws_event;
using kind = ws_event::kind;

wsx::server_options test_options(unsigned threads = 1) {
    return wsx::server_options{.host = "127.0.0.1",
                               .port = 0,
                               .threads = threads,
                               .handshake_timeout = 2s,
                               .stop_timeout = 500ms,
                               .timer_resolution = 20ms};
}

// The value of the sample line `series` ("name" or "name{label=\"v\"}"), or -1.
long long sample(const std::string& text, std::string_view series) {
    std::size_t at = 0;
    while ((at = text.find(series, at)) != std::string::npos) {
        const bool line_start = at == 0 || text[at - 1] == '\n';
        const std::size_t after = at + series.size();
        if (line_start && after < text.size() && text[after] == ' ') {
            long long v = -1;
            std::from_chars(text.data() + after + 1, text.data() + text.size(), v);
            return v;
        }
        at = after;
    }
    return -1;
}

std::string scrape(std::uint16_t port, std::string token = {}) {
    rest_client http{port, std::move(token)};
    const auto res = http.get("/metrics");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    CHECK(wsx::test::header(*res, "Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    return res->body;
}

// A cluster link that reports a fixed status, to see the backplane section
// without a broker.
class fixed_link final : public wsx::cluster_link {
public:
    bool forward(wsx::send_scope, std::string_view, const wsx::prepared_message&) override { return true; }
    wsx::cluster_status status() const override {
        wsx::cluster_status s;
        s.instance = "test-\"instance\"";
        s.state = wsx::cluster_state::connected;
        s.publishing = true;
        s.instances = 2;
        s.connections = 7;
        s.published = 11;
        s.received = 13;
        s.reconnects = 1;
        return s;
    }
};

// The scripted session's server: /echo echoes (and refuses upgrades asking
// ?deny with 403), /drop and /close answer "go" by sending 16 MiB messages
// until one is refused, under a 64 KiB budget with each backpressure policy.
// 16 MiB: more than the kernel holds for a peer with a 4 KiB receive buffer
// (a send buffer grows to 4 MiB by default), so most of the first message
// stays in the connection's buffer.
struct session_server {
    static constexpr std::size_t flood_size = 16u << 20;

    wsx::registry reg;
    wsx::server srv{test_options()};
    std::atomic<std::uint64_t> flood_sent{0};   // messages the floods got queued
    std::atomic<std::uint64_t> flood_dropped{0};
    std::atomic<int> flood_done{0};

    session_server() {
        wsx::endpoint echo = wsx::endpoints::echo();
        echo.on_upgrade = [](wsx::upgrade_context& ctx) {
            if (ctx.query() == "deny") ctx.reject(403, "denied by the test");
        };
        srv.websocket("/echo", std::move(echo));
        srv.websocket("/drop", flood(wsx::backpressure_policy::drop));
        srv.websocket("/close", flood(wsx::backpressure_policy::close));
        wsx::mount_metrics(srv, reg);
        srv.start();
    }

    wsx::endpoint flood(wsx::backpressure_policy policy) {
        wsx::endpoint ep;
        wsx::connection_options limits;
        limits.max_buffered_bytes = 64 * 1024;
        limits.on_backpressure = policy;
        limits.close_timeout = 200ms;
        ep.limits = limits;
        ep.on_message = [this](wsx::connection& c, wsx::message) {
            const std::string payload(flood_size, 'x');
            for (int i = 0; i < 8; ++i) {
                const auto r = c.send_binary(payload);
                if (r) {
                    ++flood_sent;
                    continue;
                }
                if (r.status() == wsx::send_status::dropped) {
                    ++flood_dropped;
                    continue;
                }
                break;  // closing_backpressure: the connection closes with 1008
            }
            ++flood_done;
        };
        return ep;
    }
};

} // namespace

TEST_CASE("metrics: the counters match a scripted session exactly", "[metrics_endpoint]") {
    session_server s;
    const std::uint16_t port = s.srv.port();

    // Before anything: every endpoint listed, all zero.
    std::string text = scrape(port);
    CHECK(sample(text, R"(wsx_connections_open{path="/echo"})") == 0);
    CHECK(sample(text, R"(wsx_connections_open{path="/drop"})") == 0);
    CHECK(sample(text, "wsx_messages_received_total") == 0);

    // Two refused handshakes: by the endpoint's hook (403), and for a path
    // with no endpoint (404).
    {
        loopback_client denied{port};
        const auto res = denied.upgrade("/echo?deny");
        REQUIRE(res);
        CHECK(res->status == 403);
        loopback_client lost{port};
        const auto res2 = lost.upgrade("/nowhere");
        REQUIRE(res2);
        CHECK(res2->status == 404);
    }

    // /echo: N messages in, N echoed, then a close with 1000.
    constexpr int n = 25;
    std::uint64_t payload_bytes = 0;
    {
        loopback_client c{port};
        REQUIRE(c.upgrade("/echo"));
        REQUIRE(c.upgraded());
        for (int i = 0; i < n; ++i) {
            const std::string msg = "message " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 7, '.');
            payload_bytes += msg.size();
            const ws_event ev = c.round_trip(msg);
            REQUIRE(ev.what == kind::message);
            CHECK(ev.payload == msg);
        }
        // Open connections report at each sweep tick (20 ms here).
        CHECK(wait_until([&] {
            text = scrape(port);
            return sample(text, "wsx_messages_received_total") == n && sample(text, "wsx_messages_sent_total") == n;
        }));
        CHECK(sample(text, R"(wsx_connections_open{path="/echo"})") == 1);
        CHECK(sample(text, "wsx_received_payload_bytes_total") == static_cast<long long>(payload_bytes));
        const ws_event end = c.close_handshake(close_code::normal);
        CHECK(end.what == kind::close);
    }

    // /drop: a reader that does not read; the flood is partly dropped. Then it
    // vanishes without a close frame (1006).
    {
        loopback_client c{port, 4096};
        REQUIRE(c.upgrade("/drop"));
        REQUIRE(c.send_text("go") == std::error_code{});
        REQUIRE(wait_until([&] { return s.flood_done.load() == 1; }));
        CHECK(s.flood_dropped.load() > 0);
        // While the reader stalls: the drops and the bytes waiting are
        // visible already (folded at the next tick, not at the close).
        CHECK(wait_until([&] {
            text = scrape(port);
            return sample(text, "wsx_messages_dropped_total") == static_cast<long long>(s.flood_dropped.load());
        }));
        CHECK(sample(text, "wsx_buffered_bytes") > static_cast<long long>(session_server::flood_size / 2));
        CHECK(sample(text, R"(wsx_connections_open{path="/drop"})") == 1);
        c.close();
    }
    // /close: the flood overflows the budget: the server closes with 1008.
    {
        loopback_client c{port, 4096};
        REQUIRE(c.upgrade("/close"));
        REQUIRE(c.send_text("go") == std::error_code{});
        REQUIRE(wait_until([&] { return s.flood_done.load() == 2; }));
        // The peer never reads: the close frame waits behind the data until
        // the close timeout ends the connection (code 1008 all the same).
        REQUIRE(wait_until([&] {
            return sample(scrape(port), R"(wsx_connections_closed_total{code="1008"})") == 1;
        }));
    }

    const std::uint64_t sent = s.flood_sent.load();
    const std::uint64_t dropped = s.flood_dropped.load();
    // Every connection has finished and folded its share in.
    REQUIRE(wait_until([&] {
        text = scrape(port);
        return sample(text, "wsx_buffered_bytes") == 0 &&
               sample(text, R"(wsx_connections_open{path="/drop"})") == 0;
    }));
    INFO(text);
    CHECK(sample(text, R"(wsx_connections_accepted_total{path="/echo"})") == 1);
    CHECK(sample(text, R"(wsx_connections_accepted_total{path="/drop"})") == 1);
    CHECK(sample(text, R"(wsx_connections_accepted_total{path="/close"})") == 1);
    CHECK(sample(text, R"(wsx_connections_open{path="/echo"})") == 0);
    CHECK(sample(text, R"(wsx_connections_open{path="/close"})") == 0);
    CHECK(sample(text, R"(wsx_connections_closed_total{code="1000"})") == 1);
    CHECK(sample(text, R"(wsx_connections_closed_total{code="1006"})") == 1);
    CHECK(sample(text, R"(wsx_connections_closed_total{code="1008"})") == 1);
    CHECK(sample(text, R"(wsx_handshakes_refused_total{status="403"})") == 1);
    CHECK(sample(text, R"(wsx_handshakes_refused_total{status="404"})") == 1);
    CHECK(sample(text, "wsx_messages_received_total") == n + 2);
    CHECK(sample(text, "wsx_received_payload_bytes_total") == static_cast<long long>(payload_bytes + 4));
    CHECK(sample(text, "wsx_messages_sent_total") == static_cast<long long>(n + sent));
    CHECK(sample(text, "wsx_sent_payload_bytes_total") ==
          static_cast<long long>(payload_bytes + sent * session_server::flood_size));
    CHECK(sample(text, "wsx_messages_dropped_total") == static_cast<long long>(dropped));
    CHECK(sample(text, "wsx_backpressure_closes_total") == 1);
    CHECK(sample(text, "wsx_keepalive_pings_sent_total") == 0);
    CHECK(sample(text, "wsx_io_threads") == 1);
    // No backplane attached to the registry: no backplane section.
    CHECK(text.find("wsx_backplane") == std::string::npos);
    // HEAD: the headers of a GET; anything else: 405.
    rest_client http{port};
    const auto head = http.call("HEAD", "/metrics");
    REQUIRE(head);
    CHECK(head->status == 200);
    const auto post = http.post("/metrics", "{}");
    REQUIRE(post);
    CHECK(post->status == 405);
}

TEST_CASE("metrics: a keep-alive ping left unanswered is counted", "[metrics_endpoint]") {
    wsx::server srv{test_options()};
    wsx::endpoint ep = wsx::endpoints::echo();
    wsx::connection_options limits;
    limits.idle_timeout = 300ms;
    limits.close_timeout = 200ms;
    ep.limits = limits;
    srv.websocket("/", std::move(ep));
    wsx::mount_metrics(srv);
    srv.start();
    loopback_client c{srv.port()};
    REQUIRE(c.upgrade("/"));
    // Never answers: the ping at 150 ms of silence, the close at 300 ms.
    CHECK(wait_until([&] {
        const std::string text = scrape(srv.port());
        return sample(text, R"(wsx_connections_closed_total{code="1001"})") == 1;
    }));
    const std::string text = scrape(srv.port());
    CHECK(sample(text, "wsx_keepalive_pings_sent_total") == 1);
    CHECK(sample(text, "wsx_keepalive_pings_unanswered_total") == 1);
}

TEST_CASE("metrics: the counters of several I/O threads are summed", "[metrics_endpoint]") {
    wsx::server srv{test_options(3)};
    std::mutex m;
    std::set<std::thread::id> threads_seen;
    wsx::endpoint ep = wsx::endpoints::echo();
    ep.on_open = [&](wsx::connection&) {
        std::lock_guard lock(m);
        threads_seen.insert(std::this_thread::get_id());
    };
    srv.websocket("/", std::move(ep));
    wsx::mount_metrics(srv);
    srv.start();
    constexpr int clients = 6, each = 10;
    {
        std::vector<std::unique_ptr<loopback_client>> cs;
        for (int i = 0; i < clients; ++i) {
            cs.push_back(std::make_unique<loopback_client>(srv.port()));
            REQUIRE(cs.back()->upgrade("/"));
        }
        for (auto& c : cs)
            for (int i = 0; i < each; ++i) REQUIRE(c->round_trip("0123456789").what == kind::message);
        for (auto& c : cs) CHECK(c->close_handshake().what == kind::close);
    }
    {
        std::lock_guard lock(m);
        CHECK(threads_seen.size() >= 2);  // accepts go round-robin over the threads
    }
    std::string text;
    REQUIRE(wait_until([&] {
        text = scrape(srv.port());
        return sample(text, R"(wsx_connections_closed_total{code="1000"})") == clients;
    }));
    CHECK(sample(text, "wsx_io_threads") == 3);
    CHECK(sample(text, R"(wsx_connections_accepted_total{path="/"})") == clients);
    CHECK(sample(text, R"(wsx_connections_open{path="/"})") == 0);
    CHECK(sample(text, "wsx_messages_received_total") == clients * each);
    CHECK(sample(text, "wsx_messages_sent_total") == clients * each);
    CHECK(sample(text, "wsx_received_payload_bytes_total") == clients * each * 10);
    CHECK(sample(text, "wsx_sent_payload_bytes_total") == clients * each * 10);
    // The same figures through the C++ API.
    const wsx::server_metrics snap = srv.metrics();
    CHECK(snap.threads == 3);
    CHECK(snap.messages_in == clients * each);
}

TEST_CASE("metrics: the bearer token and the loopback-only rule", "[metrics_endpoint]") {
    SECTION("with a token: 401 without it or with a wrong one, 200 with it") {
        wsx::server srv{test_options()};
        wsx::mount_metrics(srv, {.bearer_token = "s3cret"});
        srv.start();
        rest_client anonymous{srv.port()};
        auto res = anonymous.get("/metrics");
        REQUIRE(res);
        CHECK(res->status == 401);
        CHECK(res->body.find("wsx_") == std::string::npos);
        rest_client wrong{srv.port(), "guess"};
        res = wrong.get("/metrics");
        REQUIRE(res);
        CHECK(res->status == 401);
        CHECK(sample(scrape(srv.port(), "s3cret"), "wsx_io_threads") == 1);
    }
    SECTION("with the REST hook's options: its token") {
        wsx::server srv{test_options()};
        wsx::registry reg;
        wsx::rest_options rest;
        rest.bearer_token = "rest-token";
        wsx::mount_rest(srv, reg, rest);
        wsx::mount_metrics(srv, reg, rest);
        srv.start();
        rest_client anonymous{srv.port()};
        const auto res = anonymous.get("/metrics");
        REQUIRE(res);
        CHECK(res->status == 401);
        CHECK(sample(scrape(srv.port(), "rest-token"), "wsx_io_threads") == 1);
    }
    SECTION("without a token: loopback peers only, unless opened on purpose") {
        wsx::server srv{test_options()};
        wsx::http::request req;
        req.method = "GET";
        req.target = "/metrics";
        wsx::http::response res;
        req.remote_address = "10.1.2.3";
        wsx::detail::metrics_handler<wsx::server>{srv, nullptr, {}}(req, res);
        CHECK(res.status == 403);
        res = {};
        req.remote_address = "::ffff:127.0.0.1";
        wsx::detail::metrics_handler<wsx::server>{srv, nullptr, {}}(req, res);
        CHECK(res.status == 200);
        res = {};
        req.remote_address = "10.1.2.3";
        wsx::metrics_options open;
        open.allow_unauthenticated_remote = true;
        wsx::detail::metrics_handler<wsx::server>{srv, nullptr, open}(req, res);
        CHECK(res.status == 200);
        CHECK(res.body.find("wsx_io_threads 0") != std::string::npos);  // not started: nothing summed
    }
}

TEST_CASE("metrics: the backplane section, from the registry's cluster link", "[metrics_endpoint]") {
    wsx::server srv{test_options()};
    wsx::registry reg;
    reg.attach(std::make_shared<fixed_link>());
    wsx::mount_metrics(srv, reg);
    srv.start();
    const std::string text = scrape(srv.port());
    CHECK(sample(text, R"(wsx_backplane_info{instance="test-\"instance\""})") == 1);
    CHECK(sample(text, R"(wsx_backplane_state{state="connected"})") == 1);
    CHECK(sample(text, R"(wsx_backplane_state{state="down"})") == 0);
    CHECK(sample(text, "wsx_backplane_publishing") == 1);
    CHECK(sample(text, "wsx_backplane_instances") == 2);
    CHECK(sample(text, "wsx_backplane_cluster_connections") == 7);
    CHECK(sample(text, "wsx_backplane_published_total") == 11);
    CHECK(sample(text, "wsx_backplane_received_total") == 13);
    CHECK(sample(text, "wsx_backplane_reconnects_total") == 1);
}

// Run by the CTest entry metrics_endpoint_promtool. Exits 77 (a skip) when
// promtool is missing, except under CI=true, where the CI installs it
// (cmake/install_deps.sh test: Debian's prometheus package).
TEST_CASE("metrics: promtool check metrics accepts the answer", "[.promtool]") {
    if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
        const char* ci = std::getenv("CI");
        if (ci && std::string_view{ci} == "true") FAIL("promtool is missing and CI=true: install the prometheus package");
        std::puts("SKIP: promtool not found (Debian package prometheus)");
        std::fflush(stdout);
        std::_Exit(77);
    }
    session_server s;
    s.reg.attach(std::make_shared<fixed_link>());
    const std::uint16_t port = s.srv.port();
    {
        loopback_client denied{port};
        REQUIRE(denied.upgrade("/echo?deny"));
        loopback_client c{port};
        REQUIRE(c.upgrade("/echo"));
        REQUIRE(c.round_trip("hello").what == kind::message);
        CHECK(c.close_handshake(close_code::normal).what == kind::close);
        loopback_client weird{port};
        REQUIRE(weird.upgrade("/echo"));
        CHECK(weird.close_handshake(static_cast<close_code>(4321), "app").what == kind::close);
    }
    std::string text;
    REQUIRE(wait_until([&] {
        text = scrape(port);
        return sample(text, R"(wsx_connections_closed_total{code="4321"})") == 1;
    }));
    const std::string file = "metrics_endpoint_promtool." + std::to_string(::getpid()) + ".txt";
    std::ofstream{file} << text;
    const int rc = std::system(("promtool check metrics < " + file + " 2>&1").c_str());
    std::remove(file.c_str());
    INFO(text);
    CHECK(rc == 0);
}

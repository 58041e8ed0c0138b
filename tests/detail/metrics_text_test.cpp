// SPDX-License-Identifier: BSL-1.0
// The Prometheus text rendering of include/wsx/detail/metrics_text.hpp
// without a socket: the exact lines for a snapshot, label escaping, and the
// backplane section. (promtool checks a live server's answer in
// tests/metrics_endpoint_test.cpp.)
#include "wsx/detail/metrics_text.hpp"

#include "catch.hpp"

#include <string>

namespace {

bool has_line(const std::string& text, const std::string& line) {
    return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

} // namespace

TEST_CASE("metrics_text: label values escape backslash, quote and line feed", "[metrics]") {
    std::string out;
    wsx::detail::append_label_value(out, "a\\b\"c\nd/é");
    CHECK(out == "a\\\\b\\\"c\\nd/é");
}

TEST_CASE("metrics_text: every family is announced, samples carry their labels", "[metrics]") {
    wsx::server_metrics m;
    m.endpoints = {{"/chat", 5, 2}, {"/odd\"path", 0, 0}};
    m.closed_by_code = {{0, 1}, {1000, 1}, {1008, 1}};
    m.refused_by_status = {{403, 2}};
    m.messages_in = 7;
    m.messages_out = 9;
    m.bytes_in = 70;
    m.bytes_out = 90;
    m.messages_dropped = 3;
    m.backpressure_closes = 1;
    m.buffered_bytes = 12;
    m.pings_sent = 4;
    m.pings_unanswered = 2;
    m.threads = 2;
    std::string text;
    wsx::detail::append_prometheus_text(text, m);

    CHECK(text.starts_with("# HELP wsx_connections_open "));
    CHECK(text.ends_with("\n"));
    CHECK(has_line(text, "# TYPE wsx_connections_open gauge"));
    CHECK(has_line(text, R"(wsx_connections_open{path="/chat"} 3)"));
    CHECK(has_line(text, R"(wsx_connections_open{path="/odd\"path"} 0)"));
    CHECK(has_line(text, "# TYPE wsx_connections_accepted_total counter"));
    CHECK(has_line(text, R"(wsx_connections_accepted_total{path="/chat"} 5)"));
    CHECK(has_line(text, R"(wsx_connections_closed_total{code="other"} 1)"));
    CHECK(has_line(text, R"(wsx_connections_closed_total{code="1000"} 1)"));
    CHECK(has_line(text, R"(wsx_connections_closed_total{code="1008"} 1)"));
    CHECK(has_line(text, R"(wsx_handshakes_refused_total{status="403"} 2)"));
    CHECK(has_line(text, "wsx_messages_received_total 7"));
    CHECK(has_line(text, "wsx_messages_sent_total 9"));
    CHECK(has_line(text, "wsx_received_payload_bytes_total 70"));
    CHECK(has_line(text, "wsx_sent_payload_bytes_total 90"));
    CHECK(has_line(text, "wsx_messages_dropped_total 3"));
    CHECK(has_line(text, "wsx_backpressure_closes_total 1"));
    CHECK(has_line(text, "# TYPE wsx_buffered_bytes gauge"));
    CHECK(has_line(text, "wsx_buffered_bytes 12"));
    CHECK(has_line(text, "wsx_keepalive_pings_sent_total 4"));
    CHECK(has_line(text, "wsx_keepalive_pings_unanswered_total 2"));
    CHECK(has_line(text, "wsx_io_threads 2"));
    CHECK(text.find("wsx_backplane") == std::string::npos);
}

TEST_CASE("metrics_text: an empty snapshot still names every family", "[metrics]") {
    std::string text;
    wsx::detail::append_prometheus_text(text, wsx::server_metrics{});
    CHECK(has_line(text, "# TYPE wsx_connections_closed_total counter"));
    CHECK(has_line(text, "# TYPE wsx_handshakes_refused_total counter"));
    CHECK(text.find("wsx_connections_closed_total{") == std::string::npos);
    CHECK(has_line(text, "wsx_messages_received_total 0"));
}

TEST_CASE("metrics_text: the backplane's state and counters", "[metrics]") {
    wsx::backplane_metrics b;
    b.instance = "node-1";
    b.state = "down";
    b.states = {"connecting", "connected", "down", "stopped"};
    b.publishing = true;
    b.instances = 3;
    b.connections = 40;
    b.published = 5;
    b.received = 6;
    b.lost = 1;
    b.missed = 2;
    b.reconnects = 4;
    std::string text;
    wsx::detail::append_prometheus_text(text, wsx::server_metrics{}, &b);
    CHECK(has_line(text, R"(wsx_backplane_info{instance="node-1"} 1)"));
    CHECK(has_line(text, R"(wsx_backplane_state{state="connecting"} 0)"));
    CHECK(has_line(text, R"(wsx_backplane_state{state="connected"} 0)"));
    CHECK(has_line(text, R"(wsx_backplane_state{state="down"} 1)"));
    CHECK(has_line(text, R"(wsx_backplane_state{state="stopped"} 0)"));
    CHECK(has_line(text, "wsx_backplane_publishing 1"));
    CHECK(has_line(text, "wsx_backplane_instances 3"));
    CHECK(has_line(text, "wsx_backplane_cluster_connections 40"));
    CHECK(has_line(text, "wsx_backplane_published_total 5"));
    CHECK(has_line(text, "wsx_backplane_received_total 6"));
    CHECK(has_line(text, "wsx_backplane_lost_total 1"));
    CHECK(has_line(text, "wsx_backplane_missed_total 2"));
    CHECK(has_line(text, "wsx_backplane_reconnects_total 4"));
}

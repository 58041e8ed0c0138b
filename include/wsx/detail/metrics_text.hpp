// SPDX-License-Identifier: BSL-1.0
#pragma once
// Renders a server_metrics snapshot (and a backplane's, when there is one) in
// the Prometheus text exposition format, version 0.0.4: "# HELP" and
// "# TYPE" lines, then one "name{label="value"} number" line per sample,
// each line ending in "\n". Sans-I/O: appends to a string the caller owns.
//
// Every metric family is always announced (HELP and TYPE), even with no
// sample yet, so a dashboard finds the names before the first close or
// refusal. Counters end in _total, as the format's conventions ask.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <wsx/metrics.hpp>

namespace wsx::detail {

// The Content-Type of this format.
inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

// A label value: backslash, double quote and line feed are escaped (the
// format's three escapes); everything else, UTF-8 included, goes as is.
inline void append_label_value(std::string& out, std::string_view v) {
    for (const char c : v) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
}

inline void append_metric_family(std::string& out, std::string_view name, std::string_view type,
                                  std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

inline void append_sample(std::string& out, std::string_view name, std::uint64_t value) {
    out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

inline void append_sample(std::string& out, std::string_view name, std::string_view label,
                          std::string_view label_value, std::uint64_t value) {
    out.append(name).append("{").append(label).append("=\"");
    append_label_value(out, label_value);
    out.append("\"} ").append(std::to_string(value)).append("\n");
}

inline void append_code_samples(std::string& out, std::string_view name, std::string_view label,
                                const std::vector<code_count>& rows) {
    for (const code_count& r : rows)
        append_sample(out, name, label, r.code ? std::to_string(r.code) : std::string{"other"}, r.count);
}

inline void append_prometheus_text(std::string& out, const server_metrics& m,
                                   const backplane_metrics* backplane = nullptr) {
    append_metric_family(out, "wsx_connections_open", "gauge", "WebSocket connections open now, per endpoint path.");
    for (const endpoint_metrics& e : m.endpoints) append_sample(out, "wsx_connections_open", "path", e.path, e.open());
    append_metric_family(out, "wsx_connections_accepted_total", "counter",
                         "WebSocket upgrades accepted (101 sent), per endpoint path.");
    for (const endpoint_metrics& e : m.endpoints)
        append_sample(out, "wsx_connections_accepted_total", "path", e.path, e.accepted);
    append_metric_family(out, "wsx_connections_closed_total", "counter",
                         "WebSocket connections finished, by close code (1006: no close frame; "
                         "other: codes beyond the table).");
    append_code_samples(out, "wsx_connections_closed_total", "code", m.closed_by_code);
    append_metric_family(out, "wsx_handshakes_refused_total", "counter",
                         "WebSocket upgrade requests refused, by HTTP status.");
    append_code_samples(out, "wsx_handshakes_refused_total", "status", m.refused_by_status);

    struct plain {
        std::string_view name, type, help;
        std::uint64_t value;
    };
    const plain rows[] = {
        {"wsx_messages_received_total", "counter", "Complete WebSocket messages received.", m.messages_in},
        {"wsx_messages_sent_total", "counter", "WebSocket messages queued to send.", m.messages_out},
        {"wsx_received_payload_bytes_total", "counter", "Payload bytes of the messages received.", m.bytes_in},
        {"wsx_sent_payload_bytes_total", "counter", "Payload bytes of the messages queued to send.", m.bytes_out},
        {"wsx_messages_dropped_total", "counter",
         "Messages dropped: sends refused because the connection's buffer was full (backpressure "
         "policy drop), and fragments from other threads that failed their check on arrival.",
         m.messages_dropped},
        {"wsx_backpressure_closes_total", "counter",
         "Connections closed with 1008 because their buffer was full (backpressure policy close).",
         m.backpressure_closes},
        {"wsx_buffered_bytes", "gauge", "Bytes accepted to send and not yet written to the sockets.",
         m.buffered_bytes},
        {"wsx_keepalive_pings_sent_total", "counter", "Keep-alive pings sent after half the idle timeout of silence.",
         m.pings_sent},
        {"wsx_keepalive_pings_unanswered_total", "counter",
         "Keep-alive pings followed by silence until the idle timeout closed the connection.", m.pings_unanswered},
        {"wsx_io_threads", "gauge", "I/O threads whose counters are summed here.", m.threads},
    };
    for (const plain& r : rows) {
        append_metric_family(out, r.name, r.type, r.help);
        append_sample(out, r.name, r.value);
    }

    if (!backplane) return;
    const backplane_metrics& b = *backplane;
    append_metric_family(out, "wsx_backplane_info", "gauge", "The backplane link of this instance (always 1).");
    append_sample(out, "wsx_backplane_info", "instance", b.instance, 1);
    append_metric_family(out, "wsx_backplane_state", "gauge", "1 for the state the backplane link is in, 0 for the others.");
    for (const std::string& s : b.states) append_sample(out, "wsx_backplane_state", "state", s, s == b.state ? 1 : 0);
    const plain cluster[] = {
        {"wsx_backplane_publishing", "gauge", "1 while sends are forwarded to the other instances.",
         b.publishing ? 1u : 0u},
        {"wsx_backplane_instances", "gauge", "Instances heard from recently, this one included.", b.instances},
        {"wsx_backplane_cluster_connections", "gauge", "Connections on those instances.", b.connections},
        {"wsx_backplane_published_total", "counter", "Messages forwarded and confirmed by the broker.", b.published},
        {"wsx_backplane_received_total", "counter", "Messages received from other instances.", b.received},
        {"wsx_backplane_lost_total", "counter", "Messages forwarded but not confirmed by the broker.", b.lost},
        {"wsx_backplane_missed_total", "counter", "Messages of other instances that never arrived.", b.missed},
        {"wsx_backplane_reconnects_total", "counter", "Connections to the broker re-established after a failure.",
         b.reconnects},
    };
    for (const plain& r : cluster) {
        append_metric_family(out, r.name, r.type, r.help);
        append_sample(out, r.name, r.value);
    }
}

} // namespace wsx::detail

// SPDX-License-Identifier: BSL-1.0
#pragma once
// Limits and timeouts. Every field has a safe default; change what you need
// with designated initializers: wsx::server srv({.port = 9001, .threads = 2}).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <wsx/http/parser.hpp>
#include <wsx/log.hpp>
#include <wsx/http/permessage_deflate.hpp>
#include <wsx/protocol/compression.hpp>

namespace wsx {

// What happens when a peer does not read fast enough and a send would take the
// connection's outgoing queue past max_buffered_bytes.
enum class backpressure_policy : std::uint8_t {
    // Close with 1008 (policy violation). The default: a client that silently
    // misses messages is worse for most feeds than one that reconnects and
    // resynchronises, and memory stays bounded either way.
    close,
    // Drop the message (send returns false, the drop is counted).
    drop,
};

// permessage-deflate (RFC 7692). Off unless `codec` is set, which wsx::permessage_deflate()
// from <wsx/deflate.hpp> does: that header is the one that needs zlib (link wsx::deflate),
// so programs that do not use compression never do.
//
// Memory per connection, once a message has used it (zlib, measured): compressing costs
// about 2^(server_max_window_bits+2) + 2^(mem_level+9) bytes (268 KiB at 15 / 8), inflating
// about 7 KiB + 2^client_max_window_bits (39 KiB at 15). Nothing is allocated before the
// first compressed message in that direction; a direction without context takeover holds
// nothing between messages (a small per-thread cache lends the state for each message).
struct deflate_options {
    // The codec; null: permessage-deflate is not offered or accepted.
    const protocol::deflate_codec* codec = nullptr;
    // The server resets its compressor after each message. Costs ratio on streams of
    // similar messages; saves the server ~268 KiB per idle connection and lets a broadcast
    // be compressed once and shared by every connection (prepared_message).
    bool server_no_context_takeover = false;
    // The client resets its compressor after each message: saves the server ~39 KiB per
    // idle connection (its inflater's window).
    bool client_no_context_takeover = false;
    // LZ77 windows (9-15 for the server, 8-15 for the client): 2^bits bytes of history.
    // A server always accepts a client's request for smaller ones.
    std::uint8_t server_max_window_bits = 15;
    std::uint8_t client_max_window_bits = 15;
    // zlib's memLevel for our compressor (1-9): its hash table is 2^(mem_level+9) bytes.
    std::uint8_t mem_level = 8;
    // zlib's compression level for our compressor (0-9; 1 fastest, 6 zlib's default).
    std::int8_t level = 6;
    // Messages shorter than this many bytes are sent uncompressed: below a few hundred
    // bytes DEFLATE saves little and costs a compressor call per message.
    std::size_t threshold = 256;

    bool enabled() const noexcept { return codec != nullptr; }

    // The negotiation parameters (what a server accepts, what a client offers).
    http::permessage_deflate_preferences preferences() const noexcept {
        return {server_no_context_takeover, client_no_context_takeover, server_max_window_bits,
                client_max_window_bits};
    }
};

// Per-connection WebSocket limits. The defaults bound the memory one client can
// make the server hold to about max_message_size + max_buffered_bytes.
struct connection_options {
    // Largest incoming message (all fragments together; after decompression).
    // 16 MiB like Boost.Beast: large enough for bulk payloads, small enough that
    // a handful of hostile clients cannot exhaust memory. Over it: close 1009.
    std::uint64_t max_message_size = 16u << 20;
    // Outgoing bytes queued but not yet accepted by the socket. A single message
    // larger than this is still accepted into an empty queue.
    std::size_t max_buffered_bytes = 16u << 20;
    backpressure_policy on_backpressure = backpressure_policy::close;
    // Nothing received for this long: ping at half of it, close at all of it
    // (1001). Two minutes, as uWebSockets; survives NATs that forget idle flows
    // after a few minutes. Zero disables.
    std::chrono::milliseconds idle_timeout = std::chrono::seconds{120};
    // After a close frame is sent: how long to wait for the peer's close and TCP
    // close before dropping the socket. Five seconds covers slow mobile links.
    std::chrono::milliseconds close_timeout = std::chrono::seconds{5};
    // permessage-deflate: off by default (see deflate_options).
    deflate_options deflate{};
};

struct server_options {
    std::string host = "0.0.0.0";
    std::uint16_t port = 9001;  // 0 picks a free port: see basic_server::port()
    // I/O threads, each with its own io_context: the default for run() and
    // start() (run(n) / start(n) set it). A server on your io_context serves on
    // that one context: leave this at 1 (or 0).
    unsigned threads = 1;
    int listen_backlog = 1024;
    // Time from accept to a complete upgrade request (or, on keep-alive HTTP
    // connections, to each complete request). Ten seconds: ample for a real
    // client, short enough that slow-loris clients cannot pile up.
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds{10};
    // stop(): how long connections get to finish their closing handshake.
    std::chrono::milliseconds stop_timeout = std::chrono::seconds{5};
    // How often each thread sweeps its connections for expired deadlines: the
    // granularity of every timeout above. One sweep per thread, not one timer
    // object per connection, keeps idle connections cheap.
    std::chrono::milliseconds timer_resolution = std::chrono::milliseconds{250};
    http::parser_limits http_limits{};
    connection_options websocket{};
    // Where the server reports the failures it handles by itself: HTTP handler
    // exceptions ("http", answered 500), accept failures ("accept", e.g.
    // EMFILE: it backs off and keeps accepting), TLS handshake failures
    // ("tls"), exceptions from on_close ("websocket"). Called on the I/O
    // threads, concurrently when there are several: thread-safe, non-blocking.
    // Empty: wsx::default_log (stderr, rate-limited). See <wsx/log.hpp>.
    log_handler log{};
};

} // namespace wsx

// SPDX-License-Identifier: BSL-1.0
#pragma once
// The seam between the protocol and connection layers and a permessage-deflate codec
// (RFC 7692), free of zlib.
//
// The message assembler and the connection talk to compression only through the two
// abstract classes below. The zlib implementation lives in protocol/deflate.hpp, the one
// header that includes <zlib.h>; a program that never includes it (and does not link
// wsx::deflate) never needs zlib. A connection gets a codec through
// deflate_options::codec (wsx/options.hpp), which wsx::permessage_deflate() from
// <wsx/deflate.hpp> fills in.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace wsx::protocol {

// What was agreed in the opening handshake (RFC 7692 §7.1), from one endpoint's point of
// view: "send" is what we compress, "recv" what the peer compresses. For a server, send is
// the server_* parameters and recv the client_* ones; for a client the other way round.
struct deflate_config {
    bool enabled = false;
    // Our compressor's LZ77 window is at most 2^send_window_bits bytes (§7.1.2). zlib cannot
    // compress with 8 (a 256-byte window), so with 8 we simply send every message
    // uncompressed, which §6 always allows.
    std::uint8_t send_window_bits = 15;
    // The peer compresses with a window of at most 2^recv_window_bits: our inflater needs no
    // more.
    std::uint8_t recv_window_bits = 15;
    // §7.1.1: we reset our compressor after each message (no context takeover).
    bool send_no_context_takeover = false;
    // §7.1.1: the peer resets its compressor after each message, so we may drop our
    // inflater's window between messages.
    bool recv_no_context_takeover = false;
};

// Result of one message_inflater::inflate() call.
struct inflate_result {
    std::size_t consumed = 0; // input bytes used
    std::size_t produced = 0; // bytes written to the output span
    // All of the input (and with `last`, the §7.2.2 tail) is used and no output is pending:
    // call again only with the next bytes of the message.
    bool done = false;
    // The compressed data is invalid (the caller closes with 1007, RFC 6455 §7.4.1).
    bool error = false;
};

// Decompresses the payloads of the messages of one connection, in order (§7.2.2).
// Used by one thread at a time.
class message_inflater {
public:
    virtual ~message_inflater() = default;

    // Inflates the next bytes `in` of the current message's compressed payload into `out`.
    // `last` says `in` ends the message's payload; the codec then appends the 4 octets
    // 0x00 0x00 0xff 0xff of §7.2.2 itself. It stops when `out` is full: the caller makes
    // room and calls again with the unconsumed rest of `in` (possibly empty) until `done`.
    // It never writes more than out.size() bytes, so the caller bounds the inflated size as
    // it goes (a decompression bomb is stopped at the limit, never allocated). Throws
    // std::bad_alloc when the codec's own state cannot be allocated.
    virtual inflate_result inflate(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                                   bool last) = 0;

    // The current message is over (delivered, or abandoned on an error): resets for the next
    // one and, without context takeover, gives the codec's memory back.
    virtual void end_message() noexcept = 0;

    // Heap bytes the codec holds at the moment.
    virtual std::size_t memory_usage() const noexcept = 0;
};

// Compresses the payloads of the messages of one connection, in order (§7.2.1).
// Used by one thread at a time.
class message_deflater {
public:
    virtual ~message_deflater() = default;

    // Appends to `out` the compressed payload of a whole message: DEFLATE data ending with
    // an empty stored block whose 4 octets 0x00 0x00 0xff 0xff are removed (§7.2.1).
    // Throws std::bad_alloc.
    virtual void compress(std::string_view payload, std::string& out) = 0;

    // Heap bytes the codec holds at the moment.
    virtual std::size_t memory_usage() const noexcept = 0;
};

// How to build a compressor: the window (9-15), zlib's memLevel (1-9: 8 is zlib's default,
// 9 is a bit faster and bigger), the level (0-9; 1 is fastest, 6 zlib's default) and
// whether the state is reset after each message.
struct compressor_params {
    std::uint8_t window_bits = 15;
    std::uint8_t mem_level = 8;
    std::int8_t level = 6;
    bool no_context_takeover = false;
};

struct decompressor_params {
    std::uint8_t window_bits = 15;
    bool no_context_takeover = false;
};

// A codec, as two factory functions (static storage, no allocation): see
// protocol::zlib_codec in protocol/deflate.hpp.
struct deflate_codec {
    std::unique_ptr<message_deflater> (*make_deflater)(const compressor_params&);
    std::unique_ptr<message_inflater> (*make_inflater)(const decompressor_params&);
};

} // namespace wsx::protocol

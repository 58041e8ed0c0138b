// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/message_assembler.hpp"

#include "catch.hpp"

#include "wsx/protocol/frame_writer.hpp"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using wsx::close_code;
using wsx::opcode;
using wsx::role;
using namespace wsx::protocol;
using namespace std::string_view_literals;

namespace {

using bytes = std::vector<std::uint8_t>;

// A recorded event: copies the payload, which is only valid until the next consume().
struct rec {
    event_type type;
    opcode message_type;
    bool fin;
    std::string payload;
    close_code code;
    std::string what;
    bool operator==(const rec&) const = default;
};

rec record(const event& ev) {
    return {ev.type, ev.message_type,     ev.fin, std::string(ev.payload),
            ev.code, std::string(ev.what)};
}

rec msg(opcode type, std::string payload, bool fin = true) {
    return {event_type::message, type, fin, std::move(payload), close_code::normal, {}};
}
rec ping(std::string payload) {
    return {event_type::ping, opcode::text, true, std::move(payload), close_code::normal, {}};
}
rec pong(std::string payload) {
    return {event_type::pong, opcode::text, true, std::move(payload), close_code::normal, {}};
}
rec closed(close_code code, std::string reason) {
    return {event_type::close, opcode::text, true, std::move(reason), code, {}};
}
rec error(close_code code, std::string what) {
    return {event_type::error, opcode::text, true, {}, code, std::move(what)};
}

std::ostream& operator<<(std::ostream& os, const rec& r) {
    return os << "{type " << int(r.type) << ", op " << int(r.message_type) << ", fin " << r.fin
              << ", payload[" << r.payload.size() << "] \"" << r.payload.substr(0, 40)
              << "\", code " << int(r.code) << ", what \"" << r.what << "\"}";
}

const mask_key test_key{0x5A, 0xC3, 0x0F, 0x96};

// A frame as the given peer role would send it: a client masks, a server does not.
void add(bytes& out, opcode op, std::string_view payload, bool fin = true, bool masked = true) {
    std::string s;
    append_frame(s, op, payload, fin, masked ? &test_key : nullptr);
    out.insert(out.end(), s.begin(), s.end());
}

bytes frame(opcode op, std::string_view payload, bool fin = true, bool masked = true) {
    bytes b;
    add(b, op, payload, fin, masked);
    return b;
}

// A raw frame: first byte as given, minimal length, masked with test_key when asked.
bytes raw(std::uint8_t b0, std::string_view payload, bool masked = true) {
    bytes out;
    frame_header h;
    h.fin = (b0 & 0x80) != 0;
    h.rsv1 = (b0 & 0x40) != 0;
    h.rsv2 = (b0 & 0x20) != 0;
    h.rsv3 = (b0 & 0x10) != 0;
    h.op = static_cast<opcode>(b0 & 0x0F);
    h.masked = masked;
    h.key = test_key;
    h.payload_length = payload.size();
    std::uint8_t hdr[max_frame_header_size];
    const std::size_t n = encode_frame_header(h, hdr);
    std::string s(reinterpret_cast<const char*>(hdr), n);
    s.append(payload);
    out.assign(s.begin(), s.end());
    if (masked) apply_mask(std::span(out.data() + n, payload.size()), test_key);
    return out;
}

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::string close_body(std::uint16_t code, std::string_view reason = {}) {
    std::string s;
    s.push_back(static_cast<char>(code >> 8));
    s.push_back(static_cast<char>(code & 0xFF));
    s.append(reason);
    return s;
}

// Feeds `input` (a copy: the assembler unmasks in place) cut into pieces of the given sizes
// (the last piece takes the rest), calling consume() on each piece until need_more, as a
// connection would. Checks the need_more contract on the way.
std::vector<rec> feed(message_assembler& a, bytes input, const std::vector<std::size_t>& sizes) {
    std::vector<rec> events;
    std::size_t pos = 0;
    for (std::size_t piece_index = 0; piece_index == 0 || pos < input.size(); ++piece_index) {
        std::size_t len = input.size() - pos;
        if (piece_index < sizes.size() && sizes[piece_index] < len) len = sizes[piece_index];
        std::span<std::uint8_t> rest(input.data() + pos, len);
        for (int guard = 0;; ++guard) {
            REQUIRE(guard < 100000);
            const auto r = a.consume(rest);
            REQUIRE(r.consumed <= rest.size());
            if (r.ev.type == event_type::need_more) {
                REQUIRE(r.consumed == rest.size()); // need_more always consumes everything
                break;
            }
            events.push_back(record(r.ev));
            rest = rest.subspan(r.consumed);
        }
        pos += len;
    }
    return events;
}

std::vector<rec> feed_whole(message_assembler& a, bytes input) {
    return feed(a, std::move(input), {});
}

std::vector<rec> feed_bytewise(message_assembler& a, const bytes& input) {
    return feed(a, input, std::vector<std::size_t>(input.size(), 1));
}

assembler_options server_options() {
    return {};
}

assembler_options client_options() {
    assembler_options o;
    o.local_role = role::client;
    return o;
}

// The sample stream: a fragmented text message with a ping between its fragments and a code
// point split across fragments, a 300-byte binary message, an empty pong, an empty text
// message, a binary message with empty fragments, a close, and garbage after the close.
bytes sample_stream(bool masked) {
    bytes b;
    add(b, opcode::text, "Hel", false, masked);
    add(b, opcode::ping, "ping!", true, masked);
    add(b, opcode::continuation, "lo w\xC3", false, masked);
    add(b, opcode::continuation, "\xB6rld", true, masked);
    std::string big;
    for (int i = 0; i < 300; ++i)
        big.push_back(static_cast<char>(i));
    add(b, opcode::binary, big, true, masked);
    add(b, opcode::pong, "", true, masked);
    add(b, opcode::text, "", true, masked);
    add(b, opcode::binary, "", false, masked);
    add(b, opcode::continuation, "", false, masked);
    add(b, opcode::continuation, "ab", true, masked);
    add(b, opcode::close, close_body(1000, "bye"), true, masked);
    b.push_back(0xFF); // discarded: nothing is read after a close
    b.push_back(0x00);
    return b;
}

std::vector<rec> sample_events() {
    std::string big;
    for (int i = 0; i < 300; ++i)
        big.push_back(static_cast<char>(i));
    return {
        ping("ping!"),
        msg(opcode::text, "Hello w\xC3\xB6rld"),
        msg(opcode::binary, big),
        pong(""),
        msg(opcode::text, ""),
        msg(opcode::binary, "ab"),
        closed(close_code::normal, "bye"),
    };
}

bool points_into(std::string_view payload, const bytes& input) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(payload.data());
    return p >= input.data() && p + payload.size() <= input.data() + input.size();
}

} // namespace

TEST_CASE("assembler: RFC 6455 section 5.7 examples") {
    SECTION("client receives single-frame unmasked \"Hello\"") {
        message_assembler a(client_options());
        CHECK(feed_whole(a, {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}) ==
              std::vector<rec>{msg(opcode::text, "Hello")});
    }
    SECTION("server receives single-frame masked \"Hello\"") {
        message_assembler a(server_options());
        CHECK(feed_whole(a, {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}) ==
              std::vector<rec>{msg(opcode::text, "Hello")});
    }
    SECTION("client receives fragmented unmasked \"Hel\" + \"lo\"") {
        message_assembler a(client_options());
        CHECK(feed_whole(a, {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}) ==
              std::vector<rec>{msg(opcode::text, "Hello")});
    }
    SECTION("client receives unmasked ping") {
        message_assembler a(client_options());
        CHECK(feed_whole(a, {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}) ==
              std::vector<rec>{ping("Hello")});
    }
    SECTION("server receives masked ping and masked pong") {
        message_assembler a(server_options());
        CHECK(feed_whole(a, {0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
                             0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}) ==
              std::vector<rec>{ping("Hello"), pong("Hello")});
    }
    SECTION("client receives 256 bytes and 64 KiB of binary in single frames") {
        bytes in = {0x82, 0x7E, 0x01, 0x00};
        in.insert(in.end(), 256, 0x11);
        const bytes big_header = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
        in.insert(in.end(), big_header.begin(), big_header.end());
        in.insert(in.end(), 65536, 0x22);
        message_assembler a(client_options());
        CHECK(feed_whole(a, in) ==
              std::vector<rec>{msg(opcode::binary, std::string(256, '\x11')),
                               msg(opcode::binary, std::string(65536, '\x22'))});
    }
}

TEST_CASE("assembler: a stream yields the same events however it is split") {
    for (bool server : {true, false}) {
        CAPTURE(server);
        const bytes stream = sample_stream(server);
        const auto options = server ? server_options() : client_options();
        const auto expected = sample_events();
        {
            message_assembler a(options);
            REQUIRE(feed_whole(a, stream) == expected);
        }
        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            CAPTURE(cut);
            message_assembler a(options);
            REQUIRE(feed(a, stream, {cut}) == expected);
        }
        {
            message_assembler a(options);
            REQUIRE(feed_bytewise(a, stream) == expected);
        }
        // Three pieces at a sample of cut pairs.
        for (std::size_t first = 0; first <= stream.size(); first += 7) {
            for (std::size_t second = 0; first + second <= stream.size(); second += 11) {
                message_assembler a(options);
                REQUIRE(feed(a, stream, {first, second}) == expected);
            }
        }
    }
}

TEST_CASE("assembler: nothing is read after a close") {
    message_assembler a(server_options());
    bytes in = cat({frame(opcode::close, close_body(1001)), frame(opcode::text, "late")});
    CHECK(feed_whole(a, in) == std::vector<rec>{closed(close_code::going_away, "")});
    CHECK(a.finished());
    bytes more = frame(opcode::text, "later");
    const auto r = a.consume(more);
    CHECK(r.consumed == more.size());
    CHECK(r.ev.type == event_type::need_more);
}

TEST_CASE("assembler: close frames") {
    struct close_case {
        const char* name;
        std::string body;
        rec expected;
    };
    const std::vector<close_case> cases = {
        {"empty body", "", closed(close_code::no_status, "")},
        {"code only", close_body(1000), closed(close_code::normal, "")},
        {"code and reason", close_body(1001, "going \xC3\xA9"),
         closed(close_code::going_away, "going \xC3\xA9")},
        {"private code", close_body(4321, "x"), closed(static_cast<close_code>(4321), "x")},
        {"1 byte", "\x03", error(close_code::protocol_error, "close payload of 1 byte")},
        {"code 1005", close_body(1005), error(close_code::protocol_error, "invalid close code")},
        {"code 1006", close_body(1006), error(close_code::protocol_error, "invalid close code")},
        {"code 999", close_body(999), error(close_code::protocol_error, "invalid close code")},
        {"code 5000", close_body(5000), error(close_code::protocol_error, "invalid close code")},
        {"bad UTF-8 reason", close_body(1000, "a\xFF"),
         error(close_code::invalid_payload, "close reason is not valid UTF-8")},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        const bytes in = frame(opcode::close, c.body);
        message_assembler whole(server_options());
        CHECK(feed_whole(whole, in) == std::vector<rec>{c.expected});
        message_assembler bytewise(server_options());
        CHECK(feed_bytewise(bytewise, in) == std::vector<rec>{c.expected});
    }
}

TEST_CASE("assembler: every framing rule fails the connection with its close code") {
    struct error_case {
        const char* name;
        assembler_options options;
        bytes input;
        rec expected;
    };
    assembler_options small = server_options();
    small.max_message_size = 10;
    const std::string bad_utf8 = "ab\xC0";
    const std::vector<error_case> cases = {
        {"RSV1 without extension", server_options(), raw(0xC1, "x"),
         error(close_code::protocol_error, "reserved bit set without a negotiated extension")},
        {"RSV2", server_options(), raw(0xA1, "x"),
         error(close_code::protocol_error, "reserved bit set without a negotiated extension")},
        {"RSV3", server_options(), raw(0x91, "x"),
         error(close_code::protocol_error, "reserved bit set without a negotiated extension")},
        {"RSV1 on a control frame", server_options(), raw(0xC9, ""),
         error(close_code::protocol_error, "reserved bit set without a negotiated extension")},
        {"reserved opcode 3", server_options(), raw(0x83, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode 4", server_options(), raw(0x84, "x"),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode 5", server_options(), raw(0x85, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode 6", server_options(), raw(0x86, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode 7", server_options(), raw(0x87, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode B", server_options(), raw(0x8B, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode C", server_options(), raw(0x8C, "x"),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode D", server_options(), raw(0x8D, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode E", server_options(), raw(0x8E, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode F", server_options(), raw(0x8F, ""),
         error(close_code::protocol_error, "reserved opcode")},
        {"reserved opcode mid-message", server_options(),
         cat({frame(opcode::text, "a", false), raw(0x03, "")}),
         error(close_code::protocol_error, "reserved opcode")},
        {"fragmented ping", server_options(), raw(0x09, "x"),
         error(close_code::protocol_error, "fragmented control frame")},
        {"fragmented close", server_options(), raw(0x08, ""),
         error(close_code::protocol_error, "fragmented control frame")},
        {"ping of 126 bytes", server_options(), raw(0x89, std::string(126, 'p')),
         error(close_code::protocol_error, "control frame payload over 125 bytes")},
        {"close of 126 bytes", server_options(), raw(0x88, close_body(1000, std::string(124, 'r'))),
         error(close_code::protocol_error, "control frame payload over 125 bytes")},
        {"pong of 65536 bytes", server_options(), raw(0x8A, std::string(65536, 'p')),
         error(close_code::protocol_error, "control frame payload over 125 bytes")},
        {"continuation with no message", server_options(), raw(0x80, "x"),
         error(close_code::protocol_error, "continuation frame without a message in progress")},
        {"continuation after a finished message", server_options(),
         cat({frame(opcode::text, "a"), raw(0x80, "x")}),
         error(close_code::protocol_error, "continuation frame without a message in progress")},
        {"text during a fragmented message", server_options(),
         cat({frame(opcode::text, "a", false), frame(opcode::text, "b")}),
         error(close_code::protocol_error,
               "new data frame while a fragmented message is in progress")},
        {"binary during a fragmented message", server_options(),
         cat({frame(opcode::binary, "a", false), frame(opcode::binary, "b", false)}),
         error(close_code::protocol_error,
               "new data frame while a fragmented message is in progress")},
        {"unmasked frame to a server", server_options(), raw(0x81, "hi", false),
         error(close_code::protocol_error, "unmasked client frame")},
        {"unmasked ping to a server", server_options(), raw(0x89, "", false),
         error(close_code::protocol_error, "unmasked client frame")},
        {"masked frame to a client", client_options(), raw(0x81, "hi", true),
         error(close_code::protocol_error, "masked server frame")},
        {"non-minimal 16-bit length", client_options(),
         bytes{0x82, 0x7E, 0x00, 0x05, 1, 2, 3, 4, 5},
         error(close_code::protocol_error, "non-minimal payload length encoding")},
        {"non-minimal 64-bit length", client_options(),
         bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x00, 0xC8},
         error(close_code::protocol_error, "non-minimal payload length encoding")},
        {"non-minimal 64-bit length of 65535", client_options(),
         bytes{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF},
         error(close_code::protocol_error, "non-minimal payload length encoding")},
        {"non-minimal masked", server_options(), bytes{0x81, 0xFE, 0x00, 0x01, 1, 2, 3, 4, 'x'},
         error(close_code::protocol_error, "non-minimal payload length encoding")},
        {"64-bit length with the MSB set", client_options(),
         bytes{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0},
         error(close_code::protocol_error, "payload length with the most significant bit set")},
        {"message over the limit in one frame", small, frame(opcode::binary, std::string(11, 'x')),
         error(close_code::message_too_big, "message too big")},
        {"message over the limit across fragments", small,
         cat({frame(opcode::text, "123456", false), frame(opcode::continuation, "78901")}),
         error(close_code::message_too_big, "message too big")},
        {"invalid UTF-8 in one frame", server_options(), frame(opcode::text, "\xFF"),
         error(close_code::invalid_payload, "invalid UTF-8 in a text message")},
        {"invalid UTF-8 in a later fragment", server_options(),
         cat({frame(opcode::text, "ab", false), frame(opcode::continuation, "c\xED\xA0\x80", false),
              frame(opcode::continuation, "d")}),
         error(close_code::invalid_payload, "invalid UTF-8 in a text message")},
        {"invalid code point split across fragments", server_options(),
         cat({frame(opcode::text, "ab\xF4", false), frame(opcode::continuation, "\x90\x80\x80")}),
         error(close_code::invalid_payload, "invalid UTF-8 in a text message")},
        {"text ends inside a code point", server_options(), frame(opcode::text, "a\xE2\x82"),
         error(close_code::invalid_payload, "text message ends inside a UTF-8 sequence")},
        {"text ends inside a code point after an empty final fragment", server_options(),
         cat({frame(opcode::text, "a\xC3", false), frame(opcode::continuation, "")}),
         error(close_code::invalid_payload, "text message ends inside a UTF-8 sequence")},
        {"close with a 1-byte body", server_options(), frame(opcode::close, "\x03"),
         error(close_code::protocol_error, "close payload of 1 byte")},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        for (int mode = 0; mode < 3; ++mode) {
            CAPTURE(mode);
            assembler_options options = c.options;
            options.deliver_partial = mode == 2;
            message_assembler a(options);
            bytes input = c.input;
            // Garbage after the error is discarded, whatever it is.
            input.insert(input.end(), {0x81, 0x85, 0x00});
            const auto events = mode == 1 ? feed_bytewise(a, input) : feed_whole(a, input);
            REQUIRE_FALSE(events.empty());
            // In streaming mode, pieces before the error may have been delivered.
            CHECK(events.back() == c.expected);
            CHECK(a.finished());
            CHECK(a.buffered_bytes() == 0);
        }
    }
}

TEST_CASE("assembler: an oversized message fails from its header, before any payload") {
    assembler_options o = server_options();
    o.max_message_size = 1000;
    SECTION("single frame") {
        message_assembler a(o);
        bytes header = raw(0x82, std::string(1001, 'x'));
        header.resize(frame_header_size(1001, true)); // the header alone
        const auto r = a.consume(header);
        CHECK(r.ev.type == event_type::error);
        CHECK(r.ev.code == close_code::message_too_big);
        CHECK(r.consumed == header.size());
        CHECK(a.heap_capacity() == 0);
    }
    SECTION("the fragment that would cross the limit") {
        message_assembler a(o);
        bytes first = frame(opcode::binary, std::string(600, 'x'), false);
        CHECK(feed_whole(a, first).empty());
        CHECK(a.buffered_bytes() == 600);
        bytes second = raw(0x80, std::string(401, 'y'));
        second.resize(frame_header_size(401, true));
        CHECK(feed_whole(a, second) ==
              std::vector<rec>{error(close_code::message_too_big, "message too big")});
        CHECK(a.buffered_bytes() == 0);
        CHECK(a.heap_capacity() == 0); // released on error
    }
    SECTION("exactly at the limit is fine, across fragments") {
        message_assembler a(o);
        bytes in = cat({frame(opcode::binary, std::string(600, 'x'), false),
                        frame(opcode::continuation, std::string(400, 'y'))});
        CHECK(feed_whole(a, in) ==
              std::vector<rec>{msg(opcode::binary, std::string(600, 'x') + std::string(400, 'y'))});
    }
    SECTION("set_max_message_size applies to the next header") {
        message_assembler a(o);
        a.set_max_message_size(5);
        CHECK(a.options().max_message_size == 5);
        CHECK(feed_whole(a, frame(opcode::text, "123456")) ==
              std::vector<rec>{error(close_code::message_too_big, "message too big")});
    }
}

TEST_CASE("assembler: invalid UTF-8 fails as soon as the offending byte is consumed") {
    // text "ab" (FIN=0), continuation "cd" + overlong 0xE0 0x80 (FIN=0), more text. Fed one byte
    // at a time, the error must come with the call that consumes the 0x80, long before the end.
    for (bool streaming : {false, true}) {
        CAPTURE(streaming);
        bytes tail = frame(opcode::continuation, "hello world, long after", true);
        bytes stream =
            cat({frame(opcode::text, "ab", false),
                 frame(opcode::continuation, "cd\xE0\x80 and then much more text", false), tail});
        const std::size_t second_header = frame(opcode::text, "ab", false).size();
        const std::size_t bad_offset =
            second_header + 6 + 3; // header(2)+key(4), then "cd\xE0", '\x80'
        assembler_options o = server_options();
        o.deliver_partial = streaming;
        message_assembler a(o);
        bool failed = false;
        for (std::size_t i = 0; i < stream.size() && !failed; ++i) {
            CAPTURE(i);
            const auto r = a.consume(std::span(stream.data() + i, 1));
            if (r.ev.type == event_type::error) {
                CHECK(i == bad_offset);
                CHECK(r.ev.code == close_code::invalid_payload);
                failed = true;
            }
        }
        CHECK(failed);
    }
}

TEST_CASE("assembler: zero copy when a whole frame is in the input") {
    SECTION("unfragmented masked text frame") {
        message_assembler a(server_options());
        bytes in = frame(opcode::text, "zero copy please");
        const auto r = a.consume(in);
        REQUIRE(r.ev.type == event_type::message);
        CHECK(r.ev.payload == "zero copy please");
        CHECK(points_into(r.ev.payload, in));
        CHECK(r.ev.payload.data() == reinterpret_cast<const char*>(in.data()) + 6);
        CHECK(r.consumed == in.size());
        CHECK(a.heap_capacity() == 0);
    }
    SECTION("several frames in one input, each in place") {
        message_assembler a(client_options());
        bytes in =
            cat({frame(opcode::binary, std::string(70000, 'b'), true, false),
                 frame(opcode::ping, "p", true, false), frame(opcode::text, "t", true, false)});
        std::span<std::uint8_t> rest(in);
        std::vector<std::string_view> payloads;
        for (;;) {
            const auto r = a.consume(rest);
            if (r.ev.type == event_type::need_more) break;
            CHECK(points_into(r.ev.payload, in));
            payloads.push_back(r.ev.payload);
            rest = rest.subspan(r.consumed);
        }
        REQUIRE(payloads.size() == 3);
        CHECK(payloads[0].size() == 70000);
        CHECK(payloads[1] == "p");
        CHECK(payloads[2] == "t");
        CHECK(a.heap_capacity() == 0); // nothing was buffered
    }
    SECTION("control frame between fragments") {
        message_assembler a(server_options());
        bytes first = frame(opcode::text, "frag", false);
        CHECK(feed_whole(a, first).empty());
        bytes in = frame(opcode::ping, "in place");
        const auto r = a.consume(in);
        REQUIRE(r.ev.type == event_type::ping);
        CHECK(r.ev.payload == "in place");
        CHECK(points_into(r.ev.payload, in));
        CHECK(a.buffered_bytes() == 4);
    }
    SECTION("header split from its payload: the payload is still used in place") {
        message_assembler a(server_options());
        bytes in = frame(opcode::binary, "payload");
        bytes header(in.begin(), in.begin() + 3);
        bytes rest(in.begin() + 3, in.end());
        CHECK(a.consume(header).ev.type == event_type::need_more);
        const auto r = a.consume(rest);
        REQUIRE(r.ev.type == event_type::message);
        CHECK(r.ev.payload == "payload");
        CHECK(points_into(r.ev.payload, rest));
    }
    SECTION("payload split across inputs: delivered from the internal buffer") {
        message_assembler a(server_options());
        bytes in = frame(opcode::binary, "payload");
        bytes head(in.begin(), in.begin() + 9);
        bytes tail(in.begin() + 9, in.end());
        CHECK(a.consume(head).ev.type == event_type::need_more);
        CHECK(a.buffered_bytes() == 3);
        const auto r = a.consume(tail);
        REQUIRE(r.ev.type == event_type::message);
        CHECK(r.ev.payload == "payload");
        CHECK_FALSE(points_into(r.ev.payload, tail));
        CHECK_FALSE(points_into(r.ev.payload, head));
    }
    SECTION("fragmented message: delivered from the internal buffer") {
        message_assembler a(server_options());
        bytes in = cat({frame(opcode::binary, "abc", false), frame(opcode::continuation, "def")});
        std::span<std::uint8_t> rest(in);
        auto r = a.consume(rest);
        REQUIRE(r.ev.type == event_type::message);
        CHECK(r.ev.payload == "abcdef");
        CHECK_FALSE(points_into(r.ev.payload, in));
    }
}

TEST_CASE("assembler: control frames split across inputs do not disturb the message") {
    message_assembler a(server_options());
    bytes in = cat({frame(opcode::text, "first half, ", false), frame(opcode::ping, "ping payload"),
                    frame(opcode::continuation, "second half")});
    const std::size_t ping_start = frame(opcode::text, "first half, ", false).size();
    // Cut inside the ping's payload.
    const auto events = feed(a, in, {ping_start + 10});
    CHECK(events ==
          std::vector<rec>{ping("ping payload"), msg(opcode::text, "first half, second half")});
    // And a split close while a message is in progress.
    message_assembler b(server_options());
    bytes in2 = cat(
        {frame(opcode::binary, "partial", false), frame(opcode::close, close_body(1000, "done"))});
    CHECK(feed_bytewise(b, in2) == std::vector<rec>{closed(close_code::normal, "done")});
    CHECK(b.buffered_bytes() == 0);
}

TEST_CASE("assembler: empty messages, empty fragments and zero-length frames") {
    message_assembler a(server_options());
    bytes in =
        cat({frame(opcode::text, ""), frame(opcode::binary, ""), frame(opcode::text, "", false),
             frame(opcode::continuation, "", false), frame(opcode::continuation, ""),
             frame(opcode::ping, ""), frame(opcode::binary, "", false),
             frame(opcode::continuation, "x", false), frame(opcode::continuation, "")});
    const std::vector<rec> expected = {msg(opcode::text, ""), msg(opcode::binary, ""),
                                       msg(opcode::text, ""), ping(""), msg(opcode::binary, "x")};
    CHECK(feed_whole(a, in) == expected);
    message_assembler b(server_options());
    CHECK(feed_bytewise(b, in) == expected);
    // An empty input is fine in any state.
    message_assembler c(server_options());
    const auto r = c.consume({});
    CHECK(r.consumed == 0);
    CHECK(r.ev.type == event_type::need_more);
}

TEST_CASE("assembler: streaming mode delivers each piece as it arrives") {
    assembler_options o = server_options();
    o.deliver_partial = true;
    SECTION("whole frames: one event per frame, in place") {
        message_assembler a(o);
        bytes in =
            cat({frame(opcode::text, "Hel", false), frame(opcode::ping, "p"),
                 frame(opcode::continuation, "lo", false), frame(opcode::continuation, "!")});
        std::span<std::uint8_t> rest(in);
        std::vector<rec> events;
        for (;;) {
            const auto r = a.consume(rest);
            if (r.ev.type == event_type::need_more) break;
            CHECK(points_into(r.ev.payload, in));
            events.push_back(record(r.ev));
            rest = rest.subspan(r.consumed);
        }
        CHECK(events == std::vector<rec>{msg(opcode::text, "Hel", false), ping("p"),
                                         msg(opcode::text, "lo", false),
                                         msg(opcode::text, "!", true)});
        CHECK(a.heap_capacity() == 0);
    }
    SECTION("one byte at a time: one event per byte, fin on the last") {
        message_assembler a(o);
        const auto events = feed_bytewise(
            a, cat({frame(opcode::binary, "abc", false), frame(opcode::continuation, "de")}));
        CHECK(events ==
              std::vector<rec>{msg(opcode::binary, "a", false), msg(opcode::binary, "b", false),
                               msg(opcode::binary, "c", false), msg(opcode::binary, "d", false),
                               msg(opcode::binary, "e", true)});
        CHECK(a.buffered_bytes() == 0);
    }
    SECTION("an empty final frame still ends the message") {
        message_assembler a(o);
        CHECK(feed_whole(
                  a, cat({frame(opcode::text, "x", false), frame(opcode::continuation, "", false),
                          frame(opcode::continuation, "")})) ==
              std::vector<rec>{msg(opcode::text, "x", false), msg(opcode::text, "", true)});
        CHECK(feed_whole(a, frame(opcode::text, "")) ==
              std::vector<rec>{msg(opcode::text, "", true)});
    }
    SECTION("the sample stream, reassembled from pieces, at every split point") {
        const bytes stream = sample_stream(true);
        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            CAPTURE(cut);
            message_assembler a(o);
            const auto events = feed(a, stream, {cut});
            // Join the message pieces; other events pass through.
            std::vector<rec> joined;
            std::size_t current = 0; // index in joined of the message being joined
            bool in_msg = false;
            for (const auto& e : events) {
                if (e.type != event_type::message) {
                    joined.push_back(e);
                    continue;
                }
                if (!in_msg) {
                    current = joined.size();
                    joined.push_back(e);
                    joined.back().payload.clear();
                    in_msg = true;
                }
                REQUIRE(e.message_type == joined[current].message_type);
                joined[current].payload += e.payload;
                joined[current].fin = e.fin;
                if (e.fin) in_msg = false;
            }
            REQUIRE_FALSE(in_msg);
            // Pings are delivered mid-message; move the message events into the order the
            // buffered mode gives (message at its end) to compare.
            std::vector<rec> expected = sample_events();
            std::swap(expected[0], expected[1]);
            REQUIRE(joined == expected);
        }
    }
    SECTION("UTF-8 and the size limit still apply to the whole message") {
        message_assembler a(o);
        CHECK(feed_whole(a, cat({frame(opcode::text, "ok \xE2", false),
                                 frame(opcode::continuation, "\x28")})) ==
              std::vector<rec>{
                  msg(opcode::text, "ok \xE2", false),
                  error(close_code::invalid_payload, "invalid UTF-8 in a text message")});
        assembler_options limited = o;
        limited.max_message_size = 4;
        message_assembler b(limited);
        CHECK(feed_whole(b, cat({frame(opcode::binary, "abc", false),
                                 frame(opcode::continuation, "de")})) ==
              std::vector<rec>{msg(opcode::binary, "abc", false),
                               error(close_code::message_too_big, "message too big")});
    }
}

TEST_CASE("assembler: masking at every offset and alignment") {
    // Payloads of 0..67 bytes, the frame placed at every offset 0..7 in the read buffer and
    // split at every point of its payload: the unmasking phase must follow the pieces.
    for (std::size_t len = 0; len <= 67; ++len) {
        std::string payload;
        for (std::size_t i = 0; i < len; ++i)
            payload.push_back(static_cast<char>('A' + (i * 5) % 26));
        const bytes f = frame(opcode::binary, payload);
        const std::size_t header = frame_header_size(len, true);
        for (std::size_t align = 0; align < 8; ++align) {
            bytes buffer(align, 0);
            buffer.insert(buffer.end(), f.begin(), f.end());
            message_assembler a(server_options());
            const auto r = a.consume(std::span(buffer.data() + align, f.size()));
            REQUIRE(r.ev.type == event_type::message);
            REQUIRE(r.ev.payload == payload);
        }
        for (std::size_t cut = header; cut <= f.size(); ++cut) {
            CAPTURE(len, cut);
            message_assembler a(server_options());
            REQUIRE(feed(a, f, {cut}) == std::vector<rec>{msg(opcode::binary, payload)});
        }
    }
}

TEST_CASE("assembler: memory") {
    INFO("sizeof(message_assembler) = " << sizeof(message_assembler));
    CHECK(sizeof(message_assembler) <= 128);

    SECTION("buffered_bytes tracks an unfinished message") {
        message_assembler a(server_options());
        CHECK(a.buffered_bytes() == 0);
        CHECK(feed_whole(a, frame(opcode::text, "abc", false)).empty());
        CHECK(a.buffered_bytes() == 3);
        bytes partial = frame(opcode::continuation, "defgh");
        partial.resize(partial.size() - 2); // "def" of "defgh"
        CHECK(feed_whole(a, partial).empty());
        CHECK(a.buffered_bytes() == 6);
        CHECK(feed_whole(a, bytes{static_cast<std::uint8_t>('g' ^ test_key[3]),
                                  static_cast<std::uint8_t>('h' ^ test_key[0])}) ==
              std::vector<rec>{msg(opcode::text, "abcdefgh")});
        CHECK(a.buffered_bytes() == 0);
    }
    SECTION("a large message's buffer is released, a small one kept for reuse") {
        message_assembler a(server_options());
        const std::string big(100 * 1024, 'b');
        bytes in = cat({frame(opcode::binary, big.substr(0, 50000), false),
                        frame(opcode::continuation, big.substr(50000))});
        bytes first = in;
        const auto r = a.consume(first);
        REQUIRE(r.ev.type == event_type::message);
        CHECK(r.ev.payload == big);
        CHECK(r.consumed == first.size());
        CHECK(a.heap_capacity() >= big.size()); // still holds the delivered payload
        CHECK(a.buffered_bytes() == 0);         // but no unfinished message
        a.release_delivered();
        CHECK(a.heap_capacity() == 0);

        const std::string small(2000, 's');
        bytes in2 = cat({frame(opcode::binary, small.substr(0, 1000), false),
                         frame(opcode::continuation, small.substr(1000))});
        CHECK(feed_whole(a, in2) == std::vector<rec>{msg(opcode::binary, small)});
        const std::size_t kept = a.heap_capacity();
        CHECK(kept >= small.size());
        CHECK(feed_whole(a, in2) == std::vector<rec>{msg(opcode::binary, small)});
        CHECK(a.heap_capacity() == kept); // reused, not reallocated
        CHECK(a.buffered_bytes() == 0);

        // The release also happens on the next consume() without release_delivered()
        // (feed_whole calls consume() again with the empty rest).
        CHECK(feed_whole(a, in) == std::vector<rec>{msg(opcode::binary, big)});
        CHECK(a.heap_capacity() == 0);
    }
    SECTION("reset drops an unfinished message") {
        message_assembler a(server_options());
        CHECK(feed_whole(a, frame(opcode::text, std::string(1000, 'a'), false)).empty());
        CHECK(a.buffered_bytes() == 1000);
        bytes half_header = frame(opcode::continuation, "x");
        half_header.resize(3);
        CHECK(feed_whole(a, half_header).empty());
        a.reset();
        CHECK(a.buffered_bytes() == 0);
        CHECK(a.heap_capacity() == 0);
        CHECK_FALSE(a.finished());
        // A continuation is now an error: the message is gone.
        CHECK(feed_whole(a, frame(opcode::continuation, "x")) ==
              std::vector<rec>{error(close_code::protocol_error,
                                     "continuation frame without a message in progress")});
        a.reset();
        CHECK(feed_whole(a, frame(opcode::text, "fresh")) ==
              std::vector<rec>{msg(opcode::text, "fresh")});
    }
}

TEST_CASE("assembler: random streams give the same events whole and in random pieces") {
    // Deterministic pseudo-random generator (no <random> distribution, whose output differs
    // between standard libraries).
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&state](std::uint64_t bound) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state % bound;
    };
    const std::string_view alphabet[] = {
        "a", "b", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xFF", "\xED\xA0\x80", " "};
    for (int round = 0; round < 300; ++round) {
        CAPTURE(round);
        bytes stream;
        bool in_message = false;
        const int frames = 1 + static_cast<int>(next(12));
        for (int f = 0; f < frames; ++f) {
            std::string payload;
            const auto len = next(5) == 0 ? 100 + next(200) : next(10);
            for (std::uint64_t i = 0; i < len; ++i)
                payload.append(alphabet[next(next(20) == 0 ? 8 : 5)]);
            switch (next(8)) {
            case 0:
                add(stream, opcode::ping, payload.substr(0, 125));
                break;
            case 1:
                add(stream, opcode::pong, payload.substr(0, 125));
                break;
            case 2:
                add(stream, in_message ? opcode::continuation : opcode::text, payload, false);
                in_message = true;
                break;
            case 3:
                add(stream, in_message ? opcode::continuation : opcode::binary, payload, true);
                in_message = false;
                break;
            case 4:
                if (next(10) == 0)
                    stream.push_back(static_cast<std::uint8_t>(next(256))); // garbage
                break;
            default:
                add(stream, in_message ? opcode::continuation : opcode::text, payload, true);
                in_message = false;
                break;
            }
        }
        if (next(4) == 0) add(stream, opcode::close, close_body(1000, "end"));
        message_assembler whole(server_options());
        const auto expected = feed_whole(whole, stream);
        for (int split = 0; split < 5; ++split) {
            std::vector<std::size_t> sizes;
            for (std::size_t total = 0; total < stream.size();) {
                sizes.push_back(next(next(2) == 0 ? 4 : 64));
                total += sizes.back();
            }
            message_assembler a(server_options());
            REQUIRE(feed(a, stream, sizes) == expected);
        }
        message_assembler b(server_options());
        REQUIRE(feed_bytewise(b, stream) == expected);
    }
}

// ---- receiving straight into the message buffer (direct_target / commit_direct) -------

namespace {
// Reads `input` as a connection does: `chunk` bytes at a time, into the assembler's message
// buffer whenever direct_target(min) offers it, else into a read buffer given to consume().
// `direct` counts the bytes that went in directly.
std::vector<rec> feed_direct(message_assembler& a, bytes input, std::size_t chunk, std::size_t min,
                             std::size_t* direct = nullptr) {
    std::vector<rec> events;
    std::size_t pos = 0;
    while (pos < input.size()) {
        const std::span<std::uint8_t> target = a.direct_target(min);
        if (!target.empty()) {
            const std::size_t n = std::min({chunk, target.size(), input.size() - pos});
            std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(pos), n, target.begin());
            const auto r = a.commit_direct(target, n);
            REQUIRE(r.consumed == n);
            if (r.ev.type != event_type::need_more) events.push_back(record(r.ev));
            if (direct) *direct += n;
            pos += n;
            continue;
        }
        const std::size_t n = std::min(chunk, input.size() - pos);
        bytes piece(input.begin() + static_cast<std::ptrdiff_t>(pos),
                    input.begin() + static_cast<std::ptrdiff_t>(pos + n));
        std::span<std::uint8_t> rest(piece);
        for (;;) {
            const auto r = a.consume(rest);
            if (r.ev.type == event_type::need_more) break;
            events.push_back(record(r.ev));
            rest = rest.subspan(r.consumed);
        }
        pos += n;
    }
    return events;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 13 + i / 7) % 26);
    return s;
}

// Identity "compression", enough to see that compressed messages never take the direct path.
struct identity_inflater final : message_inflater {
    inflate_result inflate(std::span<const std::uint8_t> in, std::span<std::uint8_t> out, bool last) override {
        const std::size_t n = std::min(in.size(), out.size());
        std::copy_n(in.begin(), n, out.begin());
        inflate_result r;
        r.consumed = n;
        r.produced = n;
        r.done = n == in.size();
        (void)last;
        return r;
    }
    void end_message() noexcept override {}
    std::size_t memory_usage() const noexcept override { return 0; }
};
} // namespace

TEST_CASE("assembler: a large payload received directly gives the same events, however it is cut") {
    // A large text message, a ping, a fragmented binary message with a ping between its two
    // large fragments, a small message, a close: read in chunks of many sizes, so the switch to
    // direct receive happens after the header, the extended length, the mask key, or inside
    // the payload, and the direct part ends inside a frame or exactly at its end.
    bytes stream;
    const std::string text = pattern(70000) + "\xC3\xB6";
    const std::string part1 = pattern(40000), part2 = pattern(50001);
    add(stream, opcode::text, text);
    add(stream, opcode::ping, "p");
    add(stream, opcode::binary, part1, false);
    add(stream, opcode::ping, "between");
    add(stream, opcode::continuation, part2);
    add(stream, opcode::text, "small");
    add(stream, opcode::close, close_body(1000, "bye"));
    const std::vector<rec> expected{msg(opcode::text, text), ping("p"), ping("between"),
                                    msg(opcode::binary, part1 + part2), msg(opcode::text, "small"),
                                    closed(close_code::normal, "bye")};
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5},
                                    std::size_t{9}, std::size_t{14}, std::size_t{100}, std::size_t{4096},
                                    std::size_t{65536}, std::size_t{1} << 20}) {
        for (const std::size_t min : {std::size_t{1}, std::size_t{1024}, std::size_t{32768}}) {
            if (chunk < 100 && min > 1) continue;  // enough: the small chunks test every cut
            CAPTURE(chunk, min);
            message_assembler a;
            std::size_t direct = 0;
            CHECK(feed_direct(a, stream, chunk, min, &direct) == expected);
            if (chunk <= 4096) CHECK(direct > 0);  // larger reads may hold whole frames
        }
    }
}

TEST_CASE("assembler: direct receive is offered only for a large data payload gathered in the buffer") {
    SECTION("not before a frame's header is complete, nor for less than `min` to come") {
        message_assembler a;
        bytes f = frame(opcode::binary, pattern(1000));
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
        REQUIRE(a.consume(std::span(f.data(), 5)).ev.type == event_type::need_more);  // header: 8 bytes
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
        REQUIRE(a.consume(std::span(f.data() + 5, 3)).ev.type == event_type::need_more);
        CHECK(a.direct_target(1001).empty());
        CHECK_FALSE(a.may_take_direct(1001));  // else a read loop spins
        const auto t = a.direct_target(1000);
        CHECK(t.size() == 1000);
        CHECK(a.commit_direct(t, 0).consumed == 0);  // nothing arrived
        CHECK(a.buffered_bytes() == 0);
    }
    SECTION("not for a control frame") {
        message_assembler a;
        bytes f = frame(opcode::ping, pattern(100));
        REQUIRE(a.consume(std::span(f.data(), 6)).ev.type == event_type::need_more);
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
    }
    SECTION("not in streaming mode") {
        assembler_options o;
        o.deliver_partial = true;
        message_assembler a(o);
        bytes f = frame(opcode::binary, pattern(1000));
        REQUIRE(a.consume(std::span(f.data(), 8)).ev.type == event_type::need_more);
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
    }
    SECTION("not for a compressed message: its payload goes through the inflater") {
        message_assembler a;
        identity_inflater inflater;
        a.set_inflater(&inflater);
        bytes f = raw(0xC2, pattern(70000));  // FIN, RSV1, binary
        REQUIRE(a.consume(std::span(f.data(), 100)).ev.type == event_type::need_more);
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
        CHECK(feed_direct(a, bytes(f.begin() + 100, f.end()), 65536, 1) ==
              std::vector<rec>{msg(opcode::binary, pattern(70000))});
    }
    SECTION("the buffer at most doubles per receive, whatever the header announces") {
        message_assembler a;
        bytes f = raw(0x82, std::string(16u << 20, 'x'));  // 16 MiB declared
        REQUIRE(a.consume(std::span(f.data(), 14 + 10)).ev.type == event_type::need_more);
        auto t = a.direct_target(1);
        CHECK(t.size() == 65536);
        REQUIRE(a.commit_direct(t, t.size()).ev.type == event_type::need_more);
        t = a.direct_target(1);
        CHECK(t.size() == 65536 + 10);
        a.commit_direct(t, 0);
        CHECK(a.buffered_bytes() == 65536 + 10);
    }
}

TEST_CASE("assembler: the rules hold for bytes received directly") {
    SECTION("invalid UTF-8 in the direct part fails with 1007 at that receive") {
        message_assembler a;
        std::string text = pattern(50000);
        text[45000] = '\xFF';
        bytes f = frame(opcode::text, text);
        REQUIRE(a.consume(std::span(f.data(), 1000)).ev.type == event_type::need_more);
        auto t = a.direct_target(1);
        REQUIRE(t.size() >= 40000);
        std::copy_n(f.begin() + 1000, 40000, t.begin());  // up to offset ~40992: still valid
        CHECK(a.commit_direct(t, 40000).ev.type == event_type::need_more);
        t = a.direct_target(1);
        const std::size_t rest = f.size() - 41000;
        std::copy_n(f.begin() + 41000, rest, t.begin());
        const auto r = a.commit_direct(t, rest);
        CHECK(record(r.ev) == error(close_code::invalid_payload, "invalid UTF-8 in a text message"));
        CHECK(a.finished());
        CHECK(a.direct_target(1).empty());
        CHECK_FALSE(a.may_take_direct(1));  // else a read loop spins
    }
    SECTION("a text message ending inside a code point fails with 1007") {
        message_assembler a;
        bytes f = frame(opcode::text, pattern(50000) + "\xC3");
        const auto events = feed_direct(a, f, 65536, 1);
        CHECK(events == std::vector<rec>{error(close_code::invalid_payload,
                                               "text message ends inside a UTF-8 sequence")});
    }
    SECTION("max_message_size still fails from the header: nothing is offered") {
        assembler_options o;
        o.max_message_size = 60000;
        message_assembler a(o);
        bytes stream;
        add(stream, opcode::binary, pattern(40000), false);
        add(stream, opcode::continuation, pattern(30000));  // 70000 in all: over the limit
        const auto events = feed_direct(a, stream, 65536, 1);
        REQUIRE(events.size() == 1);
        CHECK(events[0].type == event_type::error);
        CHECK(events[0].code == close_code::message_too_big);
    }
    SECTION("an unmasked frame to a client is received directly too") {
        message_assembler a(client_options());
        bytes f = frame(opcode::binary, pattern(100000), true, false);
        std::size_t direct = 0;
        CHECK(feed_direct(a, f, 65536, 1, &direct) == std::vector<rec>{msg(opcode::binary, pattern(100000))});
        CHECK(direct > 0);
    }
}

TEST_CASE("assembler: holds() tells a payload in its message buffer from one elsewhere") {
    message_assembler a;
    bytes f = frame(opcode::binary, pattern(70000));
    std::string_view payload;
    for (const rec& r : feed_direct(a, f, 4096, 1)) CHECK(r.payload == pattern(70000));
    // The message was gathered in the buffer: feed once more to see the event's view.
    message_assembler b;
    bytes g = frame(opcode::binary, pattern(5000));
    REQUIRE(b.consume(std::span(g.data(), 100)).ev.type == event_type::need_more);
    const auto r = b.consume(std::span(g.data() + 100, g.size() - 100));
    REQUIRE(r.ev.type == event_type::message);
    payload = r.ev.payload;
    CHECK(b.holds(payload));
    CHECK(b.holds(payload.substr(10, 100)));
    const std::string elsewhere = pattern(10);
    CHECK_FALSE(b.holds(elsewhere));
    bytes whole = frame(opcode::binary, "in the input");
    const auto z = b.consume(whole);  // zero copy: the payload lies in the input
    REQUIRE(z.ev.type == event_type::message);
    CHECK_FALSE(b.holds(z.ev.payload));
}

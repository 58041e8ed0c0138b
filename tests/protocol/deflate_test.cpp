// SPDX-License-Identifier: BSL-1.0
#include "wsx/protocol/deflate.hpp"

#include "catch.hpp"

#include "wsx/protocol/frame_writer.hpp"
#include "wsx/protocol/message_assembler.hpp"

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using wsx::close_code;
using wsx::opcode;
using wsx::role;
using namespace wsx::protocol;

namespace {

using bytes = std::vector<std::uint8_t>;

bytes to_bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::span<const std::uint8_t> span_of(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

bytes compress(deflate_compressor& c, std::string_view payload) {
    std::string out;
    c.compress(payload, out);
    return to_bytes(out);
}

std::string inflate(message_inflater& d, const bytes& payload, std::size_t limit = SIZE_MAX - 1) {
    std::string out;
    REQUIRE(inflate_message(d, payload, out, limit));
    return out;
}

// A frame with RSV1 set as the RFC's examples show them (a server's: unmasked), or masked.
std::string compressed_frame(opcode op, std::string_view payload, bool fin = true,
                             const mask_key* key = nullptr) {
    std::string f;
    append_frame(f, op, payload, fin, key, true);
    return f;
}

struct seen {
    event_type type;
    std::string payload;
    close_code code;
    std::string what;
    bool fin;
};

// Feeds everything and records the events.
std::vector<seen> feed(message_assembler& a, std::string bytes_in) {
    std::vector<seen> out;
    std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(bytes_in.data()), bytes_in.size()};
    while (!in.empty()) {
        const auto r = a.consume(in);
        in = in.subspan(r.consumed);
        if (r.ev.type == event_type::need_more) continue;
        out.push_back({r.ev.type, std::string(r.ev.payload), r.ev.code, std::string(r.ev.what), r.ev.fin});
    }
    return out;
}

std::string random_text(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    static constexpr std::string_view words[] = {"alpha ", "beta ", "gamma ", "{\"id\":", "42, ",
                                                 "\"name\": \"wsx\"", "}\n", "héllo ", "✓ "};
    std::string s;
    while (s.size() < n) s += words[rng() % std::size(words)];
    return s;
}

// An inflater that watches the assembler it serves: while the assembler is inflating, its
// message buffer is as big as it gets, so the peak of heap_capacity() seen here is the
// most memory the message ever held.
class spy_inflater final : public message_inflater {
public:
    explicit spy_inflater(const decompressor_params& p) : real_(p) {}
    const message_assembler* watched = nullptr;
    std::size_t peak_capacity = 0;
    std::size_t calls = 0;

    inflate_result inflate(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                           bool last) override {
        ++calls;
        if (watched) peak_capacity = std::max(peak_capacity, watched->heap_capacity());
        return real_.inflate(in, out, last);
    }
    void end_message() noexcept override { real_.end_message(); }
    std::size_t memory_usage() const noexcept override { return real_.memory_usage(); }

private:
    deflate_decompressor real_;
};

} // namespace

// ---- RFC 7692 §7.2.3: the examples, as byte vectors, both directions -------------------

TEST_CASE("7.2.3.1: \"Hello\" compresses to f2 48 cd c9 c9 07 00 and back") {
    const bytes hello{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    deflate_compressor c({.no_context_takeover = true});
    CHECK(compress(c, "Hello") == hello);
    CHECK(compress(c, "Hello") == hello); // no context takeover: the same again
    deflate_decompressor d({});
    CHECK(inflate(d, hello) == "Hello");
    CHECK(inflate(d, hello) == "Hello");
}

TEST_CASE("7.2.3.1: the unfragmented and the fragmented frame, through the assembler") {
    message_assembler a({.local_role = role::client});
    deflate_decompressor d({});
    a.set_inflater(&d);
    // 0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00
    const std::string single("\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00", 9);
    // 0x41 0x03 0xf2 0x48 0xcd, then 0x80 0x04 0xc9 0xc9 0x07 0x00
    const std::string fragmented("\x41\x03\xf2\x48\xcd\x80\x04\xc9\xc9\x07\x00", 11);
    const auto ev = feed(a, single + fragmented);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].type == event_type::message);
    CHECK(ev[0].payload == "Hello");
    CHECK(ev[1].type == event_type::message);
    CHECK(ev[1].payload == "Hello");
    // And our writer produces those bytes.
    deflate_compressor c({.no_context_takeover = true});
    std::string payload;
    c.compress("Hello", payload);
    CHECK(compressed_frame(opcode::text, payload) == single);
    CHECK(compressed_frame(opcode::text, payload.substr(0, 3), false) + [&] {
              std::string f;
              append_frame(f, opcode::continuation, payload.substr(3), true);
              return f;
          }() == fragmented);
}

TEST_CASE("7.2.3.2: sharing the LZ77 window, the second \"Hello\" is f2 00 11 00 00") {
    const bytes first{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    const bytes second{0xf2, 0x00, 0x11, 0x00, 0x00};
    deflate_compressor c({});
    CHECK(compress(c, "Hello") == first);
    CHECK(compress(c, "Hello") == second);
    deflate_decompressor d({});
    CHECK(inflate(d, first) == "Hello");
    CHECK(inflate(d, second) == "Hello");
    // Without the first message's window the second cannot be inflated.
    deflate_decompressor fresh({});
    std::string out;
    CHECK_FALSE(inflate_message(fresh, second, out));
}

TEST_CASE("7.2.3.3: a DEFLATE block with no compression") {
    deflate_decompressor d({});
    CHECK(inflate(d, {0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}) == "Hello");
    // Level 0 makes stored blocks: the same bytes from our side.
    deflate_compressor c({.level = 0, .no_context_takeover = true});
    CHECK(compress(c, "Hello") == bytes{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
}

TEST_CASE("7.2.3.4: a DEFLATE block with BFINAL set, and messages after it") {
    const bytes bfinal{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
    deflate_decompressor d({});
    CHECK(inflate(d, bfinal) == "Hello");
    // The stream ended: the next messages still inflate, and may refer back to the window.
    CHECK(inflate(d, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) == "Hello");
    CHECK(inflate(d, {0xf2, 0x00, 0x11, 0x00, 0x00}) == "Hello");
    // A BFINAL block not followed by the start of an empty stored block (zlib's Z_FINISH
    // output as is) is accepted too, and does not swallow the next message.
    deflate_decompressor d2({});
    CHECK(inflate(d2, {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) == "Hello");
    CHECK(inflate(d2, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) == "Hello");
}

TEST_CASE("7.2.3.5: two DEFLATE blocks in one message") {
    deflate_decompressor d({});
    CHECK(inflate(d, {0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}) ==
          "Hello");
}

TEST_CASE("7.2.3.6: an empty message is one 0x00 octet; an empty payload inflates too") {
    deflate_compressor c({.no_context_takeover = true});
    CHECK(compress(c, "") == bytes{0x00});
    deflate_decompressor d({});
    CHECK(inflate(d, {0x00}).empty());
    CHECK(inflate(d, {}).empty());
}

// ---- the codec -------------------------------------------------------------------------

TEST_CASE("round trips across window sizes, memory levels and context takeover") {
    for (std::uint8_t bits : {9, 10, 12, 15}) {
        for (std::uint8_t mem : {1, 8, 9}) {
            for (bool nct : {false, true}) {
                CAPTURE(int(bits), int(mem), nct);
                deflate_compressor c({.window_bits = bits, .mem_level = mem, .no_context_takeover = nct});
                deflate_decompressor d({.window_bits = bits, .no_context_takeover = nct});
                for (unsigned i = 0; i < 6; ++i) {
                    const std::string msg = random_text(i * 9000 + i, i + bits);
                    const bytes z = compress(c, msg);
                    if (msg.size() > 1000) CHECK(z.size() < msg.size() / 2);
                    CHECK(inflate(d, z) == msg);
                }
                if (nct) {
                    // Without context takeover nothing is held between messages.
                    CHECK(c.memory_usage() == 0);
                    CHECK(d.memory_usage() == 0);
                } else {
                    CHECK(c.memory_usage() > (std::size_t{1} << (bits + 1)));
                    CHECK(d.memory_usage() > (std::size_t{1} << bits));
                }
            }
        }
    }
}

TEST_CASE("incompressible data round trips, and the output span may be as small as one byte") {
    std::mt19937 rng(7);
    std::string noise(70000, '\0');
    for (char& ch : noise) ch = static_cast<char>(rng());
    deflate_compressor c({});
    std::string z;
    c.compress(noise, z);
    CHECK(z.size() < noise.size() + noise.size() / 1000 + 64);
    deflate_decompressor d({});
    std::string out;
    std::span<const std::uint8_t> in = span_of(z);
    for (;;) {
        std::uint8_t one = 0;
        const inflate_result r = d.inflate(in, {&one, 1}, true);
        REQUIRE_FALSE(r.error);
        REQUIRE(r.produced <= 1);
        if (r.produced) out.push_back(static_cast<char>(one));
        in = in.subspan(r.consumed);
        if (r.done) break;
    }
    d.end_message();
    CHECK(out == noise);
}

TEST_CASE("a compressed message split into fragments at every byte inflates the same") {
    deflate_compressor c({});
    std::string z;
    const std::string msg = random_text(3000, 3);
    c.compress(msg, z);
    for (std::size_t cut = 0; cut <= z.size(); cut += 7) {
        deflate_decompressor d({});
        std::string out(64 * 1024, '\0');
        auto* o = reinterpret_cast<std::uint8_t*>(out.data());
        const inflate_result r1 = d.inflate(span_of(z).first(cut), {o, out.size()}, false);
        REQUIRE(r1.done);
        REQUIRE(r1.consumed == cut);
        const inflate_result r2 = d.inflate(span_of(z).subspan(cut), {o + r1.produced, out.size() - r1.produced}, true);
        REQUIRE(r2.done);
        CHECK(out.substr(0, r1.produced + r2.produced) == msg);
    }
}

TEST_CASE("compressing a message in fragments gives one inflatable message") {
    deflate_compressor c({});
    const std::string msg = random_text(50000, 11);
    std::string z;
    c.compress(std::string_view(msg).substr(0, 20000), z, false);
    c.compress(std::string_view(msg).substr(20000, 20000), z, false);
    c.compress(std::string_view(msg).substr(40000), z, true);
    deflate_decompressor d({});
    CHECK(inflate(d, to_bytes(z)) == msg);
}

TEST_CASE("invalid compressed data is an error, not a crash") {
    deflate_decompressor d({});
    std::string out;
    CHECK_FALSE(inflate_message(d, bytes{0xff, 0xff, 0xff, 0xff, 0x00}, out));
    // A back-reference beyond anything seen.
    CHECK_FALSE(inflate_message(d, bytes{0xf2, 0x00, 0x11, 0x00, 0x00}, out));
    // Usable again for the next message after end_message (inflate_message calls it).
    deflate_decompressor d2({.no_context_takeover = true});
    CHECK_FALSE(inflate_message(d2, bytes{0x07}, out));
    out.clear();
    CHECK(inflate(d2, {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}) == "Hello");
}

TEST_CASE("parameters zlib cannot honour are refused at construction") {
    CHECK_THROWS_AS(deflate_compressor({.window_bits = 8}), std::invalid_argument);
    CHECK_THROWS_AS(deflate_compressor({.window_bits = 16}), std::invalid_argument);
    CHECK_THROWS_AS(deflate_compressor({.mem_level = 0}), std::invalid_argument);
    CHECK_THROWS_AS(deflate_decompressor({.window_bits = 7}), std::invalid_argument);
    // 8 inflates (with a 512-byte window, see the header).
    deflate_decompressor d({.window_bits = 8});
    deflate_compressor c({.window_bits = 9});
    const std::string msg = random_text(5000, 5);
    CHECK(inflate(d, compress(c, msg)) == msg);
}

TEST_CASE("the codec's memory is allocated on first use and, without context takeover, "
          "goes to the per-thread cache after each message") {
    detail::zstate_cache::local().clear();
    deflate_compressor c({});
    deflate_decompressor d({});
    CHECK(c.memory_usage() == 0);
    CHECK(d.memory_usage() == 0);
    const bytes z = compress(c, random_text(10000, 1));
    inflate(d, z);
    // zlib 1.2.x, window 15 and memLevel 8: ~256 KiB to compress, ~39 KiB to inflate.
    CHECK(c.memory_usage() > 256 * 1024);
    CHECK(c.memory_usage() < 300 * 1024);
    CHECK(d.memory_usage() > 32 * 1024);
    CHECK(d.memory_usage() < 48 * 1024);

    deflate_compressor c2({.no_context_takeover = true});
    compress(c2, "some text some text some text");
    CHECK(c2.memory_usage() == 0);
    const std::size_t cached = deflate_thread_cache_memory();
    CHECK(cached > 256 * 1024);
    // A second compressor takes the cached state rather than allocating one.
    deflate_compressor c3({.no_context_takeover = true});
    compress(c3, "some text some text some text");
    CHECK(deflate_thread_cache_memory() == cached);
    detail::zstate_cache::local().clear();
    CHECK(deflate_thread_cache_memory() == 0);
}

// ---- the message assembler with an inflater --------------------------------------------

TEST_CASE("RSV1 is a protocol error unless an inflater is set, and only on a first frame") {
    SECTION("no inflater") {
        message_assembler a({.local_role = role::client});
        const auto ev = feed(a, std::string("\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00", 9));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].type == event_type::error);
        CHECK(ev[0].code == close_code::protocol_error);
    }
    SECTION("on a continuation frame") {
        message_assembler a({.local_role = role::client});
        deflate_decompressor d({});
        a.set_inflater(&d);
        const auto ev = feed(a, std::string("\x41\x03\xf2\x48\xcd\xc0\x04\xc9\xc9\x07\x00", 11));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::protocol_error);
        CHECK(ev[0].what == "RSV1 set on a continuation frame");
    }
    SECTION("on a control frame") {
        message_assembler a({.local_role = role::client});
        deflate_decompressor d({});
        a.set_inflater(&d);
        const auto ev = feed(a, std::string("\xc9\x00", 2));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::protocol_error);
        CHECK(ev[0].what == "RSV1 set on a control frame");
    }
    SECTION("RSV2 and RSV3 stay errors") {
        message_assembler a({.local_role = role::client});
        deflate_decompressor d({});
        a.set_inflater(&d);
        const auto ev = feed(a, std::string("\xa1\x00", 2));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::protocol_error);
    }
}

TEST_CASE("compressed and uncompressed messages mix, with pings between fragments, masked") {
    message_assembler a({.local_role = role::server});
    deflate_decompressor d({});
    a.set_inflater(&d);
    deflate_compressor c({});
    const mask_key key{1, 2, 3, 4};
    const std::string big = random_text(200000, 9);
    std::string z;
    c.compress(big, z);
    std::string wire;
    append_frame(wire, opcode::text, z.substr(0, 100), false, &key, true);
    append_frame(wire, opcode::ping, "p", true, &key);
    append_frame(wire, opcode::continuation, z.substr(100, 1000), false, &key);
    append_frame(wire, opcode::continuation, "", false, &key);
    append_frame(wire, opcode::continuation, z.substr(1100), true, &key);
    append_frame(wire, opcode::binary, "plain", true, &key);
    std::string z2;
    c.compress(big.substr(big.size() - 20000), z2); // all in the shared window: tiny
    CHECK(z2.size() < 2000);
    append_frame(wire, opcode::text, z2, true, &key, true);
    // Fed in awkward pieces.
    std::vector<seen> ev;
    for (std::size_t pos = 0; pos < wire.size(); pos += 777) {
        auto part = feed(a, wire.substr(pos, 777));
        ev.insert(ev.end(), part.begin(), part.end());
    }
    REQUIRE(ev.size() == 4);
    CHECK(ev[0].type == event_type::ping);
    CHECK(ev[1].payload == big);
    CHECK(ev[2].payload == "plain");
    CHECK(ev[3].payload == big.substr(big.size() - 20000));
}

TEST_CASE("streaming mode hands over inflated pieces") {
    message_assembler a({.local_role = role::client, .deliver_partial = true});
    deflate_decompressor d({});
    a.set_inflater(&d);
    deflate_compressor c({});
    const std::string big = random_text(300000, 2);
    std::string z;
    c.compress(big, z);
    std::string wire = compressed_frame(opcode::text, z.substr(0, z.size() / 2), false);
    append_frame(wire, opcode::continuation, z.substr(z.size() / 2), true);
    std::string got;
    int finals = 0;
    for (std::size_t pos = 0; pos < wire.size(); pos += 4096) {
        for (const auto& e : feed(a, wire.substr(pos, 4096))) {
            REQUIRE(e.type == event_type::message);
            got += e.payload;
            finals += e.fin;
        }
    }
    CHECK(finals == 1);
    CHECK(got == big);
}

TEST_CASE("invalid compressed data closes with 1007") {
    message_assembler a({.local_role = role::client});
    deflate_decompressor d({});
    a.set_inflater(&d);
    const auto ev = feed(a, compressed_frame(opcode::binary, "\xff\xff\xff\xff"));
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].code == close_code::invalid_payload);
    CHECK(ev[0].what == "invalid compressed data");
}

TEST_CASE("UTF-8 is validated on the inflated bytes, failing fast") {
    deflate_compressor c({});
    message_assembler a({.local_role = role::client, .max_message_size = 64u << 20});
    spy_inflater d({});
    d.watched = &a;
    a.set_inflater(&d);
    SECTION("a cut code point at the end") {
        std::string z;
        c.compress("h\xc3", z);
        const auto ev = feed(a, compressed_frame(opcode::text, z));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::invalid_payload);
    }
    SECTION("an invalid byte at the start of 32 MiB: refused long before the end") {
        std::string text = "\xff" + std::string(32u << 20, 'a');
        std::string z;
        c.compress(text, z);
        const std::string wire = compressed_frame(opcode::text, z);
        const auto ev = feed(a, wire);
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::invalid_payload);
        CHECK(ev[0].what == "invalid UTF-8 in a text message");
        CHECK(d.calls == 1); // the first inflated step
        CHECK(d.peak_capacity < (1u << 20));
    }
    SECTION("valid text passes") {
        const std::string text = random_text(100000, 4);
        std::string z;
        c.compress(text, z);
        const auto ev = feed(a, compressed_frame(opcode::text, z));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].payload == text);
    }
}

TEST_CASE("a decompression bomb is refused with 1009 without allocating its inflated size") {
    // 64 MiB of zeros compress to ~64 KiB (DEFLATE's best ratio is ~1000:1); the limit is
    // 1 MiB.
    deflate_compressor c({.level = 9});
    std::string zeros(64u << 20, '\0');
    std::string z;
    c.compress(zeros, z);
    std::string().swap(zeros);
    CHECK(z.size() < 80 * 1024);
    const std::uint64_t limit = 1u << 20;
    message_assembler a({.local_role = role::client, .max_message_size = limit});
    spy_inflater d({});
    d.watched = &a;
    a.set_inflater(&d);

    SECTION("in one read") {
        std::string wire = compressed_frame(opcode::binary, z);
        const auto ev = feed(a, std::move(wire));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::message_too_big);
        CHECK(ev[0].what == "message too big after decompression");
        // The message buffer never grew much past the limit (string growth doubles).
        CHECK(d.peak_capacity > limit / 2);
        CHECK(d.peak_capacity <= 2 * limit + 4096);
        CHECK(a.heap_capacity() == 0); // freed on the error
    }
    SECTION("in small reads, watching the buffer") {
        std::string wire = compressed_frame(opcode::binary, z);
        std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(wire.data()), wire.size()};
        std::size_t peak_buffered = 0;
        std::size_t peak_capacity = 0;
        bool refused = false;
        while (!in.empty() && !refused) {
            std::span<std::uint8_t> chunk = in.first(std::min<std::size_t>(in.size(), 1000));
            in = in.subspan(chunk.size());
            while (!chunk.empty()) {
                const auto r = a.consume(chunk);
                chunk = chunk.subspan(r.consumed);
                peak_buffered = std::max(peak_buffered, a.buffered_bytes());
                peak_capacity = std::max(peak_capacity, a.heap_capacity());
                if (r.ev.type == event_type::error) {
                    CHECK(r.ev.code == close_code::message_too_big);
                    refused = true;
                    break;
                }
                REQUIRE(r.ev.type == event_type::need_more);
            }
        }
        CHECK(refused);
        CHECK_FALSE(in.empty()); // refused long before the end of the compressed frame
        CHECK(peak_buffered <= limit);
        CHECK(peak_capacity <= 2 * limit + 4096);
        CHECK(d.peak_capacity <= 2 * limit + 4096);
    }
    SECTION("exactly at the limit is accepted, one byte more is not") {
        deflate_compressor c2({});
        std::string at(limit, 'x');
        std::string z2;
        c2.compress(at, z2);
        auto ev = feed(a, compressed_frame(opcode::binary, z2));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].type == event_type::message);
        CHECK(ev[0].payload.size() == limit);
        std::string z3;
        c2.compress(at + "y", z3);
        ev = feed(a, compressed_frame(opcode::binary, z3));
        REQUIRE(ev.size() == 1);
        CHECK(ev[0].code == close_code::message_too_big);
    }
}

TEST_CASE("without context takeover the assembler's inflater holds nothing between messages") {
    message_assembler a({.local_role = role::client});
    deflate_decompressor d({.no_context_takeover = true});
    a.set_inflater(&d);
    deflate_compressor c({.no_context_takeover = true});
    std::string z;
    c.compress(random_text(20000, 8), z);
    const std::string wire = compressed_frame(opcode::text, z);
    // Half a message: the inflater is in use.
    auto ev = feed(a, wire.substr(0, wire.size() / 2));
    CHECK(ev.empty());
    CHECK(d.memory_usage() > 0);
    ev = feed(a, wire.substr(wire.size() / 2));
    REQUIRE(ev.size() == 1);
    CHECK(d.memory_usage() == 0);
    // reset() mid-message gives it back too.
    feed(a, wire.substr(0, wire.size() / 2));
    CHECK(d.memory_usage() > 0);
    a.reset();
    CHECK(d.memory_usage() == 0);
}

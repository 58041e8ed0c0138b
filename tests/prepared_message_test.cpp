// SPDX-License-Identifier: BSL-1.0
// wsx::prepared_message (prepared_message.hpp): the encoded server frame
// (unmasked, FIN, opcode, minimal length encoding) at the 7/16/64-bit length
// boundaries, payload(), type(), valid_text(), copies sharing one frame, and the
// compressed_frame cache (a callback cache that needs no zlib itself; the real
// deflate output is covered in tests/deflate).
#include "wsx/prepared_message.hpp"

#include "wsx/protocol/frame_header.hpp"

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using wsx::opcode;
using wsx::prepared_message;
using namespace wsx::protocol;
using namespace std::string_view_literals;

namespace {
std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// A payload of n bytes that is valid UTF-8 and not all one byte.
std::string make_payload(std::size_t n) {
    std::string s(n, 'a');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
}

void check_frame(const prepared_message& m, opcode op, const std::string& payload) {
    REQUIRE(m.frame() != nullptr);
    const std::string& frame = *m.frame();
    frame_header h;
    const std::size_t header_size = decode_frame_header(bytes_of(frame), h);
    REQUIRE(header_size != 0);

    // A server frame: FIN, no reserved bits, unmasked, the message's opcode.
    CHECK(h.fin);
    CHECK_FALSE(h.rsv1);
    CHECK_FALSE(h.rsv2);
    CHECK_FALSE(h.rsv3);
    CHECK_FALSE(h.masked);
    CHECK(h.op == op);
    CHECK(h.payload_length == payload.size());

    // The minimal length encoding: 7-bit up to 125, 16-bit up to 65535, else 64-bit.
    const auto b1 = static_cast<std::uint8_t>(frame[1]);
    CHECK((b1 & 0x80u) == 0);
    if (payload.size() <= 125) {
        CHECK(header_size == 2);
        CHECK((b1 & 0x7Fu) == payload.size());
    } else if (payload.size() <= 0xFFFF) {
        CHECK(header_size == 4);
        CHECK((b1 & 0x7Fu) == 126);
    } else {
        CHECK(header_size == 10);
        CHECK((b1 & 0x7Fu) == 127);
    }
    CHECK(has_valid_length_encoding(h, header_size));
    CHECK(header_size == frame_header_size(payload.size(), false));

    // The header is followed by the payload, unmasked, and nothing else.
    CHECK(frame.size() == header_size + payload.size());
    CHECK(std::string_view{frame}.substr(header_size) == payload);

    // payload() is a view into the frame.
    CHECK(m.payload() == payload);
    CHECK(m.payload().data() == frame.data() + header_size);
    CHECK(m.type() == op);
}
} // namespace

TEST_CASE("prepared text and binary frames at the length boundaries", "[prepared_message]") {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{125}, std::size_t{126},
                          std::size_t{65535}, std::size_t{65536}, std::size_t{70000}}) {
        const std::string payload = make_payload(n);
        INFO("payload size " << n);
        {
            const auto m = prepared_message::text(payload);
            check_frame(m, opcode::text, payload);
            CHECK(m.valid_text());
        }
        {
            const auto m = prepared_message::binary(payload);
            check_frame(m, opcode::binary, payload);
            CHECK(m.valid_text());
        }
        {
            const prepared_message m{opcode::text, payload};
            check_frame(m, opcode::text, payload);
        }
    }
}

TEST_CASE("prepared frame bytes, exactly", "[prepared_message]") {
    CHECK(*prepared_message::text("Hello").frame() == "\x81\x05Hello"sv);
    CHECK(*prepared_message::binary("").frame() == "\x82\x00"sv);
    // 126: 16-bit length 0x007E.
    const std::string f126 = *prepared_message::binary(std::string(126, 'x')).frame();
    CHECK(f126.substr(0, 4) == "\x82\x7e\x00\x7e"sv);
    // 65535: 16-bit length 0xFFFF.
    const std::string f65535 = *prepared_message::binary(std::string(65535, 'x')).frame();
    CHECK(f65535.substr(0, 4) == "\x82\x7e\xff\xff"sv);
    // 65536: 64-bit length 0x0000000000010000.
    const std::string f65536 = *prepared_message::binary(std::string(65536, 'x')).frame();
    CHECK(f65536.substr(0, 10) == "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"sv);
}

TEST_CASE("payload() returns the payload, binary bytes included", "[prepared_message]") {
    const std::string bytes{"\x00\xff\xc0\x80\xfe", 5};
    const auto m = prepared_message::binary(bytes);
    CHECK(m.payload() == bytes);
    CHECK(m.payload().size() == 5);
    CHECK(m.type() == opcode::binary);
}

TEST_CASE("valid_text(): false for invalid UTF-8 text, true for any binary", "[prepared_message]") {
    CHECK(prepared_message::text("plain ascii").valid_text());
    CHECK(prepared_message::text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80").valid_text());
    CHECK(prepared_message::text("").valid_text());

    const std::string_view invalid[] = {
        "\xff"sv,                 // never valid
        "abc\xc3"sv,              // truncated two-byte sequence
        "\xc0\xaf"sv,             // overlong '/'
        "\xed\xa0\x80"sv,         // UTF-16 surrogate
        "\xf4\x90\x80\x80"sv,     // above U+10FFFF
        "ok\x80"sv,               // lone continuation byte
    };
    for (std::string_view s : invalid) {
        INFO("bytes of size " << s.size());
        CHECK_FALSE(prepared_message::text(s).valid_text());
        // The same bytes as binary are fine.
        CHECK(prepared_message::binary(s).valid_text());
        // The frame is built anyway; validity is the caller's check.
        CHECK(prepared_message::text(s).payload() == s);
    }

    std::string all_bytes;
    for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
    CHECK(prepared_message::binary(all_bytes).valid_text());
    CHECK_FALSE(prepared_message::text(all_bytes).valid_text());
}

TEST_CASE("copies share the one encoded frame", "[prepared_message]") {
    const auto a = prepared_message::text(make_payload(300));
    const long before = a.frame().use_count();
    {
        const prepared_message b = a; // NOLINT: the copy is the point
        CHECK(b.frame() == a.frame());
        CHECK(b.frame().get() == a.frame().get());
        // The copy holds a reference to the same allocation (frame() aliases the
        // shared frames block, so the count may rise by more than one).
        CHECK(a.frame().use_count() > before);
        CHECK(b.payload().data() == a.payload().data());
        CHECK(b.type() == a.type());
    }
    CHECK(a.frame().use_count() == before);

    prepared_message c = prepared_message::binary("other");
    c = a;
    CHECK(c.frame().get() == a.frame().get());
    CHECK(c.type() == opcode::text);

    // The frame outlives every prepared_message (queued by reference).
    std::shared_ptr<const std::string> kept;
    {
        const auto tmp = prepared_message::binary("kept alive");
        kept = tmp.frame();
    }
    CHECK(*kept == "\x82\x0akept alive"sv);

    // Two messages made separately from the same payload do not share.
    const auto d = prepared_message::text(make_payload(300));
    CHECK(d.frame().get() != a.frame().get());
    CHECK(*d.frame() == *a.frame());
}

TEST_CASE("control opcodes: small payloads framed, over 125 bytes rejected", "[prepared_message]") {
    const prepared_message ping{opcode::ping, "hb"};
    CHECK(*ping.frame() == "\x89\x02hb"sv);
    CHECK(ping.type() == opcode::ping);
    CHECK(ping.valid_text()); // not a text message
    CHECK_THROWS_AS((prepared_message{opcode::ping, std::string(126, 'x')}), std::invalid_argument);
}

TEST_CASE("compressed_frame builds once per key and is shared by copies", "[prepared_message]") {
    // compressed_frame is a cache around the caller's builder; it needs no zlib.
    const auto m = prepared_message::text("payload");
    int built = 0;
    auto make = [&](char tag) {
        return [&built, tag](std::string& out) {
            ++built;
            out.append("frame-");
            out.push_back(tag);
        };
    };

    const auto f1 = m.compressed_frame(7, make('a'));
    REQUIRE(f1 != nullptr);
    CHECK(*f1 == "frame-a");
    CHECK(built == 1);

    // Same key: the cached frame, the builder is not called.
    const auto f2 = m.compressed_frame(7, make('b'));
    CHECK(f2.get() == f1.get());
    CHECK(*f2 == "frame-a");
    CHECK(built == 1);

    // A copy of the message shares the cache.
    const prepared_message copy = m;
    const auto f3 = copy.compressed_frame(7, make('c'));
    CHECK(f3.get() == f1.get());
    CHECK(built == 1);

    // Another key: built separately.
    const auto g = copy.compressed_frame(8, make('d'));
    CHECK(*g == "frame-d");
    CHECK(g.get() != f1.get());
    CHECK(built == 2);
    CHECK(m.compressed_frame(8, make('e')).get() == g.get());
    CHECK(built == 2);

    // The plain frame is untouched.
    CHECK(*m.frame() == "\x81\x07payload"sv);

    // Separately made messages have separate caches.
    const auto other = prepared_message::text("payload");
    CHECK(*other.compressed_frame(7, make('f')) == "frame-f");
    CHECK(built == 3);
}

TEST_CASE("compressed_frame from many threads builds once", "[prepared_message]") {
    const auto m = prepared_message::binary(make_payload(1000));
    std::atomic<int> built{0};
    constexpr int thread_count = 8;
    std::vector<std::shared_ptr<const std::string>> results(thread_count);
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < thread_count; ++i) {
            threads.emplace_back([&, i] {
                const prepared_message local = m; // each thread its own copy
                results[static_cast<std::size_t>(i)] = local.compressed_frame(42, [&](std::string& out) {
                    built.fetch_add(1);
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                    out = "compressed";
                });
            });
        }
        for (auto& t : threads) t.join();
    }
    CHECK(built.load() == 1);
    for (const auto& r : results) {
        REQUIRE(r != nullptr);
        CHECK(r.get() == results[0].get());
        CHECK(*r == "compressed");
    }
}

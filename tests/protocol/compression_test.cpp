// SPDX-License-Identifier: BSL-1.0
// wsx/protocol/compression.hpp: the zlib-free seam between the protocol layer and a
// permessage-deflate codec (RFC 7692). This test links no zlib: it checks the defaults the
// header gives (those of RFC 7692 §7.1), and drives the message assembler with fake codecs
// to pin the contract of message_inflater from the caller's side: pieces in order, `last`
// on the end of the payload, calls repeated while the output is full, end_message() once
// per message (delivered or abandoned), never more output than the limit plus one byte,
// and errors mapped to the close codes of RFC 6455 §7.4.1.
#include "wsx/protocol/compression.hpp"

#include "catch.hpp"

#include "wsx/protocol/message_assembler.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

using namespace wsx::protocol;
using wsx::close_code;
using wsx::opcode;
using wsx::role;

namespace {

static_assert(std::is_abstract_v<message_inflater> && std::has_virtual_destructor_v<message_inflater>);
static_assert(std::is_abstract_v<message_deflater> && std::has_virtual_destructor_v<message_deflater>);

// Identity "compression": inflating copies, at most `per_call` bytes per call. `factor`
// > 1 makes every input byte inflate to that many bytes, like a decompression bomb.
class fake_inflater final : public message_inflater {
public:
    explicit fake_inflater(std::size_t per_call = SIZE_MAX, std::size_t factor = 1)
        : per_call_(per_call), factor_(factor) {}

    inflate_result inflate(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                           bool last) override {
        ++calls;
        if (last) ++last_calls;
        if (fail) return {0, 0, false, true};
        inflate_result r;
        std::size_t room = std::min(out.size(), per_call_);
        while (room > 0) {
            if (pending_ == 0) {
                if (r.consumed == in.size()) break;
                fed.push_back(static_cast<char>(in[r.consumed]));
                current_ = in[r.consumed++];
                pending_ = factor_;
            }
            const std::size_t n = std::min(room, pending_);
            std::fill_n(out.data() + r.produced, n, current_);
            r.produced += n;
            room -= n;
            pending_ -= n;
        }
        r.done = r.consumed == in.size() && pending_ == 0;
        total_produced += r.produced;
        largest_out = std::max(largest_out, out.size());
        return r;
    }

    void end_message() noexcept override {
        ++ended;
        pending_ = 0;
    }
    std::size_t memory_usage() const noexcept override { return 0; }

    bool fail = false;
    int calls = 0, last_calls = 0, ended = 0;
    std::string fed;  // every compressed byte handed to the codec, in order
    std::size_t total_produced = 0, largest_out = 0;

private:
    std::size_t per_call_, factor_;
    std::size_t pending_ = 0;
    std::uint8_t current_ = 0;
};

// What a client-side assembler receives from a server: unmasked frames.
std::vector<std::uint8_t> frame(std::uint8_t first_byte, std::string_view payload) {
    REQUIRE(payload.size() < 126);
    std::vector<std::uint8_t> f(2 + payload.size());
    f[0] = first_byte;
    f[1] = static_cast<std::uint8_t>(payload.size());
    std::copy(payload.begin(), payload.end(), f.begin() + 2);
    return f;
}
constexpr std::uint8_t fin = 0x80, rsv1 = 0x40, text = 0x1, binary = 0x2, continuation = 0x0;

struct seen {
    event_type type;
    std::string payload;
    close_code code;
};

// Feeds `bytes` and records every event until the assembler needs more.
std::vector<seen> feed(message_assembler& a, std::vector<std::uint8_t> bytes) {
    std::vector<seen> out;
    std::span<std::uint8_t> rest{bytes};
    for (;;) {
        const auto r = a.consume(rest);
        rest = rest.subspan(r.consumed);
        if (r.ev.type == event_type::need_more) return out;
        out.push_back({r.ev.type, std::string(r.ev.payload), r.ev.code});
    }
}

message_assembler client_assembler(std::uint64_t max = 1 << 20) {
    return message_assembler({.local_role = role::client, .max_message_size = max});
}

} // namespace

TEST_CASE("the defaults are RFC 7692's: off, 15-bit windows, context takeover") {
    constexpr deflate_config c{};
    STATIC_REQUIRE_FALSE(c.enabled);
    STATIC_REQUIRE(c.send_window_bits == 15);
    STATIC_REQUIRE(c.recv_window_bits == 15);
    STATIC_REQUIRE_FALSE(c.send_no_context_takeover);
    STATIC_REQUIRE_FALSE(c.recv_no_context_takeover);

    constexpr compressor_params cp{};
    STATIC_REQUIRE(cp.window_bits == 15);
    STATIC_REQUIRE(cp.mem_level == 8);  // zlib's default
    STATIC_REQUIRE(cp.level == 6);      // zlib's default
    STATIC_REQUIRE_FALSE(cp.no_context_takeover);
    constexpr decompressor_params dp{};
    STATIC_REQUIRE(dp.window_bits == 15);
    STATIC_REQUIRE_FALSE(dp.no_context_takeover);

    constexpr inflate_result r{};
    STATIC_REQUIRE(r.consumed == 0);
    STATIC_REQUIRE(r.produced == 0);
    STATIC_REQUIRE_FALSE(r.done);
    STATIC_REQUIRE_FALSE(r.error);
}

namespace {
compressor_params last_compressor;
decompressor_params last_decompressor;

class fake_deflater final : public message_deflater {
public:
    void compress(std::string_view payload, std::string& out) override { out.append(payload); }
    std::size_t memory_usage() const noexcept override { return 42; }
};
std::unique_ptr<message_deflater> make_fake_deflater(const compressor_params& p) {
    last_compressor = p;
    return std::make_unique<fake_deflater>();
}
std::unique_ptr<message_inflater> make_fake_inflater(const decompressor_params& p) {
    last_decompressor = p;
    return std::make_unique<fake_inflater>();
}
// A codec is two function pointers in static storage, constant-initialised: what
// deflate_options::codec points at.
constexpr deflate_codec fake_codec{&make_fake_deflater, &make_fake_inflater};
} // namespace

TEST_CASE("a codec is a pair of factories that receive the negotiated parameters") {
    auto d = fake_codec.make_deflater({.window_bits = 10, .mem_level = 9, .level = 1,
                                       .no_context_takeover = true});
    CHECK(last_compressor.window_bits == 10);
    CHECK(last_compressor.mem_level == 9);
    CHECK(last_compressor.level == 1);
    CHECK(last_compressor.no_context_takeover);
    std::string out = "kept:";
    d->compress("abc", out);
    CHECK(out == "kept:abc");
    CHECK(d->memory_usage() == 42);

    auto i = fake_codec.make_inflater({.window_bits = 9, .no_context_takeover = true});
    CHECK(last_decompressor.window_bits == 9);
    CHECK(last_decompressor.no_context_takeover);
    REQUIRE(i != nullptr);
}

TEST_CASE("a compressed message reaches the inflater in order, `last` on its end, then end_message") {
    fake_inflater inf;
    auto a = client_assembler();
    a.set_inflater(&inf);

    // RSV1 on the first frame only (RFC 7692 §6.1); the continuation carries the rest.
    const auto first = frame(rsv1 | text, "hello, ");
    const auto second = frame(fin | continuation, "world");
    std::vector<std::uint8_t> bytes(first.size() + second.size());
    std::copy(second.begin(), second.end(), std::copy(first.begin(), first.end(), bytes.begin()));
    const auto events = feed(a, bytes);

    REQUIRE(events.size() == 1);
    CHECK(events[0].type == event_type::message);
    CHECK(events[0].payload == "hello, world");
    CHECK(inf.fed == "hello, world");
    CHECK(inf.last_calls == 1);  // §7.2.2: the tail is appended once, at the end
    CHECK(inf.ended == 1);

    // The next message starts afresh.
    const auto again = feed(a, frame(fin | rsv1 | binary, "xyz"));
    REQUIRE(again.size() == 1);
    CHECK(again[0].payload == "xyz");
    CHECK(inf.ended == 2);
}

TEST_CASE("a message without RSV1 never touches the inflater") {
    fake_inflater inf;
    auto a = client_assembler();
    a.set_inflater(&inf);
    const auto events = feed(a, frame(fin | text, "plain"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].payload == "plain");
    CHECK(inf.calls == 0);
    CHECK(inf.ended == 0);
}

TEST_CASE("when the output is full the caller makes room and calls again until done") {
    fake_inflater inf(/*per_call=*/7);
    auto a = client_assembler();
    a.set_inflater(&inf);
    const std::string payload(100, 'p');
    const auto events = feed(a, frame(fin | rsv1 | binary, payload));
    REQUIRE(events.size() == 1);
    CHECK(events[0].payload == payload);
    CHECK(inf.calls >= 100 / 7);
    CHECK(inf.ended == 1);
}

TEST_CASE("a decompression bomb stops at the limit: never more than one byte past it") {
    constexpr std::uint64_t limit = 10000;
    fake_inflater inf(SIZE_MAX, /*factor=*/1000);  // 100 bytes would inflate to 100,000
    auto a = client_assembler(limit);
    a.set_inflater(&inf);
    const auto events = feed(a, frame(fin | rsv1 | binary, std::string(100, 'b')));
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == event_type::error);
    CHECK(events[0].code == close_code::message_too_big);  // 1009
    CHECK(inf.total_produced <= limit + 1);
    CHECK(inf.largest_out <= limit + 1);
    CHECK(inf.ended == 1);  // the abandoned message is over for the codec too
}

TEST_CASE("invalid compressed data closes with 1007, and the message is ended") {
    fake_inflater inf;
    inf.fail = true;
    auto a = client_assembler();
    a.set_inflater(&inf);
    const auto events = feed(a, frame(fin | rsv1 | text, "??"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == event_type::error);
    CHECK(events[0].code == close_code::invalid_payload);
    CHECK(inf.ended == 1);
}

TEST_CASE("text is validated as UTF-8 after inflating, not before") {
    fake_inflater inf;
    auto a = client_assembler();
    a.set_inflater(&inf);
    const auto events = feed(a, frame(fin | rsv1 | text, "ok \xff"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == event_type::error);
    CHECK(events[0].code == close_code::invalid_payload);
}

TEST_CASE("without an inflater, RSV1 is a protocol error (RFC 6455 §5.2)") {
    auto a = client_assembler();
    const auto events = feed(a, frame(fin | rsv1 | text, "x"));
    REQUIRE(events.size() == 1);
    CHECK(events[0].type == event_type::error);
    CHECK(events[0].code == close_code::protocol_error);
}

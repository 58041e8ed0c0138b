// SPDX-License-Identifier: BSL-1.0
// Codec micro-benchmarks (Google Benchmark): the sans-I/O pieces a message
// goes through, measured without a socket.
//
//   wsx_codec_bench [--benchmark_filter=...] [--benchmark_min_time=...]
//
// frame_header_decode   decode_frame_header on 2-, 4- and 10-byte length forms
// apply_mask            unmasking throughput (bytes/s)
// utf8_*                is_valid_utf8 and the incremental validator (bytes/s)
// assembler_*           message_assembler::consume over a buffer of masked
//                       client frames, as one read would hand it over
//
// The assembler input is unmasked in place, so each iteration would see a
// different buffer. Feeding it again is still a valid stream (unmasking twice
// restores the masked bytes), except for text, whose masked form need not be
// UTF-8: text frames here use the all-zero masking key, which RFC 6455 allows
// (the key is random, zero included) and which costs the same XOR work.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <wsx/protocol/frame_header.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/mask.hpp>
#include <wsx/protocol/message_assembler.hpp>
#include <wsx/protocol/utf8.hpp>

namespace {

using namespace wsx;

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed = 1) {
    std::mt19937_64 r(seed);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) b = static_cast<std::uint8_t>(r());
    return v;
}

std::string ascii_text(std::size_t n) {
    std::string s(n, ' ');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
    return s;
}

// Text in which most code points take 2 to 4 bytes ("é", "€", "𝄞" and ASCII).
std::string mixed_text(std::size_t n) {
    static const char* pieces[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9D\x84\x9E", "z"};
    std::string s;
    for (std::size_t i = 0; s.size() < n; ++i) s += pieces[i % 5];
    while (s.size() > n) s.pop_back();
    // Do not end inside a code point.
    while (!s.empty() && !protocol::is_valid_utf8(s)) s.pop_back();
    return s;
}

// ---- frame header --------------------------------------------------------------

void frame_header_decode(benchmark::State& state) {
    const std::uint64_t length = static_cast<std::uint64_t>(state.range(0));
    protocol::frame_header h;
    h.op = wsx::opcode::binary;
    h.masked = true;
    h.key = {1, 2, 3, 4};
    h.payload_length = length;
    std::uint8_t bytes[protocol::max_frame_header_size];
    const std::size_t n = protocol::encode_frame_header(h, bytes);
    protocol::frame_header out;
    for (auto _ : state) {
        benchmark::DoNotOptimize(bytes);
        const std::size_t used = protocol::decode_frame_header({bytes, n}, out);
        benchmark::DoNotOptimize(used);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(n) + "-byte header");
}
BENCHMARK(frame_header_decode)->Arg(20)->Arg(16384)->Arg(1 << 20);

// ---- masking ----------------------------------------------------------------------

void apply_mask(benchmark::State& state) {
    auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
    const protocol::mask_key key{0x12, 0x34, 0x56, 0x78};
    for (auto _ : state) {
        protocol::apply_mask(data, key, 1);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(apply_mask)->Arg(20)->Arg(125)->Arg(1024)->Arg(16384)->Arg(1 << 20);

// ---- UTF-8 --------------------------------------------------------------------------

void utf8_ascii(benchmark::State& state) {
    const std::string s = ascii_text(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(protocol::is_valid_utf8(s));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(utf8_ascii)->Arg(20)->Arg(1024)->Arg(16384)->Arg(1 << 20);

void utf8_mixed(benchmark::State& state) {
    const std::string s = mixed_text(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(protocol::is_valid_utf8(s));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(utf8_mixed)->Arg(1024)->Arg(16384)->Arg(1 << 20);

// The incremental validator fed in 1,400-byte pieces (a TCP segment's worth),
// which cut code points at arbitrary places.
void utf8_incremental(benchmark::State& state) {
    const std::string s = mixed_text(static_cast<std::size_t>(state.range(0)));
    protocol::utf8_validator v;
    for (auto _ : state) {
        for (std::size_t i = 0; i < s.size(); i += 1400)
            benchmark::DoNotOptimize(v.feed(std::string_view(s).substr(i, 1400)));
        benchmark::DoNotOptimize(v.finish());
    }
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(s.size()));
}
BENCHMARK(utf8_incremental)->Arg(16384)->Arg(1 << 20);

// ---- message assembler ------------------------------------------------------------

// A buffer of `count` masked client frames; text uses the zero key (see the top).
std::vector<std::uint8_t> client_frames(wsx::opcode op, std::size_t payload_size, std::size_t count,
                                        std::size_t fragment = 0) {
    const std::string payload = op == wsx::opcode::text
                                    ? ascii_text(payload_size)
                                    : [&] {
                                          auto b = random_bytes(payload_size, 7);
                                          return std::string(b.begin(), b.end());
                                      }();
    const protocol::mask_key zero{0, 0, 0, 0}, key{0x9a, 0x3c, 0x51, 0xe7};
    const protocol::mask_key* k = op == wsx::opcode::text ? &zero : &key;
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        if (fragment == 0 || fragment >= payload_size) {
            protocol::append_frame(out, op, payload, true, k);
            continue;
        }
        for (std::size_t at = 0; at < payload_size; at += fragment) {
            const bool fin = at + fragment >= payload_size;
            protocol::append_frame(out, at == 0 ? op : wsx::opcode::continuation,
                                   std::string_view(payload).substr(at, fragment), fin, k);
        }
    }
    return {out.begin(), out.end()};
}

// Feeds `input` in reads of `read_size` bytes (0: all at once), counting messages.
void run_assembler(benchmark::State& state, std::vector<std::uint8_t> input, std::size_t payload_size,
                   std::size_t messages_per_pass, std::size_t read_size = 0) {
    protocol::message_assembler a({.local_role = wsx::role::server, .max_message_size = 64u << 20});
    std::size_t got = 0;
    for (auto _ : state) {
        std::span<std::uint8_t> all(input);
        const std::size_t step = read_size ? read_size : all.size();
        for (std::size_t at = 0; at < all.size(); at += step) {
            std::span<std::uint8_t> bytes = all.subspan(at, std::min(step, all.size() - at));
            while (!bytes.empty()) {
                const auto r = a.consume(bytes);
                bytes = bytes.subspan(r.consumed);
                if (r.ev.type == protocol::event_type::message) {
                    ++got;
                    benchmark::DoNotOptimize(r.ev.payload.data());
                } else if (r.ev.type != protocol::event_type::need_more) {
                    state.SkipWithError("assembler error");
                    return;
                }
            }
        }
    }
    if (got != state.iterations() * messages_per_pass) state.SkipWithError("lost messages");
    state.SetItemsProcessed(static_cast<std::int64_t>(got));
    state.SetBytesProcessed(static_cast<std::int64_t>(got * payload_size));
}

// 1,000 20-byte text messages in one read: the pipelined small-message case.
void assembler_small_text(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::text, 20, 1000), 20, 1000);
}
BENCHMARK(assembler_small_text);

// The same stream arriving in 1,400-byte reads: headers split across reads.
void assembler_small_text_split(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::text, 20, 1000), 20, 1000, 1400);
}
BENCHMARK(assembler_small_text_split);

void assembler_16k_binary(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::binary, 16384, 16), 16384, 16);
}
BENCHMARK(assembler_16k_binary);

void assembler_16k_text(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::text, 16384, 16), 16384, 16);
}
BENCHMARK(assembler_16k_text);

// 16 KiB messages in 64 KiB reads (what the server's read buffer holds): most
// frames lie whole in a read (zero copy), some straddle two (copied).
void assembler_16k_binary_reads(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::binary, 16384, 64), 16384, 64, 65536);
}
BENCHMARK(assembler_16k_binary_reads);

// A 1 MiB message in 16 KiB fragments, in 64 KiB reads: reassembly.
void assembler_1m_fragmented(benchmark::State& state) {
    run_assembler(state, client_frames(wsx::opcode::binary, 1 << 20, 1, 16384), 1 << 20, 1, 65536);
}
BENCHMARK(assembler_1m_fragmented);

// ---- frame writer (the server's send side) ------------------------------------------

void frame_writer_20(benchmark::State& state) {
    const std::string payload = ascii_text(static_cast<std::size_t>(state.range(0)));
    std::string out;
    for (auto _ : state) {
        out.clear();
        protocol::append_frame(out, wsx::opcode::text, payload);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(frame_writer_20)->Arg(20)->Arg(16384);

} // namespace

BENCHMARK_MAIN();

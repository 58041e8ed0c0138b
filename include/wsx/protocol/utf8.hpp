// SPDX-License-Identifier: BSL-1.0
#pragma once
// UTF-8 validation for text messages and close reasons (RFC 6455 §5.6, §8.1; RFC 3629).
//
// The bulk of the bytes goes through simdjson's SIMD validator. A message may be split into
// frames and a frame into reads at any byte, so the incremental validator keeps, between
// calls, only the state of the one code point cut at the edge (a few bits of a small state
// machine) and checks each of its bytes as it arrives: invalid text fails as soon as the
// offending byte is seen (§8.1: "MUST _Fail the WebSocket Connection_"), not at message end.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

// simdjson's validator is compiled into the simdjson library that wsx::wsx links (it picks
// the widest SIMD the CPU has at run time), so this header declares the one entry point it
// calls instead of including <simdjson.h>: that header is 31,500 lines and used to reach
// every translation unit through this one. The declaration is simdjson's own (namespace,
// name, parameters, noexcept), so it agrees with <simdjson.h> in a unit that includes both.
namespace simdjson {
bool validate_utf8(const char* buf, std::size_t len) noexcept;
} // namespace simdjson

namespace wsx::protocol {

namespace detail {
// Below this many bytes, text is first checked for plain ASCII a word at a time: most short
// messages (chat lines, JSON events) are ASCII, and then this costs a few instructions where
// simdjson's run-time dispatch and setup cost a hundred or more. Longer text goes to simdjson
// directly, which has its own ASCII fast path and vector width.
inline constexpr std::size_t ascii_fast_path_limit = 128;

// True when no byte of [p, p+n) has its high bit set (all ASCII, hence valid UTF-8).
inline bool is_ascii(const unsigned char* p, std::size_t n) noexcept {
    std::uint64_t high = 0;
    while (n >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        high |= w;
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        std::uint32_t w;
        std::memcpy(&w, p, 4);
        high |= w;
        p += 4;
        n -= 4;
    }
    for (std::size_t i = 0; i < n; ++i)
        high |= p[i];
    return (high & 0x8080808080808080ull) == 0;
}
} // namespace detail

// Whole-string check (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
inline bool is_valid_utf8(std::string_view s) noexcept {
    if (s.size() < detail::ascii_fast_path_limit &&
        detail::is_ascii(reinterpret_cast<const unsigned char*>(s.data()), s.size()))
        return true;
    return simdjson::validate_utf8(s.data(), s.size());
}

class utf8_validator {
public:
    // Feeds the next bytes of the message. Returns false as soon as the bytes fed so far can
    // no longer begin a valid UTF-8 string, even in the middle of a code point: a lead byte
    // that cannot start a sequence (0x80-0xC1, 0xF5-0xFF), an overlong (0xE0 0x80...), a
    // surrogate (0xED 0xA0...) or a value above U+10FFFF (0xF4 0x90...) is rejected in the
    // call that delivers it. Once false, it stays false until finish() or reset().
    bool feed(std::string_view bytes) noexcept {
        // Short ASCII at a code point boundary (the common case) is whole code points with
        // nothing cut at the end. Kept this small so that it inlines into the caller's loop.
        if (need_ == 0 && !failed_ && bytes.size() < detail::ascii_fast_path_limit &&
            detail::is_ascii(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()))
            return true;
        return feed_any(bytes);
    }

    // True when everything fed was valid and ended on a code point boundary. Resets the
    // validator for the next message either way.
    bool finish() noexcept {
        const bool ok = !failed_ && need_ == 0;
        reset();
        return ok;
    }

    void reset() noexcept {
        need_ = 0;
        lo_ = 0x80;
        hi_ = 0xBF;
        failed_ = false;
    }

    // True while a code point is cut at the end of what was fed (more bytes are needed).
    bool in_code_point() const noexcept { return need_ != 0; }

private:
    // feed() for anything but short ASCII at a boundary. Not inlined, so that feed() stays
    // small enough to inline where it is called per frame (message_assembler::consume).
#if defined(__GNUC__) || defined(__clang__)
    [[gnu::noinline]]
#endif
    bool feed_any(std::string_view bytes) noexcept {
        if (failed_) return false;
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        const std::size_t n = bytes.size();
        std::size_t i = 0;
        // Finish the code point cut at the end of the previous chunk, byte by byte.
        while (need_ != 0 && i < n) {
            if (!step(p[i++])) return fail();
        }
        if (i == n) return true;
        // From here on we are at a code point boundary. After a cut code point (i != 0),
        // short ASCII is checked as feed() checks it (feed() saw any other short text fail).
        if (i != 0 && n - i < detail::ascii_fast_path_limit && detail::is_ascii(p + i, n - i))
            return true;
        // Split off a trailing incomplete code point so the bulk check sees only whole ones.
        const std::size_t tail = i + incomplete_tail_start(p + i, n - i);
        const std::size_t bulk = tail - i;
        if (bulk < simd_threshold) {
            // Too short for the SIMD dispatch to pay off.
            for (std::size_t j = i; j < tail; ++j) {
                if (!step(p[j])) return fail();
            }
            if (need_ != 0) return fail(); // a code point cut inside the bulk: not valid
        } else if (!simdjson::validate_utf8(bytes.data() + i, bulk)) {
            return fail();
        }
        for (std::size_t j = tail; j < n; ++j) {
            if (!step(p[j])) return fail();
        }
        return true;
    }

    // Below this many bytes, the scalar state machine is cheaper than simdjson's dispatch.
    static constexpr std::size_t simd_threshold = 16;

    // Offset in [p, p+n) where a trailing code point starts that needs more bytes than are
    // left, or n when the buffer ends on a boundary (or the tail is invalid, which the bulk
    // check then reports). A code point is at most 4 bytes, so only the last 3 matter.
    static std::size_t incomplete_tail_start(const unsigned char* p, std::size_t n) noexcept {
        const std::size_t look = n < 3 ? n : 3;
        for (std::size_t k = 1; k <= look; ++k) {
            const unsigned char b = p[n - k];
            if ((b & 0xC0u) == 0x80u) continue; // continuation byte: keep looking back
            std::size_t len = 0;
            if ((b & 0xE0u) == 0xC0u)
                len = 2;
            else if ((b & 0xF0u) == 0xE0u)
                len = 3;
            else if ((b & 0xF8u) == 0xF0u)
                len = 4;
            return len > k ? n - k : n;
        }
        return n;
    }

    // One byte of the RFC 3629 §4 grammar. need_ is the number of continuation bytes still
    // expected; [lo_, hi_] is the range allowed for the next one (narrower right after
    // 0xE0, 0xED, 0xF0 and 0xF4, to exclude overlongs, surrogates and > U+10FFFF).
    bool step(unsigned char b) noexcept {
        if (need_ != 0) {
            if (b < lo_ || b > hi_) return false;
            --need_;
            lo_ = 0x80;
            hi_ = 0xBF;
            return true;
        }
        if (b < 0x80) return true;
        if (b < 0xC2) return false; // stray continuation byte, or overlong 2-byte lead
        if (b < 0xE0) {
            need_ = 1;
        } else if (b < 0xF0) {
            need_ = 2;
            if (b == 0xE0)
                lo_ = 0xA0; // overlong
            else if (b == 0xED)
                hi_ = 0x9F; // UTF-16 surrogates U+D800-U+DFFF
        } else if (b < 0xF5) {
            need_ = 3;
            if (b == 0xF0)
                lo_ = 0x90; // overlong
            else if (b == 0xF4)
                hi_ = 0x8F; // above U+10FFFF
        } else {
            return false;
        }
        return true;
    }

    bool fail() noexcept {
        failed_ = true;
        return false;
    }

    std::uint8_t need_ = 0;
    std::uint8_t lo_ = 0x80;
    std::uint8_t hi_ = 0xBF;
    bool failed_ = false;
};

} // namespace wsx::protocol

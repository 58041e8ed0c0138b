// SPDX-License-Identifier: BSL-1.0
#pragma once
// The permessage-deflate codec (RFC 7692 §7.2) on zlib's raw DEFLATE, sans-I/O.
//
// This is the only wsx header that includes <zlib.h>: include it (or <wsx/deflate.hpp>)
// and link wsx::deflate to use compression; nothing else in wsx needs zlib. The rest of
// wsx sees the codec through the abstract classes of protocol/compression.hpp.
//
// Memory (zlib 1.2.13, measured through the allocator below): a compressor's state is
// about 2^(window_bits+2) + 2^(mem_level+9) bytes plus 6 KiB (268 KiB for window 15,
// memLevel 8); an inflater's is 7 KiB plus a 2^window_bits window (39 KiB for 15), the
// window allocated only once output is produced. Both are allocated lazily, on the first
// message that needs them. Without context takeover a state is needed only while a message
// is being (de)compressed: it then goes back to a small per-thread cache after each message
// (reset, kept for the next message on any connection of the thread: no allocation per
// message, and an idle connection holds none).

#include "wsx/protocol/compression.hpp"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace wsx::protocol {

namespace detail {

// §7.2.1 / §7.2.2: the 4 octets of an empty stored block that the sender removes from the
// end of each message and the receiver appends back.
inline constexpr std::uint8_t deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

// zlib's avail_in / avail_out are 32-bit: feed at most this much per call.
inline constexpr std::size_t zlib_max_chunk = std::size_t{1} << 30;

// One z_stream on the heap (zlib keeps a pointer back to it and checks it, so it must not
// move), with the bytes zlib allocated for it.
struct zstate {
    enum class kind : std::uint8_t { deflate, inflate };

    zstate(kind k, std::uint8_t window_bits, std::uint8_t mem_level, std::int8_t level)
        : k(k), window_bits(window_bits), mem_level(mem_level), level(level) {
        s.zalloc = &zstate::allocate;
        s.zfree = &zstate::release;
        s.opaque = this;
    }
    zstate(const zstate&) = delete;
    zstate& operator=(const zstate&) = delete;
    ~zstate() {
        if (!initialised) return;
        if (k == kind::deflate)
            deflateEnd(&s);
        else
            inflateEnd(&s);
    }

    bool matches(kind k2, std::uint8_t w, std::uint8_t m, std::int8_t l) const noexcept {
        return k == k2 && window_bits == w && mem_level == m && level == l;
    }

    // Counts every byte zlib asks for, so memory_usage() is exact (not an estimate).
    static voidpf allocate(voidpf opaque, uInt items, uInt size) {
        const std::size_t n = std::size_t{items} * size;
        void* raw = std::malloc(n + sizeof(std::max_align_t));
        if (raw == nullptr) return Z_NULL;
        std::memcpy(raw, &n, sizeof n);
        static_cast<zstate*>(opaque)->bytes += n;
        return static_cast<char*>(raw) + sizeof(std::max_align_t);
    }
    static void release(voidpf opaque, voidpf address) {
        char* raw = static_cast<char*>(address) - sizeof(std::max_align_t);
        std::size_t n = 0;
        std::memcpy(&n, raw, sizeof n);
        static_cast<zstate*>(opaque)->bytes -= n;
        std::free(raw);
    }

    z_stream s{};
    std::size_t bytes = 0;
    kind k;
    std::uint8_t window_bits;
    std::uint8_t mem_level;
    std::int8_t level;
    bool initialised = false;
};

// A few idle (reset) zlib states per thread, for codecs without context takeover: they take
// one for a message and give it back after, so connections of a thread share them.
class zstate_cache {
public:
    static zstate_cache& local() {
        thread_local zstate_cache cache;
        return cache;
    }

    std::unique_ptr<zstate> take(zstate::kind k, std::uint8_t w, std::uint8_t m, std::int8_t l) {
        for (auto& slot : slots_)
            if (slot && slot->matches(k, w, m, l)) return std::move(slot);
        return nullptr;
    }

    void give(std::unique_ptr<zstate> z) noexcept {
        for (auto& slot : slots_) {
            if (!slot) {
                slot = std::move(z);
                return;
            }
        }
        slots_[next_++ % slot_count] = std::move(z); // the evicted state is freed
    }

    // Heap bytes held by the idle states of this thread.
    std::size_t memory_usage() const noexcept {
        std::size_t n = 0;
        for (const auto& slot : slots_)
            if (slot) n += slot->bytes + sizeof(zstate);
        return n;
    }

    void clear() noexcept {
        for (auto& slot : slots_) slot.reset();
    }

private:
    // Two compressors and two inflaters in the common case: enough for one thread, which
    // handles one message at a time, with some room for messages that arrive in pieces.
    static constexpr std::size_t slot_count = 4;
    std::unique_ptr<zstate> slots_[slot_count];
    std::size_t next_ = 0;
};

} // namespace detail

// Heap bytes held by this thread's cache of idle zlib states (see the top of this file).
inline std::size_t deflate_thread_cache_memory() noexcept {
    return detail::zstate_cache::local().memory_usage();
}

// The sending side of §7.2.1.
class deflate_compressor final : public message_deflater {
public:
    // Throws std::invalid_argument for parameters zlib cannot honour: window_bits outside
    // 9..15 (zlib's raw DEFLATE has no 256-byte window: with 8 negotiated, send
    // uncompressed), mem_level outside 1..9, level outside -1..9.
    explicit deflate_compressor(const compressor_params& p) : p_(p) {
        if (p.window_bits < 9 || p.window_bits > 15)
            throw std::invalid_argument("wsx: deflate window_bits must be 9..15 (zlib cannot "
                                        "compress with 8: send uncompressed instead)");
        if (p.mem_level < 1 || p.mem_level > 9)
            throw std::invalid_argument("wsx: deflate mem_level must be 1..9");
        if (p.level < -1 || p.level > 9)
            throw std::invalid_argument("wsx: deflate level must be -1..9");
    }

    const compressor_params& params() const noexcept { return p_; }

    void compress(std::string_view payload, std::string& out) override {
        compress(payload, out, true);
    }

    // Compresses one piece of a message and appends what zlib produced to `out`. With
    // fin = false zlib may keep output back (send what was appended, if anything, as a
    // non-final fragment); with fin = true the message is flushed and ends with the §7.2.1
    // tail removed. Fragments of one message go in order, with no other message between.
    void compress(std::string_view piece, std::string& out, bool fin) {
        detail::zstate& z = acquire();
        const int flush = fin ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        const std::size_t start = out.size();
        // zlib's bound for the whole input, plus the flush marker: usually one pass.
        const std::size_t bound =
            deflateBound(&z.s, static_cast<uLong>(std::min(piece.size(), detail::zlib_max_chunk))) + 16;
        std::size_t pos = 0;
        for (;;) {
            const std::size_t chunk = std::min(piece.size() - pos, detail::zlib_max_chunk);
            z.s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(piece.data() + pos));
            z.s.avail_in = static_cast<uInt>(chunk);
            const bool last_chunk = pos + chunk == piece.size();
            for (;;) {
                // Room for zlib's bound on the first pass (usually the only one), then grow
                // geometrically; never less than the 6 bytes a flush marker needs.
                const std::size_t have = out.size();
                const std::size_t want =
                    have == start ? bound : std::max<std::size_t>(1024, have - start);
                out.resize(have + std::min(want, detail::zlib_max_chunk));
                const std::size_t given = std::min(out.size() - have, detail::zlib_max_chunk);
                z.s.next_out = reinterpret_cast<Bytef*>(out.data() + have);
                z.s.avail_out = static_cast<uInt>(given);
                const int rc = ::deflate(&z.s, last_chunk ? flush : Z_NO_FLUSH);
                out.resize(have + given - z.s.avail_out);
                if (rc == Z_STREAM_ERROR) throw std::logic_error("wsx: zlib deflate state corrupted");
                // Done with this chunk when zlib took all of it and had room left over.
                if (z.s.avail_in == 0 && z.s.avail_out != 0) break;
            }
            pos += chunk;
            if (pos == piece.size()) break;
        }
        z.s.next_in = Z_NULL;
        z.s.next_out = Z_NULL;
        if (!fin) return;
        // Z_SYNC_FLUSH always ends with an empty stored block: drop its 4 octets (§7.2.1).
        if (out.size() - start < 4 ||
            std::memcmp(out.data() + out.size() - 4, detail::deflate_tail, 4) != 0)
            throw std::logic_error("wsx: zlib did not end the flush with an empty stored block");
        out.resize(out.size() - 4);
        if (p_.no_context_takeover) give_back();
    }

    std::size_t memory_usage() const noexcept override {
        return z_ ? z_->bytes + sizeof(detail::zstate) : 0;
    }

    // Frees the zlib state now; the next message allocates (or takes) another.
    void release() noexcept { z_.reset(); }

private:
    detail::zstate& acquire() {
        if (z_) return *z_;
        const auto k = detail::zstate::kind::deflate;
        if (p_.no_context_takeover)
            z_ = detail::zstate_cache::local().take(k, p_.window_bits, p_.mem_level, p_.level);
        if (z_) return *z_;
        auto z = std::make_unique<detail::zstate>(k, p_.window_bits, p_.mem_level, p_.level);
        const int rc = deflateInit2(&z->s, p_.level, Z_DEFLATED, -static_cast<int>(p_.window_bits),
                                    p_.mem_level, Z_DEFAULT_STRATEGY);
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw std::invalid_argument("wsx: zlib refused the deflate parameters");
        z->initialised = true;
        z_ = std::move(z);
        return *z_;
    }

    void give_back() noexcept {
        if (deflateReset(&z_->s) == Z_OK)
            detail::zstate_cache::local().give(std::move(z_));
        else
            z_.reset();
    }

    compressor_params p_;
    std::unique_ptr<detail::zstate> z_;
};

// The receiving side of §7.2.2.
class deflate_decompressor final : public message_inflater {
public:
    // window_bits 8..15. zlib's compressor cannot use a 256-byte window and quietly uses a
    // 512-byte one, so 8 inflates with 9: accepting what such peers send costs 256 bytes.
    explicit deflate_decompressor(const decompressor_params& p) : p_(p) {
        if (p.window_bits < 8 || p.window_bits > 15)
            throw std::invalid_argument("wsx: inflate window_bits must be 8..15");
        if (p_.window_bits == 8) p_.window_bits = 9;
    }

    const decompressor_params& params() const noexcept { return p_; }

    inflate_result inflate(std::span<const std::uint8_t> in, std::span<std::uint8_t> out,
                           bool last) override {
        inflate_result r;
        detail::zstate& z = acquire();
        std::size_t in_pos = 0;
        std::size_t out_pos = 0;
        for (;;) {
            const std::uint8_t* next = nullptr;
            std::size_t avail = 0;
            bool tail = false;
            if (in_pos < in.size()) {
                next = in.data() + in_pos;
                avail = std::min(in.size() - in_pos, detail::zlib_max_chunk);
            } else if (last && tail_fed_ < 4) {
                if (fresh_stream_) {
                    // The peer's DEFLATE stream ended (BFINAL) right at the end of its data:
                    // there is no block for the tail to close.
                    tail_fed_ = 4;
                    continue;
                }
                next = detail::deflate_tail + tail_fed_;
                avail = 4u - tail_fed_;
                tail = true;
            }
            z.s.next_in = const_cast<Bytef*>(next);
            z.s.avail_in = static_cast<uInt>(avail);
            z.s.next_out = out.data() + out_pos;
            z.s.avail_out = static_cast<uInt>(std::min(out.size() - out_pos, detail::zlib_max_chunk));
            const int rc = ::inflate(&z.s, Z_SYNC_FLUSH);
            const std::size_t used = avail - z.s.avail_in;
            const std::size_t made = static_cast<std::size_t>(z.s.next_out - (out.data() + out_pos));
            if (tail)
                tail_fed_ = static_cast<std::uint8_t>(tail_fed_ + used);
            else
                in_pos += used;
            out_pos += made;
            if (used != 0) fresh_stream_ = false;
            if (rc == Z_STREAM_END) {
                // §7.2.3.4: a sender may end a message with a BFINAL block. Start a new
                // stream for what follows (the rest of an empty stored block, or more
                // blocks), keeping the window unless the peer resets it anyway.
                restart_stream(z);
                fresh_stream_ = true;
                if (z.s.avail_out == 0) break;
                continue;
            }
            if (rc == Z_MEM_ERROR) {
                z.s.next_in = Z_NULL;
                z.s.next_out = Z_NULL;
                throw std::bad_alloc();
            }
            if (rc != Z_OK && rc != Z_BUF_ERROR) { // Z_DATA_ERROR, Z_NEED_DICT, ...
                r.error = true;
                break;
            }
            if (z.s.avail_out == 0) break; // out is full: more may be pending
            if (avail == 0) {              // nothing left to feed and nothing pending
                r.done = true;
                break;
            }
        }
        z.s.next_in = Z_NULL;
        z.s.next_out = Z_NULL;
        r.consumed = in_pos;
        r.produced = out_pos;
        return r;
    }

    void end_message() noexcept override {
        tail_fed_ = 0;
        fresh_stream_ = false;
        if (!z_) return;
        if (p_.no_context_takeover) {
            if (inflateReset(&z_->s) == Z_OK)
                detail::zstate_cache::local().give(std::move(z_));
            else
                z_.reset();
        }
    }

    std::size_t memory_usage() const noexcept override {
        return z_ ? z_->bytes + sizeof(detail::zstate) : 0;
    }

    // Frees the zlib state now (the window too: only when the peer does not take over
    // context, or the connection is over).
    void release() noexcept {
        z_.reset();
        tail_fed_ = 0;
        fresh_stream_ = false;
    }

private:
    detail::zstate& acquire() {
        if (z_) return *z_;
        const auto k = detail::zstate::kind::inflate;
        if (p_.no_context_takeover) z_ = detail::zstate_cache::local().take(k, p_.window_bits, 0, 0);
        if (z_) return *z_;
        auto z = std::make_unique<detail::zstate>(k, p_.window_bits, 0, 0);
        const int rc = inflateInit2(&z->s, -static_cast<int>(p_.window_bits));
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw std::invalid_argument("wsx: zlib refused the inflate parameters");
        z->initialised = true;
        z_ = std::move(z);
        return *z_;
    }

    // After the end of a DEFLATE stream: a fresh stream that, with context takeover, still
    // sees the last window's bytes (the peer may refer back to them).
    void restart_stream(detail::zstate& z) {
        if (p_.no_context_takeover) {
            inflateReset(&z.s);
            return;
        }
        std::vector<Bytef> window(std::size_t{1} << p_.window_bits);
        uInt n = 0;
        inflateGetDictionary(&z.s, window.data(), &n);
        inflateReset(&z.s);
        if (n != 0) inflateSetDictionary(&z.s, window.data(), n);
    }

    decompressor_params p_;
    std::unique_ptr<detail::zstate> z_;
    std::uint8_t tail_fed_ = 0;  // octets of the §7.2.2 tail given to zlib this message
    bool fresh_stream_ = false;  // a stream ended and nothing was fed to the new one yet
};

inline std::unique_ptr<message_deflater> make_zlib_deflater(const compressor_params& p) {
    return std::make_unique<deflate_compressor>(p);
}
inline std::unique_ptr<message_inflater> make_zlib_inflater(const decompressor_params& p) {
    return std::make_unique<deflate_decompressor>(p);
}

// The zlib codec, for deflate_options::codec (wsx::permessage_deflate() sets it).
inline constexpr deflate_codec zlib_codec{&make_zlib_deflater, &make_zlib_inflater};

// Inflates one whole message payload (tail appended) into `out`, refusing output beyond
// `limit` bytes: returns false on invalid data or when the message would exceed the limit,
// and in that case `out` holds at most limit + 1 bytes. For tests and simple tools; the
// message assembler drives inflate() itself, piece by piece.
inline bool inflate_message(message_inflater& inf, std::span<const std::uint8_t> payload,
                            std::string& out, std::size_t limit = SIZE_MAX - 1) {
    const std::size_t start = out.size();
    for (;;) {
        const std::size_t produced = out.size() - start;
        const std::size_t room = std::min<std::size_t>(
            limit - produced + 1, std::max<std::size_t>(4096, std::min<std::size_t>(produced, 1u << 20)));
        out.resize(out.size() + room);
        const inflate_result r = inf.inflate(
            payload, {reinterpret_cast<std::uint8_t*>(out.data()) + out.size() - room, room}, true);
        out.resize(out.size() - room + r.produced);
        payload = payload.subspan(r.consumed);
        if (r.error || out.size() - start > limit) {
            inf.end_message();
            return false;
        }
        if (r.done) break;
    }
    inf.end_message();
    return true;
}

} // namespace wsx::protocol

// SPDX-License-Identifier: BSL-1.0
#pragma once
// A connection's outgoing path, sans-I/O: admission against max_buffered_bytes,
// the inbox of frames sent from other threads, the queue of bytes the socket
// has not taken, the cork buffer lent for one read turn, and where the writing
// stands. The connection drives it: it hands it frames, asks what to write and
// tells it what was written. It does no I/O and knows no socket.
//
// Threading: admission (try_admit, charge, refund, accepted) and the inbox
// (push) are safe from any thread; everything else belongs to the connection's
// thread.
//
// Accounting. `accepted()` counts the bytes the connection has taken and not yet
// written or dropped: in the inbox, in the queue, in the cork buffer. It is
// charged in the sender's thread before anything is copied or posted, and
// refunded when bytes are written or dropped, so it never exceeds the limit by
// more than one message however busy the connection's thread is.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <wsx/detail/out_queue.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/protocol/close_code.hpp>
#include <wsx/protocol/opcode.hpp>

namespace wsx::detail {

// What another thread hands the connection, waiting in the inbox for the
// connection's thread. Everything a thread sends goes this way, so a
// connection takes one thread's sends in the order they were made.
enum class outgoing_kind : std::uint8_t {
    frame,     // a data frame encoded in the sender's thread (`bytes`)
    control,   // a ping or pong, encoded likewise
    compress,  // a data message to compress there (the compressor is that thread's): `bytes` is the payload
    shared,    // a prepared message, whose frame many connections share
    fragment,  // a piece of a fragmented message (`bytes`), checked in order there
    close,     // start the closing handshake with `code`, `bytes` the reason
};

// The inbox's lock: one byte where a std::mutex takes 40 per connection. It is
// held for one push_back or one swap, so a thread that finds it taken spins a
// little, then yields its core (the holder may have been preempted, or be in
// malloc growing the vector). Senders meet here only when several threads
// send to the same connection at the same moment.
class inbox_lock {
public:
    void lock() noexcept {
        int spins = 0;
        while (locked_.exchange(true, std::memory_order_acquire)) {
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins < 64) pause();
                else std::this_thread::yield();
            }
        }
    }
    bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    std::atomic<bool> locked_{false};
};

struct outgoing_frame {
    static outgoing_frame of_shared(const prepared_message& m, std::size_t charged) {
        outgoing_frame f;
        f.kind = outgoing_kind::shared;
        f.shared = m;
        f.charged = charged;
        return f;
    }
    static outgoing_frame of_fragment(opcode type, std::string_view piece, bool fin,
                                      std::size_t charged) {
        outgoing_frame f;
        f.kind = outgoing_kind::fragment;
        f.bytes.assign(piece);
        f.type = type;
        f.fin = fin;
        f.charged = charged;
        return f;
    }
    static outgoing_frame of_close(close_code code, std::string_view reason) {
        outgoing_frame f;
        f.kind = outgoing_kind::close;
        f.bytes.assign(reason);
        f.code = code;
        return f;
    }

    outgoing_kind kind = outgoing_kind::frame;
    std::string bytes;
    std::optional<prepared_message> shared;
    std::size_t charged = 0;  // what admission charged for it
    std::size_t payload = 0;  // payload bytes, for the statistics
    opcode type = opcode::binary;
    bool fin = true;
    close_code code = close_code::normal;
};

class outbox {
public:
    enum class state : std::uint8_t {
        idle,          // nothing in flight: what is appended needs a flush
        flush_posted,  // a flush is scheduled on the connection's thread
        in_turn,       // the connection handles input: appends wait for end_turn()
        corked,        // in a turn, with the thread's cork buffer: appends go there
        writing,       // an asynchronous write is in flight; its completion goes on
    };

    explicit outbox(std::size_t limit) noexcept : limit_(limit) {}
    outbox(const outbox&) = delete;
    outbox& operator=(const outbox&) = delete;

    // ---- admission: any thread ---------------------------------------------
    // Charges `n` bytes when they fit under the limit, or when nothing is
    // accepted at all (so one message larger than the limit still goes).
    bool try_admit(std::size_t n) noexcept {
        std::size_t cur = accepted_.load(std::memory_order_relaxed);
        do {
            if (cur != 0 && cur + n > limit_) return false;
        } while (!accepted_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed));
        return true;
    }
    // Bytes taken without admission (control frames, the close frame) or the
    // difference between what was charged and what was encoded.
    void charge(std::size_t n) noexcept { accepted_.fetch_add(n, std::memory_order_relaxed); }
    void refund(std::size_t n) noexcept { accepted_.fetch_sub(n, std::memory_order_relaxed); }
    std::size_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }

    // ---- the inbox: push from any thread, drain on the connection's --------
    // True when the inbox was empty: the caller posts one drain, and the
    // frames pushed before it runs ride on that post.
    bool push(outgoing_frame&& f) {
        std::lock_guard lock(inbox_lock_);
        inbox_.push_back(std::move(f));
        inbox_waiting_.store(true, std::memory_order_release);
        return inbox_.size() == 1;
    }
    // Swaps the waiting frames into `out` (cleared first).
    void take_inbox(std::vector<outgoing_frame>& out) {
        out.clear();
        std::lock_guard lock(inbox_lock_);
        out.swap(inbox_);
        inbox_waiting_.store(false, std::memory_order_relaxed);
    }
    // True when frames pushed from another thread wait in the inbox. A send on
    // the connection's thread drains them first, so a message that another
    // thread offered before this one (a publish serialised by a lock, for
    // instance) is never overtaken: one lock-free load when the inbox is empty.
    bool inbox_waiting() const noexcept { return inbox_waiting_.load(std::memory_order_acquire); }

    // ---- appending: the connection's thread; the bytes were charged --------
    state current() const noexcept { return state_; }
    // Bytes appended and not yet written (the queue and the cork).
    std::size_t pending() const noexcept { return queue_.size() + corked_bytes().size(); }

    // `encode(std::string&)` appends bytes to a string that is not being written.
    template <class Encode>
    void append_with(Encode&& encode) {
        if (state_ == state::corked) encode(*cork_);
        else queue_.append_with(std::forward<Encode>(encode));
    }
    // A frame many connections share (a broadcast's) is queued by reference
    // whatever its size. Copying small ones into each connection's own
    // buffer was tried: fewer instructions in the in-memory count, but twice
    // the user-space CPU of the real server (perf, 1,000 connections), every
    // copy landing in a buffer of its own, cold in the cache, where a
    // reference points the socket write at the one frame, hot in the cache.
    void append(shared_bytes frame) {
        if (state_ == state::corked) cork_->append(*frame);  // small frames: one write beats a reference
        else queue_.append(std::move(frame));
    }
    void append(std::string&& bytes) {
        // Small frames join the owned tail (fewer buffers per write); a large
        // one is moved in rather than copied.
        if (state_ == state::corked) cork_->append(bytes);
        else if (bytes.size() <= small_frame) queue_.append(std::string_view{bytes});
        else queue_.append(std::move(bytes));
    }

    // ---- turns: frames produced while one read is handled leave together -----
    // `cork` is the thread's cork buffer when no other connection holds it.
    // It is used only when nothing is queued or being written (order) and the
    // transport writes without blocking.
    void begin_turn(std::string* cork) noexcept {
        if (state_ == state::writing) return;  // appends queue behind the write
        if (cork && queue_.empty()) {
            cork_ = cork;
            state_ = state::corked;
        } else {
            state_ = state::in_turn;
        }
    }
    bool holds_cork() const noexcept { return state_ == state::corked; }
    // The connection wrote, within the turn, the first `n` corked bytes (then
    // a large frame from where its payload lies, which was never corked):
    // they leave the cork and their charge is given back. Order holds because
    // the corked bytes go first in that write.
    void cork_written(std::size_t n) noexcept {
        if (state_ != state::corked || n == 0) return;
        cork_->erase(0, n);
        wrote(n);
    }
    // Stops corking for the rest of the turn, because the socket is full:
    // what the cork holds moves to the queue, and later appends in this turn
    // queue behind it, so a large remainder is copied once (to the queue)
    // rather than twice (to the cork, then to the queue). Returns the cork
    // buffer, cleared, for the caller to hand back to its thread; nullptr when
    // the turn held none.
    std::string* uncork() {
        if (state_ != state::corked) return nullptr;
        std::string* cork = std::exchange(cork_, nullptr);
        if (!cork->empty()) queue_.append(std::string_view{*cork});
        cork->clear();
        state_ = state::in_turn;
        return cork;
    }
    // Bytes written straight from the caller's memory (a frame's header and
    // payload, never appended): they were charged, so give the charge back.
    void written_directly(std::size_t n) noexcept { wrote(n); }
    // What the turn corked, for the connection to try writing at once.
    std::string_view corked_bytes() const noexcept {
        return state_ == state::corked ? std::string_view{*cork_} : std::string_view{};
    }
    // Ends the turn: `written` bytes of corked_bytes() went out, the rest
    // moves to the queue. Returns the cork buffer (cleared) to hand back to
    // the thread, or nullptr when this turn held none.
    std::string* end_turn(std::size_t written = 0) {
        if (state_ == state::writing) return nullptr;
        std::string* cork = nullptr;
        if (state_ == state::corked) {
            cork = std::exchange(cork_, nullptr);
            wrote(written);
            if (written < cork->size()) queue_.append(std::string_view{*cork}.substr(written));
            cork->clear();
        }
        state_ = state::idle;
        return cork;
    }
    bool in_turn() const noexcept { return state_ == state::in_turn || state_ == state::corked; }

    // ---- flushing ------------------------------------------------------------
    // True when the caller must post a flush: bytes wait and nothing else will
    // write them (no turn to end, no write to complete, no flush posted).
    bool needs_posted_flush() noexcept {
        if (state_ != state::idle || queue_.empty()) return false;
        state_ = state::flush_posted;
        return true;
    }
    // The posted flush runs: from here on, appends need a flush again.
    void flush_arrived() noexcept {
        if (state_ == state::flush_posted) state_ = state::idle;
    }
    // May the connection write now? Not during a turn or a write in flight.
    bool may_write() const noexcept { return state_ == state::idle || state_ == state::flush_posted; }
    bool has_queued() const noexcept { return !queue_.empty(); }

    // Fills `out` (any buffer type constructible from pointer and size) with
    // up to `max_buffers` buffers of queued bytes, which stay valid until
    // written() or write_done().
    template <class Buffer>
    void gather(std::vector<Buffer>& out, std::size_t max_buffers) {
        queue_.gather(out, max_buffers);
    }
    // `n` bytes from the front of the queue were written synchronously.
    void written(std::size_t n) noexcept {
        queue_.consume(n);
        wrote(n);
    }
    // An asynchronous write of what gather() handed out has started.
    void write_started() noexcept { state_ = state::writing; }
    // ...and ended, having written `n` bytes.
    void write_done(std::size_t n) noexcept {
        queue_.consume(n);
        wrote(n);
        state_ = state::idle;
    }

    // True once after bytes were written and nothing is left: the moment to
    // tell a producer that paces itself to send more.
    bool take_drained() noexcept {
        if (!wrote_ || !queue_.empty() || in_turn()) return false;
        wrote_ = false;
        return true;
    }

    // Gives back the memory an emptied queue keeps for the next burst (the
    // connection's sweep tick calls it) once a whole tick passed without a
    // write: an idle connection holds none after two ticks, and one that is
    // sent to all the time keeps its buffers.
    void trim() noexcept {
        if (!std::exchange(wrote_since_trim_, false)) queue_.trim();
    }
    // Whether the queue holds heap memory (for tests).
    bool holds_memory() const noexcept { return queue_.holds_memory(); }

    // The connection ended: drop and refund everything (the inbox too), keep
    // the cork lent until end_turn() hands it back.
    void clear() noexcept {
        std::size_t dropped = queue_.size();
        queue_.clear();
        if (state_ == state::corked) {
            dropped += cork_->size();
            cork_->clear();
        } else {
            state_ = state::idle;
        }
        std::vector<outgoing_frame> waiting;
        {
            std::lock_guard lock(inbox_lock_);
            waiting.swap(inbox_);
            inbox_waiting_.store(false, std::memory_order_relaxed);
        }
        for (const auto& f : waiting) dropped += f.charged;
        refund(dropped);
    }

private:
    static constexpr std::size_t small_frame = 1024;

    void wrote(std::size_t n) noexcept {
        if (n == 0) return;
        wrote_ = true;
        wrote_since_trim_ = true;
        refund(n);
    }

    // The one-byte members last, packed together.
    const std::size_t limit_;
    std::atomic<std::size_t> accepted_{0};
    std::vector<outgoing_frame> inbox_;
    out_queue queue_;
    std::string* cork_ = nullptr;  // the thread's cork buffer, while state_ == corked
    inbox_lock inbox_lock_;
    std::atomic<bool> inbox_waiting_{false};  // inbox_ is not empty (read without the lock)
    state state_ = state::idle;
    bool wrote_ = false;  // bytes went out since the last take_drained()
    bool wrote_since_trim_ = false;  // ...since the last trim()
};

} // namespace wsx::detail

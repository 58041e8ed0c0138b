// SPDX-License-Identifier: BSL-1.0
#pragma once
// A connection's outgoing bytes that the socket has not taken yet.
//
// Sans-I/O: the connection gathers buffers from it, writes them, and reports
// how many bytes went out. Two kinds of segments keep ordering while avoiding
// copies: bytes the connection owns (small sends are coalesced into one), and
// references to immutable shared frames (a broadcast encodes once and every
// recipient queues a reference). A queue that empties keeps its segment list
// and one owned buffer (up to keep_bytes) for the next burst, so a connection
// that is sent to all the time allocates nothing per write; trim() gives them
// back (the connection calls it at its sweep ticks), so an idle connection
// costs nothing here. It includes no Asio header.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsx::detail {

using shared_bytes = std::shared_ptr<const std::string>;

class out_queue {
public:
    bool empty() const noexcept { return size_ == 0; }
    // Bytes queued and not yet written.
    std::size_t size() const noexcept { return size_; }

    // Appends owned bytes: `write(std::string&)` appends to a string that is
    // not being written, and the queue accounts for what it added.
    template <class Write>
    void append_with(Write&& write) {
        std::string& tail = writable_tail();
        const std::size_t before = tail.size();
        write(tail);
        size_ += tail.size() - before;
    }
    void append(std::string_view bytes) {
        append_with([bytes](std::string& s) { s.append(bytes); });
    }
    void append(std::string&& bytes) {
        if (bytes.empty()) return;
        size_ += bytes.size();
        push(segment{nullptr, std::make_unique<std::string>(std::move(bytes))});
    }
    void append(shared_bytes frame) {
        if (!frame || frame->empty()) return;
        size_ += frame->size();
        push(segment{std::move(frame), nullptr});
    }

    // Fills `out` with up to `max_buffers` buffers of pending bytes and locks
    // their segments until consume(): appends go to new segments meanwhile, so
    // the buffers stay valid across an asynchronous write.
    // Buffer: any type constructible from (const char*, std::size_t) —
    // asio::const_buffer for a socket, std::string_view for a test.
    template <class Buffer>
    void gather(std::vector<Buffer>& out, std::size_t max_buffers) {
        out.clear();
        std::size_t i = head_;
        for (; i < segments_.size() && out.size() < max_buffers; ++i) {
            std::string_view v = segments_[i].view();
            if (i == head_) v.remove_prefix(offset_);
            out.emplace_back(v.data(), v.size());
        }
        locked_ = i;
    }

    // `n` bytes from the front were written.
    void consume(std::size_t n) noexcept {
        size_ -= n;
        while (n > 0) {
            const std::size_t left = segments_[head_].view().size() - offset_;
            if (n < left) {
                offset_ += n;
                break;
            }
            n -= left;
            recycle(segments_[head_]);
            ++head_;
            offset_ = 0;
        }
        locked_ = head_;
        if (size_ == 0) reset();
        else if (head_ > 32 && head_ * 2 > segments_.size()) compact();
    }

    // Drops everything and releases the memory.
    void clear() noexcept {
        std::vector<segment>{}.swap(segments_);
        spare_.reset();
        head_ = offset_ = locked_ = size_ = 0;
    }
    // An empty queue gives back what it kept for the next burst.
    void trim() noexcept {
        if (empty()) clear();
    }
    // Whether it holds any heap memory (an emptied queue does until trim()).
    bool holds_memory() const noexcept { return segments_.capacity() != 0 || spare_ != nullptr; }

private:
    // Owned bytes live behind a pointer: the vector may grow while a write is
    // in flight, and moving a short std::string would move its inline bytes
    // out from under the buffers handed to the socket.
    struct segment {
        shared_bytes shared;
        std::unique_ptr<std::string> owned;
        std::string_view view() const noexcept {
            return shared ? std::string_view{*shared} : std::string_view{*owned};
        }
    };

    std::string& writable_tail() {
        if (segments_.size() == head_ || segments_.size() <= locked_ || segments_.back().shared)
            push(segment{nullptr, spare_ ? std::move(spare_) : std::make_unique<std::string>()});
        return *segments_.back().owned;
    }
    // A written segment: its owned buffer, when small, waits for the next tail.
    void recycle(segment& s) noexcept {
        if (s.owned && !spare_ && s.owned->capacity() <= keep_bytes) {
            s.owned->clear();
            spare_ = std::move(s.owned);
        }
        s = segment{};
    }
    // Emptied: the segment list keeps its capacity (what is in it was
    // written), unless a burst of large frames grew it past a few.
    void reset() noexcept {
        for (std::size_t i = head_; i < segments_.size(); ++i) recycle(segments_[i]);
        if (segments_.capacity() > keep_segments) std::vector<segment>{}.swap(segments_);
        else segments_.clear();
        head_ = offset_ = locked_ = 0;
    }

    // The first segment after the queue emptied allocates room for a few: a
    // burst of broadcasts (several per read) then costs one allocation per
    // connection, not one per doubling (1, 2, 4, 8). Emptied, the queue keeps
    // it until trim(), so an idle connection still holds nothing after a tick.
    static constexpr std::size_t first_segments = 4;
    static constexpr std::size_t keep_bytes = 4 * 1024;
    static constexpr std::size_t keep_segments = 16;
    void push(segment&& s) {
        if (segments_.capacity() == 0) segments_.reserve(first_segments);
        segments_.push_back(std::move(s));
    }

    void compact() {
        segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(head_));
        locked_ -= head_;
        head_ = 0;
    }

    std::vector<segment> segments_;
    std::size_t head_ = 0;    // first unwritten segment
    std::size_t offset_ = 0;  // bytes of segments_[head_] already written
    std::size_t locked_ = 0;  // segments [head_, locked_) are being written
    std::size_t size_ = 0;
    std::unique_ptr<std::string> spare_;  // an emptied owned buffer, for the next tail
};

} // namespace wsx::detail

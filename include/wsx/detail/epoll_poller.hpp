// SPDX-License-Identifier: BSL-1.0
#pragma once
// One epoll set per io_context for plain TCP sockets (Linux): each socket is
// registered once, edge-triggered, and readiness is dispatched here instead of
// through Asio's reactor. Asio's reactor re-arms a descriptor with
// epoll_ctl(EPOLL_CTL_MOD) on every async_wait and keeps a descriptor_state
// (168 B) and a wait operation (96 B) per idle socket; here a socket costs one
// entry (56 B), and the Asio cost (an operation and an epoll_ctl) is paid once
// per batch of ready sockets: the epoll fd itself is one Asio descriptor with
// one async_wait pending while any socket waits.
//
// Contract (as Asio's own sockets): an entry is used on the thread that runs
// its io_context (or while the io_context is not running), and one thread at
// a time runs that io_context. Handlers are called directly from the batch
// (we are in an Asio handler on that thread); completions that do not come
// from readiness (cancellation, an operation that finished at once) are
// posted by the caller, never run inline.
//
// Edge-triggered registration: an entry remembers that its socket was
// reported readable (`ready`) until a read drains it (EAGAIN, or a read that
// returned less than it asked for: bytes arriving after such a read raise a
// new edge). A wait that starts while `ready` is set completes at once.
#if defined(__linux__)

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/epoll.h>
#include <unistd.h>

#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/posix/basic_stream_descriptor.hpp>

namespace wsx::detail {

// A type-erased void(std::error_code) handler, stored inline when it is small
// (the connection's handlers capture one shared_ptr: 16 B), so a waiting
// socket allocates nothing.
class wait_handler {
public:
    static constexpr std::size_t inline_size = 24;

    wait_handler() noexcept = default;
    template <class H, class D = std::decay_t<H>>
        requires(!std::is_same_v<D, wait_handler>)
    explicit wait_handler(H&& h) {
        if constexpr (fits<D>) {
            ::new (static_cast<void*>(buf_)) D(std::forward<H>(h));
            vt_ = &inline_vtable<D>;
        } else {
            *reinterpret_cast<D**>(buf_) = new D(std::forward<H>(h));
            vt_ = &heap_vtable<D>;
        }
    }
    wait_handler(wait_handler&& o) noexcept : vt_(o.vt_) {
        if (vt_) vt_->move(o.buf_, buf_);
        o.vt_ = nullptr;
    }
    wait_handler& operator=(wait_handler&& o) noexcept {
        if (this != &o) {
            reset();
            vt_ = o.vt_;
            if (vt_) vt_->move(o.buf_, buf_);
            o.vt_ = nullptr;
        }
        return *this;
    }
    ~wait_handler() { reset(); }

    explicit operator bool() const noexcept { return vt_ != nullptr; }

    // Calls and empties the handler (it is moved out first, so the call may
    // store a new handler here).
    void operator()(std::error_code ec) {
        wait_handler h(std::move(*this));
        h.vt_->call(h.buf_, ec);
    }

    void reset() noexcept {
        if (vt_) vt_->destroy(buf_);
        vt_ = nullptr;
    }

private:
    struct vtable {
        void (*call)(void*, std::error_code);
        void (*move)(void* from, void* to) noexcept;
        void (*destroy)(void*) noexcept;
    };
    template <class D>
    static constexpr bool fits = sizeof(D) <= inline_size && alignof(D) <= alignof(void*) &&
                                 std::is_nothrow_move_constructible_v<D>;
    template <class D>
    static constexpr vtable inline_vtable{
        [](void* p, std::error_code ec) { (*static_cast<D*>(p))(ec); },
        [](void* from, void* to) noexcept {
            ::new (to) D(std::move(*static_cast<D*>(from)));
            static_cast<D*>(from)->~D();
        },
        [](void* p) noexcept { static_cast<D*>(p)->~D(); }};
    template <class D>
    static constexpr vtable heap_vtable{
        [](void* p, std::error_code ec) { (**static_cast<D**>(p))(ec); },
        [](void* from, void* to) noexcept { *static_cast<D**>(to) = *static_cast<D**>(from); },
        [](void* p) noexcept { delete *static_cast<D**>(p); }};

    alignas(void*) unsigned char buf_[inline_size];
    const vtable* vt_ = nullptr;
};

// An operation that continues when the socket is writable (a write the kernel
// could not take at once). perform() makes progress and returns true when the
// operation has finished (done or failed); complete() then runs its handler
// and destroys the operation.
struct writable_op {
    virtual ~writable_op() = default;
    virtual bool perform(int fd) = 0;
    virtual void complete() = 0;
    // Cancelled (the socket closed): complete() posts instead of calling.
    virtual void abort(asio::io_context& io) = 0;
};

class epoll_poller final : public asio::execution_context::service {
public:
    using key_type = epoll_poller;
    inline static asio::execution_context::id id;

    // One registered socket. Its address is stable for the poller's lifetime
    // (entries live in fixed chunks and are reused, never moved).
    struct entry {
        int fd = -1;
        std::uint32_t index = 0;       // position in the chunks (epoll data)
        std::uint32_t generation = 0;  // bumped on release: stale events are ignored
        bool ready = false;            // reported readable, not drained since
        bool hangup = false;           // peer closed or error: stays readable
        bool out = false;              // EPOLLOUT is in the interest set
        wait_handler reader;
        writable_op* writer = nullptr;
    };

    explicit epoll_poller(asio::io_context& io) : asio::execution_context::service(io), io_(io), desc_(io) {
        const int fd = ::epoll_create1(EPOLL_CLOEXEC);
        if (fd < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
        std::error_code ec;
        desc_.assign(fd, ec);
        if (ec) {
            ::close(fd);
            throw std::system_error(ec, "wsx::detail::epoll_poller: assign");
        }
        epfd_ = fd;
    }

    // The poller of `io`, made on first use.
    static epoll_poller& of(asio::io_context& io) { return asio::use_service<epoll_poller>(io); }

    asio::io_context& context() noexcept { return io_; }
    int native_handle() const noexcept { return epfd_; }
    // Entries with a pending reader or writer (while > 0, the epoll fd is watched).
    std::size_t pending() const noexcept { return pending_; }
    // Entries registered now.
    std::size_t registered() const noexcept { return registered_; }

    // Registers `fd` (already non-blocking) for input and hang-up, edge-triggered.
    entry* add(int fd, std::error_code& ec) {
        entry* e = acquire();
        e->fd = fd;
        epoll_event ev{};
        ev.events = base_events;
        ev.data.u64 = key(*e);
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ec.assign(errno, asio::error::get_system_category());
            e->fd = -1;
            free_.push_back(e);
            return nullptr;
        }
        ++registered_;
        ec.clear();
        return e;
    }

    // Deregisters and closes the socket. A pending reader completes with
    // operation_aborted, a pending writer too (both posted); events of this
    // socket still in the current batch become inert.
    void remove(entry& e) noexcept {
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, e.fd, nullptr);
        ::close(e.fd);
        e.fd = -1;
        ++e.generation;
        e.ready = e.hangup = e.out = false;
        wait_handler reader = std::move(e.reader);
        writable_op* writer = std::exchange(e.writer, nullptr);
        --registered_;
        free_.push_back(&e);
        if (reader) {
            --pending_;
            if (!shut_down_)
                asio::post(io_, [h = std::move(reader)]() mutable { h(asio::error::operation_aborted); });
        }
        if (writer) {
            --pending_;
            if (!shut_down_) writer->abort(io_);
            else delete writer;
        }
        idle_check();
    }

    // Stores the reader of `e` (no reader may be pending). The caller has
    // checked `ready` (a ready socket's wait completes without a store).
    template <class Handler>
    void wait_readable(entry& e, Handler&& handler) {
        e.reader = wait_handler(std::forward<Handler>(handler));
        ++pending_;
        arm();
    }

    // Stores the writer of `e` (none may be pending) and watches EPOLLOUT.
    void wait_writable(entry& e, writable_op* op) {
        e.writer = op;
        ++pending_;
        set_out(e, true);
        arm();
    }

private:
    static constexpr std::uint32_t base_events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    static constexpr std::size_t chunk_size = 256;
    static constexpr int batch_size = 64;
    // Batches read per Asio wake-up before other handlers get a turn.
    static constexpr int max_rounds = 4;

    static std::uint64_t key(const entry& e) noexcept {
        return (std::uint64_t{e.generation} << 32) | e.index;
    }

    entry* acquire() {
        if (!free_.empty()) {
            entry* e = free_.back();
            free_.pop_back();
            return e;
        }
        const std::size_t n = chunks_.size();
        chunks_.push_back(std::make_unique<entry[]>(chunk_size));
        entry* chunk = chunks_.back().get();
        free_.reserve(free_.size() + chunk_size);
        for (std::size_t i = chunk_size; i-- > 1;) {
            chunk[i].index = static_cast<std::uint32_t>(n * chunk_size + i);
            free_.push_back(&chunk[i]);
        }
        chunk[0].index = static_cast<std::uint32_t>(n * chunk_size);
        return &chunk[0];
    }

    void set_out(entry& e, bool on) noexcept {
        if (e.out == on || e.fd < 0) return;
        e.out = on;
        epoll_event ev{};
        ev.events = base_events | (on ? EPOLLOUT : 0u);
        ev.data.u64 = key(e);
        ::epoll_ctl(epfd_, EPOLL_CTL_MOD, e.fd, &ev);
    }

    // One Asio wait on the epoll fd while an entry waits and no batch runs.
    void arm() {
        if (armed_ || in_batch_ || shut_down_ || pending_ == 0) return;
        armed_ = true;
        desc_.async_wait(asio::posix::descriptor_base::wait_read,
                         [this](std::error_code ec) { on_ready(ec); });
    }

    // Nothing waits: drop the Asio wait so io_context::run() can return.
    void idle_check() noexcept {
        if (pending_ == 0 && armed_ && !in_batch_ && !shut_down_) {
            std::error_code ec;
            desc_.cancel(ec);
        }
    }

    void on_ready(std::error_code ec) {
        armed_ = false;
        if (ec == asio::error::operation_aborted || shut_down_) return arm();
        struct batch_guard {
            epoll_poller& p;
            explicit batch_guard(epoll_poller& poller) : p(poller) { p.in_batch_ = true; }
            ~batch_guard() {
                p.in_batch_ = false;
                p.arm();
            }
        } guard(*this);
        epoll_event events[batch_size];
        for (int round = 0; round < max_rounds; ++round) {
            const int n = ::epoll_wait(epfd_, events, batch_size, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (int i = 0; i < n; ++i) dispatch(events[i]);
            if (n < batch_size) break;
        }
    }

    void dispatch(const epoll_event& ev) {
        const auto index = static_cast<std::uint32_t>(ev.data.u64);
        const auto generation = static_cast<std::uint32_t>(ev.data.u64 >> 32);
        entry& e = chunks_[index / chunk_size][index % chunk_size];
        // Released (and perhaps reused) by a handler earlier in this batch.
        if (e.generation != generation || e.fd < 0) return;
        const std::uint32_t bits = ev.events;
        if (e.writer && (bits & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            if (e.writer->perform(e.fd)) {
                writable_op* op = std::exchange(e.writer, nullptr);
                --pending_;
                set_out(e, false);
                op->complete();
                if (e.generation != generation) return;
            }
        }
        if (bits & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            e.ready = true;
            if (bits & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e.hangup = true;
            if (e.reader) {
                --pending_;
                e.reader(std::error_code{});
            }
        }
    }

    // The io_context is shutting down: destroy (never call) what waits, as
    // Asio does with its pending operations. Destroying a handler may destroy
    // the stream that owns an entry, which then calls remove(): take each
    // handler out before it is destroyed.
    void shutdown() override {
        shut_down_ = true;
        for (std::size_t c = 0; c < chunks_.size(); ++c)
            for (std::size_t i = 0; i < chunk_size; ++i) {
                entry& e = chunks_[c][i];
                wait_handler reader = std::move(e.reader);
                writable_op* writer = std::exchange(e.writer, nullptr);
                if (reader) --pending_;
                if (writer) --pending_;
                reader.reset();
                delete writer;
            }
    }

    asio::io_context& io_;
    asio::posix::basic_stream_descriptor<asio::io_context::executor_type> desc_;  // owns epfd_
    int epfd_ = -1;
    bool armed_ = false;
    bool in_batch_ = false;
    bool shut_down_ = false;
    std::size_t pending_ = 0;
    std::size_t registered_ = 0;
    std::vector<std::unique_ptr<entry[]>> chunks_;
    std::vector<entry*> free_;
};

} // namespace wsx::detail

#endif // __linux__

// SPDX-License-Identifier: BSL-1.0
#include <wsx/detail/outbox.hpp>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catch.hpp"

using wsx::detail::outbox;
using wsx::detail::outgoing_frame;
using wsx::detail::outgoing_kind;
using state = outbox::state;

namespace {
// Appends bytes the way the connection does: charged first, then appended.
void put(outbox& o, std::string_view bytes) {
    o.charge(bytes.size());
    o.append_with([&](std::string& s) { s.append(bytes); });
}

std::string gathered(outbox& o) {
    std::vector<std::string_view> bufs;
    o.gather(bufs, 64);
    std::string s;
    for (auto b : bufs) s.append(b);
    return s;
}
} // namespace

TEST_CASE("admission: under the limit, or anything into an empty outbox, and never past limit + one message") {
    outbox o(100);
    CHECK(o.try_admit(250));  // empty: one message larger than the limit still goes
    CHECK(o.accepted() == 250);
    CHECK_FALSE(o.try_admit(1));  // nothing more while over
    o.refund(250);
    CHECK(o.try_admit(60));
    CHECK(o.try_admit(40));       // exactly the limit
    CHECK_FALSE(o.try_admit(1));
    o.refund(40);
    CHECK(o.try_admit(40));
    CHECK(o.accepted() == 100);
}

TEST_CASE("admission from many threads stays within the limit plus one message") {
    outbox o(64 * 1024);
    std::atomic<std::size_t> admitted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i)
                if (o.try_admit(1000)) admitted += 1000;
        });
    for (auto& t : threads) t.join();
    CHECK(admitted == o.accepted());
    CHECK(o.accepted() <= 64 * 1024);  // here every message is smaller than the limit
    CHECK(o.accepted() > 64 * 1024 - 1000);
}

TEST_CASE("idle: an append asks for one posted flush, and the flush writes it") {
    outbox o(1 << 20);
    CHECK(o.current() == state::idle);
    put(o, "ab");
    CHECK(o.needs_posted_flush());
    CHECK(o.current() == state::flush_posted);
    put(o, "cd");
    CHECK_FALSE(o.needs_posted_flush());  // the posted one takes it too
    o.flush_arrived();
    CHECK(o.may_write());
    CHECK(gathered(o) == "abcd");
    o.written(4);
    CHECK_FALSE(o.has_queued());
    CHECK(o.accepted() == 0);
    CHECK(o.take_drained());
    CHECK_FALSE(o.take_drained());  // once
}

TEST_CASE("a partial synchronous write resumes at the right byte, then an asynchronous one ends it") {
    outbox o(1 << 20);
    put(o, "hello ");
    o.append(std::make_shared<const std::string>("world"));
    o.charge(5);
    o.written(3);
    CHECK(o.accepted() == 8);
    CHECK(gathered(o) == "lo world");
    o.write_started();
    CHECK(o.current() == state::writing);
    CHECK_FALSE(o.may_write());
    put(o, "!");  // appended during the write: queued behind it
    CHECK_FALSE(o.needs_posted_flush());  // the completion goes on
    o.write_done(8);
    CHECK(o.current() == state::idle);
    CHECK(gathered(o) == "!");
    CHECK(o.accepted() == 1);
}

TEST_CASE("a turn corks into the thread's buffer and ends with one write; the rest is queued") {
    outbox o(1 << 20);
    std::string cork;
    o.begin_turn(&cork);
    CHECK(o.holds_cork());
    CHECK(o.in_turn());
    put(o, "one ");
    o.append(std::make_shared<const std::string>("two "));
    o.charge(4);
    put(o, "three");
    CHECK_FALSE(o.needs_posted_flush());  // end_turn writes
    CHECK_FALSE(o.may_write());
    CHECK(o.corked_bytes() == "one two three");
    CHECK(o.pending() == 13);
    std::string* back = o.end_turn(4);  // the socket took "one "
    CHECK(back == &cork);
    CHECK(cork.empty());
    CHECK(o.current() == state::idle);
    CHECK(gathered(o) == "two three");
    CHECK(o.accepted() == 9);
}

TEST_CASE("no cork when bytes are queued (order) or none is lent; a turn during a write leaves it writing") {
    outbox o(1 << 20);
    std::string cork;
    put(o, "first");
    o.begin_turn(&cork);
    CHECK_FALSE(o.holds_cork());
    CHECK(o.current() == state::in_turn);
    put(o, "second");
    CHECK(o.end_turn() == nullptr);
    CHECK(gathered(o) == "firstsecond");

    o.write_started();
    o.begin_turn(&cork);
    CHECK(o.current() == state::writing);
    put(o, "third");
    CHECK(o.end_turn() == nullptr);
    CHECK(o.current() == state::writing);
    o.write_done(11);
    CHECK(gathered(o) == "third");

    outbox p(1 << 20);
    p.begin_turn(nullptr);  // another connection holds the thread's cork
    CHECK(p.current() == state::in_turn);
    put(p, "x");
    p.end_turn();
    CHECK(gathered(p) == "x");
}

TEST_CASE("the drained signal waits for the end of a turn and for an empty queue") {
    outbox o(1 << 20);
    std::string cork;
    o.begin_turn(&cork);
    put(o, "abc");
    o.end_turn(3);
    CHECK(o.take_drained());
    put(o, "de");
    o.written(1);
    CHECK_FALSE(o.take_drained());  // one byte left
    o.written(1);
    CHECK(o.take_drained());
}

TEST_CASE("clear drops and refunds everything: queue, cork and inbox; the cork stays lent until the turn ends") {
    outbox o(1 << 20);
    put(o, "queued");
    std::string cork;
    o.write_started();
    o.write_done(0);
    o.begin_turn(&cork);  // queue not empty: no cork
    o.end_turn();
    o.written(6);
    o.begin_turn(&cork);
    put(o, "corked");
    CHECK(o.try_admit(10));
    outgoing_frame f;
    f.bytes = "0123456789";
    f.charged = 10;
    CHECK(o.push(std::move(f)));
    CHECK(o.accepted() == 16);
    o.clear();
    CHECK_FALSE(o.inbox_waiting());
    CHECK(o.accepted() == 0);
    CHECK(o.holds_cork());
    CHECK(o.end_turn() == &cork);
    CHECK(cork.empty());
    std::vector<outgoing_frame> left;
    o.take_inbox(left);
    CHECK(left.empty());
}

TEST_CASE("clear during a write: what was in flight is refunded too, and the next write starts idle") {
    outbox o(1 << 20);
    put(o, "in flight");
    o.write_started();
    o.clear();
    CHECK(o.accepted() == 0);
    CHECK(o.current() == state::idle);
    CHECK_FALSE(o.has_queued());
}

TEST_CASE("the inbox: the first push asks for a drain, the next ride on it, in order") {
    outbox o(1 << 20);
    auto frame = [](std::string s) {
        outgoing_frame f;
        f.bytes = std::move(s);
        return f;
    };
    CHECK_FALSE(o.inbox_waiting());
    CHECK(o.push(frame("a")));
    CHECK(o.inbox_waiting());  // a send on the connection's thread drains it first
    CHECK_FALSE(o.push(frame("b")));
    CHECK_FALSE(o.push(frame("c")));
    std::vector<outgoing_frame> got;
    o.take_inbox(got);
    CHECK_FALSE(o.inbox_waiting());
    REQUIRE(got.size() == 3);
    CHECK(got[0].bytes == "a");
    CHECK(got[2].bytes == "c");
    CHECK(o.push(frame("d")));  // empty again: a new drain
    const auto shared = outgoing_frame::of_shared(wsx::prepared_message::text("p"), 3);
    CHECK(shared.kind == outgoing_kind::shared);
    CHECK(shared.shared->payload() == "p");
    const auto close = outgoing_frame::of_close(wsx::close_code::going_away, "bye");
    CHECK(close.kind == outgoing_kind::close);
    CHECK(close.bytes == "bye");
}

TEST_CASE("pushes from several threads all arrive, each thread's in its order, with one drain per empty inbox") {
    outbox o(1 << 30);
    std::atomic<int> drains{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                outgoing_frame f;
                f.bytes = std::to_string(t) + ":" + std::to_string(i);
                if (o.push(std::move(f))) ++drains;
            }
        });
    std::vector<std::string> seen;
    std::vector<outgoing_frame> got;
    int taken = 0;
    while (seen.size() < 8000) {
        o.take_inbox(got);
        if (!got.empty()) ++taken;
        for (auto& f : got) seen.push_back(f.bytes);
    }
    for (auto& t : threads) t.join();
    CHECK(drains <= taken);
    std::vector<int> next(4, 0);
    for (const auto& s : seen) {
        const int t = s[0] - '0';
        CHECK(std::stoi(s.substr(2)) == next[static_cast<std::size_t>(t)]++);
    }
}

TEST_CASE("a shared frame is queued by reference, released once written; corked, it is copied") {
    outbox o(1 << 20);
    auto small = std::make_shared<const std::string>("small one ");
    auto large = std::make_shared<const std::string>(4096, 'L');
    o.charge(small->size() + large->size());
    o.append(small);
    o.append(large);
    CHECK(small.use_count() == 2);
    CHECK(large.use_count() == 2);  // shared, not copied
    std::vector<std::string_view> bufs;
    o.gather(bufs, 64);
    REQUIRE(bufs.size() == 2);
    CHECK(bufs[0].data() == small->data());
    CHECK(bufs[1].data() == large->data());
    o.written(o.pending());
    CHECK(o.accepted() == 0);
    CHECK(small.use_count() == 1);  // released once written
    CHECK(large.use_count() == 1);

    // Corked (a read turn): copied into the thread's cork buffer.
    std::string cork;
    o.begin_turn(&cork);
    REQUIRE(o.holds_cork());
    o.charge(small->size() + large->size());
    o.append(small);
    o.append(large);
    CHECK(large.use_count() == 1);
    CHECK(o.corked_bytes() == *small + *large);
    o.end_turn(o.corked_bytes().size());
    CHECK(o.accepted() == 0);
}

TEST_CASE("an emptied queue keeps its buffers while writes go on, and gives them back after a quiet tick") {
    outbox o(1 << 20);
    CHECK_FALSE(o.holds_memory());
    put(o, "burst");
    o.written(o.pending());
    CHECK(o.holds_memory());
    o.trim();  // a write since the last tick: kept for the next burst
    CHECK(o.holds_memory());
    o.trim();  // a whole tick without a write: given back
    CHECK_FALSE(o.holds_memory());
    // Bytes waiting are never touched by trim.
    put(o, "waiting");
    o.trim();
    o.trim();
    CHECK(gathered(o) == "waiting");
}

TEST_CASE("a write made within a turn takes the corked bytes first; direct bytes give their charge back") {
    outbox o(1 << 20);
    std::string cork;
    o.begin_turn(&cork);
    put(o, "pong;");
    o.charge(100);  // a large frame, charged, to be written from where it lies
    CHECK(o.accepted() == 105);
    // The write took 3 corked bytes, so none of the frame.
    o.cork_written(3);
    CHECK(o.corked_bytes() == "g;");
    CHECK(o.accepted() == 102);
    o.cork_written(2);
    o.written_directly(60);  // then 60 bytes of the frame
    CHECK(o.corked_bytes().empty());
    CHECK(o.accepted() == 40);
    o.refund(40);  // the connection corks or settles the rest
    CHECK(o.take_drained() == false);  // still in the turn
    CHECK(o.end_turn() == &cork);
    CHECK(o.take_drained());  // bytes went out and nothing is left: on_drain may fire
    CHECK(o.accepted() == 0);
}

TEST_CASE("cork_written does nothing outside a corked turn") {
    outbox o(1 << 20);
    put(o, "queued");
    o.begin_turn(nullptr);
    o.cork_written(3);
    CHECK(o.accepted() == 6);
    o.end_turn();
    CHECK(gathered(o) == "queued");
}

TEST_CASE("uncork: a full socket ends corking for the turn; the cork's bytes lead the queue") {
    outbox o(1 << 20);
    std::string cork;
    o.begin_turn(&cork);
    put(o, "pong;");
    CHECK(o.uncork() == &cork);
    CHECK(cork.empty());
    CHECK_FALSE(o.holds_cork());
    CHECK(o.in_turn());
    CHECK(o.uncork() == nullptr);  // once
    put(o, "rest of a large frame;");
    put(o, "next");
    CHECK(o.corked_bytes().empty());
    CHECK(o.end_turn() == nullptr);  // the cork was handed back already
    CHECK(o.may_write());
    CHECK(gathered(o) == "pong;rest of a large frame;next");
    CHECK(o.accepted() == 31);
}

// SPDX-License-Identifier: BSL-1.0
#include <wsx/detail/out_queue.hpp>

#include <asio/buffer.hpp>

#include <memory>
#include <string>
#include <vector>

#include "catch.hpp"

using wsx::detail::out_queue;

namespace {
std::string concat(const std::vector<asio::const_buffer>& bufs) {
    std::string s;
    for (const auto& b : bufs) s.append(static_cast<const char*>(b.data()), b.size());
    return s;
}
} // namespace

TEST_CASE("owned bytes are coalesced and shared frames queued by reference, in order") {
    out_queue q;
    CHECK(q.empty());
    q.append(std::string_view{"ab"});
    q.append(std::string_view{"cd"});
    auto shared = std::make_shared<const std::string>("SHARED");
    q.append(shared);
    q.append(std::string_view{"ef"});
    CHECK(q.size() == 12);
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    REQUIRE(bufs.size() == 3);  // "abcd", the shared frame, "ef"
    CHECK(concat(bufs) == "abcdSHAREDef");
    CHECK(bufs[1].data() == shared->data());  // no copy of the shared frame
}

TEST_CASE("partial writes resume at the right byte") {
    out_queue q;
    q.append(std::string_view{"hello"});
    q.append(std::make_shared<const std::string>("world"));
    std::vector<asio::const_buffer> bufs;
    for (std::size_t step : {2u, 4u, 2u}) {  // "he", "llow", "or"
        q.gather(bufs, 64);
        q.consume(step);
    }
    q.gather(bufs, 64);
    CHECK(concat(bufs) == "ld");
    CHECK(q.size() == 2);
    q.consume(2);
    CHECK(q.empty());
}

TEST_CASE("appends during a write do not move the bytes being written") {
    out_queue q;
    q.append(std::string_view{"first"});
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    const void* before = bufs[0].data();
    for (int i = 0; i < 1000; ++i) q.append(std::string_view{"more bytes to force growth "});
    CHECK(bufs[0].data() == before);
    CHECK(std::string(static_cast<const char*>(bufs[0].data()), bufs[0].size()) == "first");
    q.consume(5);
    q.gather(bufs, 64);
    CHECK(concat(bufs).starts_with("more bytes"));
}

TEST_CASE("gather respects the buffer limit and a drained queue holds no memory") {
    out_queue q;
    for (int i = 0; i < 100; ++i) q.append(std::make_shared<const std::string>("x"));
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    CHECK(bufs.size() == 64);
    q.consume(64);
    q.gather(bufs, 64);
    CHECK(bufs.size() == 36);
    q.consume(36);
    CHECK(q.empty());
    q.gather(bufs, 64);
    CHECK(bufs.empty());
}

TEST_CASE("empty appends are ignored") {
    out_queue q;
    q.append(std::string{});
    q.append(std::make_shared<const std::string>());
    q.append(wsx::detail::shared_bytes{});
    CHECK(q.empty());
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    CHECK(bufs.empty());
}

TEST_CASE("an emptied queue keeps its buffers for the next burst, and trim gives them back") {
    out_queue q;
    CHECK_FALSE(q.holds_memory());
    q.append(std::string_view{"first burst"});
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    const void* buffer = bufs[0].data();
    q.consume(q.size());
    CHECK(q.empty());
    CHECK(q.holds_memory());  // kept: a connection sent to all the time allocates nothing per write
    q.append(std::string_view{"second"});
    q.gather(bufs, 64);
    REQUIRE(bufs.size() == 1);
    CHECK(bufs[0].data() == buffer);  // the same owned buffer, reused
    CHECK(concat(bufs) == "second");
    q.trim();  // not empty: nothing is given back
    CHECK(concat(bufs) == "second");
    q.consume(6);
    q.trim();
    CHECK_FALSE(q.holds_memory());  // an idle connection holds nothing
    q.append(std::string_view{"after trim"});
    q.gather(bufs, 64);
    CHECK(concat(bufs) == "after trim");
}

TEST_CASE("a partly written buffer is not reused while its rest waits") {
    out_queue q;
    q.append(std::string_view{"abcdef"});
    std::vector<asio::const_buffer> bufs;
    q.gather(bufs, 64);
    q.consume(2);  // "cdef" still waits in that buffer
    q.append(std::string_view{"gh"});  // behind the locked segment: a new one
    q.gather(bufs, 64);
    CHECK(concat(bufs) == "cdefgh");
    q.consume(4);  // the first buffer is done and kept; "gh" waits
    q.append(std::string_view{"ij"});
    q.gather(bufs, 64);
    CHECK(concat(bufs) == "ghij");
    q.consume(4);
    CHECK(q.empty());
}

TEST_CASE("a burst of many segments is not kept once written") {
    out_queue q;
    std::vector<std::shared_ptr<const std::string>> frames;
    for (int i = 0; i < 100; ++i) {
        frames.push_back(std::make_shared<const std::string>(2000, static_cast<char>('a' + i % 26)));
        q.append(frames.back());
    }
    std::vector<asio::const_buffer> bufs;
    while (!q.empty()) {
        q.gather(bufs, 64);
        q.consume(asio::buffer_size(bufs));
    }
    for (const auto& f : frames) CHECK(f.use_count() == 1);  // every reference released
    q.append(std::string_view{"next"});
    q.gather(bufs, 64);
    CHECK(concat(bufs) == "next");
}

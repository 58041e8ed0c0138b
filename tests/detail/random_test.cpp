// SPDX-License-Identifier: BSL-1.0
// wsx::detail random bytes: client mask keys must be unpredictable (RFC 6455
// §5.3), connection ids must not repeat, and the pool that serves them is one
// per thread (no lock, no shared state between I/O threads).
#include "wsx/detail/random.hpp"

#include "catch.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

using wsx::detail::fill_random;
using wsx::detail::random_mask_key;
using wsx::detail::random_pool;

TEST_CASE("fill_random writes exactly the bytes asked for") {
    // Sizes around the sizes of the kernel call and of random_device's word.
    for (std::size_t size : {0u, 1u, 3u, 4u, 5u, 255u, 256u, 257u, 4096u}) {
        std::vector<unsigned char> buf(size + 16, 0xAB);
        fill_random(buf.data() + 8, size);
        // The guard bytes on either side are untouched.
        CHECK(std::all_of(buf.begin(), buf.begin() + 8, [](unsigned char b) { return b == 0xAB; }));
        CHECK(std::all_of(buf.end() - 8, buf.end(), [](unsigned char b) { return b == 0xAB; }));
        if (size >= 16) {
            // Random bytes are not a constant (2^-128 chance of a false failure).
            const auto first = buf[8];
            CHECK_FALSE(std::all_of(buf.begin() + 8, buf.end() - 8,
                                    [&](unsigned char b) { return b == first; }));
        }
    }
}

TEST_CASE("mask keys vary: 10,000 keys are (almost) all different and every byte moves") {
    std::unordered_set<std::uint32_t> keys;
    std::array<std::set<std::uint8_t>, 4> per_byte;
    constexpr int n = 10000;
    for (int i = 0; i < n; ++i) {
        const std::array<std::uint8_t, 4> k = random_mask_key();
        std::uint32_t v = 0;
        for (int b = 0; b < 4; ++b) {
            v = (v << 8) | k[b];
            per_byte[b].insert(k[b]);
        }
        keys.insert(v);
    }
    // 10,000 draws of 32 bits: ~0.012 collisions expected; more than 3 means a bias.
    CHECK(keys.size() >= n - 3);
    // Each position takes (nearly) all 256 values in 10,000 draws.
    for (const auto& values : per_byte) CHECK(values.size() >= 250);
}

TEST_CASE("no two 64-bit ids are equal in 200,000 draws, across many pool refills") {
    auto& pool = random_pool::for_this_thread();
    std::unordered_set<std::uint64_t> ids;
    constexpr int n = 200000;  // 1.6 MB: thousands of refills of the 256-byte block
    ids.reserve(n);
    for (int i = 0; i < n; ++i) ids.insert(pool.next<std::uint64_t>());
    CHECK(ids.size() == static_cast<std::size_t>(n));  // a collision: ~1e-9
}

TEST_CASE("draws of mixed sizes never hand out the same bytes twice") {
    // 3-, 4- and 8-byte draws leave the block at every offset, and a draw that
    // does not fit what is left takes a fresh block instead of reading past it.
    auto& pool = random_pool::for_this_thread();
    std::unordered_set<std::uint64_t> seen;
    for (int i = 0; i < 20000; ++i) {
        (void)pool.next<std::array<std::uint8_t, 3>>();
        (void)pool.next<std::uint32_t>();
        const auto v = pool.next<std::uint64_t>();
        CHECK(seen.insert(v).second);
    }
}

TEST_CASE("the bits are balanced") {
    // 100,000 x 64 bits: the share of ones is 0.5 with a standard deviation of
    // 0.0002; a stuck byte or a short block would move it by far more than 0.01.
    auto& pool = random_pool::for_this_thread();
    std::uint64_t ones = 0;
    constexpr int n = 100000;
    for (int i = 0; i < n; ++i) ones += std::popcount(pool.next<std::uint64_t>());
    const double share = static_cast<double>(ones) / (64.0 * n);
    CHECK(share > 0.49);
    CHECK(share < 0.51);
}

TEST_CASE("the pool is one per thread") {
    random_pool* main_pool = &random_pool::for_this_thread();
    CHECK(&random_pool::for_this_thread() == main_pool);  // the same one on each call

    constexpr int threads = 4;
    std::vector<random_pool*> pools(threads);
    std::vector<std::vector<std::uint64_t>> drawn(threads);
    // All alive at once: a finished thread's storage could be reused by the next one.
    std::latch all_there(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            pools[t] = &random_pool::for_this_thread();
            for (int i = 0; i < 1000; ++i) drawn[t].push_back(pools[t]->next<std::uint64_t>());
            all_there.arrive_and_wait();
        });
    }
    for (auto& w : workers) w.join();

    std::set<random_pool*> distinct(pools.begin(), pools.end());
    distinct.insert(main_pool);
    CHECK(distinct.size() == threads + 1);
    // Pools filled separately from the kernel never share values.
    std::unordered_set<std::uint64_t> all;
    for (const auto& d : drawn)
        for (auto v : d) all.insert(v);
    CHECK(all.size() == threads * 1000u);
}

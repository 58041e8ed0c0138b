// SPDX-License-Identifier: BSL-1.0
#pragma once
// Unpredictable bytes for client mask keys (RFC 6455 §5.3 asks for a strong
// source of entropy) and connection ids. Bytes come from the kernel's CSPRNG
// in blocks, so one system call serves many keys.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>

#if defined(__linux__)
#include <sys/random.h>
#endif

namespace wsx::detail {

inline void fill_random(void* out, std::size_t size) {
    auto* p = static_cast<unsigned char*>(out);
#if defined(__linux__)
    while (size > 0) {
        const ssize_t n = ::getrandom(p, size, 0);
        if (n <= 0) break;  // interrupted or unsupported: fall through to random_device
        p += n;
        size -= static_cast<std::size_t>(n);
    }
#endif
    if (size > 0) {
        std::random_device rd;
        while (size > 0) {
            const auto v = rd();
            const std::size_t k = size < sizeof v ? size : sizeof v;
            std::memcpy(p, &v, k);
            p += k;
            size -= k;
        }
    }
}

// A per-thread pool of kernel random bytes.
class random_pool {
public:
    template <class T>
    T next() {
        static_assert(sizeof(T) <= block_size);
        if (used_ + sizeof(T) > block_size) {
            fill_random(block_.data(), block_size);
            used_ = 0;
        }
        T value;
        std::memcpy(&value, block_.data() + used_, sizeof(T));
        used_ += sizeof(T);
        return value;
    }

    static random_pool& for_this_thread() {
        thread_local random_pool pool;
        return pool;
    }

private:
    static constexpr std::size_t block_size = 256;
    std::array<unsigned char, block_size> block_{};
    std::size_t used_ = block_size;
};

inline std::array<std::uint8_t, 4> random_mask_key() {
    return random_pool::for_this_thread().next<std::array<std::uint8_t, 4>>();
}

} // namespace wsx::detail

// SPDX-License-Identifier: BSL-1.0
#pragma once
// What the load generators share (loadgen.cpp, h2_loadgen.cpp): the clock, the
// CPU and memory a process used (read from /proc, so the load generator can
// account for the server's share too), and masked client frames.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

namespace wsx::bench {

using clock_type = std::chrono::steady_clock;

inline double now_s() {
    return std::chrono::duration<double>(clock_type::now().time_since_epoch()).count();
}
inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

// user + system CPU seconds of this process.
inline double self_cpu_s() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// utime + stime of a process (all its threads), from /proc/PID/stat; 0 when
// there is no such process.
inline double proc_cpu_s(int pid) {
    if (pid <= 0) return 0;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return 0;
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
    if (!p) return 0;
    // Fields after ')': state(3) ... utime(14) stime(15).
    unsigned long long ut = 0, st = 0;
    int field = 2;
    for (const char* q = p + 1; *q; ++q) {
        if (*q != ' ') continue;
        ++field;
        if (field == 14) ut = std::strtoull(q + 1, nullptr, 10);
        if (field == 15) {
            st = std::strtoull(q + 1, nullptr, 10);
            break;
        }
    }
    return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Resident set size in bytes, from /proc/PID/statm; -1 when unreadable.
inline long long proc_rss(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/statm", pid);
    FILE* f = std::fopen(path, "r");
    if (!f) return -1;
    long long size = 0, resident = 0;
    const int got = std::fscanf(f, "%lld %lld", &size, &resident);
    std::fclose(f);
    if (got != 2) return -1;
    return resident * sysconf(_SC_PAGESIZE);
}

inline std::mt19937_64& rng() {
    static std::mt19937_64 r{std::random_device{}()};
    return r;
}

// One masked client frame, FIN set, with a random key (RFC 6455 §5.2, §5.3).
inline std::string masked_frame(std::uint8_t opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xFFFF) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(static_cast<std::uint64_t>(n) >> (8 * i)));
    }
    const std::uint32_t k = static_cast<std::uint32_t>(rng()());
    char key[4];
    std::memcpy(key, &k, 4);
    f.append(key, 4);
    for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i & 3]));
    return f;
}

} // namespace wsx::bench

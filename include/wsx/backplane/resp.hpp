// SPDX-License-Identifier: BSL-1.0
#pragma once
// RESP (the Redis protocol) for wsx's Redis backplane, through hiredis: its
// command formatter and its incremental reply reader, with owning C++ handles.
// Sans-I/O: bytes in, replies out; the socket work is in backplane/redis.hpp.
// Only hiredis's protocol part is used (no hiredis connection, no hiredis I/O).
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

namespace wsx::backplane::resp {

struct reply_deleter {
    void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// The bytes of a string-like reply (bulk string, status, error), else empty.
inline std::string_view text(const redisReply* r) noexcept {
    if (!r || !r->str) return {};
    return {r->str, r->len};
}

inline bool is_array(const redisReply* r, std::size_t min_elements = 0) noexcept {
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= min_elements;
}

// Appends the RESP encoding of the command `args` (binary-safe) to `out`.
inline void append_command(std::string& out, std::initializer_list<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (n < 0 || !cmd) throw std::bad_alloc();
    // hiredis allocated it; it must free it.
    std::unique_ptr<char, void (*)(char*)> owned(cmd, redisFreeCommand);
    out.append(cmd, static_cast<std::size_t>(n));
}

// An incremental reply parser: feed() the bytes read from the server, then
// take next() replies until it returns none.
class reader {
public:
    reader() : r_(redisReaderCreate()) {
        if (!r_) throw std::bad_alloc();
    }

    void feed(const char* data, std::size_t size) {
        if (redisReaderFeed(r_.get(), data, size) != REDIS_OK) failed_ = true;
    }

    // The next complete reply, or nullptr when more bytes are needed or the
    // input was not RESP (then failed() is true and error() says why).
    reply_ptr next() {
        if (failed_) return nullptr;
        void* reply = nullptr;
        if (redisReaderGetReply(r_.get(), &reply) != REDIS_OK) {
            failed_ = true;
            return nullptr;
        }
        return reply_ptr(static_cast<redisReply*>(reply));
    }

    bool failed() const noexcept { return failed_ || r_->err != 0; }
    std::string error() const { return r_->err ? std::string{r_->errstr} : std::string{"protocol error"}; }

private:
    struct deleter {
        void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
    };
    std::unique_ptr<redisReader, deleter> r_;
    bool failed_ = false;
};

} // namespace wsx::backplane::resp

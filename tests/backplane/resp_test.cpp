// SPDX-License-Identifier: BSL-1.0
// The hiredis handles (include/wsx/backplane/resp.hpp), without a server:
// binary-safe commands, replies fed in pieces, pub/sub pushes, errors, and
// input that is not RESP.
#include <wsx/backplane/resp.hpp>

#include <string>
#include <string_view>

#include "catch.hpp"

namespace resp = wsx::backplane::resp;
using namespace std::string_literals;

TEST_CASE("commands are RESP arrays of bulk strings, binary-safe") {
    std::string out;
    resp::append_command(out, {"PUBLISH", "wsx", "a\0b\r\n"s});
    CHECK(out == "*3\r\n$7\r\nPUBLISH\r\n$3\r\nwsx\r\n$5\r\na\0b\r\n\r\n"s);
    resp::append_command(out, {"PING"});
    CHECK(out.ends_with("*1\r\n$4\r\nPING\r\n"));
    std::string empty;
    resp::append_command(empty, {"AUTH", ""});
    CHECK(empty == "*2\r\n$4\r\nAUTH\r\n$0\r\n\r\n");
}

TEST_CASE("replies fed a byte at a time come out whole, in order") {
    const std::string wire = "+PONG\r\n:3\r\n*3\r\n$7\r\nmessage\r\n$3\r\nwsx\r\n$4\r\nx\0y\n\r\n-ERR nope\r\n"s;
    resp::reader r;
    std::vector<resp::reply_ptr> replies;
    for (char c : wire) {
        r.feed(&c, 1);
        while (auto reply = r.next()) replies.push_back(std::move(reply));
    }
    CHECK_FALSE(r.failed());
    REQUIRE(replies.size() == 4);
    CHECK(replies[0]->type == REDIS_REPLY_STATUS);
    CHECK(resp::text(replies[0].get()) == "PONG");
    CHECK(replies[1]->type == REDIS_REPLY_INTEGER);
    CHECK(replies[1]->integer == 3);
    REQUIRE(resp::is_array(replies[2].get(), 3));
    CHECK(resp::text(replies[2]->element[0]) == "message");
    CHECK(resp::text(replies[2]->element[2]) == "x\0y\n"s);
    CHECK(replies[3]->type == REDIS_REPLY_ERROR);
    CHECK(resp::text(replies[3].get()) == "ERR nope");
    CHECK_FALSE(resp::is_array(replies[0].get()));
}

TEST_CASE("input that is not RESP fails the reader") {
    resp::reader r;
    const std::string junk = "HTTP/1.1 400 Bad Request\r\n";
    r.feed(junk.data(), junk.size());
    CHECK(r.next() == nullptr);
    CHECK(r.failed());
    CHECK_FALSE(r.error().empty());
    // It stays failed.
    r.feed("+OK\r\n", 5);
    CHECK(r.next() == nullptr);
}

TEST_CASE("an incomplete reply waits for more bytes") {
    resp::reader r;
    r.feed("$5\r\nhel", 7);
    CHECK(r.next() == nullptr);
    CHECK_FALSE(r.failed());
    r.feed("lo\r\n", 4);
    auto reply = r.next();
    REQUIRE(reply);
    CHECK(resp::text(reply.get()) == "hello");
}

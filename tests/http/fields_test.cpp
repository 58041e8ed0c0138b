// SPDX-License-Identifier: BSL-1.0
#include "wsx/http/fields.hpp"

#include "catch.hpp"

#include <iterator>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using wsx::http::fields;

static_assert(std::forward_iterator<fields::const_iterator>);

namespace {
std::vector<std::pair<std::string, std::string>> lines(const fields& f) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, value] : f) out.emplace_back(name, value);
    return out;
}
using lines_t = std::vector<std::pair<std::string, std::string>>;
} // namespace

TEST_CASE("iequals compares ASCII case-insensitively", "[http][fields]") {
    CHECK(wsx::http::iequals("Content-Length", "content-length"));
    CHECK(wsx::http::iequals("", ""));
    CHECK_FALSE(wsx::http::iequals("Upgrade", "Upgrad"));
    CHECK_FALSE(wsx::http::iequals("a", "b"));
    CHECK_FALSE(wsx::http::iequals("[", "{")); // '[' + 32 == '{': not letters
}

TEST_CASE("fields: add keeps order and case, lookup ignores case", "[http][fields]") {
    fields f;
    CHECK(f.size() == 0);
    CHECK(f.empty());
    f.add("Host", "example.com");
    f.add("X-Multi", "one");
    f.add("x-multi", "two");
    CHECK(f.size() == 3);
    CHECK(f.get("HOST") == "example.com");
    CHECK(f.get("X-MULTI") == "one");
    CHECK(f.get("Missing") == "");
    CHECK(f.contains("host"));
    CHECK_FALSE(f.contains("hos"));
    CHECK(f.count("X-Multi") == 2);
    CHECK(f.count("Missing") == 0);
    CHECK(lines(f) == lines_t{{"Host", "example.com"}, {"X-Multi", "one"}, {"x-multi", "two"}});
    f.add("Empty", "");
    CHECK(f.contains("Empty"));
    CHECK(f.get("Empty") == "");
}

TEST_CASE("fields: set replaces every line with that name at the first one's place", "[http][fields]") {
    fields f;
    f.add("A", "1");
    f.add("B", "2");
    f.add("a", "3");
    f.add("C", "4");
    f.set("A", "x");
    CHECK(lines(f) == lines_t{{"A", "x"}, {"B", "2"}, {"C", "4"}});
    f.set("D", "5");
    CHECK(lines(f) == lines_t{{"A", "x"}, {"B", "2"}, {"C", "4"}, {"D", "5"}});
    CHECK(f.erase("b") == 1);
    CHECK(f.erase("b") == 0);
    CHECK(lines(f) == lines_t{{"A", "x"}, {"C", "4"}, {"D", "5"}});
}

TEST_CASE("fields: repeated set does not grow without bound and keeps values", "[http][fields]") {
    fields f;
    f.add("Keep", "me");
    for (int i = 0; i < 5000; ++i) f.set("Counter", std::to_string(i) + std::string(100, 'x'));
    CHECK(f.size() == 2);
    CHECK(f.get("Keep") == "me");
    CHECK(f.get("Counter") == "4999" + std::string(100, 'x'));
}

TEST_CASE("fields: has_token reads RFC 7230 §7 lists across lines", "[http][fields]") {
    fields f;
    f.add("Connection", "keep-alive, Upgrade");
    f.add("Upgrade", " websocket ");
    f.add("X-List", "a,,\tb ,c");
    f.add("X-List", "d");
    CHECK(f.has_token("connection", "upgrade"));
    CHECK(f.has_token("Connection", "KEEP-ALIVE"));
    CHECK_FALSE(f.has_token("Connection", "close"));
    CHECK_FALSE(f.has_token("Connection", "Upgrad")); // whole elements only
    CHECK(f.has_token("Upgrade", "WebSocket"));
    CHECK(f.has_token("X-List", "b"));
    CHECK(f.has_token("X-List", "d"));
    CHECK_FALSE(f.has_token("X-List", ""));
    CHECK_FALSE(f.has_token("Missing", "a"));
}

TEST_CASE("fields: names must be tokens and values must not hold control characters", "[http][fields]") {
    fields f;
    CHECK_THROWS_AS(f.add("", "v"), std::invalid_argument);
    CHECK_THROWS_AS(f.add("Bad Name", "v"), std::invalid_argument);
    CHECK_THROWS_AS(f.add("Bad:Name", "v"), std::invalid_argument);
    CHECK_THROWS_AS(f.add("X", "a\r\nInjected: yes"), std::invalid_argument);
    CHECK_THROWS_AS(f.add("X", "a\nb"), std::invalid_argument);
    CHECK_THROWS_AS(f.set("X", std::string("a\0b", 3)), std::invalid_argument);
    CHECK(f.size() == 0);
    f.add("X", "tab\tand obs-text \xE9 are fine");
    CHECK(f.size() == 1);
}

TEST_CASE("fields: copies are independent, clear empties", "[http][fields]") {
    fields f;
    f.add("A", "1");
    fields g = f;
    g.add("B", "2");
    CHECK(f.size() == 1);
    CHECK(g.size() == 2);
    CHECK(g.get("A") == "1");
    g.clear();
    CHECK(g.size() == 0);
    CHECK(g.begin() == g.end());
    CHECK_FALSE(g.contains("A"));
    g.add("C", "3");
    CHECK(lines(g) == lines_t{{"C", "3"}});
}

TEST_CASE("fields: values may be copied from the same object while it grows", "[http][fields]") {
    fields f;
    f.add("Long", std::string(300, 'L'));
    for (int i = 0; i < 20; ++i) f.add("Copy", f.get("Long")); // forces the buffer to grow
    f.set("Long", f.get("Copy"));
    f.add((*f.begin()).name, "same name, from the buffer");
    CHECK(f.count("Copy") == 20);
    for (const auto& [name, value] : f) {
        if (name == "Copy") CHECK(value == std::string(300, 'L'));
    }
    CHECK(f.get("Long") == std::string(300, 'L'));
    CHECK(f.count("Long") == 2);
}

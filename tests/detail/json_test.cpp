// SPDX-License-Identifier: BSL-1.0
#include <wsx/detail/json.hpp>

#include <chrono>
#include <string>

#include <simdjson.h>

#include "catch.hpp"

using wsx::detail::json_string;

TEST_CASE("JSON strings escape exactly what RFC 8259 requires") {
    CHECK(json_string("") == R"("")");
    CHECK(json_string("plain") == R"("plain")");
    CHECK(json_string("a\"b") == R"("a\"b")");
    CHECK(json_string("a\\b") == R"("a\\b")");
    CHECK(json_string("\n\r\t\b\f") == R"("\n\r\t\b\f")");
    CHECK(json_string(std::string("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
    CHECK(json_string("\x7f") == "\"\x7f\"");
    CHECK(json_string("é😀") == "\"é😀\"");  // UTF-8 passes through
    CHECK(json_string("</script>") == R"("</script>")");
}

TEST_CASE("every byte value round-trips through simdjson") {
    std::string all;
    for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
    all += "ü€𝄞";
    simdjson::dom::parser parser;
    const std::string doc = R"({"s":)" + json_string(all) + "}";
    std::string_view back;
    REQUIRE_FALSE(parser.parse(doc)["s"].get(back));
    CHECK(back == all);
}

TEST_CASE("timestamps are ISO 8601 UTC with milliseconds") {
    using namespace std::chrono;
    const system_clock::time_point t{milliseconds(1700000000123)};
    CHECK(wsx::detail::iso8601_utc(t) == "2023-11-14T22:13:20.123Z");
    CHECK(wsx::detail::iso8601_utc(system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
}

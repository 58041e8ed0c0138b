// SPDX-License-Identifier: BSL-1.0
#include "wsx/detail/base64.hpp"

#include "catch.hpp"

#include <string>
#include <vector>

using wsx::detail::base64_decode;
using wsx::detail::base64_encode;

TEST_CASE("base64: RFC 4648 §10 test vectors", "[detail][base64]") {
    const std::pair<const char*, const char*> cases[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : cases) {
        CAPTURE(plain);
        CHECK(base64_encode(std::string_view(plain)) == encoded);
        const auto decoded = base64_decode(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == plain);
        CHECK(wsx::detail::base64_decoded_size(encoded) == std::string_view(plain).size());
    }
}

TEST_CASE("base64: every byte value round-trips, span and string_view overloads agree", "[detail][base64]") {
    std::vector<std::uint8_t> bytes;
    for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::uint8_t>(i));
    const std::string encoded = base64_encode(std::span<const std::uint8_t>(bytes));
    CHECK(encoded.size() == 344);
    CHECK(encoded.substr(0, 40) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd");
    CHECK(encoded.substr(encoded.size() - 4) == "/w==");
    const std::string as_chars(bytes.begin(), bytes.end());
    CHECK(base64_encode(std::string_view(as_chars)) == encoded);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == as_chars);
}

TEST_CASE("base64: strict decoder rejects", "[detail][base64]") {
    const char* bad[] = {
        "Zg",         // padding required
        "Zg=",        // length not a multiple of 4
        "Zm9v\n",     // no whitespace
        " Zm9v",      //
        "Zm9v Yg==",  //
        "Zm9vYg==\r\n",
        "Zh==",       // non-canonical: unused bits set
        "Zm9=",       //
        "=Zm9",       // padding at the front
        "Zg==Zg==",   // padding in the middle
        "Z===",       // three pad characters
        "====",       //
        "Zm9-",       // base64url alphabet is not accepted
        "Zm9_",       //
        "Zm9v\x80\x80\x80\x80",
    };
    for (const char* text : bad) {
        CAPTURE(text);
        CHECK_FALSE(base64_decode(text).has_value());
        CHECK_FALSE(wsx::detail::base64_decoded_size(text).has_value());
    }
}

TEST_CASE("base64: decode into a caller buffer", "[detail][base64]") {
    std::array<std::uint8_t, 16> out{};
    const auto n = wsx::detail::base64_decode_into("AAECAwQFBgcICQoLDA0ODw==", out);
    REQUIRE(n.has_value());
    CHECK(*n == 16);
    for (std::size_t i = 0; i < 16; ++i) CHECK(out[i] == i);
    std::array<std::uint8_t, 2> small{};
    CHECK_FALSE(wsx::detail::base64_decode_into("Zm9v", small).has_value());
    CHECK(wsx::detail::base64_decode_into("Zm8=", small) == std::optional<std::size_t>(2));
    CHECK(small[0] == 'f');
    CHECK(small[1] == 'o');
    CHECK(wsx::detail::base64_encoded_size(0) == 0);
    CHECK(wsx::detail::base64_encoded_size(16) == 24);
    CHECK(wsx::detail::base64_encoded_size(20) == 28);
}

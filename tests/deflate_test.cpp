// SPDX-License-Identifier: BSL-1.0
// wsx/deflate.hpp: the one call that turns permessage-deflate (RFC 7692) on. Without it
// deflate_options has no codec and nothing is offered or accepted; with it the codec is
// zlib's and the preferences given are kept. End-to-end use (a server and a client that
// negotiate and compress) is in tests/deflate/.
#include "wsx/deflate.hpp"

#include "catch.hpp"

#include <cstdint>
#include <span>
#include <string>

TEST_CASE("deflate is off until permessage_deflate() sets the codec") {
    const wsx::deflate_options off{};
    CHECK_FALSE(off.enabled());
    CHECK(off.codec == nullptr);

    const wsx::deflate_options on = wsx::permessage_deflate();
    CHECK(on.enabled());
    CHECK(on.codec == &wsx::protocol::zlib_codec);
    // Only the codec changes: the other settings keep their defaults.
    CHECK(on.threshold == off.threshold);
    CHECK(on.level == off.level);
    CHECK(on.server_max_window_bits == 15);
    CHECK_FALSE(on.server_no_context_takeover);
}

TEST_CASE("permessage_deflate() keeps the preferences it is given") {
    const auto o = wsx::permessage_deflate({.server_no_context_takeover = true,
                                            .client_max_window_bits = 10,
                                            .level = 1,
                                            .threshold = 0});
    CHECK(o.codec == &wsx::protocol::zlib_codec);
    CHECK(o.server_no_context_takeover);
    CHECK_FALSE(o.client_no_context_takeover);
    CHECK(o.client_max_window_bits == 10);
    CHECK(o.level == 1);
    CHECK(o.threshold == 0u);
    const auto p = o.preferences();  // what a server accepts, what a client offers
    CHECK(p.server_no_context_takeover);
    CHECK(p.client_max_window_bits == 10);
}

TEST_CASE("the codec it sets compresses and inflates a message back") {
    const wsx::deflate_options o = wsx::permessage_deflate();
    auto deflater = o.codec->make_deflater({});
    auto inflater = o.codec->make_inflater({});
    REQUIRE(deflater != nullptr);
    REQUIRE(inflater != nullptr);

    std::string message;
    for (int i = 0; i < 200; ++i) message += "a message that repeats itself ";
    std::string compressed;
    deflater->compress(message, compressed);
    CHECK(compressed.size() < message.size() / 10);

    std::string back;
    const std::span<const std::uint8_t> payload{
        reinterpret_cast<const std::uint8_t*>(compressed.data()), compressed.size()};
    REQUIRE(wsx::protocol::inflate_message(*inflater, payload, back, message.size()));
    CHECK(back == message);
}

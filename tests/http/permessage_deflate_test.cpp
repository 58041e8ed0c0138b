// SPDX-License-Identifier: BSL-1.0
#include "wsx/http/permessage_deflate.hpp"

#include "catch.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace wsx::http;

namespace {

fields headers(std::vector<std::string_view> lines) {
    fields h;
    for (std::string_view v : lines) h.add("Sec-WebSocket-Extensions", v);
    return h;
}

// The server's answer to the given request lines: the header value, or "-" for a refusal.
std::string answer(std::vector<std::string_view> lines, const permessage_deflate_preferences& ours = {}) {
    const auto a = negotiate_permessage_deflate(headers(std::move(lines)), ours);
    return a ? a->response : std::string("-");
}

} // namespace

TEST_CASE("parse_extensions: the RFC 6455 9.1 grammar") {
    std::vector<extension> e;
    REQUIRE(parse_extensions(R"(permessage-deflate; client_max_window_bits, foo;a=1;b="x y", , bar)", e) == false);
    CHECK(e.empty()); // "x y" is not a token once unquoted: the whole line is refused
    REQUIRE(parse_extensions(R"(permessage-deflate ;client_max_window_bits , foo; a = 1 ;b="1\0", ,bar)", e));
    REQUIRE(e.size() == 3);
    CHECK(e[0].name == "permessage-deflate");
    REQUIRE(e[0].params.size() == 1);
    CHECK(e[0].params[0].name == "client_max_window_bits");
    CHECK_FALSE(e[0].params[0].has_value);
    CHECK(e[1].name == "foo");
    REQUIRE(e[1].params.size() == 2);
    CHECK(e[1].params[0].value == "1");
    CHECK(e[1].params[1].value == "10"); // quoted-pair unescaped
    CHECK(e[2].name == "bar");
    CHECK(e[2].params.empty());

    for (std::string_view bad : {";x", "a;", "a;=1", "a;b=", "a;b=\"1", "a b", "a;b=1 2", "a,;", "a;b=\"\""}) {
        CAPTURE(bad);
        std::vector<extension> v;
        CHECK_FALSE(parse_extensions(bad, v));
        CHECK(v.empty());
    }
    std::vector<extension> empty;
    CHECK(parse_extensions("", empty));
    CHECK(parse_extensions(" , ,", empty));
    CHECK(empty.empty());
}

TEST_CASE("parse_permessage_deflate: valid and invalid parameters") {
    struct row {
        std::string_view header;
        bool response;
        std::string_view error; // "" when valid
    };
    const row rows[] = {
        {"permessage-deflate", false, ""},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", false, ""},
        {"permessage-deflate; server_max_window_bits=8; client_max_window_bits=15", false, ""},
        {"permessage-deflate; server_max_window_bits=\"10\"", false, ""},
        {"permessage-deflate; client_max_window_bits", false, ""},
        {"permessage-deflate; client_max_window_bits", true, "client_max_window_bits in a response needs a value"},
        {"permessage-deflate; server_max_window_bits", false, "server_max_window_bits needs a value from 8 to 15"},
        {"permessage-deflate; server_max_window_bits=7", false, "server_max_window_bits needs a value from 8 to 15"},
        {"permessage-deflate; server_max_window_bits=16", false, "server_max_window_bits needs a value from 8 to 15"},
        {"permessage-deflate; server_max_window_bits=010", false, "server_max_window_bits needs a value from 8 to 15"},
        {"permessage-deflate; client_max_window_bits=x", false, "client_max_window_bits must be from 8 to 15"},
        {"permessage-deflate; client_max_window_bits=7", false, "client_max_window_bits must be from 8 to 15"},
        {"permessage-deflate; server_no_context_takeover=1", false, "permessage-deflate no_context_takeover takes no value"},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false, "repeated permessage-deflate parameter"},
        {"permessage-deflate; client_max_window_bits; client_max_window_bits=9", false, "repeated permessage-deflate parameter"},
        {"permessage-deflate; server_max_window_bits=9; server_max_window_bits=9", false, "repeated permessage-deflate parameter"},
        {"permessage-deflate; mystery", false, "unknown permessage-deflate parameter"},
    };
    for (const row& r : rows) {
        CAPTURE(r.header, r.response);
        std::vector<extension> e;
        REQUIRE(parse_extensions(r.header, e));
        permessage_deflate_params p;
        CHECK(parse_permessage_deflate(e.at(0), p, r.response) == r.error);
    }
    std::vector<extension> e;
    REQUIRE(parse_extensions("permessage-deflate; server_max_window_bits=10; client_max_window_bits", e));
    permessage_deflate_params p;
    REQUIRE(parse_permessage_deflate(e[0], p, false).empty());
    CHECK(p.server_max_window_bits == 10);
    CHECK(p.has_client_max_window_bits);
    CHECK(p.client_max_window_bits == 0);
}

TEST_CASE("server negotiation: offers -> response header or refusal") {
    const permessage_deflate_preferences defaults{};
    struct row {
        std::vector<std::string_view> request;
        std::string_view response; // "-": no extension accepted
        permessage_deflate_preferences ours{};
    };
    const std::vector<row> rows = {
        {{}, "-"},
        {{"x-webkit-deflate-frame"}, "-"},
        {{"permessage-deflate"}, "permessage-deflate"},
        {{"Permessage-Deflate"}, "permessage-deflate"},
        // What browsers send.
        {{"permessage-deflate; client_max_window_bits"}, "permessage-deflate"},
        {{"permessage-deflate; client_max_window_bits=10"},
         "permessage-deflate; client_max_window_bits=10"},
        {{"permessage-deflate; server_no_context_takeover"},
         "permessage-deflate; server_no_context_takeover"},
        {{"permessage-deflate; client_no_context_takeover"},
         "permessage-deflate; client_no_context_takeover"},
        {{"permessage-deflate; server_max_window_bits=10"},
         "permessage-deflate; server_max_window_bits=10"},
        {{"permessage-deflate; server_max_window_bits=\"12\""},
         "permessage-deflate; server_max_window_bits=12"},
        // 8 cannot be honoured by zlib's compressor: that offer is declined, the next taken.
        {{"permessage-deflate; server_max_window_bits=8"}, "-"},
        {{"permessage-deflate; server_max_window_bits=8, permessage-deflate"}, "permessage-deflate"},
        // Several offers, in one or more lines: the first acceptable one wins.
        {{"permessage-deflate; mystery=1, permessage-deflate; server_no_context_takeover"},
         "permessage-deflate; server_no_context_takeover"},
        {{"foo", "permessage-deflate; server_max_window_bits=7", "permessage-deflate; client_no_context_takeover"},
         "permessage-deflate; client_no_context_takeover"},
        // A malformed line is dropped, the others still count.
        {{"permessage-deflate; server_max_window_bits=\"1", "permessage-deflate; client_max_window_bits"},
         "permessage-deflate"},
        // Invalid offers: declined.
        {{"permessage-deflate; server_max_window_bits"}, "-"},
        {{"permessage-deflate; client_max_window_bits=16"}, "-"},
        {{"permessage-deflate; server_no_context_takeover; server_no_context_takeover"}, "-"},
        {{"permessage-deflate; client_no_context_takeover=yes"}, "-"},
        {{"permessage-deflate; unknown"}, "-"},
        // Our preferences.
        {{"permessage-deflate; client_max_window_bits"},
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=10; client_max_window_bits=11",
         {true, true, 10, 11}},
        {{"permessage-deflate"}, "permessage-deflate; server_max_window_bits=9", {false, false, 9, 9}},
        {{"permessage-deflate; server_max_window_bits=12"}, "permessage-deflate; server_max_window_bits=10",
         {false, false, 10, 15}},
        {{"permessage-deflate; server_max_window_bits=9"}, "permessage-deflate; server_max_window_bits=9",
         {false, false, 12, 15}},
        {{"permessage-deflate; client_max_window_bits=9"}, "permessage-deflate; client_max_window_bits=9",
         {false, false, 15, 12}},
        // Our 8 for the server is raised to 9 (zlib); the client's 8 is fine.
        {{"permessage-deflate; client_max_window_bits"},
         "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8", {false, false, 8, 8}},
    };
    for (const row& r : rows) {
        std::string req;
        for (auto l : r.request) req.append(l).append(" | ");
        CAPTURE(req);
        CHECK(answer(r.request, r.ours) == r.response);
    }
    (void)defaults;
}

TEST_CASE("server negotiation: the agreed configuration, from the server's side") {
    auto a = negotiate_permessage_deflate(
        headers({"permessage-deflate; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=12"}), {});
    REQUIRE(a);
    CHECK(a->config.enabled);
    CHECK(a->config.send_window_bits == 11);
    CHECK(a->config.recv_window_bits == 12);
    CHECK_FALSE(a->config.send_no_context_takeover);
    CHECK(a->config.recv_no_context_takeover);

    // client_max_window_bits not offered: the server may not limit the client.
    a = negotiate_permessage_deflate(headers({"permessage-deflate"}), {.client_max_window_bits = 9});
    REQUIRE(a);
    CHECK(a->response == "permessage-deflate");
    CHECK(a->config.recv_window_bits == 15);
}

TEST_CASE("client offer") {
    CHECK(make_permessage_deflate_offer({}) == "permessage-deflate; client_max_window_bits");
    CHECK(make_permessage_deflate_offer({true, true, 10, 12}) ==
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
          "server_max_window_bits=10; client_max_window_bits=12");
}

TEST_CASE("client check of the response") {
    const permessage_deflate_preferences plain{};
    const permessage_deflate_preferences strict{true, false, 10, 12};
    struct row {
        std::vector<std::string_view> response;
        permessage_deflate_preferences ours;
        std::string_view error; // "" when acceptable
    };
    const std::vector<row> rows = {
        {{}, plain, ""},
        {{"permessage-deflate"}, plain, ""},
        {{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, plain, ""},
        {{"permessage-deflate; server_max_window_bits=9"}, plain, ""},
        {{"permessage-deflate; client_max_window_bits=8"}, plain, ""},
        {{"permessage-deflate; client_max_window_bits"}, plain, "client_max_window_bits in a response needs a value"},
        {{"permessage-deflate; x=1"}, plain, "unknown permessage-deflate parameter"},
        {{"permessage-deflate, permessage-deflate"}, plain, "server accepted more than the one extension offered"},
        {{"permessage-deflate", "permessage-deflate"}, plain, "server accepted more than the one extension offered"},
        {{"foo"}, plain, "server accepted an extension that the client did not offer"},
        {{"permessage-deflate; server_max_window_bits=\""}, plain, "malformed Sec-WebSocket-Extensions in the response"},
        {{"permessage-deflate; server_no_context_takeover; server_max_window_bits=10"}, strict, ""},
        {{"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=12"}, strict, ""},
        {{"permessage-deflate; server_max_window_bits=10"}, strict, "server did not accept server_no_context_takeover"},
        {{"permessage-deflate; server_no_context_takeover"}, strict,
         "server_max_window_bits in the response is missing or above the offer"},
        {{"permessage-deflate; server_no_context_takeover; server_max_window_bits=11"}, strict,
         "server_max_window_bits in the response is missing or above the offer"},
        {{"permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13"}, strict,
         "client_max_window_bits in the response is above the offer"},
    };
    for (const row& r : rows) {
        std::string resp;
        for (auto l : r.response) resp.append(l).append(" | ");
        CAPTURE(resp);
        CHECK(accept_permessage_deflate_response(headers(r.response), r.ours).error == r.error);
    }

    auto c = accept_permessage_deflate_response(headers({}), plain);
    CHECK(c.error.empty());
    CHECK_FALSE(c.config.enabled);

    c = accept_permessage_deflate_response(
        headers({"permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11"}),
        strict);
    REQUIRE(c.error.empty());
    CHECK(c.config.enabled);
    CHECK(c.config.send_window_bits == 11);
    CHECK(c.config.recv_window_bits == 9);
    CHECK(c.config.recv_no_context_takeover);
    CHECK_FALSE(c.config.send_no_context_takeover);

    // client_no_context_takeover from the server binds the client.
    c = accept_permessage_deflate_response(headers({"permessage-deflate; client_no_context_takeover"}), plain);
    CHECK(c.config.send_no_context_takeover);
}

TEST_CASE("a server's answer is accepted by a client that made the offer") {
    const std::vector<permessage_deflate_preferences> prefs = {
        {}, {true, false, 15, 15}, {false, true, 12, 15}, {true, true, 9, 9}, {false, false, 15, 10}};
    for (const auto& client : prefs) {
        for (const auto& server : prefs) {
            const std::string offer = make_permessage_deflate_offer(client);
            CAPTURE(offer);
            const auto a = negotiate_permessage_deflate(headers({offer}), server);
            REQUIRE(a);
            CAPTURE(a->response);
            const auto c = accept_permessage_deflate_response(headers({a->response}), client);
            REQUIRE(c.error.empty());
            // Each side inflates with at least the window the other compresses with.
            CHECK(c.config.send_window_bits <= a->config.recv_window_bits);
            CHECK(a->config.send_window_bits <= c.config.recv_window_bits);
            CHECK(c.config.send_no_context_takeover == a->config.recv_no_context_takeover);
            CHECK(a->config.send_no_context_takeover == c.config.recv_no_context_takeover);
        }
    }
}

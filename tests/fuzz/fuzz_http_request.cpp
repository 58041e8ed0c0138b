// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: wsx::http::request_parser, then the WebSocket handshake checks.
//
// The input is the raw request bytes. It is parsed whole, byte by byte, and in pieces
// whose sizes come from a hash of the input; all three must agree on the status,
// error_status() and error_message(), on how many bytes the message used and, when
// complete, on the parsed message. This is done with the default limits and with small
// limits (so that every limit is reached). A complete request then goes through
// validate_upgrade_request, requested_subprotocols, select_subprotocol,
// negotiate_permessage_deflate (preferences also from the hash), make_upgrade_response
// and serialize, which must not crash.

#include "wsx/http/handshake.hpp"
#include "wsx/http/message.hpp"
#include "wsx/http/parser.hpp"
#include "wsx/http/permessage_deflate.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace wsx::http;

std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 1469598103934665603ull;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

struct outcome {
    parse_status status;
    int error_status;
    std::string error_message;
    std::size_t used;
};

// Feeds `data` in pieces (sizes from `next_size`), each copied into an exact-size heap
// buffer so ASan sees any read past it.
template <class NextSize>
outcome parse_in_pieces(request_parser& p, std::string_view data, NextSize next_size) {
    std::size_t pos = 0;
    while (pos < data.size() && p.status() == parse_status::need_more) {
        std::size_t n = next_size();
        if (n == 0) n = 1;
        if (n > data.size() - pos) n = data.size() - pos;
        std::unique_ptr<char[]> piece(new char[n]);
        std::memcpy(piece.get(), data.data() + pos, n);
        const std::size_t used = p.feed(std::string_view(piece.get(), n));
        FUZZ_CHECK(used <= n);
        // "Incomplete input is consumed whole and kept."
        if (p.status() == parse_status::need_more) FUZZ_CHECK(used == n);
        pos += used;
        if (used < n) break;
    }
    // Once complete or failed, it consumes nothing until reset().
    if (p.status() != parse_status::need_more) FUZZ_CHECK(p.feed("GET / HTTP/1.1\r\n\r\n") == 0);
    return {p.status(), p.error_status(), std::string(p.error_message()), pos};
}

bool same_request(const request& a, const request& b) {
    if (a.method != b.method || a.target != b.target || a.version_minor != b.version_minor ||
        a.body != b.body || a.headers.size() != b.headers.size())
        return false;
    auto ia = a.headers.begin();
    auto ib = b.headers.begin();
    for (; ia != a.headers.end(); ++ia, ++ib) {
        if ((*ia).name != (*ib).name || (*ia).value != (*ib).value) return false;
    }
    return true;
}

void exercise_handshake(const request& r, std::uint64_t h) {
    const handshake_error e = validate_upgrade_request(r);
    FUZZ_CHECK(e.status == 0 || e.status == 400 || e.status == 426);
    if (e) FUZZ_CHECK(!e.what.empty());
    (void)to_string(e);
    (void)r.path();
    (void)r.query();
    (void)r.keep_alive();
    const std::vector<std::string_view> protos = requested_subprotocols(r);
    std::vector<std::string> supported;
    for (std::size_t i = 0; i < protos.size() && i < 3; ++i) supported.emplace_back(protos[i]);
    supported.emplace_back("chat");
    const std::string_view chosen = select_subprotocol(r, supported);

    permessage_deflate_preferences prefs;
    prefs.server_no_context_takeover = (h & 1) != 0;
    prefs.client_no_context_takeover = (h & 2) != 0;
    prefs.server_max_window_bits = static_cast<std::uint8_t>((h >> 2) & 15);
    prefs.client_max_window_bits = static_cast<std::uint8_t>((h >> 6) & 15);
    const auto agreed = negotiate_permessage_deflate(r.headers, prefs);
    if (agreed) {
        FUZZ_CHECK(agreed->config.enabled);
        FUZZ_CHECK(agreed->config.send_window_bits >= 9 && agreed->config.send_window_bits <= 15);
        FUZZ_CHECK(agreed->config.recv_window_bits >= 8 && agreed->config.recv_window_bits <= 15);
        // Our answer must itself be a well-formed extension list naming permessage-deflate.
        std::vector<extension> exts;
        FUZZ_CHECK(parse_extensions(agreed->response, exts));
        FUZZ_CHECK(exts.size() == 1 && exts[0].name == permessage_deflate_name);
    }
    if (!e) {
        const response res = make_upgrade_response(r, chosen, agreed ? std::string_view(agreed->response)
                                                                     : std::string_view{});
        FUZZ_CHECK(res.status == 101);
        std::string out;
        serialize(res, out);
    } else {
        const response res = make_error_response(e.status, e.what);
        std::string out;
        serialize(res, out);
    }
}

void run(std::string_view data, const parser_limits& limits) {
    const std::uint64_t h = fnv1a(data);

    request_parser whole(limits);
    const outcome w = parse_in_pieces(whole, data, [&] { return data.size(); });

    request_parser bytewise(limits);
    const outcome b = parse_in_pieces(bytewise, data, [] { return std::size_t{1}; });

    request_parser pieces(limits);
    std::uint64_t state = h | 1;
    const outcome p = parse_in_pieces(pieces, data, [&] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<std::size_t>(1 + state % ((state >> 40) % 3 == 0 ? 4 : 97));
    });

    for (const outcome* o : {&b, &p}) {
        FUZZ_CHECK(o->status == w.status);
        FUZZ_CHECK(o->error_status == w.error_status);
        FUZZ_CHECK(o->error_message == w.error_message);
    }
    if (w.status == parse_status::error) {
        FUZZ_CHECK(w.error_status != 0 && !w.error_message.empty());
        return;
    }
    FUZZ_CHECK(w.error_status == 0 && w.error_message.empty());
    if (w.status != parse_status::complete) return;
    FUZZ_CHECK(b.used == w.used && p.used == w.used);
    FUZZ_CHECK(same_request(whole.get(), bytewise.get()));
    FUZZ_CHECK(same_request(whole.get(), pieces.get()));
    FUZZ_CHECK(whole.get().body.size() <= limits.max_body_size);
    FUZZ_CHECK(whole.get().headers.size() <= limits.max_header_count);
    exercise_handshake(whole.get(), h);

    // A reset parser reused for the same bytes gives the same message.
    whole.reset();
    FUZZ_CHECK(whole.feed(data) == w.used);
    FUZZ_CHECK(whole.status() == parse_status::complete);
    FUZZ_CHECK(same_request(whole.get(), pieces.get()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    run(in, parser_limits{});
    parser_limits small;
    small.max_start_line = 48;
    small.max_header_bytes = 200;
    small.max_header_count = 6;
    small.max_body_size = 40;
    run(in, small);
    return 0;
}

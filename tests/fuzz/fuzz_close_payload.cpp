// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: wsx::protocol::parse_close_payload and encode_close_payload.
//
//  - The input, as a Close frame body, is parsed (copied to an exact-size heap buffer).
//    A successful parse, re-encoded with encode_close_payload, must parse to the same
//    code and reason (no_status re-encodes as the empty body).
//  - The input is also read as a code (2 bytes, big-endian) and a reason (the rest); when
//    the reason is UTF-8, encoding must give a body that parses, with the same code when
//    the code may be sent, and the reason cut at a code point boundary to at most
//    max_close_reason_size bytes.

#include "wsx/protocol/close_code.hpp"
#include "wsx/protocol/utf8.hpp"

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace {

using namespace wsx;
using namespace wsx::protocol;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
    if (size != 0) std::memcpy(copy.get(), data, size);
    const std::string_view in(copy.get(), size);

    // 1. Parse, re-encode, parse again.
    const close_payload_result r = parse_close_payload(in);
    if (r.ok) {
        FUZZ_CHECK(r.what.empty());
        FUZZ_CHECK(is_valid_utf8(r.reason));
        FUZZ_CHECK(r.reason.size() <= max_close_reason_size);
        if (r.code == close_code::no_status) FUZZ_CHECK(in.empty() && r.reason.empty());
        std::uint8_t out[max_close_payload_size];
        const std::size_t n = encode_close_payload(r.code, r.reason, out);
        FUZZ_CHECK(n <= max_close_payload_size);
        const close_payload_result r2 =
            parse_close_payload(std::string_view(reinterpret_cast<const char*>(out), n));
        FUZZ_CHECK(r2.ok);
        FUZZ_CHECK(r2.code == r.code);
        FUZZ_CHECK(r2.reason == r.reason);
        if (!in.empty()) FUZZ_CHECK(n == in.size() && std::memcmp(out, in.data(), n) == 0);
        (void)to_string(r.code);
    } else {
        FUZZ_CHECK(!r.what.empty());
        FUZZ_CHECK(r.error == close_code::protocol_error || r.error == close_code::invalid_payload);
    }

    // 2. Encode an arbitrary code and reason, then parse.
    if (size >= 2) {
        const auto raw = static_cast<std::uint16_t>((data[0] << 8) | data[1]);
        const std::string_view reason = in.substr(2);
        const std::size_t cut = utf8_truncated_size(reason, max_close_reason_size);
        FUZZ_CHECK(cut <= reason.size() && cut <= max_close_reason_size);
        if (reason.size() <= max_close_reason_size) FUZZ_CHECK(cut == reason.size());
        if (is_valid_utf8(reason)) {
            FUZZ_CHECK(is_valid_utf8(reason.substr(0, cut)));
            // The cut never drops more than one code point (at most 3 bytes).
            if (reason.size() > max_close_reason_size) FUZZ_CHECK(cut + 3 >= max_close_reason_size);
            std::uint8_t out[max_close_payload_size];
            const auto code = static_cast<close_code>(raw);
            const std::size_t n = encode_close_payload(code, reason, out);
            FUZZ_CHECK(n <= max_close_payload_size);
            const close_payload_result r2 =
                parse_close_payload(std::string_view(reinterpret_cast<const char*>(out), n));
            FUZZ_CHECK(r2.ok);
            if (is_valid_wire_close_code(raw)) {
                FUZZ_CHECK(r2.code == code);
                FUZZ_CHECK(r2.reason == reason.substr(0, cut));
            } else {
                FUZZ_CHECK(n == 0 && r2.code == close_code::no_status);
            }
        }
    }
    return 0;
}

// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: the Redis backplane's envelope codec (wsx/backplane/envelope.hpp),
// which decodes whatever anyone publishes on the cluster's channel.
//
//  - The input, as a channel message, is decoded (from an exact-size heap copy, so a
//    read past the end is caught). A success must view only the input's bytes, keep the
//    heartbeat's shape, and encode back to exactly the input: the format has one
//    encoding per envelope, so anything else accepted would be a second meaning.
//    A failure must name its error.
//  - The input is also read as the fields of an envelope (kind, opcode, and an origin,
//    target and payload cut from the rest); one that may be encoded must decode to the
//    same fields, and every strict prefix of its encoding must be refused as truncated.

#include "wsx/backplane/envelope.hpp"

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace wsx;
using namespace wsx::backplane;

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void decode_as_channel_message(std::string_view in) {
    envelope e;
    const envelope_error err = decode_envelope(in, e);
    if (err != envelope_error::none) {
        FUZZ_CHECK(!to_string(err).empty());
        return;
    }
    FUZZ_CHECK(!e.origin.empty() && e.origin.size() <= max_origin_size);
    FUZZ_CHECK(inside(e.origin, in) && inside(e.target, in) && inside(e.payload, in));
    if (e.kind == envelope_kind::heartbeat) {
        FUZZ_CHECK(e.payload.size() == 8 && e.target.empty());
    } else {
        FUZZ_CHECK(e.type == opcode::text || e.type == opcode::binary);
    }
    FUZZ_CHECK(encoded_size(e) == in.size());
    const std::string again = encode_envelope(e);
    FUZZ_CHECK(again == in);
}

void encode_from_fields(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return;
    const auto kind = static_cast<envelope_kind>(1 + data[0] % 6);
    const opcode type = (data[1] & 1) ? opcode::binary : opcode::text;
    const std::string_view rest(reinterpret_cast<const char*>(data + 4), size - 4);
    const std::size_t origin_size = std::min<std::size_t>(1 + data[2] % max_origin_size, rest.size());
    const std::size_t target_size = std::min<std::size_t>(data[3], rest.size() - origin_size);
    if (origin_size == 0) return;
    const std::string_view origin = rest.substr(0, origin_size);
    const std::string_view target = rest.substr(origin_size, target_size);
    const std::string_view payload = rest.substr(origin_size + target_size);
    std::uint64_t sequence = 0;
    for (std::size_t i = 0; i < 8 && i < payload.size(); ++i)
        sequence = (sequence << 8) | static_cast<unsigned char>(payload[i]);

    std::string heartbeat_payload;
    envelope sent;
    if (kind == envelope_kind::heartbeat) {
        sent = make_heartbeat(origin, sequence, heartbeat_payload, payload.size());
    } else {
        sent = envelope{kind, type, origin, sequence, target, payload};
    }
    const std::string wire = encode_envelope(sent);
    FUZZ_CHECK(wire.size() == encoded_size(sent));

    envelope got;
    FUZZ_CHECK(decode_envelope(wire, got) == envelope_error::none);
    FUZZ_CHECK(got.kind == sent.kind);
    FUZZ_CHECK(got.origin == sent.origin);
    FUZZ_CHECK(got.sequence == sent.sequence);
    FUZZ_CHECK(got.target == sent.target);
    FUZZ_CHECK(got.payload == sent.payload);
    if (kind == envelope_kind::heartbeat) {
        FUZZ_CHECK(heartbeat_connections(got) == payload.size());
    } else {
        FUZZ_CHECK(got.type == sent.type);
    }

    // Cut anywhere, it is refused, and as short rather than as anything else.
    // Every cut for small envelopes; about 64 spread over a large one.
    const std::size_t step = wire.size() <= 256 ? 1 : wire.size() / 64;
    for (std::size_t cut = 0; cut < wire.size(); cut += step) {
        const std::unique_ptr<char[]> prefix(new char[cut == 0 ? 1 : cut]);
        std::memcpy(prefix.get(), wire.data(), cut);
        envelope partial;
        FUZZ_CHECK(decode_envelope(std::string_view(prefix.get(), cut), partial) == envelope_error::truncated);
    }
    // One byte more is refused too.
    envelope longer;
    FUZZ_CHECK(decode_envelope(wire + '\0', longer) == envelope_error::trailing_bytes);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::unique_ptr<char[]> copy(new char[size == 0 ? 1 : size]);
    if (size != 0) std::memcpy(copy.get(), data, size);
    decode_as_channel_message(std::string_view(copy.get(), size));
    encode_from_fields(data, size);
    return 0;
}

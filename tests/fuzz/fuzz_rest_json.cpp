// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: wsx::detail::read_message (the JSON body reader of the REST admin API,
// simdjson) on an http::request whose body is the input.
//
// Checks: it returns true only with a non-empty message (which must be valid UTF-8, as
// simdjson validates its input) and leaves the response alone; on false, the response is a
// 400 or 413 whose body is a JSON object {"error":"..."} that simdjson parses back (so
// json_error's escaping is exercised). Done with the default limit and with a small one.

#include <wsx/rest.hpp>
#include <wsx/protocol/utf8.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace {

void run(const wsx::http::request& req, std::size_t limit) {
    wsx::http::response res;
    std::string message;
    const bool ok = wsx::detail::read_message(req, res, limit, message);
    if (ok) {
        FUZZ_CHECK(!message.empty());
        FUZZ_CHECK(wsx::protocol::is_valid_utf8(message));
        FUZZ_CHECK(req.body.size() <= limit);
        FUZZ_CHECK(res.status == 200 && res.body.empty());
        return;
    }
    FUZZ_CHECK(res.status == 400 || res.status == 413);
    if (res.status == 413) FUZZ_CHECK(req.body.size() > limit);
    FUZZ_CHECK(res.headers.get("Content-Type") == "application/json");
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    FUZZ_CHECK(!p.parse(res.body).get(doc));
    std::string_view what;
    FUZZ_CHECK(!doc["error"].get(what));
    FUZZ_CHECK(!what.empty());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wsx::http::request req;
    req.method = "POST";
    req.target = "/api/connections/broadcast";
    req.body.assign(reinterpret_cast<const char*>(data), size);
    run(req, wsx::rest_options{}.max_body_size);
    run(req, 16);
    return 0;
}

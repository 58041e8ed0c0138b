// SPDX-License-Identifier: BSL-1.0
#pragma once
// A blocking HTTP/1.1 client for the REST tests, over one keep-alive loopback
// connection (tests/support/loopback_client.hpp does the socket work and the
// response parsing; this only writes requests with bodies and credentials).
//
// Every call has a timeout, so a server that does not answer fails the test
// instead of hanging it. One client per thread, like loopback_client.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <simdjson.h>

#include <wsx/http/message.hpp>

#include "catch.hpp"
#include "loopback_client.hpp"

namespace wsx::test {

// A request with Host, Content-Length (whenever a body is given or the method
// usually carries one), Content-Type for bodies, and `extra_headers` (each line
// ending in \r\n).
inline std::string http_request(std::string_view method, std::string_view target, std::string_view body = {},
                                std::string_view extra_headers = {},
                                std::string_view content_type = "application/json") {
    std::string s{method};
    s.append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        if (!body.empty() && !content_type.empty()) s.append("Content-Type: ").append(content_type).append("\r\n");
        s.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    }
    s.append(extra_headers).append("\r\n").append(body);
    return s;
}

class rest_client {
public:
    // Connects to 127.0.0.1:port. A non-empty `token` is sent with every
    // request as "Authorization: Bearer <token>".
    explicit rest_client(std::uint16_t port, std::string token = {}) : http_(port), token_(std::move(token)) {}

    std::optional<http::response> get(std::string_view target) { return call("GET", target); }
    std::optional<http::response> post(std::string_view target, std::string_view body) {
        return call("POST", target, body);
    }
    std::optional<http::response> del(std::string_view target) { return call("DELETE", target); }

    std::optional<http::response> call(std::string_view method, std::string_view target, std::string_view body = {},
                                       std::string_view extra_headers = {},
                                       std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
        std::string headers{extra_headers};
        if (!token_.empty()) headers += "Authorization: Bearer " + token_ + "\r\n";
        if (method == "HEAD") {
            if (http_.send_raw(http_request(method, target, body, headers))) return std::nullopt;
            return http_.read_response_head(timeout);
        }
        return http_.request(http_request(method, target, body, headers), timeout);
    }

    // The connection underneath (to check it stayed open, or send raw bytes).
    loopback_client& connection() noexcept { return http_; }

private:
    loopback_client http_;
    std::string token_;
};

// A parsed JSON answer; the parser owns the memory the elements point into.
struct json_doc {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
};

inline std::unique_ptr<json_doc> parse_json(const std::string& text) {
    auto doc = std::make_unique<json_doc>();
    INFO("JSON: " << text);
    REQUIRE(doc->parser.parse(text).get(doc->root) == simdjson::SUCCESS);
    return doc;
}

// A field of a JSON object that must be there with this type.
inline std::string string_field(simdjson::dom::element e, std::string_view key) {
    std::string_view v;
    INFO("field " << key);
    REQUIRE(e[key].get(v) == simdjson::SUCCESS);
    return std::string{v};
}

inline std::uint64_t uint_field(simdjson::dom::element e, std::string_view key) {
    std::uint64_t v = 0;
    INFO("field " << key);
    REQUIRE(e[key].get(v) == simdjson::SUCCESS);
    return v;
}

} // namespace wsx::test

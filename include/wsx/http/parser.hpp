// SPDX-License-Identifier: BSL-1.0
#pragma once
// Incremental HTTP/1.1 message parsers (RFC 7230 §3), sans-I/O: feed them bytes as they
// arrive, in pieces of any size, and they say how many bytes the message used.
//
// Cost model: every byte is examined a bounded number of times however the input is
// split (a partial line is kept and only the new bytes are searched for its end), and a
// reused parser (reset() on a keep-alive connection) allocates nothing in the steady
// state. Every limit is checked as bytes arrive, so a peer trickling an endless line is
// refused as soon as it passes the limit.

#include "wsx/http/fields.hpp"
#include "wsx/http/message.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

namespace wsx::http {

struct parser_limits {
    // Request line or status line, without its line ending. A request line over it gets
    // 414 URI Too Long (RFC 7231 §6.5.12), or 400 if even the method never ended. Also
    // bounds each chunk-size line of a chunked body.
    std::size_t max_start_line = 8 * 1024;
    // The header section (every header line with its line ending), and the trailer
    // section of a chunked body. Over it: 431 (RFC 6585 §5).
    std::size_t max_header_bytes = 16 * 1024;
    // Header lines in one message. Over it: 431.
    std::size_t max_header_count = 100;
    // Content-Length, or the decoded size of a chunked body. Over it: 413 (RFC 7231 §6.5.11).
    std::size_t max_body_size = 1024 * 1024;
};

enum class parse_status : std::uint8_t { need_more, complete, error };

namespace detail {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// HTTP-version of RFC 7230 §2.6 ("HTTP/" DIGIT "." DIGIT, case-sensitive). Returns 0 and
// sets `minor` for HTTP/1.x, 505 for another well-formed major version, 400 otherwise.
constexpr int parse_http_version(std::string_view v, int& minor) noexcept {
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' ||
        !is_digit(v[7]))
        return 400;
    if (v[5] != '1') return 505;
    minor = v[7] - '0';
    return 0;
}

// Shared machinery of request_parser and response_parser; only the start line and the
// rules that decide the body length differ (RFC 7230 §3.3.3).
template <class Message>
class basic_parser {
    static constexpr bool is_request = std::is_same_v<Message, request>;

public:
    explicit basic_parser(parser_limits limits) : limits_(limits) {}

    // Consumes bytes up to the end of one message and returns how many it used. Bytes
    // after the message are not consumed: they belong to the next request or, after an
    // upgrade, to the WebSocket stream. Incomplete input is consumed whole and kept.
    // Once the status is complete or error, it consumes nothing until reset(). After an
    // error, the count returned and the partial message are unspecified: answer (a
    // request) with error_status() and close, since the framing is lost.
    std::size_t feed(std::string_view data) {
        std::size_t pos = 0;
        while (true) {
            switch (state_) {
            case state::start_line:
                if (!on_start_line(data, pos)) return pos;
                break;
            case state::headers:
                if (!on_header_line(data, pos)) return pos;
                break;
            case state::body_length:
                if (!on_body_bytes(data, pos)) return pos;
                break;
            case state::chunk_size:
                if (!on_chunk_size(data, pos)) return pos;
                break;
            case state::chunk_data:
                if (!on_chunk_data(data, pos)) return pos;
                break;
            case state::chunk_data_end:
                if (!on_chunk_data_end(data, pos)) return pos;
                break;
            case state::trailers:
                if (!on_trailer_line(data, pos)) return pos;
                break;
            case state::body_until_close:
                on_body_until_close(data, pos);
                return pos;
            case state::done:
            case state::failed:
                return pos;
            }
        }
    }

    parse_status status() const noexcept {
        if (state_ == state::done) return parse_status::complete;
        if (state_ == state::failed) return parse_status::error;
        return parse_status::need_more;
    }

    // The header section is complete and body bytes are still expected: the moment a
    // server answers "Expect: 100-continue" (RFC 7231 §5.1.1).
    bool awaiting_body() const noexcept {
        return state_ != state::start_line && state_ != state::headers && state_ != state::done &&
               state_ != state::failed;
    }

    // Says what was wrong with the input ("header line without a colon", ...); "" unless
    // status() is error.
    std::string_view error_message() const noexcept { return error_message_; }

    Message& get() noexcept { return msg_; }
    const Message& get() const noexcept { return msg_; }

    // Prepares for the next message on the same connection; keeps allocated capacity.
    void reset() {
        state_ = state::start_line;
        msg_.version_minor = 1;
        if constexpr (is_request) {
            msg_.method.clear();
            msg_.target.clear();
        } else {
            msg_.status = 200;
            msg_.reason.clear();
        }
        msg_.headers.clear();
        msg_.body.clear();
        line_buf_.clear();
        start_bytes_ = 0;
        header_bytes_ = 0;
        remaining_ = 0;
        error_status_ = 0;
        error_message_ = {};
    }

protected:
    enum class state : std::uint8_t {
        start_line,
        headers,
        body_length,      // Content-Length body, remaining_ bytes to go
        chunk_size,       // RFC 7230 §4.1 chunk-size [ chunk-ext ] CRLF
        chunk_data,       // remaining_ bytes of the current chunk
        chunk_data_end,   // the CRLF after chunk-data
        trailers,         // trailer-part, skipped, then the final CRLF
        body_until_close, // response without framing: the body ends when the peer closes
        done,
        failed,
    };

    bool fail(int status, std::string_view message) noexcept {
        state_ = state::failed;
        error_status_ = status;
        error_message_ = message;
        return false;
    }

    // Called when the peer closed the connection (response_parser::feed_eof).
    parse_status on_eof() noexcept {
        if (state_ == state::body_until_close) {
            state_ = state::done; // RFC 7230 §3.3.3 rule 7
        } else if (state_ != state::done && state_ != state::failed) {
            fail(400, "connection closed before the end of the message");
        }
        return status();
    }

    parser_limits limits_;
    Message msg_;
    state state_ = state::start_line;
    int error_status_ = 0;
    std::string_view error_message_;

private:
    enum class line_status : std::uint8_t { complete, partial, too_long };

    // Finds the end of the current line, searching only bytes not searched before.
    // `max` bounds the line without its terminator (LF or CRLF: bare LF is accepted as
    // RFC 7230 §3.5 allows). On complete, `line` is the line without its terminator
    // (a view of `data` or of line_buf_, valid until line_buf_ changes) and `raw` its
    // size with the terminator. On partial, the rest of `data` is kept in line_buf_.
    line_status take_line(std::string_view data, std::size_t& pos, std::size_t max,
                          std::string_view& line, std::size_t& raw) {
        const char* begin = data.data() + pos;
        const std::size_t avail = data.size() - pos;
        const void* nl = avail == 0 ? nullptr : std::memchr(begin, '\n', avail);
        if (nl == nullptr) {
            const std::size_t total = line_buf_.size() + avail;
            const char last = avail != 0 ? begin[avail - 1] : (line_buf_.empty() ? '\0' : line_buf_.back());
            // A trailing CR may be the first half of the terminator: not counted yet.
            if (total - (last == '\r' ? 1 : 0) > max) return line_status::too_long;
            line_buf_.append(begin, avail);
            pos = data.size();
            return line_status::partial;
        }
        const auto n = static_cast<std::size_t>(static_cast<const char*>(nl) - begin);
        const std::size_t total = line_buf_.size() + n;
        const char last = n != 0 ? begin[n - 1] : (line_buf_.empty() ? '\0' : line_buf_.back());
        const bool crlf = last == '\r';
        if (total - (crlf ? 1 : 0) > max) return line_status::too_long;
        if (line_buf_.empty()) {
            line = std::string_view(begin, n);
        } else {
            line_buf_.append(begin, n);
            line = line_buf_;
        }
        if (crlf) line.remove_suffix(1);
        raw = total + 1;
        pos += n + 1;
        return line_status::complete;
    }

    // Each on_* handler returns false when feed() must stop: input exhausted, message
    // complete, or error.

    bool on_start_line(std::string_view data, std::size_t& pos) {
        std::string_view line;
        std::size_t raw = 0;
        const std::size_t budget = limits_.max_start_line - std::min(start_bytes_, limits_.max_start_line);
        switch (take_line(data, pos, budget, line, raw)) {
        case line_status::partial:
            return false;
        case line_status::too_long: {
            const bool ok = start_line_too_long(data.substr(pos), budget);
            pos = data.size();
            return ok;
        }
        case line_status::complete:
            break;
        }
        if (line.empty()) {
            // RFC 7230 §3.5: ignore empty lines before the start line (some clients send
            // a CRLF after a POST body). They count against the start-line limit.
            start_bytes_ += raw;
            line_buf_.clear();
            if (start_bytes_ > limits_.max_start_line)
                return fail(400, "too many empty lines before the start line");
            return true;
        }
        const bool ok = parse_start_line(line);
        line_buf_.clear();
        if (!ok) return false;
        state_ = state::headers;
        return true;
    }

    // `rest` is the unconsumed input, which continues the line kept in line_buf_;
    // `budget` is what the line was allowed. Only the line's first `budget` bytes
    // decide the answer, so it is the same however the bytes were split.
    bool start_line_too_long([[maybe_unused]] std::string_view rest,
                             [[maybe_unused]] std::size_t budget) {
        if constexpr (is_request) {
            // If the method ended within the limit, the target is what is too long.
            const std::size_t kept = std::min(line_buf_.size(), budget);
            std::string_view seen = rest.substr(0, budget - kept);
            seen = seen.substr(0, seen.find('\n'));
            const bool past_method = std::string_view{line_buf_}.substr(0, kept).find(' ') !=
                                         std::string_view::npos ||
                                     seen.find(' ') != std::string_view::npos;
            return past_method ? fail(414, "request line too long (request target too long)")
                               : fail(400, "request method too long");
        } else {
            return fail(400, "status line too long");
        }
    }

    bool parse_start_line(std::string_view line) {
        if constexpr (is_request) {
            // RFC 7230 §3.1.1: method SP request-target SP HTTP-version
            const auto sp1 = line.find(' ');
            const auto sp2 = line.rfind(' ');
            if (sp1 == std::string_view::npos || sp1 == sp2)
                return fail(400, "request line is not METHOD SP target SP HTTP-version");
            const std::string_view method = line.substr(0, sp1);
            const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
            const std::string_view version = line.substr(sp2 + 1);
            if (!is_token(method)) return fail(400, "request method is not a token");
            if (target.empty()) return fail(400, "empty request target");
            for (char c : target) {
                const auto u = static_cast<unsigned char>(c);
                if (u <= 0x20 || u == 0x7F)
                    return fail(400, "request target contains a space or a control character");
            }
            int minor = 1;
            switch (parse_http_version(version, minor)) {
            case 0:
                break;
            case 505:
                return fail(505, "HTTP version not supported (only HTTP/1.x)");
            default:
                return fail(400, "malformed HTTP version in the request line");
            }
            msg_.method.assign(method);
            msg_.target.assign(target);
            msg_.version_minor = minor;
            return true;
        } else {
            // RFC 7230 §3.1.2: HTTP-version SP status-code SP reason-phrase. A missing
            // SP before an empty reason is tolerated (servers in the wild omit it).
            int minor = 1;
            switch (parse_http_version(line.substr(0, 8), minor)) {
            case 0:
                break;
            case 505:
                return fail(505, "HTTP version not supported (only HTTP/1.x)");
            default:
                return fail(400, "malformed HTTP version in the status line");
            }
            if (line.size() < 12 || line[8] != ' ' || !is_digit(line[9]) || !is_digit(line[10]) ||
                !is_digit(line[11]) || line[9] == '0')
                return fail(400, "status line has no three-digit status code");
            if (line.size() > 12 && line[12] != ' ')
                return fail(400, "status code not followed by a space");
            const std::string_view reason = line.size() > 13 ? line.substr(13) : std::string_view{};
            for (char c : reason)
                if (!is_field_value_char(c))
                    return fail(400, "reason phrase contains a control character");
            msg_.version_minor = minor;
            msg_.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
            msg_.reason.assign(reason);
            return true;
        }
    }

    // One line of the header (or trailer) section, within what is left of the
    // section's byte limit. False when feed() must stop: input exhausted, or
    // the limit passed (431 with `too_large`).
    bool take_section_line(std::string_view data, std::size_t& pos, std::string_view& line,
                           const char* too_large) {
        std::size_t raw = 0;
        switch (take_line(data, pos, limits_.max_header_bytes - std::min(header_bytes_, limits_.max_header_bytes),
                          line, raw)) {
        case line_status::partial:
            return false;
        case line_status::too_long:
            pos = data.size();
            return fail(431, too_large);
        case line_status::complete:
            break;
        }
        header_bytes_ += raw;
        return true;
    }

    bool on_header_line(std::string_view data, std::size_t& pos) {
        std::string_view line;
        if (!take_section_line(data, pos, line, "header section too large")) return false;
        if (line.empty()) {
            line_buf_.clear();
            return on_headers_complete();
        }
        const bool ok = parse_header_line(line);
        line_buf_.clear();
        return ok;
    }

    // RFC 7230 §3.2: field-name ":" OWS field-value OWS
    bool parse_header_line(std::string_view line) {
        // §3.2.4: obs-fold is rejected with 400 (we are not a user agent that could
        // rewrite it), and so is whitespace before the first header (§3).
        if (is_ows(line.front())) return fail(400, "obsolete line folding (header line starts with whitespace)");
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return fail(400, "header line without a colon");
        const std::string_view name = line.substr(0, colon);
        if (name.empty()) return fail(400, "empty header name");
        // §3.2.4: "No whitespace is allowed between the header field-name and colon"
        // (a smuggling vector, hence 400 rather than trimming).
        if (is_ows(name.back())) return fail(400, "whitespace between header name and colon");
        if (!is_token(name)) return fail(400, "header name is not a token");
        const std::string_view value = trim_ows(line.substr(colon + 1));
        for (char c : value)
            if (!is_field_value_char(c)) return fail(400, "header value contains a control character");
        if (msg_.headers.size() >= limits_.max_header_count) return fail(431, "too many header lines");
        msg_.headers.append(name, value);
        return true;
    }

    // RFC 7230 §3.3.3: decides how the body is delimited.
    bool on_headers_complete() {
        if constexpr (!is_request) {
            // Rule 1: no body, whatever the headers say (101 is followed by WebSocket bytes).
            if (status_has_no_body(msg_.status)) return finish();
        }
        const fields& h = msg_.headers;
        if (h.contains("Transfer-Encoding")) {
            // Rule 3: both framings at once is the classic request-smuggling vector.
            if (h.contains("Content-Length"))
                return fail(400, "both Content-Length and Transfer-Encoding");
            // RFC 7230 §3.3.1 / RFC 9112 §6.1: HTTP/1.0 has no transfer codings.
            if (msg_.version_minor == 0) return fail(400, "Transfer-Encoding in an HTTP/1.0 message");
            std::size_t codings = 0;
            bool chunked = false;
            for (const auto& f : h) {
                if (!iequals(f.name, "Transfer-Encoding")) continue;
                std::string_view list = f.value;
                while (!list.empty()) {
                    const std::string_view coding = next_list_element(list);
                    if (coding.empty()) continue;
                    ++codings;
                    if (!iequals(coding, "chunked"))
                        return fail(501, "unsupported Transfer-Encoding (only chunked)");
                    if (chunked) return fail(400, "chunked applied more than once");
                    chunked = true;
                }
            }
            if (codings == 0) return fail(400, "empty Transfer-Encoding");
            state_ = state::chunk_size;
            return true;
        }
        if (h.contains("Content-Length")) {
            std::size_t length = 0;
            if (!parse_content_length(length)) return false;
            if (length > limits_.max_body_size) return fail(413, "body larger than the limit");
            if (length == 0) return finish();
            // Reserve at most 64 KiB up front: a peer must not make us allocate the whole
            // limit by merely announcing a length.
            msg_.body.reserve(std::min<std::size_t>(length, 64 * 1024));
            remaining_ = length;
            state_ = state::body_length;
            return true;
        }
        if constexpr (is_request) {
            return finish(); // rule 6: no framing, no body
        } else {
            state_ = state::body_until_close; // rule 7
            return true;
        }
    }

    // RFC 7230 §3.3.2: 1*DIGIT; repeated lines or a list of identical values are
    // accepted as one value, anything else is an error.
    bool parse_content_length(std::size_t& length) {
        std::string_view first;
        bool have_first = false;
        for (const auto& f : msg_.headers) {
            if (!iequals(f.name, "Content-Length")) continue;
            // Not a general §7 list: an empty element ("3,") is an error here.
            std::string_view rest = f.value;
            while (true) {
                const auto comma = rest.find(',');
                std::string_view v = trim_ows(rest.substr(0, comma));
                rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                if (v.empty()) return fail(400, "invalid Content-Length");
                for (char c : v)
                    if (!is_digit(c)) return fail(400, "invalid Content-Length");
                while (v.size() > 1 && v.front() == '0') v.remove_prefix(1);
                if (!have_first) {
                    first = v;
                    have_first = true;
                } else if (v != first) {
                    return fail(400, "conflicting Content-Length values");
                }
                if (comma == std::string_view::npos) break;
            }
        }
        // Saturate instead of overflowing: a huge value is still well-formed, and the
        // caller refuses it with 413.
        constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
        length = 0;
        for (char c : first) {
            if (length > (max - 9) / 10) {
                length = max;
                break;
            }
            length = length * 10 + static_cast<std::size_t>(c - '0');
        }
        return true;
    }

    bool on_body_bytes(std::string_view data, std::size_t& pos) {
        const std::size_t take = std::min(remaining_, data.size() - pos);
        msg_.body.append(data.data() + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) return finish();
        return false; // input exhausted
    }

    // RFC 7230 §4.1: chunk-size [ chunk-ext ] CRLF. Extensions are ignored.
    bool on_chunk_size(std::string_view data, std::size_t& pos) {
        std::string_view line;
        std::size_t raw = 0;
        switch (take_line(data, pos, limits_.max_start_line, line, raw)) {
        case line_status::partial:
            return false;
        case line_status::too_long:
            pos = data.size();
            return fail(400, "chunk size line too long");
        case line_status::complete:
            break;
        }
        std::size_t size = 0;
        std::size_t i = 0;
        const std::size_t room = limits_.max_body_size - msg_.body.size();
        for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
            // size > room / 16 already means size * 16 > room; checking first avoids overflow.
            const bool too_big = size > (room >> 4);
            if (!too_big) size = size * 16 + static_cast<std::size_t>(hex_value(line[i]));
            if (too_big || size > room) {
                line_buf_.clear();
                return fail(413, "body larger than the limit");
            }
        }
        bool ok = i != 0;
        // BWS before an extension (RFC 7230 §3.2.3), then ';' ext or nothing.
        while (ok && i < line.size() && is_ows(line[i])) ++i;
        if (ok && i < line.size() && line[i] != ';') ok = false;
        line_buf_.clear();
        if (!ok) return fail(400, "invalid chunk size");
        if (size == 0) {
            state_ = state::trailers;
        } else {
            remaining_ = size;
            state_ = state::chunk_data;
        }
        return true;
    }

    bool on_chunk_data(std::string_view data, std::size_t& pos) {
        const std::size_t take = std::min(remaining_, data.size() - pos);
        msg_.body.append(data.data() + pos, take);
        pos += take;
        remaining_ -= take;
        if (remaining_ != 0) return false;
        state_ = state::chunk_data_end;
        return true;
    }

    bool on_chunk_data_end(std::string_view data, std::size_t& pos) {
        std::string_view line;
        std::size_t raw = 0;
        switch (take_line(data, pos, 0, line, raw)) {
        case line_status::partial:
            return false;
        case line_status::too_long:
            line_buf_.clear();
            return fail(400, "chunk data not followed by CRLF");
        case line_status::complete:
            break;
        }
        line_buf_.clear();
        state_ = state::chunk_size;
        return true;
    }

    // RFC 7230 §4.1.2: trailer fields are skipped (we merge none into the headers), but
    // they count against the header-section limit.
    bool on_trailer_line(std::string_view data, std::size_t& pos) {
        std::string_view line;
        if (!take_section_line(data, pos, line, "trailer section too large")) return false;
        const bool end = line.empty();
        line_buf_.clear();
        return end ? finish() : true;
    }

    void on_body_until_close(std::string_view data, std::size_t& pos) {
        const std::size_t avail = data.size() - pos;
        if (avail > limits_.max_body_size - msg_.body.size()) {
            fail(413, "body larger than the limit");
            return;
        }
        msg_.body.append(data.data() + pos, avail);
        pos = data.size();
    }

    bool finish() noexcept {
        state_ = state::done;
        return false;
    }

    std::string line_buf_;         // the unfinished line, when input ended mid-line
    std::size_t start_bytes_ = 0;  // empty lines skipped before the start line
    std::size_t header_bytes_ = 0; // header (then trailer) section so far
    std::size_t remaining_ = 0;    // body or chunk bytes still expected
};

} // namespace detail

// Server side: parses requests. After an error, answer with error_status() (and close:
// the framing of anything after a bad request is unknown).
class request_parser : public detail::basic_parser<request> {
public:
    explicit request_parser(parser_limits limits = {}) : basic_parser(limits) {}

    // 400, 413, 414, 431, 501 (Transfer-Encoding other than chunked) or 505 (not
    // HTTP/1.x) after an error; 0 otherwise.
    int error_status() const noexcept { return error_status_; }
};

// Client side: parses responses. Bodies are delimited by Content-Length, chunked, or
// nothing for 1xx/204/304 (a 101 is complete after its header section; the bytes after
// it are the WebSocket stream). Without framing a body runs until the connection closes:
// call feed_eof() then. A response to HEAD is not recognised (the client never sends one).
class response_parser : public detail::basic_parser<response> {
public:
    explicit response_parser(parser_limits limits = {}) : basic_parser(limits) {}

    // The peer closed the connection: completes a body delimited by the close (RFC 7230
    // §3.3.3 rule 7); an unfinished message of any other kind becomes an error.
    parse_status feed_eof() noexcept { return on_eof(); }
};

} // namespace wsx::http

// SPDX-License-Identifier: BSL-1.0
#pragma once
// HTTP header fields (RFC 7230 §3.2): an ordered list of name/value lines with
// case-insensitive name lookup. Names keep the case they were received or added with,
// because some peers are picky about it on the way out.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsx::http {

namespace detail {
template <class Message>
class basic_parser;

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// tchar of RFC 7230 §3.2.6.
constexpr bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

constexpr bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// field-value characters of RFC 7230 §3.2: VCHAR, obs-text, SP and HTAB. Everything
// else is a control character; CR and LF in particular would let a value forge lines.
constexpr bool is_field_value_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 ? u != 0x7F : u == '\t';
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// Takes the next element of an RFC 7230 §7 list ("a, b,,c") off the front of `list`,
// OWS-trimmed. Empty elements are returned as "" and callers skip them, as §7 requires
// recipients to accept them.
constexpr std::string_view next_list_element(std::string_view& list) noexcept {
    const auto comma = list.find(',');
    std::string_view element = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    return trim_ows(element);
}
} // namespace detail

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (detail::ascii_lower(a[i]) != detail::ascii_lower(b[i])) return false;
    return true;
}

// Invariant: every name is a token and no value holds a control character other than
// HTAB, so serializing the fields can never produce a line the peer would split.
// add() and set() throw std::invalid_argument when given anything else (a caller bug,
// e.g. untrusted text copied into a header without checking).
//
// Storage is one character buffer plus one small record per line, so a parsed request
// costs a couple of allocations however many headers it has, and clear() keeps the
// capacity for the next request on a keep-alive connection. Views returned by get()
// and by iteration stay valid until the next modification.
class fields {
public:
    struct field {
        std::string_view name;
        std::string_view value;
    };

    class const_iterator {
    public:
        // Dereferencing yields a {name, value} pair by value: a C++20 forward iterator,
        // but only an input iterator to the C++17 iterator requirements.
        using iterator_concept = std::forward_iterator_tag;
        using iterator_category = std::input_iterator_tag;
        using value_type = field;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = field;

        const_iterator() = default;
        field operator*() const noexcept { return owner_->at(index_); }
        const_iterator& operator++() noexcept {
            ++index_;
            return *this;
        }
        const_iterator operator++(int) noexcept {
            auto copy = *this;
            ++index_;
            return copy;
        }
        friend bool operator==(const const_iterator& a, const const_iterator& b) noexcept {
            return a.index_ == b.index_;
        }

    private:
        friend class fields;
        const_iterator(const fields* owner, std::size_t index) noexcept : owner_(owner), index_(index) {}
        const fields* owner_ = nullptr;
        std::size_t index_ = 0;
    };

    void add(std::string_view name, std::string_view value) {
        check(name, value);
        append(name, value);
    }

    // Replaces every line named `name` with one line; it keeps the position of the first.
    void set(std::string_view name, std::string_view value) {
        check(name, value);
        std::size_t i = 0;
        for (; i < entries_.size(); ++i)
            if (iequals(name_of(entries_[i]), name)) break;
        if (i == entries_.size()) {
            append(name, value);
            return;
        }
        erase_from(name, i + 1);
        entry& e = entries_[i];
        garbage_ += e.value_len;
        std::uint32_t unused = 0;
        store(value, {}, e.value_off, unused);
        e.value_len = static_cast<std::uint32_t>(value.size());
        maybe_compact();
    }

    // Removes every line named `name`; returns how many there were.
    std::size_t erase(std::string_view name) noexcept {
        const std::size_t removed = erase_from(name, 0);
        if (entries_.empty()) clear();
        return removed;
    }

    std::string_view get(std::string_view name) const noexcept {
        for (const entry& e : entries_)
            if (iequals(name_of(e), name)) return value_of(e);
        return {};
    }

    bool contains(std::string_view name) const noexcept {
        for (const entry& e : entries_)
            if (iequals(name_of(e), name)) return true;
        return false;
    }

    // Number of lines named `name` (RFC 6455 §11.3.1 forbids a repeated Sec-WebSocket-Key).
    std::size_t count(std::string_view name) const noexcept {
        std::size_t n = 0;
        for (const entry& e : entries_)
            if (iequals(name_of(e), name)) ++n;
        return n;
    }

    // RFC 7230 §7 (and §3.2.2: several lines with one name are one comma-joined list).
    bool has_token(std::string_view name, std::string_view token) const noexcept {
        if (token.empty()) return false; // empty list elements are not tokens
        for (const entry& e : entries_) {
            if (!iequals(name_of(e), name)) continue;
            std::string_view list = value_of(e);
            while (!list.empty())
                if (iequals(detail::next_list_element(list), token)) return true;
        }
        return false;
    }

    std::size_t size() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }
    const_iterator begin() const noexcept { return {this, 0}; }
    const_iterator end() const noexcept { return {this, entries_.size()}; }

    // Keeps the allocated capacity so a reused message does not allocate again.
    void clear() noexcept {
        entries_.clear();
        chars_.clear();
        garbage_ = 0;
    }

private:
    template <class Message>
    friend class detail::basic_parser;

    struct entry {
        std::uint32_t name_off;
        std::uint32_t name_len;
        std::uint32_t value_off;
        std::uint32_t value_len;
    };

    static void check(std::string_view name, std::string_view value) {
        if (!detail::is_token(name))
            throw std::invalid_argument("wsx::http::fields: header name must be an RFC 7230 token");
        for (char c : value)
            if (!detail::is_field_value_char(c))
                throw std::invalid_argument(
                    "wsx::http::fields: header value must not contain CR, LF or other control characters");
    }

    // For the parser, which has already checked the line (no second scan).
    void append(std::string_view name, std::string_view value) {
        if (entries_.capacity() == 0) entries_.reserve(16); // typical requests: 5-15 lines
        entry e{};
        store(name, value, e.name_off, e.value_off);
        e.name_len = static_cast<std::uint32_t>(name.size());
        e.value_len = static_cast<std::uint32_t>(value.size());
        entries_.push_back(e);
    }

    // Copies a and b to the end of the buffer. Either may be a view of this very buffer
    // (f.add("X", f.get("Y"))), so when the buffer must grow, the copy goes to a new one
    // and the old one stays alive until both are copied.
    void store(std::string_view a, std::string_view b, std::uint32_t& a_off, std::uint32_t& b_off) {
        const std::size_t extra = a.size() + b.size();
        // Offsets are 32-bit to keep records small; parser limits keep real sizes far below.
        if (extra > std::numeric_limits<std::uint32_t>::max() - chars_.size())
            throw std::length_error("wsx::http::fields: header section larger than 4 GiB");
        const std::size_t needed = chars_.size() + extra;
        if (needed <= chars_.capacity()) {
            a_off = static_cast<std::uint32_t>(chars_.size());
            chars_.append(a);
            b_off = static_cast<std::uint32_t>(chars_.size());
            chars_.append(b);
            return;
        }
        std::string grown;
        grown.reserve(std::max({needed, 2 * chars_.capacity(), std::size_t{512}}));
        grown.append(chars_);
        a_off = static_cast<std::uint32_t>(grown.size());
        grown.append(a);
        b_off = static_cast<std::uint32_t>(grown.size());
        grown.append(b);
        chars_.swap(grown);
    }

    std::size_t erase_from(std::string_view name, std::size_t first) noexcept {
        std::size_t out = first;
        for (std::size_t i = first; i < entries_.size(); ++i) {
            if (iequals(name_of(entries_[i]), name)) {
                garbage_ += entries_[i].name_len + entries_[i].value_len;
            } else {
                entries_[out++] = entries_[i];
            }
        }
        const std::size_t removed = entries_.size() - out;
        entries_.resize(out);
        return removed;
    }

    // Repeated set() on a long-lived fields object must not grow the buffer forever.
    void maybe_compact() {
        if (garbage_ < 1024 || garbage_ < chars_.size() / 2) return;
        std::string packed;
        packed.reserve(chars_.size() - garbage_);
        for (entry& e : entries_) {
            const auto name = name_of(e);
            const auto value = value_of(e);
            e.name_off = static_cast<std::uint32_t>(packed.size());
            packed.append(name);
            e.value_off = static_cast<std::uint32_t>(packed.size());
            packed.append(value);
        }
        chars_ = std::move(packed);
        garbage_ = 0;
    }

    std::string_view name_of(const entry& e) const noexcept {
        return {chars_.data() + e.name_off, e.name_len};
    }
    std::string_view value_of(const entry& e) const noexcept {
        return {chars_.data() + e.value_off, e.value_len};
    }
    field at(std::size_t i) const noexcept { return {name_of(entries_[i]), value_of(entries_[i])}; }

    std::vector<entry> entries_;
    std::string chars_;
    std::size_t garbage_ = 0;
};

} // namespace wsx::http

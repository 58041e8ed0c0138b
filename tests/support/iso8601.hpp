// SPDX-License-Identifier: BSL-1.0
#pragma once
// Checks on the timestamps wsx writes (wsx::detail::iso8601_now and
// iso8601_utc: the endpoints' JSON events, the REST listing).
#include <cstddef>
#include <string>

namespace wsx::test {

// True when `s` is an ISO 8601 UTC timestamp with milliseconds, the one form
// wsx writes: 2026-11-22T18:50:17.123Z
inline bool is_iso8601_utc(const std::string& s) {
    if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != '.' || s[23] != 'Z')
        return false;
    for (std::size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u, 20u, 21u, 22u})
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

} // namespace wsx::test

// SPDX-License-Identifier: BSL-1.0
// wsx::transport::stream and wsx::transport::policy: the stock transports and
// a transport written from the header's list model them, and a transport that
// lacks any one member, or gets a result type wrong, is refused. The server,
// the client and the connection are constrained on policy, so what is refused
// here is refused there, with the concept's name in the compiler's message.
#include "wsx/transport/concept.hpp"

#include "catch.hpp"

#include "memory_transport.hpp"
#include "wsx/transport/plain.hpp"

#include <cstddef>
#include <string>
#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

// A named namespace: clang warns about members of types in an unnamed one that
// only the concepts look at.
namespace concept_test {

using wsx::transport::policy;
using wsx::transport::stream;

// A stream written from the list at the top of concept.hpp; `Missing` takes
// away the members named by its bits, one test type per member.
enum member : unsigned {
    m_executor = 1u << 0,
    m_handshake = 1u << 1,
    m_wait_readable = 1u << 2,
    m_read_some = 1u << 3,
    m_async_write = 1u << 4,
    m_try_write_some = 1u << 5,
    m_nonblocking_writes = 1u << 6,
    m_shutdown = 1u << 7,
    m_close = 1u << 8,
    m_remote_endpoint = 1u << 9,
};

// A static data member cannot be constrained away: it comes from a base.
template <bool Present>
struct nonblocking_flag {
    static constexpr bool nonblocking_writes = false;
};
template <>
struct nonblocking_flag<false> {};

template <unsigned Missing>
struct fake_stream : nonblocking_flag<!(Missing & m_nonblocking_writes)> {
    asio::any_io_executor get_executor()
        requires(!(Missing & m_executor))
    {
        return {};
    }
    template <class H>
    void async_handshake(wsx::role, H&&)
        requires(!(Missing & m_handshake))
    {}
    template <class H>
    void async_wait_readable(H&&)
        requires(!(Missing & m_wait_readable))
    {}
    std::size_t read_some(asio::mutable_buffer, std::error_code&)
        requires(!(Missing & m_read_some))
    {
        return 0;
    }
    template <class Buffers, class H>
    void async_write(const Buffers&, H&&)
        requires(!(Missing & m_async_write))
    {}
    template <class Buffers>
    std::size_t try_write_some(const Buffers&, std::error_code&)
        requires(!(Missing & m_try_write_some))
    {
        return 0;
    }
    template <class H>
    void async_shutdown(H&&)
        requires(!(Missing & m_shutdown))
    {}
    void close()
        requires(!(Missing & m_close))
    {}
    asio::ip::tcp::endpoint remote_endpoint() const
        requires(!(Missing & m_remote_endpoint))
    {
        return {};
    }
};

static_assert(stream<fake_stream<0>>, "the header's own list must describe a model");
static_assert(!stream<fake_stream<m_executor>>);
static_assert(!stream<fake_stream<m_handshake>>);
static_assert(!stream<fake_stream<m_wait_readable>>);
static_assert(!stream<fake_stream<m_read_some>>);
static_assert(!stream<fake_stream<m_async_write>>);
static_assert(!stream<fake_stream<m_try_write_some>>);
static_assert(!stream<fake_stream<m_nonblocking_writes>>);
static_assert(!stream<fake_stream<m_shutdown>>);
static_assert(!stream<fake_stream<m_close>>);
static_assert(!stream<fake_stream<m_remote_endpoint>>);

// Members that exist but return the wrong thing.
struct read_some_returns_nothing : fake_stream<m_read_some> {
    void read_some(asio::mutable_buffer, std::error_code&) {}
};
struct endpoint_is_a_string : fake_stream<m_remote_endpoint> {
    std::string remote_endpoint() const { return "127.0.0.1:80"; }
};
// A handshake that only takes a client role cannot serve the server side.
struct handshake_without_role : fake_stream<m_handshake> {
    template <class H>
    void async_handshake(H&&) {}
};
static_assert(stream<read_some_returns_nothing> == false);
static_assert(stream<endpoint_is_a_string> == false);
static_assert(stream<handshake_without_role> == false);

// Policies: context, stream, scheme, and a stream that models the concept.
template <class Stream>
struct fake_policy {
    static constexpr const char* scheme = "ws";
    struct context {};
    using stream = Stream;
};
struct no_context {
    static constexpr const char* scheme = "ws";
    using stream = fake_stream<0>;
};
struct no_stream {
    static constexpr const char* scheme = "ws";
    struct context {};
};
struct no_scheme {
    struct context {};
    using stream = fake_stream<0>;
};
struct scheme_is_a_number {
    static constexpr int scheme = 80;
    struct context {};
    using stream = fake_stream<0>;
};

static_assert(policy<fake_policy<fake_stream<0>>>);
static_assert(!policy<fake_policy<fake_stream<m_close>>>, "a policy's stream must model stream");
static_assert(!policy<no_context>);
static_assert(!policy<no_stream>);
static_assert(!policy<no_scheme>);
static_assert(!policy<scheme_is_a_number>);

// The stock models (tls is checked in tls_test.cpp, which links OpenSSL) and
// the in-memory test transport.
static_assert(policy<wsx::transport::plain>);
static_assert(stream<wsx::transport::plain::stream>);
static_assert(policy<wsx::test::memory_transport>);
// A stream is not a policy, nor the other way round.
static_assert(!policy<wsx::transport::plain::stream>);
static_assert(!stream<wsx::transport::plain>);

} // namespace concept_test

using namespace concept_test;

TEST_CASE("the concepts tell a model from a type that lacks one member") {
    // The same answers as the static_asserts above, at run time, so that the
    // test reports what it checked.
    CHECK(stream<fake_stream<0>>);
    CHECK(policy<wsx::transport::plain>);
    CHECK(policy<wsx::test::memory_transport>);
    CHECK_FALSE(stream<fake_stream<m_try_write_some>>);
    CHECK_FALSE(stream<fake_stream<m_nonblocking_writes>>);
    CHECK_FALSE(policy<no_scheme>);
    CHECK_FALSE(policy<fake_policy<fake_stream<m_remote_endpoint>>>);
}

TEST_CASE("nonblocking_writes is read as a value, not only looked up") {
    // plain writes straight to the kernel; the fake routes every write through
    // async_write: both are models, the connection chooses its path from the value.
    CHECK(wsx::transport::plain::stream::nonblocking_writes);
    CHECK_FALSE(fake_stream<0>::nonblocking_writes);
}

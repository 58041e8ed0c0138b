// SPDX-License-Identifier: BSL-1.0
#pragma once
// One detail::worker per io_context for the clients that run on it, kept as an
// Asio execution_context service: 10,000 clients on one io_context share one
// read buffer, one cork buffer and one sweep timer, as a server thread's
// connections do.
//
// The io_context must be run by one thread at a time (the worker is not
// locked). The worker is destroyed when the io_context shuts down, which
// closes whatever is still linked to it.
#include <chrono>
#include <memory>

#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>

#include <wsx/detail/worker.hpp>

namespace wsx::detail {

class worker_service final : public asio::execution_context::service {
public:
    using key_type = worker_service;
    inline static asio::execution_context::id id;

    // The granularity of client deadlines (connect, handshake, idle, close):
    // fine enough for timeouts of a few hundred milliseconds, and the sweep
    // only runs while a client exists.
    static constexpr std::chrono::milliseconds resolution{100};

    explicit worker_service(asio::io_context& io)
        : asio::execution_context::service(io), worker_(std::make_unique<worker>(io, resolution)) {}

    // The worker of `io`, made on first use. Thread-safe.
    static worker& of(asio::io_context& io) { return *asio::use_service<worker_service>(io).worker_; }

private:
    void shutdown() override { worker_.reset(); }

    std::unique_ptr<worker> worker_;
};

} // namespace wsx::detail

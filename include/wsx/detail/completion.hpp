// SPDX-License-Identifier: BSL-1.0
#pragma once
// detail::completion<Args...>: a move-only, type-erased Asio completion handler
// for the signature void(Args...), so that the client can queue handlers of any
// completion token (callbacks, use_awaitable, use_future...) without being a
// template on them.
//
// complete() never runs the handler inline: it posts it to the handler's
// associated executor (the fallback executor when it has none), as Asio
// requires of an operation that may finish inside its initiating function.
// Until then the handler's executor is kept from running out of work.
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include <asio/associated_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

namespace wsx::detail {

template <class... Args>
class completion {
public:
    completion() = default;

    template <class Handler, class Executor>
    completion(Handler&& handler, const Executor& fallback)
        : impl_(std::make_unique<model<std::decay_t<Handler>, Executor>>(
              std::forward<Handler>(handler), fallback)) {}

    completion(completion&&) noexcept = default;
    completion& operator=(completion&&) noexcept = default;

    explicit operator bool() const noexcept { return impl_ != nullptr; }

    // Posts the handler with `args`; a no-op on an empty completion.
    void complete(Args... args) {
        if (auto p = std::move(impl_)) p->post(std::move(args)...);
    }

private:
    struct base {
        virtual ~base() = default;
        virtual void post(Args&&... args) = 0;
    };

    template <class Handler, class Executor>
    struct model final : base {
        using executor_type = asio::associated_executor_t<Handler, Executor>;

        template <class H>
        model(H&& h, const Executor& fallback)
            : handler(std::forward<H>(h)),
              work(asio::make_work_guard(asio::get_associated_executor(handler, fallback))) {}

        void post(Args&&... args) override {
            auto ex = work.get_executor();
            asio::post(ex, [h = std::move(handler), ... a = std::move(args)]() mutable {
                std::move(h)(std::move(a)...);
            });
            work.reset();
        }

        Handler handler;
        asio::executor_work_guard<executor_type> work;
    };

    std::unique_ptr<base> impl_;
};

} // namespace wsx::detail

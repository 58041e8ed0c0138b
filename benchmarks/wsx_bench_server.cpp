// SPDX-License-Identifier: BSL-1.0
// wsx_bench_server: the wsx side of the benchmark suite, on one I/O thread.
//
//   wsx_bench_server [--port P] [--mode echo|echo-h2|broadcast|broadcast-list|cross-thread]
//                    [--threads N] [--size BYTES] [--cert CHAIN.pem --key KEY.pem]
//
// echo            wsx::endpoints::echo(), as examples/echo_server serves it
// broadcast       every message received is sent to every connection through
//                 wsx::registry::broadcast (one prepared_message, encoded once)
// broadcast-list  the same with the benchmark's own list of connections and
//                 connection::send(const prepared_message&) to each
// cross-thread    a producer thread of this process (not an I/O thread) sends a
//                 --size byte binary message (64 by default) to every client of
//                 /feed with connection::send_binary, round after round; "/"
//                 echoes (for the readiness probe). Issue #14: what a send from
//                 another thread costs.
//
// --cert/--key: wss:// through wsx::tls_server (echo mode only), for the TLS
// rows of issue #15.
//
// SIGINT / SIGTERM stop it cleanly (callgrind writes its profile at exit).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio/post.hpp>

#include <wsx/wsx.hpp>
#ifdef WSX_BENCH_TLS
#include <wsx/transport/tls.hpp>
#endif
#ifdef WSX_BENCH_HTTP2
#include <wsx/http2.hpp>
#endif
#if __has_include(<wsx/registry.hpp>)
#include <wsx/registry.hpp>
#define WSX_BENCH_HAS_REGISTRY 1
#endif

namespace {

// The connections of the broadcast-list mode. One I/O thread: no lock.
class connection_list {
public:
    wsx::endpoint endpoint() {
        return {
            .on_open = [this](wsx::connection& c) {
                index_[&c] = conns_.size();
                conns_.push_back(c.shared_from_this());
            },
            .on_message = [this](wsx::connection&, wsx::message m) {
                const wsx::prepared_message frame{m.type(), m.text()};
                for (const auto& c : conns_) c->send(frame);
            },
            .on_close = [this](wsx::connection& c, wsx::close_code, std::string_view) {
                const auto it = index_.find(&c);
                if (it == index_.end()) return;
                const std::size_t i = it->second;
                index_.erase(it);
                if (i + 1 != conns_.size()) {
                    conns_[i] = std::move(conns_.back());
                    index_[conns_[i].get()] = i;
                }
                conns_.pop_back();
            },
        };
    }

private:
    std::vector<std::shared_ptr<wsx::connection>> conns_;
    std::unordered_map<const wsx::connection*, std::size_t> index_;
};

// The cross-thread mode: one producer thread sends to every connection of
// /feed in rounds. It keeps at most `window` rounds ahead of the I/O thread (a
// marker posted after each round counts the rounds the I/O thread has reached),
// so it measures what the I/O thread can take, not how fast a queue of posted
// sends grows; and it skips a connection with more than 1 MiB buffered, as a
// producer that paces itself on buffered_amount() does.
class feed {
public:
    explicit feed(std::size_t size) : payload_(size, 'f') {}
    feed(const feed&) = delete;
    feed& operator=(const feed&) = delete;
    ~feed() { stop(); }

    wsx::endpoint endpoint() {
        return {
            .on_open = [this](wsx::connection& c) {
                std::lock_guard lock{m_};
                conns_.push_back(c.shared_from_this());
                ++version_;
                cv_.notify_all();
            },
            .on_close = [this](wsx::connection& c, wsx::close_code, std::string_view) {
                std::lock_guard lock{m_};
                std::erase_if(conns_, [&](const auto& p) { return p.get() == &c; });
                ++version_;
            },
        };
    }

    void start() {
        producer_ = std::thread([this] { run(); });
    }

    // Stops and joins the producer, and lets go of the connections (before the
    // server and its io_context are gone).
    void stop() {
        {
            std::lock_guard lock{m_};
            if (stop_) return;
            stop_ = true;
            cv_.notify_all();
        }
        if (producer_.joinable()) producer_.join();
        std::lock_guard lock{m_};
        if (sent_ + refused_ + skipped_ > 0)
            std::fprintf(stderr, "cross-thread producer: %llu sent, %llu refused, %llu skipped (buffered > 1 MiB)\n",
                         static_cast<unsigned long long>(sent_), static_cast<unsigned long long>(refused_),
                         static_cast<unsigned long long>(skipped_));
        conns_.clear();
    }

private:
    static constexpr std::uint64_t window = 8;
    static constexpr std::size_t buffered_cap = 1u << 20;

    void run() {
        std::vector<std::shared_ptr<wsx::connection>> snapshot;
        std::uint64_t seen_version = ~std::uint64_t{0};
        std::uint64_t rounds = 0;
        std::uint64_t sent = 0, refused = 0, skipped = 0;
        const std::string_view payload{payload_};
        for (;;) {
            {
                std::unique_lock lock{m_};
                // Wait for a connection, and for the I/O thread to come within
                // `window` rounds of the producer.
                cv_.wait(lock, [&] {
                    return stop_ || (!conns_.empty() && rounds - reached_.load() < window);
                });
                if (stop_) break;
                if (version_ != seen_version) {
                    snapshot = conns_;
                    seen_version = version_;
                }
            }
            std::size_t open = 0;
            for (const auto& c : snapshot) {
                // Closing (the load generator is done): not worth a send.
                if (!c->is_open()) continue;
                ++open;
                if (c->buffered_amount() > buffered_cap) {
                    ++skipped;
                    continue;
                }
                if (c->send_binary(payload)) ++sent;
                else ++refused;
            }
            if (open == 0) {
                // Every connection of the snapshot is closing: wait for on_close.
                std::unique_lock lock{m_};
                cv_.wait_for(lock, std::chrono::milliseconds(1));
                continue;
            }
            ++rounds;
            asio::post(snapshot.front()->get_executor(), [this] {
                reached_.fetch_add(1);
                std::lock_guard lock{m_};
                cv_.notify_all();
            });
        }
        std::lock_guard lock{m_};
        sent_ = sent;
        refused_ = refused;
        skipped_ = skipped;
    }

    std::string payload_;
    std::mutex m_;
    std::condition_variable cv_;
    std::vector<std::shared_ptr<wsx::connection>> conns_;
    std::uint64_t version_ = 0;
    bool stop_ = false;
    std::atomic<std::uint64_t> reached_{0};
    std::uint64_t sent_ = 0, refused_ = 0, skipped_ = 0;
    std::thread producer_;
};

} // namespace

int main(int argc, char** argv) {
    wsx::server_options options{.host = "127.0.0.1", .port = 9001, .threads = 1};
    std::string mode = "echo";
    std::size_t size = 64;
    std::string cert, key;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--port") options.port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
        else if (flag == "--mode") mode = argv[i + 1];
        else if (flag == "--threads") options.threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
        else if (flag == "--size") size = static_cast<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10));
        else if (flag == "--cert") cert = argv[i + 1];
        else if (flag == "--key") key = argv[i + 1];
        else {
            std::fprintf(stderr,
                         "usage: %s [--port P] [--mode echo|echo-h2|broadcast|broadcast-list|cross-thread] [--threads N] "
                         "[--size BYTES] [--cert CHAIN.pem --key KEY.pem]\n",
                         argv[0]);
            return 2;
        }
    }

    if (!cert.empty() || !key.empty()) {
#ifdef WSX_BENCH_TLS
        if (mode != "echo") {
            std::fprintf(stderr, "--cert/--key: only --mode echo is served over TLS\n");
            return 2;
        }
        wsx::transport::tls::server_config tls;
        tls.certificate_chain_file = cert;
        tls.private_key_file = key;
        wsx::tls_server server(options, wsx::transport::tls::context::server(tls));
        server.websocket("/", wsx::endpoints::echo());
        server.stop_on_signals();
        server.listen();
        std::printf("wsx bench server (echo) on wss://%s:%u/\n", options.host.c_str(), server.port());
        std::fflush(stdout);
        server.run();
        return 0;
#else
        std::fprintf(stderr, "built without wsx::tls (OpenSSL): no --cert/--key\n");
        return 2;
#endif
    }

    // Declared before the server: its handlers and posted markers use it until
    // the server is gone (stop() lets go of its connections before that).
    feed producer(size);
    wsx::server server(options);
    connection_list list;
#ifdef WSX_BENCH_HAS_REGISTRY
    wsx::registry registry;
#endif
    if (mode == "echo") {
        server.websocket("/", wsx::endpoints::echo());
    } else if (mode == "echo-h2") {
        // The echo, served over HTTP/1.1 and over h2c (RFC 8441) on the same port.
#ifdef WSX_BENCH_HTTP2
        server.websocket("/", wsx::endpoints::echo());
        wsx::http2::enable(server);
#else
        std::fprintf(stderr, "built without wsx::http2 (nghttp2): no --mode echo-h2\n");
        return 2;
#endif
    } else if (mode == "broadcast-list") {
        server.websocket("/", list.endpoint());
    } else if (mode == "broadcast") {
#ifdef WSX_BENCH_HAS_REGISTRY
        server.websocket("/", registry.track({.on_message = [&registry](wsx::connection&, wsx::message m) {
                             registry.broadcast(wsx::prepared_message{m.type(), m.text()});
                         }}));
#else
        server.websocket("/", list.endpoint());
#endif
    } else if (mode == "cross-thread") {
        server.websocket("/", wsx::endpoints::echo());
        server.websocket("/feed", producer.endpoint());
        producer.start();
    } else {
        std::fprintf(stderr, "unknown mode '%s'\n", mode.c_str());
        return 2;
    }
    server.stop_on_signals();
    server.listen();
    std::printf("wsx bench server (%s) on ws://%s:%u/\n", mode.c_str(), options.host.c_str(), server.port());
    std::fflush(stdout);
    server.run();
    producer.stop();
}

// SPDX-License-Identifier: BSL-1.0
// wsx_broadcast_cg: a deterministic broadcast workload for callgrind (issue #15,
// the CPU per delivery of registry::broadcast). No socket and no timing: N
// connections over the tests' in-memory transport (which takes every byte
// written), and R rounds in which one handler on the I/O thread makes B calls
// to registry::broadcast, as a server's on_message does when one read carries
// B messages; then the I/O thread runs the flushes. Instruction counts depend
// only on the code, so two runs with different R give the cost per delivery:
//
//   valgrind --tool=callgrind wsx_broadcast_cg --conns 1000 --rounds 20 --batch 8
//   valgrind --tool=callgrind wsx_broadcast_cg --conns 1000 --rounds 60 --batch 8
//   (Ir2 - Ir1) / ((60 - 20) * 8 * 1000)
//
// --hubs H spreads the connections over H io_contexts (round robin), as a
// server with H I/O threads does: the broadcasts are made on the first one,
// so (H-1)/H of the deliveries take the path of another thread's share
// (admitted in the caller's thread, drained by one posted task per thread).
// One OS thread runs them all in turn, so the count stays deterministic.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>
#include <string>
#include <string_view>

#include <asio/post.hpp>

#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>

#include "memory_connection.hpp"

int main(int argc, char** argv) {
    int conns = 1000, rounds = 20, batch = 8, hubs = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--conns") conns = std::atoi(argv[i + 1]);
        else if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
        else if (flag == "--batch") batch = std::atoi(argv[i + 1]);
        else if (flag == "--hubs") hubs = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--conns N] [--rounds R] [--batch B] [--hubs H]\n", argv[0]);
            return 2;
        }
    }
    wsx::registry reg;
    wsx::endpoint ep = reg.track({});
    if (hubs < 1) hubs = 1;
    std::vector<std::unique_ptr<wsx::test::memory_hub>> hub;
    for (int h = 0; h < hubs; ++h) hub.push_back(std::make_unique<wsx::test::memory_hub>());
    for (int i = 0; i < conns; ++i) hub[static_cast<std::size_t>(i % hubs)]->connect(ep);
    const std::string payload(100, 'x');
    std::size_t delivered = 0;
    for (int r = 0; r < rounds; ++r) {
        asio::post(hub[0]->io, [&] {
            for (int b = 0; b < batch; ++b) reg.broadcast(wsx::prepared_message{wsx::opcode::text, payload});
        });
        for (auto& h : hub) {
            h->poll();
            for (auto& p : h->peers) delivered += p->pipe->take_output().size();
        }
    }
    const std::size_t want = static_cast<std::size_t>(rounds) * batch * conns * (payload.size() + 2);
    std::printf("RESULT conns=%d rounds=%d batch=%d hubs=%d bytes=%zu\n", conns, rounds, batch, hubs, delivered);
    return delivered == want ? 0 : 1;
}

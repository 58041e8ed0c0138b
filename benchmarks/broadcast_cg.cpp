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
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <asio/post.hpp>

#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>

#include "memory_connection.hpp"

int main(int argc, char** argv) {
    int conns = 1000, rounds = 20, batch = 8;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string_view flag = argv[i];
        if (flag == "--conns") conns = std::atoi(argv[i + 1]);
        else if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
        else if (flag == "--batch") batch = std::atoi(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: %s [--conns N] [--rounds R] [--batch B]\n", argv[0]);
            return 2;
        }
    }
    wsx::registry reg;
    wsx::endpoint ep = reg.track({});
    wsx::test::memory_hub hub;
    for (int i = 0; i < conns; ++i) hub.connect(ep);
    const std::string payload(100, 'x');
    std::size_t delivered = 0;
    for (int r = 0; r < rounds; ++r) {
        asio::post(hub.io, [&] {
            for (int b = 0; b < batch; ++b) reg.broadcast(wsx::prepared_message{wsx::opcode::text, payload});
        });
        hub.poll();
        for (auto& p : hub.peers) delivered += p->pipe->take_output().size();
    }
    const std::size_t want = static_cast<std::size_t>(rounds) * batch * conns * (payload.size() + 2);
    std::printf("RESULT conns=%d rounds=%d batch=%d bytes=%zu\n", conns, rounds, batch, delivered);
    return delivered == want ? 0 : 1;
}

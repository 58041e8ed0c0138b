// SPDX-License-Identifier: BSL-1.0
#pragma once
// Open server-side connections over the in-memory transport, for tests of the
// layers above the connection (registry, endpoints, REST) without sockets.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <wsx/connection.hpp>
#include <wsx/protocol/frame_writer.hpp>
#include <wsx/protocol/message_assembler.hpp>

#include "memory_transport.hpp"

namespace wsx::test {

// A client's view of one in-memory connection: feed it frames, read what the
// server sent back as whole messages.
struct memory_peer {
    std::shared_ptr<memory_transport::pipe> pipe;
    std::shared_ptr<basic_connection<memory_transport>> conn;
    protocol::message_assembler reader{{.local_role = role::client, .max_message_size = 1u << 30}};

    void send_text(std::string_view text) {
        std::string f;
        const protocol::mask_key key{9, 8, 7, 6};
        protocol::append_frame(f, opcode::text, text, true, &key);
        pipe->feed(f);
    }
    void send_close(close_code code = close_code::normal) {
        std::string f;
        const protocol::mask_key key{9, 8, 7, 6};
        protocol::append_close_frame(f, code, {}, &key);
        pipe->feed(f);
    }

    // The close code of the close frame the server wrote, once messages() read it.
    std::optional<close_code> closed_with;

    // Text messages the server has written so far (consumes them).
    std::vector<std::string> messages() {
        std::vector<std::string> out;
        std::string bytes = pipe->take_output();
        std::span<std::uint8_t> in{reinterpret_cast<std::uint8_t*>(bytes.data()), bytes.size()};
        while (!in.empty()) {
            auto r = reader.consume(in);
            in = in.subspan(r.consumed);
            if (r.ev.type == protocol::event_type::message) out.emplace_back(r.ev.payload);
            if (r.ev.type == protocol::event_type::close) closed_with = r.ev.code;
        }
        return out;
    }
};

struct memory_hub {
    asio::io_context io{1};
    detail::worker worker{io, std::chrono::milliseconds(10)};
    connection_options limits{.idle_timeout = std::chrono::milliseconds(0)};
    std::vector<std::unique_ptr<memory_peer>> peers;

    memory_peer& connect(const endpoint& ep, std::string user = {}) {
        auto p = std::make_unique<memory_peer>();
        p->pipe = std::make_shared<memory_transport::pipe>(io);
        memory_transport::stream stream(p->pipe);
        const auto remote = stream.remote_endpoint();  // as the server fills it in
        p->conn = basic_connection<memory_transport>::open(
            worker, std::move(stream), ep, limits, role::server,
            connection_info{"/ws", {}, std::move(user), {}, remote}, {}, {});
        peers.push_back(std::move(p));
        poll();
        return *peers.back();
    }
    void poll() {
        io.restart();
        io.poll();
    }
};

} // namespace wsx::test

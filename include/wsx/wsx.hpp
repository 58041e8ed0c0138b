// SPDX-License-Identifier: BSL-1.0
#pragma once
// The umbrella header: everything for plain ws:// servers and clients.
// TLS (wsx/transport/tls.hpp) and permessage-deflate stay opt-in.
#include <wsx/client.hpp>
#include <wsx/connection.hpp>
#include <wsx/endpoint.hpp>
#include <wsx/endpoints.hpp>
#include <wsx/error.hpp>
#include <wsx/log.hpp>
#include <wsx/message.hpp>
#include <wsx/options.hpp>
#include <wsx/prepared_message.hpp>
#include <wsx/registry.hpp>
#include <wsx/server.hpp>
#include <wsx/transport/plain.hpp>
#include <wsx/version.hpp>

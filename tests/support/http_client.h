// The library HTTP client (client/http_client.h) under the names the end-to-end tests use:
// HttpClient(port, timeout) talks to 127.0.0.1:<port>.
#pragma once

#include <chrono>
#include <cstdint>

#include "client/http_client.h"

namespace modelgrid::testing {

using HttpResponse = client::HttpResponse;

class HttpClient : public client::HttpClient {
 public:
  explicit HttpClient(uint16_t port,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000))
      : client::HttpClient("127.0.0.1", port, timeout) {}
};

}  // namespace modelgrid::testing

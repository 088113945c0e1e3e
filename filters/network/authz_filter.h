#pragma once

// Network-level authorization for TCP chains: decides once per connection, before the chain
// after it (tcp_proxy) connects anywhere, from the peer's verified SPIFFE ID and address. A
// refused connection is closed; the counter and a debug line name the rule.

#include <memory>

#include "filters/authz/authz_policy.h"
#include "proxy/network/connection.h"

namespace podproxy::filters {

class NetworkAuthzFilter final : public network::ReadFilter {
 public:
  // `next` runs only for allowed connections; `policy` outlives the filter (worker state).
  NetworkAuthzFilter(const authz::AuthzPolicy& policy, std::unique_ptr<network::ReadFilter> next)
      : policy_(policy), next_(std::move(next)) {}

  void initializeReadFilterCallbacks(network::ReadFilterCallbacks& callbacks) override;
  network::FilterStatus onNewConnection() override;
  network::FilterStatus onData(buffer::Buffer& data, bool end_stream) override;

 private:
  const authz::AuthzPolicy& policy_;
  std::unique_ptr<network::ReadFilter> next_;
  network::ReadFilterCallbacks* callbacks_ = nullptr;
  bool denied_ = false;
};

}  // namespace podproxy::filters

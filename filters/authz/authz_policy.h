#pragma once

// A listener's authorization policy, compiled once per config: allow or deny by the peer's
// verified SPIFFE ID (exact, prefix, trust domain, namespace), source address, and for HTTP by
// path, method and headers. Evaluated per connection (TCP) or per request (HTTP).

#include <re2/re2.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.h"
#include "proxy/http/header_map.h"
#include "proxy/network/address.h"
#include "proxy/network/cidr.h"
#include "proxy/network/transport_socket.h"

namespace podproxy::authz {

// Across workers; one increment per decision.
struct AuthzStats {
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> denied{0};
};

class AuthzPolicy {
 public:
  // Rules were validated by the config loader; `listener` names the policy in logs.
  AuthzPolicy(const config::Authorization& config, std::string listener);

  struct Decision {
    bool allowed = true;
    // The rule that matched ("" when none did: allowed under deny, refused under allow).
    std::string_view rule;
  };

  // `tls` (nullptr for plaintext) gives the peer identity when its certificate was verified;
  // `request` is nullptr for a TCP connection, whose rules with HTTP conditions never match.
  Decision evaluate(const network::Address& source, const network::TlsInfo* tls,
                    const http::RequestHeaders* request) const;
  // evaluate(), counted, with a debug line naming the rule when refused.
  Decision check(const network::Address& source, const network::TlsInfo* tls,
                 const http::RequestHeaders* request) const;

  const std::string& listener() const { return listener_; }
  AuthzStats& stats() const { return stats_; }

 private:
  struct HeaderCondition {
    const config::HeaderMatcher* config;
    std::unique_ptr<RE2> regex;
  };
  struct Rule {
    const config::AuthzRule* config;
    std::vector<network::Cidr> sources;
    std::vector<HeaderCondition> headers;
    bool http_only;
  };

  bool matches(const Rule& rule, const network::Address& source, const std::string* principal,
               const http::RequestHeaders* request) const;

  const config::Authorization config_;  // a copy: rules point into it
  std::string listener_;
  std::vector<Rule> rules_;
  mutable AuthzStats stats_;
};

// Whether a verified SPIFFE ID satisfies one principal.
bool principalMatches(const config::AuthzPrincipal& principal, std::string_view spiffe_id);

}  // namespace podproxy::authz

#pragma once

// SPIFFE IDs (spiffe://<trust-domain>/<path>) as a mesh uses them for workload identity, and the
// Kubernetes convention spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.

#include <optional>
#include <string>
#include <string_view>

namespace podproxy::tls {

struct SpiffeId {
  std::string trust_domain;     // "cluster.local"
  std::string path;             // "/ns/default/sa/web"
  std::string namespace_name;   // "default" when the path is /ns/<ns>/...; else empty
  std::string service_account;  // "web" when the path is /ns/<ns>/sa/<sa>; else empty
};

// nullopt unless `uri` is a well-formed SPIFFE ID: scheme "spiffe", a lower-case trust domain of
// letters, digits, '.', '-' and '_', and a path without query, fragment, or empty segments.
std::optional<SpiffeId> parseSpiffeId(std::string_view uri);

// "spiffe://<trust_domain>/ns/<ns>/sa/<sa>".
std::string kubernetesSpiffeId(std::string_view trust_domain, std::string_view namespace_name,
                               std::string_view service_account);

}  // namespace podproxy::tls

#pragma once

// Reads the TLS parts of a config: listener tls:, mtls: and authorization:, cluster tls:,
// mutual: and peer_* fields, and the top-level workload_identity: (with environment defaults).

#include <functional>
#include <optional>

#include "config/model.h"
#include "config/yaml_reader.h"

namespace podproxy::config {

using TlsEnvLookup = std::function<const char*(const char*)>;

// A TLS server name: exact or "*.wildcard", lower-cased (certificates, filter chains).
std::string readServerName(const YamlNode& node);
// `http_listener`: ALPN defaults to http/1.1.
DownstreamTls readDownstreamTls(const YamlNode& node, bool http_listener);
MtlsMode readMtlsMode(const YamlNode& node);
Authorization readAuthorization(const YamlNode& node);
// `protocol`: the cluster's, for the ALPN default.
UpstreamTls readUpstreamTls(const YamlNode& node, Cluster::Protocol protocol);
// A list of SPIFFE IDs (cluster peer_spiffe_ids).
std::vector<std::string> readSpiffeIds(const YamlNode& node);
// A list of trust domains (cluster peer_trust_domains).
std::vector<std::string> readTrustDomains(const YamlNode& node);
// `node` may be absent. Unset files default to $PODPROXY_CERT_DIR (else /etc/podproxy/certs)
// joined with cert.pem, key.pem and ca.pem.
WorkloadCertificate readWorkloadIdentity(const std::optional<YamlNode>& node,
                                         const TlsEnvLookup& env);

}  // namespace podproxy::config

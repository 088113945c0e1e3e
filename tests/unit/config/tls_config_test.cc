// TLS, mTLS, authorization and workload identity fields in the config loader.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/loader.h"
#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::loadOk;
using testing::withClusters;
using testing::withListeners;

constexpr std::string_view kHttp =
    "  http:\n"
    "    route_config:\n"
    "      virtual_hosts: [{name: all, domains: [\"*\"], routes: [{match: {prefix: /}, "
    "route: {cluster: app}}]}]\n";

std::string listener(std::string_view extra) {
  return "- name: ingress\n"
         "  address: 127.0.0.1:10000\n" +
         std::string(kHttp) + std::string(extra);
}

TEST(TlsConfig, ListenerTlsReadsCertificatesAndParameters) {
  auto config = loadOk(withListeners(
      listener("  tls:\n"
               "    certificates:\n"
               "      - {cert_file: /c/a.pem, key_file: /c/a.key}\n"
               "      - {cert_file: /c/b.pem, key_file: /c/b.key, server_names: [B.Example.com, "
               "\"*.example.org\"]}\n"
               "    ca_file: /c/ca.pem\n"
               "    require_client_certificate: true\n"
               "    min_version: \"1.3\"\n"
               "    cipher_suites: ECDHE-RSA-AES128-GCM-SHA256\n"
               "    session_tickets: false\n")));
  ASSERT_TRUE(config);
  const auto& tls = *config->listeners[0].tls;
  ASSERT_EQ(tls.certificates.size(), 2u);
  EXPECT_EQ(tls.certificates[1].key_file, "/c/b.key");
  EXPECT_EQ(tls.certificates[1].server_names,
            (std::vector<std::string>{"b.example.com", "*.example.org"}));
  EXPECT_EQ(tls.ca_file, "/c/ca.pem");
  EXPECT_TRUE(tls.require_client_certificate);
  EXPECT_EQ(tls.alpn, (std::vector<std::string>{"http/1.1"}));  // HTTP listener default
  EXPECT_EQ(tls.parameters.min_version, TlsVersion::kTls13);
  EXPECT_EQ(tls.parameters.max_version, TlsVersion::kTls13);
  EXPECT_EQ(tls.parameters.cipher_suites, "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_FALSE(tls.parameters.session_tickets);
}

TEST(TlsConfig, ClientCertificatesNeedACa) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  tls:\n"
                                             "    certificates: [{cert_file: a, key_file: b}]\n"
                                             "    require_client_certificate: true\n")),
                      9, 35, "listeners[0].tls.require_client_certificate", "needs ca_file");
}

TEST(TlsConfig, RejectsUnknownVersionsAndBadServerNames) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  tls:\n"
                                             "    certificates: [{cert_file: a, key_file: b}]\n"
                                             "    min_version: \"1.1\"\n")),
                      9, 20, "listeners[0].tls.min_version", "must be 1.2 or 1.3");
  EXPECT_CONFIG_ERROR(
      withListeners(listener("  tls:\n"
                             "    certificates: [{cert_file: a, key_file: b, server_names: "
                             "[\"a b\"]}]\n")),
      8, 65, "listeners[0].tls.certificates[0].server_names[0]", "is not a DNS name");
}

TEST(TlsConfig, MtlsModesAndExclusionWithTls) {
  auto config = loadOk(withListeners(listener("  mtls: permissive\n")));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].mtls, MtlsMode::kPermissive);
  EXPECT_CONFIG_ERROR(withListeners(listener("  mtls: sometimes\n")), 7, 11, "listeners[0].mtls",
                      "strict, permissive or disabled");
  EXPECT_CONFIG_ERROR(withListeners(listener("  tls: {certificates: [{cert_file: a, key_file: "
                                             "b}]}\n"
                                             "  mtls: strict\n")),
                      8, 11, "listeners[0].mtls", "not together with tls");
}

TEST(TlsConfig, AuthorizationRules) {
  auto config = loadOk(withListeners(listener(
      "  authorization:\n"
      "    action: deny\n"
      "    rules:\n"
      "      - name: no-admin\n"
      "        principals: [{exact: \"spiffe://cluster.local/ns/a/sa/b\"}, {prefix: "
      "\"spiffe://cluster.local/ns/x/\"}, {trust_domain: other.local}, {namespace: prod}]\n"
      "        source_ips: [10.0.0.0/8, \"::1\"]\n"
      "        paths: [/admin/*, /exact]\n"
      "        methods: [POST]\n"
      "        headers: [{name: x-debug, present: true}]\n"
      "      - paths: [\"*\"]\n")));
  ASSERT_TRUE(config);
  const Authorization& a = *config->listeners[0].authorization;
  EXPECT_EQ(a.action, Authorization::Action::kDeny);
  ASSERT_EQ(a.rules.size(), 2u);
  EXPECT_EQ(a.rules[0].name, "no-admin");
  EXPECT_EQ(a.rules[1].name, "rules[1]");
  ASSERT_EQ(a.rules[0].principals.size(), 4u);
  EXPECT_EQ(a.rules[0].principals[2].kind, AuthzPrincipal::Kind::kTrustDomain);
  EXPECT_EQ(a.rules[0].principals[3].value, "prod");
  EXPECT_EQ(a.rules[0].source_ips, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_EQ(a.rules[0].headers[0].name, "x-debug");
}

TEST(TlsConfig, AuthorizationRejectsBadValues) {
  const std::string prefix = "  authorization:\n    rules:\n      - ";
  EXPECT_CONFIG_ERROR(withListeners(listener(prefix + "principals: [{exact: \"web\"}]\n")), 9, 32,
                      "listeners[0].authorization.rules[0].principals[0].exact",
                      "is not a SPIFFE ID");
  EXPECT_CONFIG_ERROR(withListeners(listener(prefix + "source_ips: [10.0.0.0/33]\n")), 9, 24,
                      "listeners[0].authorization.rules[0].source_ips[0]", "not an IP address");
  EXPECT_CONFIG_ERROR(withListeners(listener(prefix + "paths: [admin]\n")), 9, 19,
                      "listeners[0].authorization.rules[0].paths[0]", "starts with '/'");
  EXPECT_CONFIG_ERROR(withListeners(listener("  authorization: {action: audit}\n")), 7, 29,
                      "listeners[0].authorization.action", "allow or deny");
}

TEST(TlsConfig, ClusterTlsAndMutual) {
  auto config = loadOk(
      withClusters("- name: api\n"
                   "  endpoints: [\"127.0.0.1:443\"]\n"
                   "  tls: {sni: Api.Example.com, ca_file: /ca.pem, verify_subject_alt_names: "
                   "[api.example.com, \"spiffe://x/y\"], alpn: [h2, http/1.1]}\n"
                   "- name: mesh\n"
                   "  endpoints: [\"127.0.0.1:15006\"]\n"
                   "  mutual: true\n"
                   "  peer_spiffe_ids: [\"spiffe://cluster.local/ns/shop/sa/payments\"]\n"
                   "  peer_trust_domains: [cluster.local]\n"));
  ASSERT_TRUE(config);
  const Cluster& api = config->clusters[0];
  ASSERT_TRUE(api.tls);
  EXPECT_EQ(api.tls->sni, "api.example.com");
  EXPECT_EQ(api.tls->verify_subject_alt_names.size(), 2u);
  EXPECT_EQ(api.tls->alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  const Cluster& mesh = config->clusters[1];
  EXPECT_TRUE(mesh.mutual);
  EXPECT_FALSE(mesh.tls);
  EXPECT_EQ(mesh.peer_spiffe_ids[0], "spiffe://cluster.local/ns/shop/sa/payments");
  EXPECT_EQ(mesh.peer_trust_domains[0], "cluster.local");
}

TEST(TlsConfig, ClusterAlpnDefaultsToWhatTheProtocolSpeaks) {
  auto config = loadOk(withClusters(
      "- {name: auto, endpoints: [\"127.0.0.1:1\"], protocol: auto, tls: {}}\n"
      "- {name: h2, endpoints: [\"127.0.0.1:2\"], protocol: http2, tls: {}}\n"
      "- {name: h1, endpoints: [\"127.0.0.1:3\"], tls: {}}\n"
      // A list given, even an empty one, is kept as it is.
      "- {name: set, endpoints: [\"127.0.0.1:5\"], protocol: auto, tls: {alpn: [http/1.1]}}\n"
      "- {name: none, endpoints: [\"127.0.0.1:6\"], protocol: auto, tls: {alpn: []}}\n"));
  ASSERT_TRUE(config);
  using Alpn = std::vector<std::string>;
  EXPECT_EQ(config->clusters[0].tls->alpn, (Alpn{"h2", "http/1.1"}));
  EXPECT_EQ(config->clusters[1].tls->alpn, (Alpn{"h2"}));
  EXPECT_EQ(config->clusters[2].tls->alpn, Alpn{});
  EXPECT_EQ(config->clusters[3].tls->alpn, (Alpn{"http/1.1"}));
  EXPECT_EQ(config->clusters[4].tls->alpn, Alpn{});
}

TEST(TlsConfig, PeerIdsNeedMutual) {
  EXPECT_CONFIG_ERROR(withClusters("- name: mesh\n"
                                   "  endpoints: [\"127.0.0.1:15006\"]\n"
                                   "  peer_trust_domains: [cluster.local]\n"),
                      4, 25, "clusters[0].peer_trust_domains", "needs mutual: true");
  EXPECT_CONFIG_ERROR(withClusters("- name: mesh\n"
                                   "  endpoints: [\"127.0.0.1:15006\"]\n"
                                   "  mutual: true\n"
                                   "  peer_spiffe_ids: [\"http://x\"]\n"),
                      5, 23, "clusters[0].peer_spiffe_ids[0]", "is not a SPIFFE ID");
}

TEST(TlsConfig, WorkloadIdentityDefaultsFromTheEnvironment) {
  ::unsetenv("PODPROXY_CERT_DIR");
  auto config = loadOk(withListeners(listener("")));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->workload_identity.cert_file, "/etc/podproxy/certs/cert.pem");
  EXPECT_EQ(config->workload_identity.ca_file, "/etc/podproxy/certs/ca.pem");
  ::setenv("PODPROXY_CERT_DIR", "/var/run/secrets/workload", 1);
  config = loadOk("workload_identity: {key_file: /k.pem}\n" + withListeners(listener("")));
  ::unsetenv("PODPROXY_CERT_DIR");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->workload_identity.cert_file, "/var/run/secrets/workload/cert.pem");
  EXPECT_EQ(config->workload_identity.key_file, "/k.pem");
}

}  // namespace
}  // namespace podproxy::config

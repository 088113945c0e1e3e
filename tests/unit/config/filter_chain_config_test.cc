// filter_chains: on tls: listeners, alternative chains chosen by the TLS server name.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/json_dump.h"
#include "config/loader.h"
#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::loadOk;
using testing::withListeners;

// Lines 2-9: the listener with tls:; the fragment after it starts at line 10, column 3 (its
// own indentation counted from there).
std::string listener(std::string_view extra, bool tls = true) {
  return "- name: ingress\n"
         "  address: 127.0.0.1:10000\n"
         "  http:\n"
         "    route_config:\n"
         "      virtual_hosts: [{name: all, domains: [\"*\"], routes: [{match: {prefix: /}, "
         "route: {cluster: app}}]}]\n" +
         std::string(tls ? "  tls:\n"
                           "    certificates: [{cert_file: a, key_file: b}]\n"
                           "  # filter chains\n"
                         : "  # no tls\n"
                           "  # -\n"
                           "  # -\n") +
         std::string(extra);
}

constexpr std::string_view kChains =
    "  filter_chains:\n"
    "    - server_names: [API.example.com, \"*.api.example.com\"]\n"
    "      http:\n"
    "        stat_prefix: api\n"
    "        route_config:\n"
    "          virtual_hosts: [{name: api, domains: [\"*\"], routes: [{match: {prefix: /}, "
    "route: {cluster: other}}]}]\n"
    "    - server_names: [db.example.com]\n"
    "      tcp: {cluster: other}\n";

TEST(FilterChainConfig, ReadsHttpAndTcpChainsWithLowerCasedNames) {
  auto config = loadOk(withListeners(listener(kChains)));
  ASSERT_TRUE(config);
  const Listener& l = config->listeners[0];
  ASSERT_EQ(l.filter_chains.size(), 2u);
  EXPECT_EQ(l.filter_chains[0].server_names,
            (std::vector<std::string>{"api.example.com", "*.api.example.com"}));
  ASSERT_TRUE(l.filter_chains[0].http);
  EXPECT_FALSE(l.filter_chains[0].tcp);
  EXPECT_EQ(l.filter_chains[0].http->stat_prefix, "api");
  EXPECT_EQ(l.filter_chains[0].http->route_config.virtual_hosts[0].name, "api");
  ASSERT_TRUE(l.filter_chains[1].tcp);
  EXPECT_FALSE(l.filter_chains[1].http);
  EXPECT_EQ(l.filter_chains[1].tcp->cluster, "other");
  EXPECT_EQ(l.filter_chains[1].tcp->stat_prefix, "ingress");  // the listener's name by default
  ASSERT_TRUE(l.http);                                        // the default chain
}

TEST(FilterChainConfig, TcpDefaultWithAnHttpChainOffersHttp11) {
  auto config = loadOk(withListeners(
      "- name: ingress\n"
      "  address: 127.0.0.1:10000\n"
      "  tcp: {cluster: app}\n"
      "  tls: {certificates: [{cert_file: a, key_file: b}]}\n"
      "  filter_chains:\n"
      "    - server_names: [web.example.com]\n"
      "      http: {route_config: {virtual_hosts: [{name: w, domains: [\"*\"], routes: [{match: "
      "{prefix: /}, route: {cluster: app}}]}]}}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].tls->alpn, (std::vector<std::string>{"http/1.1"}));
}

TEST(FilterChainConfig, ChainNeedsHttpOrTcp) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [a.example.com]\n")),
                      11, 9, "listeners[0].filter_chains[0]", "one of http, tcp is required");
}

TEST(FilterChainConfig, ChainNeedsServerNames) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - tcp: {cluster: app}\n")),
                      11, 9, "listeners[0].filter_chains[0].server_names",
                      "missing required field");
}

TEST(FilterChainConfig, RejectsAServerNameUsedTwice) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [a.example.com]\n"
                                             "      tcp: {cluster: app}\n"
                                             "    - server_names: [b.example.com, A.Example.com]\n"
                                             "      tcp: {cluster: other}\n")),
                      13, 39, "listeners[0].filter_chains[1].server_names[1]",
                      "'a.example.com' is already used by another filter chain");
}

TEST(FilterChainConfig, RejectsBadServerNames) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [\"a b\"]\n"
                                             "      tcp: {cluster: app}\n")),
                      11, 24, "listeners[0].filter_chains[0].server_names[0]", "is not a DNS name");
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [\"a.*.com\"]\n"
                                             "      tcp: {cluster: app}\n")),
                      11, 24, "listeners[0].filter_chains[0].server_names[0]", "is not a DNS name");
}

TEST(FilterChainConfig, NeedsTls) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [a.example.com]\n"
                                             "      tcp: {cluster: app}\n",
                                             /*tls=*/false)),
                      11, 7, "listeners[0].filter_chains", "need tls:");
}

TEST(FilterChainConfig, ChainClustersMustExist) {
  EXPECT_CONFIG_ERROR(withListeners(listener("  filter_chains:\n"
                                             "    - server_names: [a.example.com]\n"
                                             "      tcp: {cluster: nowhere}\n")),
                      12, 24, "listeners[0].filter_chains[0].tcp.cluster",
                      "cluster 'nowhere' is not defined");
}

TEST(FilterChainConfig, JsonDumpShowsFilterChains) {
  auto config = loadOk(withListeners(listener(kChains)));
  ASSERT_TRUE(config);
  const std::string json = toJson(*config);
  EXPECT_NE(json.find("\"filter_chains\":[{\"server_names\":[\"api.example.com\",\"*.api."
                      "example.com\"],\"http\":{\"stat_prefix\":\"api\""),
            std::string::npos)
      << json;
  EXPECT_NE(json.find("{\"server_names\":[\"db.example.com\"],\"tcp\":{\"stat_prefix\":"
                      "\"ingress\",\"cluster\":\"other\""),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace podproxy::config

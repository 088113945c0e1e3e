// Validation of route_config: virtual hosts, domains, matchers, actions and header mutations.

#include <variant>

#include "tests/unit/config/config_test_util.h"

namespace podproxy::config {
namespace {

using testing::kHostColumn;
using testing::kHostLine;
using testing::kHostsField;
using testing::kRouteColumn;
using testing::kRouteLine;
using testing::kRoutesField;
using testing::loadOk;
using testing::withRoutes;
using testing::withVirtualHosts;

constexpr int R = kRouteLine;
constexpr int RC = kRouteColumn;
constexpr int H = kHostLine;
constexpr int HC = kHostColumn;

const Route& onlyRoute(const BootstrapPtr& config) {
  return config->listeners[0].http->route_config.virtual_hosts[0].routes[0];
}

// --- virtual hosts and domains -----------------------------------------------------------------

TEST(ConfigRouteValidation, DomainMayNotBeInTwoVirtualHosts) {
  EXPECT_CONFIG_ERROR(withVirtualHosts(R"(- name: a
  domains: ["x.local", "*"]
- name: b
  domains: ["y.local", "X.Local"]
)"),
                      H + 4, HC + 24, kHostsField + "[1].domains[1]",
                      "domain 'x.local' is already used by virtual host 'a'");
}

TEST(ConfigRouteValidation, OnlyOneVirtualHostMayBeTheWildcard) {
  EXPECT_CONFIG_ERROR(withVirtualHosts(R"(- name: a
  domains: ["*"]
- name: b
  domains: ["*"]
)"),
                      H + 4, HC + 13, kHostsField + "[1].domains[0]",
                      "domain '*' is already used by virtual host 'a'");
}

TEST(ConfigRouteValidation, DomainListedTwiceInOneVirtualHost) {
  EXPECT_CONFIG_ERROR(withVirtualHosts("- name: a\n  domains: [a.local, a.local]\n"), H + 2,
                      HC + 22, kHostsField + "[0].domains[1]", "domain 'a.local' is listed twice");
}

TEST(ConfigRouteValidation, DomainMustBeExactOrOneWildcardForm) {
  EXPECT_CONFIG_ERROR(withVirtualHosts("- name: a\n  domains: [api.*.local]\n"), H + 2, HC + 13,
                      kHostsField + "[0].domains[0]", "a domain must be");
  EXPECT_CONFIG_ERROR(withVirtualHosts("- name: a\n  domains: [\"api.local:8080\"]\n"), H + 2,
                      HC + 13, kHostsField + "[0].domains[0]", "without its port");
}

TEST(ConfigRouteValidation, DomainsAreLowerCased) {
  BootstrapPtr config =
      loadOk(withVirtualHosts("- name: a\n  domains: [API.Local, \"*.Example\"]\n"));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->listeners[0].http->route_config.virtual_hosts[0].domains,
            (std::vector<std::string>{"api.local", "*.example"}));
}

TEST(ConfigRouteValidation, VirtualHostNeedsNameAndDomains) {
  EXPECT_CONFIG_ERROR(withVirtualHosts("- domains: [\"*\"]\n"), H + 1, HC + 3,
                      kHostsField + "[0].name", "missing required field");
  EXPECT_CONFIG_ERROR(withVirtualHosts("- name: a\n"), H + 1, HC + 3, kHostsField + "[0].domains",
                      "missing required field");
  EXPECT_CONFIG_ERROR(withVirtualHosts("- name: a\n  domains: []\n"), H + 2, HC + 12,
                      kHostsField + "[0].domains", "must not be empty");
}

TEST(ConfigRouteValidation, VirtualHostNamesAreUnique) {
  EXPECT_CONFIG_ERROR(withVirtualHosts(R"(- name: a
  domains: [a.local]
- name: a
  domains: [b.local]
)"),
                      H + 3, HC + 9, kHostsField + "[1].name",
                      "virtual host name 'a' is used twice");
}

// --- route match -------------------------------------------------------------------------------

TEST(ConfigRouteValidation, MatchNeedsExactlyOnePathSpecifier) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /, path: /x}\n  route: {cluster: app}\n"),
                      R + 1, RC + 22, kRoutesField + "[0].match.path",
                      "only one of prefix, path, regex, connect_matcher may be set");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {case_sensitive: false}\n  route: {cluster: app}\n"),
                      R + 1, RC + 10, kRoutesField + "[0].match",
                      "exactly one of prefix, path, regex, connect_matcher is required");
}

TEST(ConfigRouteValidation, MatchIsRequired) {
  EXPECT_CONFIG_ERROR(withRoutes("- name: r\n  route: {cluster: app}\n"), R + 1, RC + 3,
                      kRoutesField + "[0].match", "missing required field");
}

TEST(ConfigRouteValidation, PrefixAndPathStartWithSlash) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: api}\n  route: {cluster: app}\n"), R + 1,
                      RC + 19, kRoutesField + "[0].match.prefix", "must start with '/'");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {path: \"\"}\n  route: {cluster: app}\n"), R + 1,
                      RC + 17, kRoutesField + "[0].match.path", "must not be empty");
}

TEST(ConfigRouteValidation, RouteRegexMustCompile) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {regex: \"/a(\"}\n  route: {cluster: app}\n"), R + 1,
                      RC + 18, kRoutesField + "[0].match.regex", "invalid regex: missing )");
}

TEST(ConfigRouteValidation, MatchReadsAllFields) {
  BootstrapPtr config = loadOk(withRoutes(R"(- name: r
  match:
    regex: "/v[0-9]+/.*"
    case_sensitive: false
    methods: [GET, HEAD]
    headers:
      - {name: X-Exact, exact: a}
      - {name: x-prefix, prefix: b}
      - {name: x-regex, regex: "c+"}
      - {name: ":authority", present: true, invert: true}
  route: {cluster: app}
)"));
  ASSERT_NE(config, nullptr);
  const RouteMatch& match = onlyRoute(config).match;
  EXPECT_EQ(match.path_kind, RouteMatch::PathKind::kRegex);
  EXPECT_EQ(match.path, "/v[0-9]+/.*");
  EXPECT_FALSE(match.case_sensitive);
  EXPECT_EQ(match.methods, (std::vector<std::string>{"GET", "HEAD"}));
  ASSERT_EQ(match.headers.size(), 4u);
  EXPECT_EQ(match.headers[0].name, "x-exact");
  EXPECT_EQ(match.headers[0].kind, HeaderMatcher::Kind::kExact);
  EXPECT_EQ(match.headers[0].value, "a");
  EXPECT_EQ(match.headers[1].kind, HeaderMatcher::Kind::kPrefix);
  EXPECT_EQ(match.headers[2].kind, HeaderMatcher::Kind::kRegex);
  EXPECT_EQ(match.headers[3].name, ":authority");
  EXPECT_EQ(match.headers[3].kind, HeaderMatcher::Kind::kPresent);
  EXPECT_TRUE(match.headers[3].invert);
  EXPECT_EQ(onlyRoute(config).name, "r");
}

// Lines 2-4 of the fragment; the matcher under test is on fragment line 4 at column 7.
std::string withHeaderMatcher(std::string_view matcher) {
  return withRoutes("- match:\n    prefix: /\n    headers:\n      - " + std::string(matcher) +
                    "\n  route: {cluster: app}\n");
}

TEST(ConfigRouteValidation, HeaderMatcherRegexMustCompile) {
  EXPECT_CONFIG_ERROR(withHeaderMatcher(R"({name: x-a, regex: "[z-a]"})"), R + 4, RC + 28,
                      kRoutesField + "[0].match.headers[0].regex", "invalid regex");
}

TEST(ConfigRouteValidation, HeaderMatcherNeedsExactlyOneKind) {
  EXPECT_CONFIG_ERROR(withHeaderMatcher("{name: x-a, invert: true}"), R + 4, RC + 9,
                      kRoutesField + "[0].match.headers[0]",
                      "exactly one of exact, prefix, regex, present is required");
  EXPECT_CONFIG_ERROR(withHeaderMatcher("{name: x-a, exact: a, prefix: b}"), R + 4, RC + 31,
                      kRoutesField + "[0].match.headers[0].prefix",
                      "only one of exact, prefix, regex, present may be set");
}

TEST(ConfigRouteValidation, HeaderMatcherPresentMustBeTrue) {
  EXPECT_CONFIG_ERROR(withHeaderMatcher("{name: x-a, present: false}"), R + 4, RC + 30,
                      kRoutesField + "[0].match.headers[0].present", "use invert: true");
}

TEST(ConfigRouteValidation, HeaderMatcherNameMustBeAToken) {
  EXPECT_CONFIG_ERROR(withHeaderMatcher(R"({name: "x a", exact: b})"), R + 4, RC + 16,
                      kRoutesField + "[0].match.headers[0].name",
                      "'x a' is not a valid header name");
}

TEST(ConfigRouteValidation, MethodsMustBeTokens) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /, methods: [\"GE T\"]}\n"
                                 "  route: {cluster: app}\n"),
                      R + 1, RC + 32, kRoutesField + "[0].match.methods[0]",
                      "'GE T' is not a valid HTTP method");
}

// --- actions -----------------------------------------------------------------------------------

TEST(ConfigRouteValidation, RouteNeedsExactlyOneAction) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  redirect: {path: /x}
)"),
                      R + 3, RC + 3, kRoutesField + "[0].redirect",
                      "only one of route, redirect, direct_response may be set");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n"), R + 1, RC + 3, kRoutesField + "[0]",
                      "exactly one of route, redirect, direct_response is required");
}

TEST(ConfigRouteValidation, RouteClusterMustExist) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  route: {cluster: nope}\n"), R + 2,
                      RC + 20, kRoutesField + "[0].route.cluster", "cluster 'nope' is not defined");
}

TEST(ConfigRouteValidation, ClusterMayBeDefinedBeforeOrAfterItsUse) {
  // withRoutes() puts the clusters after the listeners; this puts them first.
  const std::string yaml = std::string(testing::kTwoClusters) + R"(listeners:
  - name: a
    address: 127.0.0.1:0
    tcp: {cluster: other}
)";
  EXPECT_NE(loadOk(yaml), nullptr);
}

TEST(ConfigRouteValidation, RouteActionIsClusterOrWeightedClusters) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app, weighted_clusters: [{name: app, weight: 1}]}
)"),
                      R + 2, RC + 25, kRoutesField + "[0].route.weighted_clusters",
                      "only one of cluster, weighted_clusters, original_destination may be set");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  route: {timeout: 1s}\n"), R + 2, RC + 10,
                      kRoutesField + "[0].route",
                      "one of cluster, weighted_clusters, original_destination is required");
}

TEST(ConfigRouteValidation, WeightedClustersNeedPositiveWeights) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route:
    weighted_clusters:
      - {name: app, weight: 0}
)"),
                      R + 4, RC + 29, kRoutesField + "[0].route.weighted_clusters[0].weight",
                      "must be between 1 and 4294967295");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  route: {weighted_clusters: []}\n"), R + 2,
                      RC + 30, kRoutesField + "[0].route.weighted_clusters", "must not be empty");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route:
    weighted_clusters:
      - {name: app}
)"),
                      R + 4, RC + 9, kRoutesField + "[0].route.weighted_clusters[0].weight",
                      "missing required field");
}

TEST(ConfigRouteValidation, WeightedClustersMustExistAndBeDistinct) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route:
    weighted_clusters:
      - {name: app, weight: 50}
      - {name: nope, weight: 50}
)"),
                      R + 5, RC + 16, kRoutesField + "[0].route.weighted_clusters[1].name",
                      "cluster 'nope' is not defined");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route:
    weighted_clusters:
      - {name: app, weight: 50}
      - {name: app, weight: 50}
)"),
                      R + 5, RC + 16, kRoutesField + "[0].route.weighted_clusters[1].name",
                      "cluster 'app' listed twice");
}

TEST(ConfigRouteValidation, RouteActionReadsAllFields) {
  BootstrapPtr config = loadOk(withRoutes(R"(- match: {prefix: /api}
  route:
    weighted_clusters: [{name: app, weight: 3}, {name: other, weight: 1}]
    prefix_rewrite: /
    host_rewrite: backend.local
    timeout: 0s
    idle_timeout: 20s
)"));
  ASSERT_NE(config, nullptr);
  const auto* action = std::get_if<RouteAction>(&onlyRoute(config).action);
  ASSERT_NE(action, nullptr);
  EXPECT_TRUE(action->cluster.empty());
  ASSERT_EQ(action->weighted_clusters.size(), 2u);
  EXPECT_EQ(action->weighted_clusters[0].name, "app");
  EXPECT_EQ(action->weighted_clusters[0].weight, 3u);
  EXPECT_EQ(action->prefix_rewrite, "/");
  EXPECT_EQ(action->host_rewrite, "backend.local");
  EXPECT_EQ(action->timeout, Duration(0));
  EXPECT_EQ(action->idle_timeout, Duration(20000));
}

TEST(ConfigRouteValidation, RejectsUnknownRouteActionField) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  route: {cluster: app, timeuot: 5s}\n"),
                      R + 2, RC + 25, kRoutesField + "[0].route.timeuot", "unknown field");
}

TEST(ConfigRouteValidation, RouteTimeoutMustBeADuration) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  route: {cluster: app, timeout: 5x}\n"),
                      R + 2, RC + 34, kRoutesField + "[0].route.timeout",
                      "expected a duration like 250ms or 5s");
}

TEST(ConfigRouteValidation, PrefixRewriteNeedsAPrefixOrPathMatch) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {regex: "/a.*"}
  route: {cluster: app, prefix_rewrite: /b}
)"),
                      R + 2, RC + 41, kRoutesField + "[0].route.prefix_rewrite",
                      "prefix_rewrite needs a prefix or path match");
}

TEST(ConfigRouteValidation, RedirectResponseCodeIsARedirectCode) {
  EXPECT_CONFIG_ERROR(
      withRoutes("- match: {prefix: /}\n  redirect: {path: /x, response_code: 305}\n"), R + 2,
      RC + 39, kRoutesField + "[0].redirect.response_code",
      "response_code must be one of 301, 302, 303, 307, 308");
  for (int code : {301, 302, 303, 307, 308}) {
    BootstrapPtr config = loadOk(withRoutes(
        "- match: {prefix: /}\n  redirect: {response_code: " + std::to_string(code) + "}\n"));
    ASSERT_NE(config, nullptr);
    EXPECT_EQ(std::get<RedirectAction>(onlyRoute(config).action).response_code, code);
  }
}

TEST(ConfigRouteValidation, RedirectReadsAllFields) {
  BootstrapPtr config = loadOk(withRoutes(R"(- match: {prefix: /old}
  redirect:
    scheme: HTTPS
    host: New.Example.com
    port: 8443
    prefix_rewrite: /new
    strip_query: true
)"));
  ASSERT_NE(config, nullptr);
  const auto& redirect = std::get<RedirectAction>(onlyRoute(config).action);
  EXPECT_EQ(redirect.scheme, "https");
  EXPECT_EQ(redirect.host, "new.example.com");
  EXPECT_EQ(redirect.port, 8443);
  EXPECT_EQ(redirect.prefix_rewrite, "/new");
  EXPECT_FALSE(redirect.path.has_value());
  EXPECT_TRUE(redirect.strip_query);
  EXPECT_EQ(redirect.response_code, 301);
}

TEST(ConfigRouteValidation, RedirectFieldsAreChecked) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  redirect: {scheme: ftp}\n"), R + 2,
                      RC + 22, kRoutesField + "[0].redirect.scheme",
                      "scheme must be http or https");
  EXPECT_CONFIG_ERROR(
      withRoutes("- match: {prefix: /}\n  redirect: {path: /a, prefix_rewrite: /b}\n"), R + 2,
      RC + 24, kRoutesField + "[0].redirect.prefix_rewrite",
      "only one of path, prefix_rewrite may be set");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  redirect: {port: 0}\n"), R + 2, RC + 20,
                      kRoutesField + "[0].redirect.port", "must be between 1 and 65535");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  redirect: {host: \"a.com:80\"}\n"), R + 2,
                      RC + 20, kRoutesField + "[0].redirect.host", "give the port in port:");
}

TEST(ConfigRouteValidation, DirectResponseStatusIs100To599) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  direct_response: {status: 600}\n"), R + 2,
                      RC + 29, kRoutesField + "[0].direct_response.status",
                      "must be between 100 and 599");
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /}\n  direct_response: {status: 99}\n"), R + 2,
                      RC + 29, kRoutesField + "[0].direct_response.status",
                      "must be between 100 and 599");
  BootstrapPtr config = loadOk(withRoutes(R"(- match: {path: /ready}
  direct_response: {status: 503, body: "not ready", content_type: application/json}
)"));
  ASSERT_NE(config, nullptr);
  const auto& response = std::get<DirectResponseAction>(onlyRoute(config).action);
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "not ready");
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(onlyRoute(config).match.path_kind, RouteMatch::PathKind::kExact);
}

// --- header mutations --------------------------------------------------------------------------

TEST(ConfigRouteValidation, HeaderMutationsAreReadAndLowerCased) {
  BootstrapPtr config = loadOk(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  request_headers_to_add:
    - {name: X-Added, value: "1"}
    - {name: x-replaced, value: "2", append: false}
  request_headers_to_remove: [X-Secret]
  response_headers_to_add: [{name: x-resp, value: v}]
  response_headers_to_remove: [server]
)"));
  ASSERT_NE(config, nullptr);
  const HeaderMutations& headers = onlyRoute(config).headers;
  ASSERT_EQ(headers.request_headers_to_add.size(), 2u);
  EXPECT_EQ(headers.request_headers_to_add[0].name, "x-added");
  EXPECT_EQ(headers.request_headers_to_add[0].value, "1");
  EXPECT_TRUE(headers.request_headers_to_add[0].append);
  EXPECT_FALSE(headers.request_headers_to_add[1].append);
  EXPECT_EQ(headers.request_headers_to_remove, std::vector<std::string>{"x-secret"});
  EXPECT_EQ(headers.response_headers_to_add[0].name, "x-resp");
  EXPECT_EQ(headers.response_headers_to_remove, std::vector<std::string>{"server"});
}

TEST(ConfigRouteValidation, HeaderMutationNamesAndValuesAreChecked) {
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  request_headers_to_add: [{name: "x y", value: a}]
)"),
                      R + 3, RC + 35, kRoutesField + "[0].request_headers_to_add[0].name",
                      "not a valid header name");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  request_headers_to_add: [{name: x, value: "a\nb"}]
)"),
                      R + 3, RC + 45, kRoutesField + "[0].request_headers_to_add[0].value",
                      "may not contain CR, LF or NUL");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  response_headers_to_add: [{name: x}]
)"),
                      R + 3, RC + 29, kRoutesField + "[0].response_headers_to_add[0].value",
                      "missing required field");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  request_headers_to_remove: [x-a, Host]
)"),
                      R + 3, RC + 36, kRoutesField + "[0].request_headers_to_remove[1]",
                      "the host header may not be removed");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  request_headers_to_remove: [":path"]
)"),
                      R + 3, RC + 31, kRoutesField + "[0].request_headers_to_remove[0]",
                      "not a valid header name");
}

TEST(ConfigRouteValidation, VirtualHostHeaderMutationsAreRead) {
  BootstrapPtr config = loadOk(withVirtualHosts(R"(- name: a
  domains: ["*"]
  response_headers_to_add: [{name: x-vhost, value: a}]
  request_headers_to_remove: [cookie]
)"));
  ASSERT_NE(config, nullptr);
  const VirtualHost& host = config->listeners[0].http->route_config.virtual_hosts[0];
  EXPECT_EQ(host.headers.response_headers_to_add[0].name, "x-vhost");
  EXPECT_EQ(host.headers.request_headers_to_remove, std::vector<std::string>{"cookie"});
  EXPECT_TRUE(host.routes.empty());
}

TEST(ConfigRouteValidation, RejectsUnknownFieldsInRouteAndMatch) {
  EXPECT_CONFIG_ERROR(withRoutes("- match: {prefix: /, regexx: a}\n  route: {cluster: app}\n"),
                      R + 1, RC + 22, kRoutesField + "[0].match.regexx", "unknown field");
  EXPECT_CONFIG_ERROR(withRoutes(R"(- match: {prefix: /}
  route: {cluster: app}
  retry_policy: {}
)"),
                      R + 3, RC + 3, kRoutesField + "[0].retry_policy", "unknown field");
}

}  // namespace
}  // namespace podproxy::config

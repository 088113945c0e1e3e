#include "filters/http/route_table.h"

#include <gtest/gtest.h>

#include <map>

namespace podproxy::router {
namespace {

using config::HeaderMatcher;
using config::RouteMatch;

config::Route clusterRoute(std::string name, std::string prefix, std::string cluster) {
  config::Route route;
  route.name = std::move(name);
  route.match.path = std::move(prefix);
  config::RouteAction action;
  action.cluster = std::move(cluster);
  route.action = action;
  return route;
}

config::VirtualHost vhost(std::string name, std::vector<std::string> domains,
                          std::vector<config::Route> routes = {}) {
  config::VirtualHost host;
  host.name = name;
  host.domains = std::move(domains);
  if (routes.empty()) routes.push_back(clusterRoute(name + "-route", "/", name));
  host.routes = std::move(routes);
  return host;
}

std::unique_ptr<const RouteTable> build(std::vector<config::VirtualHost> hosts) {
  config::RouteConfig config;
  config.name = "test";
  config.virtual_hosts = std::move(hosts);
  auto table = RouteTable::create(config);
  EXPECT_TRUE(table.has_value()) << table.error();
  return table ? std::move(*table) : nullptr;
}

std::unique_ptr<const RouteTable> buildRoutes(std::vector<config::Route> routes) {
  return build({vhost("all", {"*"}, std::move(routes))});
}

http::RequestHeaders request(std::string path, std::string authority = "example.com",
                             std::string method = "GET") {
  http::RequestHeaders headers;
  headers.method = std::move(method);
  headers.scheme = "http";
  headers.authority = std::move(authority);
  headers.path = std::move(path);
  return headers;
}

std::string vhostName(const RouteTable& table, std::string_view authority) {
  const VirtualHostEntry* host = table.virtualHost(authority);
  return host == nullptr ? "<none>" : host->name();
}

std::string routeName(const RouteTable& table, const http::RequestHeaders& headers) {
  const RouteEntry* route = table.match(headers);
  return route == nullptr ? "<none>" : route->name();
}

// --- Virtual host selection ---------------------------------------------------------------

TEST(RouteTableVirtualHost, PrefersExactThenSuffixThenPrefixThenDefault) {
  auto table = build({vhost("default", {"*"}), vhost("prefix", {"api.*"}),
                      vhost("suffix", {"*.example.com"}), vhost("exact", {"api.example.com"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, "api.example.com"), "exact");
  EXPECT_EQ(vhostName(*table, "web.example.com"), "suffix");
  EXPECT_EQ(vhostName(*table, "api.example.org"), "prefix");
  EXPECT_EQ(vhostName(*table, "other.org"), "default");
}

TEST(RouteTableVirtualHost, LongestWildcardWins) {
  auto table = build({vhost("short-suffix", {"*.com"}), vhost("long-suffix", {"*.example.com"}),
                      vhost("short-prefix", {"api.*"}), vhost("long-prefix", {"api.v2.*"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, "a.example.com"), "long-suffix");
  EXPECT_EQ(vhostName(*table, "a.other.com"), "short-suffix");
  EXPECT_EQ(vhostName(*table, "api.v2.internal"), "long-prefix");
  EXPECT_EQ(vhostName(*table, "api.v1.internal"), "short-prefix");
}

TEST(RouteTableVirtualHost, SuffixBeatsLongerPrefix) {
  auto table = build({vhost("prefix", {"very.long.prefix.*"}), vhost("suffix", {"*.net"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, "very.long.prefix.net"), "suffix");
}

TEST(RouteTableVirtualHost, WildcardMustMatchAtLeastOneCharacter) {
  auto table = build({vhost("suffix", {"*.example.com"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, ".example.com"), "<none>");
  EXPECT_EQ(vhostName(*table, "example.com"), "<none>");
  EXPECT_EQ(vhostName(*table, "x.example.com"), "suffix");
}

TEST(RouteTableVirtualHost, StripsPortAndIgnoresCase) {
  auto table =
      build({vhost("api", {"API.Example.com"}), vhost("v6", {"[::1]"}), vhost("v4", {"10.0.0.1"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, "api.example.com:8080"), "api");
  EXPECT_EQ(vhostName(*table, "Api.EXAMPLE.Com"), "api");
  EXPECT_EQ(vhostName(*table, "[::1]:80"), "v6");
  EXPECT_EQ(vhostName(*table, "[::1]"), "v6");
  EXPECT_EQ(vhostName(*table, "10.0.0.1:15006"), "v4");
}

TEST(RouteTableVirtualHost, NoMatchReturnsNullAndRouteIsNull) {
  auto table = build({vhost("api", {"api.local"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->virtualHost("web.local"), nullptr);
  EXPECT_EQ(table->match(request("/", "web.local")), nullptr);
  EXPECT_EQ(table->virtualHost(""), nullptr);
}

TEST(RouteTableVirtualHost, HandlesAuthorityLongerThanStackBuffer) {
  const std::string long_host = std::string(300, 'a') + ".example.com";
  auto table = build({vhost("suffix", {"*.example.com"})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(vhostName(*table, long_host + ":80"), "suffix");
}

TEST(RouteTableCreate, RejectsBadDomains) {
  config::RouteConfig config;
  config.virtual_hosts = {vhost("a", {"a.local"}), vhost("b", {"A.local"})};
  auto duplicate = RouteTable::create(config);
  ASSERT_FALSE(duplicate.has_value());
  EXPECT_NE(duplicate.error().find("used by two"), std::string::npos) << duplicate.error();

  config.virtual_hosts = {vhost("a", {"a.*.local"})};
  EXPECT_FALSE(RouteTable::create(config).has_value());
  config.virtual_hosts = {vhost("a", {"a.local:80"})};
  EXPECT_FALSE(RouteTable::create(config).has_value());
  config.virtual_hosts = {vhost("a", {})};
  EXPECT_FALSE(RouteTable::create(config).has_value());
}

TEST(RouteTableCreate, RejectsInvalidRegexAndBadActions) {
  config::Route bad_path = clusterRoute("bad", "/(", "c");
  bad_path.match.path_kind = RouteMatch::PathKind::kRegex;
  auto result = RouteTable::create({"x", {vhost("v", {"*"}, {bad_path})}});
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error().find("invalid regex"), std::string::npos) << result.error();

  config::Route bad_header = clusterRoute("bad", "/", "c");
  bad_header.match.headers.push_back({"x-a", HeaderMatcher::Kind::kRegex, "[", false});
  EXPECT_FALSE(RouteTable::create({"x", {vhost("v", {"*"}, {bad_header})}}).has_value());

  config::Route no_cluster = clusterRoute("bad", "/", "");
  EXPECT_FALSE(RouteTable::create({"x", {vhost("v", {"*"}, {no_cluster})}}).has_value());

  config::Route zero_weights = clusterRoute("bad", "/", "");
  std::get<config::RouteAction>(zero_weights.action).weighted_clusters = {{"a", 0}, {"b", 0}};
  EXPECT_FALSE(RouteTable::create({"x", {vhost("v", {"*"}, {zero_weights})}}).has_value());
}

// --- Path, method and header matching ------------------------------------------------------

TEST(RouteTableMatch, PrefixMatchIsCaseSensitiveByDefault) {
  auto table = buildRoutes({clusterRoute("api", "/api", "c")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/api")), "api");
  EXPECT_EQ(routeName(*table, request("/api/v1?x=1")), "api");
  EXPECT_EQ(routeName(*table, request("/API/v1")), "<none>");
  EXPECT_EQ(routeName(*table, request("/ap")), "<none>");
}

TEST(RouteTableMatch, CaseInsensitivePrefixAndExact) {
  config::Route prefix = clusterRoute("prefix", "/Api/", "c");
  prefix.match.case_sensitive = false;
  config::Route exact = clusterRoute("exact", "/Health", "c");
  exact.match.path_kind = RouteMatch::PathKind::kExact;
  exact.match.case_sensitive = false;
  auto table = buildRoutes({prefix, exact});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/aPI/x")), "prefix");
  EXPECT_EQ(routeName(*table, request("/HEALTH")), "exact");
  EXPECT_EQ(routeName(*table, request("/healthz")), "<none>");
}

TEST(RouteTableMatch, ExactPathIgnoresQueryString) {
  config::Route exact = clusterRoute("exact", "/status", "c");
  exact.match.path_kind = RouteMatch::PathKind::kExact;
  auto table = buildRoutes({exact});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/status")), "exact");
  EXPECT_EQ(routeName(*table, request("/status?verbose=1")), "exact");
  EXPECT_EQ(routeName(*table, request("/status/")), "<none>");
  EXPECT_EQ(routeName(*table, request("/Status")), "<none>");
}

TEST(RouteTableMatch, RegexIsFullMatchOnPathWithoutQuery) {
  config::Route regex = clusterRoute("regex", "/users/[0-9]+", "c");
  regex.match.path_kind = RouteMatch::PathKind::kRegex;
  auto table = buildRoutes({regex});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/users/42")), "regex");
  EXPECT_EQ(routeName(*table, request("/users/42?page=2")), "regex");
  EXPECT_EQ(routeName(*table, request("/users/42/posts")), "<none>");
  EXPECT_EQ(routeName(*table, request("/v1/users/42")), "<none>");
}

TEST(RouteTableMatch, CaseInsensitiveRegex) {
  config::Route regex = clusterRoute("regex", "/img/[a-z]+\\.png", "c");
  regex.match.path_kind = RouteMatch::PathKind::kRegex;
  regex.match.case_sensitive = false;
  auto table = buildRoutes({regex});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/IMG/Logo.PNG")), "regex");
}

TEST(RouteTableMatch, MethodsRestrictTheRoute) {
  config::Route writes = clusterRoute("writes", "/", "c");
  writes.match.methods = {"POST", "PUT"};
  config::Route rest = clusterRoute("rest", "/", "c");
  auto table = buildRoutes({writes, rest});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/x", "h", "POST")), "writes");
  EXPECT_EQ(routeName(*table, request("/x", "h", "PUT")), "writes");
  EXPECT_EQ(routeName(*table, request("/x", "h", "GET")), "rest");
  EXPECT_EQ(routeName(*table, request("/x", "h", "post")), "rest");
}

TEST(RouteTableMatch, FirstMatchWins) {
  auto table = buildRoutes({clusterRoute("catch-all", "/", "a"), clusterRoute("api", "/api", "b")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/api/x")), "catch-all");
}

TEST(RouteTableMatch, RoutesBelongToTheirVirtualHost) {
  auto table = build({vhost("api", {"api.local"}, {clusterRoute("api-only", "/api", "a")}),
                      vhost("web", {"*"}, {clusterRoute("web-root", "/", "w")})});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, request("/api", "api.local")), "api-only");
  EXPECT_EQ(routeName(*table, request("/other", "api.local")), "<none>");
  EXPECT_EQ(routeName(*table, request("/api", "web.local")), "web-root");
  EXPECT_EQ(table->match(request("/api", "api.local"))->virtualHost().name(), "api");
}

config::Route headerRoute(HeaderMatcher::Kind kind, std::string value, bool invert = false,
                          std::string name = "x-tenant") {
  config::Route route = clusterRoute("header", "/", "c");
  route.match.headers.push_back({std::move(name), kind, std::move(value), invert});
  return route;
}

http::RequestHeaders withHeader(std::string_view value) {
  http::RequestHeaders headers = request("/");
  headers.headers.add("X-Tenant", value);
  return headers;
}

TEST(RouteTableHeaderMatch, Exact) {
  auto table = buildRoutes({headerRoute(HeaderMatcher::Kind::kExact, "blue")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, withHeader("blue")), "header");
  EXPECT_EQ(routeName(*table, withHeader("blue2")), "<none>");
  EXPECT_EQ(routeName(*table, withHeader("Blue")), "<none>");
  EXPECT_EQ(routeName(*table, request("/")), "<none>");
}

TEST(RouteTableHeaderMatch, Prefix) {
  auto table = buildRoutes({headerRoute(HeaderMatcher::Kind::kPrefix, "bl")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, withHeader("blue")), "header");
  EXPECT_EQ(routeName(*table, withHeader("red")), "<none>");
}

TEST(RouteTableHeaderMatch, RegexIsFullMatch) {
  auto table = buildRoutes({headerRoute(HeaderMatcher::Kind::kRegex, "v[0-9]+")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, withHeader("v12")), "header");
  EXPECT_EQ(routeName(*table, withHeader("v12-beta")), "<none>");
}

TEST(RouteTableHeaderMatch, PresentAndAbsent) {
  auto table = buildRoutes({headerRoute(HeaderMatcher::Kind::kPresent, "")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(routeName(*table, withHeader("")), "header");
  EXPECT_EQ(routeName(*table, request("/")), "<none>");
}

TEST(RouteTableHeaderMatch, InvertNegatesIncludingAbsentHeader) {
  auto exact = buildRoutes({headerRoute(HeaderMatcher::Kind::kExact, "blue", true)});
  ASSERT_NE(exact, nullptr);
  EXPECT_EQ(routeName(*exact, withHeader("blue")), "<none>");
  EXPECT_EQ(routeName(*exact, withHeader("red")), "header");
  EXPECT_EQ(routeName(*exact, request("/")), "header");

  auto present = buildRoutes({headerRoute(HeaderMatcher::Kind::kPresent, "", true)});
  ASSERT_NE(present, nullptr);
  EXPECT_EQ(routeName(*present, withHeader("x")), "<none>");
  EXPECT_EQ(routeName(*present, request("/")), "header");
}

TEST(RouteTableHeaderMatch, ConfiguredNameIsCaseInsensitiveAndAllMatchersMustPass) {
  config::Route route = headerRoute(HeaderMatcher::Kind::kExact, "blue", false, "X-Tenant");
  route.match.headers.push_back({"x-env", HeaderMatcher::Kind::kPresent, "", false});
  auto table = buildRoutes({route});
  ASSERT_NE(table, nullptr);
  http::RequestHeaders only_tenant = withHeader("blue");
  EXPECT_EQ(routeName(*table, only_tenant), "<none>");
  only_tenant.headers.add("x-env", "prod");
  EXPECT_EQ(routeName(*table, only_tenant), "header");
}

TEST(RouteTableHeaderMatch, RepeatedHeaderMatchesCombinedValue) {
  auto table = buildRoutes({headerRoute(HeaderMatcher::Kind::kExact, "a, b")});
  ASSERT_NE(table, nullptr);
  http::RequestHeaders headers = withHeader("a");
  headers.headers.add("x-tenant", "b");
  EXPECT_EQ(routeName(*table, headers), "header");
}

// --- Actions -------------------------------------------------------------------------------

TEST(RouteEntry, PickClusterReturnsSingleCluster) {
  auto table = buildRoutes({clusterRoute("r", "/", "backend")});
  ASSERT_NE(table, nullptr);
  const RouteEntry* route = table->match(request("/"));
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->pickCluster(0), "backend");
  EXPECT_EQ(route->pickCluster(12345), "backend");
}

TEST(RouteEntry, PickClusterFollowsCumulativeWeights) {
  config::Route route = clusterRoute("r", "/", "");
  std::get<config::RouteAction>(route.action).weighted_clusters = {
      {"v1", 70}, {"skipped", 0}, {"v2", 20}, {"v3", 10}};
  auto table = buildRoutes({route});
  ASSERT_NE(table, nullptr);
  const RouteEntry* entry = table->match(request("/"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->pickCluster(0), "v1");
  EXPECT_EQ(entry->pickCluster(69), "v1");
  EXPECT_EQ(entry->pickCluster(70), "v2");
  EXPECT_EQ(entry->pickCluster(89), "v2");
  EXPECT_EQ(entry->pickCluster(90), "v3");
  EXPECT_EQ(entry->pickCluster(99), "v3");
  EXPECT_EQ(entry->pickCluster(100), "v1");  // random % total

  std::map<std::string, int> counts;
  for (uint64_t r = 0; r < 1000; ++r) counts[std::string(entry->pickCluster(r * 7919))]++;
  EXPECT_EQ(counts["v1"], 700);
  EXPECT_EQ(counts["v2"], 200);
  EXPECT_EQ(counts["v3"], 100);
  EXPECT_EQ(counts.count("skipped"), 0u);
}

TEST(RouteEntry, PrefixRewriteReplacesOnlyMatchedPrefixAndKeepsQuery) {
  config::Route route = clusterRoute("r", "/api/", "c");
  std::get<config::RouteAction>(route.action).prefix_rewrite = "/v2/";
  auto table = buildRoutes({route});
  ASSERT_NE(table, nullptr);
  const RouteEntry* entry = table->match(request("/api/users?id=1"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->rewritePath("/api/users?id=1"), "/v2/users?id=1");
  EXPECT_EQ(entry->rewritePath("/api/"), "/v2/");
}

TEST(RouteEntry, PrefixRewriteOfExactRouteReplacesWholePath) {
  config::Route route = clusterRoute("r", "/old", "c");
  route.match.path_kind = RouteMatch::PathKind::kExact;
  std::get<config::RouteAction>(route.action).prefix_rewrite = "/new";
  auto table = buildRoutes({route});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->match(request("/old?a=b"))->rewritePath("/old?a=b"), "/new?a=b");
}

TEST(RouteEntry, NoRewriteLeavesPathUnchanged) {
  auto table = buildRoutes({clusterRoute("r", "/api", "c")});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->match(request("/api/x?q"))->rewritePath("/api/x?q"), "/api/x?q");
}

config::Route redirectRoute(config::RedirectAction redirect, std::string prefix = "/") {
  config::Route route;
  route.name = "redirect";
  route.match.path = std::move(prefix);
  route.action = redirect;
  return route;
}

std::string location(const config::RedirectAction& redirect, const http::RequestHeaders& req,
                     std::string prefix = "/") {
  auto table = buildRoutes({redirectRoute(redirect, prefix)});
  const RouteEntry* entry = table ? table->match(req) : nullptr;
  if (entry == nullptr) return "<no route>";
  EXPECT_NE(entry->redirectAction(), nullptr);
  EXPECT_EQ(entry->pickCluster(0), "");
  return entry->redirectLocation(req);
}

TEST(RouteEntryRedirect, HttpsRedirectKeepsHostPathAndQueryAndDropsDefaultPort) {
  config::RedirectAction redirect;
  redirect.scheme = "https";
  EXPECT_EQ(location(redirect, request("/a/b?c=d", "Example.com")), "https://Example.com/a/b?c=d");
  EXPECT_EQ(location(redirect, request("/a", "example.com:80")), "https://example.com/a");
  EXPECT_EQ(location(redirect, request("/a", "example.com:8080")), "https://example.com:8080/a");
  EXPECT_EQ(location(redirect, request("/a", "[::1]:80")), "https://[::1]/a");
}

TEST(RouteEntryRedirect, KeepsOriginalSchemeAndHostWhenNotOverridden) {
  config::RedirectAction redirect;
  redirect.path = "/new";
  http::RequestHeaders req = request("/old?x=1", "svc.local:8080");
  EXPECT_EQ(location(redirect, req), "http://svc.local:8080/new?x=1");
  req.scheme = "https";
  EXPECT_EQ(location(redirect, req), "https://svc.local:8080/new?x=1");
}

TEST(RouteEntryRedirect, HostAndPortOverrides) {
  config::RedirectAction redirect;
  redirect.host = "other.local";
  EXPECT_EQ(location(redirect, request("/p", "svc.local:8080")), "http://other.local:8080/p");
  redirect.port = 9090;
  EXPECT_EQ(location(redirect, request("/p", "svc.local:8080")), "http://other.local:9090/p");
  redirect.port = 80;
  EXPECT_EQ(location(redirect, request("/p", "svc.local:8080")), "http://other.local/p");
}

TEST(RouteEntryRedirect, PrefixRewriteAndStripQuery) {
  config::RedirectAction redirect;
  redirect.prefix_rewrite = "/v2/";
  EXPECT_EQ(location(redirect, request("/v1/items?id=3", "h"), "/v1/"), "http://h/v2/items?id=3");
  redirect.strip_query = true;
  EXPECT_EQ(location(redirect, request("/v1/items?id=3", "h"), "/v1/"), "http://h/v2/items");
}

TEST(RouteEntryRedirect, PathWithQueryReplacesOriginalQuery) {
  config::RedirectAction redirect;
  redirect.path = "/login?from=old";
  EXPECT_EQ(location(redirect, request("/x?a=1", "h")), "http://h/login?from=old");
}

TEST(RouteEntryRedirect, WithoutAuthorityIsRelative) {
  config::RedirectAction redirect;
  redirect.path = "/elsewhere";
  EXPECT_EQ(location(redirect, request("/x", "")), "/elsewhere");
}

TEST(RouteEntry, DirectResponseRouteExposesItsAction) {
  config::Route route;
  route.name = "direct";
  route.action = config::DirectResponseAction{503, "down", "text/plain"};
  auto table = buildRoutes({route});
  ASSERT_NE(table, nullptr);
  const RouteEntry* entry = table->match(request("/anything"));
  ASSERT_NE(entry, nullptr);
  ASSERT_NE(entry->directResponseAction(), nullptr);
  EXPECT_EQ(entry->directResponseAction()->status, 503);
  EXPECT_EQ(entry->routeAction(), nullptr);
  EXPECT_EQ(entry->rewritePath("/anything"), "/anything");
}

TEST(RouteTable, OwnsItsConfigCopy) {
  std::unique_ptr<const RouteTable> table;
  {
    config::RouteConfig config;
    config.virtual_hosts = {vhost("v", {"*"}, {clusterRoute("r", "/", "backend")})};
    table = std::move(*RouteTable::create(config));
  }
  const RouteEntry* entry = table->match(request("/"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->pickCluster(0), "backend");
  EXPECT_EQ(entry->config().name, "r");
}

TEST(RouteTable, ConnectReachesOnlyConnectMatcherRoutes) {
  config::Route connect = clusterRoute("connect", "/", "tunnel");
  connect.match.connect_matcher = true;
  auto table = buildRoutes({clusterRoute("web", "/", "web"), connect});
  ASSERT_NE(table, nullptr);
  // CONNECT has no path: the prefix route that takes everything else never takes it.
  const RouteEntry* route = table->match(request("", "example.com:443", "CONNECT"));
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->name(), "connect");
  route = table->match(request("/x", "example.com", "GET"));
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->name(), "web");
}

TEST(RouteTable, ConnectWithoutAConnectRouteMatchesNothing) {
  config::Route regex = clusterRoute("any", ".*", "web");
  regex.match.path_kind = RouteMatch::PathKind::kRegex;
  auto table = buildRoutes({clusterRoute("web", "/", "web"), regex});
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(table->match(request("", "example.com:443", "CONNECT")), nullptr);
}

}  // namespace
}  // namespace podproxy::router

// Route matching cost per request: a 50-route virtual host and a 20-virtual-host table.

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "filters/http/route_table.h"

namespace podproxy::router {
namespace {

config::Route makeRoute(int i) {
  config::Route route;
  route.name = "route-" + std::to_string(i);
  config::RouteAction action;
  action.cluster = "cluster-" + std::to_string(i % 7);
  route.action = action;
  switch (i % 5) {
    case 0:
      route.match.path_kind = config::RouteMatch::PathKind::kExact;
      route.match.path = "/service" + std::to_string(i) + "/health";
      break;
    case 1:
      route.match.path_kind = config::RouteMatch::PathKind::kRegex;
      route.match.path = "/service" + std::to_string(i) + "/items/[0-9]+";
      break;
    case 2:
      route.match.path = "/service" + std::to_string(i) + "/";
      route.match.methods = {"POST", "PUT"};
      break;
    case 3:
      route.match.path = "/service" + std::to_string(i) + "/";
      route.match.headers.push_back(
          {"x-tenant", config::HeaderMatcher::Kind::kExact, "gold", false});
      break;
    default:
      route.match.path = "/service" + std::to_string(i) + "/";
      route.match.case_sensitive = false;
      break;
  }
  return route;
}

http::RequestHeaders makeRequest(std::string authority, std::string path) {
  http::RequestHeaders request;
  request.method = "GET";
  request.scheme = "http";
  request.authority = std::move(authority);
  request.path = std::move(path);
  request.headers.add("user-agent", "bench/1.0");
  request.headers.add("accept", "*/*");
  request.headers.add("x-tenant", "gold");
  return request;
}

std::unique_ptr<const RouteTable> buildOrDie(const config::RouteConfig& config) {
  auto table = RouteTable::create(config);
  if (!table) std::abort();
  return std::move(*table);
}

void BM_Match50Routes(benchmark::State& state) {
  config::RouteConfig config;
  config::VirtualHost host;
  host.name = "all";
  host.domains = {"*"};
  for (int i = 0; i < 50; ++i) host.routes.push_back(makeRoute(i));
  config.virtual_hosts.push_back(host);
  auto table = buildOrDie(config);

  // Route 48 (a case-insensitive prefix near the end) and route 46 (regex): worst-case scans.
  const http::RequestHeaders requests[] = {
      makeRequest("api.local", "/SERVICE49/users?id=7"),
      makeRequest("api.local", "/service46/items/12345"),
      makeRequest("api.local", "/service48/x"),
  };
  size_t i = 0;
  for (auto _ : state) {
    const RouteEntry* route = table->match(requests[i++ % 3]);
    benchmark::DoNotOptimize(route);
  }
}
BENCHMARK(BM_Match50Routes);

void BM_Match20VirtualHosts(benchmark::State& state) {
  config::RouteConfig config;
  for (int v = 0; v < 20; ++v) {
    config::VirtualHost host;
    host.name = "vhost-" + std::to_string(v);
    switch (v % 3) {
      case 0:
        host.domains = {"svc" + std::to_string(v) + ".default.svc.cluster.local",
                        "svc" + std::to_string(v)};
        break;
      case 1:
        host.domains = {"*.ns" + std::to_string(v) + ".svc.cluster.local"};
        break;
      default:
        host.domains = {"api" + std::to_string(v) + ".*"};
        break;
    }
    for (int r = 0; r < 5; ++r) host.routes.push_back(makeRoute(v * 5 + r));
    config.virtual_hosts.push_back(host);
  }
  auto table = buildOrDie(config);

  const http::RequestHeaders requests[] = {
      makeRequest("svc18.default.svc.cluster.local:8080", "/service90/health"),
      makeRequest("Web.NS19.svc.cluster.local", "/service99/a"),
      makeRequest("api17.example.com", "/service86/b"),
      makeRequest("unknown.host", "/"),
  };
  size_t i = 0;
  for (auto _ : state) {
    const RouteEntry* route = table->match(requests[i++ % 4]);
    benchmark::DoNotOptimize(route);
  }
}
BENCHMARK(BM_Match20VirtualHosts);

}  // namespace
}  // namespace podproxy::router

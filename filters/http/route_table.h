#pragma once

// The router's compiled view of a RouteConfig: virtual host selection by authority and first-match
// route selection, built once per config snapshot (regexes compiled here) and then read-only, so
// workers share it without locks.

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/model.h"
#include "proxy/common/string_hash.h"
#include "proxy/http/header_map.h"

namespace re2 {
class RE2;
}

namespace podproxy::router {

class VirtualHostEntry;

// One compiled route.
class RouteEntry {
 public:
  static std::expected<std::unique_ptr<RouteEntry>, std::string> create(
      const config::Route& route, const VirtualHostEntry& virtual_host);
  ~RouteEntry();

  const config::Route& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  const VirtualHostEntry& virtualHost() const { return virtual_host_; }

  // nullptr unless the route has that kind of action.
  const config::RouteAction* routeAction() const;
  const config::RedirectAction* redirectAction() const;
  const config::DirectResponseAction* directResponseAction() const;

  bool matches(const http::RequestHeaders& request) const;
  // `path_only` is request.path without its query string, computed once per request.
  bool matches(const http::RequestHeaders& request, std::string_view path_only) const;

  // The cluster, or one of the weighted clusters chosen by `random % total weight`. Empty for
  // redirect and direct-response routes.
  std::string_view pickCluster(uint64_t random) const;
  // `path` (with its query) after prefix_rewrite; unchanged when the route has none. Prefix
  // routes replace the matched prefix, exact and regex routes the whole path before the query.
  std::string rewritePath(std::string_view path) const;
  // The Location of a redirect route; scheme, host and port default to the request's own.
  std::string redirectLocation(const http::RequestHeaders& request) const;

 private:
  struct CompiledHeaderMatcher {
    const config::HeaderMatcher* config;
    std::unique_ptr<re2::RE2> regex;  // kRegex only
  };

  RouteEntry(const config::Route& route, const VirtualHostEntry& virtual_host);

  bool pathMatches(std::string_view path) const;
  bool headersMatch(const http::HeaderMap& headers) const;
  std::string replacePrefix(std::string_view path, std::string_view replacement) const;

  const config::Route config_;
  const VirtualHostEntry& virtual_host_;
  std::string path_lower_;  // case-insensitive prefix/exact: the configured path lower-cased
  std::unique_ptr<re2::RE2> path_regex_;
  // Every path the regex can match sorts within [min, max]: a string compare rejects most paths
  // before RE2 runs, which matters when a host has many regex routes.
  std::string path_regex_min_;
  std::string path_regex_max_;
  bool has_path_regex_range_ = false;
  std::vector<CompiledHeaderMatcher> header_matchers_;
  std::vector<uint32_t> cumulative_weights_;  // weighted clusters; back() is the total
};

// One compiled virtual host and its routes.
class VirtualHostEntry {
 public:
  static std::expected<std::unique_ptr<VirtualHostEntry>, std::string> create(
      const config::VirtualHost& virtual_host);

  const std::string& name() const { return name_; }
  const config::HeaderMutations& headers() const { return headers_; }
  const std::vector<std::unique_ptr<RouteEntry>>& routes() const { return routes_; }

  // The first route that accepts the request, or nullptr.
  const RouteEntry* match(const http::RequestHeaders& request) const;

 private:
  explicit VirtualHostEntry(const config::VirtualHost& virtual_host)
      : name_(virtual_host.name), headers_(virtual_host.headers) {}

  const std::string name_;
  const config::HeaderMutations headers_;
  std::vector<std::unique_ptr<RouteEntry>> routes_;
};

class RouteTable {
 public:
  // Fails on an invalid regex, a malformed or duplicate domain, or a route without a usable
  // action.
  static std::expected<std::unique_ptr<const RouteTable>, std::string> create(
      const config::RouteConfig& config);

  // Virtual host by authority, then the first matching route; nullptr means 404.
  const RouteEntry* match(const http::RequestHeaders& request) const;
  // Port stripped ("[::1]:80" -> "[::1]"), case-insensitive. Envoy's order: exact, longest
  // "*.suffix", longest "prefix.*", then "*". nullptr when no domain matches.
  const VirtualHostEntry* virtualHost(std::string_view authority) const;

  const std::string& name() const { return name_; }

 private:
  struct Wildcard {
    std::string fixed;  // the domain without its '*', lower-cased
    const VirtualHostEntry* virtual_host;
  };

  RouteTable() = default;
  const VirtualHostEntry* findLowerCased(std::string_view host) const;

  std::string name_;
  std::vector<std::unique_ptr<VirtualHostEntry>> virtual_hosts_;
  std::unordered_map<std::string, const VirtualHostEntry*, StringViewHash, std::equal_to<>> exact_;
  std::vector<Wildcard> suffixes_;  // longest first
  std::vector<Wildcard> prefixes_;  // longest first
  const VirtualHostEntry* default_ = nullptr;
};

}  // namespace podproxy::router

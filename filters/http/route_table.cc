#include "filters/http/route_table.h"

#include <re2/re2.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <unordered_set>
#include <variant>

namespace podproxy::router {

namespace {

constexpr int kRegexRangeLength = 32;

inline char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

struct HostPort {
  std::string_view host;
  std::string_view port;  // empty when absent
};

// "host:80" -> {host, 80}; "[::1]:80" -> {[::1], 80}. A bare IPv6 literal (several colons, no
// brackets) has no port to strip.
HostPort splitAuthority(std::string_view authority) {
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return {authority, {}};
    std::string_view rest = authority.substr(close + 1);
    if (rest.starts_with(':')) return {authority.substr(0, close + 1), rest.substr(1)};
    return {authority.substr(0, close + 1), {}};
  }
  const size_t colon = authority.find(':');
  if (colon == std::string_view::npos || authority.find(':', colon + 1) != std::string_view::npos) {
    return {authority, {}};
  }
  return {authority.substr(0, colon), authority.substr(colon + 1)};
}

// The path without query string or fragment: what path matchers look at.
std::string_view pathOnly(std::string_view path) {
  // A plain loop: find_first_of with a two-character set calls memchr once per character.
  size_t end = 0;
  while (end < path.size() && path[end] != '?' && path[end] != '#') ++end;
  return path.substr(0, end);
}

bool startsWithIgnoreCase(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i) {
    if (lowerAscii(s[i]) != lower_prefix[i]) return false;
  }
  return true;
}

std::string_view defaultPort(std::string_view scheme) {
  if (scheme == "http") return "80";
  if (scheme == "https") return "443";
  return {};
}

std::expected<std::unique_ptr<re2::RE2>, std::string> compileRegex(const std::string& pattern,
                                                                   bool case_sensitive) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(case_sensitive);
  auto regex = std::make_unique<re2::RE2>(pattern, options);
  if (!regex->ok()) {
    return std::unexpected("invalid regex '" + pattern + "': " + regex->error());
  }
  return regex;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RouteEntry

RouteEntry::RouteEntry(const config::Route& route, const VirtualHostEntry& virtual_host)
    : config_(route), virtual_host_(virtual_host) {}

RouteEntry::~RouteEntry() = default;

std::expected<std::unique_ptr<RouteEntry>, std::string> RouteEntry::create(
    const config::Route& route, const VirtualHostEntry& virtual_host) {
  const std::string where =
      "route '" + route.name + "' of virtual host '" + virtual_host.name() + "': ";
  config::Route normalized = route;
  for (config::HeaderMatcher& matcher : normalized.match.headers) {
    matcher.name = http::toLower(matcher.name);
  }
  std::unique_ptr<RouteEntry> entry(new RouteEntry(normalized, virtual_host));
  const config::RouteMatch& match = entry->config_.match;

  switch (match.path_kind) {
    case config::RouteMatch::PathKind::kRegex: {
      auto regex = compileRegex(match.path, match.case_sensitive);
      if (!regex) return std::unexpected(where + regex.error());
      entry->path_regex_ = std::move(*regex);
      entry->has_path_regex_range_ = entry->path_regex_->PossibleMatchRange(
          &entry->path_regex_min_, &entry->path_regex_max_, kRegexRangeLength);
      break;
    }
    case config::RouteMatch::PathKind::kPrefix:
    case config::RouteMatch::PathKind::kExact:
      entry->path_lower_ = http::toLower(match.path);
      break;
  }

  for (const config::HeaderMatcher& matcher : match.headers) {
    if (matcher.name.empty()) return std::unexpected(where + "header matcher without a name");
    CompiledHeaderMatcher compiled{&matcher, nullptr};
    if (matcher.kind == config::HeaderMatcher::Kind::kRegex) {
      auto regex = compileRegex(matcher.value, /*case_sensitive=*/true);
      if (!regex) return std::unexpected(where + "header '" + matcher.name + "': " + regex.error());
      compiled.regex = std::move(*regex);
    }
    entry->header_matchers_.push_back(std::move(compiled));
  }

  if (const config::RouteAction* action = entry->routeAction()) {
    const int targets = (action->cluster.empty() ? 0 : 1) +
                        (action->weighted_clusters.empty() ? 0 : 1) +
                        (action->original_destination ? 1 : 0);
    if (targets != 1) {
      return std::unexpected(where +
                             "needs exactly one of cluster, weighted_clusters and "
                             "original_destination");
    }
    uint64_t total = 0;
    for (const config::WeightedCluster& weighted : action->weighted_clusters) {
      if (weighted.name.empty()) return std::unexpected(where + "weighted cluster without a name");
      total += weighted.weight;
      if (total > std::numeric_limits<uint32_t>::max()) {
        return std::unexpected(where + "weighted cluster weights overflow");
      }
      entry->cumulative_weights_.push_back(static_cast<uint32_t>(total));
    }
    if (!action->weighted_clusters.empty() && total == 0) {
      return std::unexpected(where + "weighted cluster weights sum to zero");
    }
  } else if (const config::RedirectAction* redirect = entry->redirectAction()) {
    const uint16_t code = redirect->response_code;
    if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
      return std::unexpected(where + "redirect response_code must be 301, 302, 303, 307 or 308");
    }
  }
  return entry;
}

const config::RouteAction* RouteEntry::routeAction() const {
  return std::get_if<config::RouteAction>(&config_.action);
}

const config::RedirectAction* RouteEntry::redirectAction() const {
  return std::get_if<config::RedirectAction>(&config_.action);
}

const config::DirectResponseAction* RouteEntry::directResponseAction() const {
  return std::get_if<config::DirectResponseAction>(&config_.action);
}

bool RouteEntry::matches(const http::RequestHeaders& request) const {
  return matches(request, pathOnly(request.path));
}

bool RouteEntry::matches(const http::RequestHeaders& request, std::string_view path_only) const {
  // A CONNECT (not an extended one: that arrives as its GET) has no path: it reaches
  // connect_matcher routes, and only it does.
  const bool connect = request.method.size() == 7 && request.method == "CONNECT";
  if (config_.match.connect_matcher) {
    if (!connect) return false;
  } else if (connect || !pathMatches(path_only)) {
    return false;
  }
  const auto& methods = config_.match.methods;
  if (!methods.empty() &&
      std::find(methods.begin(), methods.end(), request.method) == methods.end()) {
    return false;
  }
  return headersMatch(request.headers);
}

bool RouteEntry::pathMatches(std::string_view path) const {
  const config::RouteMatch& match = config_.match;
  switch (match.path_kind) {
    case config::RouteMatch::PathKind::kPrefix:
      return match.case_sensitive ? path.starts_with(match.path)
                                  : startsWithIgnoreCase(path, path_lower_);
    case config::RouteMatch::PathKind::kExact:
      return match.case_sensitive
                 ? path == match.path
                 : (path.size() == path_lower_.size() && startsWithIgnoreCase(path, path_lower_));
    case config::RouteMatch::PathKind::kRegex:
      if (has_path_regex_range_ && (path < path_regex_min_ || path > path_regex_max_)) {
        return false;
      }
      return re2::RE2::FullMatch(path, *path_regex_);
  }
  return false;
}

bool RouteEntry::headersMatch(const http::HeaderMap& headers) const {
  for (const CompiledHeaderMatcher& compiled : header_matchers_) {
    const config::HeaderMatcher& matcher = *compiled.config;
    // Several values of one header are matched as their RFC 9110 combination; the common single
    // value case is matched in place without a copy.
    const std::string_view* first = nullptr;
    std::string joined;
    for (const http::HeaderMap::Entry& header : headers.entries()) {
      if (header.name != matcher.name) continue;
      if (first == nullptr) {
        first = &header.value;
      } else {
        if (joined.empty()) joined = *first;
        joined.append(", ").append(header.value);
      }
    }
    bool satisfied = false;
    if (first != nullptr) {
      const std::string_view value = joined.empty() ? std::string_view(*first) : joined;
      switch (matcher.kind) {
        case config::HeaderMatcher::Kind::kExact:
          satisfied = value == matcher.value;
          break;
        case config::HeaderMatcher::Kind::kPrefix:
          satisfied = value.starts_with(matcher.value);
          break;
        case config::HeaderMatcher::Kind::kRegex:
          satisfied = re2::RE2::FullMatch(value, *compiled.regex);
          break;
        case config::HeaderMatcher::Kind::kPresent:
          satisfied = true;
          break;
      }
    }
    // An absent header satisfies no matcher, so an inverted matcher accepts it.
    if (satisfied == matcher.invert) return false;
  }
  return true;
}

std::string_view RouteEntry::pickCluster(uint64_t random) const {
  const config::RouteAction* action = routeAction();
  if (action == nullptr) return {};
  if (cumulative_weights_.empty()) return action->cluster;
  const uint64_t point = random % cumulative_weights_.back();
  const auto it = std::upper_bound(cumulative_weights_.begin(), cumulative_weights_.end(), point);
  return action->weighted_clusters[it - cumulative_weights_.begin()].name;
}

std::string RouteEntry::replacePrefix(std::string_view path, std::string_view replacement) const {
  const std::string_view only = pathOnly(path);
  size_t matched = only.size();
  if (config_.match.path_kind == config::RouteMatch::PathKind::kPrefix) {
    matched = std::min(config_.match.path.size(), only.size());
  }
  std::string out;
  out.reserve(replacement.size() + path.size() - matched);
  out.append(replacement).append(path.substr(matched));
  return out;
}

std::string RouteEntry::rewritePath(std::string_view path) const {
  const config::RouteAction* action = routeAction();
  if (action == nullptr || !action->prefix_rewrite) return std::string(path);
  return replacePrefix(path, *action->prefix_rewrite);
}

std::string RouteEntry::redirectLocation(const http::RequestHeaders& request) const {
  const config::RedirectAction* redirect = redirectAction();
  if (redirect == nullptr) return {};

  const std::string original_scheme =
      request.scheme.empty() ? "http" : http::toLower(request.scheme);
  const std::string scheme = redirect->scheme ? http::toLower(*redirect->scheme) : original_scheme;

  HostPort original = splitAuthority(request.authority);
  std::string_view host = original.host;
  std::string port(original.port);
  if (redirect->host) {
    // A configured host replaces the host; a port written into it wins over the request's.
    HostPort configured = splitAuthority(*redirect->host);
    host = configured.host;
    if (!configured.port.empty()) port = configured.port;
  }
  if (redirect->port) {
    port = std::to_string(*redirect->port);
  } else if (scheme != original_scheme && port == defaultPort(original_scheme)) {
    // http://host:80 redirected to https must not become https://host:80.
    port.clear();
  }
  if (port == defaultPort(scheme)) port.clear();

  const std::string_view path_only = pathOnly(request.path);
  std::string_view query;
  if (const size_t q = request.path.find('?'); q != std::string::npos) {
    query = std::string_view(request.path).substr(q);
    query = query.substr(0, std::min(query.find('#'), query.size()));
  }

  std::string path;
  if (redirect->path) {
    path = *redirect->path;
    if (path.find('?') != std::string::npos) query = {};  // the configured query replaces it
  } else if (redirect->prefix_rewrite) {
    path = replacePrefix(path_only, *redirect->prefix_rewrite);
  } else {
    path = path_only;
  }
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  if (redirect->strip_query) query = {};

  std::string location;
  // Without any host (an HTTP/1.0 request without Host) only a relative reference is possible.
  if (!host.empty()) {
    location.append(scheme).append("://").append(host);
    if (!port.empty()) location.append(":").append(port);
  }
  location.append(path).append(query);
  return location;
}

// ---------------------------------------------------------------------------------------------
// VirtualHostEntry

std::expected<std::unique_ptr<VirtualHostEntry>, std::string> VirtualHostEntry::create(
    const config::VirtualHost& virtual_host) {
  std::unique_ptr<VirtualHostEntry> entry(new VirtualHostEntry(virtual_host));
  entry->routes_.reserve(virtual_host.routes.size());
  for (const config::Route& route : virtual_host.routes) {
    auto compiled = RouteEntry::create(route, *entry);
    if (!compiled) return std::unexpected(std::move(compiled.error()));
    entry->routes_.push_back(std::move(*compiled));
  }
  return entry;
}

const RouteEntry* VirtualHostEntry::match(const http::RequestHeaders& request) const {
  const std::string_view path_only = pathOnly(request.path);
  for (const auto& route : routes_) {
    if (route->matches(request, path_only)) return route.get();
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// RouteTable

std::expected<std::unique_ptr<const RouteTable>, std::string> RouteTable::create(
    const config::RouteConfig& config) {
  std::unique_ptr<RouteTable> table(new RouteTable());
  table->name_ = config.name;
  std::unordered_set<std::string> seen;

  for (const config::VirtualHost& virtual_host : config.virtual_hosts) {
    auto compiled = VirtualHostEntry::create(virtual_host);
    if (!compiled) return std::unexpected(std::move(compiled.error()));
    const VirtualHostEntry* entry = compiled->get();
    table->virtual_hosts_.push_back(std::move(*compiled));

    const std::string where = "virtual host '" + virtual_host.name + "': ";
    if (virtual_host.domains.empty()) return std::unexpected(where + "has no domains");
    for (const std::string& raw : virtual_host.domains) {
      const std::string domain = http::toLower(raw);
      if (domain.empty()) return std::unexpected(where + "empty domain");
      if (!splitAuthority(domain).port.empty()) {
        return std::unexpected(where + "domain '" + raw +
                               "' has a port; Host is matched without its port");
      }
      if (!seen.insert(domain).second) {
        return std::unexpected(where + "domain '" + raw + "' is used by two virtual hosts");
      }
      const size_t stars = std::count(domain.begin(), domain.end(), '*');
      if (domain == "*") {
        table->default_ = entry;
      } else if (stars == 0) {
        table->exact_.emplace(domain, entry);
      } else if (stars == 1 && domain.front() == '*') {
        table->suffixes_.push_back({domain.substr(1), entry});
      } else if (stars == 1 && domain.back() == '*') {
        table->prefixes_.push_back({domain.substr(0, domain.size() - 1), entry});
      } else {
        return std::unexpected(where + "domain '" + raw +
                               "': '*' is only allowed at the start or the end");
      }
    }
  }

  const auto longest_first = [](const Wildcard& a, const Wildcard& b) {
    return a.fixed.size() > b.fixed.size();
  };
  // Stable: among equally long wildcards the one configured first wins, as in Envoy.
  std::stable_sort(table->suffixes_.begin(), table->suffixes_.end(), longest_first);
  std::stable_sort(table->prefixes_.begin(), table->prefixes_.end(), longest_first);
  return std::unique_ptr<const RouteTable>(std::move(table));
}

const VirtualHostEntry* RouteTable::virtualHost(std::string_view authority) const {
  const std::string_view host = splitAuthority(authority).host;
  // Lower-case on the stack: host names are short and this runs once per request.
  char buffer[256];
  if (host.size() <= sizeof(buffer)) {
    for (size_t i = 0; i < host.size(); ++i) buffer[i] = lowerAscii(host[i]);
    return findLowerCased(std::string_view(buffer, host.size()));
  }
  return findLowerCased(http::toLower(host));
}

const VirtualHostEntry* RouteTable::findLowerCased(std::string_view host) const {
  if (!exact_.empty()) {
    if (auto it = exact_.find(host); it != exact_.end()) return it->second;
  }
  // The wildcard must stand for at least one character: "*.local" does not match "local".
  for (const Wildcard& suffix : suffixes_) {
    if (host.size() > suffix.fixed.size() && host.ends_with(suffix.fixed)) {
      return suffix.virtual_host;
    }
  }
  for (const Wildcard& prefix : prefixes_) {
    if (host.size() > prefix.fixed.size() && host.starts_with(prefix.fixed)) {
      return prefix.virtual_host;
    }
  }
  return default_;
}

const RouteEntry* RouteTable::match(const http::RequestHeaders& request) const {
  const VirtualHostEntry* virtual_host = virtualHost(request.authority);
  return virtual_host == nullptr ? nullptr : virtual_host->match(request);
}

}  // namespace podproxy::router

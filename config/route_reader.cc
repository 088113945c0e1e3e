#include "config/route_reader.h"

#include <re2/re2.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "config/values.h"
#include "proxy/network/address.h"

namespace podproxy::config {
namespace {

constexpr std::string_view kRequestHeadersToAdd = "request_headers_to_add";
constexpr std::string_view kRequestHeadersToRemove = "request_headers_to_remove";
constexpr std::string_view kResponseHeadersToAdd = "response_headers_to_add";
constexpr std::string_view kResponseHeadersToRemove = "response_headers_to_remove";

void checkRegex(const YamlNode& node, const std::string& pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  const RE2 regex(pattern, options);
  if (!regex.ok()) node.fail("invalid regex: " + regex.error());
}

// Pseudo-headers (":authority", ":path") may be matched on but never added or removed.
std::string readHeaderName(const YamlNode& node, bool allow_pseudo) {
  const std::string name = toLowerAscii(node.asNonEmptyString());
  const std::string_view token =
      allow_pseudo && name.starts_with(':') ? std::string_view(name).substr(1) : name;
  if (!isValidToken(token)) {
    node.fail("'" + name + "' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)");
  }
  return name;
}

std::string readHeaderValue(const YamlNode& node) {
  std::string value = node.asString();
  if (!isValidHeaderValue(value)) node.fail("a header value may not contain CR, LF or NUL");
  return value;
}

std::vector<HeaderValueOption> readHeadersToAdd(const YamlNode& node) {
  std::vector<HeaderValueOption> out;
  for (const YamlNode& item : node.items()) {
    item.allowOnly({"name", "value", "append"});
    HeaderValueOption option;
    option.name = readHeaderName(item.require("name"), /*allow_pseudo=*/false);
    option.value = readHeaderValue(item.require("value"));
    if (auto append = item.get("append")) option.append = append->asBool();
    out.push_back(std::move(option));
  }
  return out;
}

std::vector<std::string> readHeadersToRemove(const YamlNode& node) {
  std::vector<std::string> out;
  for (const YamlNode& item : node.items()) {
    std::string name = readHeaderName(item, /*allow_pseudo=*/false);
    if (name == "host") item.fail("the host header may not be removed");
    out.push_back(std::move(name));
  }
  return out;
}

// The four lists sit directly in a virtual host or a route, next to their other fields.
HeaderMutations readHeaderMutations(const YamlNode& node) {
  HeaderMutations out;
  if (auto v = node.get(kRequestHeadersToAdd)) out.request_headers_to_add = readHeadersToAdd(*v);
  if (auto v = node.get(kRequestHeadersToRemove)) {
    out.request_headers_to_remove = readHeadersToRemove(*v);
  }
  if (auto v = node.get(kResponseHeadersToAdd)) out.response_headers_to_add = readHeadersToAdd(*v);
  if (auto v = node.get(kResponseHeadersToRemove)) {
    out.response_headers_to_remove = readHeadersToRemove(*v);
  }
  return out;
}

}  // namespace

HeaderMatcher readHeaderMatcher(const YamlNode& node) {
  node.allowOnly({"name", "exact", "prefix", "regex", "present", "invert"});
  HeaderMatcher matcher;
  matcher.name = readHeaderName(node.require("name"), /*allow_pseudo=*/true);
  const std::string_view kind = *node.oneOf({"exact", "prefix", "regex", "present"});
  const YamlNode value = node.require(kind);
  if (kind == "exact") {
    matcher.kind = HeaderMatcher::Kind::kExact;
    matcher.value = value.asString();
  } else if (kind == "prefix") {
    matcher.kind = HeaderMatcher::Kind::kPrefix;
    matcher.value = value.asNonEmptyString();
  } else if (kind == "regex") {
    matcher.kind = HeaderMatcher::Kind::kRegex;
    matcher.value = value.asNonEmptyString();
    checkRegex(value, matcher.value);
  } else {
    matcher.kind = HeaderMatcher::Kind::kPresent;
    // "present: false" reads as if it matched absence; say so with invert instead.
    if (!value.asBool()) value.fail("present must be true; use invert: true to match absence");
  }
  if (auto invert = node.get("invert")) matcher.invert = invert->asBool();
  return matcher;
}

namespace {

RouteMatch readRouteMatch(const YamlNode& node) {
  node.allowOnly(
      {"prefix", "path", "regex", "connect_matcher", "case_sensitive", "methods", "headers"});
  RouteMatch match;
  const std::string_view kind = *node.oneOf({"prefix", "path", "regex", "connect_matcher"});
  const YamlNode value = node.require(kind);
  if (kind == "connect_matcher") {
    value.expectEmptyMap("connect_matcher takes no fields: write connect_matcher: {}");
    match.connect_matcher = true;
    // CONNECT has neither a path to compare nor another method to choose.
    for (const std::string_view pointless : {"case_sensitive", "methods"}) {
      if (auto v = node.get(pointless)) {
        v->fail(std::string(pointless) + " has no meaning with connect_matcher");
      }
    }
  } else {
    match.path = value.asNonEmptyString();
  }
  if (kind == "regex") {
    match.path_kind = RouteMatch::PathKind::kRegex;
    checkRegex(value, match.path);
  } else if (kind != "connect_matcher") {
    match.path_kind =
        kind == "prefix" ? RouteMatch::PathKind::kPrefix : RouteMatch::PathKind::kExact;
    if (match.path.front() != '/') value.fail("must start with '/'");
  }
  if (auto v = node.get("case_sensitive")) match.case_sensitive = v->asBool();
  if (auto v = node.get("methods")) {
    for (const YamlNode& item : v->items()) {
      std::string method = item.asNonEmptyString();
      if (!isValidToken(method)) item.fail("'" + method + "' is not a valid HTTP method");
      match.methods.push_back(std::move(method));
    }
  }
  if (auto v = node.get("headers")) {
    for (const YamlNode& item : v->items()) match.headers.push_back(readHeaderMatcher(item));
  }
  return match;
}

void rejectPrefixRewriteOnRegex(const YamlNode& node, const RouteMatch& match) {
  if (match.path_kind == RouteMatch::PathKind::kRegex) {
    node.fail("prefix_rewrite needs a prefix or path match, not a regex");
  }
  if (match.connect_matcher)
    node.fail("prefix_rewrite has no path to rewrite with connect_matcher");
}

RouteAction readRouteAction(const YamlNode& node, const RouteMatch& match, ReadContext& context) {
  node.allowOnly({"cluster", "weighted_clusters", "original_destination", "prefix_rewrite",
                  "host_rewrite", "timeout", "idle_timeout", "upgrade_types"});
  RouteAction action;
  const std::string_view target =
      *node.oneOf({"cluster", "weighted_clusters", "original_destination"});
  if (target == "cluster") {
    const YamlNode cluster = node.require("cluster");
    action.cluster = cluster.asNonEmptyString();
    context.cluster_references.push_back({action.cluster, cluster});
  } else if (target == "original_destination") {
    const YamlNode flag = node.require("original_destination");
    if (!flag.asBool()) flag.fail("original_destination must be true (or name a cluster instead)");
    action.original_destination = true;
    context.original_destination_uses.push_back(flag);
  } else {
    uint64_t total = 0;
    std::set<std::string> seen;
    for (const YamlNode& item : node.require("weighted_clusters").nonEmptyItems()) {
      item.allowOnly({"name", "weight"});
      const YamlNode name = item.require("name");
      const YamlNode weight = item.require("weight");
      WeightedCluster entry{name.asNonEmptyString(), weight.asUint32(1)};
      if (!seen.insert(entry.name).second) name.fail("cluster '" + entry.name + "' listed twice");
      total += entry.weight;
      if (total > std::numeric_limits<uint32_t>::max()) {
        weight.fail("the weights add up to more than 4294967295");
      }
      context.cluster_references.push_back({entry.name, name});
      action.weighted_clusters.push_back(std::move(entry));
    }
  }
  if (auto v = node.get("prefix_rewrite")) {
    rejectPrefixRewriteOnRegex(*v, match);
    action.prefix_rewrite = v->asString();
  }
  if (auto v = node.get("host_rewrite")) action.host_rewrite = readHeaderValue(*v);
  if (action.host_rewrite && action.host_rewrite->empty()) {
    node.require("host_rewrite").fail("must not be empty");
  }
  if (auto v = node.get("timeout")) action.timeout = v->asDuration();
  if (auto v = node.get("idle_timeout")) action.idle_timeout = v->asDuration();
  if (auto v = node.get("upgrade_types")) {
    for (const YamlNode& item : v->items()) {
      std::string type = toLowerAscii(item.asNonEmptyString());
      // An Upgrade protocol name is an RFC 9110 token (the version after '/' is not matched).
      if (type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~") !=
          std::string::npos) {
        item.fail("upgrade type must be a protocol name such as websocket");
      }
      // Only a route that can see a CONNECT can terminate one.
      if (type == "connect" && !match.connect_matcher) {
        item.fail("CONNECT reaches only routes whose match is connect_matcher: {}");
      }
      if (std::find(action.upgrade_types.begin(), action.upgrade_types.end(), type) !=
          action.upgrade_types.end()) {
        item.fail("upgrade type '" + type + "' listed twice");
      }
      action.upgrade_types.push_back(std::move(type));
    }
  }
  return action;
}

RedirectAction readRedirect(const YamlNode& node, const RouteMatch& match) {
  node.allowOnly(
      {"scheme", "host", "port", "path", "prefix_rewrite", "strip_query", "response_code"});
  RedirectAction redirect;
  if (auto v = node.get("scheme")) {
    redirect.scheme = toLowerAscii(v->asString());
    if (*redirect.scheme != "http" && *redirect.scheme != "https") {
      v->fail("scheme must be http or https");
    }
  }
  if (auto v = node.get("host")) {
    redirect.host = toLowerAscii(v->asNonEmptyString());
    if (!isValidDnsName(*redirect.host) && !network::Address::fromIp(*redirect.host, 0)) {
      v->fail("'" + *redirect.host + "' is not a valid host name (give the port in port:)");
    }
  }
  if (auto v = node.get("port")) redirect.port = static_cast<uint16_t>(v->asUnsigned(1, 65535));
  if (auto which = node.oneOf({"path", "prefix_rewrite"}, /*allow_none=*/true)) {
    const YamlNode v = node.require(*which);
    if (*which == "path") {
      redirect.path = v.asNonEmptyString();
      if (redirect.path->front() != '/') v.fail("must start with '/'");
    } else {
      rejectPrefixRewriteOnRegex(v, match);
      redirect.prefix_rewrite = v.asString();
    }
  }
  if (auto v = node.get("strip_query")) redirect.strip_query = v->asBool();
  if (auto v = node.get("response_code")) {
    const uint64_t code = v->asUnsigned(0, 999);
    if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
      v->fail("response_code must be one of 301, 302, 303, 307, 308");
    }
    redirect.response_code = static_cast<uint16_t>(code);
  }
  return redirect;
}

DirectResponseAction readDirectResponse(const YamlNode& node) {
  node.allowOnly({"status", "body", "content_type"});
  DirectResponseAction response;
  if (auto v = node.get("status")) response.status = static_cast<uint16_t>(v->asUnsigned(100, 599));
  if (auto v = node.get("body")) response.body = v->asString();
  if (auto v = node.get("content_type")) response.content_type = readHeaderValue(*v);
  return response;
}

Route readRoute(const YamlNode& node, ReadContext& context) {
  node.allowOnly({"name", "match", "route", "redirect", "direct_response", kRequestHeadersToAdd,
                  kRequestHeadersToRemove, kResponseHeadersToAdd, kResponseHeadersToRemove});
  Route route;
  if (auto v = node.get("name")) route.name = v->asString();
  route.match = readRouteMatch(node.require("match"));
  const std::string_view kind = *node.oneOf({"route", "redirect", "direct_response"});
  const YamlNode action = node.require(kind);
  if (kind == "route") {
    route.action = readRouteAction(action, route.match, context);
  } else if (kind == "redirect") {
    route.action = readRedirect(action, route.match);
  } else {
    route.action = readDirectResponse(action);
  }
  route.headers = readHeaderMutations(node);
  return route;
}

// Names and domains are unique within one route_config.
struct VirtualHostIndex {
  std::set<std::string> names;
  std::map<std::string, std::string> domain_owners;  // domain -> virtual host name
};

VirtualHost readVirtualHost(const YamlNode& node, ReadContext& context, VirtualHostIndex& index) {
  node.allowOnly({"name", "domains", "routes", kRequestHeadersToAdd, kRequestHeadersToRemove,
                  kResponseHeadersToAdd, kResponseHeadersToRemove});
  VirtualHost host;
  const YamlNode name = node.require("name");
  host.name = name.asNonEmptyString();
  if (!index.names.insert(host.name).second) {
    name.fail("virtual host name '" + host.name + "' is used twice");
  }
  for (const YamlNode& item : node.require("domains").nonEmptyItems()) {
    std::string domain = toLowerAscii(item.asNonEmptyString());
    if (auto valid = validateDomain(domain); !valid) item.fail(valid.error());
    auto [owner, inserted] = index.domain_owners.emplace(domain, host.name);
    if (!inserted) {
      item.fail(owner->second == host.name
                    ? "domain '" + domain + "' is listed twice"
                    : "domain '" + domain + "' is already used by virtual host '" + owner->second +
                          "'");
    }
    host.domains.push_back(std::move(domain));
  }
  if (auto routes = node.get("routes")) {
    for (const YamlNode& item : routes->items()) host.routes.push_back(readRoute(item, context));
  }
  host.headers = readHeaderMutations(node);
  return host;
}

}  // namespace

RouteConfig readRouteConfig(const YamlNode& node, std::string_view default_name,
                            ReadContext& context) {
  node.allowOnly({"name", "virtual_hosts"});
  RouteConfig config;
  config.name = std::string(default_name);
  if (auto v = node.get("name")) config.name = v->asNonEmptyString();
  VirtualHostIndex index;
  for (const YamlNode& item : node.require("virtual_hosts").nonEmptyItems()) {
    config.virtual_hosts.push_back(readVirtualHost(item, context, index));
  }
  return config;
}

}  // namespace podproxy::config

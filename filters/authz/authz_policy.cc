#include "filters/authz/authz_policy.h"

#include <algorithm>

#include "proxy/common/logger.h"
#include "proxy/tls/spiffe.h"

namespace podproxy::authz {

namespace {

bool pathMatches(std::string_view pattern, std::string_view path) {
  path = path.substr(0, path.find('?'));
  if (pattern == "*") return true;
  if (pattern.ends_with('*')) return path.starts_with(pattern.substr(0, pattern.size() - 1));
  return path == pattern;
}

bool headerMatches(const config::HeaderMatcher& m, const RE2* regex,
                   const http::RequestHeaders& request) {
  std::optional<std::string> value;
  if (m.name == ":authority" || m.name == "host") {
    value = request.authority;
  } else if (m.name == ":path") {
    value = request.path;
  } else if (m.name == ":method") {
    value = request.method;
  } else {
    value = request.headers.getJoined(m.name);
  }
  bool matched = false;
  if (value) {
    switch (m.kind) {
      case config::HeaderMatcher::Kind::kExact:
        matched = *value == m.value;
        break;
      case config::HeaderMatcher::Kind::kPrefix:
        matched = value->starts_with(m.value);
        break;
      case config::HeaderMatcher::Kind::kRegex:
        matched = RE2::FullMatch(*value, *regex);
        break;
      case config::HeaderMatcher::Kind::kPresent:
        matched = true;
        break;
    }
  }
  return matched != m.invert;
}

}  // namespace

bool principalMatches(const config::AuthzPrincipal& principal, std::string_view spiffe_id) {
  switch (principal.kind) {
    case config::AuthzPrincipal::Kind::kExact:
      return spiffe_id == principal.value;
    case config::AuthzPrincipal::Kind::kPrefix:
      return spiffe_id.starts_with(principal.value);
    case config::AuthzPrincipal::Kind::kTrustDomain: {
      auto id = tls::parseSpiffeId(spiffe_id);
      return id && id->trust_domain == principal.value;
    }
    case config::AuthzPrincipal::Kind::kNamespace: {
      auto id = tls::parseSpiffeId(spiffe_id);
      return id && id->namespace_name == principal.value;
    }
  }
  return false;
}

AuthzPolicy::AuthzPolicy(const config::Authorization& config, std::string listener)
    : config_(config), listener_(std::move(listener)) {
  for (const config::AuthzRule& r : config_.rules) {
    Rule rule;
    rule.config = &r;
    for (const std::string& s : r.source_ips) {
      if (auto cidr = network::Cidr::parse(s)) rule.sources.push_back(*cidr);
    }
    for (const config::HeaderMatcher& m : r.headers) {
      HeaderCondition c{&m, nullptr};
      if (m.kind == config::HeaderMatcher::Kind::kRegex) c.regex = std::make_unique<RE2>(m.value);
      rule.headers.push_back(std::move(c));
    }
    rule.http_only = !r.paths.empty() || !r.methods.empty() || !r.headers.empty();
    rules_.push_back(std::move(rule));
  }
}

bool AuthzPolicy::matches(const Rule& rule, const network::Address& source,
                          const std::string* principal, const http::RequestHeaders* request) const {
  const config::AuthzRule& r = *rule.config;
  if (rule.http_only && request == nullptr) return false;
  if (!r.principals.empty()) {
    if (principal == nullptr) return false;
    if (std::none_of(r.principals.begin(), r.principals.end(),
                     [&](const auto& p) { return principalMatches(p, *principal); })) {
      return false;
    }
  }
  if (!rule.sources.empty() &&
      std::none_of(rule.sources.begin(), rule.sources.end(),
                   [&](const network::Cidr& c) { return c.contains(source); })) {
    return false;
  }
  if (request == nullptr) return true;
  if (!r.paths.empty() && std::none_of(r.paths.begin(), r.paths.end(), [&](const auto& p) {
        return pathMatches(p, request->path);
      })) {
    return false;
  }
  if (!r.methods.empty() &&
      std::find(r.methods.begin(), r.methods.end(), request->method) == r.methods.end()) {
    return false;
  }
  for (const HeaderCondition& h : rule.headers) {
    if (!headerMatches(*h.config, h.regex.get(), *request)) return false;
  }
  return true;
}

AuthzPolicy::Decision AuthzPolicy::evaluate(const network::Address& source,
                                            const network::TlsInfo* tls,
                                            const http::RequestHeaders* request) const {
  // Only a verified certificate is an identity.
  const std::string* principal =
      tls != nullptr && tls->peer_certificate_verified && !tls->peer_uri_san.empty()
          ? &tls->peer_uri_san
          : nullptr;
  for (const Rule& rule : rules_) {
    if (matches(rule, source, principal, request)) {
      return {config_.action == config::Authorization::Action::kAllow, rule.config->name};
    }
  }
  return {config_.action == config::Authorization::Action::kDeny, {}};
}

AuthzPolicy::Decision AuthzPolicy::check(const network::Address& source,
                                         const network::TlsInfo* tls,
                                         const http::RequestHeaders* request) const {
  const Decision d = evaluate(source, tls, request);
  if (d.allowed) {
    stats_.allowed.fetch_add(1, std::memory_order_relaxed);
    return d;
  }
  stats_.denied.fetch_add(1, std::memory_order_relaxed);
  LOG_DEBUG(
      "authorization denied", {"listener", listener_},
      {"rule", d.rule.empty() ? std::string_view("(no allow rule matched)") : d.rule},
      {"principal", tls != nullptr ? std::string_view(tls->peer_uri_san) : std::string_view()},
      {"source", source.toString()},
      {"path", request != nullptr ? std::string_view(request->path) : std::string_view()});
  return d;
}

}  // namespace podproxy::authz

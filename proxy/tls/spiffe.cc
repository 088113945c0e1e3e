#include "proxy/tls/spiffe.h"

namespace podproxy::tls {

namespace {
constexpr std::string_view kScheme = "spiffe://";

bool validTrustDomainChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

bool validPathChar(char c) {
  // SPIFFE path segments: unreserved characters only.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_' || c == '/';
}
}  // namespace

std::optional<SpiffeId> parseSpiffeId(std::string_view uri) {
  if (uri.size() > 2048 || !uri.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = uri.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view domain = rest.substr(0, slash);
  if (domain.empty() || domain.size() > 255) return std::nullopt;
  for (char c : domain) {
    if (!validTrustDomainChar(c)) return std::nullopt;
  }
  SpiffeId id;
  id.trust_domain = std::string(domain);
  if (slash == std::string_view::npos) return id;
  const std::string_view path = rest.substr(slash);
  if (path.size() == 1 || path.ends_with('/') || path.find("//") != std::string_view::npos) {
    return std::nullopt;
  }
  for (char c : path) {
    if (!validPathChar(c)) return std::nullopt;
  }
  id.path = std::string(path);
  // /ns/<ns>/sa/<sa>[/...]
  if (path.starts_with("/ns/")) {
    std::string_view p = path.substr(4);
    const size_t end = p.find('/');
    id.namespace_name = std::string(p.substr(0, end));
    if (end != std::string_view::npos && p.substr(end).starts_with("/sa/")) {
      std::string_view sa = p.substr(end + 4);
      id.service_account = std::string(sa.substr(0, sa.find('/')));
    }
  }
  return id;
}

std::string kubernetesSpiffeId(std::string_view trust_domain, std::string_view namespace_name,
                               std::string_view service_account) {
  std::string id(kScheme);
  id += trust_domain;
  id += "/ns/";
  id += namespace_name;
  id += "/sa/";
  id += service_account;
  return id;
}

}  // namespace podproxy::tls

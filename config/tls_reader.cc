#include "config/tls_reader.h"

#include "config/route_reader.h"
#include "config/values.h"
#include "proxy/network/cidr.h"
#include "proxy/tls/spiffe.h"

namespace podproxy::config {

namespace {

constexpr std::string_view kDefaultCertDir = "/etc/podproxy/certs";

TlsVersion readVersion(const YamlNode& node) {
  const std::string v = node.asNonEmptyString();
  if (v == "1.2" || v == "TLSv1.2") return TlsVersion::kTls12;
  if (v == "1.3" || v == "TLSv1.3") return TlsVersion::kTls13;
  node.fail("must be 1.2 or 1.3");
}

std::vector<std::string> readAlpn(const YamlNode& node) {
  std::vector<std::string> out;
  for (const YamlNode& item : node.items()) {
    std::string p = item.asNonEmptyString();
    if (p.size() > 255) item.fail("an ALPN protocol name is at most 255 bytes");
    out.push_back(std::move(p));
  }
  return out;
}

// min_version, max_version, cipher_suites, tls13_cipher_suites, session_tickets.
void readParameters(const YamlNode& node, TlsParameters& p) {
  if (auto v = node.get("min_version")) p.min_version = readVersion(*v);
  if (auto v = node.get("max_version")) p.max_version = readVersion(*v);
  if (p.min_version == TlsVersion::kTls13 && p.max_version == TlsVersion::kTls12) {
    node.require("max_version").fail("max_version is below min_version");
  }
  if (auto v = node.get("cipher_suites")) p.cipher_suites = v->asNonEmptyString();
  if (auto v = node.get("tls13_cipher_suites")) p.tls13_cipher_suites = v->asNonEmptyString();
  if (auto v = node.get("session_tickets")) p.session_tickets = v->asBool();
}

TlsCertificate readCertificate(const YamlNode& node) {
  node.allowOnly({"cert_file", "key_file", "server_names"});
  TlsCertificate c;
  c.cert_file = node.require("cert_file").asNonEmptyString();
  c.key_file = node.require("key_file").asNonEmptyString();
  if (auto v = node.get("server_names")) {
    for (const YamlNode& item : v->nonEmptyItems()) c.server_names.push_back(readServerName(item));
  }
  return c;
}

std::string readSpiffeId(const YamlNode& node) {
  std::string id = node.asNonEmptyString();
  if (!tls::parseSpiffeId(id)) {
    node.fail("'" + id + "' is not a SPIFFE ID (spiffe://<trust-domain>/<path>)");
  }
  return id;
}

std::string readTrustDomain(const YamlNode& node) {
  std::string domain = node.asNonEmptyString();
  if (!tls::parseSpiffeId("spiffe://" + domain) || domain.find('/') != std::string::npos) {
    node.fail("'" + domain + "' is not a trust domain (lower-case letters, digits, '.', '-', '_')");
  }
  return domain;
}

AuthzPrincipal readPrincipal(const YamlNode& node) {
  node.allowOnly({"exact", "prefix", "trust_domain", "namespace"});
  AuthzPrincipal p;
  const std::string_view kind = *node.oneOf({"exact", "prefix", "trust_domain", "namespace"});
  const YamlNode value = node.require(kind);
  if (kind == "exact") {
    p.kind = AuthzPrincipal::Kind::kExact;
    p.value = readSpiffeId(value);
  } else if (kind == "prefix") {
    p.kind = AuthzPrincipal::Kind::kPrefix;
    p.value = value.asNonEmptyString();
    if (!p.value.starts_with("spiffe://")) value.fail("a principal prefix starts with spiffe://");
  } else if (kind == "trust_domain") {
    p.kind = AuthzPrincipal::Kind::kTrustDomain;
    p.value = readTrustDomain(value);
  } else {
    p.kind = AuthzPrincipal::Kind::kNamespace;
    p.value = value.asNonEmptyString();
    if (p.value.find('/') != std::string::npos) value.fail("a namespace has no '/'");
  }
  return p;
}

AuthzRule readRule(const YamlNode& node, size_t index) {
  node.allowOnly({"name", "principals", "source_ips", "paths", "methods", "headers"});
  AuthzRule rule;
  rule.name = "rules[" + std::to_string(index) + "]";
  if (auto v = node.get("name")) rule.name = v->asNonEmptyString();
  if (auto v = node.get("principals")) {
    for (const YamlNode& item : v->nonEmptyItems()) rule.principals.push_back(readPrincipal(item));
  }
  if (auto v = node.get("source_ips")) {
    for (const YamlNode& item : v->nonEmptyItems()) {
      std::string cidr = item.asNonEmptyString();
      if (!network::Cidr::parse(cidr)) item.fail("'" + cidr + "' is not an IP address or CIDR");
      rule.source_ips.push_back(std::move(cidr));
    }
  }
  if (auto v = node.get("paths")) {
    for (const YamlNode& item : v->nonEmptyItems()) {
      std::string path = item.asNonEmptyString();
      if (path != "*" && !path.starts_with("/")) item.fail("a path starts with '/' (or is '*')");
      if (path.find('*') != std::string::npos && path != "*" && !path.ends_with("/*") &&
          !path.ends_with("*")) {
        item.fail("'*' may only end a path prefix (\"/api/*\")");
      }
      rule.paths.push_back(std::move(path));
    }
  }
  if (auto v = node.get("methods")) {
    for (const YamlNode& item : v->nonEmptyItems()) {
      std::string method = item.asNonEmptyString();
      if (!isValidToken(method)) item.fail("'" + method + "' is not an HTTP method");
      rule.methods.push_back(std::move(method));
    }
  }
  if (auto v = node.get("headers")) {
    for (const YamlNode& item : v->nonEmptyItems()) rule.headers.push_back(readHeaderMatcher(item));
  }
  return rule;
}

}  // namespace

std::string readServerName(const YamlNode& node) {
  std::string name = toLowerAscii(node.asNonEmptyString());
  const std::string_view check = name.starts_with("*.") ? std::string_view(name).substr(2) : name;
  if (!isValidDnsName(check)) node.fail("'" + name + "' is not a DNS name (or *.wildcard)");
  return name;
}

DownstreamTls readDownstreamTls(const YamlNode& node, bool http_listener) {
  node.allowOnly({"certificates", "ca_file", "require_client_certificate", "alpn", "min_version",
                  "max_version", "cipher_suites", "tls13_cipher_suites", "session_tickets"});
  DownstreamTls tls;
  for (const YamlNode& item : node.require("certificates").nonEmptyItems()) {
    tls.certificates.push_back(readCertificate(item));
  }
  if (auto v = node.get("ca_file")) tls.ca_file = v->asNonEmptyString();
  if (auto v = node.get("require_client_certificate")) {
    tls.require_client_certificate = v->asBool();
    if (tls.require_client_certificate && tls.ca_file.empty()) {
      v->fail(
          "require_client_certificate needs ca_file (the CA client certificates must chain to)");
    }
  }
  if (auto v = node.get("alpn")) {
    tls.alpn = readAlpn(*v);
  } else if (http_listener) {
    tls.alpn = {"http/1.1"};
  }
  readParameters(node, tls.parameters);
  return tls;
}

MtlsMode readMtlsMode(const YamlNode& node) {
  const std::string mode = node.asString();
  if (mode == "strict") return MtlsMode::kStrict;
  if (mode == "permissive") return MtlsMode::kPermissive;
  if (mode == "disabled") return MtlsMode::kDisabled;
  node.fail("mtls must be strict, permissive or disabled");
}

Authorization readAuthorization(const YamlNode& node) {
  node.allowOnly({"action", "rules"});
  Authorization authz;
  if (auto v = node.get("action")) {
    const std::string action = v->asString();
    if (action == "allow") {
      authz.action = Authorization::Action::kAllow;
    } else if (action == "deny") {
      authz.action = Authorization::Action::kDeny;
    } else {
      v->fail("action must be allow or deny");
    }
  }
  if (auto v = node.get("rules")) {
    const std::vector<YamlNode> items = v->items();
    for (size_t i = 0; i < items.size(); ++i) authz.rules.push_back(readRule(items[i], i));
  }
  return authz;
}

UpstreamTls readUpstreamTls(const YamlNode& node, Cluster::Protocol protocol) {
  node.allowOnly({"sni", "ca_file", "verify_subject_alt_names", "alpn", "min_version",
                  "max_version", "cipher_suites", "tls13_cipher_suites", "session_tickets"});
  UpstreamTls tls;
  if (auto v = node.get("sni")) {
    tls.sni = toLowerAscii(v->asNonEmptyString());
    if (!isValidDnsName(tls.sni)) v->fail("'" + tls.sni + "' is not a DNS name");
  }
  if (auto v = node.get("ca_file")) tls.ca_file = v->asNonEmptyString();
  if (auto v = node.get("verify_subject_alt_names")) {
    for (const YamlNode& item : v->nonEmptyItems()) {
      tls.verify_subject_alt_names.push_back(item.asNonEmptyString());
    }
  }
  if (auto v = node.get("alpn")) {
    tls.alpn = readAlpn(*v);
  } else {
    tls.alpn = defaultUpstreamAlpn(protocol);
  }
  readParameters(node, tls.parameters);
  return tls;
}

std::vector<std::string> readSpiffeIds(const YamlNode& node) {
  std::vector<std::string> out;
  for (const YamlNode& item : node.nonEmptyItems()) out.push_back(readSpiffeId(item));
  return out;
}

std::vector<std::string> readTrustDomains(const YamlNode& node) {
  std::vector<std::string> out;
  for (const YamlNode& item : node.nonEmptyItems()) out.push_back(readTrustDomain(item));
  return out;
}

WorkloadCertificate readWorkloadIdentity(const std::optional<YamlNode>& node,
                                         const TlsEnvLookup& env) {
  WorkloadCertificate w;
  if (node) {
    node->allowOnly({"cert_file", "key_file", "ca_file"});
    if (auto v = node->get("cert_file")) w.cert_file = v->asNonEmptyString();
    if (auto v = node->get("key_file")) w.key_file = v->asNonEmptyString();
    if (auto v = node->get("ca_file")) w.ca_file = v->asNonEmptyString();
  }
  const char* dir_env = env("PODPROXY_CERT_DIR");
  std::string dir = dir_env != nullptr && *dir_env != '\0' ? dir_env : std::string(kDefaultCertDir);
  if (!dir.ends_with('/')) dir += '/';
  if (w.cert_file.empty()) w.cert_file = dir + "cert.pem";
  if (w.key_file.empty()) w.key_file = dir + "key.pem";
  if (w.ca_file.empty()) w.ca_file = dir + "ca.pem";
  return w;
}

}  // namespace podproxy::config

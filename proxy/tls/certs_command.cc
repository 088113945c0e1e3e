#include "proxy/tls/certs_command.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/tls/cert_generator.h"

namespace podproxy::tls {

namespace {

constexpr std::string_view kUsage = R"(Usage: podproxy certs --out DIR [options]

Writes a development CA and a workload certificate with a SPIFFE ID into DIR:
  ca.pem, ca-key.pem   the CA (ca-key.pem only when a new CA is made)
  cert.pem, key.pem    the workload certificate (URI SAN spiffe://<trust-domain>/ns/<ns>/sa/<sa>,
                       DNS localhost, IP 127.0.0.1 and ::1) and its key
Mount DIR as podproxy's workload_identity (default /etc/podproxy/certs, or $PODPROXY_CERT_DIR).

Options:
  --out DIR               where to write (created if missing)
  --trust-domain NAME     default cluster.local
  --namespace NS          default default
  --service-account SA    default default
  --spiffe-id URI         use this SPIFFE ID instead of the three above
  --dns NAME              an extra DNS SAN (repeatable)
  --days N                validity from now, default 365; negative: already expired (tests)
  --ca DIR                sign with DIR/ca.pem and DIR/ca-key.pem instead of a new CA
)";

}  // namespace

int runCertsCommand(int argc, char** argv) {
  DevCertificatesOptions o;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "podproxy certs: missing value for %s\n\n%s", argv[i], kUsage.data());
      return 2;
    }
    const std::string value = argv[++i];
    if (arg == "--out") {
      o.out_dir = value;
    } else if (arg == "--trust-domain") {
      o.trust_domain = value;
    } else if (arg == "--namespace") {
      o.namespace_name = value;
    } else if (arg == "--service-account") {
      o.service_account = value;
    } else if (arg == "--spiffe-id") {
      o.spiffe_id = value;
    } else if (arg == "--dns") {
      o.dns_names.push_back(value);
    } else if (arg == "--ca") {
      o.ca_dir = value;
    } else if (arg == "--days") {
      char* end = nullptr;
      const long days = std::strtol(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || days < -3650 || days > 36500) {
        std::fprintf(stderr, "podproxy certs: --days must be a number of days\n");
        return 2;
      }
      o.days = static_cast<int>(days);
    } else {
      std::fprintf(stderr, "podproxy certs: unknown argument %s\n\n%s", argv[i - 1], kUsage.data());
      return 2;
    }
  }
  if (o.out_dir.empty()) {
    std::fprintf(stderr, "podproxy certs: --out DIR is required\n\n%s", kUsage.data());
    return 2;
  }
  auto id = writeDevCertificates(o);
  if (!id) {
    std::fprintf(stderr, "podproxy certs: %s\n", id.error().c_str());
    return 1;
  }
  std::printf("%s/cert.pem: %s\n", o.out_dir.c_str(), id->c_str());
  return 0;
}

}  // namespace podproxy::tls

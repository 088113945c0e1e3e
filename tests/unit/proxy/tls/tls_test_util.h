#pragma once

// Test certificates written to a temporary directory: a CA, workload certificates with SPIFFE
// IDs, a second (untrusted) CA, expired and name-mismatched certificates.

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <string>

#include "proxy/tls/cert_generator.h"
#include "proxy/tls/tls_context.h"

namespace podproxy::tls::testing {

class CertDir {
 public:
  CertDir() {
    char tmpl[] = "/tmp/podproxy-tls-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~CertDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // <dir>/<name>/{ca.pem,ca-key.pem,cert.pem,key.pem}: a new CA when `ca` is empty, else signed
  // by the CA in <dir>/<ca>.
  std::string make(const std::string& name, const std::string& ca = "",
                   const std::string& sa = "default", int days = 30,
                   std::vector<std::string> dns = {}) {
    DevCertificatesOptions o;
    o.out_dir = path(name);
    o.service_account = sa;
    o.days = days;
    o.dns_names = std::move(dns);
    if (!ca.empty()) o.ca_dir = path(ca);
    auto id = writeDevCertificates(o);
    EXPECT_TRUE(id.has_value()) << (id ? "" : id.error());
    return id ? *id : std::string();
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string file(const std::string& name, const std::string& f) const {
    return path(name) + "/" + f;
  }
  CertificateFiles certificate(const std::string& name,
                               std::vector<std::string> server_names = {}) const {
    return CertificateFiles{file(name, "cert.pem"), file(name, "key.pem"), std::move(server_names)};
  }

 private:
  std::string dir_;
};

inline std::shared_ptr<const TlsContext> mustCreate(const TlsContextConfig& config) {
  auto context = TlsContext::create(config);
  EXPECT_TRUE(context.has_value()) << (context ? "" : context.error());
  return context ? *context : nullptr;
}

}  // namespace podproxy::tls::testing

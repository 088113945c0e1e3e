#pragma once

// Development certificates with the OpenSSL 3 C API: a CA, and workload certificates carrying a
// SPIFFE ID (URI SAN), for `podproxy certs`, local development and the tests. Not a production
// CA: keys are written unencrypted.

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "proxy/tls/x509_util.h"

namespace podproxy::tls {

struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;
  int64_t not_before = 0;  // seconds since the epoch
  int64_t not_after = 0;
  bool is_ca = false;
};

struct KeyAndCertificate {
  PkeyPtr key;
  X509Ptr cert;
};

// An EC P-256 key and a certificate for it, signed by `issuer` (nullptr: self-signed).
std::expected<KeyAndCertificate, std::string> createCertificate(const CertificateRequest& request,
                                                                const KeyAndCertificate* issuer);

std::string certificateToPem(X509* cert);
std::string privateKeyToPem(EVP_PKEY* key);

struct DevCertificatesOptions {
  std::string out_dir;
  std::string trust_domain = "cluster.local";
  std::string namespace_name = "default";
  std::string service_account = "default";
  std::string spiffe_id;  // overrides the one built from the three fields above
  int days = 365;         // validity from now; negative: already expired (tests)
  std::string ca_dir;     // sign with ca.pem + ca-key.pem from here instead of a new CA
  std::vector<std::string> dns_names;  // extra DNS SANs (localhost and 127.0.0.1 always)
};

// Writes ca.pem (+ ca-key.pem for a new CA), cert.pem and key.pem to out_dir, creating it.
// Returns the workload's SPIFFE ID, or an error naming the file.
std::expected<std::string, std::string> writeDevCertificates(const DevCertificatesOptions& options);

}  // namespace podproxy::tls

#include "proxy/tls/cert_generator.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "proxy/tls/spiffe.h"

namespace podproxy::tls {

namespace {

bool addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

std::string join(const std::vector<std::string>& items, std::string_view prefix) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ',';
    out += prefix;
    out += i;
  }
  return out;
}

bool writeText(const std::filesystem::path& path, const std::string& text, bool secret,
               std::string& error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !(out << text) || !out.flush()) {
    error = path.string() + ": cannot write: " + std::strerror(errno);
    return false;
  }
  out.close();
  if (secret) ::chmod(path.c_str(), 0600);
  return true;
}

}  // namespace

std::expected<KeyAndCertificate, std::string> createCertificate(const CertificateRequest& request,
                                                                const KeyAndCertificate* issuer) {
  KeyAndCertificate out;
  out.key.reset(EVP_EC_gen("P-256"));
  if (!out.key) return std::unexpected("cannot generate an EC key: " + opensslErrors());
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);  // v3
  // A random 127-bit serial: unique without bookkeeping.
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  BN_free(serial);
  ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(request.not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(request.not_after));
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("podproxy development"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert, issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : name);
  X509_set_pubkey(cert, out.key.get());
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert;
  bool ok = addExtension(cert, issuer_cert, NID_subject_key_identifier, "hash") &&
            addExtension(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (request.is_ca) {
    ok = ok && addExtension(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE") &&
         addExtension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && addExtension(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE") &&
         addExtension(cert, issuer_cert, NID_key_usage,
                      "critical,digitalSignature,keyEncipherment") &&
         addExtension(cert, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  }
  std::string sans = join(request.uri_sans, "URI:");
  for (const auto& part : {join(request.dns_sans, "DNS:"), join(request.ip_sans, "IP:")}) {
    if (part.empty()) continue;
    if (!sans.empty()) sans += ',';
    sans += part;
  }
  if (!sans.empty()) {
    ok = ok && addExtension(cert, issuer_cert, NID_subject_alt_name, sans);
  }
  if (!ok) return std::unexpected("cannot add certificate extensions: " + opensslErrors());
  EVP_PKEY* signer = issuer != nullptr ? issuer->key.get() : out.key.get();
  if (X509_sign(cert, signer, EVP_sha256()) == 0) {
    return std::unexpected("cannot sign the certificate: " + opensslErrors());
  }
  return out;
}

std::string certificateToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string privateKeyToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::expected<std::string, std::string> writeDevCertificates(
    const DevCertificatesOptions& options) {
  namespace fs = std::filesystem;
  const fs::path dir(options.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return std::unexpected(dir.string() + ": cannot create: " + ec.message());

  const std::string spiffe_id =
      options.spiffe_id.empty() ? kubernetesSpiffeId(options.trust_domain, options.namespace_name,
                                                     options.service_account)
                                : options.spiffe_id;
  if (!parseSpiffeId(spiffe_id)) return std::unexpected("not a valid SPIFFE ID: " + spiffe_id);

  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  constexpr int64_t kDay = 86400;
  KeyAndCertificate ca;
  std::string error;
  if (!options.ca_dir.empty()) {
    const fs::path ca_dir(options.ca_dir);
    std::string ca_pem, key_pem;
    if (!readFile((ca_dir / "ca.pem").string(), ca_pem, error) ||
        !readFile((ca_dir / "ca-key.pem").string(), key_pem, error)) {
      return std::unexpected(error);
    }
    auto certs = readPemCertificates(ca_pem);
    if (certs.empty()) return std::unexpected((ca_dir / "ca.pem").string() + ": no certificate");
    ca.cert = std::move(certs.front());
    ca.key = readPemPrivateKey(key_pem);
    if (!ca.key) return std::unexpected((ca_dir / "ca-key.pem").string() + ": no private key");
    if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
      return std::unexpected((ca_dir / "ca-key.pem").string() + ": does not match ca.pem");
    }
  } else {
    CertificateRequest request;
    request.common_name = "podproxy development CA (" + options.trust_domain + ")";
    request.is_ca = true;
    request.not_before = now - 3600;
    request.not_after = now + 10 * 365 * kDay;
    auto created = createCertificate(request, nullptr);
    if (!created) return std::unexpected(created.error());
    ca = std::move(*created);
    if (!writeText(dir / "ca-key.pem", privateKeyToPem(ca.key.get()), true, error)) {
      return std::unexpected(error);
    }
  }
  if (!writeText(dir / "ca.pem", certificateToPem(ca.cert.get()), false, error)) {
    return std::unexpected(error);
  }

  CertificateRequest request;
  request.common_name = options.service_account + "." + options.namespace_name;
  request.uri_sans = {spiffe_id};
  request.dns_sans = {"localhost"};
  for (const auto& n : options.dns_names) request.dns_sans.push_back(n);
  request.ip_sans = {"127.0.0.1", "::1"};
  if (options.days >= 0) {
    request.not_before = now - 3600;  // tolerate small clock skew between Pods
    request.not_after = now + options.days * kDay;
  } else {
    request.not_before = now + (options.days - 1) * kDay;
    request.not_after = now + options.days * kDay;
  }
  auto workload = createCertificate(request, &ca);
  if (!workload) return std::unexpected(workload.error());
  if (!writeText(dir / "key.pem", privateKeyToPem(workload->key.get()), true, error) ||
      !writeText(dir / "cert.pem", certificateToPem(workload->cert.get()), false, error)) {
    return std::unexpected(error);
  }
  return spiffe_id;
}

}  // namespace podproxy::tls

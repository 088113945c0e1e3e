#include "proxy/tls/x509_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace podproxy::tls {

namespace {
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr memoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::vector<std::string> sans(X509* cert, int type) {
  std::vector<std::string> out;
  if (cert == nullptr) return out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != type) continue;
    const ASN1_IA5STRING* s = type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return out;
}

int64_t asn1TimeToEpoch(const ASN1_TIME* t) {
  if (t == nullptr) return 0;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}
}  // namespace

std::vector<X509Ptr> readPemCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = memoryBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(x);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

PkeyPtr readPemPrivateKey(std::string_view pem) {
  BioPtr bio = memoryBio(pem);
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::vector<std::string> uriSans(X509* cert) {
  return sans(cert, GEN_URI);
}
std::vector<std::string> dnsSans(X509* cert) {
  return sans(cert, GEN_DNS);
}

std::string firstUriSan(X509* cert) {
  auto all = uriSans(cert);
  return all.empty() ? std::string() : std::move(all.front());
}

std::string sha256Hex(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

int64_t notAfter(X509* cert) {
  return asn1TimeToEpoch(X509_get0_notAfter(cert));
}
int64_t notBefore(X509* cert) {
  return asn1TimeToEpoch(X509_get0_notBefore(cert));
}

std::string subjectString(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

X509_STORE* systemTrustStore() {
  // Never freed: contexts hold references until exit, and the store never changes (the system
  // bundle is not watched, so a rebuilt context would read the same files anyway).
  static X509_STORE* const store = [] {
    X509_STORE* s = X509_STORE_new();
    if (s != nullptr) X509_STORE_set_default_paths(s);
    ERR_clear_error();  // a missing default file or directory is not an error
    return s;
  }();
  return store;
}

std::string opensslErrors(std::string_view fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text = reason != nullptr ? reason : ("error " + std::to_string(e));
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string(fallback) : out;
}

bool readFile(const std::string& path, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace podproxy::tls

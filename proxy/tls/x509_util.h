#pragma once

// Small OpenSSL helpers shared by the TLS context, the transport socket and the certificate
// tools: reading PEM from memory, subject alternative names, digests, expiry, error text.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace podproxy::tls {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// Every certificate in a PEM text, in order (empty when there is none or it does not parse).
std::vector<X509Ptr> readPemCertificates(std::string_view pem);
PkeyPtr readPemPrivateKey(std::string_view pem);

std::vector<std::string> uriSans(X509* cert);
std::vector<std::string> dnsSans(X509* cert);
// The first URI SAN, or "".
std::string firstUriSan(X509* cert);
// SHA-256 of the DER encoding, lower-case hex.
std::string sha256Hex(X509* cert);
// Seconds since the epoch.
int64_t notAfter(X509* cert);
int64_t notBefore(X509* cert);
// The subject as an RFC 2253 string ("CN=web,O=podproxy").
std::string subjectString(X509* cert);

// The system trust anchors (OpenSSL's default file and directory, or SSL_CERT_FILE and
// SSL_CERT_DIR), read once per process and shared by every client context without a ca_file:
// Debian's bundle parses into ~1.4 MiB of certificates, which each context used to hold again.
// Built on first use; thread-safe.
X509_STORE* systemTrustStore();

// The queued OpenSSL errors as "reason; reason" (emptying the queue), or `fallback`.
std::string opensslErrors(std::string_view fallback = "unknown error");

// Reads a whole file; an error text naming it on failure.
bool readFile(const std::string& path, std::string& out, std::string& error);

}  // namespace podproxy::tls

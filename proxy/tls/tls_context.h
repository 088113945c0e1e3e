#pragma once

// An immutable OpenSSL context built from certificate files and settings: what every TLS
// connection of one listener (server) or one cluster (client) starts from. Shared across
// workers as std::shared_ptr<const TlsContext>; a certificate reload builds a new one, and
// connections keep the one they started with.

#include <openssl/ssl.h>

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/x509_util.h"

namespace podproxy::tls {

enum class TlsVersion { kTls12, kTls13 };

struct CertificateFiles {
  std::string cert_file;
  std::string key_file;
  std::vector<std::string> server_names;  // SNI selection (server); empty: default
};

struct TlsContextConfig {
  enum class Role { kServer, kClient };
  Role role = Role::kServer;
  std::string name;  // for logs and stats: "listener:ingress", "cluster:backend"

  // Server: one or more (SNI picks). Client: at most one (the client certificate).
  std::vector<CertificateFiles> certificates;
  // Trust anchors. Server: verifies client certificates (none requested when empty). Client:
  // verifies the server (the system store when empty).
  std::string ca_file;
  bool require_peer_certificate = false;  // server: a client certificate is required

  std::vector<std::string> alpn;  // server: preference order; client: offered
  TlsVersion min_version = TlsVersion::kTls12;
  TlsVersion max_version = TlsVersion::kTls13;
  std::string cipher_list;    // TLS 1.2; empty: kDefaultCipherList
  std::string cipher_suites;  // TLS 1.3; empty: kDefaultCipherSuites
  bool session_tickets = true;

  // Client: the server name sent, and what the server's certificate must show: one of
  // `verify_subject_alt_names` (DNS names, or URIs such as SPIFFE IDs), else `sni` as a host
  // name when set.
  std::string sni;
  std::vector<std::string> verify_subject_alt_names;
  // Either side (mesh): the peer must present a SPIFFE ID that is one of these, or in one of
  // these trust domains. Both empty: no SPIFFE check.
  std::vector<std::string> allowed_spiffe_ids;
  std::vector<std::string> allowed_trust_domains;
  // Mesh default: the peer's SPIFFE ID must be in our own certificate's trust domain.
  bool require_same_trust_domain = false;
};

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only.
inline constexpr const char* kDefaultCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// OpenSSL's TLS 1.3 suites with AES-128-GCM first instead of AES-256-GCM: equally strong in
// practice (Mozilla's order too), and its SHA-256 key schedule and transcript hash are cheaper
// than SHA-384 on every handshake, its 10 AES rounds cheaper than 14 on every record. Servers
// still pick ChaCha20 for clients that list it first (SSL_OP_PRIORITIZE_CHACHA: no AES-NI).
inline constexpr const char* kDefaultCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

class TlsContext {
 public:
  // Reads the files and builds the context; the error names the file and OpenSSL's reason
  // ("/certs/key.pem: private key does not match the certificate in /certs/cert.pem").
  static std::expected<std::shared_ptr<const TlsContext>, std::string> create(
      const TlsContextConfig& config);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  const TlsContextConfig& config() const { return config_; }
  // The context new SSL objects are made from (the default certificate, for a server).
  SSL_CTX* sslCtx() const { return contexts_.front().ctx.get(); }
  bool isServer() const { return config_.role == TlsContextConfig::Role::kServer; }
  // The default certificate's first URI SAN (our SPIFFE ID in a mesh), or "".
  const std::string& localUriSan() const { return local_uri_san_; }
  // Expiry of the default certificate, seconds since the epoch; 0 without a certificate.
  int64_t certificateNotAfter() const { return not_after_; }
  // The bytes of every file read, to tell whether a reload changed anything.
  const std::string& fingerprint() const { return fingerprint_; }

  // After a verified handshake: the empty string when `peer` is acceptable under the SAN and
  // SPIFFE rules, else why not.
  std::string checkPeer(X509* peer) const;

  // The SSL_CTX whose certificate answers `server_name` (SNI), or nullptr for the default.
  SSL_CTX* contextForServerName(std::string_view server_name) const;

 private:
  struct Entry {
    SslCtxPtr ctx;
    std::vector<std::string> server_names;  // lower-case
  };
  explicit TlsContext(TlsContextConfig config) : config_(std::move(config)) {}
  std::expected<void, std::string> build();
  std::expected<SslCtxPtr, std::string> buildSslCtx(const CertificateFiles* certificate,
                                                    bool first);

  TlsContextConfig config_;
  std::vector<Entry> contexts_;  // [0]: default
  std::string local_uri_san_;
  int64_t not_after_ = 0;
  std::string fingerprint_;
  std::vector<unsigned char> alpn_wire_;  // length-prefixed
};

}  // namespace podproxy::tls

#include "proxy/tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "proxy/tls/session_cache.h"
#include "proxy/tls/spiffe.h"

namespace podproxy::tls {

namespace {

// Shared by every context: resumption with client certificates needs one, and SNI contexts of
// one listener must agree on it.
constexpr unsigned char kSessionIdContext[] = "podproxy";

int protocolVersion(TlsVersion v) {
  return v == TlsVersion::kTls12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool serverNameMatches(std::string_view pattern, std::string_view name) {
  if (pattern == name) return true;
  // "*.example.com" covers exactly one more label, as certificates do.
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      return name.substr(0, name.size() - suffix.size()).find('.') == std::string_view::npos;
    }
  }
  return false;
}

int onServerName(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  SSL_CTX* ctx = self->contextForServerName(name);
  if (ctx != nullptr && ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

int onAlpnSelect(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                 unsigned int in_len, void* arg) {
  const auto* wire = static_cast<const std::vector<unsigned char>*>(arg);
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  // Our list first: server preference.
  if (SSL_select_next_proto(&selected, &selected_len, wire->data(),
                            static_cast<unsigned int>(wire->size()), in,
                            in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN
  }
  *out = selected;
  *out_len = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += ", ";
    out += i;
  }
  return out;
}

}  // namespace

std::expected<std::shared_ptr<const TlsContext>, std::string> TlsContext::create(
    const TlsContextConfig& config) {
  std::shared_ptr<TlsContext> context(new TlsContext(config));
  if (auto built = context->build(); !built) return std::unexpected(built.error());
  return context;
}

TlsContext::~TlsContext() = default;

std::expected<void, std::string> TlsContext::build() {
  ERR_clear_error();
  for (const std::string& p : config_.alpn) {
    if (p.empty() || p.size() > 255)
      return std::unexpected("alpn: invalid protocol name '" + p + "'");
    alpn_wire_.push_back(static_cast<unsigned char>(p.size()));
    alpn_wire_.insert(alpn_wire_.end(), p.begin(), p.end());
  }
  if (isServer() && config_.certificates.empty()) {
    return std::unexpected("a TLS server needs at least one certificate");
  }
  // A server with several certificates: one SSL_CTX each, the first (or the one without names)
  // the default. A client: one, with or without a client certificate.
  std::vector<const CertificateFiles*> order;
  for (const auto& c : config_.certificates) {
    if (c.server_names.empty()) order.push_back(&c);
  }
  for (const auto& c : config_.certificates) {
    if (!c.server_names.empty()) order.push_back(&c);
  }
  if (order.empty()) order.push_back(nullptr);
  for (size_t i = 0; i < order.size(); ++i) {
    auto ctx = buildSslCtx(order[i], i == 0);
    if (!ctx) return std::unexpected(ctx.error());
    Entry entry;
    entry.ctx = std::move(*ctx);
    if (order[i] != nullptr) {
      for (const auto& n : order[i]->server_names) entry.server_names.push_back(lower(n));
    }
    contexts_.push_back(std::move(entry));
  }
  if (contexts_.size() > 1) {
    SSL_CTX_set_tlsext_servername_callback(sslCtx(), onServerName);
    SSL_CTX_set_tlsext_servername_arg(sslCtx(), this);
  }
  if (X509* leaf = SSL_CTX_get0_certificate(sslCtx())) {
    local_uri_san_ = firstUriSan(leaf);
    not_after_ = notAfter(leaf);
  }
  return {};
}

std::expected<SslCtxPtr, std::string> TlsContext::buildSslCtx(const CertificateFiles* certificate,
                                                              bool first) {
  SslCtxPtr ctx(SSL_CTX_new(isServer() ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return std::unexpected("cannot create an SSL context: " + opensslErrors());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, protocolVersion(config_.min_version));
  SSL_CTX_set_max_proto_version(c, protocolVersion(config_.max_version));
  uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
  if (isServer()) options |= SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
  if (!config_.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(c, options);
  // Idle connections give their record buffers back: keep-alive connections stay cheap.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (isServer() && !config_.session_tickets) SSL_CTX_set_num_tickets(c, 0);

  const std::string& ciphers =
      config_.cipher_list.empty() ? std::string(kDefaultCipherList) : config_.cipher_list;
  if (SSL_CTX_set_cipher_list(c, ciphers.c_str()) != 1) {
    return std::unexpected("cipher_suites: no usable cipher in '" + ciphers + "'");
  }
  const std::string& suites =
      config_.cipher_suites.empty() ? std::string(kDefaultCipherSuites) : config_.cipher_suites;
  if (SSL_CTX_set_ciphersuites(c, suites.c_str()) != 1) {
    return std::unexpected("tls13_cipher_suites: no usable suite in '" + suites + "'");
  }
  ERR_clear_error();

  if (certificate != nullptr) {
    std::string cert_pem, key_pem, error;
    if (!readFile(certificate->cert_file, cert_pem, error)) return std::unexpected(error);
    if (!readFile(certificate->key_file, key_pem, error)) return std::unexpected(error);
    fingerprint_ += cert_pem;
    fingerprint_ += key_pem;
    auto chain = readPemCertificates(cert_pem);
    if (chain.empty()) {
      return std::unexpected(certificate->cert_file + ": no PEM certificate in the file");
    }
    PkeyPtr key = readPemPrivateKey(key_pem);
    if (!key) {
      ERR_clear_error();
      return std::unexpected(certificate->key_file + ": no PEM private key in the file");
    }
    if (SSL_CTX_use_certificate(c, chain.front().get()) != 1) {
      return std::unexpected(certificate->cert_file + ": " + opensslErrors());
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      if (SSL_CTX_add1_chain_cert(c, chain[i].get()) != 1) {
        return std::unexpected(certificate->cert_file + ": " + opensslErrors());
      }
    }
    if (SSL_CTX_use_PrivateKey(c, key.get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
      ERR_clear_error();
      return std::unexpected(certificate->key_file +
                             ": the private key does not match the certificate in " +
                             certificate->cert_file);
    }
  }

  if (!config_.ca_file.empty()) {
    std::string ca_pem, error;
    if (!readFile(config_.ca_file, ca_pem, error)) return std::unexpected(error);
    if (first) fingerprint_ += ca_pem;
    auto cas = readPemCertificates(ca_pem);
    if (cas.empty()) return std::unexpected(config_.ca_file + ": no PEM certificate in the file");
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    for (auto& ca : cas) {
      X509_STORE_add_cert(store, ca.get());
      // Tell clients which CAs we accept, so they pick the right certificate.
      if (isServer()) SSL_CTX_add_client_CA(c, ca.get());
    }
    ERR_clear_error();
  } else if (!isServer()) {
    // Shared, not per context: SSL_CTX_set_default_verify_paths() would parse the whole system
    // bundle into every client context (and again on every rebuild).
    X509_STORE* system = systemTrustStore();
    if (system == nullptr) return std::unexpected("cannot load the system trust store");
    SSL_CTX_set1_cert_store(c, system);
  }

  if (isServer()) {
    if (!config_.ca_file.empty()) {
      SSL_CTX_set_verify(
          c,
          SSL_VERIFY_PEER |
              (config_.require_peer_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
          nullptr);
    }
    SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof(kSessionIdContext) - 1);
    if (!alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(c, onAlpnSelect, &alpn_wire_);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (!alpn_wire_.empty() &&
        SSL_CTX_set_alpn_protos(c, alpn_wire_.data(),
                                static_cast<unsigned int>(alpn_wire_.size())) != 0) {
      return std::unexpected("alpn: " + opensslErrors());
    }
    if (config_.session_tickets) {
      // Sessions are kept per worker and host by the sockets (ClientSessionCache), never in
      // OpenSSL's shared cache.
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(c, onNewClientSession);
    } else {
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    }
  }
  return ctx;
}

SSL_CTX* TlsContext::contextForServerName(std::string_view server_name) const {
  const std::string name = lower(server_name);
  for (const Entry& e : contexts_) {
    for (const auto& pattern : e.server_names) {
      if (pattern == name) return e.ctx.get();
    }
  }
  for (const Entry& e : contexts_) {
    for (const auto& pattern : e.server_names) {
      if (serverNameMatches(pattern, name)) return e.ctx.get();
    }
  }
  return nullptr;
}

std::string TlsContext::checkPeer(X509* peer) const {
  if (peer == nullptr) {
    if (config_.verify_subject_alt_names.empty() && config_.allowed_spiffe_ids.empty() &&
        config_.allowed_trust_domains.empty() && !config_.require_same_trust_domain) {
      return {};
    }
    return "the peer presented no certificate";
  }
  if (!config_.verify_subject_alt_names.empty()) {
    const std::vector<std::string> uris = uriSans(peer);
    bool ok = false;
    for (const std::string& name : config_.verify_subject_alt_names) {
      if (name.find("://") != std::string::npos) {
        ok = std::find(uris.begin(), uris.end(), name) != uris.end();
      } else {
        ok = X509_check_host(peer, name.data(), name.size(), 0, nullptr) == 1 ||
             X509_check_ip_asc(peer, name.c_str(), 0) == 1;
      }
      if (ok) break;
    }
    if (!ok) {
      return "the certificate's subject alternative names match none of: " +
             join(config_.verify_subject_alt_names);
    }
  }
  if (!config_.allowed_spiffe_ids.empty() || !config_.allowed_trust_domains.empty() ||
      config_.require_same_trust_domain) {
    const std::string id = firstUriSan(peer);
    auto parsed = parseSpiffeId(id);
    if (!parsed) return "the peer certificate carries no SPIFFE ID";
    const auto& ids = config_.allowed_spiffe_ids;
    std::vector<std::string> domains = config_.allowed_trust_domains;
    if (config_.require_same_trust_domain) {
      if (auto own = parseSpiffeId(local_uri_san_)) domains.push_back(own->trust_domain);
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end() &&
        std::find(domains.begin(), domains.end(), parsed->trust_domain) == domains.end()) {
      std::string expected = join(ids);
      for (const auto& d : domains) {
        if (!expected.empty()) expected += ", ";
        expected += "trust domain " + d;
      }
      return "peer SPIFFE ID " + id + " is not allowed (expected " + expected + ")";
    }
  }
  return {};
}

}  // namespace podproxy::tls

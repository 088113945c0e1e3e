#pragma once

// Client-side TLS session resumption: the last session (ticket) each upstream host gave us, per
// worker and per TlsContext, so a new connection to that host can skip the full handshake. A
// new context (certificate reload) starts with an empty cache: a resumed session would skip
// verifying the peer against the new trust anchors.

#include <openssl/ssl.h>

#include <map>
#include <string>

namespace podproxy::tls {

class ClientSessionCache {
 public:
  ClientSessionCache() = default;
  ~ClientSessionCache();
  ClientSessionCache(const ClientSessionCache&) = delete;
  ClientSessionCache& operator=(const ClientSessionCache&) = delete;

  // A borrowed session for `key`, or nullptr.
  SSL_SESSION* get(const std::string& key) const;
  // Takes ownership of one reference of `session`.
  void put(const std::string& key, SSL_SESSION* session);
  // A resumption failed or the session was single-use: forget it.
  void remove(const std::string& key);
  size_t size() const { return sessions_.size(); }

 private:
  static constexpr size_t kMaxEntries = 1024;
  std::map<std::string, SSL_SESSION*> sessions_;
};

// Installed on client SSL_CTXs: hands new sessions (TLS 1.3 tickets arrive after the
// handshake) to the socket that received them.
int onNewClientSession(SSL* ssl, SSL_SESSION* session);

}  // namespace podproxy::tls

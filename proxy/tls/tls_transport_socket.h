#pragma once

// TLS for one connection over OpenSSL, without blocking and without a socket of its own: a
// custom BIO reads the raw bytes the Connection read from its raw input buffer and appends what
// OpenSSL writes to its raw output buffer; SSL_read decrypts into the plaintext read buffer.
// Renegotiation is refused; sessions resume (tickets) on both sides.

#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "proxy/network/transport_socket.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/tls_context.h"

namespace podproxy::tls {

// Counters of one TLS context user (a listener or a cluster), across workers: touched once
// per handshake.
struct TlsStats {
  std::atomic<uint64_t> handshakes{0};          // completed
  std::atomic<uint64_t> handshake_failures{0};  // failed (includes peer_rejected)
  std::atomic<uint64_t> sessions_resumed{0};    // completed by resumption
  std::atomic<uint64_t> peer_rejected{0};       // verified, but the wrong SAN / SPIFFE ID
  std::atomic<uint64_t> no_certificate{0};      // mTLS: the client sent no certificate
};

class TlsTransportSocket final : public network::TransportSocket {
 public:
  static std::unique_ptr<TlsTransportSocket> createServer(std::shared_ptr<const TlsContext> context,
                                                          TlsStats* stats);
  // `sessions` (optional) resumes with the session last seen under `session_key`.
  static std::unique_ptr<TlsTransportSocket> createClient(
      std::shared_ptr<const TlsContext> context, TlsStats* stats,
      std::shared_ptr<ClientSessionCache> sessions, std::string session_key);
  ~TlsTransportSocket() override;

  // network::TransportSocket
  bool startHandshake(buffer::Buffer& raw_out) override;
  ReadStatus onRead(buffer::Buffer& raw_in, buffer::Buffer& plaintext,
                    buffer::Buffer& raw_out) override;
  bool onWrite(buffer::Buffer& plaintext, buffer::Buffer& raw_out) override;
  void shutdown(buffer::Buffer& raw_out) override;
  bool handshakeComplete() const override { return handshake_complete_; }
  const std::string& failureReason() const override { return failure_; }
  const network::TlsInfo& info() const override { return info_; }

  // For the BIO and the session callback.
  buffer::Buffer* bioInput() { return in_; }
  buffer::Buffer* bioOutput() { return out_; }
  void onNewSession(SSL_SESSION* session);
  static TlsTransportSocket* fromSsl(SSL* ssl);

 private:
  TlsTransportSocket(std::shared_ptr<const TlsContext> context, TlsStats* stats);
  bool init();
  // Drives the handshake; false on failure (failure_ set).
  bool doHandshake();
  bool onHandshakeDone();
  void fail(std::string_view stage, int ssl_error);

  std::shared_ptr<const TlsContext> context_;
  TlsStats* stats_;
  std::shared_ptr<ClientSessionCache> sessions_;
  std::string session_key_;
  SSL* ssl_ = nullptr;
  buffer::Buffer* in_ = nullptr;   // valid during a call into OpenSSL
  buffer::Buffer* out_ = nullptr;  // valid during a call into OpenSSL
  bool handshake_complete_ = false;
  bool failed_ = false;
  std::string failure_;
  network::TlsInfo info_;
};

}  // namespace podproxy::tls

#pragma once

// The layer between a Connection and the bytes on the wire (TLS). A plain connection has no
// transport socket at all and keeps its zero-copy read and write path; a connection with one
// reads raw bytes into a separate buffer, hands them here to become plaintext, and writes what
// this layer produced from the plaintext.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/buffer/buffer.h"

namespace podproxy::network {

class Address;

// What a TLS handshake established, for filters, access logs and x-forwarded-client-cert.
struct TlsInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_128_GCM_SHA256"
  std::string alpn;     // negotiated protocol ("h2", "http/1.1"); empty: none
  std::string sni;      // server name the client asked for (downstream) or we sent (upstream)
  // The peer's certificate: its first URI SAN (a SPIFFE ID in a mesh), its DNS SANs, and the
  // SHA-256 of its DER encoding in lower-case hex. Empty when the peer sent none.
  std::string peer_uri_san;
  std::vector<std::string> peer_dns_sans;
  std::string peer_cert_sha256;
  std::string local_uri_san;  // our own certificate's first URI SAN (XFCC "By")
  bool peer_certificate_presented = false;
  bool peer_certificate_verified = false;
  bool session_reused = false;
};

class TransportSocket {
 public:
  enum class ReadStatus {
    kOk,          // everything usable was consumed; more may come
    kPeerClosed,  // the peer ended its side cleanly (TLS close_notify)
    kError,       // handshake or record error: see failureReason(); close the connection
  };

  virtual ~TransportSocket() = default;

  // Client side: produce the first handshake flight into `raw_out`. Returns false on failure.
  virtual bool startHandshake(buffer::Buffer& raw_out) = 0;
  // Consumes raw bytes from `raw_in`, appends the plaintext they carried to `plaintext` and any
  // bytes to send (handshake messages, alerts) to `raw_out`.
  virtual ReadStatus onRead(buffer::Buffer& raw_in, buffer::Buffer& plaintext,
                            buffer::Buffer& raw_out) = 0;
  // Moves all of `plaintext` into `raw_out` as protected records. Only after the handshake.
  // Returns false on failure (see failureReason()).
  virtual bool onWrite(buffer::Buffer& plaintext, buffer::Buffer& raw_out) = 0;
  // Graceful end of our side (close_notify) into `raw_out`.
  virtual void shutdown(buffer::Buffer& raw_out) = 0;

  virtual bool handshakeComplete() const = 0;
  // "tls_handshake_failed: certificate verify failed", ...
  virtual const std::string& failureReason() const = 0;
  // Valid once the handshake completed.
  virtual const TlsInfo& info() const = 0;
};

// Makes the transport socket of each new upstream connection of a cluster on one worker.
class ClientTransportSocketFactory {
 public:
  virtual ~ClientTransportSocketFactory() = default;
  // `host` keys session resumption (one cached session per upstream host).
  virtual std::unique_ptr<TransportSocket> createClientSocket(const Address& host) = 0;
};

}  // namespace podproxy::network

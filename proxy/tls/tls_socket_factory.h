#pragma once

// One worker's source of TLS transport sockets for one listener or cluster: it holds the
// current TlsContext (replaced by update() when certificates are reloaded; connections keep the
// context they started with) and, for clients, the sessions to resume.

#include <memory>

#include "proxy/network/transport_socket.h"
#include "proxy/tls/session_cache.h"
#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_transport_socket.h"

namespace podproxy::tls {

class TlsSocketFactory final : public network::ClientTransportSocketFactory {
 public:
  // `stats` must outlive the factory (the server's TlsContextManager owns it).
  TlsSocketFactory(std::shared_ptr<const TlsContext> context, TlsStats& stats);

  // On the worker's thread: new connections use `context` from now on.
  void update(std::shared_ptr<const TlsContext> context);

  // nullptr when OpenSSL could not make an SSL object (out of memory).
  std::unique_ptr<network::TransportSocket> createServerSocket();
  std::unique_ptr<network::TransportSocket> createClientSocket(
      const network::Address& host) override;

  const TlsContext& context() const { return *context_; }

 private:
  std::shared_ptr<const TlsContext> context_;
  TlsStats& stats_;
  std::shared_ptr<ClientSessionCache> sessions_;  // clients only; one per context
};

}  // namespace podproxy::tls

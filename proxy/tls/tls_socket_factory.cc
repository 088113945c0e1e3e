#include "proxy/tls/tls_socket_factory.h"

#include "proxy/network/address.h"

namespace podproxy::tls {

TlsSocketFactory::TlsSocketFactory(std::shared_ptr<const TlsContext> context, TlsStats& stats)
    : stats_(stats) {
  update(std::move(context));
}

void TlsSocketFactory::update(std::shared_ptr<const TlsContext> context) {
  context_ = std::move(context);
  // A session from the old context would resume without checking the peer against the new
  // trust anchors: start over.
  sessions_ = context_->isServer() ? nullptr : std::make_shared<ClientSessionCache>();
}

std::unique_ptr<network::TransportSocket> TlsSocketFactory::createServerSocket() {
  return TlsTransportSocket::createServer(context_, &stats_);
}

std::unique_ptr<network::TransportSocket> TlsSocketFactory::createClientSocket(
    const network::Address& host) {
  return TlsTransportSocket::createClient(context_, &stats_, sessions_, host.toString());
}

}  // namespace podproxy::tls

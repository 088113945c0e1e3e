#pragma once

// The TLS of each cluster's upstream connections on the current worker thread. The worker
// registers one factory per TLS cluster when it starts (and replaces its context on certificate
// reloads); CodecClient and tcp_proxy ask here when they connect, so every way of opening an
// upstream connection (HTTP/1 and HTTP/2 pools, TCP proxy) gets TLS without threading a factory
// through each of them. Touched only on the owning thread; plain clusters have no entry.

#include <memory>
#include <string>

#include "proxy/network/transport_socket.h"
#include "proxy/upstream/host.h"

namespace podproxy::upstream {

// nullptr removes the cluster's entry. The factory must outlive its registration.
void setTransportSocketFactory(const std::string& cluster,
                               network::ClientTransportSocketFactory* factory);
// Forgets every registration of this thread (worker shutdown).
void clearTransportSocketFactories();
// A transport socket for a new connection to `host`; nullptr for a plain cluster.
std::unique_ptr<network::TransportSocket> createTransportSocket(const Host& host);

}  // namespace podproxy::upstream

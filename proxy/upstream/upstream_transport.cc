#include "proxy/upstream/upstream_transport.h"

#include <map>

namespace podproxy::upstream {

namespace {
std::map<std::string, network::ClientTransportSocketFactory*, std::less<>>& registry() {
  thread_local std::map<std::string, network::ClientTransportSocketFactory*, std::less<>> r;
  return r;
}
}  // namespace

void setTransportSocketFactory(const std::string& cluster,
                               network::ClientTransportSocketFactory* factory) {
  if (factory == nullptr) {
    registry().erase(cluster);
  } else {
    registry()[cluster] = factory;
  }
}

void clearTransportSocketFactories() {
  registry().clear();
}

std::unique_ptr<network::TransportSocket> createTransportSocket(const Host& host) {
  auto& r = registry();
  if (r.empty()) return nullptr;
  auto it = r.find(host.clusterName());
  return it == r.end() ? nullptr : it->second->createClientSocket(host.address());
}

}  // namespace podproxy::upstream
